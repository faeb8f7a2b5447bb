//! Billing through Stripe: subscription checkout, the customer portal and guest cart checkout
//! (outbound, through async-stripe), and the plan a user is on. Webhooks are in `webhooks`.
//!
//! Every Stripe call of a tenant carries its connected account (`Stripe-Account`) when it has
//! one, and an idempotency key derived from what it creates, so a retried or concurrent request
//! never makes a second Stripe object. Plans never change here: only verified webhooks (or a
//! secret-key override) do that.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use stripe::{AccountId, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionPaymentMethodCollection, CreateCheckoutSessionSubscriptionData,
    CreateCheckoutSessionSubscriptionDataTrialSettings,
    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehavior as TrialEnd,
    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehaviorMissingPaymentMethod as MissingPaymentMethod,
};
use stripe_client_core::CustomizableStripeRequest;
use stripe_core::customer::CreateCustomer;
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;
use stripe_shared::CheckoutSessionMode;

use super::{App, AppError, AppResult, Period, UserContext};
use crate::config::Secret;
use crate::domain::{
    BillingSettings, Customer, Mode, PriceInterval, Subscription, Tenant, Tier, TierPrice,
    TrialPaymentMethod,
};

/// The Stripe clients of the two modes and the webhook signing secrets.
pub struct Payments {
    /// Test-mode client: real Stripe with a `sk_test_…` key, or the local emulator.
    test: Option<stripe::Client>,
    /// Live-mode client; `None` means billing answers `not_supported` in live mode.
    live: Option<stripe::Client>,
    /// Every secret a webhook signature may be made with (several during a rotation).
    pub(super) webhook_secrets: Vec<Secret>,
}

impl Payments {
    /// No Stripe at all: billing answers `not_supported`.
    pub fn none() -> Payments {
        Payments {
            test: None,
            live: None,
            webhook_secrets: Vec::new(),
        }
    }

    /// Stripe clients at `api_base` for the keys given (`sk_test_…` / `sk_live_…`).
    pub fn new(
        api_base: &str,
        test_key: Option<&Secret>,
        live_key: Option<&Secret>,
        webhook_secrets: Vec<Secret>,
    ) -> anyhow::Result<Payments> {
        let base = format!("{}/", api_base.trim_end_matches('/'));
        let client =
            |key: Option<&Secret>, prefix: &str| -> anyhow::Result<Option<stripe::Client>> {
                let Some(key) = key else { return Ok(None) };
                anyhow::ensure!(
                    key.expose().starts_with(prefix)
                        || key.expose().starts_with(&prefix.replacen("sk_", "rk_", 1)),
                    "the Stripe key for this mode must start with {prefix}"
                );
                Ok(Some(
                    stripe::ClientBuilder::new(key.expose())
                        .url(base.clone())
                        .build()
                        .map_err(|e| anyhow::anyhow!("Stripe client: {e}"))?,
                ))
            };
        Ok(Payments {
            test: client(test_key, "sk_test_")?,
            live: client(live_key, "sk_live_")?,
            webhook_secrets,
        })
    }

    /// Replaces the live-mode client: real Stripe at `api_base` with an `sk_live_…` key.
    /// Whether billing works in either mode.
    pub fn bills(&self) -> bool {
        self.test.is_some() || self.live.is_some()
    }

    pub fn with_live(mut self, api_base: &str, key: &Secret) -> anyhow::Result<Payments> {
        self.live = Payments::new(api_base, None, Some(key), Vec::new())?.live;
        Ok(self)
    }

    pub(super) fn client(&self, mode: Mode) -> AppResult<&stripe::Client> {
        match mode {
            Mode::Test => self.test.as_ref(),
            Mode::Live => self.live.as_ref(),
        }
        .ok_or_else(|| {
            AppError::NotSupported(format!(
                "Billing is not configured for {} mode on this server.",
                mode.as_str()
            ))
        })
    }
}

/// A created Checkout Session.
#[derive(Debug, Clone)]
pub struct CheckoutLink {
    pub id: String,
    pub url: String,
}

/// The plan a user is on now, and the period their usage counts in.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Shared with the cached plan: read on every request, never changed.
    pub tier: std::sync::Arc<Tier>,
    pub period: Period,
    /// The subscription that sets the tier, or the newest one for display.
    pub subscription: Option<Subscription>,
}

/// Metadata that names a tenant and user on Stripe objects.
pub(super) const META_PROJECT: &str = "dream_project";
pub(super) const META_MODE: &str = "dream_mode";
pub(super) const META_USER: &str = "dream_user";
const META_TIER: &str = "dream_tier";
pub(super) const META_KIND: &str = "dream_kind";

/// A Stripe idempotency key from the parts that identify what a call creates.
pub(super) fn idempotency(parts: &[&str]) -> RequestStrategy {
    let digest = hex::encode(Sha256::digest(parts.join("\u{1f}").as_bytes()));
    RequestStrategy::Idempotent(
        IdempotencyKey::new(format!("dream-{digest}")).expect("a hex digest is a valid key"),
    )
}

/// The request, on the tenant's connected account when it has one.
pub(super) fn on_account<T>(
    request: CustomizableStripeRequest<T>,
    account: &str,
) -> CustomizableStripeRequest<T> {
    if account.is_empty() {
        request
    } else {
        request.account_id(AccountId::from(account.to_string()))
    }
}

pub(super) fn provider(e: stripe::StripeError) -> AppError {
    AppError::PaymentProvider(anyhow::anyhow!("{e}"))
}

/// Resolves a redirect URL: absolute `http(s)` as given, a path against the site URL, or the
/// site URL itself when none is given.
pub(super) fn redirect_url(
    given: Option<&str>,
    site: Option<&str>,
    param: &str,
) -> AppResult<String> {
    let site = site.and_then(|s| url::Url::parse(s).ok());
    match given {
        None => site.map(|s| s.to_string()).ok_or_else(|| {
            AppError::validation(
                param,
                format!("Send {param}, or set settings.billing.siteUrl to use as the default."),
            )
        }),
        Some(path) if path.starts_with('/') && !path.starts_with("//") => match site {
            Some(site) => Ok(format!("{}{path}", site.origin().ascii_serialization())),
            None => Err(AppError::validation(
                param,
                format!(
                    "{param} is a path; set settings.billing.siteUrl to resolve it, or send an absolute URL."
                ),
            )),
        },
        Some(absolute) => match url::Url::parse(absolute) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(absolute.to_string())
            }
            _ => Err(AppError::validation(
                param,
                format!(
                    "{param} must be an absolute http:// or https:// URL, or a path starting with /."
                ),
            )),
        },
    }
}

impl App {
    /// The user's tier and usage period: a hand-set override, else the tier of a live
    /// subscription (usage counted per subscription period), else the default tier (calendar
    /// months).
    pub(super) async fn plan_of(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        at: i64,
    ) -> AppResult<Plan> {
        Ok(self.plan_basis(tenant, customer.clone()).await?.at(at))
    }

    /// What the plan rests on, read from the database.
    pub(super) async fn plan_basis(
        &self,
        tenant: &Tenant,
        customer: Customer,
    ) -> AppResult<super::replica::PlanBasis> {
        let subscription = self
            .store
            .subscription_latest(tenant, &customer.user_id)
            .await?;
        for (id, by_subscription) in tier_sources(&customer, subscription.as_ref()) {
            if let Some(tier) = self.store.tier_get(tenant, id).await? {
                return Ok(basis(tier, by_subscription, subscription, customer));
            }
        }
        let tier = self.store.tier_default(tenant).await?;
        Ok(basis(
            default_tier(tenant, tier)?,
            false,
            subscription,
            customer,
        ))
    }

    /// What the plans of many users rest on, in a few statements (registering those not seen
    /// before), decided as [`App::plan_basis`] decides one.
    pub(super) async fn plan_bases(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
        now: i64,
    ) -> AppResult<HashMap<String, super::replica::PlanBasis>> {
        let customers = self.store.customers_ensure(tenant, user_ids, now).await?;
        self.plan_bases_of(tenant, customers).await
    }

    /// What the plans of these registered customers rest on, by user id.
    pub(super) async fn plan_bases_of(
        &self,
        tenant: &Tenant,
        customers: HashMap<String, Customer>,
    ) -> AppResult<HashMap<String, super::replica::PlanBasis>> {
        let user_ids: Vec<&str> = customers.keys().map(String::as_str).collect();
        let mut subscriptions = self.store.subscriptions_latest(tenant, &user_ids).await?;
        let tiers: HashMap<String, Tier> = self
            .store
            .tier_list(tenant, true)
            .await?
            .into_iter()
            .map(|tier| (tier.id.clone(), tier))
            .collect();
        let default = tiers.values().find(|tier| tier.is_default).cloned();
        let default = default_tier(tenant, default)?;
        let mut bases = HashMap::with_capacity(customers.len());
        for (user, customer) in customers {
            let subscription = subscriptions.remove(&user);
            let (tier, by_subscription) = tier_sources(&customer, subscription.as_ref())
                .into_iter()
                .find_map(|(id, by)| Some((tiers.get(id)?.clone(), by)))
                .unwrap_or_else(|| (default.clone(), false));
            bases.insert(user, basis(tier, by_subscription, subscription, customer));
        }
        Ok(bases)
    }

    /// A Checkout Session for `tier_name`, on the user's Stripe customer.
    pub async fn checkout_create(
        &self,
        ctx: &UserContext,
        tier_name: &str,
        success_url: Option<&str>,
        cancel_url: Option<&str>,
    ) -> AppResult<CheckoutLink> {
        let tenant = &ctx.tenant;
        let client = self.payments.client(tenant.mode)?;
        let settings = self.store.billing_settings_get(tenant).await?;
        let success_url = redirect_url(success_url, settings.site_url.as_deref(), "successUrl")?;
        let cancel_url = redirect_url(cancel_url, settings.site_url.as_deref(), "cancelUrl")?;
        let tier = self
            .store
            .tier_by_name(tenant, tier_name)
            .await?
            .filter(|t| t.active)
            .ok_or_else(|| {
                AppError::validation("tier", format!("No active tier named {tier_name}."))
            })?;
        let Some(price) = tier.price.clone() else {
            return Err(AppError::validation(
                "tier",
                format!("The tier {tier_name} has no price; only paid tiers can be bought."),
            ));
        };
        let now = super::now();
        let customer = self
            .store
            .customer_upsert(tenant, &ctx.user.user_id, ctx.user.email.as_deref(), now)
            .await?;
        let plan = self.plan_of(tenant, &customer, now).await?;
        // One trial per user: whoever has had a subscription here pays from the start.
        let trial = tier.trial.filter(|_| plan.subscription.is_none());
        if let Some(sub) = plan.subscription.filter(|s| s.grants_tier()) {
            return Err(AppError::SubscriptionExists(sub.id));
        }
        let account = settings.stripe_account.clone().unwrap_or_default();
        let stripe_price = self
            .tier_stripe_price(client, tenant, &tier, &price, &account)
            .await?;
        let stripe_customer = self.stripe_customer(client, ctx, &account).await?;

        let metadata = HashMap::from([
            (META_PROJECT.to_string(), tenant.project_id.clone()),
            (META_MODE.to_string(), tenant.mode.as_str().to_string()),
            (META_USER.to_string(), ctx.user.user_id.clone()),
            (META_TIER.to_string(), tier.id.clone()),
        ]);
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(stripe_price);
        line.quantity = Some(1);
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.metadata = Some(metadata.clone());
        if !account.is_empty() && settings.platform_fee_bps > 0 {
            subscription_data.application_fee_percent =
                Some(settings.platform_fee_bps as f64 / 100.0);
        }
        let mut collection = CreateCheckoutSessionPaymentMethodCollection::Always;
        if let Some(trial) = trial {
            subscription_data.trial_period_days = u32::try_from(trial.days).ok();
            if trial.payment_method == TrialPaymentMethod::Optional {
                collection = CreateCheckoutSessionPaymentMethodCollection::IfRequired;
                subscription_data.trial_settings =
                    Some(CreateCheckoutSessionSubscriptionDataTrialSettings::new(
                        TrialEnd::new(MissingPaymentMethod::Cancel),
                    ));
            }
        }
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .payment_method_collection(collection)
            .customer(stripe_customer)
            .line_items(vec![line])
            .success_url(success_url)
            .cancel_url(cancel_url)
            .client_reference_id(ctx.user.user_id.clone())
            .metadata(metadata)
            .subscription_data(subscription_data)
            .customize();
        let session = on_account(session, &account)
            .send(client)
            .await
            .map_err(provider)?;
        Ok(CheckoutLink {
            id: session.id.to_string(),
            url: session.url.unwrap_or_default(),
        })
    }

    /// A Billing Portal session for the user's Stripe customer.
    pub async fn portal_create(
        &self,
        ctx: &UserContext,
        return_url: Option<&str>,
    ) -> AppResult<String> {
        let tenant = &ctx.tenant;
        let client = self.payments.client(tenant.mode)?;
        let settings = self.store.billing_settings_get(tenant).await?;
        let return_url = redirect_url(return_url, settings.site_url.as_deref(), "returnUrl")?;
        let account = settings.stripe_account.unwrap_or_default();
        let customer = self
            .store
            .customer_stripe_id(tenant, &ctx.user.user_id, &account)
            .await?
            .ok_or(AppError::NoBillingAccount)?;
        // Every priced tier exists at Stripe before the portal opens, so a plan switch there
        // can offer any of them (Stripe's portal configuration picks which; the emulator offers
        // the project's tier products).
        for tier in self.store.tier_list(tenant, false).await? {
            if let Some(price) = &tier.price {
                self.tier_stripe_price(client, tenant, &tier, price, &account)
                    .await?;
            }
        }
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .customize();
        let session = on_account(session, &account)
            .send(client)
            .await
            .map_err(provider)?;
        Ok(session.url)
    }

    /// The Stripe price of a tier's current price on `account`, created on first use.
    async fn tier_stripe_price(
        &self,
        client: &stripe::Client,
        tenant: &Tenant,
        tier: &Tier,
        price: &TierPrice,
        account: &str,
    ) -> AppResult<String> {
        let amount = price.unit_amount.to_string();
        let key = [account, &price.currency, &amount, price.interval.as_str()].join("|");
        if let Some(id) = self.store.tier_stripe_price(tenant, &tier.id, &key).await? {
            return Ok(id);
        }
        let product = CreateProduct::new(tier.display_name.clone())
            .metadata(HashMap::from([
                (META_PROJECT.to_string(), tenant.project_id.clone()),
                (META_TIER.to_string(), tier.id.clone()),
            ]))
            .customize()
            .request_strategy(idempotency(&[
                "tier-product",
                &tier.id,
                account,
                &tier.display_name,
                &key,
            ]));
        let product = on_account(product, account)
            .send(client)
            .await
            .map_err(provider)?;
        let interval = match price.interval {
            PriceInterval::Year => CreatePriceRecurringInterval::Year,
            PriceInterval::Month => CreatePriceRecurringInterval::Month,
        };
        let created = CreatePrice::new(currency(&price.currency)?)
            .product(product.id.as_str())
            .unit_amount(price.unit_amount)
            .recurring(CreatePriceRecurring::new(interval))
            .metadata(HashMap::from([(META_TIER.to_string(), tier.id.clone())]))
            .customize()
            .request_strategy(idempotency(&["tier-price", &tier.id, &key]));
        let created = on_account(created, account)
            .send(client)
            .await
            .map_err(provider)?;
        self.store
            .tier_stripe_price_set(tenant, &tier.id, &key, created.id.as_str())
            .await?;
        Ok(created.id.to_string())
    }

    /// The user's Stripe customer on `account`, created (once) on first checkout.
    async fn stripe_customer(
        &self,
        client: &stripe::Client,
        ctx: &UserContext,
        account: &str,
    ) -> AppResult<String> {
        let tenant = &ctx.tenant;
        if let Some(id) = self
            .store
            .customer_stripe_id(tenant, &ctx.user.user_id, account)
            .await?
        {
            return Ok(id);
        }
        let mut create = CreateCustomer::new().metadata(HashMap::from([
            (META_PROJECT.to_string(), tenant.project_id.clone()),
            (META_MODE.to_string(), tenant.mode.as_str().to_string()),
            (META_USER.to_string(), ctx.user.user_id.clone()),
        ]));
        if let Some(email) = &ctx.user.email {
            create = create.email(email.clone());
        }
        let create = create.customize().request_strategy(idempotency(&[
            "customer",
            &tenant.project_id,
            tenant.mode.as_str(),
            &ctx.user.user_id,
            account,
            ctx.user.email.as_deref().unwrap_or(""),
        ]));
        let customer = on_account(create, account)
            .send(client)
            .await
            .map_err(provider)?;
        self.store
            .customer_stripe_set(tenant, &ctx.user.user_id, customer.id.as_str(), account)
            .await?;
        Ok(customer.id.to_string())
    }

    pub async fn billing_settings_get(&self, tenant: &Tenant) -> AppResult<BillingSettings> {
        Ok(self.store.billing_settings_get(tenant).await?)
    }
}

pub(super) fn currency(code: &str) -> AppResult<stripe_types::Currency> {
    code.parse().map_err(|_| {
        AppError::validation(
            "currency",
            format!("Stripe does not know the currency {code}."),
        )
    })
}

/// The tiers that may decide a customer's plan, first match wins, each with whether it comes
/// from the subscription: a hand-set override, then a live subscription's tier. The default
/// tier decides when neither exists.
fn tier_sources<'a>(
    customer: &'a Customer,
    subscription: Option<&'a Subscription>,
) -> Vec<(&'a str, bool)> {
    let mut sources = Vec::with_capacity(2);
    if let Some(id) = customer.tier_override_id.as_deref() {
        sources.push((id, false));
    }
    if let Some(sub) = subscription.filter(|s| s.grants_tier()) {
        sources.push((sub.tier_id.as_str(), true));
    }
    sources
}

fn default_tier(tenant: &Tenant, tier: Option<Tier>) -> AppResult<Tier> {
    tier.ok_or_else(|| AppError::Internal(anyhow::anyhow!("tenant {tenant:?} has no default tier")))
}

fn basis(
    tier: Tier,
    by_subscription: bool,
    subscription: Option<Subscription>,
    customer: Customer,
) -> super::replica::PlanBasis {
    super::replica::PlanBasis {
        email: customer.email,
        tier: std::sync::Arc::new(tier),
        subscription,
        by_subscription,
    }
}
