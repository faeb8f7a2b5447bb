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
    unlimited_counters_written_together_stay_exact,
    many_users_plans_are_read_as_one_users_are
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
    // The writers keep their connections between writes; closing (as a graceful shutdown
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

/// The reads a batch of users' plans rests on give what the one-user reads give: the customer
/// rows (the new ones registered, the known ones as they were) and, per user, the subscription
/// that decides the plan.
async fn many_users_plans_are_read_as_one_users_are(backend: Backend) {
    use dream_server::domain::Subscription;
    use dream_server::store::billing::{Effect, NewEvent};
    let (store, _url, _dir) = fresh_store(backend).await;
    let tenant = tenant();
    store
        .project_create(&tenant.project_id, "Store test", 1_000, &[], &[], &[])
        .await
        .unwrap();
    store
        .customer_upsert(&tenant, "known", Some("known@example.com"), 1_000)
        .await
        .unwrap();
    let subscriptions = [
        // A live subscription decides, however old; then the one that ends last; then by id.
        ("sub_a1", "live", "canceled", 900),
        ("sub_a2", "live", "active", 500),
        ("sub_b1", "ended", "canceled", 700),
        ("sub_b2", "ended", "canceled", 800),
        ("sub_c2", "tied", "past_due", 600),
        ("sub_c1", "tied", "trialing", 600),
        ("sub_d1", "known", "incomplete", 400),
    ];
    for (seq, (id, user, status, period_end)) in subscriptions.into_iter().enumerate() {
        let event = format!("evt_{id}");
        let effect = Effect::Subscription(Subscription {
            id: id.into(),
            user_id: user.into(),
            tier_id: format!("tier_{id}"),
            status: status.into(),
            period_start: period_end - 100,
            period_end,
            cancel_at_period_end: false,
            trial_end: None,
            event_created: 1_000,
        });
        let new = NewEvent {
            id: &event,
            kind: "customer.subscription.updated",
            tenant: Some(&tenant),
            user_id: Some(user),
            created: 1_000,
            received_at: 1_000,
            seq: seq as i64,
            payload: "{}",
            handled: true,
            note: None,
            failure: None,
        };
        store.stripe_event_apply(&new, &[effect]).await.unwrap();
    }

    let users = ["known", "live", "ended", "tied", "new"];
    let customers = store
        .customers_ensure(&tenant, &users, 2_000)
        .await
        .unwrap();
    assert_eq!(customers.len(), users.len(), "every user has a row");
    assert_eq!(
        customers["known"].email.as_deref(),
        Some("known@example.com")
    );
    assert_eq!(
        customers["known"].created_at, 1_000,
        "a known user is not registered again"
    );
    assert_eq!(
        customers["new"].created_at, 2_000,
        "a new user is registered"
    );
    for user in users {
        let one = store.customer_get(&tenant, user).await.unwrap();
        assert_eq!(one.as_ref(), Some(&customers[user]), "{user}'s row");
    }
    let again = store
        .customers_ensure(&tenant, &users, 3_000)
        .await
        .unwrap();
    assert_eq!(again, customers, "a second read registers nothing");

    let latest = store.subscriptions_latest(&tenant, &users).await.unwrap();
    for user in users {
        let one = store.subscription_latest(&tenant, user).await.unwrap();
        assert_eq!(
            latest.get(user),
            one.as_ref(),
            "{user}'s deciding subscription"
        );
    }
    let picked: Vec<_> = ["live", "ended", "tied", "known"]
        .iter()
        .map(|user| latest[*user].id.as_str())
        .collect();
    assert_eq!(picked, ["sub_a2", "sub_b2", "sub_c1", "sub_d1"]);
    assert!(!latest.contains_key("new"));
}

/// A counter whose row another transaction holds locked (a long report, a reset under way)
/// keeps its own increments waiting and no one else's: other users' tracks are written and
/// answered meanwhile, and the waiting one counts once the lock goes. Postgres only: SQLite
/// locks the whole database for a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_counter_holds_up_no_other_counter() {
    use sqlx::{Connection, Row};
    let (store, url, _dir) = fresh_store(Backend::Postgres).await;
    let store = Arc::new(store);
    let owner = tenant();
    let locked = counter_for(&owner, "user_locked", "2026-11");
    store.usage_increment(&locked, 1, None).await.unwrap();

    let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin");
    let mut tx = admin.begin().await.expect("begin");
    sqlx::query("SELECT count FROM usage_counters WHERE user_id = 'user_locked' FOR UPDATE")
        .execute(&mut *tx)
        .await
        .expect("lock the row");
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            let tenant = tenant();
            let counter = counter_for(&tenant, "user_locked", "2026-11");
            store.usage_increment(&counter, 1, None).await
        })
    };
    // The increment is at the database, waiting on the row lock.
    let mut probe = sqlx::PgConnection::connect(&url).await.expect("probe");
    let mut polls = 0;
    loop {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut probe)
        .await
        .expect("pg_stat_activity");
        if row.get::<i64, _>("n") > 0 {
            break;
        }
        polls += 1;
        assert!(polls < 500, "the increment never reached the row lock");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // Forty other users, one after another and then all at once, while the lock is held.
    for round in 0..2 {
        let tracks = (0..40).map(|i| {
            let store = store.clone();
            async move {
                let tenant = tenant();
                let user = format!("user_free_{i}");
                let counter = counter_for(&tenant, &user, "2026-11");
                store.usage_increment(&counter, 1, None).await
            }
        });
        let outcomes = if round == 0 {
            let mut outcomes = Vec::new();
            for track in tracks {
                outcomes.push(
                    tokio::time::timeout(std::time::Duration::from_secs(10), track)
                        .await
                        .expect("another user's track waited on the locked counter"),
                );
            }
            outcomes
        } else {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                futures::future::join_all(tracks),
            )
            .await
            .expect("other users' tracks waited on the locked counter")
        };
        for outcome in outcomes {
            assert!(
                matches!(outcome, Ok(TrackOutcome::Counted(n)) if n == round + 1),
                "{outcome:?}"
            );
        }
    }
    assert!(!waiting.is_finished(), "the locked counter's track waits");

    tx.commit().await.expect("unlock");
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the locked counter's track goes once the lock does")
        .expect("task");
    assert!(
        matches!(outcome, Ok(TrackOutcome::Counted(2))),
        "{outcome:?}"
    );
}
