//! `/metrics/system`: the state of the pool and of the host.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use crate::engine::PoolSnapshot;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics/system", get(system))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SystemMetrics {
    pub pool: PoolSnapshot,
    pub host: Host,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Host {
    pub cpus: usize,
    /// 1, 5 and 15 minute load averages.
    pub load_average: [f64; 3],
    pub memory_total_mb: u64,
    pub memory_available_mb: u64,
}

impl Host {
    fn read() -> Self {
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
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average: [(); 3].map(|()| load.next().unwrap_or(0.0)),
            memory_total_mb: field("MemTotal:"),
            memory_available_mb: field("MemAvailable:"),
        }
    }
}

/// Instances by state, runtime and language; starts by kind; memory reserved; queue length;
/// the host's CPU and memory.
#[utoipa::path(get, path = "/metrics/system", tag = "system", responses((status = 200, body = SystemMetrics)))]
pub async fn system(State(state): State<AppState>) -> Json<SystemMetrics> {
    Json(SystemMetrics {
        pool: state.engine.pool(),
        host: Host::read(),
    })
}
