//! Usage-based billing: when Stripe renews a subscription, the period that ended is billed
//! for the units used beyond each metric's included ones (`LimitRule::overage`).
//!
//! The renewal's draft invoice (`invoice.created`, billing reason `subscription_cycle`, its
//! period the one that ended) gets one invoice item per metric. Exactly once: the figures are
//! recorded first under the key (subscription, period start, metric), a repeat bills the
//! recorded figures, and the Stripe call carries an idempotency key made of the same parts, so
//! a replayed or concurrent event, another replica or a restart between the call and its record
//! bills nothing twice. An invoice already finalized (the event arrived late) gets a pending
//! item instead, which Stripe puts on the next invoice. A Stripe failure fails the event, which
//! is then not recorded, so Stripe's retry (or the catch-up) bills it.

use std::collections::HashMap;

use stripe::StripeRequest;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::invoice_item::CreateInvoiceItem;
use stripe_shared::{Invoice, InvoiceBillingReason, InvoiceStatus};

use super::billing::{
    META_MODE, META_PROJECT, META_USER, currency, idempotency, on_account, provider,
};
use super::{App, AppError, AppResult, Period, now};
use crate::domain::Tenant;
use crate::store::overage::OverageCharge;
use crate::store::usage::Counter;

impl App {
    /// Bills the overage of the period `invoice` closes, for `user` of `tenant`, once per
    /// event (`event` is its id); says what it did, for the event log.
    pub(super) async fn overage_bill(
        &self,
        tenant: &Tenant,
        user: &str,
        event: &str,
        invoice: &Invoice,
        account: &str,
    ) -> AppResult<String> {
        // A delivery of an event already applied bills nothing, whatever was counted since.
        if self.store.stripe_event_known(event).await? {
            return Ok("Already applied.".into());
        }
        if invoice.billing_reason != Some(InvoiceBillingReason::SubscriptionCycle) {
            return Ok("Not a renewal: no overage to bill.".into());
        }
        let Some(subscription) = invoice
            .parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref())
            .map(|d| d.subscription.id().to_string())
        else {
            return Ok("The invoice names no subscription: no overage to bill.".into());
        };
        let Some(sub) = self.store.subscription_get(tenant, &subscription).await? else {
            return Ok(format!(
                "Subscription {subscription} is unknown here: no overage billed."
            ));
        };
        // The period that ended at the trial's end was free.
        if sub.trial_end.is_some_and(|end| invoice.period_end <= end) {
            return Ok("The period that ended was a trial: no overage billed.".into());
        }
        let Some(tier) = self.store.tier_get(tenant, &sub.tier_id).await? else {
            return Ok("The subscription's tier is gone: no overage billed.".into());
        };
        let currency = invoice.currency.to_string();
        if tier.price.as_ref().is_none_or(|p| p.currency != currency) {
            return Ok(format!(
                "The tier is not priced in the invoice's currency ({currency}): no overage billed."
            ));
        }
        let Some(customer) = invoice.customer.as_ref().map(|c| c.id().to_string()) else {
            return Ok("The invoice names no customer: no overage billed.".into());
        };
        let invoice_id = invoice
            .id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default();
        // The event shows the invoice as it was created (a draft); what it is now decides where
        // a first claim bills: on it while it is a draft, else pending for the next invoice.
        let mut draft = None;
        let period = Period::subscription(invoice.period_start, invoice.period_end);
        let mut billed = Vec::new();
        for rule in &tier.limits {
            let (Some(overage), Some(included)) = (rule.overage, rule.limit) else {
                continue;
            };
            let used = self
                .store
                .usage_get(&Counter {
                    tenant,
                    user_id: user,
                    metric: &rule.metric,
                    period: &period.key,
                })
                .await?;
            let (units, amount) = overage.charge(included, used);
            if amount > 0 && draft.is_none() {
                draft = Some(self.invoice_is_draft(tenant, account, &invoice_id).await?);
            }
            // Recorded even at zero, so that each period is decided once.
            let charge = self
                .store
                .overage_claim(
                    tenant,
                    &OverageCharge {
                        subscription: subscription.clone(),
                        period_start: invoice.period_start,
                        metric: rule.metric.clone(),
                        user_id: user.to_string(),
                        included,
                        used,
                        units,
                        amount,
                        currency: currency.clone(),
                        invoice: if draft == Some(true) {
                            invoice_id.clone()
                        } else {
                            String::new()
                        },
                        invoice_item: None,
                    },
                    now(),
                )
                .await?;
            if charge.amount == 0 {
                continue;
            }
            if charge.invoice_item.is_none() {
                match self
                    .overage_item(tenant, account, &customer, &charge, invoice.period_end)
                    .await
                {
                    Ok(item) => self.store.overage_billed(tenant, &charge, &item).await?,
                    // Stripe refused the item for good: say so in the event log rather than
                    // fail the event (and every catch-up after it) for ever.
                    Err(ItemError::Refused(why)) => {
                        billed.push(format!(
                            "{}: NOT billed, Stripe refused the item: {why}",
                            charge.metric
                        ));
                        continue;
                    }
                    Err(ItemError::Passing(e)) => return Err(e),
                }
            }
            billed.push(format!(
                "{}: {} beyond {} → {}",
                charge.metric,
                charge.units,
                charge.included,
                crate::domain::money(charge.amount, &charge.currency)
            ));
        }
        Ok(if billed.is_empty() {
            "Renewal: no usage beyond the included units.".into()
        } else {
            format!("Renewal: overage billed ({}).", billed.join("; "))
        })
    }

    /// Whether the invoice is still a draft at Stripe.
    async fn invoice_is_draft(&self, tenant: &Tenant, account: &str, id: &str) -> AppResult<bool> {
        let client = self.payments.client(tenant.mode)?;
        let invoice = on_account(RetrieveInvoice::new(id).customize(), account)
            .send(client)
            .await
            .map_err(provider)?;
        Ok(invoice.status == Some(InvoiceStatus::Draft))
    }

    /// The Stripe invoice item of a recorded charge (the same request every time).
    async fn overage_item(
        &self,
        tenant: &Tenant,
        account: &str,
        customer: &str,
        charge: &OverageCharge,
        period_end: i64,
    ) -> Result<String, ItemError> {
        let client = self
            .payments
            .client(tenant.mode)
            .map_err(ItemError::Passing)?;
        let mut create = CreateInvoiceItem::new()
            .customer(customer.to_string())
            .amount(charge.amount)
            .currency(currency(&charge.currency).map_err(ItemError::Passing)?)
            .description(format!(
                "{}: {} beyond the {} included",
                charge.metric, charge.units, charge.included
            ))
            .period(stripe_billing::invoice_item::Period::new(
                period_end,
                charge.period_start,
            ))
            .metadata(HashMap::from([
                (META_PROJECT.to_string(), tenant.project_id.clone()),
                (META_MODE.to_string(), tenant.mode.as_str().to_string()),
                (META_USER.to_string(), charge.user_id.clone()),
                ("dream_metric".to_string(), charge.metric.clone()),
                ("dream_used".to_string(), charge.used.to_string()),
            ]));
        create = if charge.invoice.is_empty() {
            create.subscription(charge.subscription.clone())
        } else {
            create.invoice(charge.invoice.clone())
        };
        let key = idempotency(&[
            "overage",
            &tenant.project_id,
            tenant.mode.as_str(),
            &charge.subscription,
            &charge.period_start.to_string(),
            &charge.metric,
            &charge.invoice,
        ]);
        let item = on_account(create.customize().request_strategy(key), account)
            .send(client)
            .await
            .map_err(|e| match &e {
                // A 4xx other than a conflict or a rate limit would be refused again.
                stripe::StripeError::Stripe(errors, status)
                    if (400..500).contains(status) && !matches!(status, 409 | 429) =>
                {
                    ItemError::Refused(
                        errors
                            .message
                            .clone()
                            .unwrap_or_else(|| format!("status {status}")),
                    )
                }
                _ => ItemError::Passing(provider(e)),
            })?;
        Ok(item.id.to_string())
    }
}

/// Why an invoice item was not created.
enum ItemError {
    /// Stripe refused it and would refuse it again.
    Refused(String),
    /// Anything that may pass: the event fails, and Stripe's retry or the catch-up brings it back.
    Passing(AppError),
}
