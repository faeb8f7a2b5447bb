//! The domain: tenancy, identity, usage, catalogue and customers. Transport-agnostic: it
//! takes validated inputs, enforces the rules, and calls the [`Store`].

pub mod audit;
pub mod billing;
mod cache;
pub mod catalog;
mod customers;
pub mod error;
pub mod identity;
pub mod ids;
pub mod metrics;
pub mod ratelimit;
mod tenancy;
mod usage;
mod webhooks;

use chrono::{DateTime, Datelike, TimeZone, Utc};

pub use audit::Actor;
pub use billing::{CheckoutLink, Payments, Plan};
pub use customers::CustomerView;
pub use error::{AppError, AppResult, ErrorClass};
pub use identity::{Identity, VerifiedUser};
pub use tenancy::{CreatedProject, Principal};
pub use usage::{CustomerState, MetricReport};
pub use webhooks::Receipt;

use crate::store::{Store, Tenant};

/// The application: every domain operation hangs off this.
pub struct App {
    /// The database.
    pub store: Store,
    /// Token verification and the development issuer.
    pub identity: Identity,
    /// The operator token that may create projects; `None` disables that route.
    operator_token: Option<String>,
    /// Stripe: a client per mode and the webhook signing secrets.
    payments: Payments,
    /// Rate limits: where buckets live, and the rule for anonymous reads per publishable key.
    limits: RateLimits,
    /// What the hot path reads on every request, kept briefly (see `cache`).
    caches: cache::Caches,
    /// Usage counted here and not yet written to the time series (see `metrics`).
    recorder: metrics::Recorder,
}

/// Everything rate limiting needs.
pub struct RateLimits {
    pub limiter: ratelimit::Limiter,
    /// Per publishable key on anonymous reads; `None` leaves them unlimited.
    pub public: Option<ratelimit::Rule>,
}

impl RateLimits {
    pub fn new(limiter: ratelimit::Limiter, public: Option<ratelimit::Rule>) -> RateLimits {
        RateLimits { limiter, public }
    }
}

impl App {
    pub async fn new(store: Store, operator_token: Option<String>) -> anyhow::Result<App> {
        let identity = Identity::load(&store, now()).await?;
        // Alone on its database (SQLite), a server sees every change it makes; on Postgres it
        // hears the others' only once its listener runs.
        let hearing = !store.announces();
        Ok(App {
            store,
            identity,
            operator_token,
            payments: Payments::none(),
            limits: RateLimits::new(
                ratelimit::Limiter::Local(ratelimit::LocalLimiter::new(100_000)),
                Some(ratelimit::Rule::per_seconds(100, 1)),
            ),
            caches: cache::Caches::new(hearing),
            recorder: metrics::Recorder::default(),
        })
    }

    /// Rate limits kept by this limiter, with this rule for anonymous reads.
    pub fn with_rate_limits(mut self, limits: RateLimits) -> App {
        self.limits = limits;
        self
    }

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
                let key = format!(
                    "u:{}:{}:{}",
                    ctx.tenant.project_id,
                    ctx.tenant.mode.as_str(),
                    ctx.user.user_id
                );
                (key, rule)
            }
            Principal::Publishable(tenant) => (
                format!("pk:{}:{}", tenant.project_id, tenant.mode.as_str()),
                self.limits.public,
            ),
            _ => return Ok(None),
        };
        match rule {
            Some(rule) => Ok(self.limits.limiter.check(&key, rule).await),
            None => Ok(None),
        }
    }

    /// Drops a cached copy here at once, and has every other replica drop theirs (they hear
    /// it through the database within milliseconds; see `cache`).
    pub(crate) async fn forget(&self, forget: cache::Forget) {
        self.caches.forget(&forget);
        if let Err(e) = self.store.cache_notify(&forget.notice()).await {
            tracing::warn!(error = %e, "could not tell other replicas to drop a cached copy; theirs expires within a minute");
        }
    }

    /// Acts on what the change listener heard: a notice names a copy to drop; while the
    /// connection is down notices may be lost, so every copy goes and no counter is kept
    /// until it listens again.
    pub fn heard(&self, heard: crate::store::notify::Heard) {
        use crate::store::notify::Heard;
        let is_notice = matches!(heard, Heard::Notice(_));
        match heard {
            Heard::Notice(notice) => match cache::Forget::from_notice(&notice) {
                // This replica dropped its copies when it made those changes.
                Some(cache::Forget::Usage { from, .. } | cache::Forget::AllUsage { from })
                    if from == self.store.replica_id() => {}
                Some(forget) => self.caches.forget(&forget),
                None => {
                    tracing::warn!(%notice, "an unknown cache notice; dropping every copy");
                    self.caches.forget_all();
                }
            },
            Heard::Listening => self.caches.set_hearing(true),
            Heard::Lost(error) => {
                tracing::warn!(%error, "listening for other replicas' changes failed; reading counters from the database until it works again");
                self.caches.set_hearing(false);
            }
        }
        // After a lost connection no notice comes before `Listening`; a notice heard while
        // deaf means a silent connection spoke again: what it carries is late, never lost.
        if is_notice && !self.caches.hearing() {
            self.caches.set_hearing(true);
        }
    }

    /// Whether counter copies are kept: the change listener hears every notice.
    pub fn hearing(&self) -> bool {
        self.caches.hearing()
    }

    /// Stops keeping counter copies: the listener has heard nothing for too long (a
    /// connection can die without a word); the next notice it hears starts them again.
    pub fn deaf(&self) {
        self.caches.set_hearing(false);
    }

    /// Sends a notice that changes nothing, so that a quiet channel still proves it works.
    pub async fn heartbeat(&self) {
        if let Err(e) = self
            .store
            .cache_notify(&cache::Forget::Nothing.notice())
            .await
        {
            tracing::debug!(error = %e, "could not send a heartbeat notice");
        }
    }

    /// Billing through these Stripe clients (without, billing answers `not_supported`).
    pub fn with_payments(mut self, payments: Payments) -> App {
        self.payments = payments;
        self
    }

    /// Usage time series on (the default) or off.
    pub fn with_usage_series(mut self, on: bool) -> App {
        if !on {
            self.recorder = metrics::Recorder::off();
        }
        self
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
    pub fn containing(at: i64) -> Period {
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
    pub plan: std::sync::OnceLock<std::sync::Arc<cache::PlanBasis>>,
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
