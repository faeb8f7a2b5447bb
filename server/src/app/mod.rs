//! The domain: tenancy, identity, usage, catalogue and customers. Transport-agnostic: it
//! takes validated inputs, enforces the rules, and calls the [`Store`].

pub mod assets;
pub mod audit;
pub mod billing;
mod build;
pub mod cart;
pub mod cart_outcome;
pub mod catalog;
pub mod catch_up;
mod customers;
pub mod error;
pub mod identity;
pub mod metering;
pub mod metrics;
mod overage;
pub mod ratelimit;
mod replica;
mod sessions;
mod tenancy;
mod usage;
mod webhooks;

use chrono::{DateTime, Datelike, TimeZone, Utc};

pub use audit::Actor;
pub use billing::{CheckoutLink, Payments, Plan};
pub use build::Serving;
pub use customers::CustomerView;
pub use error::{AppError, AppResult, ErrorClass};
pub use identity::{Identity, VerifiedUser};
pub use tenancy::{CreatedProject, Principal, SettingsChanges};
pub use usage::{CustomerState, MetricReport};
pub use webhooks::Receipt;

use crate::domain::Tenant;
use crate::store::Store;

/// How long a readiness probe waits for the database before it answers "not ready".
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// The application: every domain operation hangs off this.
pub struct App {
    /// The database; only the domain reaches it.
    store: Store,
    /// Token verification and the development issuer.
    pub identity: Identity,
    /// The operator token that may create projects; `None` disables that route.
    operator_token: Option<String>,
    /// The token `/metrics` asks for; `None` leaves it open.
    metrics_token: Option<String>,
    /// Stripe: a client per mode and the webhook signing secrets.
    payments: Payments,
    /// Rate limits: where buckets live, and the rule for anonymous reads per publishable key.
    limits: RateLimits,
    /// What the hot path reads on every request, kept briefly (see `replica`).
    caches: replica::Caches,
    /// Tells the other replicas whose counters changed (see `replica`).
    announcer: std::sync::Arc<replica::Announcer>,
    /// Usage counted here and not yet written to the time series (see `metrics`).
    recorder: metrics::Recorder,
    /// Where assets' bytes are stored, and the limits on them.
    assets: assets::Assets,
    /// What `/metrics` exports.
    telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
}

/// Everything rate limiting needs.
struct RateLimits {
    limiter: ratelimit::Limiter,
    /// Per publishable key on anonymous reads; `None` leaves them unlimited.
    public: Option<ratelimit::Rule>,
}

impl App {
    /// Decides whether `principal` may make one more request now. `None`: no limit applies
    /// (secret keys, operators, anonymous routes, a tier without a rate limit) or the limiter
    /// could not decide.
    pub async fn rate_limit(
        &self,
        principal: &Principal,
    ) -> AppResult<Option<ratelimit::Decision>> {
        let (key, rule) = match principal {
            Principal::User(ctx) => {
                let rule = self
                    .user_plan(ctx, now())
                    .await?
                    .tier
                    .rate_limit
                    .as_ref()
                    .map(|r| {
                        ratelimit::Rule::per_seconds(
                            r.requests.max(1) as u64,
                            r.per_seconds.max(1) as u64,
                        )
                    });
                // `u:{project}:{mode}:{user}`, put together without the formatter (every request).
                let (project, mode, user) = (
                    ctx.tenant.project_id.as_str(),
                    ctx.tenant.mode.as_str(),
                    ctx.user.user_id.as_str(),
                );
                let mut key = String::with_capacity(4 + project.len() + mode.len() + user.len());
                for part in ["u:", project, ":", mode, ":", user] {
                    key.push_str(part);
                }
                (key, rule)
            }
            Principal::Publishable(tenant) => (
                format!("pk:{}:{}", tenant.project_id, tenant.mode.as_str()),
                self.limits.public,
            ),
            _ => return Ok(None),
        };
        let Some(rule) = rule else {
            return Ok(None);
        };
        let decision = self.limits.limiter.check(&key, rule).await;
        self.telemetry.rate_limit_decision(
            matches!(principal, Principal::User(_)),
            decision.as_ref().map(|d| d.allowed),
        );
        Ok(decision)
    }

    /// The metrics, for `/metrics`: the counters kept as things happen, and the gauges read
    /// now (the database pool and how long a connection takes to get from it, the replica
    /// channel, the usage series).
    pub async fn metrics_text(&self) -> String {
        let t = &self.telemetry;
        let limit = std::time::Duration::from_secs(1);
        let wait = self.store.pool_wait(limit).await.unwrap_or(limit);
        t.db_pool_wait.set(wait.as_secs_f64());
        let (size, idle, max) = self.store.pool_stats();
        for (state, value) in [
            ("open", size as usize),
            ("idle", idle),
            ("max", max as usize),
        ] {
            t.db_connections
                .get_or_create(&crate::telemetry::PoolLabels { state })
                .set(value as i64);
        }
        t.replica_hearing.set(i64::from(self.caches.hearing()));
        let (pending, last_flush) = self.recorder.state();
        t.usage_series_pending.set(pending as i64);
        t.usage_series_flush_age.set(match last_flush {
            Some(at) => at.elapsed().as_secs_f64(),
            None => 0.0,
        });
        t.encode()
    }

    /// Whether `presented` (an `Authorization` header's bearer token, if any) may read
    /// `/metrics`: always when no metrics token is configured.
    pub fn metrics_allowed(&self, presented: Option<&str>) -> bool {
        match (&self.metrics_token, presented) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(expected), Some(presented)) => {
                crate::domain::ids::same_secret(presented, expected)
            }
        }
    }

    /// The app's metrics, for the request middleware.
    pub fn telemetry(&self) -> &std::sync::Arc<crate::telemetry::Telemetry> {
        &self.telemetry
    }

    /// Whether the database answers (readiness).
    pub async fn ready(&self) -> bool {
        // A probe is answered promptly either way: a database that does not answer within
        // the bound is as good as down.
        tokio::time::timeout(READY_WITHIN, self.store.ping())
            .await
            .unwrap_or(false)
    }

    /// How many Stripe webhook signing secrets the server accepts.
    pub fn webhook_secret_count(&self) -> usize {
        self.payments.webhook_secrets.len()
    }
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// A usage period: the calendar month (UTC) containing a moment, or a subscription's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The stored key, `YYYY-MM`.
    pub key: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// The calendar month containing `at`: on every request, so each thread keeps the last
    /// one it computed and reuses it while `at` falls inside.
    pub fn containing(at: i64) -> Period {
        thread_local! {
            static LAST: std::cell::RefCell<Option<Period>> = const { std::cell::RefCell::new(None) };
        }
        LAST.with(|last| {
            if let Some(period) = last.borrow().as_ref()
                && period.start.timestamp() <= at
                && at < period.end.timestamp()
            {
                return period.clone();
            }
            let period = Period::compute_containing(at);
            *last.borrow_mut() = Some(period.clone());
            period
        })
    }

    fn compute_containing(at: i64) -> Period {
        let at = Utc.timestamp_opt(at, 0).single().unwrap_or_else(Utc::now);
        let start = Utc
            .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
            .single()
            .expect("the first of a month exists");
        let (y, m) = if at.month() == 12 {
            (at.year() + 1, 1)
        } else {
            (at.year(), at.month() + 1)
        };
        let end = Utc
            .with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .expect("the first of a month exists");
        Period {
            key: format!("{:04}-{:02}", at.year(), at.month()),
            start,
            end,
        }
    }
}

impl Period {
    /// A subscription's billing period `[start, end)`: a renewal starts a new count.
    pub fn subscription(start: i64, end: i64) -> Period {
        let at = |t: i64| Utc.timestamp_opt(t, 0).single().unwrap_or_else(Utc::now);
        Period {
            key: format!("sub-{start}"),
            start: at(start),
            end: at(end),
        }
    }
}

/// A user acting within a tenant.
#[derive(Debug, Clone)]
pub struct UserContext {
    pub tenant: Tenant,
    pub user: VerifiedUser,
    /// The user's plan, once this request has looked it up.
    pub plan: std::sync::OnceLock<std::sync::Arc<replica::PlanBasis>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_months() {
        // 2026-12-31T23:59:59Z
        let p = Period::containing(1_798_761_599);
        assert_eq!(p.key, "2026-12");
        assert_eq!(p.start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(p.end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        let next = Period::containing(1_798_761_600);
        assert_eq!(next.key, "2027-01");
    }
}
