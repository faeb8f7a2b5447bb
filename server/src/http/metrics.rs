//! Usage and revenue metrics over HTTP.

use super::{Caller, Server, convert};
use crate::app::AppResult;
use crate::app::metrics::{Interval, Range};
use crate::generated::{self as api, types};

/// A metrics range from the query: the interval asked for (else `default`), and by default
/// the last 24 hours or 30 days.
fn range(
    interval: Option<types::MetricsInterval>,
    default: Interval,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> AppResult<Range> {
    let interval = match interval {
        Some(types::MetricsInterval::Hour) => Interval::Hour,
        Some(types::MetricsInterval::Day) => Interval::Day,
        None => default,
    };
    let buckets = match interval {
        Interval::Hour => 24,
        Interval::Day => 30,
    };
    Range::new(
        interval,
        from.map(|t| t.timestamp()),
        to.map(|t| t.timestamp()),
        buckets,
    )
}

pub(super) async fn get_usage_metrics(
    server: &Server,
    caller: Caller,
    request: api::GetUsageMetricsRequest,
) -> api::GetUsageMetricsResponse {
    respond!(caller, GetUsageMetricsResponse::Ok, {
        let range = range(request.interval, Interval::Hour, request.from, request.to)?;
        let metric = request.metric.map(|m| m.to_string());
        let metrics = server
            .app
            .metrics_usage(caller.secret()?, range, metric.as_deref())
            .await?;
        Ok(convert::usage_metrics(&metrics))
    })
}

pub(super) async fn get_revenue_metrics(
    server: &Server,
    caller: Caller,
    request: api::GetRevenueMetricsRequest,
) -> api::GetRevenueMetricsResponse {
    respond!(caller, GetRevenueMetricsResponse::Ok, {
        let range = range(request.interval, Interval::Day, request.from, request.to)?;
        convert::revenue_metrics(&server.app.metrics_revenue(caller.secret()?, range).await?)
    })
}

pub(super) async fn get_metrics_overview(
    server: &Server,
    caller: Caller,
    _request: api::GetMetricsOverviewRequest,
) -> api::GetMetricsOverviewResponse {
    respond!(caller, GetMetricsOverviewResponse::Ok, {
        Ok(convert::overview(
            &server.app.metrics_overview(caller.secret()?).await?,
        ))
    })
}
