//! Metrics and the audit log: usage over time, active users, the overview, resetting a
//! customer's usage, and who changed what.
//!
//! Usage series may trail a track by about a second (the spec says so), so those checks wait
//! for the figure rather than reading it once.

use std::num::NonZeroU64;

use chrono::{Duration, Utc};
use dream_client::types;

use super::catalog::{create_tier, tier_name};
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys};
use crate::stripe::eventually;
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "metrics.usage-series",
            Core,
            ["MET-001", "MET-002"],
            "tracked usage shows up per metric and bucket, with distinct active users, only for its tenant",
            usage_series
        ),
        case!(
            "metrics.ranges",
            Core,
            ["MET-002"],
            "ranges are whole buckets; inverted or oversized ranges are refused",
            ranges
        ),
        case!(
            "metrics.overview",
            Core,
            ["MET-003"],
            "the overview counts customers per tier and active users",
            overview
        ),
        case!(
            "customers.usage-reset",
            Core,
            ["CUST-004"],
            "resetting a customer's usage gives their allowance back",
            usage_reset
        ),
        case!(
            "audit.log",
            Core,
            ["AUD-001", "AUD-002"],
            "changes made with a secret key are listed newest first, keys redacted, per tenant",
            audit_log
        ),
    ]
}

async fn track(ctx: &Ctx, keys: &Keys, user: &str, metric: &str, amount: u64) -> CaseResult {
    ctx.user(keys, &ctx.token(user))
        .track_usage()
        .body_map(|b| {
            b.metric(Some(metric.parse().unwrap()))
                .amount(NonZeroU64::new(amount).unwrap())
        })
        .send()
        .await
        .succeeds("trackUsage")?;
    Ok(())
}

fn total(metrics: &types::UsageMetrics, metric: &str) -> i64 {
    metrics
        .metrics
        .iter()
        .find(|m| m.metric == metric)
        .map_or(0, |m| m.total)
}

async fn usage_series(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let ada = ctx.user_id("ada");
    let bob = ctx.user_id("bob");
    track(&ctx, &project.test, &ada, "requests", 2).await?;
    track(&ctx, &project.test, &ada, "requests", 2).await?;
    track(&ctx, &project.test, &bob, "tokens", 5).await?;
    let admin = ctx.secret(&project.test);
    let hourly = eventually("the tracked usage in getUsageMetrics", || async {
        let m = admin
            .get_usage_metrics()
            .send()
            .await
            .succeeds("getUsageMetrics")?;
        Ok((total(&m, "requests") == 4 && total(&m, "tokens") == 5).then_some(m))
    })
    .await?;
    ensure_eq!(
        hourly.interval,
        types::MetricsInterval::Hour,
        "default interval"
    );
    let buckets = |m: &types::UsageMetrics| (m.to.0 - m.from.0).num_seconds();
    ensure_eq!(buckets(&hourly), 24 * 3600, "the default hourly range");
    for series in &hourly.metrics {
        ensure_eq!(series.points.len(), 24, "points of {}", series.metric);
        ensure_eq!(
            series.points.iter().map(|p| p.value).sum::<i64>(),
            series.total,
            "the total of {} is the sum of its points",
            series.metric
        );
        ensure!(
            series
                .points
                .windows(2)
                .all(|w| (w[1].start.0 - w[0].start.0).num_seconds() == 3600),
            "hourly points are an hour apart"
        );
    }
    ensure_eq!(hourly.active_users.len(), 24, "active-user points");
    // Both users tracked within this hour, or (on an hour's edge) across two adjacent hours.
    let active: Vec<i64> = hourly
        .active_users
        .iter()
        .map(|p| p.value)
        .filter(|v| *v > 0)
        .collect();
    ensure!(
        active == [2]
            || (active.len() == 2
                && active.iter().all(|v| *v <= 2)
                && active.iter().sum::<i64>() <= 3),
        "distinct users active per hour: {active:?}"
    );

    let daily = admin
        .get_usage_metrics()
        .interval(types::MetricsInterval::Day)
        .send()
        .await
        .succeeds("getUsageMetrics by day")?;
    ensure_eq!(
        daily.metrics.first().map(|m| m.points.len()),
        Some(30),
        "default daily points"
    );
    ensure_eq!(
        (total(&daily, "requests"), total(&daily, "tokens")),
        (4, 5),
        "daily totals"
    );
    let only = admin
        .get_usage_metrics()
        .metric("tokens")
        .send()
        .await
        .succeeds("getUsageMetrics for one metric")?;
    let names: Vec<&str> = only.metrics.iter().map(|m| m.metric.as_str()).collect();
    ensure_eq!(names, vec!["tokens"], "metrics when filtered");

    // Another mode and another project see none of it.
    let live = ctx
        .secret(&project.live)
        .get_usage_metrics()
        .send()
        .await
        .succeeds("getUsageMetrics in live mode")?;
    ensure!(
        live.metrics.is_empty(),
        "live mode shows test usage: {:?}",
        live.metrics
    );
    ensure!(
        live.active_users.iter().all(|p| p.value == 0),
        "live mode counts test users as active"
    );
    let other = ctx.fresh_project().await?;
    let foreign = ctx
        .secret(&other.test)
        .get_usage_metrics()
        .send()
        .await
        .succeeds("getUsageMetrics of another project")?;
    ensure!(
        foreign.metrics.is_empty(),
        "another project shows this one's usage"
    );
    ctx.publishable(&project.test)
        .get_usage_metrics()
        .send()
        .await
        .refused(
            "getUsageMetrics with a publishable key",
            403,
            "secret_key_required",
        )?;
    Ok(())
}

async fn ranges(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let admin = ctx.secret(&project.test);
    let from = Utc::now() - Duration::days(3) - Duration::minutes(17);
    let to = Utc::now() - Duration::days(1);
    let m = admin
        .get_usage_metrics()
        .from(from)
        .to(to)
        .send()
        .await
        .succeeds("getUsageMetrics with a range")?;
    ensure_eq!(m.from.0.timestamp() % 3600, 0, "from is on an hour");
    ensure_eq!(m.to.0.timestamp() % 3600, 0, "to is on an hour");
    ensure!(
        m.from.0 <= from && from - m.from.0 < Duration::hours(1),
        "from is rounded down to its hour: asked {from}, got {}",
        m.from.0
    );
    ensure!(
        m.to.0 >= to && m.to.0 - to < Duration::hours(1),
        "to is rounded up to its hour: asked {to}, got {}",
        m.to.0
    );
    ensure_eq!(
        m.active_users.len() as i64,
        (m.to.0 - m.from.0).num_hours(),
        "one active-user point per hour"
    );
    admin
        .get_usage_metrics()
        .from(to)
        .to(from)
        .send()
        .await
        .refused(
            "getUsageMetrics with from after to",
            422,
            "validation_failed",
        )?;
    admin
        .get_usage_metrics()
        .from(Utc::now() - Duration::days(60))
        .send()
        .await
        .refused(
            "getUsageMetrics over 60 days by hour",
            422,
            "validation_failed",
        )?;
    let revenue = admin
        .get_revenue_metrics()
        .interval(types::MetricsInterval::Day)
        .from(Utc::now() - Duration::days(6))
        .send()
        .await
        .succeeds("getRevenueMetrics")?;
    ensure_eq!(
        (revenue.to.0 - revenue.from.0).num_days(),
        7,
        "six days back and today, by day"
    );
    admin
        .get_revenue_metrics()
        .interval(types::MetricsInterval::Day)
        .from(Utc::now() - Duration::days(400))
        .send()
        .await
        .refused("getRevenueMetrics over 400 days", 422, "validation_failed")?;
    Ok(())
}

async fn overview(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let users: Vec<String> = (0..3).map(|n| ctx.user_id(&format!("o{n}"))).collect();
    for user in &users {
        track(&ctx, &project.test, user, "requests", 1).await?;
    }
    let name = tier_name(&ctx, "gold");
    create_tier(
        &ctx,
        &project.test,
        &name,
        Some(100),
        types::Enforcement::Hard,
    )
    .await?;
    let admin = ctx.secret(&project.test);
    admin
        .update_customer()
        .user_id(users[0].as_str())
        .body_map(|b| b.tier(Some(name.parse().unwrap())))
        .send()
        .await
        .succeeds("updateCustomer")?;
    let overview = eventually("three active users in getMetricsOverview", || async {
        let o = admin
            .get_metrics_overview()
            .send()
            .await
            .succeeds("getMetricsOverview")?;
        Ok((o.active_users24h == 3).then_some(o))
    })
    .await?;
    ensure_eq!(overview.customers, 3, "customers");
    ensure_eq!(overview.active_users30d, 3, "active users in 30 days");
    let count = |tier: &str| {
        overview
            .tiers
            .iter()
            .find(|t| t.tier.name == tier)
            .map(|t| t.customers)
    };
    ensure_eq!(count(&name), Some(1), "customers on the overridden tier");
    ensure_eq!(
        overview.tiers.iter().map(|t| t.customers).sum::<i64>(),
        3,
        "customers over all tiers"
    );
    let live = ctx
        .secret(&project.live)
        .get_metrics_overview()
        .send()
        .await
        .succeeds("getMetricsOverview in live mode")?;
    ensure_eq!(
        (live.customers, live.active_users24h),
        (0, 0),
        "live mode's customers and active users"
    );
    Ok(())
}

async fn usage_reset(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let name = tier_name(&ctx, "tiny");
    create_tier(
        &ctx,
        &project.test,
        &name,
        Some(3),
        types::Enforcement::Hard,
    )
    .await?;
    let user = ctx.user_id("reset");
    let admin = ctx.secret(&project.test);
    ctx.user(&project.test, &ctx.token(&user))
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    admin
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(Some(name.parse().unwrap())))
        .send()
        .await
        .succeeds("updateCustomer")?;
    track(&ctx, &project.test, &user, "requests", 3).await?;
    ctx.user(&project.test, &ctx.token(&user))
        .track_usage()
        .send()
        .await
        .refused("trackUsage past the limit", 402, "usage_limit_exceeded")?;
    let after = admin
        .reset_customer_usage()
        .user_id(user.as_str())
        .send()
        .await
        .succeeds("resetCustomerUsage")?;
    let requests = after.usage.iter().find(|u| u.metric == "requests");
    ensure_eq!(
        requests.map(|u| (u.usage_count, u.remaining)),
        Some((0, Some(3))),
        "requests after the reset"
    );
    let tracked = ctx
        .user(&project.test, &ctx.token(&user))
        .track_usage()
        .send()
        .await
        .succeeds("trackUsage after the reset")?;
    ensure_eq!(tracked.usage_count, 1, "the count after the reset");
    admin
        .reset_customer_usage()
        .user_id("user_nobody_at_all")
        .send()
        .await
        .refused("resetCustomerUsage of an unknown user", 404, "not_found")?;
    ctx.secret(&project.live)
        .reset_customer_usage()
        .user_id(user.as_str())
        .send()
        .await
        .refused("resetCustomerUsage from the other mode", 404, "not_found")?;
    Ok(())
}

async fn audit_log(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let admin = ctx.secret(&project.test);
    let name = tier_name(&ctx, "audited");
    let tier = create_tier(
        &ctx,
        &project.test,
        &name,
        Some(10),
        types::Enforcement::Hard,
    )
    .await?;
    let user = ctx.user_id("audited");
    track(&ctx, &project.test, &user, "requests", 1).await?;
    admin
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(Some(name.parse().unwrap())))
        .send()
        .await
        .succeeds("updateCustomer")?;
    admin
        .update_settings()
        .body_map(|b| b.dev_issuer_enabled(Some(true)))
        .send()
        .await
        .succeeds("updateSettings")?;
    // A read is not a change.
    admin.list_tiers().send().await.succeeds("listTiers")?;

    let log = admin
        .list_audit_log()
        .send()
        .await
        .succeeds("listAuditLog")?;
    let actions: Vec<&str> = log.data.iter().map(|e| e.action.as_str()).collect();
    let expected = ["updateSettings", "updateCustomer", "createTier"];
    ensure!(
        actions.starts_with(&expected),
        "the newest entries, newest first: expected {expected:?} first, got {actions:?}"
    );
    ensure_eq!(
        log.data[1].target.as_deref(),
        Some(user.as_str()),
        "updateCustomer's target"
    );
    ensure_eq!(
        log.data[2].target.as_deref(),
        Some(tier.id.as_str()),
        "createTier's target"
    );
    for entry in &log.data {
        ensure_eq!(
            entry.actor.kind,
            types::AuditActorKind::SecretKey,
            "the actor of {}",
            entry.action
        );
        ensure!(
            !entry.actor.label.contains(&project.test.secret)
                && !serde_json::to_string(entry)
                    .unwrap_or_default()
                    .contains(&project.test.secret),
            "an audit entry holds the secret key"
        );
        ensure!(
            entry.actor.label.starts_with("sk_test_") && entry.actor.label.len() < 20,
            "the actor is the key, redacted: {}",
            entry.actor.label
        );
    }
    let first = admin
        .list_audit_log()
        .limit(1u32)
        .send()
        .await
        .succeeds("listAuditLog limit 1")?;
    ensure!(first.has_more, "more entries after the first");
    let cursor = first.next_cursor.clone().unwrap_or_default();
    let second = admin
        .list_audit_log()
        .limit(1u32)
        .starting_after(cursor.as_str())
        .send()
        .await
        .succeeds("listAuditLog page 2")?;
    ensure_eq!(
        second.data.first().map(|e| e.action.as_str()),
        Some("updateCustomer"),
        "the second page"
    );
    let live = ctx
        .secret(&project.live)
        .list_audit_log()
        .send()
        .await
        .succeeds("listAuditLog in live mode")?;
    ensure!(live.data.is_empty(), "live mode lists test changes");
    Ok(())
}
