//! Rate limits: a user's tier's `rateLimit` admits a burst of exactly `requests`, says so in
//! the `RateLimit-*` headers, and refuses the next request with `429 rate_limited` and
//! `Retry-After`, counting nothing; other users and secret keys are not affected.

use dream_client::types;

use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Raw, Verdict, send_raw};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "ratelimit.per-user-burst",
            Ratelimit,
            ["RL-001", "RL-002"],
            "a tier's rate limit admits its burst per user, with headers, then 429 with Retry-After",
            per_user_burst
        ),
        case!(
            "ratelimit.refusal-counts-nothing",
            Ratelimit,
            ["RL-003"],
            "a track refused by the rate limit counts nothing",
            refusal_counts_nothing
        ),
    ]
}

/// Makes a tier with `requests` per hour the project's default, so users start on it.
async fn limited_default_tier(ctx: &Ctx, keys: &Keys, requests: u32) -> Result<(), Verdict> {
    ctx.secret(keys)
        .create_tier()
        .body(
            types::TierCreate::builder()
                .name(
                    super::catalog::tier_name(ctx, "limited")
                        .parse::<types::TierName>()
                        .unwrap(),
                )
                .display_name("Limited".parse::<types::TierCreateDisplayName>().unwrap())
                .is_default(true)
                .rate_limit(Some(types::RateLimit {
                    requests: std::num::NonZeroU32::new(requests).unwrap(),
                    per_seconds: std::num::NonZeroU32::new(3600).unwrap(),
                }))
                .limits(vec![]),
        )
        .send()
        .await
        .succeeds("createTier with a rate limit")?;
    Ok(())
}

fn header(raw: &Raw, name: &str) -> Option<i64> {
    raw.headers.get(name).and_then(|v| v.parse().ok())
}

async fn check(ctx: &Ctx, keys: &Keys, token: &str) -> Result<Raw, Verdict> {
    send_raw(
        ctx.raw(http::Method::GET, "/v1/usage")
            .header("x-publishable-key", &keys.publishable)
            .header("authorization", format!("Bearer {token}")),
        "checkUsage",
    )
    .await
}

async fn per_user_burst(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    limited_default_tier(&ctx, &project.test, 4).await?;
    let token = ctx.token(&ctx.user_id("bursty"));
    for n in 0..4 {
        let raw = check(&ctx, &project.test, &token).await?;
        ensure_eq!(raw.status, 200, "request {} of the burst", n + 1);
        ensure_eq!(
            (
                header(&raw, "ratelimit-limit"),
                header(&raw, "ratelimit-remaining")
            ),
            (Some(4), Some(3 - n)),
            "RateLimit-Limit and RateLimit-Remaining on request {}",
            n + 1
        );
        ensure!(
            header(&raw, "ratelimit-reset").is_some_and(|s| (1..=3600).contains(&s)),
            "RateLimit-Reset in seconds: {:?}",
            raw.headers.get("ratelimit-reset")
        );
    }
    let refused = check(&ctx, &project.test, &token).await?;
    ensure_eq!(
        (refused.status, refused.code()),
        (429, "rate_limited"),
        "the request after the burst"
    );
    // One request per 900 s after the burst: the next one is at most that far away.
    let retry = header(&refused, "retry-after");
    ensure!(
        retry.is_some_and(|s| (1..=900).contains(&s)),
        "Retry-After in seconds: {:?}",
        refused.headers.get("retry-after")
    );
    ensure_eq!(
        header(&refused, "ratelimit-remaining"),
        Some(0),
        "RateLimit-Remaining when refused"
    );

    let other = ctx.token(&ctx.user_id("calm"));
    let raw = check(&ctx, &project.test, &other).await?;
    ensure_eq!(raw.status, 200, "another user's first request");
    ensure_eq!(
        header(&raw, "ratelimit-remaining"),
        Some(3),
        "another user's own bucket"
    );
    let admin = send_raw(
        ctx.raw(http::Method::GET, "/v1/customers")
            .header("authorization", format!("Bearer {}", project.test.secret)),
        "listCustomers",
    )
    .await?;
    ensure_eq!(admin.status, 200, "the secret key meanwhile");
    ensure!(
        !admin.headers.contains_key("ratelimit-limit"),
        "secret-key requests are not rate limited"
    );
    Ok(())
}

async fn refusal_counts_nothing(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    limited_default_tier(&ctx, &project.test, 3).await?;
    let user_id = ctx.user_id("tracker");
    let user = ctx.user(&project.test, &ctx.token(&user_id));
    for _ in 0..3 {
        user.track_usage()
            .send()
            .await
            .succeeds("trackUsage within the rate limit")?;
    }
    user.track_usage().send().await.refused(
        "trackUsage past the rate limit",
        429,
        "rate_limited",
    )?;
    let detail = ctx
        .secret(&project.test)
        .get_customer()
        .user_id(user_id.as_str())
        .send()
        .await
        .succeeds("getCustomer")?;
    let count = detail
        .usage
        .iter()
        .find(|u| u.metric.as_str() == "requests")
        .map_or(0, |u| u.usage_count);
    ensure_eq!(count, 3, "the count after a refused track");
    Ok(())
}
