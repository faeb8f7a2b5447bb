//! Deleting a project: every row it owns, in both modes, in one transaction.

use sqlx::Row;

use super::{Store, StoreResult};

/// Every table holding a project's rows, by its `project_id` column, children before the
/// tables they reference (`projects` itself last). A test compares this list with the
/// schema: a new table with a `project_id` column must be added here.
pub const PROJECT_TABLES: &[&str] = &[
    "assets",
    "api_keys",
    "settings",
    "tiers",
    "products",
    "customers",
    "usage_counters",
    "usage_events",
    "idempotency_keys",
    "subscriptions",
    "overage_charges",
    "stripe_events",
    "payments",
    "usage_buckets",
    "usage_active",
    "audit_log",
    "dashboard_sessions",
];

/// What deleting a project did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectDeletion {
    /// Gone, with every row of it.
    Deleted,
    /// There is no such project.
    NotFound,
    /// Nothing was deleted: the project has this many live-mode subscriptions that are
    /// still live, and Stripe would go on billing them.
    LiveSubscriptions(i64),
}

impl Store {
    /// Deletes project `id` and every row it owns, unless it has live-mode subscriptions
    /// that are still live.
    pub async fn project_delete(&self, id: &str) -> StoreResult<ProjectDeletion> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(ProjectDeletion::NotFound);
        }
        let live: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM subscriptions WHERE project_id = $1 AND mode = 'live' \
             AND status IN ('active', 'trialing', 'past_due')",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if live > 0 {
            return Ok(ProjectDeletion::LiveSubscriptions(live));
        }
        sqlx::query(
            "DELETE FROM prices WHERE product_id IN (SELECT id FROM products WHERE project_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for table in PROJECT_TABLES {
            // The table names are this module's constants, never input.
            sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ProjectDeletion::Deleted)
    }
}
