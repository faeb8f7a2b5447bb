//! Customers as the project sees them: paging, search, detail, plan overrides.

use dream_client::types;

use super::catalog::{create_tier, tier_name};
use crate::harness::{Case, CaseResult, Ctx, Expect as _};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "customers.pagination",
            Core,
            ["CUST-001"],
            "walking the pages lists every customer exactly once",
            pagination
        ),
        case!(
            "customers.search-and-detail",
            Core,
            ["CUST-002"],
            "query filters by user id; detail shows tier and usage",
            search_and_detail
        ),
        case!(
            "customers.plan-override",
            Core,
            ["CUST-003"],
            "an override moves a customer to a tier, and null moves them back",
            plan_override
        ),
    ]
}

async fn pagination(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let count = ctx.random_between(7, 12) as usize;
    let prefix = ctx.user_id("page");
    let mut users: Vec<String> = (0..count).map(|n| format!("{prefix}_{n:02}")).collect();
    for user in &users {
        ctx.user(&project.test, &ctx.token(user))
            .track_usage()
            .send()
            .await
            .succeeds("trackUsage")?;
    }
    let admin = ctx.secret(&project.test);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=count {
        let mut request = admin.list_customers().limit(3u32).query(prefix.as_str());
        if let Some(after) = &cursor {
            request = request.starting_after(after.as_str());
        }
        let page = request.send().await.succeeds("listCustomers")?;
        ensure!(
            page.data.len() <= 3,
            "a page of limit 3 held {}",
            page.data.len()
        );
        seen.extend(page.data.iter().map(|c| c.user_id.clone()));
        if !page.has_more {
            break;
        }
        ensure!(!page.data.is_empty(), "hasMore on an empty page");
        cursor = page
            .next_cursor
            .clone()
            .or_else(|| page.data.last().map(|c| c.user_id.clone()));
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    ensure_eq!(
        sorted_seen.len(),
        seen.len(),
        "customers listed twice while paging"
    );
    users.sort();
    ensure_eq!(sorted_seen, users, "the customers found by paging");
    Ok(())
}

async fn search_and_detail(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let alice = ctx.user_id("alice");
    let bob = ctx.user_id("bob");
    for user in [&alice, &bob] {
        ctx.user(&project.test, &ctx.token(user))
            .track_usage()
            .body_map(|b| b.amount(std::num::NonZeroU64::new(3).unwrap()))
            .send()
            .await
            .succeeds("trackUsage")?;
    }
    let admin = ctx.secret(&project.test);
    let found = admin
        .list_customers()
        .query(alice.as_str())
        .send()
        .await
        .succeeds("listCustomers query")?;
    let ids: Vec<&str> = found.data.iter().map(|c| c.user_id.as_str()).collect();
    ensure_eq!(ids, vec![alice.as_str()], "customers matching the query");
    let detail = admin
        .get_customer()
        .user_id(alice.as_str())
        .send()
        .await
        .succeeds("getCustomer")?;
    ensure_eq!(detail.user_id, alice, "getCustomer userId");
    ensure!(!detail.plan_override, "no override yet");
    let requests = detail.usage.iter().find(|u| u.metric == "requests");
    ensure_eq!(
        requests.map(|u| u.usage_count),
        Some(3),
        "the customer's requests this period"
    );
    ensure!(
        detail.period_start.0 < detail.period_end.0,
        "the period is not empty"
    );
    admin
        .get_customer()
        .user_id("user_nobody_at_all")
        .send()
        .await
        .refused("getCustomer of an unknown user", 404, "not_found")?;
    Ok(())
}

async fn plan_override(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let user = ctx.user_id("vip");
    let token = ctx.token(&user);
    let me = ctx
        .user(&project.test, &token)
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    let default_tier = me.tier.name.clone();
    let name = tier_name(&ctx, "vip");
    create_tier(
        &ctx,
        &project.test,
        &name,
        Some(7),
        types::Enforcement::Hard,
    )
    .await?;
    let admin = ctx.secret(&project.test);
    let moved = admin
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(Some(name.parse().unwrap())))
        .send()
        .await
        .succeeds("updateCustomer to the tier")?;
    ensure_eq!(
        (moved.tier.name.as_str(), moved.plan_override),
        (name.as_str(), true),
        "the customer after the override"
    );
    let check = ctx
        .user(&project.test, &token)
        .check_usage()
        .send()
        .await
        .succeeds("checkUsage")?;
    ensure_eq!(check.limit, Some(7), "the limit follows the override");
    admin
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(Some("no-such-tier".parse().unwrap())))
        .send()
        .await
        .refused(
            "updateCustomer to an unknown tier",
            422,
            "validation_failed",
        )?;
    let back = admin
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(None))
        .send()
        .await
        .succeeds("updateCustomer to null")?;
    ensure_eq!(
        (back.tier.name.as_str(), back.plan_override),
        (default_tier.as_str(), false),
        "the customer after removing the override"
    );
    Ok(())
}
