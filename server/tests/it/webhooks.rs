//! Stripe webhooks across restarts, with `dream serve` as a process: a checkout opened before
//! a restart is paid after it (the test-mode emulator keeps its state and port beside the
//! database), and an event whose every delivery failed while the server was down is applied
//! when it starts again (it lists the events it missed).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::spawn_serve_in;

/// An HTTP client for the server at `base` (`127.0.0.1:PORT`).
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        dream_server::install_crypto();
        Api {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{base}"),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, key: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// A project with a paid `pro` tier and a development token for `user_paying`: its test
    /// keys and the token.
    async fn shop(&self) -> (String, String, String) {
        let (pk, sk) = crate::harness::operator_project(&self.http, &self.base, "Restarts").await;
        self.send(
            reqwest::Method::PATCH,
            "/v1/settings",
            &sk,
            json!({ "devIssuerEnabled": true, "billing": { "siteUrl": "https://app.example.com" } }),
        )
        .await;
        self.send(
            reqwest::Method::POST,
            "/v1/tiers",
            &sk,
            json!({ "name": "pro", "displayName": "Pro",
                    "price": { "currency": "usd", "unitAmount": 2900, "interval": "month" },
                    "limits": [] }),
        )
        .await;
        let token = self
            .send(
                reqwest::Method::POST,
                "/v1/dev/tokens",
                &sk,
                json!({ "userId": "user_paying" }),
            )
            .await;
        (pk, sk, token["token"].as_str().unwrap().to_string())
    }

    /// The user's checkout for `pro`: its id and hosted page.
    async fn checkout(&self, pk: &str, token: &str) -> (String, String) {
        let response = self
            .http
            .post(format!("{}/v1/billing/checkout", self.base))
            .header("x-publishable-key", pk)
            .bearer_auth(token)
            .json(&json!({ "tier": "pro" }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body: Value = response.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_string(),
            body["url"].as_str().unwrap().to_string(),
        )
    }

    /// Waits until the user is on `tier`, at most 15 s; how long it took.
    async fn until_on(&self, pk: &str, token: &str, tier: &str) -> Duration {
        let started = Instant::now();
        loop {
            let me: Value = self
                .http
                .get(format!("{}/v1/me", self.base))
                .header("x-publishable-key", pk)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if me["tier"]["name"] == tier {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "still not on {tier}: {me}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Stops a server as an operator does, and waits for it to exit.
fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Pays on the emulator's hosted page, as its Pay button does.
async fn pay(url: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(url).send().await.expect("the checkout page opens");
    assert_eq!(page.status(), 200, "{url}");
    let paid = http.post(format!("{url}/complete")).send().await.unwrap();
    assert!(paid.status().is_redirection(), "{}", paid.status());
}

#[tokio::test]
async fn a_checkout_opened_before_a_restart_is_paid_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (first, base) = spawn_serve_in(dir.path(), &[]);
    let api = Api::new(&base);
    let (pk, _, token) = api.shop().await;
    let (_, url) = api.checkout(&pk, &token).await;
    stop(first);

    let (second, base) = spawn_serve_in(dir.path(), &[]);
    let api = Api::new(&base);
    pay(&url).await;
    let took = api.until_on(&pk, &token, "pro").await;
    println!("paid after a restart; on the new plan {took:?} later");
    stop(second);
}

#[tokio::test]
async fn an_event_missed_while_the_server_was_down_is_applied_when_it_starts() {
    dream_server::install_crypto();
    // Stripe as a separate service, retrying on its real schedule (the next try is a minute
    // away, beyond this test).
    let stripe = stripe_emulator::start_with(stripe_emulator::Options::default())
        .await
        .unwrap();
    let secret = "whsec_restarts_it";
    let env = [
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
        ("STRIPE_TEST_SECRET_KEY", "sk_test_restarts_it"),
        ("STRIPE_WEBHOOK_SECRETS", secret),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (first, base) = spawn_serve_in(dir.path(), &env);
    stripe
        .emulator
        .add_endpoint(&format!("http://{base}/v1/webhooks/stripe"), secret);
    let api = Api::new(&base);
    let (pk, _, token) = api.shop().await;
    let (_, url) = api.checkout(&pk, &token).await;
    // Killed: nothing answers at its address while the payment goes through.
    let mut first = first;
    first.kill().unwrap();
    first.wait().unwrap();
    pay(&url).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let undelivered = stripe
        .emulator
        .store
        .lock()
        .unwrap()
        .deliveries
        .values()
        .filter(|d| !d.delivered && d.attempts > 0)
        .count();
    assert!(
        undelivered > 0,
        "the payment's events could not be delivered"
    );

    let (second, base) = spawn_serve_in(dir.path(), &env);
    let api = Api::new(&base);
    let took = api.until_on(&pk, &token, "pro").await;
    crate::harness::Figures {
        case: "server killed while a payment went through: applied after restart",
        recovery: Some(took),
        ..Default::default()
    }
    .report();
    stop(second);
}
