//! Customers: the users of a tenant.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub user_id: String,
    pub email: Option<String>,
    pub tier_override_id: Option<String>,
    pub created_at: i64,
    /// The user's Stripe customer, once they started a checkout.
    pub stripe_customer_id: Option<String>,
}
