//! The store's counting under contention, checked at the rows: the single conditional upsert
//! admits exactly the limit, and an idempotency key is claimed by exactly one caller.

use std::sync::Arc;

use dream_server::domain::{IdempotentOutcome, Mode, Tenant, TrackOutcome};
use dream_server::store::usage::Counter;

use crate::harness::{Backend, fresh_store};

crate::on_both_stores!(
    revenue_sums_never_overflow,
    hard_limit_admits_exactly_the_limit,
    an_idempotency_key_is_claimed_once,
    unlimited_counters_written_together_stay_exact
);

fn tenant() -> Tenant {
    Tenant {
        project_id: "proj_store_test".into(),
        mode: Mode::Test,
    }
}

fn counter_for<'a>(tenant: &'a Tenant, user_id: &'a str, period: &'a str) -> Counter<'a> {
    Counter {
        tenant,
        user_id,
        metric: "requests",
        period,
    }
}

/// Increments of many counters at once share multi-row writes: every counter ends exact, and
/// each caller saw a distinct count of its own counter.
async fn unlimited_counters_written_together_stay_exact(backend: Backend) {
    let (store, _url, _dir) = fresh_store(backend).await;
    let store = Arc::new(store);
    let tasks = (0..600).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let tenant = tenant();
            let user = format!("user_{}", i % 40);
            let counter = counter_for(&tenant, &user, "2026-11");
            let outcome = store.usage_increment(&counter, 2, None).await;
            (user, outcome)
        })
    });
    let mut seen: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for joined in futures::future::join_all(tasks).await {
        let (user, outcome) = joined.expect("task");
        match outcome.expect("increment") {
            TrackOutcome::Counted(count) => seen.entry(user).or_default().push(count),
            TrackOutcome::LimitExceeded(count) => panic!("refused at {count} without a limit"),
        }
    }
    assert_eq!(seen.len(), 40);
    let tenant = tenant();
    for (user, mut counts) in seen {
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=15).map(|n| n * 2).collect::<Vec<i64>>(),
            "{user}"
        );
        let counter = counter_for(&tenant, &user, "2026-11");
        assert_eq!(store.usage_get(&counter).await.unwrap(), 30, "{user}");
    }
    // The stripes keep their connections between writes; closing (as a graceful shutdown
    // does) gives them back instead of waiting for them forever.
    tokio::time::timeout(std::time::Duration::from_secs(10), store.close())
        .await
        .expect("the store closes");
}

async fn hard_limit_admits_exactly_the_limit(backend: Backend) {
    let (store, _url, _dir) = fresh_store(backend).await;
    let store = Arc::new(store);
    let tasks = (0..500).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let tenant = tenant();
            let counter = counter_for(&tenant, "user_hot", "2026-11");
            store.usage_increment(&counter, 1, Some(300)).await
        })
    });
    let mut counted = Vec::new();
    let mut refused = 0;
    for outcome in futures::future::join_all(tasks).await {
        match outcome.expect("task").expect("increment") {
            TrackOutcome::Counted(count) => counted.push(count),
            TrackOutcome::LimitExceeded(count) => {
                assert!(count <= 300, "a refusal reported {count}");
                refused += 1;
            }
        }
    }
    counted.sort_unstable();
    assert_eq!(
        counted,
        (1..=300).collect::<Vec<i64>>(),
        "each accepted increment saw its own count"
    );
    assert_eq!(refused, 200);
    let tenant = tenant();
    let counter = counter_for(&tenant, "user_hot", "2026-11");
    assert_eq!(store.usage_get(&counter).await.unwrap(), 300);
    // Another period is another row.
    let next = counter_for(&tenant, "user_hot", "2026-12");
    assert_eq!(store.usage_get(&next).await.unwrap(), 0);
}

async fn an_idempotency_key_is_claimed_once(backend: Backend) {
    let (store, _url, _dir) = fresh_store(backend).await;
    let store = Arc::new(store);
    let tasks = (0..40).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let tenant = tenant();
            let counter = counter_for(&tenant, "user_retry", "2026-11");
            store
                .usage_increment_idempotent(&counter, 5, None, "key-1", "hash-a", 0, |count| {
                    format!("{{\"usageCount\":{count}}}")
                })
                .await
        })
    });
    let mut fresh = 0;
    for outcome in futures::future::join_all(tasks).await {
        match outcome.expect("task").expect("increment") {
            IdempotentOutcome::Fresh(TrackOutcome::Counted(5)) => fresh += 1,
            IdempotentOutcome::Replayed(body) => assert_eq!(body, "{\"usageCount\":5}"),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one caller ran the increment");
    let tenant = tenant();
    let counter = counter_for(&tenant, "user_retry", "2026-11");
    assert_eq!(store.usage_get(&counter).await.unwrap(), 5);
    let reused = store
        .usage_increment_idempotent(&counter, 5, None, "key-1", "hash-b", 0, |c| c.to_string())
        .await
        .unwrap();
    assert_eq!(reused, IdempotentOutcome::Mismatch);
}

/// Payments whose amounts sum past i64 (stored before amounts were capped, or by any other
/// path) still give a revenue series: the sum saturates instead of failing the page for good.
async fn revenue_sums_never_overflow(backend: Backend) {
    use dream_server::domain::{Payment, PaymentKind};
    use dream_server::store::billing::{Effect, NewEvent};
    let (store, _url, _dir) = fresh_store(backend).await;
    let tenant = tenant();
    for (i, amount) in [i64::MAX - 10, i64::MAX - 10, 5].into_iter().enumerate() {
        let id = format!("evt_overflow_{i}");
        let payment = Effect::Payment(Payment {
            id: format!("in_overflow_{i}"),
            kind: PaymentKind::Cart,
            user_id: None,
            customer_email: None,
            amount,
            currency: "usd".into(),
            paid_at: 1_000,
        });
        let event = NewEvent {
            id: &id,
            kind: "checkout.session.completed",
            tenant: Some(&tenant),
            user_id: None,
            created: 1_000,
            received_at: 1_000,
            seq: i as i64,
            payload: "{}",
            handled: true,
            note: None,
            failure: None,
        };
        store.stripe_event_apply(&event, &[payment]).await.unwrap();
    }
    let series = store
        .revenue_series(&tenant, 0, 3_600, 3_600)
        .await
        .unwrap();
    assert_eq!(series, vec![("usd".to_string(), 0, i64::MAX)]);
}
