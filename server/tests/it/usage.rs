//! Tracking and checking usage: counts, hard limits under concurrency, idempotent retries.

use dream_client::types;

use crate::harness::{Backend, TestApp, error_of};

crate::on_both_stores!(
    dev_token_tracks_and_checks,
    hard_limit_holds_under_concurrency,
    idempotent_retries_count_once,
    invalid_input_is_refused_with_the_documented_code
);

async fn dev_token_tracks_and_checks(backend: Backend) {
    let t = TestApp::start(backend).await;
    let token = t.dev_token("user_42").await;
    let user = t.user(&t.test, &token);
    let first = user.track_usage().send().await.expect("track").into_inner();
    assert_eq!(
        (
            first.metric.as_str(),
            first.usage_count,
            first.limit,
            first.remaining
        ),
        ("requests", 1, Some(1000), Some(999))
    );
    let second = user
        .track_usage()
        .body_map(|b| b.amount(std::num::NonZeroU64::new(4).unwrap()))
        .send()
        .await
        .expect("track")
        .into_inner();
    assert_eq!(second.usage_count, 5);
    let other_metric = user
        .track_usage()
        .body_map(|b| {
            b.metric(Some("ai_tokens".parse().unwrap()))
                .amount(std::num::NonZeroU64::new(250).unwrap())
        })
        .send()
        .await
        .expect("track tokens")
        .into_inner();
    assert_eq!(
        (other_metric.usage_count, other_metric.limit),
        (250, None),
        "metrics without a tier limit are unlimited"
    );
    let check = user.check_usage().send().await.expect("check").into_inner();
    assert_eq!((check.usage_count, check.remaining), (5, Some(995)));
    let state = user
        .get_customer_state()
        .send()
        .await
        .expect("me")
        .into_inner();
    assert_eq!(state.user_id, "user_42");
    assert_eq!(state.tier.name, "free");
    let counts: Vec<(String, i64)> = state
        .usage
        .iter()
        .map(|u| (u.metric.clone(), u.usage_count))
        .collect();
    assert_eq!(
        counts,
        vec![("requests".to_string(), 5), ("ai_tokens".to_string(), 250)]
    );
}

async fn hard_limit_holds_under_concurrency(backend: Backend) {
    let t = TestApp::start(backend).await;
    let admin = t.secret(&t.test);
    admin
        .create_tier()
        .body_map(|b| {
            b.name("limited".parse::<types::TierName>().unwrap())
                .display_name("Limited".parse::<types::TierCreateDisplayName>().unwrap())
                .is_default(true)
                .limits(vec![types::TierLimit {
                    metric: "requests".parse().unwrap(),
                    limit: Some(300),
                    enforcement: types::Enforcement::Hard,
                }])
        })
        .send()
        .await
        .expect("tier");
    let token = t.dev_token("user_busy").await;
    let user = t.user(&t.test, &token);
    let attempts = (0..500).map(|_| {
        let user = user.clone();
        tokio::spawn(async move {
            user.track_usage()
                .send()
                .await
                .map(|r| r.into_inner().usage_count)
                .map_err(|e| error_of::<types::Usage>(Err(e)))
        })
    });
    let results = futures::future::join_all(attempts).await;
    let mut accepted = 0;
    let mut refused = 0;
    for r in results {
        match r.expect("task") {
            Ok(count) => {
                assert!(count <= 300, "a count past the limit was reported: {count}");
                accepted += 1;
            }
            Err((status, code)) => {
                assert_eq!((status, code.as_str()), (429, "usage_limit_exceeded"));
                refused += 1;
            }
        }
    }
    assert_eq!((accepted, refused), (300, 200));
    let check = user.check_usage().send().await.expect("check").into_inner();
    assert_eq!((check.usage_count, check.remaining), (300, Some(0)));
    let customer = admin
        .get_customer()
        .user_id("user_busy")
        .send()
        .await
        .expect("customer")
        .into_inner();
    assert_eq!(
        customer.usage[0].usage_count, 300,
        "the stored count is exactly the limit"
    );
}

async fn idempotent_retries_count_once(backend: Backend) {
    let t = TestApp::start(backend).await;
    let token = t.dev_token("user_retry").await;
    let user = t.user(&t.test, &token);
    let send = |key: &'static str, amount: u64| {
        let user = user.clone();
        async move {
            user.track_usage()
                .idempotency_key(key)
                .body_map(move |b| b.amount(std::num::NonZeroU64::new(amount).unwrap()))
                .send()
                .await
        }
    };
    let results = futures::future::join_all((0..20).map(|_| send("retry-1", 3))).await;
    for r in results {
        assert_eq!(
            r.expect("replayed").into_inner().usage_count,
            3,
            "every retry sees the first result"
        );
    }
    assert_eq!(
        user.check_usage()
            .send()
            .await
            .unwrap()
            .into_inner()
            .usage_count,
        3
    );
    assert_eq!(
        error_of(send("retry-1", 4).await),
        (409, "idempotency_key_reused".to_string())
    );
    assert_eq!(
        send("retry-2", 4).await.unwrap().into_inner().usage_count,
        7
    );
}

async fn invalid_input_is_refused_with_the_documented_code(backend: Backend) {
    let t = TestApp::start(backend).await;
    let token = t.dev_token("user_bad").await;
    let http = reqwest::Client::new();
    let post = |body: &'static str, content_type: &'static str| {
        http.post(format!("{}/v1/usage/track", t.base))
            .header("x-publishable-key", &t.test.publishable)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, status, code, param) in [
        (
            "{\"amount\": 0}",
            "application/json",
            422,
            "validation_failed",
            Some("amount"),
        ),
        (
            "{\"amount\": \"two\"}",
            "application/json",
            422,
            "validation_failed",
            Some("amount"),
        ),
        (
            "{\"metric\": \"Bad Metric\"}",
            "application/json",
            422,
            "validation_failed",
            Some("metric"),
        ),
        (
            "{\"surprise\": 1}",
            "application/json",
            422,
            "validation_failed",
            Some("surprise"),
        ),
        (
            "{not json",
            "application/json",
            400,
            "invalid_request",
            None,
        ),
        (
            "amount=1",
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
            None,
        ),
    ] {
        let response = post(body, content_type).await.expect("request");
        assert_eq!(response.status().as_u16(), status, "{body}");
        let header_id = response
            .headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap()
            .to_string();
        let error: serde_json::Value = response.json().await.expect("JSON error body");
        assert_eq!(error["code"], code, "{body}");
        assert_eq!(error["param"].as_str(), param, "{body}");
        assert_eq!(error["requestId"], header_id.as_str());
    }
    let user = t.user(&t.test, &token);
    assert_eq!(
        user.check_usage()
            .send()
            .await
            .unwrap()
            .into_inner()
            .usage_count,
        0,
        "nothing was counted"
    );
    let admin = t.secret(&t.test);
    let (status, code) = error_of(
        admin
            .list_customers()
            .limit(std::num::NonZeroU32::new(500).unwrap())
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (422, "validation_failed"));
}
