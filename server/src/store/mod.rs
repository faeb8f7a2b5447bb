//! Persistence: every row the server keeps, behind one [`Store`].
//!
//! One implementation serves both backends through sqlx's `Any` driver: Postgres (the
//! reference, `postgres://…`) and SQLite (the embedded default, `sqlite://…`). The schema and
//! the queries are written in the SQL the two share, so both run the same migrations and the
//! same test suite; the few statements whose dialects differ branch on [`Backend`].
//!
//! Every query takes the tenant (`project_id`, `mode`) as bound parameters: nothing here can
//! read or change another tenant's rows, and no value is ever spliced into SQL text.

pub mod assets;
pub mod audit;
pub mod billing;
mod coalesce;
pub mod customers;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod overage;
pub mod plans;
pub mod products;
pub mod projects;
pub mod sessions;
pub mod tiers;
mod tx;
pub mod usage;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A store error: the database failed, or a uniqueness rule was broken.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a row with the same unique key exists ({0})")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the combined write failed: {message}")]
    Batch {
        message: String,
        /// The database could not be reached (see [`StoreError::is_unavailable`]).
        unavailable: bool,
    },
}

impl StoreError {
    /// Maps unique-constraint violations to [`StoreError::Conflict`]; the one place that reads
    /// database error codes.
    fn from_sqlx(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(db.message().to_string());
        }
        StoreError::Database(e)
    }
}

impl StoreError {
    /// The database could not be reached or went away: nothing is wrong with the request,
    /// and the same request can succeed once the database is back. A pool that found no
    /// working connection in time, a broken connection, or a Postgres server shutting down
    /// (SQLSTATE classes 08 and 57P).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_) => true,
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
                _ => false,
            },
            StoreError::Batch { unavailable, .. } => *unavailable,
            StoreError::Conflict(_) | StoreError::Corrupt(_) => false,
        }
    }

    /// This error, as told to the callers whose increments a combined write carried.
    fn batch(&self) -> StoreError {
        match self {
            StoreError::Batch {
                message,
                unavailable,
            } => StoreError::Batch {
                message: message.clone(),
                unavailable: *unavailable,
            },
            other => StoreError::Batch {
                message: other.to_string(),
                unavailable: other.is_unavailable(),
            },
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database, with its connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Where the database is, for connections of their own (listening for notices).
    url: std::sync::Arc<str>,
    /// Combines concurrent increments of one counter into one write.
    coalescer: std::sync::Arc<coalesce::Coalescer>,
    /// SQLite's write transactions, one at a time in this process (`Store::begin_write`).
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// How long a request waits for a connection by default. Under load a connection frees up in
/// milliseconds; a longer wait means the database is down, and the client is better served
/// by a prompt `503` than by a request that hangs until it comes back.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a pooled connection may sit unused before it is checked again when taken.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// How long the first connection at start-up may take before the database counts as down.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The database a URL names, for messages: `Postgres at host:port (database db)` or `the
/// SQLite file path`. Never the password.
pub fn describe_database(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or(rest);
        let path = if path.is_empty() { "(in memory)" } else { path };
        return format!("the SQLite file {path}");
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host_port = if host_port.is_empty() {
        "localhost:5432".to_string()
    } else if host_port.contains(':') && !host_port.ends_with(']') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    let database = path.split('?').next().unwrap_or("");
    if database.is_empty() {
        format!("Postgres at {host_port}")
    } else {
        format!("Postgres at {host_port} (database {database})")
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How a [`Store`] uses its database, beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a request waits for a connection before it fails: when the database is
    /// down, the pool keeps trying to connect, and this bounds the wait.
    pub acquire_timeout: Duration,
    /// SQLite only: the most pages (of 4 KiB) the file may grow to; a write past it fails
    /// as on a full disk. A deterministic full disk for tests, and a cap on the file's size.
    pub sqlite_max_pages: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            acquire_timeout: ACQUIRE_TIMEOUT,
            sqlite_max_pages: None,
        }
    }
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://…`), creating a SQLite file if needed,
    /// and applies the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`], with options.
    pub async fn connect_with(url: &str, options: StoreOptions) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else if url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite://");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let max_pages = options.sqlite_max_pages;
        let acquire_timeout = options.acquire_timeout;
        let what = describe_database(&url);
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("DATABASE_URL is not a valid {what} URL"))?
            .disable_statement_logging();
        // One connection first, with its own time limit, so that a database that is down or
        // a file that cannot be opened is named at once (the pool would retry until its
        // acquire timeout and then say only that it timed out).
        match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, AnyConnection::connect_with(&options))
            .await
        {
            Err(_) => anyhow::bail!(
                "cannot connect to {what}: no answer within {} s",
                FIRST_CONNECT_TIMEOUT.as_secs()
            ),
            Ok(Err(e)) => {
                let hint = match backend {
                    Backend::Postgres => {
                        "is the server running and accepting TCP connections there?"
                    }
                    Backend::Sqlite => "does its folder exist, and may this user write there?",
                };
                return Err(anyhow::Error::new(e).context(format!("cannot open {what} ({hint})")));
            }
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // 16 for requests, and one each that the group commit's writers keep.
                Backend::Postgres => 16 + coalesce::WRITERS as u32,
                Backend::Sqlite => 8,
            })
            .acquire_timeout(acquire_timeout)
            // sqlx pings every connection it hands out by default: a second round trip per
            // statement, a tenth of the server's time under load. Only a connection that sat
            // idle (where a restarted database or a dropped link goes unnoticed) is checked.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Writers wait for each other instead of failing; WAL lets readers run
                        // beside the writer.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        if let Some(pages) = max_pages {
                            let pragma = format!("PRAGMA max_page_count = {pages}");
                            conn.execute(pragma.as_str()).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            backend,
            url: url.into(),
            coalescer: std::sync::Arc::new(coalesce::Coalescer::new()),
            write_gate: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool's connections: open, idle, and the most it opens.
    pub fn pool_stats(&self) -> (u32, usize, u32) {
        (
            self.pool.size(),
            self.pool.num_idle(),
            self.pool.options().get_max_connections(),
        )
    }

    /// How long a connection takes to come from the pool now, up to `limit` (`None` past
    /// it); the connection goes straight back.
    pub async fn pool_wait(&self, limit: std::time::Duration) -> Option<std::time::Duration> {
        let started = std::time::Instant::now();
        match tokio::time::timeout(limit, self.pool.acquire()).await {
            Ok(Ok(_connection)) => Some(started.elapsed()),
            _ => None,
        }
    }

    /// Observes the size of every group-commit batch in `histogram` (for `/metrics`).
    pub fn observe_batches(&self, histogram: prometheus_client::metrics::histogram::Histogram) {
        let _ = self.coalescer.batches.set(histogram);
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection; used on shutdown. The group commit's writers give their
    /// connections back first: the pool waits for every one out.
    pub async fn close(&self) {
        self.coalescer.release();
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Decodes a JSON column.
fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Decodes a column holding one of the domain's words (`Mode::parse`, `KeyKind::parse`, …).
fn word<T>(row: &sqlx::any::AnyRow, column: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{column}: {text:?}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// A page fetched with one row more than `limit`: the page, and whether more rows exist.
fn page<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    (rows, has_more)
}

fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// `($1, $2, …), (…)` for `rows` rows of `columns` parameters.
pub(super) fn placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * columns + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// `$3, $4, …` for `n` ids after the tenant's two parameters.
pub(super) fn id_list(n: usize) -> String {
    (0..n)
        .map(|k| format!("${}", k + 3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sql` bound with the tenant's project and mode (`$1`, `$2`), then `ids` (`$3` on, as
/// [`id_list`] writes them). Not kept prepared: its text changes with the number of ids, and
/// each connection would otherwise keep every length it ever saw (hundreds of parameters'
/// descriptions each; megabytes once batches of all sizes have come by).
pub(super) fn tenant_and_ids<'q>(
    sql: &'q str,
    tenant: &'q crate::domain::Tenant,
    ids: &[&'q str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql)
        .persistent(false)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str());
    for id in ids {
        query = query.bind(*id);
    }
    query
}

#[cfg(test)]
mod tests {
    use super::describe_database;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 1), "($1)");
        assert_eq!(super::id_list(2), "$3, $4");
    }

    #[test]
    fn a_database_is_named_without_its_password() {
        assert_eq!(
            describe_database("postgres://dream:s3cret@db.internal:6543/app?sslmode=require"),
            "Postgres at db.internal:6543 (database app)"
        );
        assert_eq!(
            describe_database("postgres://localhost/app"),
            "Postgres at localhost:5432 (database app)"
        );
        assert_eq!(
            describe_database("sqlite:///var/lib/dream/x.db?mode=rwc"),
            "the SQLite file /var/lib/dream/x.db"
        );
        assert_eq!(
            describe_database("sqlite://dream.db"),
            "the SQLite file dream.db"
        );
    }
}
