//! Trials and usage-based billing: a tier's free trial at the start of a subscription, and
//! the units beyond a metric's included ones billed once at each renewal.
//!
//! Like the other billing cases, paying a checkout and moving time on need the backend's test
//! mode on Dream's Stripe emulator (its hosted pages, test controls and API); elsewhere these
//! cases are skipped.

use std::num::NonZeroU64;

use dream_client::types;
use serde_json::Value;

use super::billing::{checkout, limit_default_tier, plan_becomes, subscription_of};
use super::catalog::{tier_body, tier_name};
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Verdict};
use crate::stripe::{self, emulator_json, eventually, pay};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "billing.trial",
            Billing,
            ["BILL-008"],
            "a trial starts trialing with the tier applied, ends paid, and is given once per user",
            trial
        ),
        case!(
            "billing.trial-without-card",
            Billing,
            ["BILL-008"],
            "a trial started without a card is canceled at its end and the user returns to the default tier",
            trial_without_card
        ),
        case!(
            "billing.overage",
            Billing,
            ["BILL-009"],
            "units beyond the included ones are shown, billed once on the renewal invoice, and not again when the event comes back",
            overage
        ),
    ]
}

const DAY: i64 = 86_400;

fn usd_month() -> types::TierPrice {
    types::TierPrice {
        currency: "usd".parse().unwrap(),
        unit_amount: 2900,
        interval: types::TierPriceInterval::Month,
    }
}

fn requests(
    limit: i64,
    enforcement: types::Enforcement,
    overage: Option<(u64, u64)>,
) -> types::TierLimit {
    types::TierLimit {
        metric: "requests".parse().unwrap(),
        limit: Some(limit),
        enforcement,
        overage: overage.map(|(unit, per)| types::TierOverage {
            unit_amount: NonZeroU64::new(unit).unwrap(),
            per_units: NonZeroU64::new(per).unwrap(),
        }),
    }
}

/// A paid tier (usd 29.00 a month) with a 14-day trial.
async fn trial_tier(
    ctx: &Ctx,
    keys: &Keys,
    payment_method: types::TierTrialPaymentMethod,
) -> Result<types::Tier, Verdict> {
    let name = tier_name(ctx, "trial");
    ctx.secret(keys)
        .create_tier()
        .body(
            tier_body(
                &name,
                "Pro trial",
                false,
                vec![requests(1000, types::Enforcement::Hard, None)],
            )
            .price(usd_month())
            .trial(types::TierTrial {
                days: 14,
                payment_method,
            }),
        )
        .send()
        .await
        .succeeds("createTier with a trial")
}

/// Waits for the customer's subscription to reach `status`.
async fn subscription_becomes(
    ctx: &Ctx,
    keys: &Keys,
    user: &str,
    status: types::SubscriptionStatus,
) -> Result<types::Subscription, Verdict> {
    eventually(&format!("the subscription becoming {status}"), || async {
        Ok(subscription_of(ctx, keys, user)
            .await?
            .filter(|s| s.status == status))
    })
    .await
}

/// The user's subscription payments, newest first.
async fn payments_of(ctx: &Ctx, keys: &Keys, user: &str) -> Result<Vec<types::Payment>, Verdict> {
    let list = ctx
        .secret(keys)
        .list_payments()
        .send()
        .await
        .succeeds("listPayments")?;
    Ok(list
        .data
        .into_iter()
        .filter(|p| p.user_id.as_deref() == Some(user))
        .collect())
}

async fn trial(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let keys = &project.test;
    let unpriced = tier_name(&ctx, "free-trial");
    let refused = ctx
        .secret(keys)
        .create_tier()
        .body(
            tier_body(&unpriced, "Free trial", false, Vec::new()).trial(types::TierTrial {
                days: 7,
                payment_method: types::TierTrialPaymentMethod::Required,
            }),
        )
        .send()
        .await
        .refused(
            "createTier with a trial and no price",
            422,
            "validation_failed",
        )?;
    ensure_eq!(
        refused.param.as_deref(),
        Some("trial"),
        "the refusal's param"
    );

    let tier = trial_tier(&ctx, keys, types::TierTrialPaymentMethod::Required).await?;
    ensure_eq!(
        tier.trial.as_ref().map(|t| (t.days, t.payment_method)),
        Some((14, types::TierTrialPaymentMethod::Required)),
        "the tier's trial"
    );
    let user = ctx.user_id("trialist");
    let token = ctx.token(&user);
    let session = checkout(&ctx, keys, &token, &tier.name).await?;
    pay(&session.url).await?;
    plan_becomes(&ctx, keys, &token, &tier.name).await?;
    let trialing =
        subscription_becomes(&ctx, keys, &user, types::SubscriptionStatus::Trialing).await?;
    let trial_end = trialing
        .trial_end
        .as_ref()
        .ok_or_else(|| Verdict::Fail("a trialing subscription shows no trialEnd".into()))?;
    ensure_eq!(
        trial_end.0.timestamp() - trialing.current_period_start.0.timestamp(),
        14 * DAY,
        "the trial's length (trialEnd − currentPeriodStart)"
    );
    ensure!(
        payments_of(&ctx, keys, &user)
            .await?
            .iter()
            .all(|p| p.amount == 0),
        "nothing is charged when the trial starts"
    );

    stripe::advance(&session.url, &trialing.id, "end_trial").await?;
    let active = subscription_becomes(&ctx, keys, &user, types::SubscriptionStatus::Active).await?;
    ensure_eq!(
        active.current_period_start.0,
        trial_end.0,
        "the first paid period starts when the trial ends"
    );
    eventually("the first paid period's payment", || async {
        Ok(payments_of(&ctx, keys, &user)
            .await?
            .into_iter()
            .find(|p| p.amount == 2900))
    })
    .await?;
    plan_becomes(&ctx, keys, &token, &tier.name).await?;

    // One trial per user: after a cancellation, the next subscription is paid from the start.
    stripe::advance(&session.url, &active.id, "cancel").await?;
    subscription_becomes(&ctx, keys, &user, types::SubscriptionStatus::Canceled).await?;
    let again = checkout(&ctx, keys, &token, &tier.name).await?;
    pay(&again.url).await?;
    let second = eventually("the second subscription", || async {
        Ok(subscription_of(&ctx, keys, &user)
            .await?
            .filter(|s| s.id != active.id && s.status != types::SubscriptionStatus::Canceled))
    })
    .await?;
    ensure_eq!(
        (second.status, second.trial_end.is_some()),
        (types::SubscriptionStatus::Active, false),
        "a second subscription of the same user (no second trial)"
    );
    Ok(())
}

async fn trial_without_card(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let keys = &project.test;
    let default = limit_default_tier(&ctx, keys, 5).await?;
    let tier = trial_tier(&ctx, keys, types::TierTrialPaymentMethod::Optional).await?;
    let user = ctx.user_id("cardless");
    let token = ctx.token(&user);
    let session = checkout(&ctx, keys, &token, &tier.name).await?;
    stripe::start_without_card(&session.url).await?;
    plan_becomes(&ctx, keys, &token, &tier.name).await?;
    let trialing =
        subscription_becomes(&ctx, keys, &user, types::SubscriptionStatus::Trialing).await?;
    stripe::advance(&session.url, &trialing.id, "end_trial").await?;
    subscription_becomes(&ctx, keys, &user, types::SubscriptionStatus::Canceled).await?;
    plan_becomes(&ctx, keys, &token, &default.name).await?;
    ensure!(
        payments_of(&ctx, keys, &user)
            .await?
            .iter()
            .all(|p| p.amount == 0),
        "a trial canceled for want of a card charges nothing"
    );
    Ok(())
}

async fn overage(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let keys = &project.test;
    let admin = ctx.secret(keys);
    for (what, price, limit) in [
        (
            "on a hard limit",
            true,
            requests(100, types::Enforcement::Hard, Some((5, 10))),
        ),
        (
            "without a limit",
            true,
            types::TierLimit {
                limit: None,
                ..requests(0, types::Enforcement::Soft, Some((5, 10)))
            },
        ),
        (
            "without a price",
            false,
            requests(100, types::Enforcement::Soft, Some((5, 10))),
        ),
    ] {
        let mut body = tier_body(&tier_name(&ctx, "bad-overage"), "Bad", false, vec![limit]);
        if price {
            body = body.price(usd_month());
        }
        let refused = admin.create_tier().body(body).send().await.refused(
            &format!("createTier with overage {what}"),
            422,
            "validation_failed",
        )?;
        ensure_eq!(
            refused.param.as_deref(),
            Some("limits[0].overage"),
            "the param of the refusal of overage {what}"
        );
    }

    // 100 requests included, then 5 cents for every 10 more.
    let name = tier_name(&ctx, "metered");
    let tier = admin
        .create_tier()
        .body(
            tier_body(
                &name,
                "Metered",
                false,
                vec![requests(100, types::Enforcement::Soft, Some((5, 10)))],
            )
            .price(usd_month()),
        )
        .send()
        .await
        .succeeds("createTier with overage")?;
    let user = ctx.user_id("metered");
    let token = ctx.token(&user);
    let session = checkout(&ctx, keys, &token, &tier.name).await?;
    pay(&session.url).await?;
    plan_becomes(&ctx, keys, &token, &tier.name).await?;
    let sub = subscription_becomes(&ctx, keys, &user, types::SubscriptionStatus::Active).await?;
    ctx.user(keys, &token)
        .track_usage()
        .body_map(|b| b.amount(NonZeroU64::new(137).unwrap()))
        .send()
        .await
        .succeeds("trackUsage beyond the included units (soft limit)")?;
    let detail = admin
        .get_customer()
        .user_id(user.as_str())
        .send()
        .await
        .succeeds("getCustomer")?;
    let shown = detail
        .usage
        .iter()
        .find(|u| u.metric == "requests")
        .and_then(|u| u.overage.clone())
        .ok_or_else(|| Verdict::Fail("getCustomer shows no overage for requests".into()))?;
    ensure_eq!(
        (
            shown.included,
            shown.units,
            shown.amount,
            shown.currency.as_str()
        ),
        (100, 37, 20, "usd"),
        "the period's overage (37 beyond 100: 4 blocks of 10 at 5 cents)"
    );
    ensure!(
        shown.projected_amount >= shown.amount,
        "the projection is at least what is used"
    );

    stripe::advance(&session.url, &sub.id, "renew").await?;
    let renewal = eventually("the renewal's payment with the overage", || async {
        Ok(payments_of(&ctx, keys, &user)
            .await?
            .into_iter()
            .find(|p| p.amount == 2900 + 20))
    })
    .await?;
    let invoice = emulator_json(
        &session.url,
        reqwest::Method::GET,
        &format!("/v1/invoices/{}", renewal.id),
    )
    .await?;
    let lines = overage_lines(&invoice);
    ensure_eq!(
        lines,
        vec![20],
        "the renewal invoice's overage lines (amounts)"
    );

    // Stripe delivers the same invoice.created again: nothing more is billed.
    let events = emulator_json(&session.url, reqwest::Method::GET, "/_emulator/events").await?;
    let created = events
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| {
            e["event"]["type"] == "invoice.created"
                && e["event"]["data"]["object"]["id"] == renewal.id.as_str()
        })
        .map(|e| e["event"]["id"].as_str().unwrap_or_default().to_owned())
        .ok_or_else(|| {
            Verdict::Fail("the emulator has no invoice.created for the renewal".into())
        })?;
    emulator_json(
        &session.url,
        reqwest::Method::POST,
        &format!("/_emulator/events/{created}/resend"),
    )
    .await?;
    eventually("the resent invoice.created answered", || async {
        let events = emulator_json(&session.url, reqwest::Method::GET, "/_emulator/events").await?;
        Ok(events
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["event"]["id"] == created.as_str()
                    && e["delivery"]["attempts"].as_u64() >= Some(2)
                    && e["delivery"]["last_status"] == 200
            })
            .cloned())
    })
    .await?;
    let invoice = emulator_json(
        &session.url,
        reqwest::Method::GET,
        &format!("/v1/invoices/{}", renewal.id),
    )
    .await?;
    ensure_eq!(
        overage_lines(&invoice),
        vec![20],
        "the renewal invoice after the event came back"
    );

    // The next renewal bills the new period only: nothing was used in it.
    stripe::advance(&session.url, &sub.id, "renew").await?;
    let payments = eventually("the second renewal's payment", || async {
        let payments = payments_of(&ctx, keys, &user).await?;
        Ok((payments.len() >= 3).then_some(payments))
    })
    .await?;
    let mut amounts: Vec<i64> = payments.iter().map(|p| p.amount).collect();
    amounts.sort_unstable();
    ensure_eq!(
        amounts,
        vec![2900, 2900, 2920],
        "every payment of the subscription"
    );
    let events = admin
        .list_billing_events()
        .send()
        .await
        .succeeds("listBillingEvents")?;
    ensure!(
        events.data.iter().any(|e| e.type_ == "invoice.created"
            && e.status == types::BillingEventStatus::Processed
            && e.message
                .as_deref()
                .is_some_and(|m| m.contains("overage billed"))),
        "the event log shows the renewal's overage billed"
    );
    Ok(())
}

/// The amounts of an invoice's lines made by invoice items (the overage), in order.
fn overage_lines(invoice: &Value) -> Vec<i64> {
    invoice["lines"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["parent"]["type"] == "invoice_item_details")
        .filter_map(|l| l["amount"].as_i64())
        .collect()
}
