//! The pool of instances: generic ones started ahead of need (OpenWhisk's stem cells) and idle
//! specialised ones kept for their function version — within the [`Ledger`]'s bounds, evicting
//! the least recently used to make room — and the per-function [`Gates`].
//!
//! An idle specialised instance is only ever handed to invocations of the exact version and
//! runtime it loaded; an instance that failed in any way never comes back here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::census::{
    Census, Counters, InstanceCount, Mark, PoolSnapshot, SPECIES, Species, StartCounts, species_at,
    species_index,
};
use super::gate::{Gates, Throttled};
use super::instance::Instance;
use super::ledger::{Ledger, Slot};
use super::limits::PoolLimits;
use crate::model::{RuntimeKind, StartKind, VersionKey};
use crate::sync::lock;

/// What an idle specialised instance can serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub version: VersionKey,
    pub runtime: RuntimeKind,
}

/// An idle specialised instance.
struct Idle {
    instance: Instance,
    keep_alive: Duration,
    /// The function's provisioned concurrency: this many idle instances of its version are kept.
    min_warm: u32,
}

#[derive(Default)]
struct State {
    specialised: HashMap<PoolKey, Vec<Idle>>,
    generic: HashMap<Species, Vec<Instance>>,
}

pub struct Pool {
    pub limits: PoolLimits,
    ledger: Arc<Ledger>,
    state: Mutex<State>,
    /// Each function's concurrency gate.
    pub gates: Gates,
    census: Arc<Census>,
    counters: Counters,
    /// Wakes the maintainer: a generic instance was taken, or something changed.
    pub wake: Notify,
    /// Wakes the freezing task: an instance was put back idle.
    pub unfrozen: Notify,
    /// Where instance kills run, so that shutdown can wait for them.
    tasks: TaskTracker,
}

impl Pool {
    pub fn new(limits: PoolLimits, tasks: TaskTracker) -> Self {
        Self {
            ledger: Arc::new(Ledger {
                instances: AtomicUsize::new(0),
                reserved_mb: AtomicU64::new(0),
                max_instances: limits.max_instances,
                budget_mb: limits.memory_budget_mb,
                freed: Notify::new(),
            }),
            gates: Gates::new(limits.max_queue, limits.queue_timeout),
            limits,
            state: Mutex::default(),
            census: Arc::default(),
            counters: Counters::default(),
            wake: Notify::new(),
            unfrozen: Notify::new(),
            tasks,
        }
    }

    /// The most recently used live idle instance for `key`, thawed.
    pub fn take_warm(&self, key: &PoolKey) -> Option<Instance> {
        loop {
            let found = {
                let mut state = lock(&self.state);
                let idle = state.specialised.get_mut(key)?;
                let found = self.pop_alive(idle, |idle| idle.instance);
                if idle.is_empty() {
                    state.specialised.remove(key);
                }
                found
            };
            if let Some(instance) = self.woken(found?) {
                return Some(instance);
            }
        }
    }

    /// Takes the last (most recently used) entry whose instance is alive; kills dead ones met on
    /// the way.
    fn pop_alive<T>(
        &self,
        entries: &mut Vec<T>,
        instance: impl Fn(T) -> Instance,
    ) -> Option<Instance> {
        while let Some(entry) = entries.pop() {
            let mut found = instance(entry);
            if found.is_alive() {
                return Some(found);
            }
            self.discard(found);
        }
        None
    }

    /// The instance thawed, or `None` (and killed) when it cannot be.
    fn woken(&self, mut instance: Instance) -> Option<Instance> {
        match instance.wake() {
            Ok(()) => Some(instance),
            Err(e) => {
                tracing::warn!(instance = instance.id, error = %e, "cannot thaw an idle instance; killing it");
                self.discard(instance);
                None
            }
        }
    }

    /// A live generic instance of `species`, booked at `memory_mb` (room is made by evicting
    /// idle instances if needed) and thawed; `None` when there is none or no room for it. The
    /// caller wakes the maintainer to replace it once it has specialised it: starting the
    /// replacement at once would compete with that for the CPU.
    pub fn take_generic(&self, species: Species, memory_mb: u32) -> Option<Instance> {
        let found = {
            let mut state = lock(&self.state);
            let generic = state.generic.get_mut(&species)?;
            self.pop_alive(generic, |instance| instance)
        };
        let mut instance = found?;
        while !self.ledger.try_grow(instance.slot.memory_mb, memory_mb) {
            if !self.could_make_room(memory_mb - instance.slot.memory_mb.min(memory_mb), false)
                || !self.evict_one()
            {
                self.put_generic(instance);
                return None;
            }
        }
        instance.slot.memory_mb = memory_mb;
        self.woken(instance)
    }

    /// Books room for a new instance of `memory_mb`, evicting idle instances if needed, and
    /// waiting up to the queue timeout for instances to finish when all are busy.
    pub async fn book(&self, memory_mb: u32) -> Result<Slot, Throttled> {
        let deadline = Instant::now() + self.limits.queue_timeout;
        loop {
            let freed = self.ledger.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.try_book(memory_mb, true) {
                return Ok(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                return Err(Throttled(format!(
                    "every instance slot is busy ({} instances, {} of {} MB reserved); retry later",
                    self.ledger.instances.load(Ordering::Relaxed),
                    self.ledger.reserved_mb.load(Ordering::Relaxed),
                    self.ledger.budget_mb
                )));
            }
        }
    }

    /// Books room for a new instance now, evicting idle instances first if `evict` — but only
    /// when evicting would make enough room.
    pub fn try_book(&self, memory_mb: u32, evict: bool) -> Option<Slot> {
        loop {
            if self.ledger.try_book(memory_mb) {
                return Some(Slot {
                    ledger: self.ledger.clone(),
                    memory_mb,
                    released: false,
                });
            }
            if !evict || !self.could_make_room(memory_mb, true) || !self.evict_one() {
                return None;
            }
        }
    }

    /// Whether evicting every idle instance that may go would leave room for `memory_mb` more
    /// (and, with `new_instance`, for one more instance).
    fn could_make_room(&self, memory_mb: u32, new_instance: bool) -> bool {
        let (mut count, mut reclaimable_mb) = (0, 0);
        {
            let state = lock(&self.state);
            for idle in state.specialised.values() {
                let keep = idle.first().map_or(0, |i| i.min_warm as usize);
                for entry in idle.iter().take(idle.len().saturating_sub(keep)) {
                    count += 1;
                    reclaimable_mb += u64::from(entry.instance.slot.memory_mb);
                }
            }
            for instance in state.generic.values().flatten() {
                count += 1;
                reclaimable_mb += u64::from(instance.slot.memory_mb);
            }
        }
        let instances = self.ledger.instances.load(Ordering::Acquire);
        let reserved = self.ledger.reserved_mb.load(Ordering::Acquire);
        let memory_ok =
            reserved.saturating_sub(reclaimable_mb) + u64::from(memory_mb) <= self.ledger.budget_mb;
        let instance_ok =
            !new_instance || instances.saturating_sub(count) < self.ledger.max_instances;
        memory_ok && instance_ok
    }

    /// Kills the least recently used idle instance that may go; false when there is none.
    fn evict_one(&self) -> bool {
        let victim = {
            let mut state = lock(&self.state);
            let oldest_specialised = state
                .specialised
                .iter()
                .filter_map(|(key, idle)| {
                    let oldest = idle.first()?;
                    (idle.len() > oldest.min_warm as usize)
                        .then(|| (oldest.instance.last_used, Some(key.clone()), None))
                })
                .min_by_key(|(used, ..)| *used);
            let oldest_generic = state
                .generic
                .iter()
                .filter_map(|(species, instances)| {
                    Some((instances.first()?.last_used, None, Some(*species)))
                })
                .min_by_key(|(used, ..)| *used);
            match [oldest_specialised, oldest_generic]
                .into_iter()
                .flatten()
                .min_by_key(|(used, ..)| *used)
            {
                Some((_, Some(key), _)) => {
                    let idle = state.specialised.get_mut(&key);
                    let victim = idle.map(|idle| (idle.remove(0).instance, idle.is_empty()));
                    if let Some((_, true)) = victim {
                        state.specialised.remove(&key);
                    }
                    victim.map(|(instance, _)| instance)
                }
                Some((_, None, Some(species))) => state
                    .generic
                    .get_mut(&species)
                    .map(|generic| generic.remove(0)),
                _ => None,
            }
        };
        match victim {
            Some(instance) => {
                self.counters.evicted.fetch_add(1, Ordering::Relaxed);
                self.discard(instance);
                true
            }
            None => false,
        }
    }

    /// Keeps a healthy specialised instance for the next invocation of `key`.
    pub fn put_idle(
        &self,
        key: PoolKey,
        mut instance: Instance,
        keep_alive: Duration,
        min_warm: u32,
    ) {
        instance.last_used = Instant::now();
        lock(&self.state)
            .specialised
            .entry(key)
            .or_default()
            .push(Idle {
                instance,
                keep_alive,
                min_warm,
            });
        // An idle instance can be evicted: invocations waiting for room may proceed.
        self.ledger.freed.notify_waiters();
        self.unfrozen.notify_one();
    }

    /// Freezes every idle instance that has waited at least `idle_for`, and kills those that
    /// cannot be frozen. Returns whether some wait unfrozen still (they have not waited long
    /// enough yet). Off the invoke path: the freezing task calls it.
    pub fn freeze_idle(&self, idle_for: Duration) -> bool {
        let mut unfreezable = Vec::new();
        let mut waiting = false;
        {
            let mut state = lock(&self.state);
            for idle in state.specialised.values_mut() {
                let mut index = 0;
                while index < idle.len() {
                    let instance = &mut idle[index].instance;
                    if instance.is_frozen() {
                        index += 1;
                    } else if instance.last_used.elapsed() < idle_for {
                        waiting = true;
                        index += 1;
                    } else if let Err(e) = instance.freeze() {
                        tracing::warn!(instance = instance.id, error = %e, "cannot freeze an idle instance; killing it");
                        unfreezable.push(idle.remove(index).instance);
                    } else {
                        index += 1;
                    }
                }
            }
            state.specialised.retain(|_, idle| !idle.is_empty());
        }
        self.discard_all(unfreezable);
        waiting
    }

    /// Adds a started generic instance, frozen until it is taken.
    pub fn put_generic(&self, mut instance: Instance) {
        if let Err(e) = instance.freeze() {
            tracing::warn!(instance = instance.id, error = %e, "cannot freeze a generic instance; killing it");
            self.discard(instance);
            return;
        }
        let species = (instance.runtime, instance.language);
        lock(&self.state)
            .generic
            .entry(species)
            .or_default()
            .push(instance);
        self.ledger.freed.notify_waiters();
    }

    /// Kills an instance. Its slot is given back at once, so that room made by evicting it is
    /// there for the caller.
    pub fn discard(&self, mut instance: Instance) {
        instance.slot.release();
        self.tasks.spawn(instance.kill());
    }

    fn discard_all(&self, instances: Vec<Instance>) {
        for instance in instances {
            self.discard(instance);
        }
    }

    /// Kills the idle instances of a function (every version), e.g. after an update.
    pub fn retire(&self, function_id: &str) {
        let retired: Vec<Instance> = {
            let mut state = lock(&self.state);
            let keys: Vec<PoolKey> = state
                .specialised
                .keys()
                .filter(|key| &*key.version.function_id == function_id)
                .cloned()
                .collect();
            keys.iter()
                .filter_map(|key| state.specialised.remove(key))
                .flatten()
                .map(|idle| idle.instance)
                .collect()
        };
        self.discard_all(retired);
    }

    /// Kills idle instances past their keep-alive (beyond their function's `min_warm`), idle
    /// instances of versions that are no longer current (one may come back from an invocation
    /// just after its function changed), and idle or generic instances that died — also those
    /// killed while frozen, which die only once thawed.
    pub fn reap(&self, is_current: impl Fn(&VersionKey) -> bool) {
        let now = Instant::now();
        let mut gone = Vec::new();
        let mut expired = 0;
        {
            let mut state = lock(&self.state);
            state.specialised.retain(|key, idle| {
                let current = is_current(&key.version);
                if !current {
                    gone.extend(idle.drain(..).map(|idle| idle.instance));
                }
                current
            });
            for idle in state.specialised.values_mut() {
                let keep = idle.first().map_or(0, |i| i.min_warm as usize);
                // Most recently used last: the oldest beyond `keep` may expire.
                let mut index = 0;
                while index < idle.len() {
                    let beyond_min_warm = idle.len() > keep;
                    let entry = &mut idle[index];
                    let expires = beyond_min_warm
                        && now.duration_since(entry.instance.last_used) >= entry.keep_alive;
                    if expires || !entry.instance.is_alive() || entry.instance.killed_while_frozen()
                    {
                        expired += usize::from(expires);
                        gone.push(idle.remove(index).instance);
                    } else {
                        index += 1;
                    }
                }
            }
            state.specialised.retain(|_, idle| !idle.is_empty());
            for generic in state.generic.values_mut() {
                let mut index = 0;
                while index < generic.len() {
                    if generic[index].is_alive() && !generic[index].killed_while_frozen() {
                        index += 1;
                    } else {
                        gone.push(generic.remove(index));
                    }
                }
            }
        }
        self.counters
            .expired
            .fetch_add(expired as u64, Ordering::Relaxed);
        if !gone.is_empty() {
            self.wake.notify_one();
        }
        self.discard_all(gone);
    }

    /// Generic instances of `species` ready or on their way.
    pub fn generic_count(&self, species: Species) -> usize {
        let ready = lock(&self.state).generic.get(&species).map_or(0, Vec::len);
        ready + self.census.starting[species_index(species)].load(Ordering::Relaxed)
    }

    /// Specialised instances of `key`, idle or running an invocation of its function.
    pub fn specialised_count(&self, key: &PoolKey) -> usize {
        let idle = lock(&self.state).specialised.get(key).map_or(0, Vec::len);
        idle + self.gates.running(&key.version.function_id)
    }

    /// Counts an instance of `species` as busy until the mark is dropped.
    pub fn mark_busy(&self, species: Species) -> Mark {
        self.mark(species, false)
    }

    /// Counts an instance of `species` as starting until the mark is dropped.
    pub fn mark_starting(&self, species: Species) -> Mark {
        self.mark(species, true)
    }

    fn mark(&self, species: Species, starting: bool) -> Mark {
        let index = species_index(species);
        let counts = if starting {
            &self.census.starting
        } else {
            &self.census.busy
        };
        counts[index].fetch_add(1, Ordering::Relaxed);
        Mark {
            census: self.census.clone(),
            index,
            starting,
        }
    }

    pub fn count_start(&self, kind: StartKind) {
        let counter = match kind {
            StartKind::Warm => &self.counters.warm,
            StartKind::Prewarmed => &self.counters.prewarmed,
            StartKind::Cold => &self.counters.cold,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every instance still in the pool, for shutdown.
    pub fn drain(&self) -> Vec<Instance> {
        let mut state = lock(&self.state);
        let mut instances: Vec<Instance> = state
            .specialised
            .drain()
            .flat_map(|(_, idle)| idle)
            .map(|idle| idle.instance)
            .collect();
        instances.extend(state.generic.drain().flat_map(|(_, generic)| generic));
        instances
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let mut counts: HashMap<(Species, &'static str), usize> = HashMap::new();
        {
            let state = lock(&self.state);
            for (key, idle) in &state.specialised {
                for entry in idle {
                    *counts
                        .entry(((key.runtime, entry.instance.language), "idle"))
                        .or_default() += 1;
                }
            }
            for (species, generic) in &state.generic {
                *counts.entry((*species, "prewarmed")).or_default() += generic.len();
            }
        }
        for index in 0..SPECIES {
            let species = species_at(index);
            *counts.entry((species, "busy")).or_default() +=
                self.census.busy[index].load(Ordering::Relaxed);
            *counts.entry((species, "starting")).or_default() +=
                self.census.starting[index].load(Ordering::Relaxed);
        }
        let mut instances: Vec<InstanceCount> = counts
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(((runtime, language), state), count)| InstanceCount {
                runtime,
                language,
                state,
                count,
            })
            .collect();
        instances.sort_by_key(|c| (c.runtime, c.language, c.state));
        let queue_length = self.gates.waiting();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let starts = StartCounts {
            warm: load(&self.counters.warm),
            prewarmed: load(&self.counters.prewarmed),
            cold: load(&self.counters.cold),
        };
        let all_starts = starts.warm + starts.prewarmed + starts.cold;
        PoolSnapshot {
            instances,
            total_instances: self.ledger.instances.load(Ordering::Relaxed),
            max_instances: self.ledger.max_instances,
            memory_reserved_mb: self.ledger.reserved_mb.load(Ordering::Relaxed),
            memory_budget_mb: self.ledger.budget_mb,
            queue_length,
            hit_rate: if all_starts == 0 {
                0.0
            } else {
                starts.warm as f64 / all_starts as f64
            },
            starts,
            throttled: load(&self.counters.throttled) + load(&self.gates.throttled),
            evicted: load(&self.counters.evicted),
            expired: load(&self.counters.expired),
        }
    }
}
