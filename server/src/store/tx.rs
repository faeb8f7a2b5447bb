//! Transactions whose outcome is never in doubt.
//!
//! sqlx counts the transactions it opened on a connection and trusts that count. When the
//! database ends a transaction by itself — SQLite rolls back on `SQLITE_FULL`, a Postgres
//! connection drops mid-commit — the `ROLLBACK` sqlx then sends fails, its count stays at one,
//! and the connection's next "transaction" is a savepoint inside a transaction that never
//! commits: writes answered as done, then lost, and the write lock held until the process
//! ends. A [`Tx`] keeps no count. It opens with `BEGIN`, and its connection goes back to the
//! pool only after a `COMMIT` or `ROLLBACK` that the database acknowledged; on any other path
//! (an error, a cancelled request, a failed commit) the connection is closed, which ends
//! whatever transaction the database still had open, and the pool opens a fresh one.

use std::ops::{Deref, DerefMut};

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor};

use super::{Store, StoreResult};

/// An open transaction on a connection of its own. Dropped without [`Tx::commit`] or
/// [`Tx::rollback`], it closes its connection.
pub(crate) struct Tx {
    conn: Option<PoolConnection<Any>>,
    /// On SQLite, a write transaction's turn at the process's write gate, held to its end.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Store {
    /// Begins a transaction on a connection from the pool.
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        self.begin_with("BEGIN", None).await
    }

    /// Begins a transaction that reads and then writes what it read: on SQLite it takes the
    /// write lock at once (`BEGIN IMMEDIATE`, waiting out the busy timeout), since a read
    /// transaction cannot become a write one after another writer committed.
    ///
    /// SQLite has one writer at a time; its write transactions also wait their turn in the
    /// process (`write_gate`) *before* taking a connection, so that waiting writers (say, a
    /// few large usage batches) do not hold the pool's connections while the database's lock
    /// makes them wait, and leave none for everyone else.
    pub(crate) async fn begin_write(&self) -> StoreResult<Tx> {
        match self.backend() {
            super::Backend::Sqlite => {
                let turn = self.write_gate.clone().lock_owned().await;
                self.begin_with("BEGIN IMMEDIATE", Some(turn)).await
            }
            super::Backend::Postgres => self.begin_with("BEGIN", None).await,
        }
    }

    async fn begin_with(
        &self,
        begin: &'static str,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> StoreResult<Tx> {
        let mut tx = Tx {
            conn: Some(self.pool().acquire().await?),
            _turn: turn,
        };
        tx.execute(begin).await?;
        Ok(tx)
    }
}

impl Tx {
    /// Commits. `Ok` only when the database acknowledged the commit: the writes are stored.
    pub async fn commit(mut self) -> StoreResult<()> {
        self.end("COMMIT").await
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> StoreResult<()> {
        self.end("ROLLBACK").await
    }

    async fn end(&mut self, statement: &'static str) -> StoreResult<()> {
        self.execute(statement).await?;
        // Acknowledged: the connection is back in a known state and may serve again.
        self.conn.take();
        Ok(())
    }

    async fn execute(&mut self, statement: &'static str) -> StoreResult<()> {
        (&mut **self).execute(statement).await?;
        Ok(())
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn
            .as_ref()
            .expect("an open transaction has its connection")
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("an open transaction has its connection")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.conn {
            conn.close_on_drop();
        }
    }
}
