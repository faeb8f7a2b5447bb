//! What happens after the API calls: the hosted checkout page completing (or cancelling) a
//! session, which creates the customer, subscription, invoice or payment and their events; the
//! portal page; and the test controls that move a subscription through renewal, a failed
//! payment and cancellation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::Emulator;
use crate::api::{StripeError, new_customer};
use crate::store::{new_id, now};
use crate::webhooks::emit;

fn interval_seconds(price: &Value) -> i64 {
    match price["recurring"]["interval"].as_str() {
        Some("day") => 86_400,
        Some("week") => 7 * 86_400,
        Some("year") => 365 * 86_400,
        _ => 30 * 86_400,
    }
}

/// The hosted checkout page: what is being bought, and buttons to pay or cancel.
pub async fn checkout_page(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
) -> Response {
    let store = emulator.store.lock().expect("store lock");
    let Some(account) = store.owner(&id) else {
        return (http::StatusCode::NOT_FOUND, "No such checkout session").into_response();
    };
    let session = store.get(&account, &id).cloned().unwrap_or_default();
    let lines: String = session["line_items"]["data"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    format!(
                        "<li>{} × {} {}</li>",
                        l["quantity"],
                        l["price"]["unit_amount"],
                        l["price"]["currency"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><title>Stripe emulator checkout</title><h1>Test-mode checkout ({})</h1><ul>{lines}</ul>\
         <p>Total: {} {}</p><form method=post action=\"/checkout/{id}/complete\"><button id=pay>Pay</button></form>\
         <form method=post action=\"/checkout/{id}/cancel\"><button id=cancel>Cancel</button></form>",
        session["mode"].as_str().unwrap_or(""),
        session["amount_total"],
        session["currency"].as_str().unwrap_or("")
    ))
    .into_response()
}

/// Pays for the session: as a card payment succeeding on Stripe's hosted page.
pub async fn complete(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    match complete_session(&emulator, &id) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Abandons the session: the buyer goes back to the cancel URL; nothing is created.
pub async fn cancel_checkout(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
) -> Response {
    let store = emulator.store.lock().expect("store lock");
    let session = store
        .owner(&id)
        .and_then(|account| store.get(&account, &id).cloned());
    match session {
        Some(session) => match session["cancel_url"].as_str() {
            Some(url) => Redirect::to(url).into_response(),
            None => Html("Checkout cancelled.").into_response(),
        },
        None => StripeError::no_such("checkout.session", &id, "id").into_response(),
    }
}

/// Completes a session and returns the success URL to send the buyer to.
pub fn complete_session(emulator: &Arc<Emulator>, id: &str) -> Result<String, StripeError> {
    let mut events: Vec<(&'static str, Value)> = Vec::new();
    let (account, session) = {
        let mut store = emulator.store.lock().expect("store lock");
        let account = store
            .owner(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "id"))?;
        let session = store.get(&account, id).cloned().unwrap_or_default();
        if session["status"] != "open" {
            return Err(StripeError::invalid(
                "id",
                format!("This Checkout Session is {}.", session["status"]),
            ));
        }
        let customer_id = match session["customer"].as_str() {
            Some(customer) => customer.to_owned(),
            None => {
                let email = session["customer_email"].as_str().map(str::to_owned);
                let customer = new_customer(&mut store, &account, email, json!({}));
                events.push(("customer.created", customer.clone()));
                customer["id"].as_str().unwrap_or_default().to_owned()
            }
        };
        let lines = session["line_items"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let currency = session["currency"].clone();
        let now = now();
        let mut completed = session.clone();
        completed["status"] = json!("complete");
        completed["payment_status"] = json!("paid");
        completed["customer"] = json!(customer_id);
        if session["mode"] == "subscription" {
            let period = lines
                .first()
                .map_or(30 * 86_400, |l| interval_seconds(&l["price"]));
            let subscription_id = new_id("sub");
            let invoice = store.insert(
                &account,
                json!({
                    "id": new_id("in"),
                    "object": "invoice",
                    "customer": customer_id,
                    "subscription": subscription_id,
                    "status": "paid",
                    "paid": true,
                    "amount_due": session["amount_total"],
                    "amount_paid": session["amount_total"],
                    "currency": currency,
                    "billing_reason": "subscription_create",
                    "period_start": now,
                    "period_end": now + period,
                    "livemode": false,
                    "created": now,
                }),
            );
            let subscription = store.insert(
                &account,
                json!({
                    "id": subscription_id,
                    "object": "subscription",
                    "customer": customer_id,
                    "status": "active",
                    "items": {
                        "object": "list",
                        "data": lines.iter().map(|l| json!({
                            "id": new_id("si"),
                            "object": "subscription_item",
                            "price": l["price"],
                            "quantity": l["quantity"],
                        })).collect::<Vec<_>>(),
                    },
                    "current_period_start": now,
                    "current_period_end": now + period,
                    "cancel_at_period_end": false,
                    "canceled_at": null,
                    "latest_invoice": invoice["id"],
                    "metadata": session["subscription_metadata"].as_object().cloned().unwrap_or_default(),
                    "livemode": false,
                    "created": now,
                }),
            );
            completed["subscription"] = json!(subscription_id);
            events.push(("customer.subscription.created", subscription));
            events.push(("invoice.paid", invoice));
        } else {
            completed["payment_intent"] = json!(new_id("pi"));
        }
        let completed = store.insert(&account, completed);
        // The session completes before the objects it made are announced, as on Stripe.
        let at = events
            .iter()
            .take_while(|(kind, _)| *kind == "customer.created")
            .count();
        events.insert(at, ("checkout.session.completed", completed.clone()));
        (account, completed)
    };
    for (kind, object) in events {
        emit(emulator, &account, kind, &object);
    }
    let success = session["success_url"].as_str().unwrap_or("/");
    Ok(success.replace("{CHECKOUT_SESSION_ID}", id))
}

/// The customer portal, as far as tests need it: the customer it is for, and a way back.
pub async fn portal_page(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
) -> Response {
    let store = emulator.store.lock().expect("store lock");
    let session = store
        .owner(&id)
        .and_then(|account| store.get(&account, &id).cloned());
    match session {
        Some(session) => Html(format!(
            "<!doctype html><title>Stripe emulator portal</title><h1>Billing portal for {}</h1><a href=\"{}\">Return</a>",
            session["customer"].as_str().unwrap_or(""),
            session["return_url"].as_str().unwrap_or("/")
        ))
        .into_response(),
        None => StripeError::no_such("billing_portal.session", &id, "id").into_response(),
    }
}

/// `DELETE /v1/subscriptions/{id}`: cancels now.
pub fn cancel(emulator: &Arc<Emulator>, account: &str, id: &str) -> Result<Value, StripeError> {
    let subscription = {
        let mut store = emulator.store.lock().expect("store lock");
        let subscription = store
            .get_mut(account, id)
            .filter(|s| s["object"] == "subscription")
            .ok_or_else(|| StripeError::no_such("subscription", id, "id"))?;
        subscription["status"] = json!("canceled");
        subscription["canceled_at"] = json!(now());
        subscription["ended_at"] = json!(now());
        subscription.clone()
    };
    emit(
        emulator,
        account,
        "customer.subscription.deleted",
        &subscription,
    );
    Ok(subscription)
}

/// Test controls: `renew`, `fail_payment`, `cancel` a subscription, as time passing would.
pub async fn advance(
    State(emulator): State<Arc<Emulator>>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some(account) = emulator.store.lock().expect("store lock").owner(&id) else {
        return StripeError::no_such("subscription", &id, "id").into_response();
    };
    if action == "cancel" {
        return match cancel(&emulator, &account, &id) {
            Ok(subscription) => axum::Json(subscription).into_response(),
            Err(error) => error.into_response(),
        };
    }
    let paid = match action.as_str() {
        "renew" => true,
        "fail_payment" => false,
        _ => {
            return (
                http::StatusCode::NOT_FOUND,
                "actions: renew, fail_payment, cancel",
            )
                .into_response();
        }
    };
    let (subscription, invoice) = {
        let mut store = emulator.store.lock().expect("store lock");
        let Some(subscription) = store
            .get(&account, &id)
            .filter(|s| s["object"] == "subscription")
            .cloned()
        else {
            return StripeError::no_such("subscription", &id, "id").into_response();
        };
        let price = &subscription["items"]["data"][0]["price"];
        let quantity = subscription["items"]["data"][0]["quantity"]
            .as_i64()
            .unwrap_or(1);
        let amount = price["unit_amount"].as_i64().unwrap_or(0) * quantity;
        let start = subscription["current_period_end"]
            .as_i64()
            .unwrap_or_else(now);
        let end = start + interval_seconds(price);
        let invoice = store.insert(
            &account,
            json!({
                "id": new_id("in"),
                "object": "invoice",
                "customer": subscription["customer"],
                "subscription": id,
                "status": if paid { "paid" } else { "open" },
                "paid": paid,
                "amount_due": amount,
                "amount_paid": if paid { amount } else { 0 },
                "currency": price["currency"],
                "billing_reason": "subscription_cycle",
                "period_start": start,
                "period_end": end,
                "attempt_count": 1,
                "livemode": false,
                "created": now(),
            }),
        );
        let mut updated = subscription.clone();
        if paid {
            updated["current_period_start"] = json!(start);
            updated["current_period_end"] = json!(end);
            updated["status"] = json!("active");
        } else {
            updated["status"] = json!("past_due");
        }
        updated["latest_invoice"] = invoice["id"].clone();
        (store.insert(&account, updated), invoice)
    };
    let kind = if paid {
        "invoice.paid"
    } else {
        "invoice.payment_failed"
    };
    emit(&emulator, &account, kind, &invoice);
    emit(
        &emulator,
        &account,
        "customer.subscription.updated",
        &subscription,
    );
    axum::Json(subscription).into_response()
}
