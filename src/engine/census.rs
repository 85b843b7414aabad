//! What the pool reports: instances by state, runtime and language (busy and starting ones are
//! counted by [`Mark`]s, for as long as they live), and what the pool did.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use crate::model::{Language, RuntimeKind};

/// A kind of generic instance.
pub type Species = (RuntimeKind, Language);

/// How many instances are in each state, per runtime and language, and what the pool did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PoolSnapshot {
    /// Whether this is one user's view: their own instances only (busy and starting counted
    /// as busy), the memory their instances reserve, their invocations waiting; the counters of
    /// what the pool did are administrators' and are zero here.
    pub own: bool,
    pub instances: Vec<InstanceCount>,
    pub total_instances: usize,
    pub max_instances: usize,
    pub memory_reserved_mb: u64,
    pub memory_budget_mb: u64,
    /// Invocations waiting for a free slot right now.
    pub queue_length: u64,
    pub starts: StartCounts,
    /// Warm starts over all starts.
    pub hit_rate: f64,
    pub throttled: u64,
    /// Idle instances removed to make room.
    pub evicted: u64,
    /// Idle instances retired after their keep-alive.
    pub expired: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstanceCount {
    pub runtime: RuntimeKind,
    pub language: Language,
    /// `idle` (specialised, waiting for its function), `prewarmed` (generic), `busy`, `starting`.
    pub state: &'static str,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StartCounts {
    pub warm: u64,
    pub prewarmed: u64,
    pub cold: u64,
}

/// Per species, how many instances are busy and how many are starting.
#[derive(Default)]
pub struct Census {
    pub busy: [AtomicUsize; SPECIES],
    pub starting: [AtomicUsize; SPECIES],
}

pub const SPECIES: usize = RuntimeKind::ALL.len() * Language::ALL.len();

pub fn species_index((runtime, language): Species) -> usize {
    runtime as usize * Language::ALL.len() + language as usize
}

pub fn species_at(index: usize) -> Species {
    (
        RuntimeKind::ALL[index / Language::ALL.len()],
        Language::ALL[index % Language::ALL.len()],
    )
}

/// Counts an instance as busy or starting for as long as it lives.
pub struct Mark {
    pub(super) census: Arc<Census>,
    pub(super) index: usize,
    pub(super) starting: bool,
}

impl Drop for Mark {
    fn drop(&mut self) {
        let counts = if self.starting {
            &self.census.starting
        } else {
            &self.census.busy
        };
        counts[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Counters {
    pub warm: AtomicU64,
    pub prewarmed: AtomicU64,
    pub cold: AtomicU64,
    pub throttled: AtomicU64,
    pub evicted: AtomicU64,
    pub expired: AtomicU64,
}
