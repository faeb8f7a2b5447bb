//! Metering from the developer's backend: a named user's track and check, entitlement checks,
//! and batch ingest of usage events. The same counters, limits and plans as the user's side.

use std::sync::Arc;

use super::usage::{DEFAULT_METRIC, MetricReport, rule};
use super::{App, AppError, AppResult, Plan, UserContext, VerifiedUser, now};
use crate::domain::{Enforcement, Tenant, Tier};
use crate::store::ingest::{IngestOutcome, IngestRow};

/// How far ahead of the server's clock an event's timestamp may be (clocks differ a little).
const FUTURE_SKEW_SECONDS: i64 = 300;

/// What an entitlement check asks.
#[derive(Debug, Clone, Copy)]
pub enum Ask<'a> {
    /// May the user use this feature?
    Feature(&'a str),
    /// May the user use `amount` more units of this metric?
    Units { metric: &'a str, amount: i64 },
}

/// Why an entitlement is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    FeatureNotInTier,
    WouldExceedLimit,
}

/// The answer to an [`Ask`].
#[derive(Debug, Clone)]
pub struct Entitlement {
    pub denial: Option<Denial>,
    pub tier: Arc<Tier>,
    /// With [`Ask::Units`], the metric's usage now.
    pub usage: Option<MetricReport>,
}

/// One usage event sent by a backend.
#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub id: String,
    pub user_id: String,
    pub metric: Option<String>,
    pub amount: i64,
    /// When it happened (Unix seconds); now when absent.
    pub timestamp: Option<i64>,
}

/// What became of one event.
#[derive(Debug)]
pub enum EventOutcome {
    /// Counted; the count it reached.
    Counted(i64),
    /// Sent before with the same content; nothing counted again.
    Duplicate,
    /// Not counted, and why (the error's code and message).
    Refused(AppError),
}

impl App {
    /// The user `user_id` of `tenant`, as a secret-key caller names them.
    pub fn customer_context(tenant: &Tenant, user_id: &str) -> UserContext {
        UserContext {
            tenant: tenant.clone(),
            user: VerifiedUser {
                user_id: user_id.to_string(),
                email: None,
            },
            plan: Default::default(),
        }
    }

    /// May the user do what `ask` says? Counts nothing.
    pub async fn entitlement_check(
        &self,
        ctx: &UserContext,
        ask: Ask<'_>,
    ) -> AppResult<Entitlement> {
        let Plan { tier, .. } = self.user_plan(ctx, now()).await?;
        match ask {
            Ask::Feature(feature) => Ok(Entitlement {
                denial: (!tier.features.iter().any(|f| f == feature))
                    .then_some(Denial::FeatureNotInTier),
                tier,
                usage: None,
            }),
            Ask::Units { metric, amount } => {
                let usage = self.usage_check(ctx, Some(metric)).await?;
                let over = usage.enforcement == Enforcement::Hard
                    && usage
                        .limit
                        .is_some_and(|limit| usage.count.saturating_add(amount) > limit);
                Ok(Entitlement {
                    denial: over.then_some(Denial::WouldExceedLimit),
                    tier,
                    usage: Some(usage),
                })
            }
        }
    }

    /// Counts a batch of events, each for its user, in the order sent; one outcome per event.
    pub async fn usage_ingest(
        &self,
        tenant: &Tenant,
        events: &[UsageEvent],
    ) -> AppResult<Vec<EventOutcome>> {
        let at = now();
        let mut users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        let plans = self.user_plans(tenant, &users, at).await?;

        // A timestamp outside the user's current period is refused, but only after the id is
        // looked up: a repeat of an event counted earlier is still a duplicate.
        let mut invalid: Vec<Option<AppError>> = events.iter().map(|_| None).collect();
        let mut rows: Vec<IngestRow> = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let Plan { tier, period, .. } = plans.get(&e.user_id).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("no plan was read for user {}", e.user_id))
            })?;
            let occurred_at = e.timestamp.unwrap_or(at);
            let field = || format!("events[{i}].timestamp");
            if occurred_at < period.start.timestamp() || occurred_at >= period.end.timestamp() {
                invalid[i] = Some(AppError::validation(
                    field(),
                    format!(
                        "The timestamp is outside the user's current period ({} to {}); only usage of the current period can be counted.",
                        period.start.to_rfc3339(),
                        period.end.to_rfc3339()
                    ),
                ));
            } else if occurred_at > at + FUTURE_SKEW_SECONDS {
                invalid[i] = Some(AppError::validation(
                    field(),
                    "The timestamp is in the future.",
                ));
            }
            let metric = e.metric.as_deref().unwrap_or(DEFAULT_METRIC);
            let (limit, enforcement) = rule(tier, metric);
            rows.push(IngestRow {
                event_id: &e.id,
                user_id: &e.user_id,
                metric,
                amount: e.amount,
                period: &period.key,
                hard_limit: limit.filter(|_| enforcement == Enforcement::Hard),
                occurred_at,
                countable: invalid[i].is_none(),
            });
        }

        let stored = match self.store.usage_ingest(tenant, &rows, at).await {
            Ok(stored) => stored,
            Err(e) => {
                // The commit's answer may have been lost after it was written: copies go.
                for user in plans.keys() {
                    self.usage_changed(tenant, user);
                }
                return Err(e.into());
            }
        };
        let mut changed: Vec<&str> = Vec::new();
        let mut outcomes = Vec::with_capacity(events.len());
        for ((row, outcome), invalid) in rows.iter().zip(stored).zip(invalid) {
            outcomes.push(match outcome {
                IngestOutcome::Counted(count) => {
                    self.recorder.record(
                        tenant,
                        row.user_id,
                        row.metric,
                        row.amount,
                        row.occurred_at,
                    );
                    changed.push(row.user_id);
                    EventOutcome::Counted(count)
                }
                IngestOutcome::Duplicate => EventOutcome::Duplicate,
                IngestOutcome::Reused => {
                    EventOutcome::Refused(AppError::EventIdReused(row.event_id.to_string()))
                }
                IngestOutcome::LimitExceeded(count) => {
                    EventOutcome::Refused(AppError::UsageLimitExceeded {
                        metric: row.metric.to_string(),
                        attempted: count.saturating_add(row.amount),
                        limit: row.hard_limit.unwrap_or_default(),
                    })
                }
                IngestOutcome::NotCounted => EventOutcome::Refused(invalid.unwrap_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("a countable event was not counted"))
                })),
            });
        }
        changed.sort_unstable();
        changed.dedup();
        for user in changed {
            self.usage_changed(tenant, user);
        }
        Ok(outcomes)
    }
}
