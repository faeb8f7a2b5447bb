//! What happens after the API calls: the hosted checkout page completing (or cancelling) a
//! session, which creates the customer, subscription, invoice or payment and their events; the
//! portal page; and the test controls that move a subscription through renewal, a failed
//! payment and cancellation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::api::{StripeError, new_customer};
use crate::store::{new_id, now};
use crate::webhooks::emit;
use crate::{Emulator, pages};

fn interval_seconds(price: &Value) -> i64 {
    let count = price["recurring"]["interval_count"]
        .as_i64()
        .unwrap_or(1)
        .max(1);
    count
        * match price["recurring"]["interval"].as_str() {
            Some("day") => 86_400,
            Some("week") => 7 * 86_400,
            Some("year") => 365 * 86_400,
            _ => 30 * 86_400,
        }
}

/// An invoice for `amount` over `[start, end)`, shaped as Stripe returns invoices.
#[allow(clippy::too_many_arguments)] // each is one field of the invoice
fn invoice_object(
    customer: &str,
    subscription: &str,
    currency: &Value,
    amount: i64,
    paid: bool,
    reason: &str,
    start: i64,
    end: i64,
) -> Value {
    let now = now();
    json!({
        "id": new_id("in"),
        "object": "invoice",
        "customer": customer,
        "status": if paid { "paid" } else { "open" },
        "amount_due": amount,
        "amount_paid": if paid { amount } else { 0 },
        "amount_remaining": if paid { 0 } else { amount },
        "amount_overpaid": 0,
        "amount_shipping": 0,
        "subtotal": amount,
        "total": amount,
        "starting_balance": 0,
        "pre_payment_credit_notes_amount": 0,
        "post_payment_credit_notes_amount": 0,
        "currency": currency,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "attempt_count": 1,
        "attempted": true,
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "default_tax_rates": [],
        "discounts": [],
        "issuer": { "type": "self" },
        "lines": { "object": "list", "data": [], "has_more": false, "url": "/v1/invoices/lines" },
        "payment_settings": {},
        "status_transitions": { "paid_at": if paid { json!(now) } else { Value::Null } },
        "parent": {
            "type": "subscription_details",
            "subscription_details": { "subscription": subscription, "metadata": {} },
        },
        "period_start": start,
        "period_end": end,
        "livemode": false,
        "created": now,
    })
}

/// A subscription item for a line, with the period its price bills.
fn subscription_item(subscription: &str, line: &Value, start: i64, end: i64) -> Value {
    let price = &line["price"];
    json!({
        "id": new_id("si"),
        "object": "subscription_item",
        "subscription": subscription,
        "price": price,
        "plan": {
            "id": price["id"],
            "object": "plan",
            "active": true,
            "amount": price["unit_amount"],
            "billing_scheme": "per_unit",
            "created": price["created"],
            "currency": price["currency"],
            "interval": price["recurring"]["interval"],
            "interval_count": price["recurring"]["interval_count"],
            "livemode": false,
            "product": price["product"],
            "usage_type": "licensed",
        },
        "quantity": line["quantity"],
        "current_period_start": start,
        "current_period_end": end,
        "discounts": [],
        "metadata": {},
        "created": start,
    })
}

/// Moves a subscription and its items to the period `[start, end)`.
fn set_period(subscription: &mut Value, start: i64, end: i64) {
    subscription["current_period_start"] = json!(start);
    subscription["current_period_end"] = json!(end);
    if let Some(items) = subscription["items"]["data"].as_array_mut() {
        for item in items {
            item["current_period_start"] = json!(start);
            item["current_period_end"] = json!(end);
        }
    }
}

/// What one period of a subscription costs: every item's price times its quantity.
fn period_amount(subscription: &Value) -> i64 {
    subscription["items"]["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    i["price"]["unit_amount"].as_i64().unwrap_or(0)
                        * i["quantity"].as_i64().unwrap_or(1)
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The hosted checkout page: what is being bought (names, pictures, quantities, amounts), a
/// card form, and a way back.
pub async fn checkout_page(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
) -> Response {
    render_checkout(
        &emulator,
        &id,
        &pages::Typed::default(),
        http::StatusCode::OK,
    )
}

fn render_checkout(
    emulator: &Arc<Emulator>,
    id: &str,
    typed: &pages::Typed<'_>,
    status: http::StatusCode,
) -> Response {
    let store = emulator.store.lock().expect("store lock");
    let (Some(account), Some(session)) = (store.owner(id), store.find(id)) else {
        return (http::StatusCode::NOT_FOUND, "No such checkout session").into_response();
    };
    if session["status"] != "open" {
        return (
            http::StatusCode::GONE,
            Html(format!(
                "<!doctype html><title>Checkout</title><p>This checkout session is {}.</p>",
                pages::escape(session["status"].as_str().unwrap_or("closed"))
            )),
        )
            .into_response();
    }
    let lines: Vec<pages::Line<'_>> = store
        .session_lines
        .get(id)
        .and_then(|extras| extras["lines"].as_array())
        .map(|lines| {
            lines
                .iter()
                .map(|l| pages::Line {
                    price: &l["price"],
                    quantity: l["quantity"].as_i64().unwrap_or(1),
                    product: l["price"]["product"]
                        .as_str()
                        .and_then(|p| store.get(&account, p)),
                })
                .collect()
        })
        .unwrap_or_default();
    let customer = session["customer"]
        .as_str()
        .and_then(|c| store.get(&account, c));
    let typed = pages::Typed {
        known_email: session["customer_email"]
            .as_str()
            .or_else(|| customer.and_then(|c| c["email"].as_str())),
        ..*typed
    };
    (status, Html(pages::checkout(session, &lines, &typed))).into_response()
}

/// Pays for the session with the card typed on the page, as Stripe's hosted page does with
/// its test cards: 4242… pays; a declining card shows its error and nothing is paid. A post
/// without a `card` field (a test script's, not the page's) pays as 4242 would.
pub async fn complete(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    if let Some(number) = fields.get("card") {
        let today = pages::year_month(now());
        if let pages::Card::Declined(_, message) =
            pages::card(number, field("exp"), field("cvc"), today)
        {
            let typed = pages::Typed {
                card: number,
                expiry: field("exp"),
                email: field("email"),
                error: Some(message),
                known_email: None,
            };
            return render_checkout(&emulator, &id, &typed, http::StatusCode::PAYMENT_REQUIRED);
        }
    }
    let email = Some(field("email").trim()).filter(|e| !e.is_empty());
    match complete_session_as(&emulator, &id, email) {
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
    let session = store.find(&id).cloned();
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
    complete_session_as(emulator, id, None)
}

/// Completes a session paid by the buyer with `email` (typed on the page when the session
/// named none) and returns the success URL.
pub fn complete_session_as(
    emulator: &Arc<Emulator>,
    id: &str,
    email: Option<&str>,
) -> Result<String, StripeError> {
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
                format!(
                    "This Checkout Session is {}.",
                    session["status"].as_str().unwrap_or("closed")
                ),
            ));
        }
        let subscription_mode = session["mode"] == "subscription";
        // A subscription needs a customer; a one-time payment creates none unless one was named
        // (Stripe's `customer_creation=if_required`).
        let customer_id = match session["customer"].as_str() {
            Some(customer) => Some(customer.to_owned()),
            None if subscription_mode => {
                let email = session["customer_email"]
                    .as_str()
                    .or(email)
                    .map(str::to_owned);
                let customer = new_customer(&mut store, &account, email, json!({}));
                events.push(("customer.created", customer.clone()));
                customer["id"].as_str().map(str::to_owned)
            }
            None => None,
        };
        let extras = store.session_lines.get(id).cloned().unwrap_or_default();
        let lines = extras["lines"].as_array().cloned().unwrap_or_default();
        let currency = session["currency"].clone();
        let now = now();
        let mut completed = session.clone();
        let email = session["customer_email"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| email.map(str::to_owned));
        completed["customer_details"] = json!({
            "address": null,
            "business_name": null,
            "email": email,
            "individual_name": null,
            "name": null,
            "phone": null,
            "tax_exempt": "none",
            "tax_ids": [],
        });
        completed["status"] = json!("complete");
        completed["payment_status"] = json!("paid");
        completed["customer"] = json!(customer_id);
        if subscription_mode {
            let customer_id = customer_id.unwrap_or_default();
            let period = lines
                .first()
                .map_or(30 * 86_400, |l| interval_seconds(&l["price"]));
            let subscription_id = new_id("sub");
            let amount = session["amount_total"].as_i64().unwrap_or(0);
            let invoice = store.insert(
                &account,
                invoice_object(
                    &customer_id,
                    &subscription_id,
                    &currency,
                    amount,
                    true,
                    "subscription_create",
                    now,
                    now + period,
                ),
            );
            let subscription = store.insert(
                &account,
                json!({
                    "id": subscription_id,
                    "object": "subscription",
                    "customer": customer_id,
                    "status": "active",
                    "currency": currency,
                    "items": {
                        "object": "list",
                        "data": lines
                            .iter()
                            .map(|l| subscription_item(&subscription_id, l, now, now + period))
                            .collect::<Vec<_>>(),
                        "has_more": false,
                        "url": format!("/v1/subscription_items?subscription={subscription_id}"),
                    },
                    "current_period_start": now,
                    "current_period_end": now + period,
                    "billing_cycle_anchor": now,
                    "start_date": now,
                    "billing_mode": { "type": "classic" },
                    "billing_schedules": [],
                    "collection_method": "charge_automatically",
                    "automatic_tax": { "enabled": false, "liability": null },
                    "discounts": [],
                    "invoice_settings": { "issuer": { "type": "self" } },
                    "cancel_at_period_end": false,
                    "canceled_at": null,
                    "ended_at": null,
                    "latest_invoice": invoice["id"],
                    "metadata": extras["subscription_metadata"].as_object().cloned().unwrap_or_default(),
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
    let session = store.find(&id).cloned();
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
        if subscription["status"] == "canceled" {
            return Err(StripeError::invalid(
                "id",
                format!("The subscription {id} is already canceled."),
            ));
        }
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
        if subscription["status"] == "canceled" {
            return StripeError::invalid("id", format!("The subscription {id} is canceled."))
                .into_response();
        }
        let customer = subscription["customer"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let open_invoice = subscription["latest_invoice"]
            .as_str()
            .and_then(|invoice| store.get(&account, invoice))
            .filter(|invoice| invoice["status"] == "open")
            .cloned();
        let mut updated = subscription.clone();
        let invoice = match (paid, open_invoice) {
            // A retry that succeeds pays the invoice that failed; the period already moved on.
            (true, Some(mut invoice)) => {
                let amount = invoice["amount_due"].clone();
                invoice["status"] = json!("paid");
                invoice["amount_paid"] = amount;
                invoice["amount_remaining"] = json!(0);
                invoice["attempt_count"] =
                    json!(invoice["attempt_count"].as_i64().unwrap_or(1) + 1);
                invoice["status_transitions"]["paid_at"] = json!(now());
                invoice
            }
            // The period ends: the next one starts and is invoiced, paid or not.
            _ => {
                let start = subscription["current_period_end"]
                    .as_i64()
                    .unwrap_or_else(now);
                let end = start + interval_seconds(&subscription["items"]["data"][0]["price"]);
                set_period(&mut updated, start, end);
                invoice_object(
                    &customer,
                    &id,
                    &subscription["currency"],
                    period_amount(&subscription),
                    paid,
                    "subscription_cycle",
                    start,
                    end,
                )
            }
        };
        updated["status"] = json!(if paid { "active" } else { "past_due" });
        updated["latest_invoice"] = invoice["id"].clone();
        let invoice = store.insert(&account, invoice);
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
