//! Billing: subscription checkout, plans set by Stripe's webhooks only, the subscription's
//! lifecycle, the customer portal, and guest cart checkout.
//!
//! Paying a checkout and advancing a subscription need the backend's test mode on Dream's
//! Stripe emulator (its hosted pages and test controls); elsewhere those cases are skipped.

use dream_client::types;

use super::catalog::{create_tier, tier_name};
use super::tenancy::create_product;
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Project, Verdict};
use crate::stripe::{self, eventually, pay};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "billing.upgrade-loop",
            Billing,
            ["BILL-001", "BILL-002", "BILL-005", "MET-004"],
            "a user at the free limit buys pro; the webhook raises the plan and the limit",
            upgrade_loop
        ),
        case!(
            "billing.subscription-lifecycle",
            Billing,
            ["BILL-003", "BILL-004"],
            "a renewal resets the period, a failed payment is logged, a cancellation downgrades",
            subscription_lifecycle
        ),
        case!(
            "billing.checkout-refusals",
            Billing,
            ["BILL-006"],
            "checkouts for unknown or free tiers, bad URLs or without a user are refused",
            checkout_refusals
        ),
        case!(
            "billing.portal",
            Billing,
            ["BILL-007"],
            "the customer portal needs a Stripe customer",
            portal
        ),
        case!(
            "billing.out-of-order-events",
            Billing,
            ["WH-004"],
            "an older subscription event never overwrites newer state",
            out_of_order_events
        ),
        case!(
            "cart.checkout",
            Billing,
            ["CART-001"],
            "a guest cart is paid and recorded as a payment",
            cart_checkout
        ),
        case!(
            "cart.refusals",
            Billing,
            ["CART-002"],
            "carts with foreign, archived, duplicate or mixed-currency prices are refused",
            cart_refusals
        ),
    ]
}

const SUCCESS: &str = "https://app.example.com/billing?done=1";
const CANCEL: &str = "https://app.example.com/pricing";

fn url(u: &str) -> types::RedirectUrl {
    u.parse().expect("a redirect URL")
}

/// A paid tier (`usd` 29.00 a month) with a hard limit on `requests`.
async fn paid_tier(ctx: &Ctx, keys: &Keys, what: &str, limit: i64) -> Result<types::Tier, Verdict> {
    let name = tier_name(ctx, what);
    let tier = create_tier(ctx, keys, &name, Some(limit), types::Enforcement::Hard).await?;
    ctx.secret(keys)
        .update_tier()
        .tier_id(tier.id.as_str())
        .body(types::TierUpdate {
            price: Some(types::TierPrice {
                currency: "usd".parse().unwrap(),
                unit_amount: 2900,
                interval: types::TierPriceInterval::Month,
            }),
            ..Default::default()
        })
        .send()
        .await
        .succeeds("updateTier with a price")
}

/// Limits the project's default tier to `limit` hard `requests`.
pub(super) async fn limit_default_tier(
    ctx: &Ctx,
    keys: &Keys,
    limit: i64,
) -> Result<types::Tier, Verdict> {
    let admin = ctx.secret(keys);
    let tiers = admin.list_tiers().send().await.succeeds("listTiers")?;
    let default = tiers
        .tiers
        .into_iter()
        .find(|t| t.is_default)
        .ok_or_else(|| Verdict::Fail("the project has no default tier".into()))?;
    admin
        .update_tier()
        .tier_id(default.id.as_str())
        .body(types::TierUpdate {
            limits: Some(vec![types::TierLimit {
                metric: "requests".parse().unwrap(),
                limit: Some(limit),
                enforcement: types::Enforcement::Hard,
                overage: None,
            }]),
            ..Default::default()
        })
        .send()
        .await
        .succeeds("updateTier on the default tier")
}

pub(super) async fn checkout(
    ctx: &Ctx,
    keys: &Keys,
    token: &str,
    tier: &str,
) -> Result<types::CheckoutSession, Verdict> {
    ctx.user(keys, token)
        .create_checkout()
        .body(types::CheckoutCreate {
            tier: tier.parse().unwrap(),
            success_url: Some(url(SUCCESS)),
            cancel_url: Some(url(CANCEL)),
        })
        .send()
        .await
        .succeeds("createCheckout")
}

/// Waits until the user's plan is the tier named `tier`.
pub(super) async fn plan_becomes(
    ctx: &Ctx,
    keys: &Keys,
    token: &str,
    tier: &str,
) -> Result<types::CustomerState, Verdict> {
    let user = ctx.user(keys, token);
    eventually(&format!("the plan becoming {tier}"), || {
        let user = user.clone();
        async move {
            let state = user
                .get_customer_state()
                .send()
                .await
                .succeeds("getCustomerState")?;
            Ok((state.tier.name == tier).then_some(state))
        }
    })
    .await
}

/// The customer's subscription as the API shows it (`getCustomer`), if any.
pub(super) async fn subscription_of(
    ctx: &Ctx,
    keys: &Keys,
    user: &str,
) -> Result<Option<types::Subscription>, Verdict> {
    let detail = ctx
        .secret(keys)
        .get_customer()
        .user_id(user)
        .send()
        .await
        .succeeds("getCustomer")?;
    Ok(detail.billing.and_then(|b| b.subscription))
}

/// The customer's subscription, which must exist.
async fn subscribed_now(
    ctx: &Ctx,
    keys: &Keys,
    user: &str,
) -> Result<types::Subscription, Verdict> {
    subscription_of(ctx, keys, user)
        .await?
        .ok_or_else(|| Verdict::Fail("the customer shows no subscription".into()))
}

/// A user on a project, subscribed to a paid tier through a paid checkout.
struct Subscribed {
    project: Project,
    user: String,
    token: String,
    paid: types::Tier,
    default: types::Tier,
    checkout: types::CheckoutSession,
}

async fn subscribed(ctx: &Ctx, limit_free: i64) -> Result<Subscribed, Verdict> {
    let project = ctx.fresh_project().await?;
    let default = limit_default_tier(ctx, &project.test, limit_free).await?;
    let paid = paid_tier(ctx, &project.test, "pro", 100).await?;
    let user = ctx.user_id("buyer");
    let token = ctx.token(&user);
    Ok(Subscribed {
        checkout: checkout(ctx, &project.test, &token, &paid.name).await?,
        project,
        user,
        token,
        paid,
        default,
    })
}

async fn upgrade_loop(ctx: Ctx) -> CaseResult {
    let s = subscribed(&ctx, 2).await?;
    let user = ctx.user(&s.project.test, &s.token);
    for _ in 0..2 {
        user.track_usage()
            .send()
            .await
            .succeeds("trackUsage on the free tier")?;
    }
    user.track_usage().send().await.refused(
        "trackUsage past the free limit",
        402,
        "usage_limit_exceeded",
    )?;
    let before = user
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(
        before.tier.name,
        s.default.name,
        "the plan before paying (a checkout alone changes nothing)"
    );
    ensure!(
        s.checkout.url.starts_with("http"),
        "the checkout URL is absolute: {}",
        s.checkout.url
    );

    pay(&s.checkout.url).await?;
    let after = plan_becomes(&ctx, &s.project.test, &s.token, &s.paid.name).await?;
    let tracked = user
        .track_usage()
        .send()
        .await
        .succeeds("trackUsage on the paid tier")?;
    ensure_eq!(
        (tracked.usage_count, tracked.limit),
        (1, Some(100)),
        "the count and limit in the subscription's period"
    );
    ensure!(
        after.period_start.0 > before.period_start.0,
        "the usage period follows the subscription (starts {}), not the calendar month ({})",
        after.period_start.0,
        before.period_start.0
    );
    ctx.user(&s.project.test, &s.token)
        .create_checkout()
        .body(types::CheckoutCreate {
            tier: s.paid.name.parse().unwrap(),
            success_url: Some(url(SUCCESS)),
            cancel_url: Some(url(CANCEL)),
        })
        .send()
        .await
        .refused(
            "a second checkout while subscribed",
            409,
            "subscription_exists",
        )?;

    let admin = ctx.secret(&s.project.test);
    let detail = admin
        .get_customer()
        .user_id(s.user.as_str())
        .send()
        .await
        .succeeds("getCustomer")?;
    let billing = detail
        .billing
        .ok_or_else(|| Verdict::Fail("the customer shows no billing".into()))?;
    ensure!(
        billing.stripe_customer_id.is_some(),
        "the customer has a Stripe customer"
    );
    let sub = billing
        .subscription
        .ok_or_else(|| Verdict::Fail("the customer shows no subscription".into()))?;
    ensure_eq!(
        (sub.status, sub.tier.name.as_str()),
        (types::SubscriptionStatus::Active, s.paid.name.as_str()),
        "the subscription"
    );
    let payments = eventually("the first invoice's payment", || {
        let admin = admin.clone();
        async move {
            let list = admin
                .list_payments()
                .send()
                .await
                .succeeds("listPayments")?;
            Ok((!list.data.is_empty()).then_some(list))
        }
    })
    .await?;
    ensure_eq!(
        (
            payments.data[0].kind,
            payments.data[0].amount,
            payments.data[0].currency.as_str(),
            payments.data[0].user_id.as_deref()
        ),
        (
            types::PaymentKind::Subscription,
            2900,
            "usd",
            Some(s.user.as_str())
        ),
        "the recorded payment"
    );
    // Revenue and MRR count the invoice and the live subscription (exactly, in a project of
    // this case's own; at least, in a provisioned one that earlier runs have used).
    let revenue = admin
        .get_revenue_metrics()
        .send()
        .await
        .succeeds("getRevenueMetrics")?;
    let usd = |amounts: Vec<(String, i64)>| {
        amounts
            .into_iter()
            .find(|(c, _)| c == "usd")
            .map_or(0, |(_, a)| a)
    };
    let received = usd(revenue
        .currencies
        .iter()
        .map(|c| (c.currency.to_string(), c.total))
        .collect());
    let mrr = usd(revenue
        .mrr
        .iter()
        .map(|m| (m.currency.to_string(), m.amount))
        .collect());
    if s.project.fresh {
        ensure_eq!(
            (received, mrr, revenue.live_subscriptions),
            (2900, 2900, 1),
            "revenue received, MRR and live subscriptions"
        );
    } else {
        ensure!(
            received >= 2900 && mrr >= 2900 && revenue.live_subscriptions >= 1,
            "revenue {received}, MRR {mrr}, {} live subscriptions",
            revenue.live_subscriptions
        );
    }
    let events = admin
        .list_billing_events()
        .send()
        .await
        .succeeds("listBillingEvents")?;
    ensure!(
        events
            .data
            .iter()
            .any(|e| e.type_ == "checkout.session.completed"
                && e.status == types::BillingEventStatus::Processed),
        "the event log shows the processed checkout.session.completed"
    );
    Ok(())
}

async fn subscription_lifecycle(ctx: Ctx) -> CaseResult {
    let s = subscribed(&ctx, 1000).await?;
    pay(&s.checkout.url).await?;
    let first = plan_becomes(&ctx, &s.project.test, &s.token, &s.paid.name).await?;
    let user = ctx.user(&s.project.test, &s.token);
    for _ in 0..3 {
        user.track_usage().send().await.succeeds("trackUsage")?;
    }
    let admin = ctx.secret(&s.project.test);
    let sub = subscribed_now(&ctx, &s.project.test, &s.user).await?;

    stripe::advance(&s.checkout.url, &sub.id, "renew").await?;
    let renewed = eventually("the renewed period", || {
        let user = user.clone();
        let start = first.period_start.0;
        async move {
            let state = user
                .get_customer_state()
                .send()
                .await
                .succeeds("getCustomerState")?;
            Ok((state.period_start.0 > start).then_some(state))
        }
    })
    .await?;
    ensure_eq!(
        renewed.period_start.0,
        first.period_end.0,
        "the new period starts where the old one ended"
    );
    let usage = user.check_usage().send().await.succeeds("checkUsage")?;
    ensure_eq!(usage.usage_count, 0, "the count after the renewal");

    stripe::advance(&s.checkout.url, &sub.id, "fail_payment").await?;
    let failed = eventually("invoice.payment_failed in the event log", || {
        let admin = admin.clone();
        async move {
            let events = admin
                .list_billing_events()
                .send()
                .await
                .succeeds("listBillingEvents")?;
            Ok(events
                .data
                .into_iter()
                .find(|e| e.type_ == "invoice.payment_failed"))
        }
    })
    .await?;
    ensure_eq!(
        failed.status,
        types::BillingEventStatus::Processed,
        "the failed payment's event"
    );
    eventually("the subscription going past due", || async {
        let sub = subscribed_now(&ctx, &s.project.test, &s.user).await?;
        Ok((sub.status == types::SubscriptionStatus::PastDue).then_some(()))
    })
    .await?;
    let state = user
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(
        state.tier.name,
        s.paid.name,
        "the plan while Stripe retries the payment"
    );

    stripe::advance(&s.checkout.url, &sub.id, "cancel").await?;
    plan_becomes(&ctx, &s.project.test, &s.token, &s.default.name).await?;
    let sub = subscribed_now(&ctx, &s.project.test, &s.user).await?;
    ensure_eq!(
        sub.status,
        types::SubscriptionStatus::Canceled,
        "the subscription after cancelling"
    );
    Ok(())
}

async fn checkout_refusals(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let paid = paid_tier(&ctx, &project.test, "pro", 100).await?;
    let default = limit_default_tier(&ctx, &project.test, 1000).await?;
    let token = ctx.token(&ctx.user_id("refused"));
    let user = ctx.user(&project.test, &token);
    let attempt = |tier: &str, success: Option<&str>, cancel: Option<&str>| {
        user.create_checkout().body(types::CheckoutCreate {
            tier: tier.parse().unwrap(),
            success_url: success.map(url),
            cancel_url: cancel.map(url),
        })
    };
    let refusal = attempt("no-such-tier", Some(SUCCESS), Some(CANCEL))
        .send()
        .await
        .refused("a checkout for an unknown tier", 422, "validation_failed")?;
    ensure_eq!(refusal.param.as_deref(), Some("tier"), "its param");
    let refusal = attempt(&default.name, Some(SUCCESS), Some(CANCEL))
        .send()
        .await
        .refused(
            "a checkout for a tier without a price",
            422,
            "validation_failed",
        )?;
    ensure_eq!(refusal.param.as_deref(), Some("tier"), "its param");
    for (success, cancel, param) in [
        (Some("/thanks"), Some(CANCEL), "successUrl"),
        (Some("javascript:alert(1)"), Some(CANCEL), "successUrl"),
        (Some(SUCCESS), Some("ftp://files.example.com/"), "cancelUrl"),
        (None, Some(CANCEL), "successUrl"),
    ] {
        let refusal = attempt(&paid.name, success, cancel).send().await.refused(
            &format!("a checkout with {success:?} / {cancel:?} and no site URL"),
            422,
            "validation_failed",
        )?;
        ensure_eq!(
            refusal.param.as_deref(),
            Some(param),
            "the param for {success:?} / {cancel:?}"
        );
    }
    let body = types::CheckoutCreate {
        tier: paid.name.parse().unwrap(),
        success_url: Some(url(SUCCESS)),
        cancel_url: Some(url(CANCEL)),
    };
    ctx.publishable(&project.test)
        .create_checkout()
        .body(body.clone())
        .send()
        .await
        .refused("a checkout with no user token", 401, "missing_credentials")?;
    ctx.secret(&project.test)
        .create_checkout()
        .body(body)
        .send()
        .await
        .refused("a checkout with the secret key", 403, "user_token_required")?;

    // With a site URL, paths resolve against it and absent URLs default to it.
    ctx.secret(&project.test)
        .update_settings()
        .body(types::SettingsUpdate {
            billing: Some(types::BillingSettingsUpdate {
                site_url: Some("https://shop.example.com".parse().unwrap()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .send()
        .await
        .succeeds("updateSettings with a site URL")?;
    let made = attempt(&paid.name, Some("/thanks"), None)
        .send()
        .await
        .succeeds("a checkout with a path and the site URL")?;
    ensure!(
        !made.url.is_empty() && !made.id.is_empty(),
        "the checkout has an id and URL"
    );
    let state = user
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(
        state.tier.name,
        default.name,
        "the plan after creating (not paying) a checkout"
    );
    Ok(())
}

async fn portal(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let paid = paid_tier(&ctx, &project.test, "pro", 100).await?;
    let token = ctx.token(&ctx.user_id("portal"));
    let user = ctx.user(&project.test, &token);
    let open = |return_url: &str| {
        user.create_portal_session().body(types::PortalCreate {
            return_url: Some(url(return_url)),
        })
    };
    open(SUCCESS).send().await.refused(
        "the portal before any checkout",
        409,
        "no_billing_account",
    )?;
    checkout(&ctx, &project.test, &token, &paid.name).await?;
    let portal = open(SUCCESS).send().await.succeeds("createPortalSession")?;
    ensure!(
        portal.url.starts_with("http"),
        "the portal URL is absolute: {}",
        portal.url
    );
    let refusal = open("javascript:alert(1)").send().await.refused(
        "a portal with a script return URL",
        422,
        "validation_failed",
    )?;
    ensure_eq!(refusal.param.as_deref(), Some("returnUrl"), "its param");
    Ok(())
}

async fn out_of_order_events(ctx: Ctx) -> CaseResult {
    ctx.webhook_secret()?;
    let project = ctx.fresh_project().await?;
    let default = limit_default_tier(&ctx, &project.test, 1000).await?;
    let paid = paid_tier(&ctx, &project.test, "pro", 100).await?;
    let user_id = ctx.user_id("ordered");
    let token = ctx.token(&user_id);
    checkout(&ctx, &project.test, &token, &paid.name).await?;
    let admin = ctx.secret(&project.test);
    let customer = admin
        .get_customer()
        .user_id(user_id.as_str())
        .send()
        .await
        .succeeds("getCustomer")?
        .billing
        .and_then(|b| b.stripe_customer_id)
        .ok_or_else(|| {
            Verdict::Fail("a checkout left the user without a Stripe customer".into())
        })?;

    let sub_id = format!("sub_{}", ctx.user_id("sub").replace('_', ""));
    let t = stripe::now() - 100;
    let (start, end) = (t, t + 30 * 86_400);
    let send = |n: usize, kind: &'static str, created: i64, status: &'static str| {
        let payload = stripe::event(
            &format!("evt_{}_{n}", ctx.user_id("order").replace('_', "")),
            kind,
            None,
            created,
            stripe::subscription(&sub_id, &customer, &paid.id, status, start, end),
        );
        let ctx = ctx.clone();
        async move {
            let raw = ctx.deliver_signed(&payload).await?;
            ensure_eq!(
                raw.status,
                200,
                "delivering {kind} ({status}): {}",
                raw.body
            );
            Ok::<_, Verdict>(())
        }
    };
    // The update (newer) arrives before the creation (older).
    send(1, "customer.subscription.updated", t + 10, "active").await?;
    send(2, "customer.subscription.created", t, "incomplete").await?;
    let user = ctx.user(&project.test, &token);
    let state = user
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(
        state.tier.name,
        paid.name,
        "the plan after a late, older created event"
    );
    // Deleted, then a stale update from before the deletion.
    send(3, "customer.subscription.deleted", t + 20, "canceled").await?;
    send(4, "customer.subscription.updated", t + 15, "active").await?;
    let state = user
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(
        state.tier.name,
        default.name,
        "the plan after a stale update following the deletion"
    );
    let events = admin
        .list_billing_events()
        .send()
        .await
        .succeeds("listBillingEvents")?;
    let ignored = events
        .data
        .iter()
        .filter(|e| {
            e.status == types::BillingEventStatus::Ignored
                && e.type_.starts_with("customer.subscription")
        })
        .count();
    ensure_eq!(
        ignored,
        2,
        "stale subscription events the log shows as ignored"
    );
    Ok(())
}

async fn cart_checkout(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let mug = create_product(&ctx, &project.test, &ctx.name("mug")).await?;
    let poster = create_product(&ctx, &project.test, &ctx.name("poster")).await?;
    let email = format!("{}@example.com", ctx.user_id("buyer"));
    let session = ctx
        .publishable(&project.test)
        .cart_checkout()
        .body(types::CartCheckoutCreate {
            items: vec![item(&mug.prices[0].id, 2), item(&poster.prices[0].id, 1)],
            customer_email: Some(email.parse().unwrap()),
            success_url: url(SUCCESS),
            cancel_url: url(CANCEL),
        })
        .send()
        .await
        .succeeds("cartCheckout")?;
    pay(&session.url).await?;
    let admin = ctx.secret(&project.test);
    let payment = eventually("the cart's payment", || {
        let admin = admin.clone();
        let id = session.id.clone();
        async move {
            let list = admin
                .list_payments()
                .send()
                .await
                .succeeds("listPayments")?;
            Ok(list.data.into_iter().find(|p| p.id == id))
        }
    })
    .await?;
    ensure_eq!(
        (
            payment.kind,
            payment.amount,
            payment.currency.as_str(),
            payment.customer_email.as_deref()
        ),
        (
            types::PaymentKind::Cart,
            3 * 1500,
            "usd",
            Some(email.as_str())
        ),
        "the recorded cart payment"
    );
    Ok(())
}

fn item(price: &str, quantity: u32) -> types::CartItem {
    types::CartItem {
        price_id: price.parse().unwrap(),
        quantity: std::num::NonZeroU32::new(quantity).expect("a positive quantity"),
    }
}

async fn cart_refusals(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let other = ctx.project().await?;
    let mug = create_product(&ctx, &project.test, &ctx.name("mug")).await?;
    let retired = create_product(&ctx, &project.test, &ctx.name("retired")).await?;
    ctx.secret(&project.test)
        .archive_product()
        .product_id(retired.id.as_str())
        .send()
        .await
        .succeeds("archiveProduct")?;
    let foreign = create_product(&ctx, &other.test, &ctx.name("foreign")).await?;
    let euro = ctx
        .secret(&project.test)
        .create_product()
        .body_map(|b| {
            b.name(
                ctx.name("euro")
                    .parse::<types::ProductCreateName>()
                    .unwrap(),
            )
            .prices(vec![types::PriceCreate {
                currency: "eur".parse().unwrap(),
                unit_amount: 900,
            }])
        })
        .send()
        .await
        .succeeds("createProduct in euros")?;
    let good = &mug.prices[0].id;
    let public = ctx.publishable(&project.test);
    let cases = [
        (
            vec![item(good, 1), item(&foreign.prices[0].id, 1)],
            "items[1].priceId",
            "another project's price",
        ),
        (
            vec![item("price_does_not_exist", 1)],
            "items[0].priceId",
            "an unknown price",
        ),
        (
            vec![item(good, 1), item(&retired.prices[0].id, 2)],
            "items[1].priceId",
            "an archived product's price",
        ),
        (
            vec![item(good, 1), item(&euro.prices[0].id, 1)],
            "items[1].priceId",
            "a second currency",
        ),
        (
            vec![item(good, 1), item(good, 2)],
            "items[1].priceId",
            "the same price twice",
        ),
        (
            vec![item(good, 1000)],
            "items[0].quantity",
            "a quantity of 1000",
        ),
        (vec![], "items", "an empty cart"),
    ];
    for (items, param, what) in cases {
        let refusal = public
            .cart_checkout()
            .body(types::CartCheckoutCreate {
                items,
                customer_email: None,
                success_url: url(SUCCESS),
                cancel_url: url(CANCEL),
            })
            .send()
            .await
            .refused(&format!("a cart with {what}"), 422, "validation_failed")?;
        ensure_eq!(
            refusal.param.as_deref(),
            Some(param),
            "the param for {what}"
        );
    }
    for (success, param) in [
        ("javascript:alert(1)", "successUrl"),
        ("/thanks", "successUrl"),
    ] {
        let refusal = public
            .cart_checkout()
            .body(types::CartCheckoutCreate {
                items: vec![item(good, 1)],
                customer_email: None,
                success_url: url(success),
                cancel_url: url(CANCEL),
            })
            .send()
            .await
            .refused(
                &format!("a cart returning to {success}"),
                422,
                "validation_failed",
            )?;
        ensure_eq!(
            refusal.param.as_deref(),
            Some(param),
            "the param for {success}"
        );
    }
    let zero = ctx
        .raw(http::Method::POST, "/v1/cart/checkout")
        .header("x-publishable-key", &project.test.publishable)
        .json(&serde_json::json!({
            "items": [{ "priceId": good, "quantity": 0 }],
            "successUrl": SUCCESS,
            "cancelUrl": CANCEL,
        }));
    let raw = crate::harness::send_raw(zero, "a cart with a quantity of 0").await?;
    ensure_eq!(
        (raw.status, raw.code()),
        (422, "validation_failed"),
        "a cart with a quantity of 0"
    );
    let payments = ctx
        .secret(&project.test)
        .list_payments()
        .send()
        .await
        .succeeds("listPayments")?;
    ensure!(
        payments.data.is_empty(),
        "refused carts recorded no payment"
    );
    Ok(())
}
