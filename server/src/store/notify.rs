//! Telling the other replicas what changed, through the database they share.
//!
//! Each replica keeps short-lived copies of settings and plans (`app/cache.rs`). When one
//! replica changes them, it drops its own copy and sends a notice on the Postgres channel
//! [`CHANNEL`] (`pg_notify`); every replica listens on that channel and drops its copy too, so
//! a change is seen everywhere within milliseconds, not at the end of a cache lifetime. SQLite
//! is one process's database: there is no one else to tell.

use futures::Stream;
use sqlx::postgres::PgListener;

use super::{Backend, Store, StoreResult};

/// The Postgres notification channel for cache invalidation.
pub const CHANNEL: &str = "dream_cache";

/// What the listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A notice another replica (or this one) sent.
    Notice(String),
    /// The listening connection was lost and made again: notices may have been missed.
    Reconnected,
    /// Listening failed; it is tried again on the next poll.
    Failed(String),
}

impl Store {
    /// Sends `payload` to every replica listening (Postgres); nothing to do on SQLite.
    pub async fn cache_notify(&self, payload: &str) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The notices sent on [`CHANNEL`], from a connection of its own; `None` on SQLite.
    pub async fn cache_listen(&self) -> StoreResult<Option<impl Stream<Item = Heard> + use<>>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(futures::stream::unfold(
            listener,
            |mut listener| async move {
                let heard = match listener.try_recv().await {
                    Ok(Some(notice)) => Heard::Notice(notice.payload().to_string()),
                    Ok(None) => Heard::Reconnected,
                    Err(e) => {
                        // Reconnecting is retried on the next poll; don't spin meanwhile.
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        Heard::Failed(e.to_string())
                    }
                };
                Some((heard, listener))
            },
        )))
    }
}
