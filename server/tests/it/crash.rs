//! `dream serve` killed with SIGKILL under load and started again on the same database: every
//! acknowledged track is stored, and with idempotency keys, retrying the requests that got no
//! answer converges on exactly one count per key. On SQLite and Postgres.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Backend, Figures, fresh_database, operator_project, spawn_serve_on};
use crate::replicas::used;

/// Clients tracking at once, each with one request in flight at most.
const CLIENTS: usize = 16;

struct Client {
    http: reqwest::Client,
    base: String,
    pk: String,
    token: String,
}

impl Client {
    /// A project with the development issuer on, through the operator route, and a token for
    /// `user_crash`.
    async fn new(base: &str) -> Client {
        let http = reqwest::Client::new();
        let base = format!("http://{base}");
        let (pk, sk) = operator_project(&http, &base, "Crash").await;
        let enabled = http
            .patch(format!("{base}/v1/settings"))
            .bearer_auth(&sk)
            .json(&json!({ "devIssuerEnabled": true }))
            .send()
            .await
            .unwrap();
        assert!(enabled.status().is_success());
        // The default tier limits a user's rate; this load is one user as fast as it goes.
        let tier = http
            .post(format!("{base}/v1/tiers"))
            .bearer_auth(&sk)
            .json(
                &json!({ "name": "unlimited", "displayName": "Unlimited", "isDefault": true,
                           "limits": [], "rateLimit": { "requests": 1_000_000, "perSeconds": 1 } }),
            )
            .send()
            .await
            .unwrap();
        assert!(tier.status().is_success(), "{}", tier.status());
        let token: Value = http
            .post(format!("{base}/v1/dev/tokens"))
            .bearer_auth(&sk)
            .json(&json!({ "userId": "user_crash" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Client {
            http,
            base,
            pk,
            token: token["token"].as_str().unwrap().to_string(),
        }
    }

    fn at(&self, base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{base}"),
            pk: self.pk.clone(),
            token: self.token.clone(),
        }
    }

    /// One track: its status, or `None` when no answer came (the server is gone).
    async fn track(&self, key: Option<&str>) -> Option<u16> {
        let mut request = self
            .http
            .post(format!("{}/v1/usage/track", self.base))
            .header("x-publishable-key", &self.pk)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .json(&json!({}));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        Some(request.send().await.ok()?.status().as_u16())
    }

    async fn stored(&self) -> usize {
        let me: Value = self
            .http
            .get(format!("{}/v1/me", self.base))
            .header("x-publishable-key", &self.pk)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        used(&me, "requests").unwrap_or_else(|| panic!("no count in {me}")) as usize
    }
}

async fn killed_under_load(backend: Backend, idempotent: bool, case: &'static str) {
    dream_server::install_crypto();
    let (url, _dir) = fresh_database(backend).await;
    let (mut server, base) = spawn_serve_on(&url, &[]);
    let client = Arc::new(Client::new(&base).await);
    let sent = Arc::new(Mutex::new(Vec::new()));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let load: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, sent, acked) = (client.clone(), sent.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("crash-{c}-{i}");
                    sent.lock().unwrap().push(key.clone());
                    let key_sent = idempotent.then_some(key.as_str());
                    match client.track(key_sent).await {
                        Some(200) => acked.lock().unwrap().push(key),
                        Some(status) => panic!("a track answered {status} before the kill"),
                        None => break,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    for task in load {
        task.await.unwrap();
    }
    let sent: Vec<String> = sent.lock().unwrap().clone();
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(
        acked.len() > 50,
        "too little load: {} acknowledged",
        acked.len()
    );

    let restarted = Instant::now();
    let (mut server, base) = spawn_serve_on(&url, &[]);
    let recovery = restarted.elapsed();
    let client = client.at(&base);
    let stored = if idempotent {
        // Every request that got no answer, retried with its key, counts once; a retried
        // acknowledged one changes nothing.
        for key in sent.iter().filter(|k| !acked.contains(*k)) {
            assert_eq!(client.track(Some(key)).await, Some(200), "retrying {key}");
        }
        for key in acked.iter().take(20) {
            assert_eq!(client.track(Some(key)).await, Some(200), "replaying {key}");
        }
        let stored = client.stored().await;
        assert_eq!(stored, sent.len(), "one count per key: {} keys", sent.len());
        stored
    } else {
        let stored = client.stored().await;
        assert!(
            stored >= acked.len() && stored <= acked.len() + CLIENTS,
            "{} acknowledged, {stored} stored, {CLIENTS} in flight at most",
            acked.len()
        );
        stored
    };
    Figures {
        case,
        acknowledged: Some(acked.len()),
        stored: Some(stored),
        recovery: Some(recovery),
        ..Figures::default()
    }
    .report();
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_killed_under_load_keeps_every_acknowledged_track() {
    killed_under_load(Backend::Sqlite, false, "kill -9 under load, SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_killed_under_load_converges_with_idempotency_keys() {
    killed_under_load(
        Backend::Sqlite,
        true,
        "kill -9 under load, SQLite, idempotency keys retried",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_killed_under_load_keeps_every_acknowledged_track() {
    killed_under_load(Backend::Postgres, false, "kill -9 under load, Postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_killed_under_load_converges_with_idempotency_keys() {
    killed_under_load(
        Backend::Postgres,
        true,
        "kill -9 under load, Postgres, idempotency keys retried",
    )
    .await;
}
