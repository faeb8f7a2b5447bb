//! Customers: search and pages of them; one customer's tier, usage against limits, period,
//! Stripe customer and subscription; overriding the plan and resetting usage (both audited by
//! the API they go through).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::api::{segment, with_query};
use super::forms::{self, Posted, Signed};
use super::{Dash, Page, layout};
use crate::generated::types;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

pub async fn list(
    State(dash): State<Dash>,
    signed: Signed,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Page {
    let (_, grant) = signed.scope()?;
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let uri = with_query(
        "/v1/customers",
        &[
            ("limit", Some("25")),
            ("query", search),
            ("startingAfter", query.after.as_deref()),
        ],
    );
    let page: types::CustomerList = dash.call(&grant, Method::GET, &uri, None).await?;
    let body = html! {
        div.page-head {
            h1 { "Customers" }
            form.search method="get" action="/dashboard/customers" role="search" {
                input type="search" name="q" value=[search] placeholder="Search by user id or email" aria-label="Search customers";
                button type="submit" { "Search" }
            }
        }
        section.card {
            @if page.data.is_empty() {
                (layout::empty(if search.is_some() { "No customer matches that search." } else { "No customers yet. A user becomes a customer on their first authenticated call." }))
            } @else {
                table {
                    thead { tr { th { "User" } th { "Email" } th { "Tier" } th { "Since" } } }
                    tbody {
                        @for c in &page.data {
                            tr {
                                td { a.mono href={ "/dashboard/customers/" (segment(&c.user_id)) } { (c.user_id) } }
                                td { (c.email.as_deref().unwrap_or("—")) }
                                td {
                                    (c.tier.display_name)
                                    @if c.plan_override { " " (layout::pill("override", "warn")) }
                                }
                                td.muted { (layout::date(&c.created_at)) }
                            }
                        }
                    }
                }
            }
            div.pager {
                @if query.after.is_some() {
                    a href=(with_query("/dashboard/customers", &[("q", search)])) { "← First page" }
                }
                @if let (true, Some(next)) = (page.has_more, page.next_cursor.as_deref()) {
                    a href=(with_query("/dashboard/customers", &[("q", search), ("after", Some(next))])) { "Next page →" }
                }
            }
        }
    };
    Ok(layout::page(
        &signed,
        None,
        "Customers",
        "customers",
        body,
        &headers,
    ))
}

pub async fn detail(
    State(dash): State<Dash>,
    signed: Signed,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Page {
    let (_, grant) = signed.scope()?;
    let uri = format!("/v1/customers/{}", segment(&user_id));
    let customer: types::CustomerDetail = dash.call(&grant, Method::GET, &uri, None).await?;
    let tiers: types::TierList = dash.call(&grant, Method::GET, "/v1/tiers", None).await?;
    let session = &signed.session;
    let action = |what: &str| format!("/dashboard/customers/{}/{what}", segment(&user_id));
    let billing = customer.billing.as_ref();
    let body = html! {
        div.page-head {
            div {
                a.back href="/dashboard/customers" { "← Customers" }
                h1.mono { (customer.user_id) }
                p.muted { (customer.email.as_deref().unwrap_or("No email")) " · customer since " (layout::date(&customer.created_at)) }
            }
        }
        div.grid2 {
            section.card {
                div.card-head { h2 { "Plan" } }
                dl {
                    dt { "Tier" }
                    dd #customer-tier {
                        (customer.tier.display_name) " " span.mono.muted { (customer.tier.name) }
                        @if customer.plan_override { " " (layout::pill("set by hand", "warn")) }
                    }
                    dt { "Period" }
                    dd { (layout::date(&customer.period_start)) " – " (layout::date(&customer.period_end)) }
                    dt { "Stripe customer" }
                    dd.mono { (billing.and_then(|b| b.stripe_customer_id.as_deref()).unwrap_or("—")) }
                    dt { "Subscription" }
                    dd {
                        @if let Some(sub) = billing.and_then(|b| b.subscription.as_ref()) {
                            span.mono { (sub.id) } " " (layout::pill(&sub.status.to_string(), if sub.status == types::SubscriptionStatus::Active { "ok" } else { "warn" }))
                            br;
                            span.muted {
                                (sub.tier.display_name)
                                @if let Some(end) = sub.trial_end.as_ref().filter(|_| sub.status == types::SubscriptionStatus::Trialing) {
                                    ", trial ends " (layout::date(end))
                                } @else {
                                    ", renews " (layout::date(&sub.current_period_end))
                                }
                                @if sub.cancel_at_period_end { ", cancels then" }
                            }
                        } @else { "—" }
                    }
                }
                form.inline method="post" action=(action("plan")) {
                    (layout::csrf(session))
                    label for="tier" { "Override plan" }
                    select #tier name="tier" {
                        option value="" { "No override (billing decides)" }
                        @for tier in tiers.tiers.iter().filter(|t| t.active) {
                            option value=(tier.name) selected[customer.plan_override && tier.name == customer.tier.name] { (tier.display_name) " (" (tier.name) ")" }
                        }
                    }
                    button.primary type="submit" { "Save plan" }
                }
            }
            section.card {
                div.card-head { h2 { "Usage this period" } }
                @if customer.usage.is_empty() {
                    (layout::empty("Nothing tracked this period."))
                } @else {
                    table.usage {
                        tbody {
                            @for m in &customer.usage {
                                tr {
                                    td.mono { (m.metric) }
                                    td.meter-cell {
                                        @if let Some(limit) = m.limit {
                                            @let ratio = if limit > 0 { (m.usage_count as f64 / limit as f64).min(1.0) } else { 1.0 };
                                            svg.meter viewBox="0 0 100 8" preserveAspectRatio="none" {
                                                rect width="100" height="8" rx="4" fill="#eef0f6" {}
                                                rect width=(format!("{:.1}", ratio * 100.0)) height="8" rx="4" fill=(if ratio >= 1.0 { "#e5484d" } else if ratio >= 0.8 { "#f5a623" } else { "#635bff" }) {}
                                            }
                                        }
                                    }
                                    td.num {
                                        (layout::count(m.usage_count))
                                        @if let Some(limit) = m.limit { " / " (layout::count(limit)) } @else { span.muted { " (no limit)" } }
                                    }
                                    td { (layout::pill(&m.enforcement.to_string(), "plain")) }
                                    td.overage {
                                        @if let Some(o) = &m.overage {
                                            (layout::count(o.units)) " beyond the " (layout::count(o.included)) " included: "
                                            strong { (layout::money(o.amount, &o.currency.to_string())) }
                                            br;
                                            span.muted { "at this pace, " (layout::money(o.projected_amount, &o.currency.to_string())) " by the period's end; billed at renewal" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.inline method="post" action=(action("reset")) data-confirm="Reset every usage counter of this period to zero?" {
                    (layout::csrf(session))
                    button.danger type="submit" { "Reset usage" }
                }
            }
        }
    };
    Ok(layout::page(
        &signed,
        None,
        &customer.user_id,
        "customers",
        body,
        &headers,
    ))
}

pub async fn override_plan(
    State(dash): State<Dash>,
    Path(user_id): Path<String>,
    posted: Posted,
) -> Page {
    let (_, grant) = posted.signed.scope()?;
    let tier = posted.get("tier");
    let uri = format!("/v1/customers/{}", segment(&user_id));
    let back = format!("/dashboard/customers/{}", segment(&user_id));
    let result: Result<types::CustomerDetail, _> = dash
        .call(&grant, Method::PATCH, &uri, Some(json!({ "tier": tier })))
        .await;
    Ok(match result {
        Ok(c) => forms::redirect_with(
            &posted.headers,
            &back,
            false,
            &match tier {
                Some(_) => format!("Plan set to {} by hand.", c.tier.display_name),
                None => format!(
                    "Override removed: the plan is {} again.",
                    c.tier.display_name
                ),
            },
        ),
        Err(e) => forms::redirect_with(&posted.headers, &back, true, &e.explain()),
    })
}

pub async fn reset_usage(
    State(dash): State<Dash>,
    Path(user_id): Path<String>,
    posted: Posted,
) -> Page {
    let (_, grant) = posted.signed.scope()?;
    let uri = format!("/v1/customers/{}/usage/reset", segment(&user_id));
    let back = format!("/dashboard/customers/{}", segment(&user_id));
    let result: Result<types::CustomerDetail, _> =
        dash.call(&grant, Method::POST, &uri, None).await;
    Ok(match result {
        Ok(_) => forms::redirect_with(
            &posted.headers,
            &back,
            false,
            "Usage reset to zero for this period.",
        ),
        Err(e) => forms::redirect_with(&posted.headers, &back, true, &e.explain()),
    })
}
