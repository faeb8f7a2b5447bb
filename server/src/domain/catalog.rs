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
    /// The price of units beyond the limit (then the included units), billed per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overage: Option<Overage>,
}

/// Usage-based billing of one metric: `unit_amount` for every `per_units` units beyond the
/// included ones, in the tier price's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overage {
    pub unit_amount: i64,
    pub per_units: i64,
}

impl Overage {
    /// Units used beyond `included`, and what they cost (rounded up to whole `per_units`).
    pub fn charge(&self, included: i64, used: i64) -> (i64, i64) {
        let units = used.saturating_sub(included).max(0);
        let blocks = units / self.per_units + i64::from(units % self.per_units != 0);
        (units, blocks.saturating_mul(self.unit_amount))
    }
}

words! {
    /// Whether a trial's checkout takes a card.
    TrialPaymentMethod { Required = "required", Optional = "optional" }
}

/// A free trial at the start of a tier's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub days: i64,
    pub payment_method: TrialPaymentMethod,
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
    pub trial: Option<Trial>,
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

#[cfg(test)]
mod overage_tests {
    use super::Overage;

    #[test]
    fn overage_is_billed_in_whole_blocks_beyond_the_included_units() {
        let per_thousand = Overage {
            unit_amount: 2,
            per_units: 1000,
        };
        assert_eq!(per_thousand.charge(10_000, 9_999), (0, 0));
        assert_eq!(per_thousand.charge(10_000, 10_000), (0, 0));
        assert_eq!(per_thousand.charge(10_000, 10_001), (1, 2));
        assert_eq!(per_thousand.charge(10_000, 12_500), (2_500, 6));
        assert_eq!(per_thousand.charge(10_000, 13_000), (3_000, 6));
        let each = Overage {
            unit_amount: 50,
            per_units: 1,
        };
        assert_eq!(each.charge(0, 3), (3, 150));
        assert_eq!(each.charge(0, i64::MAX), (i64::MAX, i64::MAX));
    }
}
