//! Group commit for usage increments: concurrent increments of one counter become one write.
//!
//! A hot counter (one user tracking from many connections) would otherwise cost one statement
//! per request, all queued on the same row lock. Here each increment joins a queue; one caller
//! at a time (per stripe of counters) takes everything queued and writes each counter once,
//! with the sum. Every caller is answered only after the write that includes it has committed,
//! with the count its own increment reached, as if the increments had run one by one in queue
//! order. Hard limits stay exact: when the sum would pass a limit, the batch is decided under
//! the row lock, admitting increments in order while they fit. Replicas need nothing more —
//! the row lock in the database still decides between them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use sqlx::Row;
use tokio::sync::oneshot;

use super::usage::TrackOutcome;
use super::{Store, StoreError, StoreResult};

const STRIPES: usize = 64;

/// A counter's identity, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub project_id: String,
    pub mode: &'static str,
    pub user_id: String,
    pub metric: String,
    pub period: String,
}

struct Pending {
    key: Key,
    amount: i64,
    hard_limit: Option<i64>,
    done: oneshot::Sender<Result<TrackOutcome, String>>,
}

#[derive(Default)]
struct Stripe {
    queue: Mutex<Vec<Pending>>,
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// The queues, one per stripe of counters.
pub(crate) struct Coalescer {
    stripes: Vec<Stripe>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Coalescer")
    }
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

impl Store {
    /// Adds `amount` to the counter unless that would pass `hard_limit`, combined with the
    /// increments of the same counter waiting at the same time.
    pub(crate) async fn usage_increment_coalesced(
        &self,
        key: Key,
        amount: i64,
        hard_limit: Option<i64>,
    ) -> StoreResult<TrackOutcome> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let stripe = &self.coalescer.stripes[(hasher.finish() as usize) % STRIPES];
        let (done, mut answer) = oneshot::channel();
        stripe.queue.lock().expect("queue").push(Pending {
            key,
            amount,
            hard_limit,
            done,
        });
        let writer = stripe.writer.clone().lock_owned().await;
        // An earlier writer may have taken this increment along already (or lost it, if its
        // task died: then the caller hears so instead of waiting on a closed channel).
        match answer.try_recv() {
            Ok(result) => return result.map_err(StoreError::Batch),
            Err(oneshot::error::TryRecvError::Closed) => {
                return Err(StoreError::Batch("the combined write was lost".into()));
            }
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let batch = std::mem::take(&mut *stripe.queue.lock().expect("queue"));
        // The write runs in its own task: a caller that goes away must not abandon the others.
        let store = self.clone();
        tokio::spawn(async move {
            store.write_batch(batch).await;
            drop(writer);
        });
        match answer.await {
            Ok(result) => result.map_err(StoreError::Batch),
            Err(_) => Err(StoreError::Batch("the combined write was lost".into())),
        }
    }

    /// Writes every counter of the batch once, then answers each caller.
    async fn write_batch(&self, batch: Vec<Pending>) {
        let mut groups: Vec<(Key, Vec<Pending>)> = Vec::new();
        for pending in batch {
            match groups.iter_mut().find(|(k, _)| *k == pending.key) {
                Some((_, group)) => group.push(pending),
                None => groups.push((pending.key.clone(), vec![pending])),
            }
        }
        for (key, group) in groups {
            let asks: Vec<(i64, Option<i64>)> =
                group.iter().map(|p| (p.amount, p.hard_limit)).collect();
            let outcome = self.write_group(&key, &asks).await;
            for (i, pending) in group.into_iter().enumerate() {
                let answer = match &outcome {
                    Ok(outcomes) => Ok(outcomes[i]),
                    Err(e) => Err(e.to_string()),
                };
                let _ = pending.done.send(answer);
            }
        }
    }

    /// One counter's increments, in order: one statement when they all fit, else decided one
    /// by one under the row lock.
    async fn write_group(
        &self,
        key: &Key,
        asks: &[(i64, Option<i64>)],
    ) -> StoreResult<Vec<TrackOutcome>> {
        let total: i64 = asks.iter().map(|(a, _)| a).sum();
        let limit = asks.iter().filter_map(|(_, l)| *l).min();
        let row = match limit {
            None => Some(
                sqlx::query(
                    "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (project_id, mode, user_id, metric, period) \
                     DO UPDATE SET count = usage_counters.count + excluded.count \
                     RETURNING count",
                )
                .bind(&key.project_id)
                .bind(key.mode)
                .bind(&key.user_id)
                .bind(&key.metric)
                .bind(&key.period)
                .bind(total)
                .fetch_one(self.pool())
                .await?,
            ),
            Some(limit) => {
                sqlx::query(
                    "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE $6 <= $7 \
                     ON CONFLICT (project_id, mode, user_id, metric, period) \
                     DO UPDATE SET count = usage_counters.count + excluded.count \
                     WHERE usage_counters.count + excluded.count <= $7 \
                     RETURNING count",
                )
                .bind(&key.project_id)
                .bind(key.mode)
                .bind(&key.user_id)
                .bind(&key.metric)
                .bind(&key.period)
                .bind(total)
                .bind(limit)
                .fetch_optional(self.pool())
                .await?
            }
        };
        if let Some(row) = row {
            // Everything fitted: each caller sees the count its own increment reached.
            let end: i64 = row.try_get("count")?;
            let mut count = end - total;
            return Ok(asks
                .iter()
                .map(|(amount, _)| {
                    count += amount;
                    TrackOutcome::Counted(count)
                })
                .collect());
        }
        self.write_group_one_by_one(key, asks).await
    }

    /// Near a limit: lock the row, admit the increments in order while they fit, write once.
    async fn write_group_one_by_one(
        &self,
        key: &Key,
        asks: &[(i64, Option<i64>)],
    ) -> StoreResult<Vec<TrackOutcome>> {
        let mut tx = self.pool().begin().await?;
        // Creates the row if needed and locks it (Postgres: the row; SQLite: the database).
        let current: i64 = sqlx::query(
            "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) \
             VALUES ($1, $2, $3, $4, $5, 0) \
             ON CONFLICT (project_id, mode, user_id, metric, period) \
             DO UPDATE SET count = usage_counters.count \
             RETURNING count",
        )
        .bind(&key.project_id)
        .bind(key.mode)
        .bind(&key.user_id)
        .bind(&key.metric)
        .bind(&key.period)
        .fetch_one(&mut *tx)
        .await?
        .try_get("count")?;
        let mut count = current;
        let outcomes: Vec<TrackOutcome> = asks
            .iter()
            .map(|(amount, limit)| {
                if limit.is_none_or(|l| count + amount <= l) {
                    count += amount;
                    TrackOutcome::Counted(count)
                } else {
                    TrackOutcome::LimitExceeded(count)
                }
            })
            .collect();
        if count != current {
            sqlx::query(
                "UPDATE usage_counters SET count = $1 WHERE project_id = $2 AND mode = $3 \
                 AND user_id = $4 AND metric = $5 AND period = $6",
            )
            .bind(count)
            .bind(&key.project_id)
            .bind(key.mode)
            .bind(&key.user_id)
            .bind(&key.metric)
            .bind(&key.period)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}
