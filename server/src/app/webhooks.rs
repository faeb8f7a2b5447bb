//! Stripe's webhooks: verify the signature against every configured secret, route the event
//! to its tenant, and apply it exactly once.
//!
//! Routing: an event carrying `account` (Connect) belongs to the project whose settings name
//! that account. Within it — or across the mode's tenants for the platform account — the
//! Stripe customer decides (the server creates each user's customer before their first
//! checkout, so customers are known before any subscription event), and a Checkout Session
//! names its tenant in its metadata.

use stripe_shared::CheckoutSessionMode;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use super::{App, AppError, AppResult, now};
use crate::domain::{BillingEvent, Mode, Payment, PaymentKind, Subscription, Tenant, money};
use crate::store::billing::{Applied, Effect, NewEvent};

/// What the webhook endpoint answers.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub event_id: String,
    pub duplicate: bool,
}

/// An event's routing and effects, before they are applied.
#[derive(Default)]
struct Outcome {
    tenant: Option<Tenant>,
    user_id: Option<String>,
    effects: Vec<Effect>,
    handled: bool,
    note: Option<String>,
}

fn expandable_id<T: stripe_types::Object>(e: &stripe_types::Expandable<T>) -> String
where
    T::Id: std::fmt::Display,
{
    e.id().to_string()
}

/// Says once per process, not per event, that Stripe sends events of another API version than
/// the one this server reads (the account's default version differs: pin it in Stripe's
/// dashboard, or set the webhook endpoint's version).
fn warn_once_of_version(version: Option<&stripe_shared::ApiVersion>) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if let Some(version) = version
        && *version != stripe_shared::version::VERSION
    {
        WARNED.call_once(|| {
            tracing::warn!(
                events = version.as_str(),
                expected = stripe_shared::version::VERSION.as_str(),
                "Stripe sends webhook events of API version {}, and this server reads {}: set the webhook endpoint's API version to {} (said once)",
                version.as_str(),
                stripe_shared::version::VERSION.as_str(),
                stripe_shared::version::VERSION.as_str(),
            );
        });
    }
}

impl App {
    /// Verifies and applies one webhook delivery; its outcome is counted for `/metrics`.
    pub async fn webhook_receive(&self, payload: &str, signature: &str) -> AppResult<Receipt> {
        let result = self.webhook_verify_and_apply(payload, signature).await;
        let outcome = match &result {
            Ok(receipt) if receipt.duplicate => "duplicate",
            Ok(_) => "applied",
            Err(AppError::InvalidSignature(_)) => "invalid_signature",
            Err(_) => "failed",
        };
        self.telemetry
            .webhook_events
            .get_or_create(&crate::telemetry::OutcomeLabels { outcome })
            .inc();
        result
    }

    async fn webhook_verify_and_apply(&self, payload: &str, signature: &str) -> AppResult<Receipt> {
        let secrets = &self.payments.webhook_secrets;
        if secrets.is_empty() {
            return Err(AppError::NotSupported(
                "This server has no Stripe webhook signing secret configured.".into(),
            ));
        }
        let mut parsed = None;
        for secret in secrets {
            match Webhook::construct_event(payload, signature, secret.expose()) {
                Ok(event) => {
                    warn_once_of_version(event.api_version.as_ref());
                    parsed = Some(Ok(event));
                    break;
                }
                Err(
                    WebhookError::BadSignature | WebhookError::BadKey | WebhookError::BadHeader(_),
                ) => {}
                // The signature matched this secret (it is checked first), but the event is
                // too old or could not be read.
                Err(WebhookError::BadTimestamp(t)) => {
                    return Err(AppError::InvalidSignature(format!(
                        "the timestamp {t} is more than 300 seconds from the server's clock"
                    )));
                }
                Err(other) => {
                    parsed = Some(Err(other.to_string()));
                    break;
                }
            }
        }
        let raw: serde_json::Value = serde_json::from_str(payload)
            .map_err(|e| AppError::validation("body", format!("The body is not JSON: {e}")))?;
        match parsed {
            None => Err(AppError::InvalidSignature(
                "no v1 signature matches any of the server's signing secrets".into(),
            )),
            Some(event) => self.webhook_apply(payload, &raw, event).await,
        }
    }

    /// Applies one event from Stripe exactly once, whether a verified webhook delivered it or
    /// the catch-up listed it (`catch_up.rs`): `event` is what the payload parsed to, or why
    /// it could not be read.
    pub(super) async fn webhook_apply(
        &self,
        payload: &str,
        raw: &serde_json::Value,
        event: Result<stripe_webhook::Event, String>,
    ) -> AppResult<Receipt> {
        let event = match event {
            Ok(event) => event,
            Err(reason) => {
                // Signed by Stripe, yet unreadable: keep it visible in the log, and do not make
                // Stripe retry something that can never succeed.
                let id = raw["id"].as_str().unwrap_or_default().to_string();
                let kind = raw["type"].as_str().unwrap_or_default().to_string();
                let received = now();
                let applied = self
                    .store
                    .stripe_event_apply(
                        &NewEvent {
                            id: &id,
                            kind: &kind,
                            tenant: None,
                            user_id: None,
                            created: raw["created"].as_i64().unwrap_or(received),
                            received_at: received,
                            seq: chrono::Utc::now().timestamp_micros(),
                            payload,
                            handled: false,
                            note: None,
                            failure: Some(format!("The event could not be read: {reason}")),
                        },
                        &[],
                    )
                    .await?;
                tracing::warn!(event = %id, %reason, "a signed Stripe event could not be read");
                return Ok(Receipt {
                    event_id: id,
                    duplicate: applied == Applied::Duplicate,
                });
            }
        };

        let mode = if event.livemode {
            Mode::Live
        } else {
            Mode::Test
        };
        let outcome = self.route(&event, mode).await?;
        let id = event.id.to_string();
        let kind = event.type_.to_string();
        let (tenant, user) = (outcome.tenant.clone(), outcome.user_id.clone());
        let applied = self
            .store
            .stripe_event_apply(
                &NewEvent {
                    id: &id,
                    kind: &kind,
                    tenant: outcome.tenant.as_ref(),
                    user_id: outcome.user_id.as_deref(),
                    created: event.created,
                    received_at: now(),
                    seq: chrono::Utc::now().timestamp_micros(),
                    payload,
                    handled: outcome.handled,
                    note: outcome.note,
                    failure: None,
                },
                &outcome.effects,
            )
            .await?;
        // After the commit; a request that read the plan before it cannot store its copy
        // afterwards (the caches' epoch).
        if let (Some(tenant), Some(user)) = (tenant, user) {
            self.forget(super::replica::Forget::plan(&tenant, &user))
                .await;
        }
        Ok(Receipt {
            event_id: id,
            duplicate: applied == Applied::Duplicate,
        })
    }

    /// Finds the event's tenant and user and what it changes.
    async fn route(&self, event: &stripe_webhook::Event, mode: Mode) -> AppResult<Outcome> {
        // A Connect event belongs to the project that connected the account, or to nobody.
        let account_tenant = match &event.account {
            Some(account) => match self.store.tenant_by_stripe_account(mode, account).await? {
                Some(tenant) => Some(tenant),
                None => return Ok(Outcome::default()),
            },
            None => None,
        };
        let account = event.account.clone().unwrap_or_default();
        let project = account_tenant.as_ref().map(|t| t.project_id.as_str());
        let by_customer = |customer: Option<String>| async move {
            match customer {
                Some(c) => self.store.customer_by_stripe_id(mode, project, &c).await,
                None => Ok(None),
            }
        };

        let mut outcome = Outcome {
            handled: true,
            ..Outcome::default()
        };
        match &event.data.object {
            EventObject::CheckoutSessionCompleted(session) => {
                let meta = session.metadata.clone().unwrap_or_default();
                // The connected account decides; metadata names the tenant on the platform
                // account, and must agree with the account when both are there.
                let tenant = match (meta.get("dream_project"), account_tenant.clone()) {
                    (Some(p), Some(t)) => (*p == t.project_id).then_some(t),
                    (None, Some(t)) => Some(t),
                    (Some(p), None) => Some(Tenant {
                        project_id: p.clone(),
                        mode,
                    }),
                    (None, None) => None,
                };
                let Some(tenant) = tenant else {
                    return Ok(Outcome::default());
                };
                if meta.get("dream_mode").is_some_and(|m| m != mode.as_str()) {
                    return Ok(Outcome::default());
                }
                outcome.tenant = Some(tenant);
                match session.mode {
                    CheckoutSessionMode::Subscription => {
                        let user = session
                            .client_reference_id
                            .clone()
                            .or_else(|| meta.get("dream_user").cloned());
                        if let (Some(user), Some(customer)) = (&user, &session.customer) {
                            outcome.effects.push(Effect::LinkCustomer {
                                user_id: user.clone(),
                                stripe_customer_id: expandable_id(customer),
                                stripe_account: account.clone(),
                            });
                        }
                        outcome.user_id = user;
                        outcome.note = Some("Subscription checkout completed.".into());
                    }
                    CheckoutSessionMode::Payment => {
                        let email = session
                            .customer_details
                            .as_ref()
                            .and_then(|d| d.email.clone())
                            .or_else(|| session.customer_email.clone());
                        let amount = session.amount_total.unwrap_or(0);
                        let currency = session
                            .currency
                            .as_ref()
                            .map(|c| c.to_string())
                            .unwrap_or_default();
                        if !chargeable(amount) {
                            outcome.note = Some(unchargeable(amount, &currency));
                            outcome.handled = false;
                            return Ok(outcome);
                        }
                        outcome.note = Some(format!("Cart paid: {}.", money(amount, &currency)));
                        outcome.effects.push(Effect::Payment(Payment {
                            id: session.id.to_string(),
                            kind: PaymentKind::Cart,
                            user_id: None,
                            customer_email: email,
                            amount,
                            currency,
                            paid_at: event.created,
                        }));
                    }
                    _ => outcome.handled = false,
                }
            }
            EventObject::CustomerSubscriptionCreated(sub)
            | EventObject::CustomerSubscriptionUpdated(sub)
            | EventObject::CustomerSubscriptionDeleted(sub) => {
                let Some((tenant, user)) = by_customer(Some(expandable_id(&sub.customer))).await?
                else {
                    return Ok(Outcome::default());
                };
                let deleted = matches!(
                    event.data.object,
                    EventObject::CustomerSubscriptionDeleted(_)
                );
                // A deletion needs no tier: the stored one is kept and the status ends it.
                let tier_id = match self.subscription_tier(&tenant, sub).await? {
                    Some(tier_id) => tier_id,
                    None if deleted => String::new(),
                    None => {
                        outcome.tenant = Some(tenant);
                        outcome.user_id = Some(user);
                        outcome.handled = false;
                        return Ok(outcome);
                    }
                };
                let item = sub.items.data.first();
                let status = if deleted {
                    "canceled".to_string()
                } else {
                    sub.status.as_str().to_string()
                };
                outcome.note = Some(format!("Subscription {} is {status}.", sub.id));
                outcome.effects.push(Effect::Subscription(Subscription {
                    id: sub.id.to_string(),
                    user_id: user.clone(),
                    tier_id,
                    status,
                    period_start: item.map_or(event.created, |i| i.current_period_start),
                    period_end: item.map_or(event.created, |i| i.current_period_end),
                    cancel_at_period_end: sub.cancel_at_period_end,
                    trial_end: sub.trial_end,
                    event_created: event.created,
                }));
                outcome.tenant = Some(tenant);
                outcome.user_id = Some(user);
            }
            EventObject::InvoiceCreated(invoice) => {
                let customer = invoice.customer.as_ref().map(expandable_id);
                let Some((tenant, user)) = by_customer(customer).await? else {
                    return Ok(Outcome::default());
                };
                outcome.note = Some(
                    self.overage_bill(&tenant, &user, event.id.as_str(), invoice, &account)
                        .await?,
                );
                outcome.tenant = Some(tenant);
                outcome.user_id = Some(user);
            }
            EventObject::InvoicePaid(invoice) | EventObject::InvoicePaymentFailed(invoice) => {
                let customer = invoice.customer.as_ref().map(expandable_id);
                let Some((tenant, user)) = by_customer(customer).await? else {
                    return Ok(Outcome::default());
                };
                let id = invoice
                    .id
                    .as_ref()
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                let currency = invoice.currency.to_string();
                if matches!(event.data.object, EventObject::InvoicePaid(_))
                    && !chargeable(invoice.amount_paid)
                {
                    outcome.note = Some(unchargeable(invoice.amount_paid, &currency));
                    outcome.handled = false;
                } else if matches!(event.data.object, EventObject::InvoicePaid(_)) {
                    outcome.note = Some(format!(
                        "Invoice {id} paid: {}.",
                        money(invoice.amount_paid, &currency)
                    ));
                    outcome.effects.push(Effect::Payment(Payment {
                        id,
                        kind: PaymentKind::Subscription,
                        user_id: Some(user.clone()),
                        customer_email: invoice.customer_email.clone(),
                        amount: invoice.amount_paid,
                        currency,
                        paid_at: invoice.status_transitions.paid_at.unwrap_or(event.created),
                    }));
                } else {
                    outcome.note = Some(format!(
                        "Payment of invoice {id} failed ({} due); Stripe retries it.",
                        money(invoice.amount_due, &currency)
                    ));
                }
                outcome.tenant = Some(tenant);
                outcome.user_id = Some(user);
            }
            _ => {
                outcome.handled = false;
                outcome.tenant = account_tenant;
            }
        }
        Ok(outcome)
    }

    /// The tier a subscription buys: the tier whose Stripe price it bills, else the one named
    /// in its metadata. The price comes first: a plan switched in Stripe's customer portal
    /// changes the price and keeps the metadata of the checkout that started it.
    async fn subscription_tier(
        &self,
        tenant: &Tenant,
        sub: &stripe_shared::Subscription,
    ) -> AppResult<Option<String>> {
        if let Some(price) = sub.items.data.first().map(|i| i.price.id.to_string())
            && let Some(tier_id) = self.store.tier_by_stripe_price(tenant, &price).await?
        {
            return Ok(Some(tier_id));
        }
        match sub.metadata.get("dream_tier") {
            Some(id) if self.store.tier_get(tenant, id).await?.is_some() => Ok(Some(id.clone())),
            _ => Ok(None),
        }
    }
}

impl App {
    /// The webhook event log, newest first.
    pub async fn billing_event_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> AppResult<(Vec<BillingEvent>, bool)> {
        Ok(self
            .store
            .stripe_event_list(tenant, limit, starting_after)
            .await?)
    }

    /// Money received, newest first.
    pub async fn payment_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> AppResult<(Vec<Payment>, bool)> {
        Ok(self
            .store
            .payment_list(tenant, limit, starting_after)
            .await?)
    }
}

/// The largest amount Stripe charges, in the currency's smallest unit (twelve digits).
pub const MAX_PAYMENT_AMOUNT: i64 = 999_999_999_999;

/// Whether a payment's amount is one Stripe can charge; anything else (negative, or past
/// twelve digits, which would make revenue sums overflow) is not recorded.
fn chargeable(amount: i64) -> bool {
    (0..=MAX_PAYMENT_AMOUNT).contains(&amount)
}

fn unchargeable(amount: i64, currency: &str) -> String {
    format!(
        "Payment of {} not recorded: amounts run from {} to {}.",
        money(amount, currency),
        money(0, currency),
        money(MAX_PAYMENT_AMOUNT, currency)
    )
}
