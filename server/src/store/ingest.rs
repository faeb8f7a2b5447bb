//! Batch ingest of usage events: a thousand events in a handful of statements, with the same
//! guarantees as one track — hard limits exact, each event id counted at most once.
//!
//! One transaction: the events' ids are claimed (`usage_events`, one multi-row insert; an id
//! already there is a duplicate or a reuse, told apart by its stored content), the counters the
//! claimed events meet under a hard limit are created if needed and locked, in key order, and
//! read; the events are decided in the order sent; every counter is then written once with its
//! sum (one multi-row upsert, in key order). The claims of refused events are removed, so they
//! can be sent again. Rows are locked in key order in every statement — as the group commit of
//! single tracks does (`coalesce.rs`) — so concurrent batches and tracks wait on each other
//! instead of deadlocking.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::{Store, StoreError, StoreResult, id_list, placeholders, tenant_and_ids};
use crate::domain::Tenant;

/// One event to count.
#[derive(Debug, Clone)]
pub struct IngestRow<'a> {
    pub event_id: &'a str,
    pub user_id: &'a str,
    pub metric: &'a str,
    pub amount: i64,
    /// The user's current period key.
    pub period: &'a str,
    pub hard_limit: Option<i64>,
    pub occurred_at: i64,
    /// False when the caller refused it already (its timestamp): never counted, but still
    /// answered as a duplicate or a reuse when an earlier request counted its id.
    pub countable: bool,
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Counted; the count it reached.
    Counted(i64),
    /// Its id was counted before with the same user, metric and amount.
    Duplicate,
    /// Its id was counted before with different content.
    Reused,
    /// Refused by the hard limit; the count it met.
    LimitExceeded(i64),
    /// Not countable, and its id was not counted before.
    NotCounted,
}

/// A counter's key within the tenant, as one string: user, metric and period joined by NUL
/// (which no stored text holds), so it sorts as the three would, field by field.
fn counter_key(user: &str, metric: &str, period: &str) -> String {
    format!("{user}\0{metric}\0{period}")
}

/// The counter key of a returned row.
fn row_key(row: &sqlx::any::AnyRow) -> StoreResult<String> {
    Ok(counter_key(
        &row.try_get::<String, _>("user_id")?,
        &row.try_get::<String, _>("metric")?,
        &row.try_get::<String, _>("period")?,
    ))
}

/// Binds one counter row per key: `(project, mode, user, metric, period, amount)`.
fn bind_counters<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    tenant: &'q Tenant,
    counters: &'q BTreeMap<String, i64>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for (key, amount) in counters {
        let mut parts = key.split('\0');
        let (user, metric, period) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        query = query
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .bind(user)
            .bind(metric)
            .bind(period)
            .bind(*amount);
    }
    query
}

impl Store {
    /// Counts `rows` (in order) for `tenant`; one outcome per row. All or nothing: an error
    /// leaves every counter and claim as it was.
    pub async fn usage_ingest(
        &self,
        tenant: &Tenant,
        rows: &[IngestRow<'_>],
        now: i64,
    ) -> StoreResult<Vec<IngestOutcome>> {
        let mode = tenant.mode.as_str();
        // The first countable row of each id speaks for it; the others are judged against it.
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        let mut heads: Vec<usize> = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            if r.countable
                && let Entry::Vacant(slot) = first.entry(r.event_id)
            {
                slot.insert(i);
                heads.push(i);
            }
        }
        // Claimed in id order, so that two batches sharing ids wait on each other in one order.
        heads.sort_by_key(|&i| rows[i].event_id);
        let mut tx = self.begin_write().await?;

        // 1. Claim the ids.
        let mut claimed: Vec<bool> = vec![false; rows.len()];
        if !heads.is_empty() {
            let sql = format!(
                "INSERT INTO usage_events (project_id, mode, event_id, user_id, metric, amount, period, occurred_at, created_at) \
                 VALUES {} ON CONFLICT (project_id, mode, event_id) DO NOTHING RETURNING event_id",
                placeholders(heads.len(), 9)
            );
            let mut query = sqlx::query(&sql);
            for &i in &heads {
                let r = &rows[i];
                query = query
                    .bind(&tenant.project_id)
                    .bind(mode)
                    .bind(r.event_id)
                    .bind(r.user_id)
                    .bind(r.metric)
                    .bind(r.amount)
                    .bind(r.period)
                    .bind(r.occurred_at)
                    .bind(now);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let id: String = row.try_get("event_id")?;
                if let Some(&i) = first.get(id.as_str()) {
                    claimed[i] = true;
                }
            }
        }

        // 2. What the other ids were, when an earlier request counted them.
        let mut earlier: Vec<&str> = (0..rows.len())
            .filter(|&i| !claimed[first.get(rows[i].event_id).copied().unwrap_or(i)])
            .map(|i| rows[i].event_id)
            .collect();
        earlier.sort_unstable();
        earlier.dedup();
        let mut stored: HashMap<String, (String, String, i64)> = HashMap::new();
        if !earlier.is_empty() {
            let list = id_list(earlier.len());
            let sql = format!(
                "SELECT event_id, user_id, metric, amount FROM usage_events \
                 WHERE project_id = $1 AND mode = $2 AND event_id IN ({list})"
            );
            for row in tenant_and_ids(&sql, tenant, &earlier)
                .fetch_all(&mut *tx)
                .await?
            {
                stored.insert(
                    row.try_get("event_id")?,
                    (
                        row.try_get("user_id")?,
                        row.try_get("metric")?,
                        row.try_get("amount")?,
                    ),
                );
            }
        }

        // 3. When a hard limit guards any counter, every counter the batch writes is created
        //    if needed, locked in key order and read (locking only the limited ones would take
        //    the others later, out of order, in step 5).
        let keys: Vec<String> = rows
            .iter()
            .map(|r| counter_key(r.user_id, r.metric, r.period))
            .collect();
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        if (0..rows.len()).any(|i| claimed[i] && rows[i].hard_limit.is_some()) {
            let zeros: BTreeMap<String, i64> = (0..rows.len())
                .filter(|&i| claimed[i])
                .map(|i| (keys[i].clone(), 0))
                .collect();
            let sql = format!(
                "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) VALUES {} \
                 ON CONFLICT (project_id, mode, user_id, metric, period) \
                 DO UPDATE SET count = usage_counters.count \
                 RETURNING user_id, metric, period, count",
                placeholders(zeros.len(), 6)
            );
            for row in bind_counters(sqlx::query(&sql), tenant, &zeros)
                .fetch_all(&mut *tx)
                .await?
            {
                counts.insert(row_key(&row)?, row.try_get("count")?);
            }
        }

        // 4. Decide in order. A limited counter admits an event while it fits; the others take
        //    everything, their counts known once written. A repeat of an id claimed here is
        //    judged against that first row; any other id, against what an earlier request stored.
        enum Decided {
            Counted(i64),
            Free,
            Done(IngestOutcome),
        }
        let mut decided: Vec<Decided> = Vec::with_capacity(rows.len());
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            let d = if claimed[i] {
                match (r.hard_limit, counts.get_mut(&keys[i])) {
                    (Some(limit), Some(count)) if *count + r.amount > limit => {
                        Decided::Done(IngestOutcome::LimitExceeded(*count))
                    }
                    (Some(_), Some(count)) => {
                        *count += r.amount;
                        *totals.entry(keys[i].clone()).or_default() += r.amount;
                        Decided::Counted(*count)
                    }
                    _ => {
                        *totals.entry(keys[i].clone()).or_default() += r.amount;
                        Decided::Free
                    }
                }
            } else {
                Decided::Done(match first.get(r.event_id) {
                    Some(&head) if head < i && claimed[head] => {
                        let h = &rows[head];
                        let same =
                            h.user_id == r.user_id && h.metric == r.metric && h.amount == r.amount;
                        match (&decided[head], same) {
                            (_, false) => IngestOutcome::Reused,
                            // The same event again meets the same counter, only fuller.
                            (Decided::Done(IngestOutcome::LimitExceeded(_)), true) => {
                                IngestOutcome::LimitExceeded(
                                    counts.get(&keys[i]).copied().unwrap_or_default(),
                                )
                            }
                            (_, true) => IngestOutcome::Duplicate,
                        }
                    }
                    _ => match stored_outcome(&stored, r) {
                        Some(outcome) => outcome,
                        None if !r.countable => IngestOutcome::NotCounted,
                        None => {
                            return Err(StoreError::Corrupt(format!(
                                "usage event {} was neither claimed nor stored",
                                r.event_id
                            )));
                        }
                    },
                })
            };
            decided.push(d);
        }

        // 5. Write every counter once, in key order.
        let mut ends: HashMap<String, i64> = HashMap::with_capacity(totals.len());
        if !totals.is_empty() {
            let sql = format!(
                "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) VALUES {} \
                 ON CONFLICT (project_id, mode, user_id, metric, period) \
                 DO UPDATE SET count = usage_counters.count + excluded.count \
                 RETURNING user_id, metric, period, count",
                placeholders(totals.len(), 6)
            );
            for row in bind_counters(sqlx::query(&sql), tenant, &totals)
                .fetch_all(&mut *tx)
                .await?
            {
                ends.insert(row_key(&row)?, row.try_get("count")?);
            }
        }

        // 6. Forget the claims of refused events, so they can be sent again.
        let refused: Vec<&str> = (0..rows.len())
            .filter(|&i| claimed[i] && matches!(decided[i], Decided::Done(_)))
            .map(|i| rows[i].event_id)
            .collect();
        if !refused.is_empty() {
            let list = id_list(refused.len());
            let sql = format!(
                "DELETE FROM usage_events WHERE project_id = $1 AND mode = $2 AND event_id IN ({list})"
            );
            tenant_and_ids(&sql, tenant, &refused)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;

        // A counter without a limit: each event's count is where it ended, less what came after.
        let mut after: HashMap<&str, i64> = HashMap::new();
        let mut outcomes: Vec<IngestOutcome> = vec![IngestOutcome::NotCounted; rows.len()];
        for i in (0..rows.len()).rev() {
            outcomes[i] = match &decided[i] {
                Decided::Counted(count) => IngestOutcome::Counted(*count),
                Decided::Done(outcome) => *outcome,
                Decided::Free => {
                    let later = after.entry(keys[i].as_str()).or_default();
                    let count = ends.get(&keys[i]).copied().unwrap_or_default() - *later;
                    *later += rows[i].amount;
                    IngestOutcome::Counted(count)
                }
            };
        }
        Ok(outcomes)
    }
}

/// A duplicate or a reuse of an id stored before this batch.
fn stored_outcome(
    stored: &HashMap<String, (String, String, i64)>,
    r: &IngestRow<'_>,
) -> Option<IngestOutcome> {
    let (user, metric, amount) = stored.get(r.event_id)?;
    Some(
        if user == r.user_id && metric == r.metric && *amount == r.amount {
            IngestOutcome::Duplicate
        } else {
            IngestOutcome::Reused
        },
    )
}
