//! Invocation records: written in batches by one task (group commit), read by id or by function.
//! Logs longer than [`COMPRESS_FROM`] bytes are stored zstd-compressed, compressed by the
//! invocation's own task before the record joins the writer's queue.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot};

use super::functions::millis;
use super::{Store, StoreError};
use crate::model::{Invocation, StartKind, Status};

/// Which invocations to list.
#[derive(Debug, Default, Clone)]
pub struct InvocationFilter {
    pub owner: Option<String>,
    pub function_id: Option<String>,
    pub status: Option<Status>,
    /// Only those that started before this instant (for paging back in time).
    pub before: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// How many records one transaction commits at most.
const MAX_BATCH: usize = 512;
/// Logs from this length on are compressed: shorter ones gain little and cost a frame header.
pub const COMPRESS_FROM: usize = 512;
/// zstd's level for logs: its fastest levels already shrink typical logs several times.
const LOGS_LEVEL: i32 = 3;

struct Write {
    invocation: Arc<Invocation>,
    /// The logs compressed, when they are long enough to be worth it.
    logs_zstd: Option<Vec<u8>>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Hands invocation records to the writer task and waits until they are committed.
#[derive(Clone)]
pub struct InvocationWriter {
    queue: mpsc::UnboundedSender<Write>,
}

impl InvocationWriter {
    /// Starts the writer task; it ends when every `InvocationWriter` clone is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Write>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let committed = store
                    .insert_invocations(&batch)
                    .await
                    .map_err(|e| e.to_string());
                if let Err(e) = &committed {
                    tracing::error!(error = %e, records = batch.len(), "recording invocations failed");
                }
                for write in batch.drain(..) {
                    let _ = write.done.send(committed.clone());
                }
            }
        });
        Self { queue }
    }

    /// A writer that commits nothing, for the engine's unit tests (no database: they run on a
    /// paused clock).
    #[cfg(test)]
    pub fn discarding() -> Self {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Write>();
        tokio::spawn(async move {
            while let Some(write) = jobs.recv().await {
                let _ = write.done.send(Ok(()));
            }
        });
        Self { queue }
    }

    /// Records `invocation` durably; returns once it is committed.
    pub async fn record(&self, invocation: Arc<Invocation>) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let logs_zstd = compress_logs(&invocation.logs);
        self.queue
            .send(Write {
                invocation,
                logs_zstd,
                done,
            })
            .map_err(|_| StoreError::WriterStopped)?;
        committed
            .await
            .map_err(|_| StoreError::WriterStopped)?
            .map_err(StoreError::WriteFailed)
    }
}

impl Store {
    async fn insert_invocations(&self, batch: &[Write]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for Write {
            invocation,
            logs_zstd,
            ..
        } in batch
        {
            let error = invocation
                .error
                .as_ref()
                .map(|e| serde_json::to_string(e).unwrap_or_default());
            sqlx::query(
                "INSERT INTO invocations (id, function_id, function_name, owner, version, runtime,
                     start, status, result, error, logs, started_at, duration_ms, init_ms,
                     peak_memory_bytes, cpu_time_ms, logs_zstd)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17)",
            )
            .bind(&invocation.invocation_id)
            .bind(&*invocation.function_id)
            .bind(&invocation.function_name)
            .bind(&invocation.owner)
            .bind(invocation.version)
            .bind(invocation.runtime.as_str())
            .bind(invocation.start.map(StartKind::as_str))
            .bind(invocation.status.as_str())
            .bind(invocation.result.as_ref().map(|r| r.get()))
            .bind(error)
            .bind(match logs_zstd {
                Some(_) => "",
                None => &invocation.logs,
            })
            .bind(invocation.started_at.timestamp_millis())
            .bind(invocation.duration_ms)
            .bind(invocation.init_ms)
            .bind(invocation.peak_memory_bytes.map(|bytes| bytes as i64))
            .bind(invocation.cpu_time_ms)
            .bind(logs_zstd)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn invocation(&self, id: &str) -> Result<Option<Invocation>, StoreError> {
        sqlx::query("SELECT * FROM invocations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(invocation_from_row)
            .transpose()
    }

    /// Invocations matching `filter`, newest first. The `WHERE` holds only the filter's
    /// conditions, so that SQLite walks the index that matches (by owner, by function, by
    /// time) instead of every user's rows.
    pub async fn invocations(
        &self,
        filter: &InvocationFilter,
    ) -> Result<Vec<Invocation>, StoreError> {
        let mut query = QueryBuilder::new("SELECT * FROM invocations WHERE 1 = 1");
        super::push_scope(
            &mut query,
            filter.owner.as_ref(),
            filter.function_id.as_ref(),
        );
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(before) = filter.before {
            query
                .push(" AND started_at < ")
                .push_bind(before.timestamp_millis());
        }
        query
            .push(" ORDER BY started_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        query
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(invocation_from_row)
            .collect()
    }
}

/// `logs` compressed, if they are long enough to be worth it (and compress).
fn compress_logs(logs: &str) -> Option<Vec<u8>> {
    if logs.len() < COMPRESS_FROM {
        return None;
    }
    zstd::bulk::compress(logs.as_bytes(), LOGS_LEVEL)
        .ok()
        .filter(|compressed| compressed.len() < logs.len())
}

fn invocation_from_row(row: &SqliteRow) -> Result<Invocation, StoreError> {
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
    let result: Option<String> = row.try_get("result")?;
    let error: Option<String> = row.try_get("error")?;
    let start: Option<String> = row.try_get("start")?;
    Ok(Invocation {
        invocation_id: row.try_get("id")?,
        function_id: Arc::from(row.try_get::<String, _>("function_id")?),
        function_name: row.try_get("function_name")?,
        owner: row.try_get("owner")?,
        version: row.try_get("version")?,
        runtime: row
            .try_get::<String, _>("runtime")?
            .parse()
            .map_err(|e: String| corrupt("runtime", &e))?,
        status: row
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|e: String| corrupt("status", &e))?,
        result: result
            .map(RawValue::from_string)
            .transpose()
            .map_err(|e| corrupt("result", &e))?,
        error: error
            .map(|e| serde_json::from_str(&e))
            .transpose()
            .map_err(|e| corrupt("error", &e))?,
        logs: match row.try_get::<Option<Vec<u8>>, _>("logs_zstd")? {
            Some(compressed) => {
                let bytes = zstd::decode_all(&compressed[..]).map_err(|e| corrupt("logs", &e))?;
                String::from_utf8(bytes).map_err(|e| corrupt("logs", &e))?
            }
            None => row.try_get("logs")?,
        },
        start: start
            .map(|s| s.parse())
            .transpose()
            .map_err(|e: String| corrupt("start", &e))?,
        started_at: millis(row.try_get("started_at")?),
        duration_ms: row.try_get("duration_ms")?,
        init_ms: row.try_get("init_ms")?,
        peak_memory_bytes: row
            .try_get::<Option<i64>, _>("peak_memory_bytes")?
            .map(|bytes| bytes as u64),
        cpu_time_ms: row.try_get("cpu_time_ms")?,
    })
}
