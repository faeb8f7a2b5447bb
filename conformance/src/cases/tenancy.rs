//! Isolation between projects, and between test and live in one project.

use dream_client::types;

use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "tenancy.products-across-projects",
            Core,
            ["TEN-001"],
            "another project's keys cannot see or change a product",
            products_across_projects
        ),
        case!(
            "tenancy.test-and-live",
            Core,
            ["TEN-002"],
            "test and live never see each other's data",
            test_and_live
        ),
        case!(
            "tenancy.customers-across-projects",
            Core,
            ["TEN-003"],
            "customers are invisible to other projects",
            customers_across_projects
        ),
        case!(
            "tenancy.tokens-across-projects",
            Core,
            ["TEN-004"],
            "a user token is refused with another project's publishable key",
            tokens_across_projects
        ),
    ]
}

pub async fn create_product(
    ctx: &Ctx,
    keys: &Keys,
    name: &str,
) -> Result<types::Product, crate::harness::Verdict> {
    ctx.secret(keys)
        .create_product()
        .body_map(|b| {
            b.name(
                name.parse::<types::ProductCreateName>()
                    .expect("product name"),
            )
            .prices(vec![types::PriceCreate {
                currency: "usd".parse().unwrap(),
                unit_amount: 1500,
            }])
        })
        .send()
        .await
        .succeeds("createProduct")
}

async fn products_across_projects(ctx: Ctx) -> CaseResult {
    let owner = ctx.project().await?;
    let other = ctx.project().await?;
    let product = create_product(&ctx, &owner.test, &ctx.name("mug")).await?;
    let intruder = ctx.secret(&other.test);
    let id = product.id.as_str();
    intruder.get_product().product_id(id).send().await.refused(
        "getProduct from another project",
        404,
        "not_found",
    )?;
    intruder
        .update_product()
        .product_id(id)
        .body_map(|b| b.name(Some("Stolen".parse().unwrap())))
        .send()
        .await
        .refused("updateProduct from another project", 404, "not_found")?;
    intruder
        .archive_product()
        .product_id(id)
        .send()
        .await
        .refused("archiveProduct from another project", 404, "not_found")?;
    ctx.publishable(&other.test)
        .get_product()
        .product_id(id)
        .send()
        .await
        .refused(
            "getProduct with another project's publishable key",
            404,
            "not_found",
        )?;
    let listed = intruder
        .list_products()
        .include_archived(true)
        .send()
        .await
        .succeeds("listProducts")?;
    ensure!(
        listed.products.iter().all(|p| p.id != product.id),
        "another project listed the product"
    );
    let mine = ctx
        .secret(&owner.test)
        .get_product()
        .product_id(id)
        .send()
        .await
        .succeeds("getProduct by its owner")?;
    ensure_eq!(
        (mine.name.as_str(), mine.active),
        (product.name.as_str(), true),
        "the product after the intrusions"
    );
    Ok(())
}

async fn test_and_live(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let product = create_product(&ctx, &project.test, &ctx.name("test-mug")).await?;
    let live = ctx.secret(&project.live);
    live.get_product()
        .product_id(product.id.as_str())
        .send()
        .await
        .refused(
            "getProduct of a test product with the live key",
            404,
            "not_found",
        )?;
    let listed = ctx
        .publishable(&project.live)
        .list_products()
        .send()
        .await
        .succeeds("listProducts in live")?;
    ensure!(
        listed.products.iter().all(|p| p.id != product.id),
        "live listed a test product"
    );
    // A user of the test mode is not a customer of the live mode.
    let user = ctx.user_id("moded");
    ctx.user(&project.test, &ctx.token(&user))
        .track_usage()
        .send()
        .await
        .succeeds("trackUsage in test")?;
    live.get_customer()
        .user_id(user.as_str())
        .send()
        .await
        .refused(
            "getCustomer of a test user with the live key",
            404,
            "not_found",
        )?;
    let customers = live
        .list_customers()
        .query(user.as_str())
        .send()
        .await
        .succeeds("listCustomers in live")?;
    ensure!(customers.data.is_empty(), "live listed a test customer");
    // And the other way round.
    let live_product = create_product(&ctx, &project.live, &ctx.name("live-mug")).await?;
    ctx.secret(&project.test)
        .get_product()
        .product_id(live_product.id.as_str())
        .send()
        .await
        .refused(
            "getProduct of a live product with the test key",
            404,
            "not_found",
        )?;
    Ok(())
}

async fn customers_across_projects(ctx: Ctx) -> CaseResult {
    let owner = ctx.project().await?;
    let other = ctx.project().await?;
    let user = ctx.user_id("private");
    ctx.user(&owner.test, &ctx.token(&user))
        .track_usage()
        .send()
        .await
        .succeeds("trackUsage")?;
    let intruder = ctx.secret(&other.test);
    intruder
        .get_customer()
        .user_id(user.as_str())
        .send()
        .await
        .refused("getCustomer from another project", 404, "not_found")?;
    intruder
        .update_customer()
        .user_id(user.as_str())
        .body_map(|b| b.tier(None))
        .send()
        .await
        .refused("updateCustomer from another project", 404, "not_found")?;
    let listed = intruder
        .list_customers()
        .query(user.as_str())
        .send()
        .await
        .succeeds("listCustomers")?;
    ensure!(
        listed.data.is_empty(),
        "another project listed the customer"
    );
    ctx.secret(&owner.test)
        .get_customer()
        .user_id(user.as_str())
        .send()
        .await
        .succeeds("getCustomer by its project")?;
    Ok(())
}

async fn tokens_across_projects(ctx: Ctx) -> CaseResult {
    let owner = ctx.project().await?;
    let token = ctx.token(&ctx.user_id("roaming"));
    ctx.user(&owner.test, &token)
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState in its project")?;
    // A second project, trusting another issuer.
    let other = ctx.fresh_project().await?;
    ctx.secret(&other.test)
        .update_settings()
        .body(types::SettingsUpdate {
            jwt: Some(types::JwtSettingsUpdate {
                issuer: Some("https://someone-else.conformance.invalid".parse().unwrap()),
                jwks_url: None,
                allowed_origins: None,
                leeway_seconds: None,
            }),
            dev_issuer_enabled: None,
            billing: None,
        })
        .send()
        .await
        .succeeds("updateSettings")?;
    ctx.user(&other.test, &token)
        .get_customer_state()
        .send()
        .await
        .refused(
            "a token with another project's publishable key",
            401,
            "invalid_token",
        )?;
    ctx.user(&owner.live, &token)
        .get_customer_state()
        .send()
        .await
        .refused(
            "a test-mode token with the live publishable key",
            401,
            "invalid_token",
        )?;
    Ok(())
}
