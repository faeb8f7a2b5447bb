//! The catalogue: tiers and products.

use std::collections::BTreeMap;

use super::{App, AppError, AppResult, now};
use crate::domain::{
    Enforcement, LimitRule, Price, Product, ProductImage, RateLimitRule, Tenant, Tier, TierPrice,
    Trial, ids,
};
use crate::store::StoreError;
use crate::store::tiers::NewTier;

/// A tier to create.
pub struct TierInput {
    pub name: String,
    pub display_name: String,
    pub is_default: bool,
    pub price: Option<TierPrice>,
    pub trial: Option<Trial>,
    pub limits: Vec<LimitRule>,
    pub rate_limit: Option<RateLimitRule>,
    pub features: Vec<String>,
}

/// Changes to a tier; `None` leaves a field as it is.
#[derive(Default)]
pub struct TierChanges {
    pub display_name: Option<String>,
    pub is_default: Option<bool>,
    pub price: Option<TierPrice>,
    /// `Some(None)` removes the trial.
    pub trial: Option<Option<Trial>>,
    pub limits: Option<Vec<LimitRule>>,
    pub rate_limit: Option<RateLimitRule>,
    pub features: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A product to create.
pub struct ProductInput {
    pub name: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// (currency, unit amount)
    pub prices: Vec<(String, i64)>,
    /// Asset ids of the tenant, in the order to show them.
    pub images: Vec<String>,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub active: Option<bool>,
    /// Asset ids of the tenant: the product's images from now on, in this order.
    pub images: Option<Vec<String>>,
}

fn check_limits(limits: &[LimitRule]) -> AppResult<()> {
    for (i, l) in limits.iter().enumerate() {
        if limits[..i].iter().any(|other| other.metric == l.metric) {
            return Err(AppError::validation(
                format!("limits[{i}].metric"),
                format!("The metric {} is limited twice.", l.metric),
            ));
        }
    }
    Ok(())
}

/// What billing needs of a tier: overage and a trial are priced in the tier's price, overage
/// is charged beyond a limit, and only a soft limit lets usage go beyond it.
fn check_billing(
    price: Option<&TierPrice>,
    trial: Option<&Trial>,
    limits: &[LimitRule],
) -> AppResult<()> {
    if trial.is_some() && price.is_none() {
        return Err(AppError::validation(
            "trial",
            "A trial needs a price: only a paid tier can be tried for free.",
        ));
    }
    for (i, l) in limits.iter().enumerate() {
        if l.overage.is_none() {
            continue;
        }
        let param = format!("limits[{i}].overage");
        let problem = if price.is_none() {
            Some("Overage is billed in the tier's price currency; give the tier a price.")
        } else if l.limit.is_none() {
            Some(
                "Overage is charged beyond the limit (the included units); give the metric a limit.",
            )
        } else if l.enforcement == Enforcement::Hard {
            Some("A hard limit never lets usage pass it; overage needs soft enforcement.")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(AppError::validation(param, problem));
        }
    }
    Ok(())
}

fn check_features(features: &[String]) -> AppResult<()> {
    for (i, f) in features.iter().enumerate() {
        if features[..i].contains(f) {
            return Err(AppError::validation(
                format!("features[{i}]"),
                format!("The feature {f} is listed twice."),
            ));
        }
    }
    Ok(())
}

impl App {
    pub async fn tier_list(&self, tenant: &Tenant, include_archived: bool) -> AppResult<Vec<Tier>> {
        Ok(self.store.tier_list(tenant, include_archived).await?)
    }

    /// A tier; archived tiers only when `include_archived`.
    pub async fn tier_get(
        &self,
        tenant: &Tenant,
        id: &str,
        include_archived: bool,
    ) -> AppResult<Tier> {
        self.store
            .tier_get(tenant, id)
            .await?
            .filter(|t| t.active || include_archived)
            .ok_or_else(|| AppError::NotFound {
                what: "tier",
                id: id.to_string(),
                param: "tierId",
            })
    }

    pub async fn tier_create(&self, tenant: &Tenant, input: TierInput) -> AppResult<Tier> {
        check_limits(&input.limits)?;
        check_features(&input.features)?;
        check_billing(input.price.as_ref(), input.trial.as_ref(), &input.limits)?;
        let id = ids::id("tier");
        let new = NewTier {
            id: &id,
            mode: tenant.mode,
            name: &input.name,
            display_name: &input.display_name,
            is_default: input.is_default,
            price: input.price,
            trial: input.trial,
            limits: input.limits,
            rate_limit: input.rate_limit,
            features: input.features,
        };
        let created = self
            .store
            .tier_create(tenant, &new, now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::AlreadyExists {
                    message: format!("A tier named {} already exists.", input.name),
                    param: "name",
                },
                other => other.into(),
            })?;
        // A new default tier changes the plan of everyone without another one.
        if created.is_default {
            self.forget(super::replica::Forget::Plans).await;
        }
        Ok(created)
    }

    pub async fn tier_update(
        &self,
        tenant: &Tenant,
        id: &str,
        changes: TierChanges,
    ) -> AppResult<Tier> {
        let mut tier = self.tier_get(tenant, id, true).await?;
        if let Some(name) = changes.display_name {
            tier.display_name = name;
        }
        if let Some(limits) = changes.limits {
            check_limits(&limits)?;
            tier.limits = limits;
        }
        if changes.price.is_some() {
            tier.price = changes.price;
        }
        if let Some(trial) = changes.trial {
            tier.trial = trial;
        }
        if changes.rate_limit.is_some() {
            tier.rate_limit = changes.rate_limit;
        }
        if let Some(features) = changes.features {
            check_features(&features)?;
            tier.features = features;
        }
        check_billing(tier.price.as_ref(), tier.trial.as_ref(), &tier.limits)?;
        if let Some(active) = changes.active {
            tier.active = active;
        }
        match changes.is_default {
            Some(true) => tier.is_default = true,
            Some(false) if tier.is_default => {
                return Err(AppError::validation(
                    "isDefault",
                    "Make another tier the default instead of unsetting this one.",
                ));
            }
            _ => {}
        }
        if tier.is_default && !tier.active {
            return Err(AppError::validation(
                "active",
                "The default tier cannot be archived.",
            ));
        }
        let updated = self.store.tier_update(tenant, &tier, now()).await?;
        self.forget(super::replica::Forget::Plans).await;
        Ok(updated)
    }

    pub async fn tier_archive(&self, tenant: &Tenant, id: &str) -> AppResult<Tier> {
        self.tier_update(
            tenant,
            id,
            TierChanges {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn product_list(
        &self,
        tenant: &Tenant,
        include_archived: bool,
    ) -> AppResult<Vec<Product>> {
        Ok(self.store.product_list(tenant, include_archived).await?)
    }

    pub async fn product_get(
        &self,
        tenant: &Tenant,
        id: &str,
        include_archived: bool,
    ) -> AppResult<Product> {
        self.store
            .product_get(tenant, id)
            .await?
            .filter(|p| p.active || include_archived)
            .ok_or_else(|| AppError::NotFound {
                what: "product",
                id: id.to_string(),
                param: "productId",
            })
    }

    /// Refuses image ids that are not assets of the tenant, naming the first.
    async fn check_images(&self, tenant: &Tenant, images: &[String]) -> AppResult<()> {
        if let Some(i) = self.store.assets_missing(tenant, images).await? {
            return Err(AppError::validation(
                format!("images[{i}]"),
                format!("No asset with id {}.", images[i]),
            ));
        }
        Ok(())
    }

    pub async fn product_create(&self, tenant: &Tenant, input: ProductInput) -> AppResult<Product> {
        self.check_images(tenant, &input.images).await?;
        let at = now();
        let product = Product {
            id: ids::id("prod"),
            name: input.name,
            description: input.description,
            active: true,
            metadata: input.metadata,
            prices: input
                .prices
                .into_iter()
                .map(|(currency, unit_amount)| Price {
                    id: ids::id("price"),
                    currency,
                    unit_amount,
                })
                .collect(),
            images: input
                .images
                .into_iter()
                .map(|asset_id| ProductImage {
                    asset_id,
                    filename: String::new(),
                    content_type: String::new(),
                })
                .collect(),
            created_at: at,
            updated_at: at,
        };
        self.store.product_create(tenant, &product).await?;
        if product.images.is_empty() {
            return Ok(product);
        }
        // Read back: the images as stored, with their names and types.
        self.product_get(tenant, &product.id, true).await
    }

    pub async fn product_update(
        &self,
        tenant: &Tenant,
        id: &str,
        changes: ProductChanges,
    ) -> AppResult<Product> {
        if let Some(images) = &changes.images {
            self.check_images(tenant, images).await?;
        }
        let mut product = self.product_get(tenant, id, true).await?;
        if let Some(name) = changes.name {
            product.name = name;
        }
        if let Some(description) = changes.description {
            product.description = Some(description);
        }
        if let Some(metadata) = changes.metadata {
            product.metadata = metadata;
        }
        if let Some(active) = changes.active {
            product.active = active;
        }
        product.updated_at = now();
        self.store
            .product_update(tenant, &product, changes.images.as_deref())
            .await?;
        if changes.images.is_none() {
            return Ok(product);
        }
        self.product_get(tenant, id, true).await
    }
}
