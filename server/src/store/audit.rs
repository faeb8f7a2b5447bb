//! The audit log: one append-only row per change made with a secret key.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::{ActorKind, AuditEntry, Tenant};

const COLUMNS: &str = "id, action, target, actor_kind, actor_label, summary, created_at";

impl Store {
    pub async fn audit_append(
        &self,
        tenant: &Tenant,
        row: &AuditEntry,
        seq: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (project_id, mode, id, seq, action, target, actor_kind, actor_label, summary, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&row.id)
        .bind(seq)
        .bind(&row.action)
        .bind(row.target.clone())
        .bind(row.actor_kind.as_str())
        .bind(&row.actor_label)
        .bind(row.summary.clone())
        .bind(row.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A page of the tenant's audit log, newest first, and whether more follow.
    pub async fn audit_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> StoreResult<(Vec<AuditEntry>, bool)> {
        let rows = self
            .newest_first("audit_log", COLUMNS, tenant, limit, starting_after)
            .await?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    actor_kind: super::word(r, "actor_kind", ActorKind::parse)?,
                    actor_label: r.try_get("actor_label")?,
                    summary: r.try_get("summary")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(super::page(entries, limit))
    }
}
