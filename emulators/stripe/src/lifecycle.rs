//! What happens after the API calls: the hosted checkout page completing (or cancelling) a
//! session, which creates the customer, subscription, invoice or payment and their events; and
//! the test controls that move a subscription through renewal, a failed
//! payment and cancellation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::api::{StripeError, new_customer};
use crate::invoices;
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
    if let Some(number) = fields.get("card").filter(|n| !n.trim().is_empty()) {
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
    // An empty card field: no payment method, which only a trial that does not need one
    // allows (`payment_method_collection=if_required`).
    let card = fields.get("card").is_none_or(|c| !c.trim().is_empty());
    if !card && !may_skip_card(&emulator, &id) {
        let typed = pages::Typed {
            card: "",
            expiry: field("exp"),
            email: field("email"),
            error: Some("Your card number is incomplete."),
            known_email: None,
        };
        return render_checkout(&emulator, &id, &typed, http::StatusCode::PAYMENT_REQUIRED);
    }
    let email = Some(field("email").trim()).filter(|e| !e.is_empty());
    match complete_session_as(&emulator, &id, email, card) {
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
    complete_session_as(emulator, id, None, true)
}

/// Whether the session can complete without a card: a trial whose checkout collects a payment
/// method only if required.
fn may_skip_card(emulator: &Arc<Emulator>, id: &str) -> bool {
    let store = emulator.store.lock().expect("store lock");
    store
        .find(id)
        .is_some_and(|s| s["payment_method_collection"] == "if_required")
        && store
            .session_lines
            .get(id)
            .is_some_and(|extras| extras["trial_period_days"].is_i64())
}

/// Completes a session paid by the buyer with `email` (typed on the page when the session
/// named none), with a card or (a trial that needs none) without, and returns the success URL.
pub fn complete_session_as(
    emulator: &Arc<Emulator>,
    id: &str,
    email: Option<&str>,
    card: bool,
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
        completed["payment_status"] = json!(if extras["trial_period_days"].is_i64() {
            "no_payment_required"
        } else {
            "paid"
        });
        completed["customer"] = json!(customer_id);
        if subscription_mode {
            let customer_id = customer_id.unwrap_or_default();
            let period = lines
                .first()
                .map_or(30 * 86_400, |l| interval_seconds(&l["price"]));
            let trial_end = extras["trial_period_days"]
                .as_i64()
                .map(|days| now + days * 86_400);
            let end = trial_end.unwrap_or(now + period);
            let subscription_id = new_id("sub");
            let mut subscription = json!({
                "id": subscription_id,
                "object": "subscription",
                "customer": customer_id,
                "status": if trial_end.is_some() { "trialing" } else { "active" },
                "currency": currency,
                "items": {
                    "object": "list",
                    "data": lines
                        .iter()
                        .map(|l| subscription_item(&subscription_id, l, now, end))
                        .collect::<Vec<_>>(),
                    "has_more": false,
                    "url": format!("/v1/subscription_items?subscription={subscription_id}"),
                },
                "current_period_start": now,
                "current_period_end": end,
                "billing_cycle_anchor": end,
                "start_date": now,
                "trial_start": trial_end.map(|_| now),
                "trial_end": trial_end,
                "trial_settings": {
                    "end_behavior": { "missing_payment_method": extras["missing_payment_method"].as_str().unwrap_or("create_invoice") },
                },
                "default_payment_method": if card { json!(new_id("pm")) } else { Value::Null },
                "billing_mode": { "type": "classic" },
                "billing_schedules": [],
                "collection_method": "charge_automatically",
                "automatic_tax": { "enabled": false, "liability": null },
                "discounts": [],
                "invoice_settings": { "issuer": { "type": "self" } },
                "cancel_at_period_end": false,
                "canceled_at": null,
                "ended_at": null,
                "metadata": extras["subscription_metadata"].as_object().cloned().unwrap_or_default(),
                "livemode": false,
                "created": now,
            });
            let mut invoice = invoices::draft(
                &customer_id,
                &subscription_id,
                &currency,
                "subscription_create",
                now,
                now,
            );
            invoices::bill_items(
                &store,
                &account,
                &mut invoice,
                &subscription,
                now,
                end,
                trial_end.is_some(),
            );
            invoices::settle(&mut invoice, true);
            let invoice = store.insert(&account, invoice);
            subscription["latest_invoice"] = invoice["id"].clone();
            let subscription = store.insert(&account, subscription);
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

/// Test controls, as time passing would: `renew` (the period ends and the next is billed and
/// paid), `fail_payment` (billed, and the charge fails; a later `renew` pays that invoice),
/// `end_trial` (a trialing subscription's trial ends: billed and paid, or canceled when it has
/// no payment method and its trial settings say so) and `cancel`. The answer comes once the
/// renewal's invoice is final (at most 10 s: its `invoice.created` must be acknowledged first).
pub async fn advance(
    State(emulator): State<Arc<Emulator>>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some(account) = emulator.store.lock().expect("store lock").owner(&id) else {
        return StripeError::no_such("subscription", &id, "id").into_response();
    };
    let paid = match action.as_str() {
        "cancel" => None,
        "renew" | "end_trial" => Some(true),
        "fail_payment" => Some(false),
        _ => {
            return (
                http::StatusCode::NOT_FOUND,
                "actions: renew, fail_payment, end_trial, cancel",
            )
                .into_response();
        }
    };
    let Some(paid) = paid else {
        return match cancel(&emulator, &account, &id) {
            Ok(subscription) => axum::Json(subscription).into_response(),
            Err(error) => error.into_response(),
        };
    };
    let step = {
        let mut store = emulator.store.lock().expect("store lock");
        next_step(&mut store, &account, &id, &action, paid)
    };
    match step {
        Err(error) => error.into_response(),
        Ok(Step::CancelTrial) => match cancel(&emulator, &account, &id) {
            Ok(subscription) => axum::Json(subscription).into_response(),
            Err(error) => error.into_response(),
        },
        Ok(Step::PaidOpen(invoice, subscription)) => {
            emit(&emulator, &account, "invoice.paid", &invoice);
            emit(
                &emulator,
                &account,
                "customer.subscription.updated",
                &subscription,
            );
            axum::Json(subscription).into_response()
        }
        Ok(Step::Cycle(draft, subscription)) => {
            emit(
                &emulator,
                &account,
                "customer.subscription.updated",
                &subscription,
            );
            invoices::announce_and_finalize(
                &emulator,
                &account,
                &draft,
                paid,
                std::time::Duration::from_secs(10),
            )
            .await;
            let now = emulator
                .store
                .lock()
                .expect("store lock")
                .get(&account, &id)
                .cloned();
            axum::Json(now.unwrap_or(subscription)).into_response()
        }
    }
}

/// What a test control does to a subscription.
enum Step {
    /// The trial ended without a payment method: the subscription is canceled.
    CancelTrial,
    /// An open invoice was paid: (invoice, subscription).
    PaidOpen(Value, Value),
    /// The period ended: (the draft billing the next one, the subscription in its new period).
    Cycle(Value, Value),
}

fn next_step(
    store: &mut crate::store::Store,
    account: &str,
    id: &str,
    action: &str,
    paid: bool,
) -> Result<Step, StripeError> {
    let subscription = store
        .get(account, id)
        .filter(|s| s["object"] == "subscription")
        .cloned()
        .ok_or_else(|| StripeError::no_such("subscription", id, "id"))?;
    if subscription["status"] == "canceled" {
        return Err(StripeError::invalid(
            "id",
            format!("The subscription {id} is canceled."),
        ));
    }
    let trialing = subscription["status"] == "trialing";
    if action == "end_trial" && !trialing {
        return Err(StripeError::invalid(
            "id",
            format!("The subscription {id} is not trialing."),
        ));
    }
    if trialing
        && subscription["default_payment_method"].is_null()
        && subscription["trial_settings"]["end_behavior"]["missing_payment_method"] == "cancel"
    {
        return Ok(Step::CancelTrial);
    }
    let open_invoice = subscription["latest_invoice"]
        .as_str()
        .and_then(|invoice| store.get(account, invoice))
        .filter(|invoice| invoice["status"] == "open")
        .cloned();
    let mut updated = subscription.clone();
    // A retry that succeeds pays the invoice that failed; the period already moved on.
    if let (true, Some(mut invoice)) = (paid, open_invoice) {
        let amount = invoice["amount_due"].clone();
        invoice["status"] = json!("paid");
        invoice["amount_paid"] = amount;
        invoice["amount_remaining"] = json!(0);
        invoice["attempt_count"] = json!(invoice["attempt_count"].as_i64().unwrap_or(1) + 1);
        invoice["status_transitions"]["paid_at"] = json!(now());
        updated["status"] = json!("active");
        let invoice = store.insert(account, invoice);
        return Ok(Step::PaidOpen(invoice, store.insert(account, updated)));
    }
    // The period ends: the next one starts and is billed on a draft, with the customer's
    // pending invoice items; the draft covers the period that ended.
    let ended = (
        subscription["current_period_start"]
            .as_i64()
            .unwrap_or_else(now),
        subscription["current_period_end"]
            .as_i64()
            .unwrap_or_else(now),
    );
    let end = ended.1 + interval_seconds(&subscription["items"]["data"][0]["price"]);
    set_period(&mut updated, ended.1, end);
    updated["status"] = json!("active");
    let customer = subscription["customer"].as_str().unwrap_or_default();
    let mut draft = invoices::draft(
        customer,
        id,
        &subscription["currency"],
        "subscription_cycle",
        ended.0,
        ended.1,
    );
    invoices::bill_items(store, account, &mut draft, &updated, ended.1, end, false);
    invoices::take_pending(store, account, &mut draft);
    updated["latest_invoice"] = draft["id"].clone();
    let draft = store.insert(account, draft);
    Ok(Step::Cycle(draft, store.insert(account, updated)))
}
