//! Concurrency: a gate admits up to a function's `max_concurrency` invocations at once, lets a
//! bounded queue wait for a while, and throttles the rest. Each user has a gate of their own too,
//! at their `concurrency` quota, which an invocation passes before its function's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sync::lock;

/// Every function's gate, made on its first invocation.
pub struct Gates {
    gates: std::sync::Mutex<GateMaps>,
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

    /// Admits one invocation of a function of `owner`: past the owner's gate (at their
    /// `concurrency` quota), then the function's (at `capacity`) — at once if below the cap,
    /// after waiting in the gate's queue otherwise, or not at all.
    pub async fn admit(
        &self,
        function_id: &str,
        capacity: u32,
        owner: &str,
        owner_capacity: u32,
    ) -> Result<Admitted, Throttled> {
        let (owner_gate, function_gate) = {
            let mut gates = lock(&self.gates);
            (
                gate(&mut gates.owners, owner, owner_capacity),
                gate(&mut gates.functions, function_id, capacity),
            )
        };
        let owner_permit = self.pass(&owner_gate, owner_capacity, |running, waiting| {
            Throttled::quota(
                "concurrency",
                format!(
                    "this function's owner has {running} invocations running, their quota, and {waiting} waiting; retry later"
                ),
            )
        });
        let owner_permit = owner_permit.await?;
        let function_permit = self
            .pass(&function_gate, capacity, |_, waiting| {
                Throttled::new(format!(
                    "the function is at its concurrency limit of {capacity} and {waiting} invocations are waiting; retry later"
                ))
            })
            .await?;
        Ok(Admitted {
            _owner: owner_permit,
            _function: function_permit,
        })
    }

    /// Passes one gate resized to `capacity`, or says why not with `refusal(running, waiting)`.
    async fn pass(
        &self,
        gate: &Gate,
        capacity: u32,
        refusal: impl Fn(u32, u32) -> Throttled,
    ) -> Result<OwnedSemaphorePermit, Throttled> {
        gate.resize(capacity);
        if let Ok(permit) = gate.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let refuse = || {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            refusal(capacity, gate.waiting.load(Ordering::Relaxed))
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
        lock(&self.gates)
            .functions
            .get(function_id)
            .map_or(0, |gate| {
                (gate.capacity.load(Ordering::Acquire) as usize)
                    .saturating_sub(gate.permits.available_permits())
            })
    }

    /// Forgets a deleted function's gate.
    pub fn forget(&self, function_id: &str) {
        lock(&self.gates).functions.remove(function_id);
    }

    /// Invocations of `owner`'s functions waiting at their gate right now (those waiting at a
    /// function's own gate are not told apart by owner).
    pub fn waiting_for(&self, owner: &str) -> u64 {
        lock(&self.gates)
            .owners
            .get(owner)
            .map_or(0, |gate| u64::from(gate.waiting.load(Ordering::Relaxed)))
    }

    /// Invocations waiting at every gate right now.
    pub fn waiting(&self) -> u64 {
        let gates = lock(&self.gates);
        (gates.functions.values().chain(gates.owners.values()))
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

/// An invocation's passes through its owner's gate and its function's, held while it runs.
pub struct Admitted {
    _owner: OwnedSemaphorePermit,
    _function: OwnedSemaphorePermit,
}

/// Every gate, by function id and by user id.
#[derive(Default)]
struct GateMaps {
    functions: HashMap<Arc<str>, Arc<Gate>>,
    owners: HashMap<Arc<str>, Arc<Gate>>,
}

/// The gate for `id`, made at `capacity` if it is new. Looked up before it is made, so that an
/// invocation allocates nothing once its gates exist.
fn gate(gates: &mut HashMap<Arc<str>, Arc<Gate>>, id: &str, capacity: u32) -> Arc<Gate> {
    if let Some(gate) = gates.get(id) {
        return gate.clone();
    }
    gates
        .entry(id.into())
        .or_insert_with(|| Arc::new(Gate::new(capacity)))
        .clone()
}

/// Why an invocation was refused for lack of capacity.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Throttled {
    pub message: String,
    /// The owner's quota it ran into, when it was one (`concurrency`, `memory_mb`).
    pub quota: Option<&'static str>,
}

impl Throttled {
    pub fn new(message: String) -> Self {
        Self {
            message,
            quota: None,
        }
    }

    pub fn quota(quota: &'static str, message: String) -> Self {
        Self {
            message,
            quota: Some(quota),
        }
    }
}

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
