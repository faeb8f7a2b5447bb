//! Metering from the developer's backend over HTTP, and entitlement checks from both sides.

use super::usage::amount;
use super::{Caller, Server, convert};
use crate::app::metering::{Ask, Denial, Entitlement, EventOutcome, UsageEvent};
use crate::app::{App, AppError, AppResult, UserContext};
use crate::generated::{self as api, types};

pub(super) async fn track_customer_usage(
    server: &Server,
    caller: Caller,
    request: api::TrackCustomerUsageRequest,
) -> api::TrackCustomerUsageResponse {
    respond!(caller, TrackCustomerUsageResponse::Ok, {
        let ctx = App::customer_context(caller.secret()?, &request.user_id);
        let key = request.idempotency_key.map(|k| k.to_string());
        super::usage::track(server, &ctx, request.body, key).await
    })
}

pub(super) async fn check_customer_usage(
    server: &Server,
    caller: Caller,
    request: api::CheckCustomerUsageRequest,
) -> api::CheckCustomerUsageResponse {
    respond!(caller, CheckCustomerUsageResponse::Ok, {
        let ctx = App::customer_context(caller.secret()?, &request.user_id);
        let metric = request.metric.map(|m| m.to_string());
        let report = server.app.usage_check(&ctx, metric.as_deref()).await?;
        Ok(convert::usage(&report))
    })
}

/// The one question an entitlement check asks: exactly one of `feature` and `metric`.
fn ask<'a>(feature: Option<&'a str>, metric: Option<&'a str>, units: u64) -> AppResult<Ask<'a>> {
    match (feature, metric) {
        (Some(feature), None) => Ok(Ask::Feature(feature)),
        (None, Some(metric)) => Ok(Ask::Units {
            metric,
            amount: amount(units, "amount")?,
        }),
        _ => Err(AppError::Malformed {
            message: "Name exactly one of `feature` and `metric`.".into(),
            param: Some(
                if feature.is_some() {
                    "metric"
                } else {
                    "feature"
                }
                .into(),
            ),
        }),
    }
}

async fn check(
    server: &Server,
    ctx: &UserContext,
    feature: Option<&str>,
    metric: Option<&str>,
    units: u64,
) -> AppResult<types::EntitlementCheck> {
    let ask = ask(feature, metric, units)?;
    let answer = server.app.entitlement_check(ctx, ask).await?;
    Ok(entitlement(ask, &answer))
}

fn entitlement(ask: Ask<'_>, answer: &Entitlement) -> types::EntitlementCheck {
    let (feature, metric, amount) = match ask {
        Ask::Feature(f) => (Some(f.to_string()), None, None),
        Ask::Units { metric, amount } => (None, Some(metric.to_string()), Some(amount)),
    };
    types::EntitlementCheck {
        allowed: answer.denial.is_none(),
        feature,
        metric,
        amount,
        reason: answer.denial.map(|d| match d {
            Denial::FeatureNotInTier => types::EntitlementCheckReason::FeatureNotInTier,
            Denial::WouldExceedLimit => types::EntitlementCheckReason::WouldExceedLimit,
        }),
        tier: convert::tier_ref(&answer.tier),
        usage: answer.usage.as_ref().map(convert::usage),
    }
}

pub(super) async fn check_entitlement(
    server: &Server,
    caller: Caller,
    request: api::CheckEntitlementRequest,
) -> api::CheckEntitlementResponse {
    respond!(caller, CheckEntitlementResponse::Ok, {
        let feature = request.feature.map(|f| f.to_string());
        let metric = request.metric.map(|m| m.to_string());
        check(
            server,
            caller.user()?,
            feature.as_deref(),
            metric.as_deref(),
            request.amount.get(),
        )
        .await
    })
}

pub(super) async fn check_customer_entitlement(
    server: &Server,
    caller: Caller,
    request: api::CheckCustomerEntitlementRequest,
) -> api::CheckCustomerEntitlementResponse {
    respond!(caller, CheckCustomerEntitlementResponse::Ok, {
        let ctx = App::customer_context(caller.secret()?, &request.user_id);
        let feature = request.feature.map(|f| f.to_string());
        let metric = request.metric.map(|m| m.to_string());
        check(
            server,
            &ctx,
            feature.as_deref(),
            metric.as_deref(),
            request.amount.get(),
        )
        .await
    })
}

pub(super) async fn ingest_usage_events(
    server: &Server,
    caller: Caller,
    request: api::IngestUsageEventsRequest,
) -> api::IngestUsageEventsResponse {
    respond!(caller, IngestUsageEventsResponse::Ok, {
        let tenant = caller.secret()?;
        let events = request
            .body
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                Ok(UsageEvent {
                    id: e.id.to_string(),
                    user_id: e.user_id.to_string(),
                    metric: e.metric.map(|m| m.to_string()),
                    amount: amount(e.amount.get(), &format!("events[{i}].amount"))?,
                    timestamp: e.timestamp.map(|t| t.0.timestamp()),
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
        let outcomes = server.app.usage_ingest(tenant, &events).await?;
        let (mut counted, mut duplicates, mut refused) = (0, 0, 0);
        let results = events
            .iter()
            .zip(outcomes)
            .map(|(event, outcome)| {
                let id = event.id.clone();
                match outcome {
                    EventOutcome::Counted(count) => {
                        counted += 1;
                        types::UsageEventResult {
                            id,
                            status: types::UsageEventResultStatus::Counted,
                            usage_count: Some(count),
                            error: None,
                        }
                    }
                    EventOutcome::Duplicate => {
                        duplicates += 1;
                        types::UsageEventResult {
                            id,
                            status: types::UsageEventResultStatus::Duplicate,
                            usage_count: None,
                            error: None,
                        }
                    }
                    EventOutcome::Refused(e) => {
                        refused += 1;
                        let code = match e.describe().1 {
                            "usage_limit_exceeded" => {
                                types::UsageEventErrorCode::UsageLimitExceeded
                            }
                            "idempotency_key_reused" => {
                                types::UsageEventErrorCode::IdempotencyKeyReused
                            }
                            _ => types::UsageEventErrorCode::ValidationFailed,
                        };
                        types::UsageEventResult {
                            id,
                            status: types::UsageEventResultStatus::Refused,
                            usage_count: None,
                            error: Some(types::UsageEventError {
                                code,
                                message: e.to_string(),
                            }),
                        }
                    }
                }
            })
            .collect();
        Ok(types::UsageEventResults {
            counted,
            duplicates,
            refused,
            results,
        })
    })
}
