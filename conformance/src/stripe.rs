//! Stripe, as the billing and webhook cases meet it: events the suite signs itself with the
//! backend's webhook secret (exactly as Stripe signs them), and the hosted pages and test
//! controls of Dream's Stripe emulator, which a backend in test mode may use.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{Ctx, Raw, Verdict, send_raw};

/// A completed payment-mode Checkout Session, as Stripe sends it in an event.
const SESSION: &str = include_str!("../fixtures/stripe/checkout_session_payment.json");
/// A subscription with one item, as Stripe sends it in an event.
const SUBSCRIPTION: &str = include_str!("../fixtures/stripe/subscription.json");

/// `Stripe-Signature` for `payload`: `t={t},v1={HMAC-SHA256(secret, "{t}.{payload}")}`.
pub fn signature(payload: &str, secret: &str, t: i64) -> String {
    format!("t={t},v1={}", hmac_hex(payload, secret, t))
}

pub fn hmac_hex(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An event envelope around `object`.
pub fn event(id: &str, kind: &str, account: Option<&str>, created: i64, object: Value) -> String {
    let mut event = json!({
        "id": id,
        "object": "event",
        "api_version": "2026-06-24.dahlia",
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind,
    });
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event.to_string()
}

/// A completed cart session `id` paying `amount` USD cents, for `email`.
pub fn paid_session(id: &str, amount: i64, email: &str) -> Value {
    let mut session: Value = serde_json::from_str(SESSION).expect("fixture");
    session["id"] = json!(id);
    session["amount_total"] = json!(amount);
    session["customer_email"] = json!(email);
    session["metadata"] = json!({});
    session["url"] = Value::Null;
    session
}

/// A subscription of `customer` to `tier_id` (named in its metadata) in `status`, for the
/// period `[start, end)`.
pub fn subscription(
    id: &str,
    customer: &str,
    tier_id: &str,
    status: &str,
    start: i64,
    end: i64,
) -> Value {
    let mut sub: Value = serde_json::from_str(SUBSCRIPTION).expect("fixture");
    sub["id"] = json!(id);
    sub["customer"] = json!(customer);
    sub["status"] = json!(status);
    sub["metadata"] = json!({ "dream_tier": tier_id });
    sub["current_period_start"] = json!(start);
    sub["current_period_end"] = json!(end);
    if let Some(items) = sub["items"]["data"].as_array_mut() {
        for item in items {
            item["subscription"] = json!(id);
            item["current_period_start"] = json!(start);
            item["current_period_end"] = json!(end);
        }
    }
    sub
}

impl Ctx {
    /// The webhook secret the run was given; Skip without one.
    pub fn webhook_secret(&self) -> Result<String, Verdict> {
        self.settings()
            .stripe_webhook_secret
            .clone()
            .ok_or_else(|| {
                Verdict::Skip("signs Stripe events: needs --stripe-webhook-secret".into())
            })
    }

    /// Delivers `payload` to the backend's webhook endpoint with `signature`.
    pub async fn deliver(&self, payload: &str, signature: Option<&str>) -> Result<Raw, Verdict> {
        let mut request = self
            .raw(http::Method::POST, "/v1/webhooks/stripe")
            .header("content-type", "application/json")
            .body(payload.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        send_raw(request, "receiveStripeWebhook").await
    }

    /// Delivers `payload` signed now with the run's secret.
    pub async fn deliver_signed(&self, payload: &str) -> Result<Raw, Verdict> {
        let secret = self.webhook_secret()?;
        self.deliver(payload, Some(&signature(payload, &secret, now())))
            .await
    }
}

/// A hosted checkout the suite can pay: Dream's Stripe emulator. Skip for anything else.
pub async fn pay(checkout_url: &str) -> Result<(), Verdict> {
    complete(checkout_url, "").await
}

/// Completes a checkout that needs no card (a trial with an optional payment method) without
/// giving one.
pub async fn start_without_card(checkout_url: &str) -> Result<(), Verdict> {
    complete(checkout_url, "card=").await
}

async fn complete(checkout_url: &str, form: &str) -> Result<(), Verdict> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let page = http
        .get(checkout_url)
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("the checkout page: {e}")))?
        .text()
        .await
        .unwrap_or_default();
    if !page.contains("Stripe emulator") {
        return Err(Verdict::Skip(
            "pays a checkout: needs the backend's test mode on Dream's Stripe emulator".into(),
        ));
    }
    let paid = http
        .post(format!("{checkout_url}/complete"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("paying the checkout: {e}")))?;
    if paid.status().as_u16() != 303 {
        return Err(Verdict::Fail(format!(
            "paying the checkout: the emulator answered {}",
            paid.status()
        )));
    }
    Ok(())
}

/// Renews, fails the next payment of, or cancels a subscription on the emulator that hosted
/// `checkout_url`.
pub async fn advance(checkout_url: &str, subscription: &str, action: &str) -> Result<(), Verdict> {
    let origin = emulator_origin(checkout_url)?;
    let response = reqwest::Client::new()
        .post(format!(
            "{origin}/_emulator/subscriptions/{subscription}/{action}"
        ))
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("{action} on the emulator: {e}")))?;
    if !response.status().is_success() {
        return Err(Verdict::Fail(format!(
            "{action} on the emulator answered {}",
            response.status()
        )));
    }
    Ok(())
}

/// The emulator that hosted `checkout_url`: its origin.
fn emulator_origin(checkout_url: &str) -> Result<String, Verdict> {
    let url = reqwest::Url::parse(checkout_url)
        .map_err(|e| Verdict::Fail(format!("the checkout URL {checkout_url:?}: {e}")))?;
    Ok(url.origin().ascii_serialization())
}

/// A GET or POST on the emulator that hosted `checkout_url`, as JSON (its API with a test key).
pub async fn emulator_json(
    checkout_url: &str,
    method: reqwest::Method,
    path: &str,
) -> Result<Value, Verdict> {
    let origin = emulator_origin(checkout_url)?;
    let response = reqwest::Client::new()
        .request(method, format!("{origin}{path}"))
        .bearer_auth("sk_test_conformance")
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("{path} on the emulator: {e}")))?;
    if !response.status().is_success() {
        return Err(Verdict::Fail(format!(
            "{path} on the emulator answered {}",
            response.status()
        )));
    }
    response
        .json()
        .await
        .map_err(|e| Verdict::Fail(format!("{path} on the emulator: {e}")))
}

/// Polls `check` until it returns `Some`, for up to 15 s: webhooks arrive asynchronously.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T, Verdict>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, Verdict>>,
{
    for _ in 0..150 {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Verdict::Fail(format!("{what}: not seen within 15 s")))
}
