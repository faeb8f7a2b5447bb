//! Metering from the developer's backend (a named user's track and check, batches of events)
//! and entitlements (features a tier unlocks, "may this user use N more units").

use std::num::NonZeroU64;

use dream_client::types;
use serde_json::json;

use super::catalog::tier_name;
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Project, Verdict};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "usage.backend-track-and-check",
            Usage,
            ["USAGE-009"],
            "the secret key tracks and checks for a user, on the same counters as the user's side",
            backend_track_and_check
        ),
        case!(
            "usage.batch-ingest",
            Usage,
            ["USAGE-010"],
            "a batch of events is answered per event: counted, duplicate, refused",
            batch_ingest
        ),
        case!(
            "usage.batch-hard-limit-under-concurrency",
            Usage,
            ["USAGE-011"],
            "parallel batches against a hard limit admit exactly the limit; batches sharing ids count each once",
            batch_hard_limit_under_concurrency
        ),
        case!(
            "usage.entitlements",
            Usage,
            ["USAGE-012"],
            "features and units are answered from the tier, counting nothing",
            entitlements
        ),
    ]
}

fn amount(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).expect("a positive amount")
}

/// A tier limiting `requests` (hard) and unlocking `features`.
async fn tier(
    ctx: &Ctx,
    keys: &Keys,
    what: &str,
    limit: i64,
    features: &[&str],
) -> Result<String, Verdict> {
    let name = tier_name(ctx, what);
    let body: types::TierCreate = serde_json::from_value(json!({
        "name": name,
        "displayName": what,
        "limits": [{"metric": "requests", "limit": limit, "enforcement": "hard"}],
        "features": features,
    }))
    .map_err(|e| Verdict::Error(format!("a tier body: {e}")))?;
    let created = ctx
        .secret(keys)
        .create_tier()
        .body(body)
        .send()
        .await
        .succeeds("createTier with features")?;
    let listed: Vec<&str> = created.features.iter().map(String::as_str).collect();
    ensure_eq!(listed, features.to_vec(), "the created tier's features");
    Ok(name)
}

/// The user's usage of `metric`, read with the secret key.
async fn usage_of(
    admin: &dream_client::Client,
    user: &str,
    metric: &str,
    what: &str,
) -> Result<types::Usage, Verdict> {
    admin
        .check_customer_usage()
        .user_id(user)
        .metric(metric)
        .send()
        .await
        .succeeds(what)
}

/// Puts `user` on the tier `name` (registering them from the backend).
async fn put_on(ctx: &Ctx, keys: &Keys, user: &str, name: &str) -> CaseResult {
    usage_of(
        &ctx.secret(keys),
        user,
        "requests",
        "checkCustomerUsage registers the user",
    )
    .await?;
    ctx.secret(keys)
        .update_customer()
        .user_id(user)
        .body_map(|b| b.tier(Some(name.parse().unwrap())))
        .send()
        .await
        .succeeds("updateCustomer onto the case's tier")?;
    Ok(())
}

async fn backend_track_and_check(ctx: Ctx) -> CaseResult {
    let Project { test: keys, .. } = ctx.project().await?;
    let admin = ctx.secret(&keys);
    let user = ctx.user_id("metered");
    let name = tier(&ctx, &keys, "metered", 10, &[]).await?;
    put_on(&ctx, &keys, &user, &name).await?;
    let backend = admin
        .track_customer_usage()
        .user_id(user.as_str())
        .body_map(|b| b.amount(amount(4)))
        .send()
        .await
        .succeeds("trackCustomerUsage 4")?;
    ensure_eq!(
        (backend.usage_count, backend.limit, backend.remaining),
        (4, Some(10), Some(6)),
        "the backend's track"
    );
    let token = ctx.token(&user);
    let own = ctx
        .user(&keys, &token)
        .track_usage()
        .send()
        .await
        .succeeds("the user's own trackUsage")?;
    ensure_eq!(
        own.usage_count,
        5,
        "the user's side counts on the same counter"
    );
    let checked = usage_of(&admin, &user, "requests", "checkCustomerUsage").await?;
    ensure_eq!(
        (checked.usage_count, checked.remaining),
        (5, Some(5)),
        "checkCustomerUsage"
    );

    // Idempotency keys are the user's: shared by both sides.
    let key = ctx.name("metered-key");
    let retries = futures::future::join_all((0..8).map(|_| {
        admin
            .track_customer_usage()
            .user_id(user.as_str())
            .idempotency_key(key.clone())
            .body_map(|b| b.amount(amount(2)))
            .send()
    }))
    .await;
    for retry in retries {
        let usage = retry.succeeds("a retried trackCustomerUsage")?;
        ensure_eq!(usage.usage_count, 7, "every retry sees the first result");
    }
    let replay = ctx
        .user(&keys, &token)
        .track_usage()
        .idempotency_key(key.clone())
        .body_map(|b| b.amount(amount(2)))
        .send()
        .await
        .succeeds("the same key and body from the user's side")?;
    ensure_eq!(
        replay.usage_count,
        7,
        "the user's side replays the backend's answer"
    );

    let refusal = admin
        .track_customer_usage()
        .user_id(user.as_str())
        .body_map(|b| b.amount(amount(4)))
        .send()
        .await
        .refused(
            "trackCustomerUsage past the hard limit",
            402,
            "usage_limit_exceeded",
        )?;
    ensure!(!refusal.message.is_empty(), "the refusal explains itself");
    let after = usage_of(
        &admin,
        &user,
        "requests",
        "checkCustomerUsage after the refusal",
    )
    .await?;
    ensure_eq!(
        after.usage_count,
        7,
        "the refused increment counted nothing"
    );

    // A user the backend names first is registered on the default tier.
    let stranger = ctx.user_id("first-seen-by-backend");
    let first = admin
        .track_customer_usage()
        .user_id(stranger.as_str())
        .body_map(|b| {
            b.metric(Some("ai_tokens".parse().unwrap()))
                .amount(amount(1200))
        })
        .send()
        .await
        .succeeds("trackCustomerUsage for a new user")?;
    ensure_eq!(first.usage_count, 1200, "a new user's first count");
    let customer = admin
        .get_customer()
        .user_id(stranger.as_str())
        .send()
        .await
        .succeeds("getCustomer of the new user")?;
    ensure!(
        customer
            .usage
            .iter()
            .any(|u| u.metric == "ai_tokens" && u.usage_count == 1200),
        "the new user's usage: {:?}",
        customer.usage
    );
    Ok(())
}

/// A batch body from JSON events.
fn batch(events: serde_json::Value) -> Result<types::UsageEventBatch, Verdict> {
    serde_json::from_value(json!({ "events": events }))
        .map_err(|e| Verdict::Error(format!("a batch body: {e}")))
}

/// Each result as (id, status, count, error code).
fn outcomes(r: &types::UsageEventResults) -> Vec<(String, String, Option<i64>, Option<String>)> {
    r.results
        .iter()
        .map(|e| {
            (
                e.id.clone(),
                e.status.to_string(),
                e.usage_count,
                e.error.as_ref().map(|x| x.code.to_string()),
            )
        })
        .collect()
}

fn row(
    id: &str,
    status: &str,
    count: Option<i64>,
    code: Option<&str>,
) -> (String, String, Option<i64>, Option<String>) {
    (
        id.to_string(),
        status.to_string(),
        count,
        code.map(str::to_string),
    )
}

async fn batch_ingest(ctx: Ctx) -> CaseResult {
    let Project { test: keys, .. } = ctx.project().await?;
    let admin = ctx.secret(&keys);
    let (a, b) = (ctx.user_id("batch-a"), ctx.user_id("batch-b"));
    let name = tier(&ctx, &keys, "batch", 10, &[]).await?;
    put_on(&ctx, &keys, &a, &name).await?;
    let id = |n: &str| ctx.name(&format!("evt-{n}"));
    let events = json!([
        {"id": id("1"), "userId": a, "amount": 4},
        {"id": id("2"), "userId": a, "amount": 5},
        {"id": id("3"), "userId": a, "amount": 3},
        {"id": id("4"), "userId": a},
        {"id": id("3"), "userId": a, "amount": 3},
        {"id": id("1"), "userId": a, "amount": 4},
        {"id": id("5"), "userId": b, "metric": "ai_tokens", "amount": 700},
        {"id": id("2"), "userId": a, "amount": 6},
        {"id": id("6"), "userId": b, "metric": "ai_tokens", "amount": 300},
    ]);
    let first = admin
        .ingest_usage_events()
        .body(batch(events.clone())?)
        .send()
        .await
        .succeeds("ingestUsageEvents")?;
    ensure_eq!(
        outcomes(&first),
        vec![
            row(&id("1"), "counted", Some(4), None),
            row(&id("2"), "counted", Some(9), None),
            row(&id("3"), "refused", None, Some("usage_limit_exceeded")),
            row(&id("4"), "counted", Some(10), None),
            row(&id("3"), "refused", None, Some("usage_limit_exceeded")),
            row(&id("1"), "duplicate", None, None),
            row(&id("5"), "counted", Some(700), None),
            row(&id("2"), "refused", None, Some("idempotency_key_reused")),
            row(&id("6"), "counted", Some(1000), None),
        ],
        "each event's outcome, in order"
    );
    ensure_eq!(
        (first.counted, first.duplicates, first.refused),
        (5, 1, 3),
        "the totals"
    );
    ensure!(
        first.results[2]
            .error
            .as_ref()
            .is_some_and(|e| !e.message.is_empty()),
        "a refusal explains itself"
    );

    // Sent again: what was counted is a duplicate; the refused event is judged afresh.
    let again = admin
        .ingest_usage_events()
        .body(batch(events)?)
        .send()
        .await
        .succeeds("the same batch again")?;
    ensure_eq!(
        (again.counted, again.duplicates, again.refused),
        (0, 6, 3),
        "the batch sent again counts nothing"
    );
    let check = |user: String, metric: &'static str| {
        let admin = admin.clone();
        async move { usage_of(&admin, &user, metric, "checkCustomerUsage").await }
    };
    ensure_eq!(
        check(a.clone(), "requests").await?.usage_count,
        10,
        "user a's count"
    );
    ensure_eq!(
        check(b.clone(), "ai_tokens").await?.usage_count,
        1000,
        "user b's count (registered by the batch)"
    );

    // Timestamps: within the user's current period, not in the future.
    let last_month = chrono::Utc::now() - chrono::Duration::days(40);
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    let timed = admin
        .ingest_usage_events()
        .body(batch(json!([
            {"id": id("old"), "userId": b, "metric": "ai_tokens", "timestamp": last_month.to_rfc3339()},
            {"id": id("next"), "userId": b, "metric": "ai_tokens", "timestamp": tomorrow.to_rfc3339()},
            {"id": id("now"), "userId": b, "metric": "ai_tokens", "amount": 5,
             "timestamp": chrono::Utc::now().to_rfc3339()},
            {"id": id("5"), "userId": b, "metric": "ai_tokens", "amount": 700,
             "timestamp": last_month.to_rfc3339()},
        ]))?)
        .send()
        .await
        .succeeds("ingestUsageEvents with timestamps")?;
    ensure_eq!(
        outcomes(&timed),
        vec![
            row(&id("old"), "refused", None, Some("validation_failed")),
            row(&id("next"), "refused", None, Some("validation_failed")),
            row(&id("now"), "counted", Some(1005), None),
            row(&id("5"), "duplicate", None, None),
        ],
        "events outside the current period; a repeat of a counted event is a duplicate, whatever its timestamp"
    );

    // The whole request is refused for what the schema forbids: nothing counted.
    let too_many: Vec<serde_json::Value> = (0..1001)
        .map(|n| json!({"id": id(&format!("bulk-{n}")), "userId": b}))
        .collect();
    let raw = ctx
        .raw(http::Method::POST, "/v1/usage/events")
        .bearer_auth(&keys.secret)
        .json(&json!({ "events": too_many }))
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("a raw batch: {e}")))?;
    ensure_eq!(raw.status().as_u16(), 422, "a batch of 1,001 events");
    ensure_eq!(
        check(b, "requests").await?.usage_count,
        0,
        "nothing of the refused batch was counted"
    );
    Ok(())
}

async fn batch_hard_limit_under_concurrency(ctx: Ctx) -> CaseResult {
    const LIMIT: i64 = 300;
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 50;
    let Project { test: keys, .. } = ctx.project().await?;
    let admin = ctx.secret(&keys);
    let user = ctx.user_id("batch-busy");
    let name = tier(&ctx, &keys, "batch-busy", LIMIT, &[]).await?;
    put_on(&ctx, &keys, &user, &name).await?;
    let sends = (0..BATCHES).map(|b| {
        let events: Vec<serde_json::Value> = (0..PER_BATCH)
            .map(|n| json!({"id": ctx.name(&format!("busy-{b}-{n}")), "userId": user}))
            .collect();
        let admin = admin.clone();
        async move {
            let body = batch(serde_json::Value::Array(events))?;
            admin
                .ingest_usage_events()
                .body(body)
                .send()
                .await
                .succeeds("a parallel batch")
        }
    });
    let mut counted = 0;
    let mut refused = 0;
    for result in futures::future::join_all(sends).await {
        let result = result?;
        for e in &result.results {
            if let Some(count) = e.usage_count {
                ensure!(
                    count <= LIMIT,
                    "a count past the limit was reported: {count}"
                );
            }
        }
        counted += result.counted;
        refused += result.refused;
    }
    ensure_eq!(
        (counted, refused),
        (LIMIT, (BATCHES * PER_BATCH) as i64 - LIMIT),
        "counted and refused events"
    );
    let check = usage_of(&admin, &user, "requests", "checkCustomerUsage").await?;
    ensure_eq!(
        (check.usage_count, check.remaining),
        (LIMIT, Some(0)),
        "the count after the race"
    );

    // The same 1,000 ids in every batch, every other batch in reverse order: each id is
    // counted once, and no batch fails for waiting on another.
    const SHARED: usize = 1000;
    let other = ctx.user_id("batch-shared");
    let sends = (0..BATCHES).map(|b| {
        let mut events: Vec<serde_json::Value> = (0..SHARED)
            .map(|n| json!({"id": ctx.name(&format!("shared-{n}")), "userId": other, "metric": "ai_tokens", "amount": 2}))
            .collect();
        if b % 2 == 1 {
            events.reverse();
        }
        let admin = admin.clone();
        async move {
            let body = batch(serde_json::Value::Array(events))?;
            admin
                .ingest_usage_events()
                .body(body)
                .send()
                .await
                .succeeds("a batch sharing ids with the others")
        }
    });
    let (mut counted, mut duplicates) = (0, 0);
    for result in futures::future::join_all(sends).await {
        let result = result?;
        counted += result.counted;
        duplicates += result.duplicates;
    }
    ensure_eq!(
        (counted, duplicates),
        (SHARED as i64, ((BATCHES - 1) * SHARED) as i64),
        "each shared id counted once"
    );
    let shared = usage_of(&admin, &other, "ai_tokens", "checkCustomerUsage").await?;
    ensure_eq!(
        shared.usage_count,
        2 * SHARED as i64,
        "the shared ids' count"
    );
    Ok(())
}

async fn entitlements(ctx: Ctx) -> CaseResult {
    let Project { test: keys, .. } = ctx.project().await?;
    let admin = ctx.secret(&keys);
    let user = ctx.user_id("entitled");
    let name = tier(&ctx, &keys, "entitled", 10, &["export", "api.beta"]).await?;
    put_on(&ctx, &keys, &user, &name).await?;
    let token = ctx.token(&user);
    let own = ctx.user(&keys, &token);
    let state = own
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(
        state.features,
        vec!["export".to_string(), "api.beta".to_string()],
        "the customer state's features"
    );

    let feature = own
        .check_entitlement()
        .feature("export")
        .send()
        .await
        .succeeds("checkEntitlement export")?;
    ensure_eq!(
        (feature.allowed, feature.reason, feature.tier.name.as_str()),
        (true, None, name.as_str()),
        "a feature the tier lists"
    );
    let missing = own
        .check_entitlement()
        .feature("priority_support")
        .send()
        .await
        .succeeds("checkEntitlement priority_support")?;
    ensure_eq!(
        (missing.allowed, missing.reason.map(|r| r.to_string())),
        (false, Some("feature_not_in_tier".to_string())),
        "a feature the tier does not list"
    );

    own.track_usage()
        .body_map(|b| b.amount(amount(3)))
        .send()
        .await
        .succeeds("trackUsage 3")?;
    let more = |n: u64| {
        admin
            .check_customer_entitlement()
            .user_id(user.as_str())
            .metric("requests")
            .amount(amount(n))
            .send()
    };
    let fits = more(7).await.succeeds("checkCustomerEntitlement 7 more")?;
    ensure_eq!(
        (
            fits.allowed,
            fits.usage.as_ref().map(|u| (u.usage_count, u.remaining))
        ),
        (true, Some((3, Some(7)))),
        "7 more fit under the limit of 10"
    );
    let over = more(8).await.succeeds("checkCustomerEntitlement 8 more")?;
    ensure_eq!(
        (over.allowed, over.reason.map(|r| r.to_string())),
        (false, Some("would_exceed_limit".to_string())),
        "8 more would pass the limit"
    );
    let unlimited = own
        .check_entitlement()
        .metric("ai_tokens")
        .amount(amount(1_000_000))
        .send()
        .await
        .succeeds("checkEntitlement of a metric without a limit")?;
    ensure!(
        unlimited.allowed,
        "a metric the tier does not limit is allowed"
    );
    let count = own
        .check_usage()
        .send()
        .await
        .succeeds("checkUsage")?
        .usage_count;
    ensure_eq!(count, 3, "checks counted nothing");

    // Exactly one question per check.
    let both = ctx
        .raw(
            http::Method::GET,
            "/v1/entitlements/check?feature=export&metric=requests",
        )
        .header("x-publishable-key", &keys.publishable)
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("a raw check: {e}")))?;
    ensure_eq!(both.status().as_u16(), 400, "a check naming both");
    admin
        .check_customer_entitlement()
        .user_id(user.as_str())
        .send()
        .await
        .refused("a check naming neither", 400, "invalid_request")?;

    // A changed tier answers at once.
    let tiers = admin.list_tiers().send().await.succeeds("listTiers")?;
    let id = tiers
        .tiers
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.id.clone())
        .ok_or_else(|| Verdict::Fail("the case's tier is not listed".into()))?;
    let changes: types::TierUpdate =
        serde_json::from_value(json!({ "features": ["priority_support"] }))
            .map_err(|e| Verdict::Error(format!("a tier update: {e}")))?;
    admin
        .update_tier()
        .tier_id(id.as_str())
        .body(changes)
        .send()
        .await
        .succeeds("updateTier features")?;
    let feature = |name: &'static str| {
        admin
            .check_customer_entitlement()
            .user_id(user.as_str())
            .feature(name)
            .send()
    };
    let now = feature("priority_support")
        .await
        .succeeds("checkCustomerEntitlement after the change")?;
    ensure!(now.allowed, "the tier's new feature is allowed at once");
    let gone = feature("export")
        .await
        .succeeds("checkCustomerEntitlement of a removed feature")?;
    ensure!(!gone.allowed, "a removed feature is denied at once");
    Ok(())
}
