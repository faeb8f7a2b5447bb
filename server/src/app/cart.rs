//! Guest cart checkout: a payment-mode Checkout Session for a cart of the tenant's active
//! products, each catalogue price created on Stripe (product and price, with the product's
//! pictures) on first use. On the tenant's connected account, with the platform fee.

use std::collections::HashMap;

use stripe::StripeRequest;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
};
use stripe_product::price::CreatePrice;
use stripe_product::product::CreateProduct;
use stripe_shared::CheckoutSessionMode;

use super::billing::{
    CheckoutLink, META_KIND, META_MODE, META_PROJECT, currency, idempotency, on_account, provider,
    redirect_url,
};
use super::{App, AppError, AppResult};
use crate::domain::Tenant;

impl App {
    /// A payment-mode Checkout Session for a cart of the tenant's active products.
    pub async fn cart_checkout(
        &self,
        tenant: &Tenant,
        items: &[(String, i64)],
        customer_email: Option<&str>,
        success_url: &str,
        cancel_url: &str,
    ) -> AppResult<CheckoutLink> {
        let client = self.payments.client(tenant.mode)?;
        let settings = self.store.billing_settings_get(tenant).await?;
        let success_url = redirect_url(
            Some(success_url),
            settings.site_url.as_deref(),
            "successUrl",
        )?;
        let cancel_url = redirect_url(Some(cancel_url), settings.site_url.as_deref(), "cancelUrl")?;
        // Every item is checked before anything is created on Stripe.
        let mut lines = Vec::new();
        let mut currency: Option<String> = None;
        let mut total = 0i64;
        for (i, (price_id, quantity)) in items.iter().enumerate() {
            let param = format!("items[{i}].priceId");
            if items[..i].iter().any(|(earlier, _)| earlier == price_id) {
                return Err(AppError::validation(
                    param,
                    format!(
                        "The price {price_id} is listed twice; send it once with the total quantity."
                    ),
                ));
            }
            let (product, price) = self
                .store
                .price_find(tenant, price_id)
                .await?
                .filter(|(product, _)| product.active)
                .ok_or_else(|| {
                    AppError::validation(
                        &param,
                        format!("No price {price_id} on an active product of this project."),
                    )
                })?;
            if currency.as_ref().is_some_and(|c| *c != price.currency) {
                return Err(AppError::validation(
                    param,
                    "Every item of a cart must be priced in the same currency.",
                ));
            }
            currency = Some(price.currency.clone());
            total = total.saturating_add(price.unit_amount.saturating_mul(*quantity));
            lines.push((product, price, *quantity));
        }
        let account = settings.stripe_account.clone().unwrap_or_default();
        let mut line_items = Vec::new();
        for (product, price, quantity) in &lines {
            let stripe_price = self
                .price_stripe(client, tenant, product, price, &account)
                .await?;
            let mut line = CreateCheckoutSessionLineItems::new();
            line.price = Some(stripe_price);
            line.quantity = Some(*quantity as u64);
            line_items.push(line);
        }
        let metadata = HashMap::from([
            (META_PROJECT.to_string(), tenant.project_id.clone()),
            (META_MODE.to_string(), tenant.mode.as_str().to_string()),
            (META_KIND.to_string(), "cart".to_string()),
        ]);
        let mut session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(line_items)
            .success_url(success_url)
            .cancel_url(cancel_url)
            .metadata(metadata);
        if let Some(email) = customer_email {
            session = session.customer_email(email);
        }
        if !account.is_empty() && settings.platform_fee_bps > 0 {
            let mut intent = CreateCheckoutSessionPaymentIntentData::new();
            intent.application_fee_amount =
                Some(total.saturating_mul(settings.platform_fee_bps) / 10_000);
            session = session.payment_intent_data(intent);
        }
        let session = on_account(session.customize(), &account)
            .send(client)
            .await
            .map_err(provider)?;
        Ok(CheckoutLink {
            id: session.id.to_string(),
            url: session.url.unwrap_or_default(),
        })
    }

    /// The Stripe price of a catalogue price on `account`, created on first use.
    async fn price_stripe(
        &self,
        client: &stripe::Client,
        tenant: &Tenant,
        product: &crate::domain::Product,
        price: &crate::domain::Price,
        account: &str,
    ) -> AppResult<String> {
        if let Some(id) = self.store.price_stripe_id(&price.id, account).await? {
            return Ok(id);
        }
        // The pictures the checkout page shows: the product's first eight images (Stripe's
        // limit), by their public URLs.
        let images: Vec<String> = product
            .images
            .iter()
            .take(8)
            .map(|i| self.assets().url(&i.asset_id, &i.filename))
            .collect();
        let mut created_product =
            CreateProduct::new(product.name.clone()).metadata(HashMap::from([
                (META_PROJECT.to_string(), tenant.project_id.clone()),
                ("dream_product".to_string(), product.id.clone()),
            ]));
        if !images.is_empty() {
            created_product = created_product.images(images.clone());
        }
        let created_product = created_product.customize().request_strategy(idempotency(&[
            "product",
            &price.id,
            account,
            &product.name,
            &images.join(" "),
        ]));
        let created_product = on_account(created_product, account)
            .send(client)
            .await
            .map_err(provider)?;
        let created = CreatePrice::new(currency(&price.currency)?)
            .product(created_product.id.as_str())
            .unit_amount(price.unit_amount)
            .metadata(HashMap::from([(
                "dream_price".to_string(),
                price.id.clone(),
            )]))
            .customize()
            .request_strategy(idempotency(&["price", &price.id, account]));
        let created = on_account(created, account)
            .send(client)
            .await
            .map_err(provider)?;
        self.store
            .price_stripe_set(&price.id, account, created.id.as_str())
            .await?;
        Ok(created.id.to_string())
    }
}
