//! The overview: usage over time per metric, active users, revenue and MRR, customers per
//! tier, and the latest webhook events. The page's content is also served alone at
//! `/dashboard/overview/live`, which the page's script fetches every two seconds.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse};
use maud::{Markup, html};
use serde::Deserialize;

use super::api::{ApiError, DashboardGrant, with_query};
use super::chart::{self, Line, PALETTE};
use super::forms::Signed;
use super::{Dash, Page, layout};
use crate::generated::types;

/// The ranges offered: (id, label, interval, buckets).
const RANGES: &[(&str, &str, types::MetricsInterval, i64)] = &[
    ("24h", "24 hours", types::MetricsInterval::Hour, 24),
    ("7d", "7 days", types::MetricsInterval::Hour, 168),
    ("30d", "30 days", types::MetricsInterval::Day, 30),
    ("90d", "90 days", types::MetricsInterval::Day, 90),
];

#[derive(Deserialize)]
pub struct RangeQuery {
    range: Option<String>,
}

fn range(query: &RangeQuery) -> (&'static str, &'static str, types::MetricsInterval, i64) {
    RANGES
        .iter()
        .copied()
        .find(|r| Some(r.0) == query.range.as_deref())
        .unwrap_or(RANGES[0])
}

pub async fn page(
    State(dash): State<Dash>,
    signed: Signed,
    Query(query): Query<RangeQuery>,
    headers: HeaderMap,
) -> Page {
    let (_, grant) = signed.scope()?;
    let selected = range(&query);
    let body = body(selected.0, content(&dash, &grant, selected).await?);
    let live = format!("/dashboard/overview/live?range={}", selected.0);
    Ok(layout::page(
        &signed,
        Some(&live),
        "Overview",
        "overview",
        body,
        &headers,
    ))
}

/// The overview's heading and content, for the live refresh.
pub async fn live(
    State(dash): State<Dash>,
    signed: Signed,
    Query(query): Query<RangeQuery>,
) -> Page {
    let (_, grant) = signed.scope()?;
    let selected = range(&query);
    let body = body(selected.0, content(&dash, &grant, selected).await?);
    Ok(Html(body.into_string()).into_response())
}

/// What the live refresh replaces: the heading with the range links, and the content (a
/// refresh that sent the content alone dropped the range links once usage arrived).
fn body(selected: &str, content: Markup) -> Markup {
    html! {
        div.page-head {
            h1 { "Overview" }
            nav.ranges aria-label="Range" {
                @for (id, label, _, _) in RANGES {
                    a href={ "?range=" (id) } class=@if *id == selected { "active" } { (label) }
                }
            }
        }
        (content)
    }
}

async fn content(
    dash: &Dash,
    grant: &DashboardGrant,
    (_, label, interval, buckets): (&str, &str, types::MetricsInterval, i64),
) -> Result<Markup, ApiError> {
    let test_mode = grant
        .tenant
        .as_ref()
        .is_some_and(|t| t.mode == crate::domain::Mode::Test);
    let hourly = interval == types::MetricsInterval::Hour;
    let interval = interval.to_string();
    let width = if hourly { 3600 } else { 86_400 };
    let from = chrono::Utc::now() - chrono::Duration::seconds(width * (buckets - 1));
    let from = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let params = [
        ("interval", Some(interval.as_str())),
        ("from", Some(from.as_str())),
    ];
    let usage: types::UsageMetrics = dash
        .call(
            grant,
            Method::GET,
            &with_query("/v1/metrics/usage", &params),
            None,
        )
        .await?;
    let revenue: types::RevenueMetrics = dash
        .call(
            grant,
            Method::GET,
            &with_query("/v1/metrics/revenue", &params),
            None,
        )
        .await?;
    let overview: types::MetricsOverview = dash
        .call(grant, Method::GET, "/v1/metrics/overview", None)
        .await?;
    let events: types::BillingEventList = dash
        .call(grant, Method::GET, "/v1/billing/events?limit=6", None)
        .await?;

    let points = |series: &[types::SeriesPoint]| -> Vec<(i64, i64)> {
        series
            .iter()
            .map(|p| (p.start.0.timestamp(), p.value))
            .collect()
    };
    let usage_points: Vec<(String, Vec<(i64, i64)>)> = usage
        .metrics
        .iter()
        .map(|m| (m.metric.clone(), points(&m.points)))
        .collect();
    let active = points(&usage.active_users);
    // Metrics count different things (requests, tokens, messages): each keeps its own total.
    let totals: Vec<(&str, i64)> = usage
        .metrics
        .iter()
        .map(|m| (m.metric.as_str(), m.total))
        .collect();
    let revenue_points: Vec<(String, Vec<(i64, i64)>)> = revenue
        .currencies
        .iter()
        .map(|c| (c.currency.to_string(), points(&c.points)))
        .collect();
    let mrr = if revenue.mrr.is_empty() {
        layout::money(0, "usd")
    } else {
        revenue
            .mrr
            .iter()
            .map(|m| layout::money(m.amount, &m.currency.to_string()))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let received = revenue
        .currencies
        .iter()
        .map(|c| layout::money(c.total, &c.currency.to_string()))
        .collect::<Vec<_>>()
        .join(" + ");
    let tiers: Vec<(String, i64)> = overview
        .tiers
        .iter()
        .map(|t| (t.tier.display_name.clone(), t.customers))
        .collect();

    Ok(html! {
        section.stats {
            div.stat {
                span.label { "Usage, " (label) }
                @match totals.as_slice() {
                    [] => { span.value #stat-usage { "0" } span.sub { "nothing tracked" } }
                    [(metric, total)] => { span.value #stat-usage { (layout::count(*total)) } span.sub { (metric) } }
                    many => {
                        ul.totals #stat-usage {
                            @for (metric, total) in many { li { strong { (layout::count(*total)) } " " span.unit { (metric) } } }
                        }
                    }
                }
            }
            div.stat { span.label { "Active users, " (label) } span.value #stat-active { (layout::count(usage.active_users_total)) } span.sub { (layout::count(overview.active_users24h)) " in 24 hours" } }
            div.stat { span.label { "MRR" } span.value #stat-mrr { (mrr) } span.sub #stat-subscriptions { (subscriptions(revenue.live_subscriptions, test_mode)) } }
            div.stat { span.label { "Customers" } span.value #stat-customers { (layout::count(overview.customers)) } }
        }
        section.card #usage-chart {
            div.card-head {
                h2 { "Usage" }
                div.legend {
                    @for (i, (metric, _)) in usage_points.iter().enumerate() {
                        span { svg.swatch viewBox="0 0 10 10" { rect width="10" height="10" rx="2" fill=(PALETTE[i % PALETTE.len()]) {} } (metric) }
                    }
                }
            }
            @if usage_points.is_empty() {
                (layout::empty("Nothing tracked in this range yet. Usage appears here within seconds of api.usage.track()."))
            } @else {
                @let lines: Vec<Line> = usage_points.iter().enumerate().map(|(i, (name, pts))| Line { name, color: PALETTE[i % PALETTE.len()], points: pts }).collect();
                (chart::lines(chart::WIDE, &lines, hourly, &layout::count, "Usage over time"))
            }
        }
        div.grid2 {
            section.card {
                div.card-head { h2 { "Active users" } }
                (chart::bars(chart::HALF, &active, PALETTE[1], hourly, "Active users"))
            }
            section.card {
                div.card-head {
                    h2 { "Revenue" }
                    @if !received.is_empty() { span.muted { (received) " in " (label) } }
                }
                @if revenue_points.is_empty() {
                    (layout::empty("No payments in this range."))
                } @else {
                    @let lines: Vec<Line> = revenue_points.iter().enumerate().map(|(i, (name, pts))| Line { name, color: PALETTE[(i + 2) % PALETTE.len()], points: pts }).collect();
                    @let currency = revenue_points[0].0.clone();
                    (chart::lines(chart::HALF, &lines, hourly, &move |v| layout::money(v, &currency), "Revenue over time"))
                }
            }
        }
        div.grid2 {
            section.card {
                div.card-head { h2 { "Customers per tier" } a href="/dashboard/customers" { "All customers →" } }
                @if tiers.is_empty() { (layout::empty("No tiers.")) } @else { (chart::shares(&tiers)) }
            }
            section.card {
                div.card-head { h2 { "Recent webhook events" } a href="/dashboard/events" { "All events →" } }
                @if events.data.is_empty() {
                    (layout::empty("No Stripe events yet."))
                } @else {
                    table.compact {
                        tbody {
                            @for event in &events.data {
                                tr {
                                    td.mono { (event.type_) }
                                    td { (super::logs::event_status(&event.status.to_string())) }
                                    td.muted { (layout::datetime(&event.received_at)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// What pays the MRR: `3 paying subscriptions`; in test mode, `1 test subscription`, so a
/// test checkout is never read as a live customer.
fn subscriptions(n: i64, test_mode: bool) -> String {
    let kind = if test_mode { "test" } else { "paying" };
    let noun = if n == 1 {
        "subscription"
    } else {
        "subscriptions"
    };
    format!("{} {kind} {noun}", layout::count(n))
}

#[cfg(test)]
mod tests {
    #[test]
    fn subscriptions_say_which_mode_they_are_in() {
        assert_eq!(super::subscriptions(1, true), "1 test subscription");
        assert_eq!(
            super::subscriptions(1_200, false),
            "1,200 paying subscriptions"
        );
    }
}
