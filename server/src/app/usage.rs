//! Usage metering: track, check, and the user's state.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{App, AppError, AppResult, Period, UserContext, now};
use crate::domain::{Enforcement, IdempotentOutcome, Tenant, Tier, TrackOutcome};
use crate::store::usage::Counter;

/// The metric counted when none is named.
pub const DEFAULT_METRIC: &str = "requests";

/// One metric's usage against its limit in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricReport {
    pub metric: String,
    pub count: i64,
    pub limit: Option<i64>,
    pub enforcement: Enforcement,
    pub period_start: i64,
    pub period_end: i64,
    /// What the period has used beyond the included units, when the tier bills it.
    #[serde(default)]
    pub overage: Option<OverageReport>,
}

/// Usage beyond a limit that the tier prices, in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverageReport {
    pub included: i64,
    pub units: i64,
    pub amount: i64,
    /// The period's overage if usage goes on at its pace so far.
    pub projected_amount: i64,
    pub currency: String,
}

impl OverageReport {
    /// The overage of `count` units in `[start, end)` at `now`, when the tier prices it.
    fn of(
        tier: &Tier,
        metric: &str,
        count: i64,
        (start, end, now): (i64, i64, i64),
    ) -> Option<OverageReport> {
        let rule = tier.limits.iter().find(|l| l.metric == metric)?;
        let (overage, included, price) = (rule.overage?, rule.limit?, tier.price.as_ref()?);
        let (units, amount) = overage.charge(included, count);
        let (elapsed, length) = ((now - start).max(1), (end - start).max(1));
        let projected = if elapsed >= length {
            count
        } else {
            i64::try_from(i128::from(count) * i128::from(length) / i128::from(elapsed))
                .unwrap_or(i64::MAX)
        };
        Some(OverageReport {
            included,
            units,
            amount,
            projected_amount: overage.charge(included, projected).1,
            currency: price.currency.clone(),
        })
    }
}

impl MetricReport {
    pub fn remaining(&self) -> Option<i64> {
        self.limit.map(|l| (l - self.count).max(0))
    }
}

/// What `auth.init()` shows: the user, their tier and usage.
#[derive(Debug, Clone)]
pub struct CustomerState {
    pub user_id: String,
    pub tier: Arc<Tier>,
    pub usage: Vec<MetricReport>,
    pub period: Period,
    /// The subscription that sets `tier`, if one does.
    pub subscription: Option<crate::domain::Subscription>,
}

/// The rule for `metric` in `tier`: its limit (None = unlimited) and enforcement.
pub(super) fn rule(tier: &Tier, metric: &str) -> (Option<i64>, Enforcement) {
    match tier.limits.iter().find(|l| l.metric == metric) {
        Some(l) => (l.limit, l.enforcement),
        None => (None, Enforcement::Soft),
    }
}

impl App {
    /// Registers the user on first sight and returns their plan (kept for
    /// a minute; a changed email in the token is written at once). Found
    /// once per request: the rate limit and the operation read the same plan.
    pub(super) async fn user_plan(&self, ctx: &UserContext, at: i64) -> AppResult<super::Plan> {
        if let Some(basis) = ctx.plan.get() {
            return Ok(basis.at(at));
        }
        let cached = self
            .caches
            .plan(&ctx.tenant, &ctx.user.user_id)
            .filter(|basis| ctx.user.email.is_none() || basis.email == ctx.user.email);
        let basis = match cached {
            Some(basis) => basis,
            None => {
                let epoch = self.caches.epoch();
                let customer = self
                    .store
                    .customer_upsert(
                        &ctx.tenant,
                        &ctx.user.user_id,
                        ctx.user.email.as_deref(),
                        at,
                    )
                    .await?;
                let basis = Arc::new(self.plan_basis(&ctx.tenant, customer).await?);
                self.caches
                    .put_plan(epoch, &ctx.tenant, &ctx.user.user_id, basis.clone());
                basis
            }
        };
        let plan = basis.at(at);
        let _ = ctx.plan.set(basis);
        Ok(plan)
    }

    /// The plans of users a secret-key caller names, at `at`: cached ones as they are, the
    /// others read together (and registered when new), then cached.
    pub(super) async fn user_plans(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
        at: i64,
    ) -> AppResult<HashMap<String, super::Plan>> {
        let mut plans = HashMap::with_capacity(user_ids.len());
        let mut missing = Vec::new();
        for &user in user_ids {
            match self.caches.plan(tenant, user) {
                Some(basis) => {
                    plans.insert(user.to_string(), basis.at(at));
                }
                None => missing.push(user),
            }
        }
        if !missing.is_empty() {
            let epoch = self.caches.epoch();
            for (user, basis) in self.plan_bases(tenant, &missing, at).await? {
                let basis = Arc::new(basis);
                plans.insert(user.clone(), basis.at(at));
                self.caches.put_plan(epoch, tenant, &user, basis);
            }
        }
        Ok(plans)
    }

    /// Adds `amount` to the user's `metric`, refusing (and counting nothing) past a hard limit.
    pub async fn usage_track(
        &self,
        ctx: &UserContext,
        metric: Option<&str>,
        amount: i64,
        idempotency_key: Option<&str>,
    ) -> AppResult<MetricReport> {
        let at = now();
        let super::Plan { tier, period, .. } = self.user_plan(ctx, at).await?;
        let metric = metric.unwrap_or(DEFAULT_METRIC);
        let (limit, enforcement) = rule(&tier, metric);
        let hard_limit = limit.filter(|_| enforcement == Enforcement::Hard);
        let counter = Counter {
            tenant: &ctx.tenant,
            user_id: &ctx.user.user_id,
            metric,
            period: &period.key,
        };
        let report = |count: i64| MetricReport {
            metric: metric.to_string(),
            count,
            limit,
            enforcement,
            period_start: period.start.timestamp(),
            period_end: period.end.timestamp(),
            overage: None,
        };
        let ticket = self.count_ticket(&ctx.tenant, &ctx.user.user_id);
        let outcome = match idempotency_key {
            None => match self
                .store
                .usage_increment(&counter, amount, hard_limit)
                .await
            {
                Ok(outcome) => outcome,
                Err(e) => {
                    // A combined write can fail after it committed (its answer was lost):
                    // copies of the counters are dropped either way.
                    self.usage_changed(&ctx.tenant, &ctx.user.user_id);
                    return Err(e.into());
                }
            },
            Some(key) => {
                let request_hash =
                    hex::encode(Sha256::digest(format!("{metric}\n{amount}").as_bytes()));
                let outcome = self
                    .store
                    .usage_increment_idempotent(
                        &counter,
                        amount,
                        hard_limit,
                        key,
                        &request_hash,
                        at,
                        |count| serde_json::to_string(&report(count)).expect("a report serializes"),
                    )
                    .await?;
                match outcome {
                    IdempotentOutcome::Fresh(outcome) => outcome,
                    IdempotentOutcome::Mismatch => return Err(AppError::IdempotencyKeyReused),
                    IdempotentOutcome::Replayed(stored) => {
                        return serde_json::from_str(&stored)
                            .map_err(|e| AppError::Internal(e.into()));
                    }
                }
            }
        };
        match outcome {
            TrackOutcome::Counted(count) => {
                self.usage_counted(
                    ticket,
                    &ctx.tenant,
                    &ctx.user.user_id,
                    (&period.key, metric, count),
                );
                // The time series learn of it in memory; a background flush writes them.
                self.recorder
                    .record(&ctx.tenant, &ctx.user.user_id, metric, amount, at);
                Ok(report(count))
            }
            TrackOutcome::LimitExceeded(count) => Err(AppError::UsageLimitExceeded {
                metric: metric.to_string(),
                attempted: count.saturating_add(amount),
                limit: limit.unwrap_or_default(),
            }),
        }
    }

    /// The user's count, limit and remaining allowance for `metric` this period.
    pub async fn usage_check(
        &self,
        ctx: &UserContext,
        metric: Option<&str>,
    ) -> AppResult<MetricReport> {
        let at = now();
        let super::Plan { tier, period, .. } = self.user_plan(ctx, at).await?;
        let metric = metric.unwrap_or(DEFAULT_METRIC);
        let (limit, enforcement) = rule(&tier, metric);
        let count = self
            .user_counts(&ctx.tenant, &ctx.user.user_id, &period.key)
            .await?
            .iter()
            .find(|(m, _)| m == metric)
            .map_or(0, |(_, count)| *count);
        Ok(MetricReport {
            metric: metric.to_string(),
            count,
            limit,
            enforcement,
            period_start: period.start.timestamp(),
            period_end: period.end.timestamp(),
            overage: None,
        })
    }

    /// Every metric the user counted in `period`: this replica's copy while it hears every
    /// change to counters (`app/cache.rs`), else read from the database (and kept).
    async fn user_counts(
        &self,
        tenant: &Tenant,
        user_id: &str,
        period: &str,
    ) -> AppResult<Arc<[(String, i64)]>> {
        if let Some(counts) = self.caches.usage(tenant, user_id, period) {
            return Ok(counts);
        }
        let ticket = self.caches.usage_ticket(tenant, user_id);
        let counts: Arc<[(String, i64)]> = self
            .store
            .usage_for_user(tenant, user_id, period)
            .await?
            .into();
        self.caches
            .put_usage(ticket, tenant, user_id, period, counts.clone());
        Ok(counts)
    }

    /// Usage of every metric the tier limits or the user used in the plan's period, with the
    /// overage where the tier bills it (a paid subscription's period; not a trial's).
    pub(super) async fn usage_reports(
        &self,
        tenant: &Tenant,
        user_id: &str,
        plan: &super::Plan,
    ) -> AppResult<Vec<MetricReport>> {
        let (tier, period) = (&plan.tier, &plan.period);
        let billed = plan.subscription.as_ref().is_some_and(|s| {
            s.grants_tier()
                && s.status != "trialing"
                && s.tier_id == tier.id
                && period.key == super::Period::subscription(s.period_start, s.period_end).key
        });
        let (start, end) = (period.start.timestamp(), period.end.timestamp());
        let used = self.user_counts(tenant, user_id, &period.key).await?;
        let mut metrics: Vec<String> = tier.limits.iter().map(|l| l.metric.clone()).collect();
        for (metric, _) in used.iter() {
            if !metrics.contains(metric) {
                metrics.push(metric.clone());
            }
        }
        Ok(metrics
            .into_iter()
            .map(|metric| {
                let (limit, enforcement) = rule(tier, &metric);
                let count = used
                    .iter()
                    .find(|(m, _)| *m == metric)
                    .map(|(_, c)| *c)
                    .unwrap_or(0);
                MetricReport {
                    overage: billed
                        .then(|| OverageReport::of(tier, &metric, count, (start, end, now())))
                        .flatten(),
                    metric,
                    count,
                    limit,
                    enforcement,
                    period_start: start,
                    period_end: end,
                }
            })
            .collect())
    }

    /// The signed-in user's state, registering them on first sight.
    pub async fn customer_state(&self, ctx: &UserContext) -> AppResult<CustomerState> {
        let at = now();
        let plan = self.user_plan(ctx, at).await?;
        let usage = self
            .usage_reports(&ctx.tenant, &ctx.user.user_id, &plan)
            .await?;
        let subscription = plan
            .subscription
            .filter(|s| s.grants_tier() && s.tier_id == plan.tier.id);
        Ok(CustomerState {
            user_id: ctx.user.user_id.clone(),
            tier: plan.tier,
            usage,
            period: plan.period,
            subscription,
        })
    }
}
