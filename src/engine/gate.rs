//! Per-function concurrency: a gate admits up to a function's `max_concurrency` invocations
//! at once, lets a bounded queue wait for a while, and throttles the rest.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sync::lock;

/// Every function's gate, made on its first invocation.
pub struct Gates {
    gates: std::sync::Mutex<HashMap<Arc<str>, Arc<Gate>>>,
    /// How many invocations may wait at one gate, and for how long.
    max_queue: u32,
    queue_timeout: Duration,
    /// Invocations refused at a gate.
    pub throttled: AtomicU64,
}

impl Gates {
    pub fn new(max_queue: u32, queue_timeout: Duration) -> Self {
        Self {
            gates: std::sync::Mutex::default(),
            max_queue,
            queue_timeout,
            throttled: AtomicU64::new(0),
        }
    }

    /// Admits one invocation of a function whose concurrency is capped at `capacity`: at once if
    /// below it, after waiting in its queue otherwise, or not at all.
    pub async fn admit(
        &self,
        function_id: &Arc<str>,
        capacity: u32,
    ) -> Result<OwnedSemaphorePermit, Throttled> {
        let gate = lock(&self.gates)
            .entry(function_id.clone())
            .or_insert_with(|| Arc::new(Gate::new(capacity)))
            .clone();
        gate.resize(capacity);
        if let Ok(permit) = gate.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let refuse = || {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            Throttled(format!(
                "the function is at its concurrency limit of {capacity} and {} invocations are waiting; retry later",
                gate.waiting.load(Ordering::Relaxed)
            ))
        };
        if gate.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            gate.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(refuse());
        }
        let waited =
            tokio::time::timeout(self.queue_timeout, gate.permits.clone().acquire_owned()).await;
        gate.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(refuse()),
        }
    }

    /// Invocations of `function_id` running right now.
    pub fn running(&self, function_id: &str) -> usize {
        lock(&self.gates).get(function_id).map_or(0, |gate| {
            (gate.capacity.load(Ordering::Acquire) as usize)
                .saturating_sub(gate.permits.available_permits())
        })
    }

    /// Forgets a deleted function's gate.
    pub fn forget(&self, function_id: &str) {
        lock(&self.gates).remove(function_id);
    }

    /// Invocations waiting at every gate right now.
    pub fn waiting(&self) -> u64 {
        lock(&self.gates)
            .values()
            .map(|gate| u64::from(gate.waiting.load(Ordering::Relaxed)))
            .sum()
    }
}

/// Bounds one function's concurrency: a semaphore with its capacity and its queue.
struct Gate {
    permits: Arc<Semaphore>,
    capacity: AtomicU32,
    waiting: AtomicU32,
}

/// Why an invocation was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Throttled(pub String);

impl Gate {
    fn new(capacity: u32) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity: AtomicU32::new(capacity),
            waiting: AtomicU32::new(0),
        }
    }

    /// Makes the gate admit `capacity` at once. Invocations already running keep their permits:
    /// a lower limit takes the permits back as they return.
    fn resize(&self, capacity: u32) {
        let before = self.capacity.swap(capacity, Ordering::AcqRel);
        if capacity > before {
            self.permits.add_permits((capacity - before) as usize);
        } else if capacity < before {
            let surplus = (before - capacity) as usize;
            let taken = self.permits.forget_permits(surplus);
            if taken < surplus {
                let permits = self.permits.clone();
                tokio::spawn(async move {
                    if let Ok(returned) = permits.acquire_many_owned((surplus - taken) as u32).await
                    {
                        returned.forget();
                    }
                });
            }
        }
    }
}
