//! Group commit for usage increments: concurrent increments of one counter become one write.
//!
//! A hot counter (one user tracking from many connections) would otherwise cost one statement
//! per request, all queued on the same row lock. Here each increment joins one queue, and up
//! to [`WRITERS`] writers at a time each take everything queued whose counter no other writer
//! is writing, and write each counter once, with the sum. An increment waits for a writer only
//! while all of them are busy, or while its own counter's previous write is under way (that
//! write's row lock would hold it anyway); then it goes with the next write of its counter,
//! together with everything queued meanwhile. Every caller is answered only after the write
//! that includes it has committed, with the count its own increment reached, as if the
//! increments of each counter had run one by one in queue order. Hard limits stay exact: when
//! the sum would pass a limit, the batch is decided under the row lock, admitting increments
//! in order while they fit. Replicas need nothing more — the row lock in the database still
//! decides between them.

use std::collections::HashSet;
use std::sync::Mutex;

use sqlx::pool::PoolConnection;
use sqlx::{Any, Connection, Row};
use tokio::sync::oneshot;

use super::usage::{Counter, increment};
use super::{Store, StoreError, StoreResult};
use crate::domain::{Mode, Tenant, TrackOutcome};

/// Writes under way at once at most, each on a connection of its own kept between batches.
pub(crate) const WRITERS: usize = 4;
/// Rows per multi-row statement (6 parameters each; SQLite allows 32,766).
const MAX_ROWS: usize = 500;

/// A counter's identity, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub project_id: String,
    pub mode: &'static str,
    pub user_id: String,
    pub metric: String,
    pub period: String,
}

/// The counts each increment reached, in order, when together they took the counter to `end`.
fn counted(end: i64, total: i64, amounts: impl Iterator<Item = i64>) -> Vec<TrackOutcome> {
    let mut count = end - total;
    amounts
        .map(|amount| {
            count += amount;
            TrackOutcome::Counted(count)
        })
        .collect()
}

/// Sends each caller of a group its outcome.
fn answer(group: Vec<Pending>, outcomes: StoreResult<Vec<TrackOutcome>>) {
    for (i, pending) in group.into_iter().enumerate() {
        let outcome = match &outcomes {
            Ok(all) => Ok(all[i]),
            Err(e) => Err(e.batch()),
        };
        let _ = pending.done.send(outcome);
    }
}

/// The writing task ended without answering (it panicked).
fn lost() -> StoreError {
    StoreError::Batch {
        message: "the combined write was lost".into(),
        unavailable: false,
    }
}

struct Pending {
    key: Key,
    amount: i64,
    hard_limit: Option<i64>,
    done: oneshot::Sender<StoreResult<TrackOutcome>>,
}

/// The connection a writer writes its shared statements on, kept between batches: sqlx pings
/// a connection every time it goes back to the pool, a round trip per batch.
struct Held {
    conn: PoolConnection<Any>,
    used: std::time::Instant,
}

#[derive(Default)]
struct Queue {
    /// Increments not yet taken by a writer, in arrival order.
    pending: Vec<Pending>,
    /// The counters some writer is writing now: their next increments wait for that write.
    writing: HashSet<Key>,
    /// Writers under way.
    writers: usize,
    /// The connections of the writers not under way.
    idle: Vec<Held>,
    /// Set on shutdown: connections go back to the pool instead of into `idle`.
    closed: bool,
}

impl Queue {
    /// Everything queued whose counter no writer is writing, in queue order, and those
    /// counters, now marked as being written.
    fn take(&mut self) -> (Vec<Pending>, Vec<Key>) {
        let (taken, left): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| !self.writing.contains(&p.key));
        self.pending = left;
        let mut keys = Vec::new();
        for pending in &taken {
            if self.writing.insert(pending.key.clone()) {
                keys.push(pending.key.clone());
            }
        }
        (taken, keys)
    }

    /// Counters whose write is done: their next increments may be taken.
    fn free(&mut self, keys: &mut Vec<Key>) {
        for key in keys.drain(..) {
            self.writing.remove(&key);
        }
    }
}

/// The queue and its writers.
pub(crate) struct Coalescer {
    queue: Mutex<Queue>,
    /// Where each batch's size is observed, once the app has said where (`/metrics`).
    pub(crate) batches: std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Coalescer")
    }
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer {
            queue: Mutex::new(Queue::default()),
            batches: std::sync::OnceLock::new(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives the connections the writers keep back to the pool; a writer under way gives its
    /// own back when it is done.
    pub fn release(&self) {
        let idle = {
            let mut queue = self.queue();
            queue.closed = true;
            std::mem::take(&mut queue.idle)
        };
        drop(idle);
    }
}

/// One writer's turn: the counters of the batch it is writing. Dropped without [`Turn::next`]
/// having ended it (the writing task panicked), it frees those counters for the other
/// writers, and when none is left, every queued caller hears its increment was lost, so no
/// caller waits forever.
struct Turn {
    store: Store,
    keys: Vec<Key>,
    held: Option<Held>,
    ended: bool,
}

impl Turn {
    /// Frees the counters just written and takes the next batch, or ends this writer (its
    /// connection kept for the next one) when nothing it may take is queued.
    fn next(&mut self) -> Option<Vec<Pending>> {
        let mut queue = self.store.coalescer.queue();
        queue.free(&mut self.keys);
        let (batch, keys) = queue.take();
        if batch.is_empty() {
            queue.writers -= 1;
            if let Some(held) = self.held.take()
                && !queue.closed
            {
                queue.idle.push(held);
            }
            self.ended = true;
            return None;
        }
        if self.held.is_none() {
            self.held = queue.idle.pop();
        }
        self.keys = keys;
        Some(batch)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut queue = self.store.coalescer.queue();
        queue.free(&mut self.keys);
        queue.writers -= 1;
        if queue.writers == 0 {
            // No writer is left to take what is queued: its callers hear that it was lost.
            drop(std::mem::take(&mut queue.pending));
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
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queue = self.coalescer.queue();
            let free = !queue.writing.contains(&key);
            queue.pending.push(Pending {
                key,
                amount,
                hard_limit,
                done,
            });
            // A writer under way takes this increment when it is done with its batch.
            let start = free && queue.writers < WRITERS;
            if start {
                queue.writers += 1;
            }
            start
        };
        if start {
            // The writes run in their own task: a caller that goes away must not abandon the
            // others.
            let mut turn = Turn {
                store: self.clone(),
                keys: Vec::new(),
                held: None,
                ended: false,
            };
            tokio::spawn(async move {
                while let Some(batch) = turn.next() {
                    turn.store.write_batch(batch, &mut turn.held).await;
                }
            });
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(lost()),
        }
    }

    /// Writes every counter of the batch once, then answers each caller. Counters without a
    /// hard limit share one multi-row statement (rows in key order, so statements from
    /// several replicas lock rows in the same order and never deadlock); counters with one are
    /// written each by its own statement, all at once.
    async fn write_batch(&self, batch: Vec<Pending>, held: &mut Option<Held>) {
        if let Some(batches) = self.coalescer.batches.get() {
            batches.observe(batch.len() as f64);
        }
        let mut groups: Vec<(Key, Vec<Pending>)> = Vec::new();
        for pending in batch {
            match groups.iter_mut().find(|(k, _)| *k == pending.key) {
                Some((_, group)) => group.push(pending),
                None => groups.push((pending.key.clone(), vec![pending])),
            }
        }
        let (mut free, limited): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .partition(|(_, group)| group.iter().all(|p| p.hard_limit.is_none()));
        free.sort_by(|a, b| a.0.cmp(&b.0));
        let shared = async {
            while !free.is_empty() {
                let rest = free.split_off(free.len().min(MAX_ROWS));
                let chunk = std::mem::replace(&mut free, rest);
                let totals: Vec<(Key, i64)> = chunk
                    .iter()
                    .map(|(key, group)| (key.clone(), group.iter().map(|p| p.amount).sum()))
                    .collect();
                let ends = self.write_rows(held, &totals).await;
                for ((key, group), (_, total)) in chunk.into_iter().zip(&totals) {
                    let outcomes = match &ends {
                        Ok(ends) => match ends.iter().find(|(k, _)| *k == key) {
                            Some((_, end)) => {
                                Ok(counted(*end, *total, group.iter().map(|p| p.amount)))
                            }
                            None => Err(StoreError::Batch {
                                message: "a counter was not written".into(),
                                unavailable: false,
                            }),
                        },
                        Err(e) => Err(e.batch()),
                    };
                    answer(group, outcomes);
                }
            }
        };
        let each = futures::future::join_all(limited.into_iter().map(|(key, group)| async move {
            let asks: Vec<(i64, Option<i64>)> =
                group.iter().map(|p| (p.amount, p.hard_limit)).collect();
            let outcomes = self.write_group(&key, &asks).await;
            answer(group, outcomes);
        }));
        tokio::join!(shared, each);
    }

    /// The writer's connection: the one held, checked first if it sat idle (as the pool
    /// checks its own), or a new one from the pool.
    async fn held_connection<'a>(
        &self,
        held: &'a mut Option<Held>,
    ) -> StoreResult<&'a mut PoolConnection<Any>> {
        if let Some(h) = held
            && h.used.elapsed() >= super::IDLE_BEFORE_PING
            && h.conn.ping().await.is_err()
        {
            h.conn.close_on_drop();
            *held = None;
        }
        let h = match held {
            Some(h) => h,
            None => held.insert(Held {
                conn: self.pool().acquire().await?,
                used: std::time::Instant::now(),
            }),
        };
        h.used = std::time::Instant::now();
        Ok(&mut h.conn)
    }

    /// Adds each total to its counter in one statement; the counts reached, by key.
    async fn write_rows(
        &self,
        held: &mut Option<Held>,
        totals: &[(Key, i64)],
    ) -> StoreResult<Vec<(Key, i64)>> {
        let values: Vec<String> = (0..totals.len())
            .map(|i| {
                let b = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) VALUES {} \
             ON CONFLICT (project_id, mode, user_id, metric, period) \
             DO UPDATE SET count = usage_counters.count + excluded.count \
             RETURNING project_id, mode, user_id, metric, period, count",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (key, total) in totals {
            query = query
                .bind(&key.project_id)
                .bind(key.mode)
                .bind(&key.user_id)
                .bind(&key.metric)
                .bind(&key.period)
                .bind(*total);
        }
        let conn = self.held_connection(held).await?;
        let rows = match query.fetch_all(&mut **conn).await {
            Ok(rows) => rows,
            Err(e) => {
                // Whatever the statement left behind on this connection is in doubt: closed,
                // not reused (the pool opens a fresh one).
                conn.close_on_drop();
                *held = None;
                return Err(e.into());
            }
        };
        rows.iter()
            .map(|r| {
                Ok((
                    Key {
                        project_id: r.try_get("project_id")?,
                        mode: super::word(r, "mode", Mode::parse)?.as_str(),
                        user_id: r.try_get("user_id")?,
                        metric: r.try_get("metric")?,
                        period: r.try_get("period")?,
                    },
                    r.try_get("count")?,
                ))
            })
            .collect()
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
        // The same conditional statement a lone increment uses (`usage::increment`).
        let tenant = Tenant {
            project_id: key.project_id.clone(),
            mode: Mode::parse(key.mode).unwrap_or(Mode::Test),
        };
        let counter = Counter {
            tenant: &tenant,
            user_id: &key.user_id,
            metric: &key.metric,
            period: &key.period,
        };
        if let Some(end) = increment(self.pool(), &counter, total, limit).await? {
            // Everything fitted: each caller sees the count its own increment reached.
            return Ok(counted(end, total, asks.iter().map(|(amount, _)| *amount)));
        }
        self.write_group_one_by_one(key, asks).await
    }

    /// Near a limit: lock the row, admit the increments in order while they fit, write once.
    async fn write_group_one_by_one(
        &self,
        key: &Key,
        asks: &[(i64, Option<i64>)],
    ) -> StoreResult<Vec<TrackOutcome>> {
        let mut tx = self.begin().await?;
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
