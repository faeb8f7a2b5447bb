//! The channel replicas tell each other what changed on: Postgres `NOTIFY`/`LISTEN` on
//! [`CHANNEL`]. What is said and what a replica does on hearing it live in `app/replica`; this
//! module only sends text and hears it. SQLite is one process's database: there is no one else
//! to tell.

use futures::Stream;
use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Executor};

use super::{Backend, Store, StoreResult};

/// The Postgres notification channel for cache invalidation.
pub const CHANNEL: &str = "dream_cache";

/// The longest one attempt to send notices may take, connecting included.
pub const SEND_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends notices on a connection of its own, made on first use (and again after a failure),
/// that does not wait for its commits to reach the disk: a notice is worth nothing after a
/// crash.
pub struct NoticeSender {
    url: std::sync::Arc<str>,
    conn: Option<PgConnection>,
}

impl NoticeSender {
    /// Sends each line of `notices` as one notice, in one statement. A kept connection that
    /// fails (as every one does after the database restarted, found only on its next use) is
    /// made again and the send tried once more at once: other replicas trust their copies
    /// meanwhile, so a notice must not wait for a retry timer. Each attempt has
    /// [`SEND_WITHIN`], so a connection that went silent is not waited on.
    pub async fn send(&mut self, notices: &str) -> StoreResult<()> {
        let kept = self.conn.is_some();
        match self.attempt(notices).await {
            Err(e) if kept => {
                tracing::debug!(error = %e, "the notice connection failed; sending on a new one");
                self.attempt(notices).await
            }
            result => result,
        }
    }

    async fn attempt(&mut self, notices: &str) -> StoreResult<()> {
        let result = match tokio::time::timeout(SEND_WITHIN, self.try_send(notices)).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("notices not sent within {SEND_WITHIN:?}"),
            ))
            .into()),
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn try_send(&mut self, notices: &str) -> StoreResult<()> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let mut made = PgConnection::connect(&self.url).await?;
                made.execute("SET synchronous_commit = off").await?;
                self.conn.insert(made)
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
    pub fn announces(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// A sender of notices on a connection of its own.
    pub fn notice_sender(&self) -> NoticeSender {
        NoticeSender {
            url: self.url.clone(),
            conn: None,
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
