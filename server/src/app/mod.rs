//! The domain: tenancy, identity, usage, catalogue and customers. Transport-agnostic: it
//! takes validated inputs, enforces the rules, and calls the [`Store`].

pub mod billing;
pub mod catalog;
mod customers;
pub mod error;
pub mod identity;
pub mod ids;
pub mod ratelimit;
mod tenancy;
mod usage;
mod webhooks;

use chrono::{DateTime, Datelike, TimeZone, Utc};

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
    /// Rate limits: where buckets live, the rule for anonymous reads per publishable key, and
    /// each user's rule (their tier's), cached for a few seconds.
    limits: RateLimits,
}

/// Everything rate limiting needs.
pub struct RateLimits {
    pub limiter: ratelimit::Limiter,
    /// Per publishable key on anonymous reads; `None` leaves them unlimited.
    pub public: Option<ratelimit::Rule>,
    /// (tenant, user) → the user's tier's rule.
    user_rules: moka::future::Cache<(Tenant, String), Option<ratelimit::Rule>>,
}

impl RateLimits {
    /// How long a user's rule is reused before their tier is read again.
    pub const RULE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

    pub fn new(limiter: ratelimit::Limiter, public: Option<ratelimit::Rule>) -> RateLimits {
        RateLimits {
            limiter,
            public,
            user_rules: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Self::RULE_TTL)
                .build(),
        }
    }
}

impl App {
    pub async fn new(store: Store, operator_token: Option<String>) -> anyhow::Result<App> {
        let identity = Identity::load(&store, now()).await?;
        Ok(App {
            store,
            identity,
            operator_token,
            payments: Payments::none(),
            limits: RateLimits::new(
                ratelimit::Limiter::Local(ratelimit::LocalLimiter::new(100_000)),
                Some(ratelimit::Rule::per_seconds(100, 1)),
            ),
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
                let cache_key = (ctx.tenant.clone(), ctx.user.user_id.clone());
                let rule = self
                    .limits
                    .user_rules
                    .try_get_with(cache_key, self.user_rule(ctx))
                    .await
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
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

    /// Drops the cached rate-limit rule of a user whose plan changed (other replicas pick the
    /// change up within [`RateLimits::RULE_TTL`]).
    pub(crate) async fn forget_rate_rule(&self, tenant: &Tenant, user_id: &str) {
        self.limits
            .user_rules
            .invalidate(&(tenant.clone(), user_id.to_string()))
            .await;
    }

    /// Drops every cached rule, after a tier changed.
    pub(crate) fn forget_rate_rules(&self) {
        self.limits.user_rules.invalidate_all();
    }

    /// The rate limit of the user's tier (without registering a user seen for the first time).
    async fn user_rule(&self, ctx: &UserContext) -> AppResult<Option<ratelimit::Rule>> {
        let tier = match self
            .store
            .customer_get(&ctx.tenant, &ctx.user.user_id)
            .await?
        {
            Some(customer) => self.plan_of(&ctx.tenant, &customer, now()).await?.tier,
            None => self.store.tier_default(&ctx.tenant).await?.ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "tenant {:?} has no default tier",
                    ctx.tenant
                ))
            })?,
        };
        Ok(tier.rate_limit.map(|r| {
            ratelimit::Rule::per_seconds(r.requests.max(1) as u64, r.per_seconds.max(1) as u64)
        }))
    }

    /// Billing through these Stripe clients (without, billing answers `not_supported`).
    pub fn with_payments(mut self, payments: Payments) -> App {
        self.payments = payments;
        self
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
