//! Copies in use are read again before they expire: a user checked all the time is answered
//! from this replica's copies without a single miss across several copy lifetimes, the
//! renewals show in `/metrics`, and a change no notice announced (a counter written straight
//! into Postgres) is still answered within one copy lifetime.
//!
//! Needs Postgres (`DREAM_TEST_POSTGRES`): a replica there keeps counter copies only while its
//! listener hears the others' changes, the case the renewal has to respect.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Executor};

use crate::harness::{operator_project, spawn_serve_on};
use crate::replicas::used;
use crate::telemetry::sample;

/// The copy lifetime the server runs with (`DREAM_COPY_SECONDS`); copies are due to be read
/// again halfway through a lifetime of three quarters to all of it.
const LIFETIME: Duration = Duration::from_secs(6);

/// The server, stopped when the test ends, a failed assertion included.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_in_use_are_read_again_before_they_expire() {
    dream_server::install_crypto();
    let database = dream_server::testing::fresh_postgres_database("dream_test")
        .await
        .expect("a fresh Postgres database");
    let seconds = LIFETIME.as_secs().to_string();
    let (server, address) = spawn_serve_on(&database, &[("DREAM_COPY_SECONDS", &seconds)]);
    let _server = Stopped(server);
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    let (pk, sk) = operator_project(&http, &base, "Renewed").await;
    let admin = |method: reqwest::Method, path: &str, body: Value| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&sk)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap()
        }
    };
    admin(
        reqwest::Method::PATCH,
        "/v1/settings",
        json!({ "devIssuerEnabled": true }),
    )
    .await;
    admin(
        reqwest::Method::POST,
        "/v1/tiers",
        json!({ "name": "renewed", "displayName": "Renewed", "isDefault": true,
                "limits": [{ "metric": "requests", "limit": 1000, "enforcement": "soft" }] }),
    )
    .await;
    let token = admin(
        reqwest::Method::POST,
        "/v1/dev/tokens",
        json!({ "userId": "user_renewed" }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = || {
        let request = http
            .get(format!("{base}/v1/me"))
            .header("x-publishable-key", &pk)
            .bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            used(&response.json().await.unwrap(), "requests").expect("the tier limits requests")
        }
    };
    let tracked = http
        .post(format!("{base}/v1/usage/track"))
        .header("x-publishable-key", &pk)
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(tracked.status(), 200);
    // The replica keeps counter copies once its listener hears; until then every check reads.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&metrics(&http, &base).await, "dream_replica_hearing") < 1.0 {
        assert!(Instant::now() < deadline, "the listener never heard");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(me().await, 1);

    // Checked every 100 ms for more than two lifetimes: every answer from a copy.
    let before = metrics(&http, &base).await;
    let until = Instant::now() + LIFETIME * 2 + LIFETIME / 6;
    while Instant::now() < until {
        assert_eq!(me().await, 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = metrics(&http, &base).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    for cache in ["plans", "usage"] {
        let lookup = |result: &str| {
            format!("dream_cache_lookups_total{{cache=\"{cache}\",result=\"{result}\"}}")
        };
        assert!(moved(&lookup("hit")) >= 100.0, "{cache}: {after}");
        assert_eq!(
            moved(&lookup("miss")),
            0.0,
            "{cache}: no copy in use expired"
        );
        let renewed = moved(&format!(
            "dream_cache_renewals_total{{cache=\"{cache}\",result=\"stored\"}}"
        ));
        assert!(renewed >= 2.0, "{cache}: read again {renewed} times");
    }

    // A counter changed with no notice (as if by a replica that died before announcing it):
    // answered once the copy is read again, within a lifetime, and never older after that.
    let mut raw = sqlx::PgConnection::connect(&database).await.unwrap();
    raw.execute("UPDATE usage_counters SET count = 42 WHERE user_id = 'user_renewed'")
        .await
        .unwrap();
    let changed = Instant::now();
    while me().await != 42 {
        assert!(
            changed.elapsed() < LIFETIME + Duration::from_secs(1),
            "the change is still unseen after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        assert_eq!(me().await, 42);
    }
}
