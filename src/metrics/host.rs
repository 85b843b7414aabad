//! The host's CPU and memory, from `/proc`.

use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Host {
    pub cpus: usize,
    /// Share of all CPUs' time spent busy since the previous reading (the first reading: since
    /// boot), in percent.
    pub cpu_usage_percent: Option<f64>,
    /// 1, 5 and 15 minute load averages.
    pub load_average: [f64; 3],
    pub memory_total_mb: u64,
    pub memory_available_mb: u64,
}

/// Cumulative CPU time of the host, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

/// Reads the host's state, remembering the last CPU reading to report usage in between.
#[derive(Debug, Default)]
pub struct HostSampler {
    previous: Mutex<Option<CpuTimes>>,
}

impl HostSampler {
    pub fn read(&self) -> Host {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |name: &str| {
            meminfo
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024)
        };
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let mut load = loadavg.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
        Host {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_usage_percent: self.cpu_usage(),
            load_average: [(); 3].map(|()| load.next().unwrap_or(0.0)),
            memory_total_mb: field("MemTotal:"),
            memory_available_mb: field("MemAvailable:"),
        }
    }

    fn cpu_usage(&self) -> Option<f64> {
        let now = cpu_times(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let mut previous = crate::sync::lock(&self.previous);
        let since = previous
            .replace(now)
            .unwrap_or(CpuTimes { busy: 0, total: 0 });
        let total = now.total.checked_sub(since.total)?;
        let busy = now.busy.saturating_sub(since.busy);
        (total > 0).then(|| busy as f64 * 100.0 / total as f64)
    }
}

/// The host's line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal …`.
fn cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_times() {
        let times = cpu_times("cpu  10 0 5 80 5 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!((times.busy, times.total), (15, 100));
        assert!(cpu_times("intr 1 2\n").is_none());
    }

    #[test]
    fn reports_usage_between_readings() {
        let sampler = HostSampler::default();
        let host = sampler.read();
        assert!(host.memory_total_mb > 0);
        let usage = sampler.read().cpu_usage_percent;
        assert!(
            usage.is_none_or(|usage| (0.0..=100.0).contains(&usage)),
            "{usage:?}"
        );
    }
}
