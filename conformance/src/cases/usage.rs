//! Metering: counts, limits under concurrency, refusals that count nothing, idempotent
//! retries, and the customer state an SDK's `auth.init()` reads.

use std::num::NonZeroU64;

use chrono::{Datelike as _, TimeZone as _};
use dream_client::types;

use super::catalog::{create_tier, tier_name};
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Project, Verdict};
use crate::tokens::Forgery;
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "usage.track-and-check",
            Usage,
            ["USAGE-001"],
            "track counts by 1 or the amount; check agrees",
            track_and_check
        ),
        case!(
            "usage.unlimited-metric",
            Usage,
            ["USAGE-002"],
            "a metric the tier does not limit is counted without limit",
            unlimited_metric
        ),
        case!(
            "usage.hard-limit-under-concurrency",
            Usage,
            ["USAGE-003"],
            "parallel tracks against a hard limit admit exactly the limit",
            hard_limit_under_concurrency
        ),
        case!(
            "usage.refused-increment-counts-nothing",
            Usage,
            ["USAGE-004"],
            "an increment past a hard limit is refused whole",
            refused_increment_counts_nothing
        ),
        case!(
            "usage.soft-limit",
            Usage,
            ["USAGE-005"],
            "a soft limit counts past the limit",
            soft_limit
        ),
        case!(
            "usage.idempotent-retries",
            Usage,
            ["USAGE-006"],
            "retries with one Idempotency-Key count once",
            idempotent_retries
        ),
        case!(
            "usage.customer-state",
            Usage,
            ["USAGE-007"],
            "the customer state shows tier, usage and the calendar-month period",
            customer_state
        ),
        case!(
            "usage.refusals-count-nothing",
            Usage,
            ["USAGE-008"],
            "bad input and bad tokens count nothing",
            refusals_count_nothing
        ),
    ]
}

/// Puts a new user on a new tier limiting `requests`; returns the user's token.
async fn user_on_tier(
    ctx: &Ctx,
    project: &Project,
    what: &str,
    limit: Option<i64>,
    enforcement: types::Enforcement,
) -> Result<String, Verdict> {
    let user = ctx.user_id(what);
    let token = ctx.token(&user);
    let tier = tier_name(ctx, what);
    create_tier(ctx, &project.test, &tier, limit, enforcement).await?;
    ctx.user(&project.test, &token)
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ctx.secret(&project.test)
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(Some(tier.parse().unwrap())))
        .send()
        .await
        .succeeds("updateCustomer onto the case's tier")?;
    Ok(token)
}

fn amount(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).expect("a positive amount")
}

async fn track_and_check(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(
        &ctx,
        &project,
        "counted",
        Some(1000),
        types::Enforcement::Hard,
    )
    .await?;
    let user = ctx.user(&project.test, &token);
    let first = user.track_usage().send().await.succeeds("trackUsage")?;
    ensure_eq!(
        (
            first.metric.as_str(),
            first.usage_count,
            first.limit,
            first.remaining
        ),
        ("requests", 1, Some(1000), Some(999)),
        "the first track"
    );
    let n = ctx.random_between(2, 50) as u64;
    let second = user
        .track_usage()
        .body_map(|b| b.amount(amount(n)))
        .send()
        .await
        .succeeds("trackUsage with an amount")?;
    ensure_eq!(
        second.usage_count,
        1 + n as i64,
        "the count after adding {n}"
    );
    let check = user.check_usage().send().await.succeeds("checkUsage")?;
    ensure_eq!(
        (check.usage_count, check.limit, check.remaining),
        (1 + n as i64, Some(1000), Some(999 - n as i64)),
        "checkUsage"
    );
    ensure_eq!(
        (check.period_start.clone(), check.period_end.clone()),
        (first.period_start, first.period_end),
        "the period"
    );
    Ok(())
}

async fn unlimited_metric(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(&ctx, &project, "tokens", Some(10), types::Enforcement::Hard).await?;
    let user = ctx.user(&project.test, &token);
    let tracked = user
        .track_usage()
        .body_map(|b| {
            b.metric(Some("ai_tokens".parse().unwrap()))
                .amount(amount(250))
        })
        .send()
        .await
        .succeeds("trackUsage ai_tokens")?;
    ensure_eq!(
        (tracked.usage_count, tracked.limit, tracked.remaining),
        (250, None, None),
        "an unlimited metric"
    );
    let check = user
        .check_usage()
        .metric("ai_tokens")
        .send()
        .await
        .succeeds("checkUsage ai_tokens")?;
    ensure_eq!(check.usage_count, 250, "checkUsage ai_tokens");
    let requests = user
        .check_usage()
        .send()
        .await
        .succeeds("checkUsage requests")?;
    ensure_eq!(requests.usage_count, 0, "other metrics are untouched");
    Ok(())
}

async fn hard_limit_under_concurrency(ctx: Ctx) -> CaseResult {
    const LIMIT: i64 = 300;
    const ATTEMPTS: usize = 500;
    let project = ctx.project().await?;
    let token = user_on_tier(
        &ctx,
        &project,
        "busy",
        Some(LIMIT),
        types::Enforcement::Hard,
    )
    .await?;
    let user = ctx.user(&project.test, &token);
    let attempts = (0..ATTEMPTS).map(|_| {
        let user = user.clone();
        tokio::spawn(async move { user.track_usage().send().await })
    });
    let mut accepted = 0;
    let mut refused = 0;
    for outcome in futures::future::join_all(attempts).await {
        let outcome = outcome.map_err(|e| Verdict::Error(format!("a track task: {e}")))?;
        match outcome {
            Ok(usage) => {
                ensure!(
                    usage.usage_count <= LIMIT,
                    "a count past the limit was reported: {}",
                    usage.usage_count
                );
                accepted += 1;
            }
            Err(e) => {
                let refusal = Err::<progenitor_client::ResponseValue<types::Usage>, _>(e).refused(
                    "a track past the limit",
                    402,
                    "usage_limit_exceeded",
                )?;
                ensure_eq!(
                    refusal.kind.as_str(),
                    "usage_limit_error",
                    "the refusal's type (not a rate limit)"
                );
                refused += 1;
            }
        }
    }
    ensure_eq!(
        (accepted, refused),
        (LIMIT as usize, ATTEMPTS - LIMIT as usize),
        "accepted and refused tracks"
    );
    let check = user.check_usage().send().await.succeeds("checkUsage")?;
    ensure_eq!(
        (check.usage_count, check.remaining),
        (LIMIT, Some(0)),
        "checkUsage after the burst"
    );
    let user_id = ctx.user_id("busy");
    let stored = ctx
        .secret(&project.test)
        .get_customer()
        .user_id(user_id.as_str())
        .send()
        .await
        .succeeds("getCustomer")?;
    let requests = stored
        .usage
        .iter()
        .find(|u| u.metric == "requests")
        .map(|u| u.usage_count);
    ensure_eq!(requests, Some(LIMIT), "the stored count");
    Ok(())
}

async fn refused_increment_counts_nothing(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(&ctx, &project, "capped", Some(10), types::Enforcement::Hard).await?;
    let user = ctx.user(&project.test, &token);
    user.track_usage()
        .body_map(|b| b.amount(amount(8)))
        .send()
        .await
        .succeeds("trackUsage 8 of 10")?;
    let refusal = user
        .track_usage()
        .body_map(|b| b.amount(amount(3)))
        .send()
        .await
        .refused("trackUsage 3 more", 402, "usage_limit_exceeded")?;
    ensure!(!refusal.message.is_empty(), "the refusal explains itself");
    let check = user.check_usage().send().await.succeeds("checkUsage")?;
    ensure_eq!(
        (check.usage_count, check.remaining),
        (8, Some(2)),
        "after the refused increment"
    );
    let last = user
        .track_usage()
        .body_map(|b| b.amount(amount(2)))
        .send()
        .await
        .succeeds("trackUsage the last 2")?;
    ensure_eq!(
        (last.usage_count, last.remaining),
        (10, Some(0)),
        "exactly at the limit"
    );
    user.track_usage().send().await.refused(
        "trackUsage at the limit",
        402,
        "usage_limit_exceeded",
    )?;
    Ok(())
}

async fn soft_limit(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(&ctx, &project, "soft", Some(5), types::Enforcement::Soft).await?;
    let user = ctx.user(&project.test, &token);
    let tracked = user
        .track_usage()
        .body_map(|b| b.amount(amount(7)))
        .send()
        .await
        .succeeds("trackUsage past a soft limit")?;
    ensure_eq!(
        (
            tracked.usage_count,
            tracked.limit,
            tracked.remaining,
            tracked.enforcement
        ),
        (7, Some(5), Some(0), types::Enforcement::Soft),
        "a soft limit passed"
    );
    Ok(())
}

async fn idempotent_retries(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(
        &ctx,
        &project,
        "retry",
        Some(1000),
        types::Enforcement::Hard,
    )
    .await?;
    let user = ctx.user(&project.test, &token);
    let key = ctx.name("retry-1");
    let send = |key: String, n: u64| {
        let user = user.clone();
        async move {
            user.track_usage()
                .idempotency_key(key)
                .body_map(move |b| b.amount(amount(n)))
                .send()
                .await
        }
    };
    let retries = futures::future::join_all((0..20).map(|_| send(key.clone(), 3))).await;
    for retry in retries {
        let usage = retry.succeeds("a retried trackUsage")?;
        ensure_eq!(usage.usage_count, 3, "every retry sees the first result");
    }
    let check = user.check_usage().send().await.succeeds("checkUsage")?;
    ensure_eq!(check.usage_count, 3, "twenty retries counted once");
    send(key.clone(), 4).await.refused(
        "the key reused with another amount",
        409,
        "idempotency_key_reused",
    )?;
    let next = send(ctx.name("retry-2"), 4).await.succeeds("a new key")?;
    ensure_eq!(next.usage_count, 7, "a new key counts");
    Ok(())
}

async fn customer_state(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(&ctx, &project, "state", Some(100), types::Enforcement::Hard).await?;
    let user = ctx.user(&project.test, &token);
    user.track_usage()
        .body_map(|b| b.amount(amount(4)))
        .send()
        .await
        .succeeds("trackUsage")?;
    let state = user
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(state.user_id, ctx.user_id("state"), "the user");
    let tier = tier_name(&ctx, "state");
    ensure_eq!(state.tier.name.as_str(), tier.as_str(), "the tier");
    let requests = state.usage.iter().find(|u| u.metric == "requests");
    ensure_eq!(
        requests.map(|u| (u.usage_count, u.limit, u.remaining)),
        Some((4, Some(100), Some(96))),
        "the requests metric"
    );
    let now = chrono::Utc::now();
    let start = chrono::Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    let end = if now.month() == 12 {
        chrono::Utc
            .with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
            .unwrap()
    } else {
        chrono::Utc
            .with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
            .unwrap()
    };
    ensure_eq!(
        (state.period_start.0, state.period_end.0),
        (start, end),
        "the period is this calendar month in UTC"
    );
    Ok(())
}

async fn refusals_count_nothing(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = user_on_tier(
        &ctx,
        &project,
        "careful",
        Some(100),
        types::Enforcement::Hard,
    )
    .await?;
    let user = ctx.user(&project.test, &token);
    user.track_usage().send().await.succeeds("trackUsage")?;
    let raw = ctx
        .raw_track(
            &project.test,
            &token,
            "application/json",
            r#"{"amount": -5}"#,
        )
        .await?;
    ensure_eq!(
        (raw.status, raw.code()),
        (422, "validation_failed"),
        "a negative amount"
    );
    let forged = ctx
        .issuer()
        .forge(Forgery::TamperedPayload, &ctx.user_id("careful"));
    ctx.user(&project.test, &forged)
        .track_usage()
        .send()
        .await
        .refused("a track with a tampered token", 401, "invalid_token")?;
    let check = user.check_usage().send().await.succeeds("checkUsage")?;
    ensure_eq!(check.usage_count, 1, "only the good track counted");
    Ok(())
}
