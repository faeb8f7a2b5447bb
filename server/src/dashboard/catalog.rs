//! Tiers and products: list, create, edit, archive. Forms are turned into the API's JSON here;
//! the API validates them, and its message (naming the field) is what the person reads.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::amounts::{major_units, minor_units, parse_limits};
use super::api::segment;
use super::forms::{self, Draft, Posted, Signed};
use super::{Dash, Page, layout, uploads};
use crate::domain::DashboardSession;
use crate::generated::types;

pub async fn page(State(dash): State<Dash>, signed: Signed, headers: HeaderMap) -> Page {
    render(&dash, &signed, &headers, None).await
}

/// The catalogue; with a draft, the form it belongs to is open and filled in as it was sent.
async fn render(dash: &Dash, signed: &Signed, headers: &HeaderMap, draft: Option<&Draft>) -> Page {
    let (_, grant) = signed.scope()?;
    let tiers: types::TierList = dash
        .call(&grant, Method::GET, "/v1/tiers?includeArchived=true", None)
        .await?;
    let products = dash.products(&grant).await?;
    let session = &signed.session;
    let body = html! {
        div.page-head { h1 { "Tiers & products" } }
        section.card #tiers {
            div.card-head { h2 { "Tiers" } span.muted { "Plans your users are on: limits per metric, the features they unlock, a rate limit, and a price to sell them." } }
            table {
                thead { tr { th { "Tier" } th { "Price" } th { "Limits" } th { "Features" } th { "Rate limit" } th { "Status" } th {} } }
                tbody {
                    @for tier in &tiers.tiers {
                        tr class=@if !tier.active { "archived" } {
                            td {
                                strong { (tier.display_name) } " " span.mono.muted { (tier.name) }
                                @if tier.is_default { " " (layout::pill("default", "ok")) }
                            }
                            td {
                                (tier_price(tier))
                                @if let Some(trial) = &tier.trial { br; span.muted { (trial.days) "-day trial" @if trial.payment_method == types::TierTrialPaymentMethod::Optional { ", no card needed" } } }
                            }
                            td { (limits_text(&tier.limits, tier.price.as_ref().map(|p| p.currency.as_str()))) }
                            td { @if tier.features.is_empty() { span.muted { "—" } } @else { span.mono { (tier.features.join(", ")) } } }
                            td { @if let Some(r) = &tier.rate_limit { (r.requests) " / " (r.per_seconds) " s" } @else { "—" } }
                            td { @if tier.active { (layout::pill("active", "ok")) } @else { (layout::pill("archived", "plain")) } }
                            td.actions {
                                @if tier.active {
                                    @let form = format!("tier-{}", tier.id);
                                    details.edit open[Draft::of(draft, &form).is_some()] {
                                        summary { "Edit" }
                                        (tier_form(session, Some(tier), Draft::of(draft, &form)))
                                    }
                                    @if !tier.is_default {
                                        form method="post" action={ "/dashboard/tiers/" (segment(&tier.id)) "/archive" } data-confirm={ "Archive the tier " (tier.name) "?" } {
                                            (layout::csrf(session))
                                            button.link.danger-text type="submit" { "Archive" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            details.create open[Draft::of(draft, "new-tier").is_some()] {
                summary.button { "New tier" }
                (tier_form(session, None, Draft::of(draft, "new-tier")))
            }
        }
        section.card #products {
            div.card-head { h2 { "Products" } span.muted { "The catalogue your shop sells through cart checkout." } }
            @if products.products.is_empty() {
                (layout::empty("No products yet."))
            } @else {
                table {
                    thead { tr { th { "Product" } th { "Images" } th { "Prices" } th { "Status" } th {} } }
                    tbody {
                        @for product in &products.products {
                            tr id={ "product-" (product.id) } class=@if !product.active { "archived" } {
                                td { strong { (product.name) } br; span.muted { (product.description.as_deref().unwrap_or("")) } }
                                td.images { (images(session, product)) }
                                td {
                                    @for price in &product.prices {
                                        div { (layout::money(price.unit_amount, &price.currency)) " " span.mono.muted { (price.id) } }
                                    }
                                }
                                td { @if product.active { (layout::pill("active", "ok")) } @else { (layout::pill("archived", "plain")) } }
                                td.actions {
                                    @if product.active {
                                        @let form = format!("product-{}", product.id);
                                        @let typed = Draft::of(draft, &form);
                                        details.edit open[typed.is_some()] {
                                            summary { "Edit" }
                                            form.stack method="post" action={ "/dashboard/products/" (segment(&product.id)) } {
                                                (layout::csrf(session))
                                                label { "Name" input type="text" name="name" value=(typed.map_or(product.name.as_str(), |d| d.value("name"))) required; }
                                                label { "Description" textarea name="description" rows="2" { (typed.map_or(product.description.as_deref().unwrap_or(""), |d| d.value("description"))) } }
                                                button.primary type="submit" { "Save product" }
                                            }
                                        }
                                        form method="post" action={ "/dashboard/products/" (segment(&product.id)) "/archive" } data-confirm={ "Archive " (product.name) "? It leaves the public catalogue." } {
                                            (layout::csrf(session))
                                            button.link.danger-text type="submit" { "Archive" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @let typed = Draft::of(draft, "new-product");
            details.create open[typed.is_some()] {
                summary.button { "New product" }
                form.stack method="post" action="/dashboard/products" {
                    (layout::csrf(session))
                    label { "Name" input type="text" name="name" required placeholder="T-shirt" value=[typed.map(|d| d.value("name"))]; }
                    label { "Description" textarea name="description" rows="2" { (typed.map_or("", |d| d.value("description"))) } }
                    div.row {
                        label { "Price" input type="text" name="amount" inputmode="decimal" placeholder="25.00" required value=[typed.map(|d| d.value("amount"))]; }
                        label { "Currency" input type="text" name="currency" value=(typed.map_or("usd", |d| d.value("currency"))) maxlength="3" required; }
                    }
                    button.primary type="submit" { "Create product" }
                }
            }
        }
    };
    Ok(forms::page_with_draft(
        signed,
        draft,
        "Tiers & products",
        "catalog",
        body,
        headers,
    ))
}

/// A product's images in their order, each with its moves and removal, and the upload form.
fn images(session: &DashboardSession, product: &types::Product) -> Markup {
    let last = product.images.len().saturating_sub(1);
    let action = format!("/dashboard/products/{}/images", segment(&product.id));
    html! {
        @if !product.images.is_empty() {
            ol.images {
                @for (at, image) in product.images.iter().enumerate() {
                    li {
                        (uploads::thumbnail(&image.url, &image.content_type, &image.filename))
                        @if product.active {
                            form.image-actions method="post" action=(action) {
                                (layout::csrf(session))
                                input type="hidden" name="asset" value=(image.asset_id);
                                button.link type="submit" name="action" value="earlier" disabled[at == 0] title="Move earlier" aria-label={ "Move " (image.filename) " earlier" } { "←" }
                                button.link type="submit" name="action" value="later" disabled[at == last] title="Move later" aria-label={ "Move " (image.filename) " later" } { "→" }
                                button.link.danger-text type="submit" name="action" value="remove" title="Remove from the product" aria-label={ "Remove " (image.filename) } { "×" }
                            }
                        }
                    }
                }
            }
        }
        @if product.active {
            (uploads::upload_form(session, Some(&product.id), "Add images"))
        }
    }
}

fn tier_price(tier: &types::Tier) -> Markup {
    match &tier.price {
        Some(p) => {
            html! { (layout::money(p.unit_amount, &p.currency.to_string())) " / " (p.interval.to_string()) }
        }
        None => html! { span.muted { "free" } },
    }
}

fn limits_text(limits: &[types::TierLimit], currency: Option<&str>) -> Markup {
    html! {
        @if limits.is_empty() { span.muted { "unlimited" } }
        @for l in limits {
            div {
                span.mono { (l.metric.as_str()) } " "
                @match l.limit { Some(n) => (layout::count(n)), None => "unlimited" }
                @if l.enforcement == types::Enforcement::Soft { " " span.muted { "(soft)" } }
                @if let (Some(o), Some(currency)) = (&l.overage, currency) {
                    " " span.muted { "then " (layout::money(o.unit_amount.get() as i64, currency)) " per " (layout::count(o.per_units.get() as i64)) }
                }
            }
        }
    }
}

/// The tier form: empty to create, filled in to edit (the name cannot change).
fn tier_form(
    session: &DashboardSession,
    tier: Option<&types::Tier>,
    typed: Option<&Draft>,
) -> Markup {
    let action = tier.map_or("/dashboard/tiers".to_string(), |t| {
        format!("/dashboard/tiers/{}", segment(&t.id))
    });
    let price = tier.and_then(|t| t.price.as_ref());
    let amount = price.map(|p| major_units(p.unit_amount, &p.currency.to_string()));
    let limits = tier.map(|t| {
        t.limits
            .iter()
            .map(|l| {
                let limit = l.limit.map_or("unlimited".to_string(), |n| n.to_string());
                let overage = match (&l.overage, price) {
                    (Some(o), Some(p)) => format!(
                        " then {} per {}",
                        major_units(o.unit_amount.get() as i64, &p.currency.to_string()),
                        o.per_units
                    ),
                    _ => String::new(),
                };
                format!("{} {} {}{overage}", l.metric.as_str(), limit, l.enforcement)
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    // What the form shows: what was typed, when it comes back refused; else the tier as it is.
    let shown = |name: &str, now: Option<String>| Draft::shown(typed, name, now);
    let ticked = |name: &str, now: bool| Draft::ticked(typed, name, now);
    let interval = typed.map_or(
        price.map_or("month".to_string(), |p| p.interval.to_string()),
        |d| d.value("interval").to_string(),
    );
    let trial = tier.and_then(|t| t.trial.as_ref());
    let rate = tier.and_then(|t| t.rate_limit.as_ref());
    html! {
        form.stack method="post" action=(action) {
            (layout::csrf(session))
            div.row {
                @if tier.is_none() {
                    label { "Name" input type="text" name="name" placeholder="pro" required pattern="[a-z0-9_-]+" title="lowercase letters, digits, - and _" value=[shown("name", None)]; }
                }
                label { "Display name" input type="text" name="displayName" value=[shown("displayName", tier.map(|t| t.display_name.clone()))] placeholder="Pro" required; }
            }
            div.row {
                label { "Price (blank: free)" input type="text" name="amount" inputmode="decimal" value=[shown("amount", amount)] placeholder="29.00"; }
                label { "Currency" input type="text" name="currency" maxlength="3" value=[shown("currency", Some(price.map_or("usd".to_string(), |p| p.currency.to_string())))]; }
                label { "Billed"
                    select name="interval" {
                        option value="month" selected[interval != "year"] { "monthly" }
                        option value="year" selected[interval == "year"] { "yearly" }
                    }
                }
            }
            label { "Limits, one per line: metric, limit (or unlimited), hard or soft; a soft limit may bill what goes beyond it: “then 0.02 per 1000” (in the price's currency)"
                textarea name="limits" rows="3" placeholder="requests 1000 hard\nai_tokens 100000 soft then 0.02 per 1000" { (shown("limits", limits).unwrap_or_default()) }
            }
            div.row {
                label { "Free trial, days (blank: none)" input type="number" name="trialDays" min="1" max="730" value=[shown("trialDays", trial.map(|t| t.days.to_string()))]; }
                label.check { input type="checkbox" name="trialNoCard" checked[ticked("trialNoCard", trial.is_some_and(|t| t.payment_method == types::TierTrialPaymentMethod::Optional))]; " Start the trial without a card (canceled at its end if none is added)" }
            }
            label { "Features it unlocks, separated by commas or spaces"
                input type="text" name="features" value=[shown("features", tier.map(|t| t.features.join(", ")))] placeholder="export, priority_support";
            }
            div.row {
                label { "Rate limit: requests" input type="number" name="rateRequests" min="1" value=[shown("rateRequests", rate.map(|r| r.requests.get().to_string()))]; }
                label { "per seconds" input type="number" name="ratePer" min="1" value=[shown("ratePer", rate.map(|r| r.per_seconds.get().to_string()))]; }
            }
            @if !tier.is_some_and(|t| t.is_default) {
                label.check { input type="checkbox" name="isDefault" checked[ticked("isDefault", false)]; " Make this the default tier (new users start on it)" }
            }
            button.primary type="submit" { @if tier.is_some() { "Save tier" } @else { "Create tier" } }
        }
    }
}

/// The API body of a tier form.
fn tier_body(posted: &Posted, creating: bool) -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    if creating {
        body.insert("name".into(), json!(posted.get("name").unwrap_or("")));
    }
    body.insert(
        "displayName".into(),
        json!(posted.get("displayName").unwrap_or("")),
    );
    if posted.checked("isDefault") {
        body.insert("isDefault".into(), json!(true));
    }
    if let Some(amount) = posted.get("amount") {
        let currency = posted.get("currency").unwrap_or("usd").to_lowercase();
        body.insert(
            "price".into(),
            json!({
                "currency": currency,
                "unitAmount": minor_units(amount, &currency)?,
                "interval": posted.get("interval").unwrap_or("month"),
            }),
        );
    }
    let currency = posted.get("currency").unwrap_or("usd").to_lowercase();
    body.insert(
        "limits".into(),
        Value::Array(parse_limits(posted.get("limits").unwrap_or(""), &currency)?),
    );
    // Blank removes a trial when editing (0 days), and sets none when creating.
    let days = match posted.get("trialDays") {
        None => 0,
        Some(days) => days
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=730).contains(d))
            .ok_or_else(|| {
                format!("Free trial: “{days}” is not a number of days from 1 to 730.")
            })?,
    };
    if days > 0 || !creating {
        let payment_method = if posted.checked("trialNoCard") {
            "optional"
        } else {
            "required"
        };
        body.insert(
            "trial".into(),
            json!({ "days": days, "paymentMethod": payment_method }),
        );
    }
    let features: Vec<&str> = posted
        .get("features")
        .unwrap_or("")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|f| !f.is_empty())
        .collect();
    body.insert("features".into(), json!(features));
    match (posted.get("rateRequests"), posted.get("ratePer")) {
        (None, None) => {}
        (Some(requests), per) => {
            let number = |text: &str, what: &str| {
                text.parse::<i64>()
                    .map_err(|_| format!("Rate limit: “{text}” is not a number of {what}."))
            };
            body.insert(
                "rateLimit".into(),
                json!({ "requests": number(requests, "requests")?, "perSeconds": number(per.unwrap_or("1"), "seconds")? }),
            );
        }
        (None, Some(_)) => return Err("Rate limit: give the number of requests too.".into()),
    }
    Ok(Value::Object(body))
}

/// Sends a form's body to the API and goes back to the catalogue with what happened. A
/// refused form (`form` names it) comes back open, as it was typed, with the reason; a refused
/// button (archive) goes back with the reason.
async fn change(
    dash: &Dash,
    posted: &Posted,
    form: Option<&str>,
    (method, uri): (Method, &str),
    body: Result<Option<Value>, String>,
    done: impl FnOnce(&Value) -> String,
) -> Page {
    let (_, grant) = posted.signed.scope()?;
    let back = "/dashboard/catalog";
    let refused = |message: String| match form {
        Some(form) => Err(posted.draft(form, message)),
        None => Ok(forms::redirect_with(&posted.headers, back, true, &message)),
    };
    let outcome = match body {
        Err(message) => refused(message),
        Ok(body) => match dash.call::<Value>(&grant, method, uri, body).await {
            Ok(value) => Ok(forms::redirect_with(
                &posted.headers,
                back,
                false,
                &done(&value),
            )),
            Err(e) => refused(e.explain()),
        },
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(draft) => render(dash, &posted.signed, &posted.headers, Some(&draft)).await,
    }
}

fn name_of(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_string()
}

pub async fn create_tier(State(dash): State<Dash>, posted: Posted) -> Page {
    let body = tier_body(&posted, true).map(Some);
    change(
        &dash,
        &posted,
        Some("new-tier"),
        (Method::POST, "/v1/tiers"),
        body,
        |t| format!("Tier {} created.", name_of(t, "name")),
    )
    .await
}

pub async fn update_tier(State(dash): State<Dash>, Path(id): Path<String>, posted: Posted) -> Page {
    let body = tier_body(&posted, false).map(Some);
    let uri = format!("/v1/tiers/{}", segment(&id));
    let form = format!("tier-{id}");
    change(
        &dash,
        &posted,
        Some(&form),
        (Method::PATCH, &uri),
        body,
        |t| format!("Tier {} saved.", name_of(t, "name")),
    )
    .await
}

pub async fn archive_tier(
    State(dash): State<Dash>,
    Path(id): Path<String>,
    posted: Posted,
) -> Page {
    let uri = format!("/v1/tiers/{}/archive", segment(&id));
    change(&dash, &posted, None, (Method::POST, &uri), Ok(None), |t| {
        format!("Tier {} archived.", name_of(t, "name"))
    })
    .await
}

pub async fn create_product(State(dash): State<Dash>, posted: Posted) -> Page {
    let currency = posted.get("currency").unwrap_or("usd").to_lowercase();
    let body = minor_units(posted.get("amount").unwrap_or(""), &currency).map(|amount| {
        let mut body = json!({
            "name": posted.get("name").unwrap_or(""),
            "prices": [{ "currency": currency, "unitAmount": amount }],
        });
        if let Some(description) = posted.get("description") {
            body["description"] = json!(description);
        }
        Some(body)
    });
    let form = Some("new-product");
    change(
        &dash,
        &posted,
        form,
        (Method::POST, "/v1/products"),
        body,
        |p| format!("Product {} created.", name_of(p, "name")),
    )
    .await
}

pub async fn update_product(
    State(dash): State<Dash>,
    Path(id): Path<String>,
    posted: Posted,
) -> Page {
    let body = json!({
        "name": posted.get("name").unwrap_or(""),
        "description": posted.get("description").unwrap_or(""),
    });
    let uri = format!("/v1/products/{}", segment(&id));
    let form = format!("product-{id}");
    change(
        &dash,
        &posted,
        Some(&form),
        (Method::PATCH, &uri),
        Ok(Some(body)),
        |p| format!("Product {} saved.", name_of(p, "name")),
    )
    .await
}

pub async fn archive_product(
    State(dash): State<Dash>,
    Path(id): Path<String>,
    posted: Posted,
) -> Page {
    let uri = format!("/v1/products/{}/archive", segment(&id));
    change(&dash, &posted, None, (Method::POST, &uri), Ok(None), |p| {
        format!("Product {} archived.", name_of(p, "name"))
    })
    .await
}
