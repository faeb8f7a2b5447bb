//! What each template shows, made through the API where the project lacks it. A thing is
//! looked up by its name (a tier's `name`, a product's `name`) and left as it is when found, so
//! a project the developer has already shaped keeps its shape and a second run makes nothing.

use anyhow::Context as _;
use dream_client::{ApiError, Client, types};
use serde_json::json;

use super::Template;
use super::files::SAMPLES;

/// The SaaS template meters `ai_tokens` (250 a generation) and `requests`.
const FREE_AI_TOKENS: i64 = 2_500;

/// The tiers the SaaS template offers to upgrade to: name, display name, monthly price in
/// cents, included `ai_tokens` and `requests`.
const PAID_TIERS: &[(&str, &str, i64, i64, i64)] = &[
    ("pro", "Pro", 2_900, 100_000, 10_000),
    ("team", "Team", 9_900, 1_000_000, 100_000),
];

/// The shop's products: name, description, price in cents, picture.
const PRODUCTS: &[(&str, &str, i64, &str)] = &[
    ("Dream mug", "Stoneware, 350 ml.", 1_500, "mug.png"),
    ("Dream T-shirt", "Organic cotton.", 2_500, "tshirt.png"),
    (
        "Dream sticker",
        "Vinyl, 8 cm, for laptops and water bottles.",
        300,
        "sticker.png",
    ),
];

/// Makes what `template` shows and the project lacks; answers what was made.
pub async fn prepare(client: &Client, template: Template) -> anyhow::Result<Vec<String>> {
    match template {
        Template::Saas => tiers(client).await,
        Template::Shop => products(client).await,
    }
}

async fn tiers(client: &Client) -> anyhow::Result<Vec<String>> {
    let mut made = Vec::new();
    let tiers = client
        .list_tiers()
        .include_archived(true)
        .send()
        .await
        .map_err(ApiError::from)
        .context("listTiers")?
        .into_inner()
        .tiers;
    if let Some(free) = tiers.iter().find(|t| t.is_default)
        && !free.limits.iter().any(|l| l.metric.as_str() == "ai_tokens")
    {
        let mut limits = serde_json::to_value(&free.limits)?;
        if let Some(all) = limits.as_array_mut() {
            all.push(
                json!({ "metric": "ai_tokens", "limit": FREE_AI_TOKENS, "enforcement": "hard" }),
            );
        }
        let update: types::TierUpdate = serde_json::from_value(json!({ "limits": limits }))?;
        client
            .update_tier()
            .tier_id(free.id.as_str())
            .body(update)
            .send()
            .await
            .map_err(ApiError::from)
            .context("updateTier")?;
        made.push(format!(
            "a limit of {FREE_AI_TOKENS} ai_tokens a month on the default tier {}",
            free.name
        ));
    }
    for &(name, display_name, amount, ai_tokens, requests) in PAID_TIERS {
        if tiers.iter().any(|t| t.name.as_str() == name) {
            continue;
        }
        let tier: types::TierCreate = serde_json::from_value(json!({
            "name": name,
            "displayName": display_name,
            "price": { "currency": "usd", "unitAmount": amount, "interval": "month" },
            "limits": [
                { "metric": "ai_tokens", "limit": ai_tokens, "enforcement": "hard" },
                { "metric": "requests", "limit": requests, "enforcement": "hard" },
            ],
        }))?;
        client
            .create_tier()
            .body(tier)
            .send()
            .await
            .map_err(ApiError::from)
            .with_context(|| format!("createTier {name}"))?;
        made.push(format!(
            "the tier {name} ({}/month)",
            dream_server::domain::money(amount, "usd")
        ));
    }
    Ok(made)
}

async fn products(client: &Client) -> anyhow::Result<Vec<String>> {
    let mut made = Vec::new();
    let products = client
        .list_products()
        .include_archived(true)
        .send()
        .await
        .map_err(ApiError::from)
        .context("listProducts")?
        .into_inner()
        .products;
    for &(name, description, amount, picture) in PRODUCTS {
        let product = match products.iter().find(|p| p.name == name) {
            Some(found) => found.clone(),
            None => {
                let product: types::ProductCreate = serde_json::from_value(json!({
                    "name": name,
                    "description": description,
                    "prices": [{ "currency": "usd", "unitAmount": amount }],
                }))?;
                let created = client
                    .create_product()
                    .body(product)
                    .send()
                    .await
                    .map_err(ApiError::from)
                    .with_context(|| format!("createProduct {name}"))?
                    .into_inner();
                made.push(format!(
                    "the product {name} ({})",
                    dream_server::domain::money(amount, "usd")
                ));
                created
            }
        };
        // A product without pictures gets its sample one (also when an earlier run stopped
        // between making the product and uploading).
        if product.images.is_empty() {
            let bytes = SAMPLES
                .iter()
                .find(|(file, _)| *file == picture)
                .map(|(_, bytes)| bytes.to_vec())
                .context("a sample picture is missing from this build")?;
            client
                .upload_asset()
                .filename(picture)
                .product_id(product.id.as_str())
                .body(bytes)
                .send()
                .await
                .map_err(ApiError::from)
                .with_context(|| format!("uploadAsset {picture}"))?;
            made.push(format!("a picture of {name} ({picture})"));
        }
    }
    Ok(made)
}
