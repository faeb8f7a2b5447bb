//! Customers as the secret key sees them.

use super::{App, AppError, AppResult, MetricReport, Period, now};
use crate::store::tiers::TierRow;
use crate::store::{CustomerRow, Tenant};

/// A customer with their tier and, for detail views, usage.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub customer: CustomerRow,
    pub tier: TierRow,
    pub usage: Option<(Vec<MetricReport>, Period)>,
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
        for customer in rows {
            let tier = self
                .tier_of(tenant, customer.tier_override_id.as_deref())
                .await?;
            views.push(CustomerView {
                customer,
                tier,
                usage: None,
            });
        }
        Ok((views, has_more))
    }

    pub async fn customer_get(&self, tenant: &Tenant, user_id: &str) -> AppResult<CustomerView> {
        let customer = self
            .store
            .customer_get(tenant, user_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "customer",
                id: user_id.to_string(),
                param: "userId",
            })?;
        let tier = self
            .tier_of(tenant, customer.tier_override_id.as_deref())
            .await?;
        let period = Period::containing(now());
        let usage = self.usage_reports(tenant, user_id, &tier, &period).await?;
        Ok(CustomerView {
            customer,
            tier,
            usage: Some((usage, period)),
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
        self.customer_get(tenant, user_id).await
    }
}
