//! Tiers and products over HTTP.

use super::{Caller, Server, changed, convert};
use crate::app::AppResult;
use crate::app::catalog::{ProductChanges, ProductInput, TierChanges, TierInput};
use crate::domain::{LimitRule, Overage, RateLimitRule, TierPrice, Trial, TrialPaymentMethod};
use crate::generated::{self as api, types};
use std::collections::BTreeMap;

fn limits(input: Vec<types::TierLimit>) -> Vec<LimitRule> {
    input
        .into_iter()
        .map(|l| LimitRule {
            metric: l.metric.to_string(),
            limit: l.limit,
            enforcement: convert::enforcement_in(l.enforcement),
            overage: l.overage.map(|o| Overage {
                unit_amount: o.unit_amount.get() as i64,
                per_units: o.per_units.get() as i64,
            }),
        })
        .collect()
}

/// A trial as sent; `days: 0` is none.
fn trial(t: types::TierTrial) -> Option<Trial> {
    (t.days > 0).then(|| Trial {
        days: i64::from(t.days),
        payment_method: match t.payment_method {
            types::TierTrialPaymentMethod::Required => TrialPaymentMethod::Required,
            types::TierTrialPaymentMethod::Optional => TrialPaymentMethod::Optional,
        },
    })
}

fn tier_price(p: Option<types::TierPrice>) -> Option<TierPrice> {
    p.map(|p| TierPrice {
        currency: p.currency.to_string(),
        unit_amount: p.unit_amount,
        interval: convert::interval_in(p.interval),
    })
}

fn rate_limit(r: Option<types::RateLimit>) -> Option<RateLimitRule> {
    r.map(|r| RateLimitRule {
        requests: i64::from(r.requests.get()),
        per_seconds: i64::from(r.per_seconds.get()),
    })
}

fn metadata(m: types::Metadata) -> BTreeMap<String, String> {
    m.0.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

pub(super) async fn list_products(
    server: &Server,
    caller: Caller,
    request: api::ListProductsRequest,
) -> api::ListProductsResponse {
    respond!(caller, ListProductsResponse::Ok, {
        let (tenant, secret) = caller.reader()?;
        let products = server
            .app
            .product_list(tenant, secret && request.include_archived)
            .await?;
        Ok(types::ProductList {
            products: products
                .iter()
                .map(|p| convert::product(p, server.app.assets()))
                .collect::<AppResult<_>>()?,
        })
    })
}

pub(super) async fn create_product(
    server: &Server,
    caller: Caller,
    request: api::CreateProductRequest,
) -> api::CreateProductResponse {
    respond!(caller, CreateProductResponse::Created, {
        let body = request.body;
        let input = ProductInput {
            name: body.name.to_string(),
            description: body.description.map(|d| d.to_string()),
            metadata: body.metadata.map(metadata).unwrap_or_default(),
            prices: body
                .prices
                .into_iter()
                .map(|p| (p.currency.to_string(), p.unit_amount))
                .collect(),
            images: body
                .images
                .into_iter()
                .flatten()
                .map(|id| id.to_string())
                .collect(),
        };
        let product = server.app.product_create(caller.secret()?, input).await?;
        let summary = format!("name: {}", product.name);
        caller
            .audit(&server.app, "createProduct", &product.id, Some(summary))
            .await;
        convert::product(&product, server.app.assets())
    })
}

pub(super) async fn get_product(
    server: &Server,
    caller: Caller,
    request: api::GetProductRequest,
) -> api::GetProductResponse {
    respond!(caller, GetProductResponse::Ok, {
        let (tenant, secret) = caller.reader()?;
        convert::product(
            &server
                .app
                .product_get(tenant, &request.product_id, secret)
                .await?,
            server.app.assets(),
        )
    })
}

pub(super) async fn update_product(
    server: &Server,
    caller: Caller,
    request: api::UpdateProductRequest,
) -> api::UpdateProductResponse {
    respond!(caller, UpdateProductResponse::Ok, {
        let body = request.body;
        let changed = changed(&[
            ("name", body.name.is_some()),
            ("description", body.description.is_some()),
            ("metadata", body.metadata.is_some()),
            ("active", body.active.is_some()),
            ("images", body.images.is_some()),
        ]);
        let changes = ProductChanges {
            name: body.name.map(|n| n.to_string()),
            description: body.description.map(|d| d.to_string()),
            metadata: body.metadata.map(metadata),
            active: body.active,
            images: body
                .images
                .map(|ids| ids.into_iter().map(|id| id.to_string()).collect()),
        };
        let product = server
            .app
            .product_update(caller.secret()?, &request.product_id, changes)
            .await?;
        caller
            .audit(&server.app, "updateProduct", &product.id, changed)
            .await;
        convert::product(&product, server.app.assets())
    })
}

pub(super) async fn archive_product(
    server: &Server,
    caller: Caller,
    request: api::ArchiveProductRequest,
) -> api::ArchiveProductResponse {
    respond!(caller, ArchiveProductResponse::Ok, {
        let changes = ProductChanges {
            active: Some(false),
            ..Default::default()
        };
        let product = server
            .app
            .product_update(caller.secret()?, &request.product_id, changes)
            .await?;
        let summary = format!("archived {}", product.name);
        caller
            .audit(&server.app, "archiveProduct", &product.id, Some(summary))
            .await;
        convert::product(&product, server.app.assets())
    })
}

pub(super) async fn list_tiers(
    server: &Server,
    caller: Caller,
    request: api::ListTiersRequest,
) -> api::ListTiersResponse {
    respond!(caller, ListTiersResponse::Ok, {
        let (tenant, secret) = caller.reader()?;
        let tiers = server
            .app
            .tier_list(tenant, secret && request.include_archived)
            .await?;
        Ok(types::TierList {
            tiers: tiers.iter().map(convert::tier).collect::<AppResult<_>>()?,
        })
    })
}

pub(super) async fn create_tier(
    server: &Server,
    caller: Caller,
    request: api::CreateTierRequest,
) -> api::CreateTierResponse {
    respond!(caller, CreateTierResponse::Created, {
        let body = request.body;
        let input = TierInput {
            name: body.name.to_string(),
            display_name: body.display_name.to_string(),
            is_default: body.is_default,
            price: tier_price(body.price),
            trial: body.trial.and_then(trial),
            limits: limits(body.limits),
            rate_limit: rate_limit(body.rate_limit),
            features: body
                .features
                .unwrap_or_default()
                .iter()
                .map(|f| f.to_string())
                .collect(),
        };
        let tier = server.app.tier_create(caller.secret()?, input).await?;
        let summary = format!("name: {}", tier.name);
        caller
            .audit(&server.app, "createTier", &tier.id, Some(summary))
            .await;
        convert::tier(&tier)
    })
}

pub(super) async fn get_tier(
    server: &Server,
    caller: Caller,
    request: api::GetTierRequest,
) -> api::GetTierResponse {
    respond!(caller, GetTierResponse::Ok, {
        let (tenant, secret) = caller.reader()?;
        convert::tier(
            &server
                .app
                .tier_get(tenant, &request.tier_id, secret)
                .await?,
        )
    })
}

pub(super) async fn update_tier(
    server: &Server,
    caller: Caller,
    request: api::UpdateTierRequest,
) -> api::UpdateTierResponse {
    respond!(caller, UpdateTierResponse::Ok, {
        let body = request.body;
        let changed = changed(&[
            ("displayName", body.display_name.is_some()),
            ("isDefault", body.is_default.is_some()),
            ("price", body.price.is_some()),
            ("trial", body.trial.is_some()),
            ("limits", body.limits.is_some()),
            ("rateLimit", body.rate_limit.is_some()),
            ("features", body.features.is_some()),
            ("active", body.active.is_some()),
        ]);
        let changes = TierChanges {
            display_name: body.display_name.map(|d| d.to_string()),
            is_default: body.is_default,
            price: tier_price(body.price),
            trial: body.trial.map(trial),
            limits: body.limits.map(limits),
            rate_limit: rate_limit(body.rate_limit),
            features: body
                .features
                .map(|list| list.iter().map(|f| f.to_string()).collect()),
            active: body.active,
        };
        let tier = server
            .app
            .tier_update(caller.secret()?, &request.tier_id, changes)
            .await?;
        caller
            .audit(&server.app, "updateTier", &tier.id, changed)
            .await;
        convert::tier(&tier)
    })
}

pub(super) async fn archive_tier(
    server: &Server,
    caller: Caller,
    request: api::ArchiveTierRequest,
) -> api::ArchiveTierResponse {
    respond!(caller, ArchiveTierResponse::Ok, {
        let tier = server
            .app
            .tier_archive(caller.secret()?, &request.tier_id)
            .await?;
        let summary = format!("archived {}", tier.name);
        caller
            .audit(&server.app, "archiveTier", &tier.id, Some(summary))
            .await;
        convert::tier(&tier)
    })
}
