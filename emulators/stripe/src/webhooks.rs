//! Events and their delivery: every state change becomes a Stripe event, delivered to each
//! configured endpoint with a `Stripe-Signature` header made exactly as Stripe makes it
//! (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the endpoint secret>`), and
//! retried on Stripe's schedule until the endpoint answers 2xx: first attempts in order, each
//! retry on its own, so one failing event does not hold back the next.

use std::sync::{Arc, Weak};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Emulator;
use crate::store::{Delivery, Endpoint, PLATFORM, new_id, now};

/// Seconds to wait before each retry, shaped like Stripe's live-mode schedule: a minute, then
/// longer and longer gaps, about three days in all. Scaled by [`crate::Options::retry_scale`].
pub const RETRY_AFTER: [u64; 9] = [
    60, 300, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 86_400,
];
/// Attempts per event and endpoint before giving up: the first, and one per retry.
pub const MAX_ATTEMPTS: u32 = RETRY_AFTER.len() as u32 + 1;

/// The `Stripe-Signature` header for `payload` signed at `timestamp` with `secret`.
pub fn signature_header(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Records an event about `object` and queues it for every endpoint.
pub fn emit(emulator: &Arc<Emulator>, account: &str, kind: &str, object: &Value) -> Value {
    emit_event(emulator, account, kind, object, None)
}

/// An `*.updated` event: `previous` holds the changed fields' old values
/// (`data.previous_attributes`).
pub fn emit_update(
    emulator: &Arc<Emulator>,
    account: &str,
    kind: &str,
    object: &Value,
    previous: Value,
) -> Value {
    emit_event(emulator, account, kind, object, Some(previous))
}

fn emit_event(
    emulator: &Arc<Emulator>,
    account: &str,
    kind: &str,
    object: &Value,
    previous: Option<Value>,
) -> Value {
    let event = {
        let mut store = emulator.store.lock().expect("store lock");
        let event = json!({
            "id": new_id("evt"),
            "object": "event",
            "api_version": crate::API_VERSION,
            "created": now(),
            "type": kind,
            "livemode": false,
            "account": if account == PLATFORM { Value::Null } else { Value::String(account.to_owned()) },
            "data": match previous {
                Some(previous) => json!({ "object": object, "previous_attributes": previous }),
                None => json!({ "object": object }),
            },
            "pending_webhooks": store.endpoints.len(),
            "request": { "id": Value::Null, "idempotency_key": Value::Null },
        });
        store.events.push(event.clone());
        store.deliveries.insert(
            event["id"].as_str().unwrap_or_default().to_owned(),
            Delivery::default(),
        );
        event
    };
    emulator.enqueue(&event);
    event
}

/// The first attempt to deliver `event` to `endpoint`, in order with the endpoint's other
/// events; when it fails, the retries go on by themselves.
pub(crate) async fn deliver(emulator: &Arc<Emulator>, endpoint: &Endpoint, event: &Value) {
    if !attempt(emulator, endpoint, event).await {
        tokio::spawn(retry(
            Arc::downgrade(emulator),
            endpoint.clone(),
            event.clone(),
            1,
        ));
    }
}

/// Retries from attempt `from` (1 is the first retry) on, each after its wait, until one is
/// accepted, the schedule ends or the emulator is gone.
pub(crate) async fn retry(emulator: Weak<Emulator>, endpoint: Endpoint, event: Value, from: u32) {
    for n in from..MAX_ATTEMPTS {
        let Some(wait) = emulator.upgrade().map(|e| e.retry_wait(n)) else {
            return;
        };
        tokio::time::sleep(wait).await;
        let Some(emulator) = emulator.upgrade() else {
            return;
        };
        if attempt(&emulator, &endpoint, &event).await {
            return;
        }
    }
}

/// One delivery attempt, recorded (and saved); whether the endpoint accepted it.
async fn attempt(emulator: &Emulator, endpoint: &Endpoint, event: &Value) -> bool {
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let payload = serde_json::to_string_pretty(event).expect("events serialize");
    let outcome = emulator
        .http
        .post(&endpoint.url)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "stripe-signature",
            signature_header(&payload, &endpoint.secret, now()),
        )
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .body(payload)
        .send()
        .await;
    let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let attempts = {
        let mut store = emulator.store.lock().expect("store lock");
        let delivery = store.deliveries.entry(id.clone()).or_default();
        delivery.attempts += 1;
        delivery.last_status = status;
        delivery.delivered |= delivered;
        delivery.attempts
    };
    emulator.save();
    if !delivered {
        if attempts >= MAX_ATTEMPTS {
            tracing::warn!(event = %id, attempts, ?status, "webhook delivery failed; giving up");
        } else {
            tracing::warn!(event = %id, attempts, ?status, "webhook delivery failed; retrying later");
        }
    }
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes() {
        // HMAC-SHA256("whsec_test", "1700000000.{}"), computed independently with openssl:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature_header("{}", "whsec_test", 1_700_000_000),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
