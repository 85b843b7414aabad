//! Durable state in SQLite (WAL): functions, their versions, every invocation, users and their
//! API tokens.
//! Schema changes are migrations under `migrations/`, applied at start-up.

mod accounts;
mod functions;
mod invocations;
mod metrics;
mod usage;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use accounts::TokenRecord;
pub use invocations::{InvocationFilter, InvocationWriter};
pub use metrics::{BucketTotals, InvocationTotals, MetricsFilter, MinuteTotals};

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
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) `kindling.db` in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(data_dir.join("kindling.db"))
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
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
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
