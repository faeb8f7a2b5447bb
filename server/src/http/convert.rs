//! Domain values to the spec's response types.

use chrono::{TimeZone, Utc};

use crate::app::assets::Assets;
use crate::app::{AppError, AppResult, CustomerState, CustomerView, MetricReport, metrics};
use crate::domain::{
    ActorKind, ApiKey, Asset, AuditEntry, AuthSettings, BillingEvent, BillingSettings, Enforcement,
    KeyKind, Mode, Payment, PaymentKind, PriceInterval, Product, Project, Tier, TrialPaymentMethod,
};
use crate::generated::types;

pub fn ts(seconds: i64) -> types::Timestamp {
    types::Timestamp(Utc.timestamp_opt(seconds, 0).single().unwrap_or_default())
}

pub fn mode(mode: Mode) -> types::Mode {
    match mode {
        Mode::Test => types::Mode::Test,
        Mode::Live => types::Mode::Live,
    }
}

pub fn enforcement(e: Enforcement) -> types::Enforcement {
    match e {
        Enforcement::Hard => types::Enforcement::Hard,
        Enforcement::Soft => types::Enforcement::Soft,
    }
}

pub fn enforcement_in(e: types::Enforcement) -> Enforcement {
    match e {
        types::Enforcement::Hard => Enforcement::Hard,
        types::Enforcement::Soft => Enforcement::Soft,
    }
}

pub fn interval_in(i: types::TierPriceInterval) -> PriceInterval {
    match i {
        types::TierPriceInterval::Month => PriceInterval::Month,
        types::TierPriceInterval::Year => PriceInterval::Year,
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored {what} does not fit the spec: {e}"))
}

pub fn usage(r: &MetricReport) -> types::Usage {
    types::Usage {
        metric: r.metric.clone(),
        usage_count: r.count,
        limit: r.limit,
        remaining: r.remaining(),
        enforcement: enforcement(r.enforcement),
        period_start: ts(r.period_start),
        period_end: ts(r.period_end),
    }
}

fn metric_usage(r: &MetricReport) -> types::MetricUsage {
    types::MetricUsage {
        metric: r.metric.clone(),
        usage_count: r.count,
        limit: r.limit,
        remaining: r.remaining(),
        enforcement: enforcement(r.enforcement),
        overage: r.overage.as_ref().and_then(|o| {
            Some(types::MetricOverage {
                included: o.included,
                units: o.units,
                amount: o.amount,
                projected_amount: o.projected_amount,
                currency: o.currency.clone().try_into().ok()?,
            })
        }),
    }
}

pub fn tier_ref(t: &Tier) -> types::TierRef {
    types::TierRef {
        id: t.id.clone(),
        name: t.name.clone(),
        display_name: t.display_name.clone(),
    }
}

pub fn tier(t: &Tier) -> AppResult<types::Tier> {
    let limits = t
        .limits
        .iter()
        .map(|l| {
            Ok(types::TierLimit {
                metric: l
                    .metric
                    .clone()
                    .try_into()
                    .map_err(|e| corrupt("metric", e))?,
                limit: l.limit,
                enforcement: enforcement(l.enforcement),
                overage: match l.overage {
                    Some(o) => Some(types::TierOverage {
                        unit_amount: u64::try_from(o.unit_amount)
                            .ok()
                            .and_then(std::num::NonZeroU64::new)
                            .ok_or_else(|| corrupt("overage", o.unit_amount))?,
                        per_units: u64::try_from(o.per_units)
                            .ok()
                            .and_then(std::num::NonZeroU64::new)
                            .ok_or_else(|| corrupt("overage", o.per_units))?,
                    }),
                    None => None,
                },
            })
        })
        .collect::<AppResult<_>>()?;
    let price = match &t.price {
        Some(p) => Some(types::TierPrice {
            currency: p
                .currency
                .clone()
                .try_into()
                .map_err(|e| corrupt("currency", e))?,
            unit_amount: p.unit_amount,
            interval: match p.interval {
                PriceInterval::Month => types::TierPriceInterval::Month,
                PriceInterval::Year => types::TierPriceInterval::Year,
            },
        }),
        None => None,
    };
    let rate_limit = match &t.rate_limit {
        Some(r) => Some(types::RateLimit {
            requests: u32::try_from(r.requests)
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .ok_or_else(|| corrupt("rate limit", r.requests))?,
            per_seconds: u32::try_from(r.per_seconds)
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .ok_or_else(|| corrupt("rate limit", r.per_seconds))?,
        }),
        None => None,
    };
    Ok(types::Tier {
        id: t.id.clone(),
        name: t.name.clone(),
        display_name: t.display_name.clone(),
        is_default: t.is_default,
        active: t.active,
        price,
        trial: t.trial.map(|trial| types::TierTrial {
            days: i32::try_from(trial.days).unwrap_or(i32::MAX),
            payment_method: match trial.payment_method {
                TrialPaymentMethod::Required => types::TierTrialPaymentMethod::Required,
                TrialPaymentMethod::Optional => types::TierTrialPaymentMethod::Optional,
            },
        }),
        limits,
        rate_limit,
        features: t.features.clone(),
        created_at: ts(t.created_at),
        updated_at: ts(t.updated_at),
    })
}

pub fn asset(a: &Asset, assets: &Assets) -> types::Asset {
    types::Asset {
        id: a.id.clone(),
        filename: a.filename.clone(),
        content_type: a.content_type.clone(),
        size: a.size,
        sha256: a.sha256.clone(),
        product_id: a.product_id.clone(),
        url: assets.url(&a.id, &a.filename),
        created_at: ts(a.created_at),
    }
}

pub fn product(p: &Product, assets: &Assets) -> AppResult<types::Product> {
    let metadata = p
        .metadata
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.clone().try_into().map_err(|e| corrupt("metadata", e))?,
            ))
        })
        .collect::<AppResult<_>>()?;
    Ok(types::Product {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        active: p.active,
        metadata: types::Metadata(metadata),
        images: p
            .images
            .iter()
            .map(|image| types::ProductImage {
                asset_id: image.asset_id.clone(),
                url: assets.url(&image.asset_id, &image.filename),
                content_type: image.content_type.clone(),
                filename: image.filename.clone(),
            })
            .collect(),
        prices: p
            .prices
            .iter()
            .map(|pr| types::Price {
                id: pr.id.clone(),
                currency: pr.currency.clone(),
                unit_amount: pr.unit_amount,
            })
            .collect(),
        created_at: ts(p.created_at),
        updated_at: ts(p.updated_at),
    })
}

pub fn customer_state(s: &CustomerState) -> AppResult<types::CustomerState> {
    Ok(types::CustomerState {
        user_id: s.user_id.clone(),
        tier: tier_ref(&s.tier),
        features: s.tier.features.clone(),
        usage: s.usage.iter().map(metric_usage).collect(),
        period_start: types::Timestamp(s.period.start),
        period_end: types::Timestamp(s.period.end),
        subscription: s
            .subscription
            .as_ref()
            .map(|sub| subscription(sub, &s.tier))
            .transpose()?,
    })
}

fn subscription(s: &crate::domain::Subscription, tier: &Tier) -> AppResult<types::Subscription> {
    Ok(types::Subscription {
        id: s.id.clone(),
        status: s
            .status
            .parse()
            .map_err(|e| corrupt("subscription status", e))?,
        tier: tier_ref(tier),
        current_period_start: ts(s.period_start),
        current_period_end: ts(s.period_end),
        cancel_at_period_end: s.cancel_at_period_end,
        trial_end: s.trial_end.map(ts),
    })
}

pub fn customer(v: &CustomerView) -> types::Customer {
    types::Customer {
        user_id: v.customer.user_id.clone(),
        email: v.customer.email.clone(),
        tier: tier_ref(&v.tier),
        plan_override: v.customer.tier_override_id.is_some(),
        created_at: ts(v.customer.created_at),
    }
}

pub fn customer_detail(v: &CustomerView) -> AppResult<types::CustomerDetail> {
    let (usage, period) = v
        .usage
        .as_ref()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("customer detail without usage")))?;
    Ok(types::CustomerDetail {
        user_id: v.customer.user_id.clone(),
        email: v.customer.email.clone(),
        tier: tier_ref(&v.tier),
        features: v.tier.features.clone(),
        plan_override: v.customer.tier_override_id.is_some(),
        created_at: ts(v.customer.created_at),
        usage: usage.iter().map(metric_usage).collect(),
        period_start: types::Timestamp(period.start),
        period_end: types::Timestamp(period.end),
        billing: customer_billing(v)?,
    })
}

fn customer_billing(v: &CustomerView) -> AppResult<Option<types::CustomerBilling>> {
    if v.customer.stripe_customer_id.is_none() && v.subscription.is_none() {
        return Ok(None);
    }
    let subscription = v
        .subscription
        .as_ref()
        .map(|(s, tier)| subscription(s, tier))
        .transpose()?;
    Ok(Some(types::CustomerBilling {
        stripe_customer_id: v.customer.stripe_customer_id.clone(),
        subscription,
    }))
}

pub fn checkout(link: crate::app::CheckoutLink) -> types::CheckoutSession {
    types::CheckoutSession {
        id: link.id,
        url: link.url,
    }
}

pub fn cart_outcome(
    o: crate::app::cart_outcome::CartOutcome,
) -> AppResult<types::CartCheckoutOutcome> {
    Ok(types::CartCheckoutOutcome {
        status: o
            .status
            .parse()
            .map_err(|e| corrupt("checkout status", e))?,
        payment_status: o
            .payment_status
            .parse()
            .map_err(|e| corrupt("checkout payment status", e))?,
        currency: currency(&o.currency)?,
        id: o.id,
        recorded: o.recorded,
        amount_total: o.amount_total,
        customer_email: o.customer_email,
        items: o
            .items
            .into_iter()
            .map(|i| types::CartCheckoutItem {
                product_id: i.product_id,
                name: i.name,
                quantity: i.quantity,
                unit_amount: i.unit_amount,
                amount_total: i.amount_total,
            })
            .collect(),
    })
}

pub fn billing_event(e: &BillingEvent) -> AppResult<types::BillingEvent> {
    let payload: serde_json::Value =
        serde_json::from_str(&e.payload).map_err(|err| corrupt("event payload", err))?;
    Ok(types::BillingEvent {
        id: e.id.clone(),
        type_: e.kind.clone(),
        status: e
            .status
            .parse()
            .map_err(|err| corrupt("event status", err))?,
        message: e.message.clone(),
        user_id: e.user_id.clone(),
        created_at: ts(e.created),
        received_at: ts(e.received_at),
        payload: payload.as_object().cloned().unwrap_or_default(),
    })
}

pub fn payment(p: &Payment) -> AppResult<types::Payment> {
    Ok(types::Payment {
        id: p.id.clone(),
        kind: match p.kind {
            PaymentKind::Subscription => types::PaymentKind::Subscription,
            PaymentKind::Cart => types::PaymentKind::Cart,
        },
        user_id: p.user_id.clone(),
        customer_email: p.customer_email.clone(),
        amount: p.amount,
        currency: p.currency.clone(),
        paid_at: ts(p.paid_at),
    })
}

pub fn api_key(k: &ApiKey) -> types::ApiKey {
    types::ApiKey {
        id: k.id.clone(),
        kind: match k.kind {
            KeyKind::Publishable => types::KeyKind::Publishable,
            KeyKind::Secret => types::KeyKind::Secret,
        },
        mode: mode(k.tenant.mode),
        token: k.display.clone(),
        created_at: ts(k.created_at),
        expires_at: k.expires_at.map(ts),
    }
}

pub fn settings(p: &Project, m: Mode, s: &AuthSettings, b: &BillingSettings) -> types::Settings {
    types::Settings {
        project: project(p),
        mode: mode(m),
        jwt: types::JwtSettings {
            issuer: s.jwt_issuer.clone(),
            jwks_url: s.jwks_url.clone(),
            allowed_origins: s.allowed_origins.clone(),
            leeway_seconds: s.leeway_seconds as i32,
        },
        dev_issuer_enabled: s.dev_issuer_enabled,
        billing: types::BillingSettings {
            connected_account: b.stripe_account.clone(),
            platform_fee_percent: b.platform_fee_bps as f64 / 100.0,
            site_url: b.site_url.clone(),
        },
    }
}

fn points(points: &[(i64, i64)]) -> Vec<types::SeriesPoint> {
    points
        .iter()
        .map(|&(start, value)| types::SeriesPoint {
            start: ts(start),
            value,
        })
        .collect()
}

fn interval(i: metrics::Interval) -> types::MetricsInterval {
    match i {
        metrics::Interval::Hour => types::MetricsInterval::Hour,
        metrics::Interval::Day => types::MetricsInterval::Day,
    }
}

fn currency(c: &str) -> AppResult<types::Currency> {
    c.parse().map_err(|e| corrupt("currency", e))
}

pub fn usage_metrics(m: &metrics::UsageMetrics) -> types::UsageMetrics {
    types::UsageMetrics {
        interval: interval(m.range.interval),
        from: ts(m.range.from),
        to: ts(m.range.to),
        metrics: m
            .metrics
            .iter()
            .map(|(metric, total, series)| types::MetricSeries {
                metric: metric.clone(),
                total: *total,
                points: points(series),
            })
            .collect(),
        active_users: points(&m.active_users),
        active_users_total: m.active_users_total,
    }
}

pub fn revenue_metrics(m: &metrics::RevenueMetrics) -> AppResult<types::RevenueMetrics> {
    Ok(types::RevenueMetrics {
        interval: interval(m.range.interval),
        from: ts(m.range.from),
        to: ts(m.range.to),
        currencies: m
            .currencies
            .iter()
            .map(|(c, total, series)| {
                Ok(types::CurrencySeries {
                    currency: currency(c)?,
                    total: *total,
                    points: points(series),
                })
            })
            .collect::<AppResult<_>>()?,
        mrr: m
            .mrr
            .iter()
            .map(|(c, amount)| {
                Ok(types::MoneyAmount {
                    currency: currency(c)?,
                    amount: *amount,
                })
            })
            .collect::<AppResult<_>>()?,
        live_subscriptions: m.live_subscriptions,
    })
}

pub fn overview(o: &metrics::Overview) -> types::MetricsOverview {
    types::MetricsOverview {
        customers: o.customers,
        tiers: o
            .tiers
            .iter()
            .map(|(tier, customers)| types::TierCount {
                tier: tier_ref(tier),
                customers: *customers,
            })
            .collect(),
        active_users24h: o.active_users_24h,
        active_users30d: o.active_users_30d,
    }
}

pub fn audit_entry(e: &AuditEntry) -> AppResult<types::AuditEntry> {
    Ok(types::AuditEntry {
        id: e.id.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        actor: types::AuditActor {
            kind: match e.actor_kind {
                ActorKind::SecretKey => types::AuditActorKind::SecretKey,
                ActorKind::Dashboard => types::AuditActorKind::Dashboard,
            },
            label: e.actor_label.clone(),
        },
        summary: e.summary.clone(),
        created_at: ts(e.created_at),
    })
}

pub fn project(p: &Project) -> types::Project {
    types::Project {
        id: p.id.clone(),
        name: p.name.clone(),
        created_at: ts(p.created_at),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};

    use crate::generated::types::Timestamp;

    /// The generated `Timestamp` writes its own text on the common case; every value reads
    /// as chrono writes it, the common case and the ones handed to chrono alike.
    #[test]
    fn a_timestamp_is_written_as_chrono_writes_it() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_000))
            .map(|t| t.and_utc());
        let values: Vec<DateTime<Utc>> = [
            Utc.timestamp_opt(0, 0).single(),
            Utc.timestamp_opt(1_764_547_200, 0).single(),
            Utc.timestamp_opt(1_764_547_200, 5_000_000).single(),
            Utc.timestamp_opt(1_764_547_261, 123_456_789).single(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 30, 5).single(),
            Utc.with_ymd_and_hms(2024, 2, 29, 9, 5, 7).single(),
            leap,
        ]
        .into_iter()
        .map(|v| v.expect("a valid test timestamp"))
        .collect();
        for value in values {
            let ours = serde_json::to_string(&Timestamp(value)).unwrap();
            let chrono = serde_json::to_string(&value).unwrap();
            assert_eq!(ours, chrono, "{value:?}");
        }
        assert_eq!(
            serde_json::to_string(&Timestamp(Utc.timestamp_opt(1_764_547_200, 0).unwrap()))
                .unwrap(),
            "\"2025-12-01T00:00:00Z\""
        );
    }
}
