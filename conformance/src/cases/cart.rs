//! A guest cart checkout's outcome, read back with the publishable key for the buyer's
//! order-confirmation page: before and after paying, and never across tenants.
//!
//! Paying needs the backend's test mode on Dream's Stripe emulator (its hosted page); elsewhere
//! the case is skipped when it comes to paying.

use dream_client::types;

use super::tenancy::create_product;
use crate::harness::{Case, CaseResult, Ctx, Expect as _};
use crate::stripe::{eventually, pay};
use crate::{case, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![case!(
        "cart.outcome",
        Billing,
        ["CART-003"],
        "a cart checkout's outcome is read back by its id, items and all, by its own project only",
        outcome
    )]
}

async fn outcome(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let other = ctx.project().await?;
    let mug = create_product(&ctx, &project.test, &ctx.name("mug")).await?;
    let poster = create_product(&ctx, &project.test, &ctx.name("poster")).await?;
    let email = format!("{}@example.com", ctx.user_id("buyer"));
    let public = ctx.publishable(&project.test);
    let session = public
        .cart_checkout()
        .body(types::CartCheckoutCreate {
            items: vec![
                types::CartItem {
                    price_id: mug.prices[0].id.parse().unwrap(),
                    quantity: std::num::NonZeroU32::new(2).unwrap(),
                },
                types::CartItem {
                    price_id: poster.prices[0].id.parse().unwrap(),
                    quantity: std::num::NonZeroU32::new(1).unwrap(),
                },
            ],
            customer_email: Some(email.parse().unwrap()),
            success_url: "https://shop.example.com/thanks?session={CHECKOUT_SESSION_ID}"
                .parse()
                .unwrap(),
            cancel_url: "https://shop.example.com/cart".parse().unwrap(),
        })
        .send()
        .await
        .succeeds("cartCheckout")?;
    let read = |keys| {
        let client = ctx.publishable(keys);
        let id = session.id.clone();
        async move { client.get_cart_checkout().session_id(id).send().await }
    };
    let before = read(&project.test)
        .await
        .succeeds("getCartCheckout before paying")?;
    ensure_eq!(
        (
            before.status,
            before.payment_status,
            before.recorded,
            before.amount_total,
            before.currency.as_str()
        ),
        (
            types::CartCheckoutOutcomeStatus::Open,
            types::CartCheckoutOutcomePaymentStatus::Unpaid,
            false,
            3 * 1500,
            "usd"
        ),
        "the checkout before paying"
    );
    let items: Vec<(Option<&str>, &str, i64, i64, i64)> = before
        .items
        .iter()
        .map(|i| {
            (
                i.product_id.as_deref(),
                i.name.as_str(),
                i.quantity,
                i.unit_amount,
                i.amount_total,
            )
        })
        .collect();
    ensure_eq!(
        items,
        vec![
            (Some(mug.id.as_str()), mug.name.as_str(), 2, 1500, 3000),
            (
                Some(poster.id.as_str()),
                poster.name.as_str(),
                1,
                1500,
                1500
            ),
        ],
        "the order's items, mapped back to the catalogue"
    );
    read(&other.test)
        .await
        .refused("another project's read of the checkout", 404, "not_found")?;
    public
        .get_cart_checkout()
        .session_id("cs_test_no_such_session")
        .send()
        .await
        .refused("an unknown checkout", 404, "not_found")?;

    pay(&session.url).await?;
    let after = eventually("the checkout paid and recorded", || {
        let read = read(&project.test);
        async move {
            let after = read.await.succeeds("getCartCheckout after paying")?;
            Ok(after.recorded.then_some(after))
        }
    })
    .await?;
    ensure_eq!(
        (
            after.status,
            after.payment_status,
            after.customer_email.as_deref()
        ),
        (
            types::CartCheckoutOutcomeStatus::Complete,
            types::CartCheckoutOutcomePaymentStatus::Paid,
            Some(email.as_str())
        ),
        "the checkout after paying"
    );
    Ok(())
}
