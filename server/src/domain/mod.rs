//! The domain's vocabulary: who a request acts for (tenant, mode, key kind), what a tenant
//! keeps (tiers, products, customers, subscriptions, payments, audit entries) and what an
//! operation decided (outcomes). Plain data with no behaviour beyond its own rules; every
//! layer may use it (`store` decodes rows into these types at its edge, `app` works with them,
//! `http` and `dashboard` convert them to the spec's types), and it uses no other layer.

pub mod assets;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod customers;
pub mod ids;
pub mod tenancy;
pub mod usage;

pub use assets::{Asset, ProductImage};
pub use audit::ActorKind;
pub use audit::AuditEntry;
pub use billing::{BillingEvent, BillingSettings, Payment, PaymentKind, Subscription};
pub use catalog::{
    Enforcement, LimitRule, Overage, Price, PriceInterval, Product, RateLimitRule, Tier, TierPrice,
    Trial, TrialPaymentMethod,
};
pub use customers::Customer;
pub use tenancy::{ApiKey, AuthSettings, DashboardSession, KeyKind, Project};
pub use usage::{IdempotentOutcome, TrackOutcome};

/// An amount in a currency's smallest unit, as people write money: `$29.00`, `€1,234.50`,
/// `¥1,000`, `12.50 CHF`. One format everywhere the product shows money: the dashboard, the
/// notes on webhook events, the Stripe emulator's pages (whose function this is).
pub use stripe_emulator::pages::money;

/// A word of the domain stored or sent as text, with its one spelling.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The word as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The word back from its text; `None` for any other text.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use words;

/// The project's tenant: a project and one of its modes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Tenant {
    pub project_id: String,
    pub mode: Mode,
}

words! {
    /// Test and live are separate worlds: every row belongs to one.
    Mode { Test = "test", Live = "live" }
}
