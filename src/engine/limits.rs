//! The pool's limits, resolved from the settings: how many instances, how much memory, how
//! long they wait, and what each instance may use.

use std::time::Duration;

use crate::config::{InstanceConfig, PoolConfig};
use crate::runtimes::InstanceLimits;

/// The pool's limits, resolved from the settings.
#[derive(Debug, Clone)]
pub struct PoolLimits {
    pub prewarm: u32,
    pub keep_alive: Duration,
    pub max_instances: usize,
    pub memory_budget_mb: u64,
    pub max_concurrency: u32,
    pub queue_timeout: Duration,
    pub max_queue: u32,
    /// The memory limit generic instances start with, before they learn their function's.
    pub generic_memory_mb: u32,
    /// Every instance's other limits.
    pub instance: InstanceConfig,
}

impl PoolLimits {
    pub fn new(config: &PoolConfig, instance: InstanceConfig, generic_memory_mb: u32) -> Self {
        let memory_budget_mb = if config.memory_budget_mb > 0 {
            config.memory_budget_mb
        } else {
            host_memory_mb() / 2
        };
        Self {
            prewarm: config.prewarm,
            keep_alive: Duration::from_secs(config.keep_alive_secs.into()),
            max_instances: config.max_instances as usize,
            memory_budget_mb,
            max_concurrency: config.max_concurrency,
            queue_timeout: Duration::from_millis(config.queue_timeout_ms),
            max_queue: config.max_queue,
            generic_memory_mb,
            instance,
        }
    }

    /// The limits of an instance booked at `memory_mb`.
    pub fn instance(&self, memory_mb: u32) -> InstanceLimits {
        InstanceLimits {
            memory_mb,
            pids_max: self.instance.pids_max,
            cpus: self.instance.cpus,
            tmp_size_mb: self.instance.tmp_size_mb,
        }
    }
}

fn host_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kib| kib / 1024)
}
