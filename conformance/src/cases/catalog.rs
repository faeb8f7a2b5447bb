//! The catalogue: products with prices, and tiers with limits, public reads and admin writes.

use dream_client::types;

use super::tenancy::create_product;
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Verdict};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "products.lifecycle",
            Core,
            ["PROD-001"],
            "products are created, read, updated and archived",
            product_lifecycle
        ),
        case!(
            "products.public-reads",
            Core,
            ["PROD-002"],
            "the publishable key reads active products; unknown ids are 404",
            product_public_reads
        ),
        case!(
            "tiers.lifecycle",
            Core,
            ["TIER-001"],
            "tiers are created, read, updated, archived; names are unique",
            tier_lifecycle
        ),
        case!(
            "tiers.one-default",
            Core,
            ["TIER-002"],
            "exactly one active tier is the default",
            tier_one_default
        ),
    ]
}

async fn product_lifecycle(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let admin = ctx.secret(&project.test);
    let name = ctx.name("mug");
    let created = create_product(&ctx, &project.test, &name).await?;
    ensure_eq!(
        (created.name.as_str(), created.active, created.prices.len()),
        (name.as_str(), true, 1),
        "the created product"
    );
    ensure_eq!(
        (
            created.prices[0].currency.as_str(),
            created.prices[0].unit_amount
        ),
        ("usd", 1500),
        "its price"
    );
    let id = created.id.as_str();
    let read = admin
        .get_product()
        .product_id(id)
        .send()
        .await
        .succeeds("getProduct")?;
    ensure_eq!(read, created, "getProduct after createProduct");
    let renamed = admin
        .update_product()
        .product_id(id)
        .body_map(|b| {
            b.name(Some("Big mug".parse().unwrap()))
                .description(Some("Holds more.".parse().unwrap()))
        })
        .send()
        .await
        .succeeds("updateProduct")?;
    ensure_eq!(
        (
            renamed.name.as_str(),
            renamed.description.as_deref(),
            renamed.prices.len()
        ),
        ("Big mug", Some("Holds more."), 1),
        "the updated product keeps what the update did not name"
    );
    let archived = admin
        .archive_product()
        .product_id(id)
        .send()
        .await
        .succeeds("archiveProduct")?;
    ensure!(!archived.active, "an archived product is inactive");
    let public = ctx
        .publishable(&project.test)
        .list_products()
        .send()
        .await
        .succeeds("listProducts")?;
    ensure!(
        public.products.iter().all(|p| p.id != created.id),
        "an archived product is still public"
    );
    let all = admin
        .list_products()
        .include_archived(true)
        .send()
        .await
        .succeeds("listProducts includeArchived")?;
    ensure!(
        all.products.iter().any(|p| p.id == created.id && !p.active),
        "includeArchived lists the archived product"
    );
    Ok(())
}

async fn product_public_reads(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let product = create_product(&ctx, &project.test, &ctx.name("poster")).await?;
    let public = ctx.publishable(&project.test);
    let listed = public
        .list_products()
        .send()
        .await
        .succeeds("listProducts with the publishable key")?;
    ensure!(
        listed.products.iter().any(|p| p.id == product.id),
        "the new product is listed publicly"
    );
    let read = public
        .get_product()
        .product_id(product.id.as_str())
        .send()
        .await
        .succeeds("getProduct with the publishable key")?;
    ensure_eq!(read.id, product.id, "getProduct");
    public
        .get_product()
        .product_id("prod_doesnotexist")
        .send()
        .await
        .refused("getProduct of an unknown id", 404, "not_found")?;
    Ok(())
}

pub(super) fn tier_body(
    name: &str,
    display: &str,
    is_default: bool,
    limits: Vec<types::TierLimit>,
) -> types::builder::TierCreate {
    types::TierCreate::builder()
        .name(name.parse::<types::TierName>().expect("tier name"))
        .display_name(
            display
                .parse::<types::TierCreateDisplayName>()
                .expect("display name"),
        )
        .is_default(is_default)
        .limits(limits)
}

/// Creates a tier named `name` with the given limit on `requests`.
pub async fn create_tier(
    ctx: &Ctx,
    keys: &Keys,
    name: &str,
    limit: Option<i64>,
    enforcement: types::Enforcement,
) -> Result<types::Tier, Verdict> {
    let limits = vec![types::TierLimit {
        metric: "requests".parse().unwrap(),
        limit,
        enforcement,
        overage: None,
    }];
    ctx.secret(keys)
        .create_tier()
        .body(tier_body(name, name, false, limits))
        .send()
        .await
        .succeeds("createTier")
}

/// A tier name unique to the run (tier names allow lowercase letters, digits, `_` and `-`).
pub fn tier_name(ctx: &Ctx, what: &str) -> String {
    ctx.name(what).to_lowercase()
}

async fn tier_lifecycle(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let admin = ctx.secret(&project.test);
    let name = tier_name(&ctx, "pro");
    let created = create_tier(
        &ctx,
        &project.test,
        &name,
        Some(5000),
        types::Enforcement::Hard,
    )
    .await?;
    ensure_eq!(
        (created.name.as_str(), created.is_default, created.active),
        (name.as_str(), false, true),
        "the created tier"
    );
    ensure_eq!(created.limits.len(), 1, "its limits");
    admin
        .create_tier()
        .body(tier_body(&name, "Again", false, vec![]))
        .send()
        .await
        .refused("createTier with a taken name", 409, "already_exists")?;
    let read = admin
        .get_tier()
        .tier_id(created.id.as_str())
        .send()
        .await
        .succeeds("getTier")?;
    ensure_eq!(read, created, "getTier after createTier");
    let updated = admin
        .update_tier()
        .tier_id(created.id.as_str())
        .body_map(|b| {
            b.display_name(Some("Professional".parse().unwrap()))
                .price(Some(types::TierPrice {
                    currency: "usd".parse().unwrap(),
                    interval: types::TierPriceInterval::Month,
                    unit_amount: 1900,
                }))
        })
        .send()
        .await
        .succeeds("updateTier")?;
    ensure_eq!(
        (
            updated.display_name.as_str(),
            updated.price.as_ref().map(|p| p.unit_amount),
            updated.limits.len()
        ),
        ("Professional", Some(1900), 1),
        "the updated tier keeps what the update did not name"
    );
    let public = ctx
        .publishable(&project.test)
        .list_tiers()
        .send()
        .await
        .succeeds("listTiers with the publishable key")?;
    ensure!(
        public.tiers.iter().any(|t| t.id == created.id),
        "the tier is listed publicly"
    );
    let archived = admin
        .archive_tier()
        .tier_id(created.id.as_str())
        .send()
        .await
        .succeeds("archiveTier")?;
    ensure!(!archived.active, "an archived tier is inactive");
    let public = ctx
        .publishable(&project.test)
        .list_tiers()
        .send()
        .await
        .succeeds("listTiers")?;
    ensure!(
        public.tiers.iter().all(|t| t.id != created.id),
        "an archived tier is still listed"
    );
    admin
        .get_tier()
        .tier_id("tier_doesnotexist")
        .send()
        .await
        .refused("getTier of an unknown id", 404, "not_found")?;
    Ok(())
}

async fn tier_one_default(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let admin = ctx.secret(&project.test);
    let defaults = |tiers: &[types::Tier]| -> Vec<String> {
        tiers
            .iter()
            .filter(|t| t.is_default && t.active)
            .map(|t| t.name.to_string())
            .collect()
    };
    let before = admin.list_tiers().send().await.succeeds("listTiers")?.tiers;
    ensure_eq!(defaults(&before).len(), 1, "default tiers of a new project");
    let name = tier_name(&ctx, "starter");
    let created = admin
        .create_tier()
        .body(tier_body(&name, "Starter", true, vec![]))
        .send()
        .await
        .succeeds("createTier isDefault")?;
    ensure!(created.is_default, "the new tier is the default");
    let after = admin.list_tiers().send().await.succeeds("listTiers")?.tiers;
    ensure_eq!(
        defaults(&after),
        vec![name.clone()],
        "default tiers after creating a default"
    );
    admin
        .archive_tier()
        .tier_id(created.id.as_str())
        .send()
        .await
        .refused("archiveTier of the default tier", 422, "validation_failed")?;
    Ok(())
}
