//! Customers: the users of a tenant, registered the first time they are seen.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::{Customer, Tenant};

pub(super) const COLUMNS: &str = "user_id, email, tier_override_id, created_at, stripe_customer_id";

impl Store {
    /// Registers the user if new (keeping the first `created_at`), records a changed email,
    /// and returns the row.
    pub async fn customer_upsert(
        &self,
        tenant: &Tenant,
        user_id: &str,
        email: Option<&str>,
        now: i64,
    ) -> StoreResult<Customer> {
        // Most calls find the user registered with the same email: a read, not a row rewrite.
        if let Some(row) = self.customer_get(tenant, user_id).await?
            && (email.is_none() || row.email.as_deref() == email)
        {
            return Ok(row);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO customers (project_id, mode, user_id, email, tier_override_id, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5) \
             ON CONFLICT (project_id, mode, user_id) DO UPDATE SET email = COALESCE(excluded.email, customers.email) \
             RETURNING {COLUMNS}"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .bind(email.map(str::to_string))
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        customer_row(&row)
    }

    pub async fn customer_get(
        &self,
        tenant: &Tenant,
        user_id: &str,
    ) -> StoreResult<Option<Customer>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM customers WHERE project_id = $1 AND mode = $2 AND user_id = $3"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(customer_row).transpose()
    }

    /// A page of customers ordered by user id, after `starting_after`, whose id or email
    /// contains `query` (case-insensitively). Fetches one extra row to tell whether more exist.
    pub async fn customer_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
        query: Option<&str>,
    ) -> StoreResult<(Vec<Customer>, bool)> {
        let pattern = query.map(|q| {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM customers WHERE project_id = $1 AND mode = $2 \
             AND ($3 IS NULL OR user_id > $3) \
             AND ($4 IS NULL OR LOWER(user_id) LIKE $4 ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE $4 ESCAPE '\\') \
             ORDER BY user_id LIMIT $5"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(starting_after.map(str::to_string))
        .bind(pattern)
        .bind(limit + 1)
        .fetch_all(self.pool())
        .await?;
        let customers: Vec<Customer> = rows.iter().map(customer_row).collect::<StoreResult<_>>()?;
        Ok(super::page(customers, limit))
    }

    pub async fn customer_set_override(
        &self,
        tenant: &Tenant,
        user_id: &str,
        tier_id: Option<&str>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE customers SET tier_override_id = $1 WHERE project_id = $2 AND mode = $3 AND user_id = $4",
        )
        .bind(tier_id.map(str::to_string))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

pub(super) fn customer_row(r: &sqlx::any::AnyRow) -> StoreResult<Customer> {
    Ok(Customer {
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        tier_override_id: r.try_get("tier_override_id")?,
        created_at: r.try_get("created_at")?,
        stripe_customer_id: r.try_get("stripe_customer_id")?,
    })
}
