//! Billing: a tenant's Stripe settings, subscriptions, payments and the webhook event log.

use super::words;

words! {
    /// What a payment paid for.
    PaymentKind { Subscription = "subscription", Cart = "cart" }
}

/// A tenant's Stripe settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingSettings {
    /// The connected account every Stripe call is made on; `None` for the platform account.
    pub stripe_account: Option<String>,
    /// The platform's fee in basis points (1/100 of a percent).
    pub platform_fee_bps: i64,
    /// The app's address: default and base for redirect URLs.
    pub site_url: Option<String>,
}

/// A Stripe subscription as the tenant last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub tier_id: String,
    pub status: String,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    /// When the trial ends (or ended); `None` without one.
    pub trial_end: Option<i64>,
    /// The `created` time of the newest event applied.
    pub event_created: i64,
}

impl Subscription {
    /// Whether the subscription still grants its tier: Stripe keeps a past-due subscription
    /// alive while it retries the payment.
    pub fn grants_tier(&self) -> bool {
        matches!(self.status.as_str(), "active" | "trialing" | "past_due")
    }
}

/// Money received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub kind: PaymentKind,
    pub user_id: Option<String>,
    pub customer_email: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub paid_at: i64,
}

/// One row of the event log.
#[derive(Debug, Clone)]
pub struct BillingEvent {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub message: Option<String>,
    pub user_id: Option<String>,
    pub created: i64,
    pub received_at: i64,
    pub payload: String,
}
