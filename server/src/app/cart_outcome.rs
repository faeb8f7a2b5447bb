//! What became of a guest cart checkout, for the buyer's order-confirmation page: Stripe's
//! session (found only when its metadata names this tenant and a cart), its items mapped back
//! to the catalogue, and whether the payment is recorded yet.

use stripe::StripeRequest;
use stripe_checkout::checkout_session::{ListLineItemsCheckoutSession, RetrieveCheckoutSession};

use super::billing::{META_KIND, META_MODE, META_PROJECT, on_account, provider};
use super::{App, AppError, AppResult};
use crate::domain::Tenant;

/// A cart checkout and its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartOutcome {
    pub id: String,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    /// The payment is in the tenant's payments (its webhook arrived).
    pub recorded: bool,
    pub amount_total: i64,
    pub currency: String,
    pub customer_email: Option<String>,
    pub items: Vec<CartItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartItem {
    pub product_id: Option<String>,
    pub name: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount_total: i64,
}

impl App {
    pub async fn cart_outcome(&self, tenant: &Tenant, session_id: &str) -> AppResult<CartOutcome> {
        let not_found = || AppError::NotFound {
            what: "cart checkout",
            id: session_id.to_string(),
            param: "sessionId",
        };
        let client = self.payments.client(tenant.mode)?;
        let settings = self.store.billing_settings_get(tenant).await?;
        let account = settings.stripe_account.unwrap_or_default();
        let missing = |e: stripe::StripeError| match &e {
            stripe::StripeError::Stripe(_, 404) => not_found(),
            _ => provider(e),
        };
        let session = on_account(
            RetrieveCheckoutSession::new(session_id).customize(),
            &account,
        )
        .send(client)
        .await
        .map_err(missing)?;
        let meta = |key: &str| session.metadata.as_ref().and_then(|m| m.get(key)).cloned();
        if meta(META_PROJECT).as_deref() != Some(tenant.project_id.as_str())
            || meta(META_MODE).as_deref() != Some(tenant.mode.as_str())
            || meta(META_KIND).as_deref() != Some("cart")
        {
            return Err(not_found());
        }
        let lines = on_account(
            ListLineItemsCheckoutSession::new(session_id)
                .limit(100)
                .customize(),
            &account,
        )
        .send(client)
        .await
        .map_err(missing)?;
        let mut items = Vec::with_capacity(lines.data.len());
        for line in &lines.data {
            let ours = line
                .price
                .as_ref()
                .and_then(|p| p.metadata.get("dream_price").cloned());
            let found = match ours {
                Some(price_id) => self.store.price_find(tenant, &price_id).await?,
                None => None,
            };
            let quantity = line.quantity.unwrap_or(1) as i64;
            items.push(CartItem {
                product_id: found.as_ref().map(|(product, _)| product.id.clone()),
                name: found
                    .as_ref()
                    .map(|(product, _)| product.name.clone())
                    .or_else(|| line.description.clone())
                    .unwrap_or_else(|| "Item".to_string()),
                quantity,
                unit_amount: if quantity > 0 {
                    line.amount_subtotal / quantity
                } else {
                    0
                },
                amount_total: line.amount_total,
            });
        }
        let recorded = self
            .store
            .payment_recorded(tenant, session.id.as_str())
            .await?;
        Ok(CartOutcome {
            id: session.id.to_string(),
            status: session
                .status
                .map_or_else(|| "open".to_string(), |s| s.as_str().to_string()),
            payment_status: session.payment_status.as_str().to_string(),
            recorded,
            amount_total: session.amount_total.unwrap_or(0),
            currency: session.currency.map(|c| c.to_string()).unwrap_or_default(),
            customer_email: session
                .customer_details
                .as_ref()
                .and_then(|d| d.email.clone())
                .or(session.customer_email.clone()),
            items,
        })
    }
}
