//! What retention does to the database: invocation records older than a cutoff are rolled up
//! into per-minute figures (`invocation_minutes`: counts, sums and a duration histogram per
//! function and minute) and deleted, in the same transaction, a chunk of records at a time so
//! that the invocation writer is never held up for long; rollups older than their own cutoff
//! are deleted. The metrics read both ([`super::metrics::Source`]).

use std::collections::HashMap;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::metrics::{InvocationTotals, totals_from_row};
use super::{Store, StoreError};

/// Records rolled up and deleted per transaction (more when many started in the same
/// millisecond).
const CHUNK: i64 = 2000;
const MINUTE_MS: i64 = 60_000;
/// Significant digits of the rollups' duration histograms: percentiles read from them are
/// within 1% of the exact ones.
const HISTOGRAM_DIGITS: u8 = 2;

/// One function's invocations in one minute.
struct Rollup {
    owner: String,
    totals: InvocationTotals,
    /// Durations of the invocations that ran, in microseconds.
    durations: Histogram<u64>,
}

impl Rollup {
    fn new(owner: String, function_id: String, function_name: String) -> Self {
        Self {
            owner,
            totals: InvocationTotals {
                function_id,
                function_name,
                ..InvocationTotals::default()
            },
            durations: new_histogram(),
        }
    }

    /// Counts one invocation record in.
    fn add_record(&mut self, row: &SqliteRow) -> Result<(), StoreError> {
        let status: &str = row.try_get("status")?;
        let start: Option<&str> = row.try_get("start")?;
        let duration_ms: f64 = row.try_get("duration_ms")?;
        let init_ms: Option<f64> = row.try_get("init_ms")?;
        let peak: Option<i64> = row.try_get("peak_memory_bytes")?;
        let cpu: Option<f64> = row.try_get("cpu_time_ms")?;
        let t = &mut self.totals;
        let ran = status != "throttled";
        let counter = match status {
            "success" => &mut t.successes,
            "error" => &mut t.errors,
            "timeout" => &mut t.timeouts,
            "out_of_memory" => &mut t.out_of_memory,
            "crashed" => &mut t.crashes,
            "throttled" => &mut t.throttles,
            other => return Err(StoreError::Corrupt(format!("status '{other}'"))),
        };
        *counter += 1;
        match start {
            Some("cold") => t.cold += 1,
            Some("prewarmed") => t.prewarmed += 1,
            Some("warm") => t.warm += 1,
            _ => {}
        }
        if ran {
            t.ran += 1;
            t.duration_ms_sum += duration_ms;
            t.duration_ms_max = Some(
                t.duration_ms_max
                    .map_or(duration_ms, |m| m.max(duration_ms)),
            );
            record_duration(&mut self.durations, duration_ms);
        }
        if let Some(init_ms) = init_ms {
            t.init_ms_sum += init_ms;
            t.inits += 1;
        }
        t.peak_memory_bytes_max = t.peak_memory_bytes_max.max(peak.map(|b| b.max(0) as u64));
        if let Some(cpu) = cpu {
            t.cpu_time_ms_sum += cpu;
            t.cpu_measured += 1;
        }
        Ok(())
    }

    /// Adds a stored rollup of the same function and minute (records that arrived after their
    /// minute was rolled up are rolled up into it later).
    fn merge_stored(&mut self, row: &SqliteRow) -> Result<(), StoreError> {
        let stored = totals_from_row(row)?;
        self.totals.add(&stored);
        let durations = read_histogram(row.try_get("durations")?)?;
        self.durations
            .add(durations)
            .map_err(|e| StoreError::Corrupt(format!("histogram: {e}")))
    }
}

impl Store {
    /// The instant (Unix ms) before which invocation records go: those older than
    /// `oldest_kept_ms`, and those beyond the newest `max_records` (0: no limit).
    pub async fn retention_cutoff(
        &self,
        oldest_kept_ms: i64,
        max_records: u64,
    ) -> Result<i64, StoreError> {
        let mut cutoff = oldest_kept_ms;
        if max_records > 0 {
            let beyond: Option<i64> = sqlx::query_scalar(
                "SELECT started_at FROM invocations ORDER BY started_at DESC LIMIT 1 OFFSET $1",
            )
            .bind(i64::try_from(max_records).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await?;
            if let Some(beyond) = beyond {
                cutoff = cutoff.max(beyond.saturating_add(1));
            }
        }
        Ok(cutoff)
    }

    /// Rolls up and deletes every invocation record that started before `cutoff` (Unix ms),
    /// [`CHUNK`] records a transaction; returns how many went.
    pub async fn prune_invocations(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut pruned = 0;
        loop {
            let oldest: Option<i64> = sqlx::query_scalar(
                "SELECT started_at FROM invocations WHERE started_at < $1
                 ORDER BY started_at LIMIT 1",
            )
            .bind(cutoff)
            .fetch_optional(&self.pool)
            .await?;
            let Some(oldest) = oldest else {
                return Ok(pruned);
            };
            let beyond_chunk: Option<i64> = sqlx::query_scalar(
                "SELECT started_at FROM invocations WHERE started_at < $1
                 ORDER BY started_at LIMIT 1 OFFSET $2",
            )
            .bind(cutoff)
            .bind(CHUNK)
            .fetch_optional(&self.pool)
            .await?;
            let end = beyond_chunk.map_or(cutoff, |t| t.max(oldest + 1).min(cutoff));
            pruned += self.roll_up(end).await?;
        }
    }

    /// Rolls up the records that started before `to` and deletes them. A minute may be rolled
    /// up in several parts (records that arrive late, a cutoff inside a minute): each part is
    /// added to what is stored for it.
    async fn roll_up(&self, to: i64) -> Result<u64, StoreError> {
        // IMMEDIATE: the write lock is taken (waiting out the invocation writer's commit) before
        // the records are read. A deferred transaction that read first could not write once the
        // writer committed meanwhile: SQLite refuses it at once, without a busy wait.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let records = sqlx::query(
            "SELECT function_id, owner, function_name, started_at, status, start, duration_ms,
                    init_ms, peak_memory_bytes, cpu_time_ms
             FROM invocations WHERE started_at < $1",
        )
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        let mut rollups: HashMap<(String, i64), Rollup> = HashMap::new();
        for row in &records {
            let function_id: String = row.try_get("function_id")?;
            let minute = row.try_get::<i64, _>("started_at")?.div_euclid(MINUTE_MS);
            let key = (function_id, minute);
            if !rollups.contains_key(&key) {
                let rollup = Rollup::new(
                    row.try_get("owner")?,
                    key.0.clone(),
                    row.try_get("function_name")?,
                );
                rollups.insert(key.clone(), rollup);
            }
            if let Some(rollup) = rollups.get_mut(&key) {
                rollup.add_record(row)?;
            }
        }
        let minutes = rollups.keys().map(|(_, minute)| *minute);
        let (first, last) = (minutes.clone().min(), minutes.max());
        let stored = sqlx::query("SELECT * FROM invocation_minutes WHERE minute BETWEEN $1 AND $2")
            .bind(first.unwrap_or(0))
            .bind(last.unwrap_or(-1))
            .fetch_all(&mut *tx)
            .await?;
        for row in &stored {
            let key: (String, i64) = (row.try_get("function_id")?, row.try_get("minute")?);
            if let Some(rollup) = rollups.get_mut(&key) {
                rollup.merge_stored(row)?;
            }
        }
        for ((function_id, minute), rollup) in &rollups {
            let t = &rollup.totals;
            sqlx::query(
                "INSERT OR REPLACE INTO invocation_minutes (function_id, minute, owner,
                     function_name, ran, successes, errors, timeouts, out_of_memory, crashes,
                     throttles, cold, prewarmed, warm, duration_ms_sum, duration_ms_max,
                     init_ms_sum, inits, peak_memory_bytes_max, cpu_time_ms_sum, cpu_measured,
                     durations)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19, $20, $21, $22)",
            )
            .bind(function_id)
            .bind(minute)
            .bind(&rollup.owner)
            .bind(&t.function_name)
            .bind(signed(t.ran))
            .bind(signed(t.successes))
            .bind(signed(t.errors))
            .bind(signed(t.timeouts))
            .bind(signed(t.out_of_memory))
            .bind(signed(t.crashes))
            .bind(signed(t.throttles))
            .bind(signed(t.cold))
            .bind(signed(t.prewarmed))
            .bind(signed(t.warm))
            .bind(t.duration_ms_sum)
            .bind(t.duration_ms_max)
            .bind(t.init_ms_sum)
            .bind(signed(t.inits))
            .bind(t.peak_memory_bytes_max.map(signed))
            .bind(t.cpu_time_ms_sum)
            .bind(signed(t.cpu_measured))
            .bind(write_histogram(&rollup.durations)?)
            .execute(&mut *tx)
            .await?;
        }
        let deleted = sqlx::query("DELETE FROM invocations WHERE started_at < $1")
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes the rollups of minutes before `cutoff` (Unix ms); returns how many went.
    pub async fn prune_rollups(&self, cutoff: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM invocation_minutes WHERE minute < $1")
                .bind(cutoff.div_euclid(MINUTE_MS))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An empty histogram of durations in microseconds, as the rollups keep (it grows as needed).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(HISTOGRAM_DIGITS)
        .unwrap_or_else(|_| unreachable!("{HISTOGRAM_DIGITS} significant digits are valid"))
}

/// Counts a duration in milliseconds into a histogram of microseconds (which grows to hold
/// it).
pub fn record_duration(histogram: &mut Histogram<u64>, duration_ms: f64) {
    let micros = ((duration_ms * 1000.0).round() as u64).max(1);
    if histogram.record(micros).is_err() {
        histogram.saturating_record(micros);
    }
}

/// A rollup's duration histogram, as stored; it grows as more is added to it.
pub(super) fn read_histogram(bytes: &[u8]) -> Result<Histogram<u64>, StoreError> {
    let mut histogram: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| StoreError::Corrupt(format!("histogram: {e:?}")))?;
    histogram.auto(true);
    Ok(histogram)
}

fn write_histogram(histogram: &Histogram<u64>) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| StoreError::Corrupt(format!("histogram: {e:?}")))?;
    Ok(bytes)
}
