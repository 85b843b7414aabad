//! Durable state in SQLite (WAL): functions, their versions, every invocation, users and their
//! API tokens. Function environments are sealed with the data dir's secret key
//! ([`crate::secrets`]) before they are written.
//! Schema changes are migrations under `migrations/`, applied at start-up.

mod accounts;
mod functions;
mod invocations;
mod metrics;
mod retention;
mod usage;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::data_dir;
use crate::secrets::{SecretError, SecretKey};

pub use accounts::TokenRecord;
pub use invocations::{InvocationFilter, InvocationWriter};
pub use metrics::{
    BucketTotals, InvocationTotals, MetricsFilter, MetricsSnapshot, MinuteTotals, Source,
};
pub use retention::{new_histogram, record_duration};

/// Which unique field a write collided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Name,
    Route,
}

impl Taken {
    /// The input field it is.
    pub fn field(self) -> &'static str {
        match self {
            Taken::Name => "name",
            Taken::Route => "route",
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (a function's `name` or `route`, a user's `name`) is already taken.
    #[error("{} is already taken", .0.field())]
    Conflict(Taken),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("the invocation writer has stopped")]
    WriterStopped,
    #[error("writing invocation records failed: {0}")]
    WriteFailed(String),
    /// What was to be stored belongs to a user who no longer exists.
    #[error("the user this was made for has been deleted")]
    UnknownOwner,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot make the database file private: {0}")]
    Permissions(std::io::Error),
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Seals what is secret at rest (function environments).
    key: Arc<SecretKey>,
}

impl Store {
    /// Opens (creating if needed) `kindling.db` in `data_dir` and brings its schema up to date;
    /// the secret key is `secret.key` beside it (made on the first start).
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let database = data_dir.join("kindling.db");
        // SQLite gives the WAL and shared-memory files the database's mode.
        data_dir::create_private_file(&database).map_err(StoreError::Permissions)?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(database)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL loses nothing on a crash of the engine, only possibly the last
            // transactions on a power cut, and saves an fsync per commit.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let key_file = data_dir.join("secret.key");
        let key = match SecretKey::load(&key_file)? {
            Some(key) => key,
            // A lost key must not be replaced by a new one while values sealed with it remain.
            None if has_sealed_values(&pool).await? => {
                return Err(SecretError::KeyMissing(key_file).into());
            }
            None => SecretKey::create(&key_file)?,
        };
        let store = Self {
            pool,
            key: Arc::new(key),
        };
        store.seal_plaintext_environments().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds to `query` (a `… WHERE …`) the conditions on whose rows, and which function's, it reads —
/// only those given, so that SQLite picks the index that matches.
fn push_scope(
    query: &mut sqlx::QueryBuilder<sqlx::Sqlite>,
    owner: Option<&String>,
    function_id: Option<&String>,
) {
    if let Some(owner) = owner {
        query.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(function_id) = function_id {
        query
            .push(" AND function_id = ")
            .push_bind(function_id.clone());
    }
}

/// Whether anything in the database is sealed with the secret key.
async fn has_sealed_values(pool: &SqlitePool) -> Result<bool, StoreError> {
    let sealed: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM function_versions WHERE env LIKE 'sealed:%' LIMIT 1")
            .fetch_optional(pool)
            .await?;
    Ok(sealed.is_some())
}

/// Maps a unique-constraint failure to the field it protects.
fn conflict(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let message = db.message();
        let taken = if message.contains("route") {
            Taken::Route
        } else {
            Taken::Name
        };
        return StoreError::Conflict(taken);
    }
    StoreError::Database(error)
}
