//! The Stripe API surface Dream API uses: customers, products, prices, Checkout Sessions (both
//! modes), Billing Portal sessions, subscriptions, invoices and events. Requests are
//! form-encoded, answers are Stripe's JSON objects and error objects; `Stripe-Account` scopes
//! every object to a connected account, and `Idempotency-Key` replays a POST's first answer.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::Emulator;
use crate::store::{LoggedRequest, PLATFORM, Store, new_id, now};
use crate::webhooks::emit;

/// A Stripe error object and its status.
pub struct StripeError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
}

impl StripeError {
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        StripeError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: Some("parameter_invalid"),
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    pub fn missing_param(param: &str) -> Self {
        StripeError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: Some("parameter_missing"),
            message: format!("Missing required param: {param}."),
            param: Some(param.to_owned()),
        }
    }

    pub fn no_such(what: &str, id: &str, param: &str) -> Self {
        StripeError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            message: format!("No such {what}: '{id}'"),
            param: Some(param.to_owned()),
        }
    }

    fn idempotency(status: StatusCode, message: String) -> Self {
        StripeError {
            status,
            kind: "idempotency_error",
            code: None,
            message,
            param: None,
        }
    }

    fn auth(message: &str) -> Self {
        StripeError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            message: message.to_owned(),
            param: None,
        }
    }

    fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

pub(crate) type Answer = Result<Value, StripeError>;

/// Every `/v1/…` request: authentication, the request log, idempotency, then the operation.
pub async fn handle(
    State(emulator): State<Arc<Emulator>>,
    Path(path): Path<String>,
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        .unwrap_or_default();
    if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        return StripeError::auth(
            "The Stripe emulator serves test mode only; live keys are refused.",
        )
        .into_response();
    }
    if !key.starts_with("sk_test_") && !key.starts_with("rk_test_") {
        return StripeError::auth(
            "You did not provide an API key. Provide it as `Authorization: Bearer sk_test_…`.",
        )
        .into_response();
    }
    // Parameters come in the body of a POST and in the query string of a GET or DELETE.
    let encoded = if method == Method::POST {
        body.as_str()
    } else {
        uri.query().unwrap_or("")
    };
    let params = match crate::form::decode(encoded) {
        Ok(params) => params,
        Err(message) => return StripeError::invalid("", message).into_response(),
    };
    let account = header("stripe-account").unwrap_or_else(|| PLATFORM.to_owned());
    let idempotency_key = header("idempotency-key");
    emulator
        .store
        .lock()
        .expect("store lock")
        .requests
        .push(LoggedRequest {
            method: method.to_string(),
            path: format!("/v1/{path}"),
            stripe_account: header("stripe-account"),
            idempotency_key: idempotency_key.clone(),
            params: params.clone(),
        });

    let fingerprint = format!("{method} {path} {body}");
    let idempotent = method == Method::POST && idempotency_key.is_some();
    if idempotent {
        let key = (account.clone(), idempotency_key.clone().unwrap_or_default());
        let mut store = emulator.store.lock().expect("store lock");
        match store.idempotency.get(&key) {
            Some((seen, _)) if *seen != fingerprint => {
                return StripeError::idempotency(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
                        key.1
                    ),
                )
                .into_response();
            }
            Some((_, None)) => {
                return StripeError::idempotency(
                    StatusCode::CONFLICT,
                    "There is currently another in-progress request using this Stripe-Account, Idempotency-Key combination. Please try again later.".into(),
                )
                .into_response();
            }
            Some((_, Some((status, answer)))) => {
                let mut response = (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                    axum::Json(answer.clone()),
                )
                    .into_response();
                response.headers_mut().insert(
                    "idempotent-replayed",
                    http::HeaderValue::from_static("true"),
                );
                return response;
            }
            // Reserved under the same lock as the check: a concurrent duplicate waits its turn.
            None => {
                store.idempotency.insert(key, (fingerprint.clone(), None));
            }
        }
    }

    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let answer = dispatch(&emulator, &account, &method, &segments, &params);
    let (status, value) = match &answer {
        Ok(value) => (StatusCode::OK, value.clone()),
        Err(error) => (error.status, error.body()),
    };
    if idempotent {
        let key = (account, idempotency_key.unwrap_or_default());
        let mut store = emulator.store.lock().expect("store lock");
        // Like Stripe, a request refused before it ran (invalid parameters) saves nothing.
        if status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND {
            store.idempotency.remove(&key);
        } else {
            store
                .idempotency
                .insert(key, (fingerprint, Some((status.as_u16(), value.clone()))));
        }
    }
    (status, axum::Json(value)).into_response()
}

fn dispatch(
    emulator: &Arc<Emulator>,
    account: &str,
    method: &Method,
    path: &[&str],
    params: &Value,
) -> Answer {
    match (method.as_str(), path) {
        ("POST", ["customers"]) => create_customer(emulator, account, params),
        ("GET", ["customers", id]) => retrieve(emulator, account, id, "customer"),
        ("POST", ["products"]) => create_product(emulator, account, params),
        ("GET", ["products", id]) => retrieve(emulator, account, id, "product"),
        ("POST", ["prices"]) => create_price(emulator, account, params),
        ("GET", ["prices", id]) => retrieve(emulator, account, id, "price"),
        ("POST", ["checkout", "sessions"]) => create_checkout_session(emulator, account, params),
        ("GET", ["checkout", "sessions", id]) => {
            retrieve(emulator, account, id, "checkout.session")
        }
        ("GET", ["checkout", "sessions", id, "line_items"]) => line_items(emulator, account, id),
        ("POST", ["billing_portal", "sessions"]) => {
            create_portal_session(emulator, account, params)
        }
        ("GET", ["subscriptions", id]) => retrieve(emulator, account, id, "subscription"),
        ("DELETE", ["subscriptions", id]) => crate::lifecycle::cancel(emulator, account, id),
        ("GET", ["invoices", id]) => retrieve(emulator, account, id, "invoice"),
        ("POST", ["invoiceitems"]) => crate::invoices::create_item(emulator, account, params),
        ("GET", ["invoiceitems", id]) => retrieve(emulator, account, id, "invoiceitem"),
        ("GET", ["events"]) => list_events(emulator, account, params),
        ("GET", ["events", id]) => {
            let store = emulator.store.lock().expect("store lock");
            store
                .events
                .iter()
                .find(|e| e["id"] == *id && owned_by(e, account))
                .cloned()
                .ok_or_else(|| StripeError::no_such("event", id, "id"))
        }
        _ => Err(StripeError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: None,
            message: format!(
                "Unrecognized request URL ({method} /v1/{}).",
                path.join("/")
            ),
            param: None,
        }),
    }
}

/// `GET /v1/events`: the account's events, newest first, as Stripe lists them: `created`
/// (exact, or `[gt]`, `[gte]`, `[lt]`, `[lte]`), `type` (`*` matches a segment's rest, as in
/// `customer.subscription.*`) or `types[]`, `limit` (1–100, default 10), and the cursors
/// `starting_after` (older than that event) and `ending_before` (newer).
fn list_events(emulator: &Emulator, account: &str, params: &Value) -> Answer {
    let number = |value: &Value, param: &str| -> Result<Option<i64>, StripeError> {
        match value {
            Value::Null => Ok(None),
            Value::String(s) => s
                .parse()
                .map(Some)
                .map_err(|_| StripeError::invalid(param, format!("Invalid integer: {s}"))),
            _ => Err(StripeError::invalid(param, "Invalid integer")),
        }
    };
    let created = &params["created"];
    let bounds = if created.is_object() {
        [
            number(&created["gt"], "created[gt]")?.map(|t| t + 1),
            number(&created["gte"], "created[gte]")?,
            number(&created["lt"], "created[lt]")?.map(|t| t - 1),
            number(&created["lte"], "created[lte]")?,
        ]
    } else {
        let exact = number(created, "created")?;
        [exact, None, exact, None]
    };
    let from = bounds[0].max(bounds[1]).unwrap_or(i64::MIN);
    let to = match (bounds[2], bounds[3]) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(i64::MAX),
    };
    let limit = number(&params["limit"], "limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(StripeError::invalid(
            "limit",
            "This value must be greater than or equal to 1 and less than or equal to 100.",
        ));
    }
    // `types[0]=…` decodes to an array, `types[]=…` to an object keyed "".
    let mut types: Vec<String> = match &params["types"] {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        Value::Object(items) => items.values().collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter_map(|t| t.as_str().map(str::to_owned))
    .collect();
    if let Some(kind) = params["type"].as_str() {
        types.push(kind.to_owned());
    }
    let matches_type = |kind: &str| {
        types.is_empty()
            || types.iter().any(|t| match t.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => kind == t,
            })
    };
    let store = emulator.store.lock().expect("store lock");
    // Oldest first in the store; the list is newest first.
    let mut listed: Vec<&Value> = store
        .events
        .iter()
        .rev()
        .filter(|e| owned_by(e, account))
        .filter(|e| (from..=to).contains(&e["created"].as_i64().unwrap_or_default()))
        .filter(|e| matches_type(e["type"].as_str().unwrap_or_default()))
        .collect();
    let position = |param: &str| -> Result<Option<usize>, StripeError> {
        match params[param].as_str() {
            None => Ok(None),
            Some(id) => listed
                .iter()
                .position(|e| e["id"] == id)
                .map(Some)
                .ok_or_else(|| StripeError::no_such("event", id, param)),
        }
    };
    let (after, before) = (position("starting_after")?, position("ending_before")?);
    let limit = limit as usize;
    let (page, has_more) = match (after, before) {
        (Some(i), _) => {
            listed.drain(..=i);
            let more = listed.len() > limit;
            listed.truncate(limit);
            (listed, more)
        }
        (None, Some(i)) => {
            listed.truncate(i);
            let more = listed.len() > limit;
            let skip = listed.len().saturating_sub(limit);
            (listed.split_off(skip), more)
        }
        (None, None) => {
            let more = listed.len() > limit;
            listed.truncate(limit);
            (listed, more)
        }
    };
    Ok(json!({
        "object": "list",
        "url": "/v1/events",
        "has_more": has_more,
        "data": page,
    }))
}

fn owned_by(event: &Value, account: &str) -> bool {
    match event["account"].as_str() {
        Some(owner) => owner == account,
        None => account == PLATFORM,
    }
}

fn retrieve(emulator: &Emulator, account: &str, id: &str, object: &str) -> Answer {
    let store = emulator.store.lock().expect("store lock");
    store
        .get(account, id)
        .filter(|o| o["object"] == object)
        .cloned()
        .ok_or_else(|| StripeError::no_such(object, id, "id"))
}

pub(crate) fn text(params: &Value, key: &str) -> Option<String> {
    params.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn metadata(params: &Value) -> Value {
    params.get("metadata").cloned().unwrap_or_else(|| json!({}))
}

pub(crate) fn integer(params: &Value, key: &str) -> Result<Option<i64>, StripeError> {
    match params.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StripeError::invalid(key, format!("Invalid integer: {text}"))),
    }
}

pub fn new_customer(
    store: &mut Store,
    account: &str,
    email: Option<String>,
    metadata: Value,
) -> Value {
    store.insert(
        account,
        json!({
            "id": new_id("cus"),
            "object": "customer",
            "created": now(),
            "email": email,
            "livemode": false,
            "metadata": metadata,
        }),
    )
}

fn create_customer(emulator: &Arc<Emulator>, account: &str, params: &Value) -> Answer {
    let customer = {
        let mut store = emulator.store.lock().expect("store lock");
        new_customer(&mut store, account, text(params, "email"), metadata(params))
    };
    emit(emulator, account, "customer.created", &customer);
    Ok(customer)
}

fn create_product(emulator: &Arc<Emulator>, account: &str, params: &Value) -> Answer {
    let name = text(params, "name").ok_or_else(|| StripeError::missing_param("name"))?;
    let mut store = emulator.store.lock().expect("store lock");
    Ok(store.insert(
        account,
        json!({
            "id": new_id("prod"),
            "object": "product",
            "active": true,
            "created": now(),
            "updated": now(),
            "name": name,
            "description": text(params, "description"),
            "images": params["images"].as_array().cloned().unwrap_or_default(),
            "marketing_features": [],
            "type": "service",
            "livemode": false,
            "metadata": metadata(params),
        }),
    ))
}

fn create_price(emulator: &Arc<Emulator>, account: &str, params: &Value) -> Answer {
    let currency =
        text(params, "currency").ok_or_else(|| StripeError::missing_param("currency"))?;
    let unit_amount =
        integer(params, "unit_amount")?.ok_or_else(|| StripeError::missing_param("unit_amount"))?;
    let product = text(params, "product").ok_or_else(|| StripeError::missing_param("product"))?;
    let mut store = emulator.store.lock().expect("store lock");
    if store.get(account, &product).is_none() {
        return Err(StripeError::no_such("product", &product, "product"));
    }
    let interval_count = match params["recurring"]["interval_count"].as_str() {
        None => 1,
        Some(count) => count
            .parse::<i64>()
            .ok()
            .filter(|c| (1..=36).contains(c))
            .ok_or_else(|| {
                StripeError::invalid(
                    "recurring[interval_count]",
                    format!("Invalid interval_count: {count}"),
                )
            })?,
    };
    let recurring = match params["recurring"]["interval"].as_str() {
        Some(interval @ ("day" | "week" | "month" | "year")) => {
            json!({ "interval": interval, "interval_count": interval_count, "usage_type": "licensed" })
        }
        Some(other) => {
            return Err(StripeError::invalid(
                "recurring[interval]",
                format!("Invalid interval: {other}"),
            ));
        }
        None => Value::Null,
    };
    Ok(store.insert(
        account,
        json!({
            "id": new_id("price"),
            "object": "price",
            "active": true,
            "created": now(),
            "currency": currency.to_lowercase(),
            "unit_amount": unit_amount,
            "product": product,
            "recurring": recurring,
            "type": if recurring.is_null() { "one_time" } else { "recurring" },
            "billing_scheme": "per_unit",
            "tax_behavior": "unspecified",
            "livemode": false,
            "metadata": metadata(params),
        }),
    ))
}

fn create_checkout_session(emulator: &Arc<Emulator>, account: &str, params: &Value) -> Answer {
    let mode = text(params, "mode").ok_or_else(|| StripeError::missing_param("mode"))?;
    if !matches!(mode.as_str(), "payment" | "subscription") {
        return Err(StripeError::invalid(
            "mode",
            format!("Invalid mode: {mode}"),
        ));
    }
    let success_url =
        text(params, "success_url").ok_or_else(|| StripeError::missing_param("success_url"))?;
    let items = params["line_items"]
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| StripeError::missing_param("line_items"))?;
    let mut store = emulator.store.lock().expect("store lock");
    let mut lines = Vec::new();
    let mut total = 0i64;
    let mut currency = None;
    for (i, item) in items.iter().enumerate() {
        let param = format!("line_items[{i}][price]");
        let price_id = text(item, "price").ok_or_else(|| StripeError::missing_param(&param))?;
        let price = store
            .get(account, &price_id)
            .filter(|p| p["object"] == "price")
            .cloned()
            .ok_or_else(|| StripeError::no_such("price", &price_id, &param))?;
        let quantity = integer(item, "quantity")?.unwrap_or(1);
        if !(1..=999_999).contains(&quantity) {
            return Err(StripeError::invalid(
                &format!("line_items[{i}][quantity]"),
                "Quantity must be between 1 and 999999.",
            ));
        }
        let recurring = !price["recurring"].is_null();
        if mode == "subscription" && !recurring {
            return Err(StripeError::invalid(
                &param,
                "In `subscription` mode, every price must be recurring.",
            ));
        }
        if mode == "payment" && recurring {
            return Err(StripeError::invalid(
                &param,
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
            ));
        }
        total += price["unit_amount"].as_i64().unwrap_or(0) * quantity;
        let this_currency = price["currency"].as_str().map(str::to_owned);
        if currency.is_some() && currency != this_currency {
            return Err(StripeError::invalid(
                &param,
                "All prices in a Checkout Session must share one currency.",
            ));
        }
        currency = this_currency;
        lines.push(json!({ "price": price, "quantity": quantity }));
    }
    let customer = text(params, "customer");
    if let Some(id) = &customer
        && store
            .get(account, id)
            .filter(|c| c["object"] == "customer")
            .is_none()
    {
        return Err(StripeError::no_such("customer", id, "customer"));
    }
    let trial_days = integer(&params["subscription_data"], "trial_period_days")?;
    if let Some(days) = trial_days {
        if mode != "subscription" {
            return Err(StripeError::invalid(
                "subscription_data[trial_period_days]",
                "A trial is only possible in `subscription` mode.",
            ));
        }
        if !(1..=730).contains(&days) {
            return Err(StripeError::invalid(
                "subscription_data[trial_period_days]",
                "The trial period must be between 1 and 730 days.",
            ));
        }
    }
    let collection = text(params, "payment_method_collection").unwrap_or_else(|| "always".into());
    if !matches!(collection.as_str(), "always" | "if_required") {
        return Err(StripeError::invalid(
            "payment_method_collection",
            format!("Invalid payment_method_collection: {collection}"),
        ));
    }
    let missing_payment_method =
        params["subscription_data"]["trial_settings"]["end_behavior"]["missing_payment_method"]
            .as_str()
            .unwrap_or("create_invoice")
            .to_owned();
    // Nothing is due today during a trial.
    if trial_days.is_some() {
        total = 0;
    }
    let id = new_id("cs_test");
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "mode": mode,
        "status": "open",
        "payment_status": "unpaid",
        "url": format!("{}/checkout/{id}", emulator.base_url()),
        "success_url": success_url,
        "cancel_url": text(params, "cancel_url"),
        "customer": customer,
        "customer_email": text(params, "customer_email"),
        "client_reference_id": text(params, "client_reference_id"),
        "metadata": metadata(params),
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "custom_fields": [],
        "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "payment_method_types": ["card"],
        "payment_method_collection": collection,
        "shipping_options": [],
        "locale": null,
        "amount_total": total,
        "currency": currency,
        "subscription": null,
        "payment_intent": null,
        "livemode": false,
        "created": now(),
        "expires_at": now() + 24 * 3600,
    });
    let subscription_metadata = params["subscription_data"]["metadata"].clone();
    store.session_lines.insert(
        id,
        json!({
            "lines": lines,
            "subscription_metadata": subscription_metadata,
            "trial_period_days": trial_days,
            "missing_payment_method": missing_payment_method,
        }),
    );
    Ok(store.insert(account, session))
}

/// `GET /v1/checkout/sessions/{id}/line_items`: the session's items, each priced as bought
/// (one page: a session holds at most a hundred items).
fn line_items(emulator: &Arc<Emulator>, account: &str, id: &str) -> Answer {
    let store = emulator.store.lock().expect("store lock");
    store
        .get(account, id)
        .filter(|s| s["object"] == "checkout.session")
        .ok_or_else(|| StripeError::no_such("checkout.session", id, "id"))?;
    let lines = store
        .session_lines
        .get(id)
        .and_then(|l| l["lines"].as_array())
        .cloned()
        .unwrap_or_default();
    let data: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let price = &line["price"];
            let quantity = line["quantity"].as_i64().unwrap_or(1);
            let amount = price["unit_amount"].as_i64().unwrap_or(0) * quantity;
            let description = price["product"]
                .as_str()
                .and_then(|p| store.get(account, p))
                .and_then(|p| p["name"].as_str())
                .map(str::to_string);
            json!({
                "id": format!("li_{}_{i}", id.trim_start_matches("cs_test_")),
                "object": "item",
                "adjustable_quantity": null,
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price["currency"],
                "description": description,
                "price": price,
                "quantity": quantity,
            })
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "has_more": false,
        "url": format!("/v1/checkout/sessions/{id}/line_items"),
    }))
}

fn create_portal_session(emulator: &Arc<Emulator>, account: &str, params: &Value) -> Answer {
    let customer =
        text(params, "customer").ok_or_else(|| StripeError::missing_param("customer"))?;
    let mut store = emulator.store.lock().expect("store lock");
    if store
        .get(account, &customer)
        .filter(|c| c["object"] == "customer")
        .is_none()
    {
        return Err(StripeError::no_such("customer", &customer, "customer"));
    }
    let id = new_id("bps");
    Ok(store.insert(
        account,
        json!({
            "id": id,
            "object": "billing_portal.session",
            "configuration": "bpc_emulator_default",
            "flow": null,
            "locale": null,
            "on_behalf_of": null,
            "customer": customer,
            "return_url": text(params, "return_url"),
            "url": format!("{}/portal/{id}", emulator.base_url()),
            "livemode": false,
            "created": now(),
        }),
    ))
}
