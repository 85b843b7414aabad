//! `GET /metrics`: the Prometheus text exposition (format 0.0.4), made by the `prometheus-client`
//! crate. The [`Recorder`] counts every recorded invocation as it happens; the pool's state is
//! read at each scrape.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::{Observer, PoolSnapshot};
use crate::model::{Invocation, Language, RuntimeKind, StartKind};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    function: String,
    function_id: String,
    runtime: &'static str,
    status: &'static str,
    /// `none` for invocations that never ran (throttled).
    start: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    function: String,
    function_id: String,
    runtime: &'static str,
    start: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UsageLabels {
    function: String,
    function_id: String,
    runtime: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InitLabels {
    runtime: &'static str,
    start: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The live counters and histograms of invocations.
#[derive(Debug)]
pub struct Recorder {
    invocations: Family<InvocationLabels, Counter>,
    duration: Histograms<RunLabels>,
    init: Histograms<InitLabels>,
    cpu: Family<UsageLabels, Counter<f64>>,
    peak_memory: Histograms<UsageLabels>,
}

/// 100 µs to 15 minutes: warm invocations take a fraction of a millisecond, the longest timeout
/// is 900 s.
fn seconds_buckets() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    ])
}

/// 4 MiB to 16 GiB, doubling.
fn bytes_buckets() -> Histogram {
    Histogram::new(exponential_buckets(4.0 * 1024.0 * 1024.0, 2.0, 13))
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            invocations: Family::default(),
            duration: Family::new_with_constructor(seconds_buckets),
            init: Family::new_with_constructor(seconds_buckets),
            cpu: Family::default(),
            peak_memory: Family::new_with_constructor(bytes_buckets),
        }
    }
}

impl Observer for Recorder {
    /// Counts one recorded invocation.
    fn invoked(&self, invocation: &Invocation) {
        let function = || invocation.function_name.clone();
        let function_id = || invocation.function_id.to_string();
        let runtime = invocation.runtime.as_str();
        let start = invocation.start.map_or("none", StartKind::as_str);
        self.invocations
            .get_or_create(&InvocationLabels {
                function: function(),
                function_id: function_id(),
                runtime,
                status: invocation.status.as_str(),
                start,
            })
            .inc();
        if invocation.start.is_none() {
            return;
        }
        self.duration
            .get_or_create(&RunLabels {
                function: function(),
                function_id: function_id(),
                runtime,
                start,
            })
            .observe(invocation.duration_ms / 1000.0);
        if let Some(init_ms) = invocation.init_ms {
            self.init
                .get_or_create(&InitLabels { runtime, start })
                .observe(init_ms / 1000.0);
        }
        if invocation.cpu_time_ms.is_none() && invocation.peak_memory_bytes.is_none() {
            return;
        }
        let usage = UsageLabels {
            function: function(),
            function_id: function_id(),
            runtime,
        };
        if let Some(cpu_ms) = invocation.cpu_time_ms {
            self.cpu.get_or_create(&usage).inc_by(cpu_ms / 1000.0);
        }
        if let Some(bytes) = invocation.peak_memory_bytes {
            self.peak_memory.get_or_create(&usage).observe(bytes as f64);
        }
    }
}

/// Everything `GET /metrics` shows.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// The exposition of `recorder`'s series and of the pool's state, which `pool` reads at
    /// each scrape.
    pub fn new(
        recorder: &Recorder,
        pool: impl Fn() -> PoolSnapshot + Send + Sync + 'static,
    ) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "kindling_invocations",
            "Invocations recorded, by function, runtime, status and start kind",
            recorder.invocations.clone(),
        );
        registry.register(
            "kindling_invocation_duration_seconds",
            "Time running the handler, of invocations that ran",
            recorder.duration.clone(),
        );
        registry.register(
            "kindling_instance_init_seconds",
            "Time to start and specialise an instance, for cold and prewarmed starts",
            recorder.init.clone(),
        );
        registry.register(
            "kindling_invocation_cpu_seconds",
            "CPU time used by invocations (cgroup accounting)",
            recorder.cpu.clone(),
        );
        registry.register(
            "kindling_invocation_peak_memory_bytes",
            "The most memory one invocation used (cgroup accounting)",
            recorder.peak_memory.clone(),
        );
        registry.register_collector(Box::new(PoolCollector(Box::new(pool))));
        Self { registry }
    }

    /// The exposition, in the Prometheus text format.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The pool's state, read at each scrape.
struct PoolCollector(Box<dyn Fn() -> PoolSnapshot + Send + Sync>);

impl fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PoolCollector")
    }
}

/// The instance states a pool snapshot reports.
const INSTANCE_STATES: [&str; 4] = ["idle", "prewarmed", "busy", "starting"];

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let pool: PoolSnapshot = (self.0)();
        {
            let mut family = encoder.encode_descriptor(
                "kindling_instances",
                "Instances by runtime, language and state",
                None,
                MetricType::Gauge,
            )?;
            // Every combination, zeros included, so that series do not vanish.
            for runtime in RuntimeKind::ALL {
                for language in Language::ALL {
                    for state in INSTANCE_STATES {
                        let count = pool
                            .instances
                            .iter()
                            .filter(|c| {
                                c.runtime == runtime && c.language == language && c.state == state
                            })
                            .map(|c| c.count)
                            .sum::<usize>();
                        let labels = [
                            ("runtime", runtime.as_str()),
                            ("language", language.as_str()),
                            ("state", state),
                        ];
                        ConstGauge::new(count as i64).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "kindling_pool_starts",
                "Instances handed to invocations, by start kind",
                None,
                MetricType::Counter,
            )?;
            for (start, count) in [
                ("warm", pool.starts.warm),
                ("prewarmed", pool.starts.prewarmed),
                ("cold", pool.starts.cold),
            ] {
                ConstCounter::new(count).encode(family.encode_family(&[("start", start)])?)?;
            }
        }
        let gauges: [(&str, &str, f64); 6] = [
            (
                "kindling_pool_instances",
                "Instances alive, every state counted",
                pool.total_instances as f64,
            ),
            (
                "kindling_pool_max_instances",
                "Most instances allowed at once",
                pool.max_instances as f64,
            ),
            (
                "kindling_pool_memory_reserved_bytes",
                "Memory reserved by instances (the sum of their limits)",
                (pool.memory_reserved_mb * 1024 * 1024) as f64,
            ),
            (
                "kindling_pool_memory_budget_bytes",
                "Most memory instances may reserve",
                (pool.memory_budget_mb * 1024 * 1024) as f64,
            ),
            (
                "kindling_queue_length",
                "Invocations waiting for a free slot",
                pool.queue_length as f64,
            ),
            (
                "kindling_pool_hit_ratio",
                "Warm starts over all starts",
                pool.hit_rate,
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        let counters: [(&str, &str, u64); 3] = [
            (
                "kindling_pool_throttles",
                "Invocations refused for lack of capacity",
                pool.throttled,
            ),
            (
                "kindling_pool_evictions",
                "Idle instances removed to make room",
                pool.evicted,
            ),
            (
                "kindling_pool_expirations",
                "Idle instances retired after their keep-alive",
                pool.expired,
            ),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        Ok(())
    }
}
