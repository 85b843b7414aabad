//! Execution metrics: per-function and overall figures over a time window, per-minute series,
//! computed from the invocation records ([`crate::store`]); the host's state ([`host`]); and the
//! Prometheus exposition of live counters and histograms ([`prometheus`]).
//!
//! Percentiles are exact nearest-rank order statistics: the database sorts the window's
//! durations and they are streamed past, keeping only the ranks wanted. Exact, so that the
//! figures match what anyone computes from `/invocations`; streamed, so memory stays flat however
//! long the window. (An HDR histogram would be cheaper on huge windows, at the price of figures
//! that are only close.)

pub mod host;
pub mod prometheus;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::engine::StartCounts;

use crate::model::Status;
use crate::store::{
    InvocationTotals, MetricsFilter, MetricsSnapshot, Source, Store, StoreError, new_histogram,
    record_duration,
};

/// The percentiles reported, in per mille (integers, so that ranks are exact).
const PERCENTILES: [u64; 3] = [500, 950, 990];
/// The longest window that may be named by length: a year.
const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);
/// The window when none is asked for.
pub const DEFAULT_WINDOW: &str = "24h";

/// Why a window could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error(
        "invalid window '{0}': expected a length like 15m, 1h, 24h or 7d (at most 366d), or 'all'"
    )]
    Invalid(String),
    #[error("give either window or since, not both")]
    Both,
}

/// The span of time figures are computed over.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Window {
    /// As asked: `1h`, `24h`, `7d`, `all`, … or `since`.
    pub window: String,
    /// Start (inclusive); `null` for `all`.
    pub since: Option<DateTime<Utc>>,
    /// When the figures were computed.
    pub until: DateTime<Utc>,
}

impl Window {
    /// The window named by `window` (`<n>m|h|d` or `all`) or starting at `since`; by default the
    /// last 24 hours.
    pub fn parse(window: Option<&str>, since: Option<DateTime<Utc>>) -> Result<Self, WindowError> {
        let until = Utc::now();
        match (window, since) {
            (Some(_), Some(_)) => Err(WindowError::Both),
            (None, Some(since)) => Ok(Self {
                window: "since".to_owned(),
                since: Some(since),
                until,
            }),
            (window, None) => {
                let name = window.unwrap_or(DEFAULT_WINDOW);
                let since = match name {
                    "all" => None,
                    length => {
                        let length = parse_length(length)
                            .ok_or_else(|| WindowError::Invalid(length.to_owned()))?;
                        let length = chrono::Duration::from_std(length)
                            .map_err(|_| WindowError::Invalid(name.to_owned()))?;
                        Some(until - length)
                    }
                };
                Ok(Self {
                    window: name.to_owned(),
                    since,
                    until,
                })
            }
        }
    }
}

impl Window {
    /// The invocations of `owner` (`None`: everyone's), or of one function, in this window.
    fn filter(&self, owner: Option<&str>, function_id: Option<&str>) -> MetricsFilter {
        MetricsFilter {
            owner: owner.map(str::to_owned),
            function_id: function_id.map(str::to_owned),
            since: self.since,
            until: Some(self.until),
        }
    }
}

/// `15m`, `1h`, `7d`: a positive length of at most [`MAX_WINDOW`].
fn parse_length(text: &str) -> Option<Duration> {
    let unit = match text.chars().last()? {
        'm' => 60,
        'h' => 3600,
        'd' => 24 * 3600,
        _ => return None,
    };
    let count: u64 = text[..text.len() - 1].parse().ok()?;
    let length = Duration::from_secs(count.checked_mul(unit)?);
    (count > 0 && length <= MAX_WINDOW).then_some(length)
}

/// A distribution of durations, in milliseconds; `null`s when nothing ran.
#[derive(Debug, Default, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Distribution {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// What a set of invocations did.
#[derive(Debug, Default, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// Invocations that ran: every status but `throttled` (as AWS Lambda counts them).
    pub invocations: u64,
    pub successes: u64,
    /// The function raised (or its code did not load).
    pub errors: u64,
    pub timeouts: u64,
    pub out_of_memory: u64,
    /// The instance died or broke the protocol.
    pub crashes: u64,
    /// Refused at the concurrency limit; not counted in `invocations`.
    pub throttles: u64,
    /// `successes / invocations`; `null` when nothing ran.
    pub success_rate: Option<f64>,
    /// How the instances that ran them were obtained.
    pub starts: StartCounts,
    /// Time running the handler, of the invocations that ran.
    pub duration_ms: Distribution,
    /// Mean time to start and specialise an instance, over cold and prewarmed starts.
    pub init_ms_mean: Option<f64>,
    /// The most memory one invocation used (cgroup accounting).
    pub peak_memory_bytes: Option<u64>,
    /// CPU time used, all invocations together.
    pub cpu_time_ms: Option<f64>,
    pub cpu_time_ms_mean: Option<f64>,
}

/// One function's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunctionStats {
    pub function_id: String,
    pub function: String,
    /// The function no longer exists; its invocations still count.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(flatten)]
    pub stats: Stats,
}

/// `GET /metrics/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub window: Window,
    /// Every invocation of `functions` together.
    pub totals: Stats,
    /// Every function the caller may see, and deleted ones that have invocations in the window.
    pub functions: Vec<FunctionStats>,
}

/// `GET /metrics/functions/{function}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunctionMetrics {
    pub window: Window,
    #[serde(flatten)]
    pub function: FunctionStats,
}

/// One minute of a time series.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Point {
    /// The minute's start.
    pub start: DateTime<Utc>,
    pub invocations: u64,
    pub successes: u64,
    /// Errors, timeouts, out-of-memory kills and crashes.
    pub failures: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub out_of_memory: u64,
    pub crashes: u64,
    pub throttles: u64,
    pub cold_starts: u64,
    pub duration_ms_mean: Option<f64>,
    /// The minute's median and 95th-percentile durations (nearest rank, as the summaries).
    pub duration_ms_p50: Option<f64>,
    pub duration_ms_p95: Option<f64>,
    pub duration_ms_max: Option<f64>,
}

/// Per-minute figures, for charts.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimeSeries {
    pub window: Window,
    pub step_secs: u32,
    /// Oldest first; minutes without invocations are left out.
    pub points: Vec<Point>,
}

/// `GET /metrics/activity`: how each function did over the window, bucket by bucket.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub window: Window,
    /// The length of a bucket, in milliseconds; the first starts at the window's start.
    pub bucket_ms: u64,
    pub functions: Vec<FunctionActivity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunctionActivity {
    pub function_id: String,
    pub function: String,
    /// Invocations that ran, per bucket, oldest first.
    pub invocations: Vec<u64>,
    /// Of them, those that failed (errors, timeouts, out-of-memory kills, crashes).
    pub failures: Vec<u64>,
    /// How its latest invocation (ever, not only in the window) ended, and when it started.
    pub last_status: Option<Status>,
    pub last_started_at: Option<DateTime<Utc>>,
}

/// A function known to the caller: its id and current name.
pub struct Known<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// The figures of every function in `known` and of every function of `owner` (`None`: of
/// everyone) with invocations in the window, and their totals.
pub async fn summary(
    store: &Store,
    owner: Option<&str>,
    known: &[Known<'_>],
    window: Window,
) -> Result<Summary, StoreError> {
    let filter = window.filter(owner, None);
    let mut store = store.metrics_snapshot().await?;
    let (mut rows, recorded) = totals_by_function(&mut store, &filter).await?;
    let (mut percentiles, overall) = percentiles(&mut store, &filter, &recorded, true).await?;
    let mut totals = InvocationTotals::default();
    for row in rows.values() {
        totals.add(row);
    }
    let totals = stats(&totals, overall);

    let mut functions: Vec<FunctionStats> = known
        .iter()
        .map(|function| {
            let row = rows.remove(function.id).unwrap_or_default();
            let picked = percentiles.remove(function.id).unwrap_or_default();
            FunctionStats {
                function_id: function.id.to_owned(),
                function: function.name.to_owned(),
                deleted: false,
                stats: stats(&row, picked),
            }
        })
        .collect();
    let mut deleted: Vec<FunctionStats> = rows
        .into_values()
        .map(|row| FunctionStats {
            stats: stats(
                &row,
                percentiles.remove(&row.function_id).unwrap_or_default(),
            ),
            function_id: row.function_id,
            function: row.function_name,
            deleted: true,
        })
        .collect();
    deleted.sort_by(|a, b| a.function.cmp(&b.function));
    functions.extend(deleted);
    Ok(Summary {
        window,
        totals,
        functions,
    })
}

/// One function's figures.
pub async fn function(
    store: &Store,
    function: Known<'_>,
    window: Window,
) -> Result<FunctionMetrics, StoreError> {
    let filter = window.filter(None, Some(function.id));
    let mut store = store.metrics_snapshot().await?;
    let (mut rows, recorded) = totals_by_function(&mut store, &filter).await?;
    let (mut percentiles, _) = percentiles(&mut store, &filter, &recorded, false).await?;
    Ok(FunctionMetrics {
        window,
        function: FunctionStats {
            function_id: function.id.to_owned(),
            function: function.name.to_owned(),
            deleted: false,
            stats: stats(
                &rows.remove(function.id).unwrap_or_default(),
                percentiles.remove(function.id).unwrap_or_default(),
            ),
        },
    })
}

/// Per-minute figures of one function (`function_id`) or of all of `owner`'s (`None`: everyone's).
pub async fn time_series(
    store: &Store,
    owner: Option<&str>,
    function_id: Option<&str>,
    window: Window,
) -> Result<TimeSeries, StoreError> {
    let filter = window.filter(owner, function_id);
    let mut store = store.metrics_snapshot().await?;
    let mut minutes: BTreeMap<i64, InvocationTotals> = BTreeMap::new();
    let mut recorded: HashMap<i64, u64> = HashMap::new();
    for source in [Source::Records, Source::Rollups] {
        for minute in store.invocation_minutes(&filter, source).await? {
            if source == Source::Records {
                recorded.insert(minute.minute, minute.totals.ran);
            }
            minutes
                .entry(minute.minute)
                .or_default()
                .add(&minute.totals);
        }
    }
    // Minutes that rollups hold a part of get their percentiles from the rollups' histograms
    // with the records' durations added; the others, exact ones from one sorted pass over the
    // records.
    let mut histograms: HashMap<i64, Histogram<u64>> = HashMap::new();
    store
        .for_each_rollup_histogram(&filter, |_, minute, histogram| {
            merge_into(histograms.entry(minute), histogram)
        })
        .await?;
    let mut groups = Groups::default();
    store
        .for_each_minute_duration(&filter, |minute, duration| {
            match histograms.get_mut(&minute) {
                Some(histogram) => record_duration(histogram, duration),
                None => groups.push(&minute, duration, |minute| {
                    (*minute, recorded.get(minute).copied().unwrap_or(0))
                }),
            }
        })
        .await?;
    let mut percentiles = groups.finish();
    percentiles.extend(
        histograms
            .iter()
            .map(|(minute, histogram)| (*minute, histogram_percentiles(histogram))),
    );
    let points = minutes
        .into_iter()
        .map(|(minute, totals)| {
            let [p50, p95, _] = percentiles.remove(&minute).unwrap_or_default();
            Point {
                start: DateTime::from_timestamp(minute * 60, 0).unwrap_or_default(),
                invocations: totals.ran,
                successes: totals.successes,
                failures: totals.failures(),
                errors: totals.errors,
                timeouts: totals.timeouts,
                out_of_memory: totals.out_of_memory,
                crashes: totals.crashes,
                throttles: totals.throttles,
                cold_starts: totals.cold,
                duration_ms_mean: mean(totals.duration_ms_sum, totals.ran),
                duration_ms_p50: p50,
                duration_ms_p95: p95,
                duration_ms_max: totals.duration_ms_max,
            }
        })
        .collect();
    Ok(TimeSeries {
        window,
        step_secs: 60,
        points,
    })
}

/// Per function of `known`, its invocations and failures in `buckets` equal slices of `window`
/// (which must have a start), and its latest invocation.
pub async fn activity(
    store: &Store,
    owner: Option<&str>,
    known: &[Known<'_>],
    window: Window,
    since: DateTime<Utc>,
    buckets: u32,
) -> Result<Activity, StoreError> {
    let span_ms = (window.until - since)
        .num_milliseconds()
        .max(1)
        .unsigned_abs();
    let bucket_ms = i64::try_from(span_ms.div_ceil(u64::from(buckets.max(1)))).unwrap_or(i64::MAX);
    let filter = MetricsFilter {
        since: Some(since),
        ..window.filter(owner, None)
    };
    let length = buckets as usize;
    let mut store = store.metrics_snapshot().await?;
    let mut counts: HashMap<String, (Vec<u64>, Vec<u64>)> = HashMap::new();
    for source in [Source::Records, Source::Rollups] {
        for bucket in store.invocation_buckets(&filter, bucket_ms, source).await? {
            let Ok(index) = usize::try_from(bucket.bucket) else {
                continue;
            };
            if index >= length {
                continue;
            }
            let (invocations, failures) = counts
                .entry(bucket.function_id)
                .or_insert_with(|| (vec![0; length], vec![0; length]));
            invocations[index] += bucket.ran;
            failures[index] += bucket.failures;
        }
    }
    let mut functions = Vec::with_capacity(known.len());
    for function in known {
        let (invocations, failures) = counts
            .remove(function.id)
            .unwrap_or_else(|| (vec![0; length], vec![0; length]));
        // One index lookup per function: a grouped scan would read every invocation of the
        // user, however old.
        let last = store.last_invocation(function.id).await?;
        functions.push(FunctionActivity {
            function_id: function.id.to_owned(),
            function: function.name.to_owned(),
            invocations,
            failures,
            last_status: last.as_ref().map(|(status, _)| *status),
            last_started_at: last.map(|(_, started)| started),
        });
    }
    Ok(Activity {
        window,
        bucket_ms: u64::try_from(bucket_ms).unwrap_or(0),
        functions,
    })
}

/// Each function's totals from the records and the rollups together, and how many of its
/// invocations that ran are in the records.
async fn totals_by_function(
    store: &mut MetricsSnapshot,
    filter: &MetricsFilter,
) -> Result<(HashMap<String, InvocationTotals>, HashMap<String, u64>), StoreError> {
    let mut rows: HashMap<String, InvocationTotals> = HashMap::new();
    let mut recorded = HashMap::new();
    for source in [Source::Records, Source::Rollups] {
        for row in store.invocation_totals(filter, source).await? {
            if source == Source::Records {
                recorded.insert(row.function_id.clone(), row.ran);
            }
            match rows.get_mut(&row.function_id) {
                Some(sum) => sum.add(&row),
                None => {
                    rows.insert(row.function_id.clone(), row);
                }
            }
        }
    }
    Ok((rows, recorded))
}

/// The percentiles of each function's durations and (when `overall`) of all of them together.
/// Exact nearest-rank figures from one sorted pass over the records (`recorded`: how many ran
/// per function) while no rollup is in the window; a function that rollups hold a part of gets
/// its figures from their histograms with its records' durations added (within 1%).
async fn percentiles(
    store: &mut MetricsSnapshot,
    filter: &MetricsFilter,
    recorded: &HashMap<String, u64>,
    overall: bool,
) -> Result<(HashMap<String, [Option<f64>; 3]>, [Option<f64>; 3]), StoreError> {
    let mut histograms: HashMap<String, Histogram<u64>> = HashMap::new();
    store
        .for_each_rollup_histogram(filter, |function_id, _, histogram| {
            merge_into(histograms.entry(function_id.to_owned()), histogram)
        })
        .await?;
    let approximate = !histograms.is_empty();
    let mut all = new_histogram();
    for histogram in histograms.values() {
        let _ = all.add(histogram);
    }
    let mut groups = Groups::default();
    store
        .for_each_duration(filter, true, |function_id, duration| {
            if approximate {
                record_duration(&mut all, duration);
            }
            match histograms.get_mut(function_id) {
                Some(histogram) => record_duration(histogram, duration),
                None => groups.push(function_id, duration, |id: &str| {
                    (id.to_owned(), recorded.get(id).copied().unwrap_or(0))
                }),
            }
        })
        .await?;
    let mut per_function = groups.finish();
    per_function.extend(
        histograms
            .iter()
            .map(|(id, histogram)| (id.clone(), histogram_percentiles(histogram))),
    );
    let overall = match (overall, approximate) {
        (false, _) => [None; 3],
        (true, true) => histogram_percentiles(&all),
        (true, false) => {
            let mut picker = Picker::new(recorded.values().sum());
            store
                .for_each_duration(filter, false, |_, duration| picker.push(duration))
                .await?;
            picker.picked
        }
    };
    Ok((per_function, overall))
}

fn merge_into<K>(entry: Entry<'_, K, Histogram<u64>>, histogram: Histogram<u64>) {
    match entry {
        Entry::Occupied(mut sum) => {
            let _ = sum.get_mut().add(histogram);
        }
        Entry::Vacant(slot) => {
            slot.insert(histogram);
        }
    }
}

/// A histogram's p50, p95 and p99, in milliseconds; `None`s when it is empty.
fn histogram_percentiles(histogram: &Histogram<u64>) -> [Option<f64>; 3] {
    PERCENTILES.map(|permille| {
        (!histogram.is_empty())
            .then(|| histogram.value_at_quantile(permille as f64 / 1000.0) as f64 / 1000.0)
    })
}

/// Percentiles of many groups of values, arriving group after group, each in ascending order.
struct Groups<K> {
    done: HashMap<K, [Option<f64>; 3]>,
    current: Option<(K, Picker)>,
}

impl<K> Default for Groups<K> {
    fn default() -> Self {
        Self {
            done: HashMap::new(),
            current: None,
        }
    }
}

impl<K: std::hash::Hash + Eq> Groups<K> {
    /// Adds a value of the group `key`; `start` names a new group and says how many values it
    /// has.
    fn push<Q: PartialEq<K> + ?Sized>(
        &mut self,
        key: &Q,
        value: f64,
        start: impl FnOnce(&Q) -> (K, u64),
    ) {
        if self
            .current
            .as_ref()
            .is_none_or(|(current, _)| key != current)
        {
            self.close();
            let (key, count) = start(key);
            self.current = Some((key, Picker::new(count)));
        }
        if let Some((_, picker)) = self.current.as_mut() {
            picker.push(value);
        }
    }

    fn close(&mut self) {
        if let Some((key, picker)) = self.current.take() {
            self.done.insert(key, picker.picked);
        }
    }

    fn finish(mut self) -> HashMap<K, [Option<f64>; 3]> {
        self.close();
        self.done
    }
}

/// Picks nearest-rank percentiles from `n` values arriving in ascending order: the p-th
/// percentile is the smallest value with at least p% of the values at or below it, i.e. the
/// value of rank ⌈p·n/100⌉.
struct Picker {
    ranks: [u64; 3],
    seen: u64,
    picked: [Option<f64>; 3],
}

impl Picker {
    fn new(n: u64) -> Self {
        Self {
            ranks: PERCENTILES.map(|permille| nearest_rank(permille, n)),
            seen: 0,
            picked: [None; 3],
        }
    }

    fn push(&mut self, value: f64) {
        self.seen += 1;
        for (rank, picked) in self.ranks.iter().zip(&mut self.picked) {
            if *rank == self.seen {
                *picked = Some(value);
            }
        }
    }
}

/// The 1-based rank of the `permille`-th per-mille nearest-rank percentile of `n` values; 0 (no
/// rank) when there are none.
fn nearest_rank(permille: u64, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        (permille * n).div_ceil(1000).max(1)
    }
}

fn mean(sum: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

fn stats(row: &InvocationTotals, [p50, p95, p99]: [Option<f64>; 3]) -> Stats {
    Stats {
        invocations: row.ran,
        successes: row.successes,
        errors: row.errors,
        timeouts: row.timeouts,
        out_of_memory: row.out_of_memory,
        crashes: row.crashes,
        throttles: row.throttles,
        success_rate: mean(row.successes as f64, row.ran),
        starts: StartCounts {
            warm: row.warm,
            prewarmed: row.prewarmed,
            cold: row.cold,
        },
        duration_ms: Distribution {
            mean: mean(row.duration_ms_sum, row.ran),
            p50,
            p95,
            p99,
            max: row.duration_ms_max,
        },
        init_ms_mean: mean(row.init_ms_sum, row.inits),
        peak_memory_bytes: row.peak_memory_bytes_max,
        cpu_time_ms: (row.cpu_measured > 0).then_some(row.cpu_time_ms_sum),
        cpu_time_ms_mean: mean(row.cpu_time_ms_sum, row.cpu_measured),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DurationRound, TimeDelta};

    use super::*;
    use crate::model::Invocation;
    use crate::model::RuntimeKind;
    use crate::model::{StartKind, Status};
    use crate::store::InvocationWriter;

    #[test]
    fn nearest_ranks() {
        assert_eq!(PERCENTILES.map(|p| nearest_rank(p, 0)), [0, 0, 0]);
        assert_eq!(PERCENTILES.map(|p| nearest_rank(p, 1)), [1, 1, 1]);
        assert_eq!(PERCENTILES.map(|p| nearest_rank(p, 10)), [5, 10, 10]);
        assert_eq!(PERCENTILES.map(|p| nearest_rank(p, 100)), [50, 95, 99]);
        assert_eq!(PERCENTILES.map(|p| nearest_rank(p, 101)), [51, 96, 100]);
        assert_eq!(PERCENTILES.map(|p| nearest_rank(p, 1000)), [500, 950, 990]);
    }

    #[test]
    fn windows() {
        let hour = Window::parse(Some("1h"), None).unwrap();
        assert_eq!(hour.until - hour.since.unwrap(), TimeDelta::hours(1));
        let default = Window::parse(None, None).unwrap();
        assert_eq!(default.window, "24h");
        assert_eq!(default.until - default.since.unwrap(), TimeDelta::days(1));
        assert_eq!(Window::parse(Some("all"), None).unwrap().since, None);
        let week = Window::parse(Some("7d"), None).unwrap();
        assert_eq!(week.until - week.since.unwrap(), TimeDelta::days(7));
        let since = Utc::now() - TimeDelta::minutes(5);
        assert_eq!(Window::parse(None, Some(since)).unwrap().since, Some(since));
        for bad in [
            "",
            "h",
            "0h",
            "-1h",
            "1w",
            "1.5h",
            "367d",
            "99999999999999999d",
        ] {
            assert!(Window::parse(Some(bad), None).is_err(), "{bad}");
        }
        assert!(matches!(
            Window::parse(Some("1h"), Some(since)),
            Err(WindowError::Both)
        ));
    }

    struct Record {
        function: &'static str,
        owner: &'static str,
        status: Status,
        start: Option<StartKind>,
        at: DateTime<Utc>,
        duration_ms: f64,
        init_ms: Option<f64>,
        peak_memory_bytes: Option<u64>,
        cpu_time_ms: Option<f64>,
    }

    impl Record {
        fn new(function: &'static str, owner: &'static str, at: DateTime<Utc>) -> Self {
            Self {
                function,
                owner,
                status: Status::Success,
                start: Some(StartKind::Warm),
                at,
                duration_ms: 1.0,
                init_ms: None,
                peak_memory_bytes: None,
                cpu_time_ms: None,
            }
        }
    }

    async fn write(writer: &InvocationWriter, record: Record) {
        writer
            .record(Arc::new(Invocation {
                invocation_id: uuid::Uuid::now_v7().to_string(),
                function_id: Arc::from(record.function),
                function_name: record.function.to_owned(),
                owner: record.owner.to_owned(),
                version: 1,
                runtime: RuntimeKind::Sandbox,
                status: record.status,
                result: None,
                error: None,
                logs: String::new(),
                start: record.start,
                started_at: record.at,
                duration_ms: record.duration_ms,
                init_ms: record.init_ms,
                peak_memory_bytes: record.peak_memory_bytes,
                cpu_time_ms: record.cpu_time_ms,
            }))
            .await
            .unwrap();
    }

    const MIB: u64 = 1024 * 1024;

    /// Function `a` (owner `u1`): 100 invocations lasting 1..=100 ms, two a minute, of every
    /// status and start kind, and 3 throttled ones; one more 10 days ago. `b` (owner `u2`): 4
    /// lasting 10, 20, 30 and 40 ms. `gone` (owner `u1`, deleted): one of 5 ms.
    async fn known_records(store: &Store) -> DateTime<Utc> {
        let writer = InvocationWriter::start(store.clone());
        let base = (Utc::now() - TimeDelta::hours(3))
            .duration_trunc(TimeDelta::minutes(1))
            .unwrap();
        for i in 1..=100u32 {
            let mut record = Record::new(
                "a",
                "u1",
                base + TimeDelta::seconds(30 * (i64::from(i) - 1)),
            );
            record.duration_ms = f64::from(i);
            record.status = match i {
                i if i % 20 == 0 => Status::Timeout,
                i if i % 10 == 0 => Status::Error,
                33 => Status::OutOfMemory,
                77 => Status::Crashed,
                _ => Status::Success,
            };
            (record.start, record.init_ms) = match i {
                1 => (Some(StartKind::Cold), Some(30.0)),
                i if i % 20 == 1 => (Some(StartKind::Prewarmed), Some(2.0)),
                _ => (Some(StartKind::Warm), None),
            };
            record.peak_memory_bytes = Some(u64::from(i) * MIB);
            record.cpu_time_ms = Some(f64::from(i) * 0.5);
            write(&writer, record).await;
        }
        for _ in 0..3 {
            let mut record = Record::new("a", "u1", base + TimeDelta::minutes(20));
            (record.status, record.start, record.duration_ms) = (Status::Throttled, None, 0.0);
            write(&writer, record).await;
        }
        let mut old = Record::new("a", "u1", Utc::now() - TimeDelta::days(10));
        old.duration_ms = 1000.0;
        write(&writer, old).await;
        for duration in [10.0, 20.0, 30.0, 40.0] {
            let mut record = Record::new("b", "u2", base);
            record.duration_ms = duration;
            write(&writer, record).await;
        }
        let mut gone = Record::new("gone", "u1", base);
        gone.duration_ms = 5.0;
        write(&writer, gone).await;
        base
    }

    fn window(name: &str) -> Window {
        Window::parse(Some(name), None).unwrap()
    }

    #[tokio::test]
    async fn every_figure_of_a_known_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let base = known_records(&store).await;
        let a = Known { id: "a", name: "a" };

        let day = function(&store, Known { id: "a", name: "a" }, window("24h"))
            .await
            .unwrap();
        let expected = Stats {
            invocations: 100,
            successes: 88,
            errors: 5,
            timeouts: 5,
            out_of_memory: 1,
            crashes: 1,
            throttles: 3,
            success_rate: Some(0.88),
            starts: StartCounts {
                warm: 95,
                prewarmed: 4,
                cold: 1,
            },
            duration_ms: Distribution {
                mean: Some(50.5),
                p50: Some(50.0),
                p95: Some(95.0),
                p99: Some(99.0),
                max: Some(100.0),
            },
            init_ms_mean: Some(7.6),
            peak_memory_bytes: Some(100 * MIB),
            cpu_time_ms: Some(2525.0),
            cpu_time_ms_mean: Some(25.25),
        };
        assert_eq!(day.function.stats, expected);
        assert!(!day.function.deleted);

        // The record from 10 days ago counts only in a window that reaches it.
        let week = function(&store, Known { id: "a", name: "a" }, window("7d"))
            .await
            .unwrap();
        assert_eq!(week.function.stats, expected);
        let all = function(&store, a, window("all"))
            .await
            .unwrap()
            .function
            .stats;
        assert_eq!(all.invocations, 101);
        assert_eq!(
            all.duration_ms,
            Distribution {
                mean: Some(6050.0 / 101.0),
                p50: Some(51.0),
                p95: Some(96.0),
                p99: Some(100.0),
                max: Some(1000.0),
            }
        );

        // A window with nothing in it.
        let future = Window::parse(None, Some(Utc::now() + TimeDelta::hours(1))).unwrap();
        let empty = function(&store, Known { id: "a", name: "a" }, future)
            .await
            .unwrap()
            .function
            .stats;
        assert_eq!(empty, Stats::default());

        // u1's summary: `a`, and `gone`, which has invocations but no longer exists.
        let known = [Known { id: "a", name: "a" }];
        let summary = summary(&store, Some("u1"), &known, window("24h"))
            .await
            .unwrap();
        let names: Vec<(&str, bool)> = summary
            .functions
            .iter()
            .map(|f| (f.function.as_str(), f.deleted))
            .collect();
        assert_eq!(names, [("a", false), ("gone", true)]);
        assert_eq!(summary.functions[0].stats, expected);
        let totals = &summary.totals;
        assert_eq!((totals.invocations, totals.successes), (101, 89));
        // 1..=100 and 5: the 51st, 96th and 100th smallest.
        assert_eq!(
            (
                totals.duration_ms.p50,
                totals.duration_ms.p95,
                totals.duration_ms.p99
            ),
            (Some(50.0), Some(95.0), Some(99.0))
        );

        // Everyone's: `b` appears; the totals add up.
        let known = [Known { id: "a", name: "a" }, Known { id: "b", name: "b" }];
        let everyone = summary_of(&store, None, &known).await;
        assert_eq!(everyone.totals.invocations, 105);
        assert_eq!(everyone.totals.throttles, 3);
        let b = &everyone.functions[1].stats;
        assert_eq!(
            (b.invocations, b.duration_ms.p50, b.duration_ms.mean),
            (4, Some(20.0), Some(25.0))
        );
        assert_eq!(b.cpu_time_ms, None, "no accounting, no figure");

        // Per minute: two invocations each, the throttled three in minute 20.
        let series = time_series(&store, None, Some("a"), window("24h"))
            .await
            .unwrap();
        assert_eq!(series.points.len(), 50);
        assert_eq!(
            series.points.iter().map(|p| p.invocations).sum::<u64>(),
            100
        );
        let first = &series.points[0];
        assert_eq!(first.start, base);
        assert_eq!(
            (
                first.invocations,
                first.cold_starts,
                first.duration_ms_mean,
                first.duration_ms_max
            ),
            (2, 1, Some(1.5), Some(2.0))
        );
        assert_eq!(series.points[20].throttles, 3);
        assert_eq!(series.points[4].failures, 1, "invocation 10 failed");
        let u2 = time_series(&store, Some("u2"), None, window("24h"))
            .await
            .unwrap();
        assert_eq!(u2.points.len(), 1);
        assert_eq!(u2.points[0].invocations, 4);
    }

    /// Whether two figures agree: exactly for counts, to rounding for sums and means, within
    /// the histograms' 1% for percentiles.
    fn close(a: Option<f64>, b: Option<f64>, within: f64) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= within * a.abs().max(b.abs()) + 1e-9,
            (a, b) => a == b,
        }
    }

    fn assert_close(pruned: &Stats, exact: &Stats) {
        let counts = |s: &Stats| {
            (
                s.invocations,
                s.successes,
                s.errors,
                s.timeouts,
                s.out_of_memory,
                s.crashes,
                s.throttles,
                s.starts.clone(),
                s.peak_memory_bytes,
            )
        };
        assert_eq!(counts(pruned), counts(exact));
        let (p, e) = (&pruned.duration_ms, &exact.duration_ms);
        for (a, b, within) in [
            (p.mean, e.mean, 1e-9),
            (p.max, e.max, 0.0),
            (p.p50, e.p50, 0.01),
            (p.p95, e.p95, 0.01),
            (p.p99, e.p99, 0.01),
            (pruned.init_ms_mean, exact.init_ms_mean, 1e-9),
            (pruned.cpu_time_ms, exact.cpu_time_ms, 1e-9),
        ] {
            assert!(close(a, b, within), "{a:?} vs {b:?}\n{pruned:?}\n{exact:?}");
        }
    }

    /// Retention rolls every record up into per-minute figures and deletes it: every figure
    /// stays (percentiles within the histograms' 1%), also when some records of a minute come
    /// after it was rolled up.
    #[tokio::test]
    async fn figures_survive_pruning_into_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        known_records(&store).await;
        let figures = |store: Store| async move {
            let known = [Known { id: "a", name: "a" }, Known { id: "b", name: "b" }];
            let summary = summary(&store, None, &known, window("all")).await.unwrap();
            let a = function(&store, Known { id: "a", name: "a" }, window("7d"))
                .await
                .unwrap();
            let series = time_series(&store, Some("u1"), None, window("24h"))
                .await
                .unwrap();
            let since = Utc::now() - TimeDelta::hours(24);
            let activity = activity(&store, Some("u1"), &known[..1], window("24h"), since, 24)
                .await
                .unwrap();
            (summary, a, series, activity)
        };
        let (summary, a, series, activity) = figures(store.clone()).await;

        let now = Utc::now().timestamp_millis();
        let cutoff = store.retention_cutoff(now, 0).await.unwrap();
        assert_eq!(store.prune_invocations(cutoff).await.unwrap(), 109);
        let left = store
            .invocations(&crate::store::InvocationFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(left.is_empty(), "every record is rolled up");
        let (pruned, pruned_a, pruned_series, pruned_activity) = figures(store.clone()).await;

        assert_close(&pruned.totals, &summary.totals);
        assert_eq!(pruned.functions.len(), summary.functions.len());
        for (p, e) in pruned.functions.iter().zip(&summary.functions) {
            assert_eq!((&p.function_id, p.deleted), (&e.function_id, e.deleted));
            assert_close(&p.stats, &e.stats);
        }
        assert_close(&pruned_a.function.stats, &a.function.stats);
        assert_eq!(pruned_series.points.len(), series.points.len());
        for (p, e) in pruned_series.points.iter().zip(&series.points) {
            assert_eq!(
                (
                    p.start,
                    p.invocations,
                    p.failures,
                    p.throttles,
                    p.cold_starts
                ),
                (
                    e.start,
                    e.invocations,
                    e.failures,
                    e.throttles,
                    e.cold_starts
                )
            );
            assert!(close(p.duration_ms_p95, e.duration_ms_p95, 0.01));
        }
        // Buckets agree to the minute: a rollup counts at its minute's start, so the minute a
        // bucket starts in (two invocations) may count in the bucket before.
        let (p, e) = (&pruned_activity.functions[0], &activity.functions[0]);
        assert_eq!(
            p.invocations.iter().sum::<u64>(),
            e.invocations.iter().sum::<u64>()
        );
        assert_eq!(
            p.failures.iter().sum::<u64>(),
            e.failures.iter().sum::<u64>()
        );
        for (p, e) in p.invocations.iter().zip(&e.invocations) {
            assert!(p.abs_diff(*e) <= 2, "{p} vs {e}");
        }

        // A record of an already rolled-up minute is counted with it, and rolled up into it.
        let writer = InvocationWriter::start(store.clone());
        let first_minute = series.points[0].start;
        let mut late = Record::new("b", "u2", first_minute);
        late.duration_ms = 50.0;
        write(&writer, late).await;
        let b = function(&store, Known { id: "b", name: "b" }, window("24h"))
            .await
            .unwrap()
            .function
            .stats;
        assert_eq!((b.invocations, b.duration_ms.max), (5, Some(50.0)));
        assert_eq!(store.prune_invocations(cutoff).await.unwrap(), 1);
        let b_after = function(&store, Known { id: "b", name: "b" }, window("24h"))
            .await
            .unwrap()
            .function
            .stats;
        assert_close(&b_after, &b);

        // Rollups go in their turn.
        assert!(store.prune_rollups(now).await.unwrap() > 0);
        let gone = summary_of(&store, None, &[]).await;
        assert_eq!(gone.totals.invocations, 0);
    }

    /// Retention prunes while the invocation writer commits: no pass fails for it, and every
    /// invocation is counted once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pruning_goes_on_while_invocations_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = InvocationWriter::start(store.clone());
        let an_hour_ago = Utc::now() - TimeDelta::hours(1);
        let writing = tokio::spawn(async move {
            let mut written = 0u64;
            for batch in 0..300 {
                let records = (0..10).map(|i| {
                    let at = an_hour_ago + TimeDelta::milliseconds(batch * 10 + i);
                    write(&writer, Record::new("a", "u1", at))
                });
                futures::future::join_all(records).await;
                written += 10;
            }
            written
        });
        let cutoff = Utc::now().timestamp_millis();
        let mut pruned = 0;
        while !writing.is_finished() {
            pruned += store
                .prune_invocations(cutoff)
                .await
                .expect("a pass does not fail for a writer's commit");
        }
        let written = writing.await.unwrap();
        pruned += store.prune_invocations(cutoff).await.unwrap();
        assert_eq!(pruned, written);
        let totals = summary_of(&store, None, &[]).await.totals;
        assert_eq!(totals.invocations, written);
    }

    /// While a retention pass rolls records up chunk by chunk, every figure read meanwhile
    /// counts each invocation exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn figures_read_during_pruning_count_each_invocation_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = InvocationWriter::start(store.clone());
        let an_hour_ago = Utc::now() - TimeDelta::hours(1);
        for batch in 0..100 {
            let records = (0..100).map(|i| {
                let at = an_hour_ago + TimeDelta::milliseconds(batch * 100 + i);
                write(&writer, Record::new("a", "u1", at))
            });
            futures::future::join_all(records).await;
        }
        let pruning = tokio::spawn({
            let store = store.clone();
            async move { store.prune_invocations(Utc::now().timestamp_millis()).await }
        });
        let mut reads = 0;
        while !pruning.is_finished() || reads == 0 {
            let a = function(&store, Known { id: "a", name: "a" }, window("24h"))
                .await
                .unwrap();
            assert_eq!(a.function.stats.invocations, 10_000, "read {reads}");
            reads += 1;
        }
        assert_eq!(pruning.await.unwrap().unwrap(), 10_000);
    }

    async fn summary_of(store: &Store, owner: Option<&str>, known: &[Known<'_>]) -> Summary {
        summary(store, owner, known, window("24h")).await.unwrap()
    }
}
