//! The webhook event log (status and payload of every Stripe event) and the audit log.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde::Deserialize;

use super::api::with_query;
use super::forms::Signed;
use super::{Dash, Page, layout};
use crate::generated::types;

#[derive(Deserialize)]
pub struct PageQuery {
    pub(super) after: Option<String>,
}

pub fn event_status(status: &str) -> Markup {
    let tone = match status {
        "processed" => "ok",
        "failed" => "bad",
        _ => "plain",
    };
    layout::pill(status, tone)
}

pub(super) fn pager(base: &str, after: Option<&str>, next: Option<&str>) -> Markup {
    html! {
        div.pager {
            @if after.is_some() { a href=(base) { "← Newest" } }
            @if let Some(next) = next { a href=(with_query(base, &[("after", Some(next))])) { "Older →" } }
        }
    }
}

/// One page of a newest-first log from the API.
pub(super) async fn newest_first<T: serde::de::DeserializeOwned>(
    dash: &Dash,
    signed: &Signed,
    path: &str,
    limit: u32,
    query: &PageQuery,
) -> Result<T, axum::response::Response> {
    let (_, grant) = signed.scope()?;
    let limit = limit.to_string();
    let uri = with_query(
        path,
        &[
            ("limit", Some(&limit)),
            ("startingAfter", query.after.as_deref()),
        ],
    );
    Ok(dash.call(&grant, Method::GET, &uri, None).await?)
}

pub async fn events(
    State(dash): State<Dash>,
    signed: Signed,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Page {
    let page: types::BillingEventList =
        newest_first(&dash, &signed, "/v1/billing/events", 25, &query).await?;
    let body = html! {
        div.page-head { h1 { "Webhook events" } }
        section.card {
            p.muted { "Every verified Stripe event for this project and mode, newest first, with what became of it. Replays are recognised by their id and change nothing." }
            @if page.data.is_empty() {
                (layout::empty("No events yet. They arrive when Stripe reports a checkout, a subscription change or a payment."))
            } @else {
                table.events {
                    thead { tr { th { "Event" } th { "Status" } th { "User" } th { "Received" } } }
                    tbody {
                        @for event in &page.data {
                            tr {
                                td {
                                    details {
                                        summary { span.mono { (event.type_) } " " span.muted.mono { (event.id) } }
                                        @if let Some(message) = &event.message { p.muted { (message) } }
                                        (layout::json_block(&serde_json::Value::Object(event.payload.clone())))
                                    }
                                }
                                td { (event_status(&event.status.to_string())) }
                                td.mono { (event.user_id.as_deref().unwrap_or("—")) }
                                td.muted { (layout::datetime(&event.received_at)) }
                            }
                        }
                    }
                }
            }
            (pager("/dashboard/events", query.after.as_deref(), page.next_cursor.as_deref().filter(|_| page.has_more)))
        }
    };
    Ok(layout::page(
        &signed,
        None,
        "Webhook events",
        "events",
        body,
        &headers,
    ))
}

pub async fn audit(
    State(dash): State<Dash>,
    signed: Signed,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Page {
    let page: types::AuditEntryList =
        newest_first(&dash, &signed, "/v1/audit-log", 50, &query).await?;
    let body = html! {
        div.page-head { h1 { "Audit log" } }
        section.card {
            p.muted { "Every change made with a secret key — from your servers through the API, or here in the dashboard." }
            @if page.data.is_empty() {
                (layout::empty("No changes recorded yet."))
            } @else {
                table #audit {
                    thead { tr { th { "When" } th { "Who" } th { "Change" } th { "On" } th { "Details" } } }
                    tbody {
                        @for entry in &page.data {
                            tr {
                                td.muted { (layout::datetime(&entry.created_at)) }
                                td {
                                    (layout::pill(if entry.actor.kind == types::AuditActorKind::Dashboard { "dashboard" } else { "API" }, "plain"))
                                    " " span.mono { (entry.actor.label) }
                                }
                                td.mono { (entry.action) }
                                td.mono { (entry.target.as_deref().unwrap_or("—")) }
                                td { (entry.summary.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            (pager("/dashboard/audit", query.after.as_deref(), page.next_cursor.as_deref().filter(|_| page.has_more)))
        }
    };
    Ok(layout::page(
        &signed,
        None,
        "Audit log",
        "audit",
        body,
        &headers,
    ))
}
