//! Aggregates for the metrics endpoints, over the invocation records and over the per-minute
//! rollups of the records retention pruned ([`Source`]): counts and sums per function or per
//! minute, the records' durations in ascending order (for exact percentiles), the rollups'
//! duration histograms, per-bucket activity.
//!
//! Each query's `WHERE` holds only the conditions its filter has, so that SQLite picks the index
//! that matches (by owner, by function, by time): a `(? IS NULL OR owner = ?)` would make it scan
//! every row of every user.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use hdrhistogram::Histogram;
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{QueryBuilder, Row, Transaction};

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

/// Where aggregates come from: every invocation is counted in exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The invocation records (`invocations`).
    Records,
    /// The per-minute rollups of pruned records (`invocation_minutes`); a rollup minute is in
    /// a window when it starts in it.
    Rollups,
}

impl Source {
    fn table(self) -> &'static str {
        match self {
            Source::Records => "invocations",
            Source::Rollups => "invocation_minutes",
        }
    }

    /// The expression of a row's minute since the epoch.
    fn minute(self) -> &'static str {
        match self {
            Source::Records => "started_at / 60000",
            Source::Rollups => "minute",
        }
    }

    /// The expression of the start of a row's invocations, in Unix milliseconds (a rollup's
    /// minute's start).
    fn start_ms(self) -> &'static str {
        match self {
            Source::Records => "started_at",
            Source::Rollups => "minute * 60000",
        }
    }

    /// The aggregates [`totals_from_row`] reads.
    fn totals(self) -> &'static str {
        match self {
            Source::Records => {
                "COUNT(*) FILTER (WHERE status != 'throttled') AS ran,
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
                COUNT(cpu_time_ms) AS cpu_measured"
            }
            Source::Rollups => {
                "SUM(ran) AS ran, SUM(successes) AS successes, SUM(errors) AS errors,
                SUM(timeouts) AS timeouts, SUM(out_of_memory) AS out_of_memory,
                SUM(crashes) AS crashes, SUM(throttles) AS throttles, SUM(cold) AS cold,
                SUM(prewarmed) AS prewarmed, SUM(warm) AS warm,
                TOTAL(duration_ms_sum) AS duration_ms_sum,
                MAX(duration_ms_max) AS duration_ms_max, TOTAL(init_ms_sum) AS init_ms_sum,
                SUM(inits) AS inits, MAX(peak_memory_bytes_max) AS peak_memory_bytes_max,
                TOTAL(cpu_time_ms_sum) AS cpu_time_ms_sum, SUM(cpu_measured) AS cpu_measured"
            }
        }
    }

    /// How many of a row's invocations failed: an expression for [`MetricsSnapshot::invocation_buckets`].
    fn failures(self) -> &'static str {
        match self {
            Source::Records => "COUNT(*) FILTER (WHERE status NOT IN ('success', 'throttled'))",
            Source::Rollups => "SUM(errors + timeouts + out_of_memory + crashes)",
        }
    }

    /// `SELECT <columns> FROM <table> WHERE <filter's conditions>`, with the filter bound.
    fn select(self, columns: &str, filter: &MetricsFilter) -> QueryBuilder<Sqlite> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {columns} FROM {} WHERE 1 = 1",
            self.table()
        ));
        super::push_scope(
            &mut query,
            filter.owner.as_ref(),
            filter.function_id.as_ref(),
        );
        let (since, until) = (
            filter.since.map(|t| t.timestamp_millis()),
            filter.until.map(|t| t.timestamp_millis()),
        );
        match self {
            Source::Records => {
                if let Some(since) = since {
                    query.push(" AND started_at >= ").push_bind(since);
                }
                if let Some(until) = until {
                    query.push(" AND started_at <= ").push_bind(until);
                }
            }
            Source::Rollups => {
                if let Some(since) = since {
                    query.push(" AND minute >= ").push_bind(
                        since.div_euclid(60_000) + i64::from(since.rem_euclid(60_000) != 0),
                    );
                }
                if let Some(until) = until {
                    query
                        .push(" AND minute <= ")
                        .push_bind(until.div_euclid(60_000));
                }
            }
        }
        query
    }
}

/// Counts and sums over one function's invocations (or one minute's). Sums rather than means,
/// so that the totals of several functions, minutes or sources combine exactly.
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

impl InvocationTotals {
    /// Adds `other`'s invocations to these.
    pub fn add(&mut self, other: &InvocationTotals) {
        self.ran += other.ran;
        self.successes += other.successes;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.out_of_memory += other.out_of_memory;
        self.crashes += other.crashes;
        self.throttles += other.throttles;
        self.cold += other.cold;
        self.prewarmed += other.prewarmed;
        self.warm += other.warm;
        self.duration_ms_sum += other.duration_ms_sum;
        self.duration_ms_max = match (self.duration_ms_max, other.duration_ms_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.init_ms_sum += other.init_ms_sum;
        self.inits += other.inits;
        self.peak_memory_bytes_max = self.peak_memory_bytes_max.max(other.peak_memory_bytes_max);
        self.cpu_time_ms_sum += other.cpu_time_ms_sum;
        self.cpu_measured += other.cpu_measured;
    }

    /// Every status but `success` and `throttled`.
    pub fn failures(&self) -> u64 {
        self.errors + self.timeouts + self.out_of_memory + self.crashes
    }
}

/// One minute of invocations.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteTotals {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    /// Its figures (`function_id` and `function_name` empty).
    pub totals: InvocationTotals,
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

/// One consistent view of the invocation records and their rollups, for the figures of one
/// request: a read transaction, in which a retention pass that commits meanwhile is seen whole
/// or not at all — so no invocation is counted in both or in neither.
pub struct MetricsSnapshot(Transaction<'static, Sqlite>);

impl Store {
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot, StoreError> {
        Ok(MetricsSnapshot(self.pool.begin().await?))
    }
}

impl MetricsSnapshot {
    /// Counts and sums per function, by function id.
    pub async fn invocation_totals(
        &mut self,
        filter: &MetricsFilter,
        source: Source,
    ) -> Result<Vec<InvocationTotals>, StoreError> {
        let columns = format!(
            "function_id, MAX(function_name) AS function_name, {}",
            source.totals()
        );
        let mut query = source.select(&columns, filter);
        query.push(" GROUP BY function_id ORDER BY function_id");
        query
            .build()
            .fetch_all(&mut *self.0)
            .await?
            .iter()
            .map(totals_from_row)
            .collect()
    }

    /// Per-minute counts and sums, oldest first; minutes without invocations are left out.
    pub async fn invocation_minutes(
        &mut self,
        filter: &MetricsFilter,
        source: Source,
    ) -> Result<Vec<MinuteTotals>, StoreError> {
        let columns = format!(
            "{} AS minute, '' AS function_id, '' AS function_name, {}",
            source.minute(),
            source.totals()
        );
        let mut query = source.select(&columns, filter);
        query.push(" GROUP BY 1 ORDER BY 1");
        query
            .build()
            .fetch_all(&mut *self.0)
            .await?
            .iter()
            .map(|row| {
                Ok(MinuteTotals {
                    minute: row.try_get("minute")?,
                    totals: totals_from_row(row)?,
                })
            })
            .collect()
    }

    /// Calls `each` with the duration of every recorded invocation that ran, in ascending
    /// order — per function (ordered by function id) when `per_function`, else all together.
    /// Streams: the database sorts, nothing is held here.
    pub async fn for_each_duration(
        &mut self,
        filter: &MetricsFilter,
        per_function: bool,
        mut each: impl FnMut(&str, f64),
    ) -> Result<(), StoreError> {
        let mut query = Source::Records.select("function_id, duration_ms", filter);
        query.push(match per_function {
            true => " AND status != 'throttled' ORDER BY function_id, duration_ms",
            false => " AND status != 'throttled' ORDER BY duration_ms",
        });
        let mut rows = query.build().fetch(&mut *self.0);
        while let Some(row) = rows.try_next().await? {
            let function_id: &str = row.try_get("function_id")?;
            each(function_id, row.try_get("duration_ms")?);
        }
        Ok(())
    }

    /// Calls `each` with the minute (since the epoch) and duration of every recorded invocation
    /// that ran, ordered by minute, then by duration: each minute's durations in ascending
    /// order, for its percentiles. Streams, as [`MetricsSnapshot::for_each_duration`] does.
    pub async fn for_each_minute_duration(
        &mut self,
        filter: &MetricsFilter,
        mut each: impl FnMut(i64, f64),
    ) -> Result<(), StoreError> {
        let mut query = Source::Records.select("started_at / 60000 AS minute, duration_ms", filter);
        query.push(" AND status != 'throttled' ORDER BY minute, duration_ms");
        let mut rows = query.build().fetch(&mut *self.0);
        while let Some(row) = rows.try_next().await? {
            each(row.try_get("minute")?, row.try_get("duration_ms")?);
        }
        Ok(())
    }

    /// Calls `each` with the function id, minute and duration histogram (microseconds) of every
    /// rollup in the filter's window.
    pub async fn for_each_rollup_histogram(
        &mut self,
        filter: &MetricsFilter,
        mut each: impl FnMut(&str, i64, Histogram<u64>),
    ) -> Result<(), StoreError> {
        let mut query = Source::Rollups.select("function_id, minute, durations", filter);
        let mut rows = query.build().fetch(&mut *self.0);
        while let Some(row) = rows.try_next().await? {
            let durations: &[u8] = row.try_get("durations")?;
            each(
                row.try_get("function_id")?,
                row.try_get("minute")?,
                super::retention::read_histogram(durations)?,
            );
        }
        Ok(())
    }

    /// Per function and bucket of `bucket_ms` from `filter.since` (the epoch without one): how
    /// many invocations ran and how many of them failed.
    pub async fn invocation_buckets(
        &mut self,
        filter: &MetricsFilter,
        bucket_ms: i64,
        source: Source,
    ) -> Result<Vec<BucketTotals>, StoreError> {
        let since = filter.since.map_or(0, |t| t.timestamp_millis());
        let columns = format!(
            "function_id, ({} - {since}) / {} AS bucket, {} AS ran, {} AS failures",
            source.start_ms(),
            bucket_ms.max(1),
            match source {
                Source::Records => "COUNT(*) FILTER (WHERE status != 'throttled')",
                Source::Rollups => "SUM(ran)",
            },
            source.failures()
        );
        let mut query = source.select(&columns, filter);
        query.push(" GROUP BY function_id, bucket");
        query
            .build()
            .fetch_all(&mut *self.0)
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

    /// The status and start of a function's latest recorded invocation, if it has any (one
    /// index lookup).
    pub async fn last_invocation(
        &mut self,
        function_id: &str,
    ) -> Result<Option<(Status, DateTime<Utc>)>, StoreError> {
        sqlx::query(
            "SELECT status, started_at FROM invocations WHERE function_id = $1
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(function_id)
        .fetch_optional(&mut *self.0)
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

fn count(row: &SqliteRow, column: &str) -> Result<u64, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?.unwrap_or(0).max(0) as u64)
}

pub(super) fn totals_from_row(row: &SqliteRow) -> Result<InvocationTotals, StoreError> {
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
