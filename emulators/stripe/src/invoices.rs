//! Invoices and invoice items, as Stripe bills a subscription: the first invoice at checkout,
//! and at each renewal a **draft** invoice that is announced (`invoice.created`), open to
//! invoice items while its webhooks are being answered, then finalized and paid (or not).
//!
//! Stripe finalizes a renewal's draft about an hour after every endpoint has acknowledged
//! `invoice.created`, or after 72 hours without that. The emulator finalizes as soon as the
//! event is acknowledged (or at once without endpoints), and after the retry schedule's length
//! ([`crate::Options::retry_scale`] applies) when it never is. Invoice items created without an
//! invoice are pending: the customer's next invoice takes them in.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Emulator;
use crate::api::{Answer, StripeError, integer, metadata, text};
use crate::store::{Store, new_id, now};
use crate::webhooks::emit;

/// An empty draft invoice over `[start, end)` (for a renewal, the period that ended: the one
/// its usage was counted in), shaped as Stripe returns invoices.
pub fn draft(
    customer: &str,
    subscription: &str,
    currency: &Value,
    reason: &str,
    start: i64,
    end: i64,
) -> Value {
    let id = new_id("in");
    json!({
        "id": id,
        "object": "invoice",
        "customer": customer,
        "status": "draft",
        "auto_advance": true,
        "amount_due": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_overpaid": 0,
        "amount_shipping": 0,
        "subtotal": 0,
        "total": 0,
        "starting_balance": 0,
        "pre_payment_credit_notes_amount": 0,
        "post_payment_credit_notes_amount": 0,
        "currency": currency,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "attempt_count": 0,
        "attempted": false,
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "default_tax_rates": [],
        "discounts": [],
        "issuer": { "type": "self" },
        "lines": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines") },
        "payment_settings": {},
        "status_transitions": { "finalized_at": null, "paid_at": null },
        "parent": {
            "type": "subscription_details",
            "subscription_details": { "subscription": subscription, "metadata": {} },
        },
        "period_start": start,
        "period_end": end,
        "livemode": false,
        "created": now(),
    })
}

/// A line of an invoice, with what made it (`parent`).
fn line(
    invoice: &Value,
    amount: i64,
    description: &str,
    period: (i64, i64),
    parent: Value,
) -> Value {
    json!({
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": invoice["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": invoice["id"],
        "livemode": false,
        "metadata": {},
        "parent": parent,
        "period": { "start": period.0, "end": period.1 },
        "pretax_credit_amounts": [],
        "quantity": 1,
        "subtotal": amount,
        "taxes": [],
    })
}

fn push_line(invoice: &mut Value, line: Value) {
    if let Some(lines) = invoice["lines"]["data"].as_array_mut() {
        lines.push(line);
    }
}

/// Adds a line for each of the subscription's items over `[start, end)`; `free` bills them at
/// zero (a trial).
pub fn bill_items(
    store: &Store,
    account: &str,
    invoice: &mut Value,
    subscription: &Value,
    start: i64,
    end: i64,
    free: bool,
) {
    for item in subscription["items"]["data"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let price = &item["price"];
        let quantity = item["quantity"].as_i64().unwrap_or(1);
        let product = price["product"].as_str().unwrap_or_default();
        let name = store
            .get(account, product)
            .and_then(|p| p["name"].as_str())
            .unwrap_or("Subscription");
        let amount = if free {
            0
        } else {
            price["unit_amount"].as_i64().unwrap_or(0) * quantity
        };
        let description = if free {
            format!("Trial period for {name}")
        } else {
            format!("{quantity} × {name}")
        };
        let mut line = line(
            invoice,
            amount,
            &description,
            (start, end),
            json!({
                "type": "subscription_item_details",
                "invoice_item_details": null,
                "subscription_item_details": {
                    "invoice_item": null,
                    "proration": false,
                    "proration_details": null,
                    "subscription": subscription["id"],
                    "subscription_item": item["id"],
                },
            }),
        );
        line["quantity"] = json!(quantity);
        line["pricing"] = json!({
            "type": "price_details",
            "price_details": { "price": price["id"], "product": product },
            "unit_amount_decimal": price["unit_amount"].as_i64().unwrap_or(0).to_string(),
        });
        push_line(invoice, line);
    }
}

/// The line an invoice item becomes on its invoice.
fn item_line(invoice: &Value, item: &Value) -> Value {
    line(
        invoice,
        item["amount"].as_i64().unwrap_or(0),
        item["description"].as_str().unwrap_or("Invoice item"),
        (
            item["period"]["start"].as_i64().unwrap_or(0),
            item["period"]["end"].as_i64().unwrap_or(0),
        ),
        json!({
            "type": "invoice_item_details",
            "subscription_item_details": null,
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": false,
                "proration_details": null,
                "subscription": item["subscription"],
            },
        }),
    )
}

/// Moves the customer's pending invoice items (of this subscription, or of none) onto a draft.
pub fn take_pending(store: &mut Store, account: &str, invoice: &mut Value) {
    let customer = invoice["customer"].as_str().unwrap_or_default().to_owned();
    let subscription = invoice["parent"]["subscription_details"]["subscription"].clone();
    let mut pending: Vec<Value> = store
        .objects_of(account, "invoiceitem")
        .filter(|i| {
            i["invoice"].is_null()
                && i["customer"] == customer.as_str()
                && (i["subscription"].is_null() || i["subscription"] == subscription)
        })
        .cloned()
        .collect();
    pending.sort_by_key(|i| (i["date"].as_i64(), i["id"].as_str().map(str::to_owned)));
    for mut item in pending {
        item["invoice"] = invoice["id"].clone();
        let line = item_line(invoice, &item);
        push_line(invoice, line);
        store.insert(account, item);
    }
}

/// Finalizes a draft: totals from its lines, then paid or left open (a failed payment).
pub fn settle(invoice: &mut Value, paid: bool) {
    let total: i64 = invoice["lines"]["data"]
        .as_array()
        .map(|lines| lines.iter().filter_map(|l| l["amount"].as_i64()).sum())
        .unwrap_or(0);
    let now = now();
    invoice["subtotal"] = json!(total);
    invoice["total"] = json!(total);
    invoice["amount_due"] = json!(total);
    invoice["amount_paid"] = json!(if paid { total } else { 0 });
    invoice["amount_remaining"] = json!(if paid { 0 } else { total });
    invoice["status"] = json!(if paid { "paid" } else { "open" });
    invoice["attempted"] = json!(true);
    invoice["attempt_count"] = json!(1);
    invoice["status_transitions"]["finalized_at"] = json!(now);
    invoice["status_transitions"]["paid_at"] = if paid { json!(now) } else { Value::Null };
}

/// `POST /v1/invoiceitems`: an amount billed to a customer, on a draft `invoice`, or pending
/// until the customer's next invoice.
pub fn create_item(emulator: &Arc<Emulator>, account: &str, params: &Value) -> Answer {
    let customer =
        text(params, "customer").ok_or_else(|| StripeError::missing_param("customer"))?;
    let amount = integer(params, "amount")?.ok_or_else(|| StripeError::missing_param("amount"))?;
    let mut store = emulator.store.lock().expect("store lock");
    if store
        .get(account, &customer)
        .filter(|c| c["object"] == "customer")
        .is_none()
    {
        return Err(StripeError::no_such("customer", &customer, "customer"));
    }
    let invoice = match text(params, "invoice") {
        Some(id) => {
            let invoice = store
                .get(account, &id)
                .filter(|i| i["object"] == "invoice")
                .cloned()
                .ok_or_else(|| StripeError::no_such("invoice", &id, "invoice"))?;
            if invoice["customer"] != customer.as_str() {
                return Err(StripeError::invalid(
                    "invoice",
                    format!("The invoice {id} belongs to another customer."),
                ));
            }
            if invoice["status"] != "draft" {
                return Err(StripeError::invalid(
                    "invoice",
                    format!(
                        "You can only add invoice items to draft invoices; {id} is {}.",
                        invoice["status"].as_str().unwrap_or("finalized")
                    ),
                ));
            }
            Some(invoice)
        }
        None => None,
    };
    let currency = text(params, "currency")
        .map(Value::String)
        .or_else(|| invoice.as_ref().map(|i| i["currency"].clone()))
        .ok_or_else(|| StripeError::missing_param("currency"))?;
    if let Some(invoice) = &invoice
        && invoice["currency"] != currency
    {
        return Err(StripeError::invalid(
            "currency",
            "The invoice item's currency must be the invoice's.",
        ));
    }
    let now = now();
    let period = (
        integer(&params["period"], "start")?.unwrap_or(now),
        integer(&params["period"], "end")?.unwrap_or(now),
    );
    let item = json!({
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": now,
        "description": text(params, "description"),
        "discountable": true,
        "discounts": [],
        "invoice": invoice.as_ref().map(|i| i["id"].clone()),
        "livemode": false,
        "metadata": metadata(params),
        "parent": null,
        "period": { "start": period.0, "end": period.1 },
        "proration": false,
        "quantity": 1,
        "quantity_decimal": "1",
        "subscription": text(params, "subscription"),
        "tax_rates": [],
        "test_clock": null,
    });
    if let Some(mut invoice) = invoice {
        let line = item_line(&invoice, &item);
        push_line(&mut invoice, line);
        store.insert(account, invoice);
    }
    Ok(store.insert(account, item))
}

/// Announces a renewal's draft and finalizes it once its `invoice.created` is acknowledged;
/// returns when it is final, or after `wait` with the finalization still to come.
pub async fn announce_and_finalize(
    emulator: &Arc<Emulator>,
    account: &str,
    invoice: &Value,
    paid: bool,
    wait: Duration,
) {
    let event = emit(emulator, account, "invoice.created", invoice);
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let invoice_id = invoice["id"].as_str().unwrap_or_default().to_owned();
    let longest = emulator.finalize_after();
    let task = tokio::spawn({
        let emulator = Arc::downgrade(emulator);
        let account = account.to_owned();
        async move {
            let started = tokio::time::Instant::now();
            loop {
                let Some(emulator) = emulator.upgrade() else {
                    return;
                };
                let acknowledged = {
                    let store = emulator.store.lock().expect("store lock");
                    store.endpoints.is_empty()
                        || store.deliveries.get(&event_id).is_some_and(|d| d.delivered)
                };
                if acknowledged || started.elapsed() >= longest {
                    finalize(&emulator, &account, &invoice_id, paid);
                    return;
                }
                drop(emulator);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let _ = tokio::time::timeout(wait, task).await;
}

/// Finalizes a draft and charges it; a failed charge leaves it open and the subscription
/// `past_due`.
fn finalize(emulator: &Arc<Emulator>, account: &str, invoice_id: &str, paid: bool) {
    let (invoice, subscription) = {
        let mut store = emulator.store.lock().expect("store lock");
        let Some(mut invoice) = store
            .get(account, invoice_id)
            .filter(|i| i["status"] == "draft")
            .cloned()
        else {
            return;
        };
        settle(&mut invoice, paid);
        let invoice = store.insert(account, invoice);
        let subscription = if paid {
            None
        } else {
            let id = invoice["parent"]["subscription_details"]["subscription"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            store.get(account, &id).cloned().map(|mut s| {
                s["status"] = json!("past_due");
                store.insert(account, s)
            })
        };
        (invoice, subscription)
    };
    emit(emulator, account, "invoice.finalized", &invoice);
    emit(
        emulator,
        account,
        if paid {
            "invoice.paid"
        } else {
            "invoice.payment_failed"
        },
        &invoice,
    );
    if let Some(subscription) = subscription {
        emit(
            emulator,
            account,
            "customer.subscription.updated",
            &subscription,
        );
    }
    emulator.save();
}
