//! `/metrics`: Prometheus's text format, scraped before and after a short load; every named
//! series is there and the ones the load touches move. With `DREAM_METRICS_TOKEN` it asks
//! for the token.

use serde_json::json;

use crate::harness::{operator_project, spawn_serve};

/// The value of the sample whose name and labels start with `prefix`, summed over matches.
pub(crate) fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(http: &reqwest::Client, base: &str, token: Option<&str>) -> (u16, String) {
    let mut request = http.get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
    }
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_move_under_load() {
    let (mut server, address, _dir) = spawn_serve(&[("DREAM_METRICS_TOKEN", "metrics_secret")]);
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    assert_eq!(scrape(&http, &base, None).await.0, 401);
    assert_eq!(scrape(&http, &base, Some("wrong")).await.0, 401);
    let (status, before) = scrape(&http, &base, Some("metrics_secret")).await;
    assert_eq!(status, 200);
    for series in [
        "dream_http_requests_in_flight",
        "dream_group_commit_batch_size",
        "dream_db_connections{state=\"max\"}",
        "dream_db_pool_wait_seconds",
        "dream_replica_hearing",
        "dream_replica_last_notice_timestamp_seconds",
        "dream_usage_series_pending",
        "dream_usage_series_flush_age_seconds",
    ] {
        assert!(before.contains(series), "{series} missing:\n{before}");
    }

    // The load: a tier limiting requests per user and its usage, tracked by one user.
    let (pk, sk) = operator_project(&http, &base, "Scraped").await;
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{}", r.status());
    };
    ok(http
        .patch(format!("{base}/v1/settings"))
        .bearer_auth(&sk)
        .json(&json!({ "devIssuerEnabled": true }))
        .send()
        .await
        .unwrap());
    ok(http
        .post(format!("{base}/v1/tiers"))
        .bearer_auth(&sk)
        .json(
            &json!({ "name": "metered", "displayName": "Metered", "isDefault": true,
                       "limits": [{ "metric": "requests", "limit": 5, "enforcement": "hard" }],
                       "rateLimit": { "requests": 20, "perSeconds": 60 } }),
        )
        .send()
        .await
        .unwrap());
    let token: serde_json::Value = http
        .post(format!("{base}/v1/dev/tokens"))
        .bearer_auth(&sk)
        .json(&json!({ "userId": "user_scraped" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let response = http
            .post(format!("{base}/v1/usage/track"))
            .header("x-publishable-key", &pk)
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 402).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
    // A webhook whose signature does not verify.
    let forged = http
        .post(format!("{base}/v1/webhooks/stripe"))
        .header("stripe-signature", "t=1,v1=00")
        .header("content-type", "application/json")
        .body(r#"{"id":"evt_forged","type":"invoice.created","created":1,"data":{"object":{}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    // Routes outside the API are counted by their template too; a path no route matches is
    // counted as such; the caller's request id is kept and echoed, and one is made otherwise.
    let docs = http
        .get(format!("{base}/docs"))
        .header("x-request-id", "req_from_the_caller")
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert_eq!(docs.headers()["x-request-id"], "req_from_the_caller");
    let missing = http.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let made = missing.headers()["x-request-id"].to_str().unwrap();
    assert!(made.starts_with("req_") && made.len() == 24, "{made}");
    let refused = http
        .get(format!("{base}/v1/me"))
        .header("x-publishable-key", "pk_test_nope")
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // The usage series is written every second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let (_, after) = scrape(&http, &base, Some("metrics_secret")).await;
    assert_eq!(
        sample(
            &after,
            "dream_http_requests_total{method=\"GET\",route=\"/docs\",status=\"200\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "dream_http_requests_total{method=\"GET\",route=\"(no route)\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "dream_http_requests_total{method=\"GET\",route=\"/v1/me\",status=\"401\"}"
        ),
        1.0
    );
    let track = "dream_http_requests_total{method=\"POST\",route=\"/v1/usage/track\"";
    assert_eq!(
        sample(&after, &format!("{track},status=\"200\"}}")),
        5.0,
        "{after}"
    );
    assert_eq!(sample(&after, &format!("{track},status=\"402\"}}")), 15.0);
    assert_eq!(sample(&after, &format!("{track},status=\"429\"}}")), 5.0);
    assert_eq!(
        sample(
            &after,
            "dream_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/usage/track\"}"
        ),
        25.0
    );
    assert_eq!(
        sample(
            &after,
            "dream_rate_limit_decisions_total{scope=\"user\",decision=\"allowed\"}"
        ),
        20.0
    );
    assert_eq!(
        sample(
            &after,
            "dream_rate_limit_decisions_total{scope=\"user\",decision=\"refused\"}"
        ),
        5.0
    );
    assert!(
        sample(
            &after,
            "dream_cache_lookups_total{cache=\"plans\",result=\"hit\"}"
        ) > 0.0
    );
    assert!(sample(&after, "dream_cache_lookups_total{cache=\"settings\"") > 0.0);
    assert!(sample(&after, "dream_group_commit_batch_size_count") >= 1.0);
    assert_eq!(
        sample(
            &after,
            "dream_webhook_events_total{outcome=\"invalid_signature\"}"
        ),
        1.0
    );
    assert!(sample(&after, "dream_db_connections{state=\"open\"}") >= 1.0);
    let wait = sample(&after, "dream_db_pool_wait_seconds");
    assert!(
        wait > 0.0 && wait < 1.0,
        "an idle pool gives a connection at once: {wait} s"
    );
    assert_eq!(
        sample(&after, "dream_replica_hearing"),
        1.0,
        "SQLite: alone, it hears all"
    );
    let age = sample(&after, "dream_usage_series_flush_age_seconds");
    assert!(age > 0.0 && age < 5.0, "flushed {age} s ago");
    assert!(
        !after.contains("sk_test_") && !after.contains("user_scraped"),
        "no key or user id in the metrics"
    );
    server.kill().unwrap();
    let _ = server.wait();
}
