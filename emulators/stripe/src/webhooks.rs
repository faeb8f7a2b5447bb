//! Events and their delivery: every state change becomes a Stripe event, delivered to each
//! configured endpoint with a `Stripe-Signature` header made exactly as Stripe makes it
//! (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the endpoint secret>`), and
//! retried with backoff until the endpoint answers 2xx.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Emulator;
use crate::store::{Delivery, PLATFORM, new_id, now};

/// Attempts per event and endpoint before giving up.
pub const MAX_ATTEMPTS: u32 = 6;

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
            "data": { "object": object },
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

/// Delivers one event to one endpoint, retrying with backoff until it answers 2xx.
pub(crate) async fn deliver(emulator: &Emulator, url: &str, secret: &str, event: &Value) {
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let payload = serde_json::to_string_pretty(event).expect("events serialize");
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 * (1 << attempt))).await;
        }
        let outcome = emulator
            .http
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "stripe-signature",
                signature_header(&payload, secret, now()),
            )
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(payload.clone())
            .send()
            .await;
        let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut store = emulator.store.lock().expect("store lock");
            let delivery = store.deliveries.entry(id.clone()).or_default();
            delivery.attempts += 1;
            delivery.last_status = status;
            delivery.delivered |= delivered;
        }
        if delivered {
            return;
        }
        tracing::warn!(event = %id, attempt, ?status, "webhook delivery failed; retrying");
    }
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
