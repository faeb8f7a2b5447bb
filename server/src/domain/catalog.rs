//! The catalogue: tiers (plans with limits per metric) and products with their prices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::words;

words! {
    /// A hard limit refuses what would pass it; a soft limit only reports it.
    Enforcement { Hard = "hard", Soft = "soft" }
}

words! {
    /// How often a tier's price is charged.
    PriceInterval { Month = "month", Year = "year" }
}

/// One metric's limit within a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRule {
    pub metric: String,
    pub limit: Option<i64>,
    pub enforcement: Enforcement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierPrice {
    pub currency: String,
    pub unit_amount: i64,
    pub interval: PriceInterval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitRule {
    pub requests: i64,
    pub per_seconds: i64,
}

#[derive(Debug, Clone)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub is_default: bool,
    pub active: bool,
    pub price: Option<TierPrice>,
    pub limits: Vec<LimitRule>,
    pub rate_limit: Option<RateLimitRule>,
    /// The features it unlocks, by name.
    pub features: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub currency: String,
    pub unit_amount: i64,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub metadata: BTreeMap<String, String>,
    pub prices: Vec<Price>,
    /// Its images, in order.
    pub images: Vec<super::ProductImage>,
    pub created_at: i64,
    pub updated_at: i64,
}
