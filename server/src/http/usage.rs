//! The user's side of metering over HTTP: who am I, track, check.

use super::{Caller, Server, convert};
use crate::app::{AppError, AppResult};
use crate::generated::{self as api, types};

pub(super) async fn get_customer_state(
    server: &Server,
    caller: Caller,
    _request: api::GetCustomerStateRequest,
) -> api::GetCustomerStateResponse {
    respond!(caller, GetCustomerStateResponse::Ok, {
        let state = server.app.customer_state(caller.user()?).await?;
        convert::customer_state(&state)
    })
}

pub(super) async fn track_usage(
    server: &Server,
    caller: Caller,
    request: api::TrackUsageRequest,
) -> api::TrackUsageResponse {
    respond!(caller, TrackUsageResponse::Ok, {
        let key = request.idempotency_key.map(|k| k.to_string());
        track(server, caller.user()?, request.body, key).await
    })
}

/// An amount from the wire as the count's type.
pub(super) fn amount(value: u64, param: &str) -> AppResult<i64> {
    i64::try_from(value)
        .map_err(|_| AppError::validation(param, format!("`{param}` is too large.")))
}

/// A track for `ctx`'s user, from either side: the body's metric and amount, the key.
pub(super) async fn track(
    server: &Server,
    ctx: &crate::app::UserContext,
    body: Option<types::TrackUsage>,
    key: Option<String>,
) -> AppResult<types::Usage> {
    let body = body.unwrap_or_default();
    let amount = amount(body.amount.get(), "amount")?;
    let metric = body.metric.map(|m| m.to_string());
    let report = server
        .app
        .usage_track(ctx, metric.as_deref(), amount, key.as_deref())
        .await?;
    Ok(convert::usage(&report))
}

pub(super) async fn check_usage(
    server: &Server,
    caller: Caller,
    request: api::CheckUsageRequest,
) -> api::CheckUsageResponse {
    respond!(caller, CheckUsageResponse::Ok, {
        let metric = request.metric.map(|m| m.to_string());
        let report = server
            .app
            .usage_check(caller.user()?, metric.as_deref())
            .await?;
        Ok(convert::usage(&report))
    })
}
