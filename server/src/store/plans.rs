//! What many users' plans are read from, in a few statements instead of a few per user: their
//! customer rows (registered when new, as [`Store::customer_upsert`] does one) and the
//! subscription that decides each one's plan (as [`Store::subscription_latest`] picks it).
//! Batch ingest names up to a thousand users a request; reading them one by one was most of a
//! cold batch's time. The replica's refresher reads the plans and counters of the users whose
//! copies are due the same way.

use std::collections::HashMap;

use sqlx::Row;

use super::billing::{LATEST_FIRST, SUBSCRIPTION_COLUMNS, subscription_row};
use super::customers::{COLUMNS, customer_row};
use super::{Store, StoreResult, id_list, placeholders, tenant_and_ids};
use crate::domain::{Customer, Subscription, Tenant};

/// Users per statement (each is one parameter; SQLite takes 32,766 at most).
const CHUNK: usize = 1000;

impl Store {
    /// The customer rows of `user_ids`, registering those not seen before (without an email).
    pub async fn customers_ensure(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
        now: i64,
    ) -> StoreResult<HashMap<String, Customer>> {
        let mut found = HashMap::with_capacity(user_ids.len());
        for chunk in user_ids.chunks(CHUNK) {
            self.customers_read(tenant, chunk, &mut found).await?;
            let new: Vec<&str> = chunk
                .iter()
                .copied()
                .filter(|user| !found.contains_key(*user))
                .collect();
            if new.is_empty() {
                continue;
            }
            let sql = format!(
                "INSERT INTO customers (project_id, mode, user_id, created_at) \
                 VALUES {} ON CONFLICT (project_id, mode, user_id) DO NOTHING",
                placeholders(new.len(), 4)
            );
            // Its text changes with the number of users: not kept prepared (see `tenant_and_ids`).
            let mut query = sqlx::query(&sql).persistent(false);
            for user in &new {
                query = query
                    .bind(&tenant.project_id)
                    .bind(tenant.mode.as_str())
                    .bind(*user)
                    .bind(now);
            }
            query.execute(self.pool()).await?;
            // Read back, also those another request registered in the meantime.
            self.customers_read(tenant, &new, &mut found).await?;
        }
        Ok(found)
    }

    /// The customer rows of those of `user_ids` that are registered (registering no one).
    pub async fn customers_known(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
    ) -> StoreResult<HashMap<String, Customer>> {
        let mut found = HashMap::with_capacity(user_ids.len());
        for chunk in user_ids.chunks(CHUNK) {
            self.customers_read(tenant, chunk, &mut found).await?;
        }
        Ok(found)
    }

    async fn customers_read(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
        into: &mut HashMap<String, Customer>,
    ) -> StoreResult<()> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customers WHERE project_id = $1 AND mode = $2 AND user_id IN ({})",
            id_list(user_ids.len())
        );
        for row in tenant_and_ids(&sql, tenant, user_ids)
            .fetch_all(self.pool())
            .await?
        {
            let customer = customer_row(&row)?;
            into.insert(customer.user_id.clone(), customer);
        }
        Ok(())
    }

    /// Every metric each of `user_ids` counted in `period`, by name (as
    /// [`Store::usage_for_user`] reads one user's); a user who counted nothing has no entry.
    pub async fn usage_for_users(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
        period: &str,
    ) -> StoreResult<HashMap<String, Vec<(String, i64)>>> {
        let mut counts: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for chunk in user_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT user_id, metric, count FROM usage_counters \
                 WHERE project_id = $1 AND mode = $2 AND user_id IN ({}) AND period = ${} \
                 ORDER BY user_id, metric",
                id_list(chunk.len()),
                chunk.len() + 3
            );
            for row in tenant_and_ids(&sql, tenant, chunk)
                .bind(period)
                .fetch_all(self.pool())
                .await?
            {
                counts
                    .entry(row.try_get("user_id")?)
                    .or_default()
                    .push((row.try_get("metric")?, row.try_get("count")?));
            }
        }
        Ok(counts)
    }

    /// For each of `user_ids` with any subscription, the one that decides the plan.
    pub async fn subscriptions_latest(
        &self,
        tenant: &Tenant,
        user_ids: &[&str],
    ) -> StoreResult<HashMap<String, Subscription>> {
        let mut latest = HashMap::new();
        for chunk in user_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM (\
                   SELECT {SUBSCRIPTION_COLUMNS}, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY {LATEST_FIRST}) AS pick \
                   FROM subscriptions WHERE project_id = $1 AND mode = $2 AND user_id IN ({})\
                 ) ranked WHERE pick = 1",
                id_list(chunk.len())
            );
            for row in tenant_and_ids(&sql, tenant, chunk)
                .fetch_all(self.pool())
                .await?
            {
                let subscription = subscription_row(&row)?;
                latest.insert(subscription.user_id.clone(), subscription);
            }
        }
        Ok(latest)
    }
}
