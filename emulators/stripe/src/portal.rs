//! The hosted customer portal: the customer's subscriptions, each with its plan, and what
//! Stripe's portal lets a customer do with one — switch to another recurring price of the same
//! project and currency, cancel at the end of the period, or take a pending
//! cancellation back. Each change sends `customer.subscription.updated` with the changed
//! fields' old values in `data.previous_attributes`, as Stripe does. (Unlike Stripe, a switch
//! does not prorate: the new price bills from the next renewal.)

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::api::StripeError;
use crate::pages::{STYLE, date, escape, money, per_interval};
use crate::webhooks::emit_update;
use crate::{Emulator, store::now};

/// Subscriptions a portal shows: the customer's, not yet ended.
fn live(status: &Value) -> bool {
    matches!(
        status.as_str(),
        Some("active" | "trialing" | "past_due" | "unpaid" | "incomplete")
    )
}

fn product_name(store: &crate::store::Store, account: &str, price: &Value) -> String {
    let product = price["product"].as_str().unwrap_or_default();
    store
        .get(account, product)
        .and_then(|p| p["name"].as_str())
        .or_else(|| price["nickname"].as_str())
        .unwrap_or("Plan")
        .to_string()
}

/// The `dream_project` metadata of a price's product. It stands in for the portal
/// configuration Stripe would use: the prices offered for a switch are those of products made
/// for the same project (the server tags its tier products so), never another project's on a
/// shared platform account.
fn project_of(store: &crate::store::Store, account: &str, price: &Value) -> Value {
    let product = price["product"].as_str().unwrap_or_default();
    store
        .get(account, product)
        .map_or(Value::Null, |p| p["metadata"]["dream_project"].clone())
}

pub async fn page(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    let store = emulator.store.lock().expect("store lock");
    let Some(account) = store.owner(&id) else {
        return StripeError::no_such("billing_portal.session", &id, "id").into_response();
    };
    let Some(session) = store.get(&account, &id).cloned() else {
        return StripeError::no_such("billing_portal.session", &id, "id").into_response();
    };
    let customer = session["customer"].as_str().unwrap_or_default();
    let who = store
        .get(&account, customer)
        .and_then(|c| c["email"].as_str())
        .unwrap_or(customer);
    let mut subscriptions: Vec<&Value> = store
        .objects_of(&account, "subscription")
        .filter(|s| s["customer"] == customer && live(&s["status"]))
        .collect();
    subscriptions.sort_by_key(|s| s["created"].as_i64());
    let mut cards = String::new();
    for subscription in &subscriptions {
        let sub_id = escape(subscription["id"].as_str().unwrap_or_default());
        let price = &subscription["items"]["data"][0]["price"];
        let currency = price["currency"].as_str().unwrap_or("usd");
        let name = escape(&product_name(&store, &account, price));
        let amount = money(price["unit_amount"].as_i64().unwrap_or(0), currency);
        let end = subscription["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap_or(0);
        let status = subscription["status"].as_str().unwrap_or_default();
        let ending = subscription["cancel_at_period_end"] == true;
        let project = project_of(&store, &account, price);
        let mut choices: Vec<&Value> = store
            .objects_of(&account, "price")
            .filter(|p| {
                p["active"] == true
                    && p["recurring"].is_object()
                    && p["currency"] == currency
                    && p["id"] != price["id"]
                    && project_of(&store, &account, p) == project
            })
            .collect();
        choices.sort_by_key(|p| {
            (
                p["unit_amount"].as_i64(),
                p["id"].as_str().map(str::to_string),
            )
        });
        let next = if ending {
            format!("<p class=error id=ends>Cancels on {}</p>", date(end))
        } else {
            format!("<p class=muted>Renews on {} · {status}</p>", date(end))
        };
        let switch = if ending || choices.is_empty() {
            String::new()
        } else {
            let options: String = choices
                .iter()
                .map(|p| {
                    let price_id = escape(p["id"].as_str().unwrap_or_default());
                    format!(
                        "<label class=choice><input type=radio name=price value=\"{price_id}\" required> {} — {}{}</label>",
                        escape(&product_name(&store, &account, p)),
                        money(p["unit_amount"].as_i64().unwrap_or(0), currency),
                        per_interval(p),
                    )
                })
                .collect();
            format!(
                "<form method=post action=\"/portal/{}/switch\"><input type=hidden name=subscription value=\"{sub_id}\">\
                 <h2>Switch plan</h2>{options}<button id=switch type=submit>Switch plan</button></form>",
                escape(&id)
            )
        };
        let (action, label, class) = if ending {
            ("renew", "Don't cancel", "")
        } else {
            ("cancel", "Cancel plan", " class=secondary")
        };
        cards.push_str(&format!(
            "<section class=plan id=\"sub-{sub_id}\"><h2>Current plan</h2><p class=total id=plan>{name}</p>\
             <p id=price>{amount}{}</p>{next}{switch}\
             <form method=post action=\"/portal/{}/{action}\"><input type=hidden name=subscription value=\"{sub_id}\">\
             <button id={action}{class} type=submit>{label}</button></form></section>",
            per_interval(price),
            escape(&id),
        ));
    }
    if subscriptions.is_empty() {
        cards.push_str("<section><p class=muted id=none>No active subscription.</p></section>");
    }
    let back = escape(session["return_url"].as_str().unwrap_or("/"));
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>Billing · Stripe emulator</title><style>{STYLE}{PORTAL_STYLE}</style><main>\
         <section><h1>Billing <span class=badge>Test mode</span></h1><p class=muted>Signed in as <b id=customer>{}</b></p>\
         <a id=return href=\"{back}\">← Return</a></section>{cards}</main>",
        escape(who),
    ))
    .into_response()
}

const PORTAL_STYLE: &str = "
h2{font-size:13px;color:#697386;font-weight:600;text-transform:uppercase;letter-spacing:.04em;margin:18px 0 8px}
section.plan{background:#fff;border-radius:10px;box-shadow:0 4px 18px rgba(50,50,93,.12);padding:24px}
label.choice{display:flex;gap:8px;align-items:center;font-size:15px;color:#1a1f36;padding:8px 0;margin:0}
label.choice input{width:auto;margin:0}";

/// The session's account and customer, and the subscription the form names, if it is theirs.
fn theirs(
    emulator: &Arc<Emulator>,
    session_id: &str,
    fields: &std::collections::HashMap<String, String>,
) -> Result<(String, String), StripeError> {
    let store = emulator.store.lock().expect("store lock");
    let missing = || StripeError::no_such("billing_portal.session", session_id, "id");
    let account = store.owner(session_id).ok_or_else(missing)?;
    let session = store.get(&account, session_id).ok_or_else(missing)?;
    let wanted = fields.get("subscription").map(String::as_str).unwrap_or("");
    match store.get(&account, wanted) {
        Some(s) if s["object"] == "subscription" && s["customer"] == session["customer"] => {
            Ok((account, wanted.to_string()))
        }
        _ => Err(StripeError::no_such("subscription", wanted, "subscription")),
    }
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Changes the subscription with `change` (which returns the old values of what it changed)
/// and tells the endpoints.
fn update(
    emulator: &Arc<Emulator>,
    account: &str,
    subscription: &str,
    change: impl FnOnce(&mut Value) -> Value,
) -> Result<(), StripeError> {
    let (updated, previous) = {
        let mut store = emulator.store.lock().expect("store lock");
        let object = store
            .get_mut(account, subscription)
            .ok_or_else(|| StripeError::no_such("subscription", subscription, "id"))?;
        let previous = change(object);
        (object.clone(), previous)
    };
    emit_update(
        emulator,
        account,
        "customer.subscription.updated",
        &updated,
        previous,
    );
    Ok(())
}

fn back_to(id: &str, result: Result<(), StripeError>) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/portal/{id}")).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Moves the subscription to another of the account's recurring prices.
pub async fn switch(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let fields = form(&body);
    let (account, subscription) = match theirs(&emulator, &id, &fields) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    let wanted = fields.get("price").cloned().unwrap_or_default();
    let price = emulator
        .store
        .lock()
        .expect("store lock")
        .get(&account, &wanted)
        .filter(|p| p["object"] == "price" && p["recurring"].is_object() && p["active"] == true)
        .cloned();
    let same_project = {
        let store = emulator.store.lock().expect("store lock");
        let current = store
            .get(&account, &subscription)
            .map(|s| s["items"]["data"][0]["price"].clone())
            .unwrap_or_default();
        price.as_ref().is_some_and(|p| {
            project_of(&store, &account, p) == project_of(&store, &account, &current)
        })
    };
    let Some(price) = price.filter(|_| same_project) else {
        return StripeError::no_such("price", &wanted, "price").into_response();
    };
    let result = update(&emulator, &account, &subscription, |sub| {
        let previous = json!({ "items": sub["items"].clone(), "plan": sub["plan"].clone() });
        let item = &mut sub["items"]["data"][0];
        item["price"] = price.clone();
        item["plan"]["id"] = price["id"].clone();
        item["plan"]["amount"] = price["unit_amount"].clone();
        item["plan"]["product"] = price["product"].clone();
        item["plan"]["interval"] = price["recurring"]["interval"].clone();
        item["plan"]["interval_count"] = price["recurring"]["interval_count"].clone();
        if sub["plan"].is_object() {
            sub["plan"] = sub["items"]["data"][0]["plan"].clone();
        }
        previous
    });
    back_to(&id, result)
}

/// Cancels at the end of the period (`cancel = true`), or takes that back.
async fn cancel_at_period_end(
    emulator: Arc<Emulator>,
    id: String,
    body: &[u8],
    cancel: bool,
) -> Response {
    let fields = form(body);
    let (account, subscription) = match theirs(&emulator, &id, &fields) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    let result = update(&emulator, &account, &subscription, |sub| {
        let end = sub["items"]["data"][0]["current_period_end"].clone();
        let previous = json!({
            "cancel_at_period_end": sub["cancel_at_period_end"].clone(),
            "cancel_at": sub["cancel_at"].clone(),
            "canceled_at": sub["canceled_at"].clone(),
        });
        sub["cancel_at_period_end"] = json!(cancel);
        sub["cancel_at"] = if cancel { end } else { Value::Null };
        sub["canceled_at"] = if cancel { json!(now()) } else { Value::Null };
        previous
    });
    back_to(&id, result)
}

pub async fn cancel(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    cancel_at_period_end(emulator, id, &body, true).await
}

pub async fn renew(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    cancel_at_period_end(emulator, id, &body, false).await
}
