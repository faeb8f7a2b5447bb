//! Telling the other replicas what changed, through the database they share.
//!
//! Each replica keeps copies of settings, plans and users' counters (`app/cache.rs`). When one
//! replica changes them, it drops its own copy and sends a [`Forget`] on the Postgres channel
//! [`CHANNEL`] (`pg_notify`); every replica listens on that channel and drops its copy too, so
//! a change is seen everywhere within milliseconds, not at the end of a cache lifetime.
//! Counters change on almost every request, so their notices are not sent by the requests:
//! [`Store::announce_usage`] queues the user, and one task per replica sends whatever has
//! queued in one statement on a connection of its own, right after the change committed.
//! SQLite is one process's database: there is no one else to tell.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Executor};

use super::{Backend, Store, StoreResult, Tenant};

/// The Postgres notification channel for cache invalidation.
pub const CHANNEL: &str = "dream_cache";

/// Postgres refuses a notice payload of 8,000 bytes or more; notices are cut below that.
const MAX_NOTICE: usize = 7_000;
/// At most one announcement statement this often: the notify lock, the other replicas'
/// listeners and this one's own are paid per statement, not per user.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(5);
/// Users waiting to be announced, at most; past that one notice drops every copy.
const MAX_PENDING: usize = 100_000;

/// A copy to drop, here and on every other replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forget {
    /// A tenant's settings.
    Settings(Tenant),
    /// One user's plan.
    Plan(Tenant, String),
    /// Every plan (a tier changed).
    Plans,
    /// These users' usage counters, changed through the replica `from`.
    Usage {
        from: String,
        users: Vec<(Tenant, String)>,
    },
    /// Every user's usage counters (the replica `from` lost track of which changed).
    AllUsage { from: String },
    /// Nothing: a heartbeat, proving the channel still carries notices.
    Nothing,
}

impl Forget {
    pub fn settings(tenant: &Tenant) -> Forget {
        Forget::Settings(tenant.clone())
    }

    pub fn plan(tenant: &Tenant, user_id: &str) -> Forget {
        Forget::Plan(tenant.clone(), user_id.to_string())
    }

    /// The notice sent to the other replicas (JSON: a user id may hold any character).
    pub fn notice(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// Reads a notice; `None` for one this version does not know.
    pub fn from_notice(notice: &str) -> Option<Forget> {
        serde_json::from_str(notice).ok()
    }
}

/// The notices that these users' counters changed through replica `from`, one per line,
/// each small enough for Postgres (a user id is at most 255 bytes, so every user fits in one).
pub(crate) fn usage_notices(from: &str, mut users: Vec<(Tenant, String)>) -> String {
    users.sort_by(|a, b| {
        (&a.0.project_id, a.0.mode.as_str(), &a.1).cmp(&(&b.0.project_id, b.0.mode.as_str(), &b.1))
    });
    users.dedup();
    let notice = |users| {
        Forget::Usage {
            from: from.to_string(),
            users,
        }
        .notice()
    };
    let mut lines: Vec<String> = Vec::new();
    let mut chunk: Vec<(Tenant, String)> = Vec::new();
    let mut size = from.len();
    for user in users {
        // Each entry costs its JSON plus a comma; JSON never holds a raw newline.
        let cost = serde_json::to_string(&user).expect("plain data").len() + 1;
        if size + cost > MAX_NOTICE && !chunk.is_empty() {
            lines.push(notice(std::mem::take(&mut chunk)));
            size = from.len();
        }
        size += cost;
        chunk.push(user);
    }
    if !chunk.is_empty() {
        lines.push(notice(chunk));
    }
    lines.join("\n")
}

/// The users whose counters changed and are still to be announced, and the task that
/// announces them.
#[derive(Debug)]
pub(crate) struct Announcer {
    /// This replica's name in its notices, so that it can tell its own from the others'.
    pub(crate) id: String,
    pending: Mutex<Pending>,
    wake: tokio::sync::Notify,
    started: AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    users: Vec<(Tenant, String)>,
    /// More users changed than are kept: announce that every counter may have.
    overflowed: bool,
}

impl Announcer {
    pub(crate) fn new() -> Announcer {
        Announcer {
            id: crate::app::ids::random(16),
            pending: Mutex::new(Pending::default()),
            wake: tokio::sync::Notify::new(),
            started: AtomicBool::new(false),
        }
    }

    /// What to send for `pending`, if anything.
    fn notices(&self, pending: &Pending) -> Option<String> {
        if pending.overflowed {
            Some(
                Forget::AllUsage {
                    from: self.id.clone(),
                }
                .notice(),
            )
        } else if pending.users.is_empty() {
            None
        } else {
            Some(usage_notices(&self.id, pending.users.clone()))
        }
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().expect("pending"))
    }

    /// Queues users again after a failed send.
    fn put_back(&self, failed: Pending) {
        let mut pending = self.pending.lock().expect("pending");
        pending.overflowed |= failed.overflowed;
        for user in failed.users {
            push(&mut pending, user);
        }
    }
}

fn push(pending: &mut Pending, user: (Tenant, String)) {
    if pending.overflowed {
        return;
    }
    if pending.users.len() >= MAX_PENDING {
        pending.users = Vec::new();
        pending.overflowed = true;
    } else {
        pending.users.push(user);
    }
}

/// Sends what has queued, one statement at a time, on a connection of its own that does not
/// wait for its commits to reach the disk (a notice is worth nothing after a crash, and the
/// wait would be paid under the notice queue's lock), until the store is dropped.
async fn announce(announcer: Weak<Announcer>, url: Arc<str>) {
    let mut conn: Option<PgConnection> = None;
    let mut warned: Option<tokio::time::Instant> = None;
    let mut sent = tokio::time::Instant::now();
    loop {
        let Some(a) = announcer.upgrade() else { return };
        // Wakes now and then to notice the store is gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), a.wake.notified()).await;
        // Under load changes come all the time: gather them for a moment rather than send a
        // statement for each handful.
        tokio::time::sleep_until(sent + ANNOUNCE_EVERY).await;
        sent = tokio::time::Instant::now();
        let pending = a.take();
        let Some(notices) = a.notices(&pending) else {
            continue;
        };
        drop(a);
        match send(&mut conn, &url, &notices).await {
            Ok(()) => warned = None,
            Err(e) => {
                conn = None;
                if warned.is_none_or(|w| w.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "could not tell other replicas which counters changed; retrying");
                    warned = Some(tokio::time::Instant::now());
                }
                if let Some(a) = announcer.upgrade() {
                    a.put_back(pending);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn send(conn: &mut Option<PgConnection>, url: &str, notices: &str) -> StoreResult<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => {
            let mut made = PgConnection::connect(url).await?;
            made.execute("SET synchronous_commit = off").await?;
            conn.insert(made)
        }
    };
    sqlx::query(
        "SELECT count(*) FROM (SELECT pg_notify($1, notice) FROM regexp_split_to_table($2, E'\\n') AS notice) AS told",
    )
    .bind(CHANNEL)
    .bind(notices)
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// What the listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Listening on a fresh connection: from here on every notice arrives. Notices sent
    /// before may have been missed.
    Listening,
    /// A notice another replica (or this one) sent.
    Notice(String),
    /// The listening connection was lost (notices may be missed until [`Heard::Listening`]).
    Lost(String),
}

/// The listener's connection, or none while it is being made again.
enum Ear {
    Fresh(PgListener),
    Open(PgListener),
    Closed,
}

impl Store {
    /// Whether changes must be announced to other replicas (Postgres; SQLite has none).
    pub(crate) fn announces(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// This replica's name in the notices it sends.
    pub fn replica_id(&self) -> &str {
        &self.announcer.id
    }

    /// Tells the other replicas, shortly, that the user's counters changed (the change has
    /// committed). Nothing to do on SQLite.
    pub fn announce_usage(&self, tenant: &Tenant, user_id: &str) {
        if !self.announces() {
            return;
        }
        push(
            &mut self.announcer.pending.lock().expect("pending"),
            (tenant.clone(), user_id.to_string()),
        );
        if !self.announcer.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(announce(Arc::downgrade(&self.announcer), self.url.clone()));
        }
        self.announcer.wake.notify_one();
    }

    /// Sends the announcements still queued, now: on shutdown the task may not run again.
    pub(crate) async fn announce_pending(&self) {
        let pending = self.announcer.take();
        if let Some(notices) = self.announcer.notices(&pending)
            && let Err(e) = send(&mut None, &self.url, &notices).await
        {
            tracing::warn!(error = %e, "could not tell other replicas which counters changed before closing");
        }
    }

    /// Sends `payload` to every replica listening (Postgres); nothing to do on SQLite.
    pub async fn cache_notify(&self, payload: &str) -> StoreResult<()> {
        if self.announces() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn listen(url: &str) -> StoreResult<PgListener> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// The notices sent on [`CHANNEL`], from a connection of its own, starting with
    /// [`Heard::Listening`]; `None` on SQLite. A lost connection is made again (once a second
    /// while that fails), each attempt reported.
    pub async fn cache_listen(&self) -> StoreResult<Option<impl Stream<Item = Heard> + use<>>> {
        if !self.announces() {
            return Ok(None);
        }
        let first = Store::listen(&self.url).await?;
        let url = self.url.clone();
        Ok(Some(futures::stream::unfold(
            Ear::Fresh(first),
            move |ear| {
                let url = url.clone();
                async move {
                    match ear {
                        Ear::Fresh(listener) => Some((Heard::Listening, Ear::Open(listener))),
                        // sqlx's own reconnection happens inside the next receive, unseen;
                        // a connection made here is known to listen before anything is read.
                        Ear::Open(mut listener) => match listener.try_recv().await {
                            Ok(Some(notice)) => Some((
                                Heard::Notice(notice.payload().to_string()),
                                Ear::Open(listener),
                            )),
                            Ok(None) => {
                                Some((Heard::Lost("the connection was closed".into()), Ear::Closed))
                            }
                            Err(e) => Some((Heard::Lost(e.to_string()), Ear::Closed)),
                        },
                        Ear::Closed => match Store::listen(&url).await {
                            Ok(listener) => Some((Heard::Listening, Ear::Open(listener))),
                            Err(e) => {
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                                Some((Heard::Lost(e.to_string()), Ear::Closed))
                            }
                        },
                    }
                }
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Mode;

    #[test]
    fn usage_notices_stay_under_the_payload_limit_and_name_every_user_once() {
        let tenant = Tenant {
            project_id: "proj_notices".into(),
            mode: Mode::Live,
        };
        // 300 users with long, escaped ids, each named twice.
        let users: Vec<(Tenant, String)> = (0..600)
            .map(|i| {
                (
                    tenant.clone(),
                    format!("user \"{}\"\n{}", i % 300, "é".repeat(100)),
                )
            })
            .collect();
        let notices = usage_notices("replica_a", users);
        let mut named = Vec::new();
        for line in notices.lines() {
            assert!(
                line.len() < 8_000,
                "{} bytes: Postgres refuses it",
                line.len()
            );
            match Forget::from_notice(line) {
                Some(Forget::Usage { from, users }) => {
                    assert_eq!(from, "replica_a");
                    named.extend(users);
                }
                other => panic!("not a usage notice: {other:?}"),
            }
        }
        assert!(notices.lines().count() > 1);
        assert_eq!(named.len(), 300);
        named.dedup();
        assert_eq!(named.len(), 300);
        assert!(named.iter().all(|(t, _)| *t == tenant));
    }
}
