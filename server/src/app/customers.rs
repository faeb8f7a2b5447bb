//! Customers as the secret key sees them.

use super::{App, AppError, AppResult, MetricReport, Period, now};
use crate::domain::{Customer, Subscription, Tenant, Tier};

/// A customer with their tier and, for detail views, usage and subscription.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub customer: Customer,
    pub tier: std::sync::Arc<Tier>,
    pub usage: Option<(Vec<MetricReport>, Period)>,
    /// The subscription that sets the tier, or the newest one, with its tier.
    pub subscription: Option<(Subscription, Tier)>,
}

impl App {
    pub async fn customer_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
        query: Option<&str>,
    ) -> AppResult<(Vec<CustomerView>, bool)> {
        let (rows, has_more) = self
            .store
            .customer_list(tenant, limit, starting_after, query)
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        let at = now();
        for customer in rows {
            let tier = self.plan_of(tenant, &customer, at).await?.tier;
            views.push(CustomerView {
                customer,
                tier,
                usage: None,
                subscription: None,
            });
        }
        Ok((views, has_more))
    }

    /// The customer's row, or the documented 404.
    async fn customer_row(&self, tenant: &Tenant, user_id: &str) -> AppResult<Customer> {
        self.store
            .customer_get(tenant, user_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "customer",
                id: user_id.to_string(),
                param: "userId",
            })
    }

    pub async fn customer_get(&self, tenant: &Tenant, user_id: &str) -> AppResult<CustomerView> {
        let customer = self.customer_row(tenant, user_id).await?;
        let plan = self.plan_of(tenant, &customer, now()).await?;
        let usage = self.usage_reports(tenant, user_id, &plan).await?;
        let subscription = match plan.subscription {
            Some(sub) => self
                .store
                .tier_get(tenant, &sub.tier_id)
                .await?
                .map(|tier| (sub, tier)),
            None => None,
        };
        Ok(CustomerView {
            customer,
            tier: plan.tier,
            usage: Some((usage, plan.period)),
            subscription,
        })
    }

    /// Puts a customer on a tier by name, or removes the override.
    pub async fn customer_override(
        &self,
        tenant: &Tenant,
        user_id: &str,
        tier_name: Option<&str>,
    ) -> AppResult<CustomerView> {
        let tier_id = match tier_name {
            Some(name) => {
                let tier = self
                    .store
                    .tier_by_name(tenant, name)
                    .await?
                    .filter(|t| t.active)
                    .ok_or_else(|| {
                        AppError::validation("tier", format!("No active tier named {name}."))
                    })?;
                Some(tier.id)
            }
            None => None,
        };
        if !self
            .store
            .customer_set_override(tenant, user_id, tier_id.as_deref())
            .await?
        {
            return Err(AppError::NotFound {
                what: "customer",
                id: user_id.to_string(),
                param: "userId",
            });
        }
        self.forget(super::replica::Forget::plan(tenant, user_id))
            .await;
        self.customer_get(tenant, user_id).await
    }

    /// Sets the customer's counters of their current period back to zero.
    pub async fn customer_usage_reset(
        &self,
        tenant: &Tenant,
        user_id: &str,
    ) -> AppResult<CustomerView> {
        let customer = self.customer_row(tenant, user_id).await?;
        let plan = self.plan_of(tenant, &customer, now()).await?;
        self.store
            .usage_reset(tenant, user_id, &plan.period.key)
            .await?;
        self.usage_changed(tenant, user_id);
        self.customer_get(tenant, user_id).await
    }
}
