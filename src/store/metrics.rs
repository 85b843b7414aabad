//! Aggregates over the invocation records, for the metrics endpoints: counts and sums per
//! function, durations in ascending order (for exact percentiles), per-minute buckets.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};

use super::functions::millis;
use super::{Store, StoreError};
use crate::model::Status;

/// Which invocations to aggregate.
#[derive(Debug, Default, Clone)]
pub struct MetricsFilter {
    pub owner: Option<String>,
    pub function_id: Option<String>,
    /// Only those that started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only those that started at or before this instant: figures made of several queries
    /// then count the same invocations, however many start meanwhile.
    pub until: Option<DateTime<Utc>>,
}

/// Counts and sums over one function's invocations. Sums rather than means, so that the totals
/// of several functions combine exactly.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InvocationTotals {
    pub function_id: String,
    pub function_name: String,
    /// Invocations that ran (every status but `throttled`).
    pub ran: u64,
    pub successes: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub out_of_memory: u64,
    pub crashes: u64,
    pub throttles: u64,
    pub cold: u64,
    pub prewarmed: u64,
    pub warm: u64,
    pub duration_ms_sum: f64,
    pub duration_ms_max: Option<f64>,
    pub init_ms_sum: f64,
    pub inits: u64,
    pub peak_memory_bytes_max: Option<u64>,
    pub cpu_time_ms_sum: f64,
    /// Invocations with CPU accounting (runtimes without cgroups have none).
    pub cpu_measured: u64,
}

/// One minute of invocations.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteTotals {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub ran: u64,
    pub successes: u64,
    /// Every status but `success` and `throttled`.
    pub failures: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub out_of_memory: u64,
    pub crashes: u64,
    pub throttles: u64,
    pub cold: u64,
    pub duration_ms_mean: Option<f64>,
    pub duration_ms_max: Option<f64>,
}

/// The filter shared by every query here, bound by [`bind_filter`]: $1 owner, $2 function id,
/// $3 since, $4 until.
macro_rules! filtered {
    () => {
        " FROM invocations
          WHERE ($1 IS NULL OR owner = $1)
            AND ($2 IS NULL OR function_id = $2)
            AND ($3 IS NULL OR started_at >= $3)
            AND ($4 IS NULL OR started_at <= $4) "
    };
}

/// `query` with the [`filtered!`] parameters bound.
fn bind_filter<'q>(
    query: Query<'q, Sqlite, SqliteArguments>,
    filter: &'q MetricsFilter,
) -> Query<'q, Sqlite, SqliteArguments> {
    query
        .bind(&filter.owner)
        .bind(&filter.function_id)
        .bind(filter.since.map(|t| t.timestamp_millis()))
        .bind(filter.until.map(|t| t.timestamp_millis()))
}

impl Store {
    /// Counts and sums per function.
    pub async fn invocation_totals(
        &self,
        filter: &MetricsFilter,
    ) -> Result<Vec<InvocationTotals>, StoreError> {
        bind_filter(
            sqlx::query(concat!(
                "SELECT function_id,
                MAX(function_name) AS function_name,
                COUNT(*) FILTER (WHERE status != 'throttled') AS ran,
                COUNT(*) FILTER (WHERE status = 'success') AS successes,
                COUNT(*) FILTER (WHERE status = 'error') AS errors,
                COUNT(*) FILTER (WHERE status = 'timeout') AS timeouts,
                COUNT(*) FILTER (WHERE status = 'out_of_memory') AS out_of_memory,
                COUNT(*) FILTER (WHERE status = 'crashed') AS crashes,
                COUNT(*) FILTER (WHERE status = 'throttled') AS throttles,
                COUNT(*) FILTER (WHERE start = 'cold') AS cold,
                COUNT(*) FILTER (WHERE start = 'prewarmed') AS prewarmed,
                COUNT(*) FILTER (WHERE start = 'warm') AS warm,
                TOTAL(duration_ms) FILTER (WHERE status != 'throttled') AS duration_ms_sum,
                MAX(duration_ms) FILTER (WHERE status != 'throttled') AS duration_ms_max,
                TOTAL(init_ms) AS init_ms_sum,
                COUNT(init_ms) AS inits,
                MAX(peak_memory_bytes) AS peak_memory_bytes_max,
                TOTAL(cpu_time_ms) AS cpu_time_ms_sum,
                COUNT(cpu_time_ms) AS cpu_measured",
                filtered!(),
                "GROUP BY function_id ORDER BY function_id"
            )),
            filter,
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(totals_from_row)
        .collect()
    }

    /// Calls `each` with the duration of every invocation that ran, in ascending order — per
    /// function (ordered by function id) when `per_function`, else all together. Streams: the
    /// database sorts, nothing is held here.
    pub async fn for_each_duration(
        &self,
        filter: &MetricsFilter,
        per_function: bool,
        mut each: impl FnMut(&str, f64),
    ) -> Result<(), StoreError> {
        let query = if per_function {
            concat!(
                "SELECT function_id, duration_ms",
                filtered!(),
                "AND status != 'throttled' ORDER BY function_id, duration_ms"
            )
        } else {
            concat!(
                "SELECT function_id, duration_ms",
                filtered!(),
                "AND status != 'throttled' ORDER BY duration_ms"
            )
        };
        let mut rows = bind_filter(sqlx::query(query), filter).fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let function_id: &str = row.try_get("function_id")?;
            each(function_id, row.try_get("duration_ms")?);
        }
        Ok(())
    }

    /// Per-minute buckets, oldest first; minutes without invocations are left out.
    pub async fn invocation_minutes(
        &self,
        filter: &MetricsFilter,
    ) -> Result<Vec<MinuteTotals>, StoreError> {
        bind_filter(
            sqlx::query(concat!(
                "SELECT started_at / 60000 AS minute,
                COUNT(*) FILTER (WHERE status != 'throttled') AS ran,
                COUNT(*) FILTER (WHERE status = 'success') AS successes,
                COUNT(*) FILTER (WHERE status NOT IN ('success', 'throttled')) AS failures,
                COUNT(*) FILTER (WHERE status = 'error') AS errors,
                COUNT(*) FILTER (WHERE status = 'timeout') AS timeouts,
                COUNT(*) FILTER (WHERE status = 'out_of_memory') AS out_of_memory,
                COUNT(*) FILTER (WHERE status = 'crashed') AS crashes,
                COUNT(*) FILTER (WHERE status = 'throttled') AS throttles,
                COUNT(*) FILTER (WHERE start = 'cold') AS cold,
                AVG(duration_ms) FILTER (WHERE status != 'throttled') AS duration_ms_mean,
                MAX(duration_ms) FILTER (WHERE status != 'throttled') AS duration_ms_max",
                filtered!(),
                "GROUP BY minute ORDER BY minute"
            )),
            filter,
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(MinuteTotals {
                minute: row.try_get("minute")?,
                ran: count(row, "ran")?,
                successes: count(row, "successes")?,
                failures: count(row, "failures")?,
                errors: count(row, "errors")?,
                timeouts: count(row, "timeouts")?,
                out_of_memory: count(row, "out_of_memory")?,
                crashes: count(row, "crashes")?,
                throttles: count(row, "throttles")?,
                cold: count(row, "cold")?,
                duration_ms_mean: row.try_get("duration_ms_mean")?,
                duration_ms_max: row.try_get("duration_ms_max")?,
            })
        })
        .collect()
    }
}

impl Store {
    /// Calls `each` with the minute (since the epoch) and duration of every invocation that ran,
    /// ordered by minute, then by duration: each minute's durations in ascending order, for
    /// its percentiles. Streams, as [`Store::for_each_duration`] does.
    pub async fn for_each_minute_duration(
        &self,
        filter: &MetricsFilter,
        mut each: impl FnMut(i64, f64),
    ) -> Result<(), StoreError> {
        let mut rows = bind_filter(
            sqlx::query(concat!(
                "SELECT started_at / 60000 AS minute, duration_ms",
                filtered!(),
                "AND status != 'throttled' ORDER BY minute, duration_ms"
            )),
            filter,
        )
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            each(row.try_get("minute")?, row.try_get("duration_ms")?);
        }
        Ok(())
    }

    /// Per function and bucket of `bucket_ms` from `filter.since` (the epoch without one): how
    /// many invocations ran and how many of them failed.
    pub async fn invocation_buckets(
        &self,
        filter: &MetricsFilter,
        bucket_ms: i64,
    ) -> Result<Vec<BucketTotals>, StoreError> {
        bind_filter(
            sqlx::query(concat!(
                "SELECT function_id, (started_at - COALESCE($3, 0)) / $5 AS bucket,
                    COUNT(*) FILTER (WHERE status != 'throttled') AS ran,
                    COUNT(*) FILTER (WHERE status NOT IN ('success', 'throttled')) AS failures",
                filtered!(),
                "GROUP BY function_id, bucket"
            )),
            filter,
        )
        .bind(bucket_ms.max(1))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(BucketTotals {
                function_id: row.try_get("function_id")?,
                bucket: row.try_get("bucket")?,
                ran: count(row, "ran")?,
                failures: count(row, "failures")?,
            })
        })
        .collect()
    }

    /// The status and start of a function's latest invocation, if it has any (one index
    /// lookup).
    pub async fn last_invocation(
        &self,
        function_id: &str,
    ) -> Result<Option<(Status, DateTime<Utc>)>, StoreError> {
        sqlx::query(
            "SELECT status, started_at FROM invocations WHERE function_id = $1
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(function_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| {
            let status = row
                .try_get::<String, _>("status")?
                .parse()
                .map_err(StoreError::Corrupt)?;
            Ok((status, millis(row.try_get("started_at")?)))
        })
        .transpose()
    }
}

/// One function's invocations in one bucket of time.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketTotals {
    pub function_id: String,
    /// The bucket's index, from the start of the span.
    pub bucket: i64,
    pub ran: u64,
    pub failures: u64,
}

fn count(row: &SqliteRow, column: &str) -> Result<u64, StoreError> {
    Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
}

fn totals_from_row(row: &SqliteRow) -> Result<InvocationTotals, StoreError> {
    Ok(InvocationTotals {
        function_id: row.try_get("function_id")?,
        function_name: row.try_get("function_name")?,
        ran: count(row, "ran")?,
        successes: count(row, "successes")?,
        errors: count(row, "errors")?,
        timeouts: count(row, "timeouts")?,
        out_of_memory: count(row, "out_of_memory")?,
        crashes: count(row, "crashes")?,
        throttles: count(row, "throttles")?,
        cold: count(row, "cold")?,
        prewarmed: count(row, "prewarmed")?,
        warm: count(row, "warm")?,
        duration_ms_sum: row.try_get("duration_ms_sum")?,
        duration_ms_max: row.try_get("duration_ms_max")?,
        init_ms_sum: row.try_get("init_ms_sum")?,
        inits: count(row, "inits")?,
        peak_memory_bytes_max: row
            .try_get::<Option<i64>, _>("peak_memory_bytes_max")?
            .map(|bytes| bytes.max(0) as u64),
        cpu_time_ms_sum: row.try_get("cpu_time_ms_sum")?,
        cpu_measured: count(row, "cpu_measured")?,
    })
}
