//! The pool of instances: generic ones started ahead of need (OpenWhisk's stem cells) and idle
//! specialised ones kept for their function version — within the [`Ledger`]'s bounds, evicting
//! the least recently used to make room — and the per-function [`Gates`].
//!
//! An idle specialised instance is only ever handed to invocations of the exact version and
//! runtime it loaded; an instance that failed in any way never comes back here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
use super::ledger::{Holding, Ledger, Shortfall, Slot, Tenant};
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

impl State {
    /// Takes the idle and generic instances with these ids out of the pool.
    fn remove(&mut self, ids: &[u64]) -> Vec<Instance> {
        let mut removed = Vec::new();
        for idle in self.specialised.values_mut() {
            let mut index = 0;
            while index < idle.len() {
                if ids.contains(&idle[index].instance.id) {
                    removed.push(idle.remove(index).instance);
                } else {
                    index += 1;
                }
            }
        }
        self.specialised.retain(|_, idle| !idle.is_empty());
        for generic in self.generic.values_mut() {
            let mut index = 0;
            while index < generic.len() {
                if ids.contains(&generic[index].id) {
                    removed.push(generic.remove(index));
                } else {
                    index += 1;
                }
            }
        }
        removed
    }
}

/// How often booking makes room and tries again before it gives up (others may take the room
/// made in between).
const ROOM_ATTEMPTS: usize = 4;

/// What a booking is short of: memory and an instance in the pool, memory within the
/// requester's quota.
struct Need {
    pool_mb: u64,
    instances: usize,
    quota_mb: u64,
    requester: Option<Arc<str>>,
}

impl Need {
    /// What booking `memory_mb` more (and, with `new_instance`, one more instance) lacks now;
    /// `tenant` with the megabytes their holding grows by.
    fn new(
        ledger: &Ledger,
        memory_mb: u32,
        new_instance: bool,
        tenant: Option<(&Tenant, u32)>,
    ) -> Self {
        let reserved = ledger.reserved_mb.load(Ordering::Acquire);
        let instances = ledger.instances.load(Ordering::Acquire);
        let quota_mb = tenant.map_or(0, |(tenant, grows_by)| {
            (ledger.holding(&tenant.user).reserved_mb + u64::from(grows_by))
                .saturating_sub(tenant.memory_quota_mb)
        });
        Self {
            pool_mb: (reserved + u64::from(memory_mb)).saturating_sub(ledger.budget_mb),
            instances: match new_instance {
                true => (instances + 1).saturating_sub(ledger.max_instances),
                false => 0,
            },
            quota_mb,
            requester: tenant.map(|(tenant, _)| tenant.user.clone()),
        }
    }

    fn pool_short(&self) -> bool {
        self.pool_mb > 0 || self.instances > 0
    }

    /// Counts evicting `candidate` (`own`: the requester's) towards the need.
    fn take(&mut self, candidate: &Candidate, own: bool) {
        let mb = u64::from(candidate.memory_mb);
        self.pool_mb = self.pool_mb.saturating_sub(mb);
        self.instances = self.instances.saturating_sub(1);
        if own {
            self.quota_mb = self.quota_mb.saturating_sub(mb);
        }
    }
}

/// Each active user's equal part of the pool: its memory budget and its instances, divided by
/// the users holding instances (and the one asking).
struct FairShare {
    memory_mb: u64,
    instances: usize,
}

impl FairShare {
    /// The share of each user holding instances now, and of `requester` if they hold none yet.
    fn of(ledger: &Ledger, holdings: &HashMap<Arc<str>, Holding>, requester: Option<&str>) -> Self {
        let newcomer = requester.is_some_and(|r| !holdings.contains_key(r));
        let active = (holdings.len() + usize::from(newcomer)).max(1);
        Self {
            memory_mb: ledger.budget_mb / active as u64,
            instances: ledger.max_instances / active,
        }
    }

    fn exceeded_by(&self, holding: &Holding) -> bool {
        holding.reserved_mb > self.memory_mb || holding.instances > self.instances
    }
}

/// In which order idle instances are evicted (least recently used first within a tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    /// Beyond `min_warm`, of a user holding more than their fair share.
    AboveShare,
    /// Beyond `min_warm`, of anyone; and generic instances.
    Anyone,
    /// Kept for `min_warm`, of a user holding more than their fair share: only for a requester
    /// below theirs.
    ProvisionedAboveShare,
}

struct Candidate {
    tier: Tier,
    last_used: Instant,
    id: u64,
    owner: Option<Arc<str>>,
    memory_mb: u32,
    /// Not kept for `min_warm`.
    unprotected: bool,
}

impl Candidate {
    fn of(instance: &Instance, tier: Tier, unprotected: bool) -> Self {
        Self {
            tier,
            last_used: instance.last_used,
            id: instance.id,
            owner: instance.slot.owner.as_ref().map(|(owner, _)| owner.clone()),
            memory_mb: instance.slot.memory_mb,
            unprotected,
        }
    }
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
            ledger: Arc::new(Ledger::new(limits.max_instances, limits.memory_budget_mb)),
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

    /// A live generic instance of `species`, booked at `memory_mb` for `tenant` (room is made by
    /// evicting idle instances if needed) and thawed; `None` when there is none or no room for
    /// it. The caller wakes the maintainer to replace it once it has specialised it: starting the
    /// replacement at once would compete with that for the CPU.
    pub fn take_generic(
        &self,
        species: Species,
        memory_mb: u32,
        tenant: &Tenant,
    ) -> Option<Instance> {
        let found = {
            let mut state = lock(&self.state);
            let generic = state.generic.get_mut(&species)?;
            self.pop_alive(generic, |instance| instance)
        };
        let mut instance = found?;
        let from = instance.slot.memory_mb;
        for _ in 0..ROOM_ATTEMPTS {
            match self.ledger.try_adopt(from, memory_mb, tenant) {
                Ok(()) => {
                    instance.slot.memory_mb = memory_mb;
                    instance.slot.owner = Some((tenant.user.clone(), tenant.species));
                    return self.woken(instance);
                }
                Err(_) => {
                    let grow = memory_mb.saturating_sub(from);
                    let needed = Need::new(&self.ledger, grow, false, Some((tenant, memory_mb)));
                    if !self.make_room(needed) {
                        break;
                    }
                }
            }
        }
        self.put_generic(instance);
        None
    }

    /// Books room for a new instance of `memory_mb` for `tenant`, evicting idle instances if
    /// needed, and waiting up to the queue timeout for instances to finish when all are busy.
    pub async fn book(&self, memory_mb: u32, tenant: &Tenant) -> Result<Slot, Throttled> {
        let deadline = Instant::now() + self.limits.queue_timeout;
        loop {
            let freed = self.ledger.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let shortfall = match self.try_book(memory_mb, Some(tenant), true) {
                Ok(slot) => return Ok(slot),
                Err(shortfall) => shortfall,
            };
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                return Err(match shortfall {
                    Shortfall::Quota => Throttled::quota(
                        "memory_mb",
                        format!(
                            "the instances of this function's owner already reserve {} of their {} MB of memory; retry later",
                            self.ledger.holding(&tenant.user).reserved_mb,
                            tenant.memory_quota_mb
                        ),
                    ),
                    Shortfall::Pool => Throttled::new(format!(
                        "every instance slot is busy ({} instances, {} of {} MB reserved); retry later",
                        self.ledger.instances.load(Ordering::Relaxed),
                        self.ledger.reserved_mb.load(Ordering::Relaxed),
                        self.ledger.budget_mb
                    )),
                });
            }
        }
    }

    /// Books room for a new instance now — for `tenant`, or generic — evicting idle instances
    /// first if `evict`, but only when evicting would make enough room.
    pub fn try_book(
        &self,
        memory_mb: u32,
        tenant: Option<&Tenant>,
        evict: bool,
    ) -> Result<Slot, Shortfall> {
        let mut shortfall = Shortfall::Pool;
        for _ in 0..ROOM_ATTEMPTS {
            match self.ledger.try_book(memory_mb, tenant) {
                Ok(()) => {
                    return Ok(Slot {
                        ledger: self.ledger.clone(),
                        memory_mb,
                        owner: tenant.map(|t| (t.user.clone(), t.species)),
                        released: false,
                    });
                }
                Err(short) => shortfall = short,
            }
            let needed = Need::new(
                &self.ledger,
                memory_mb,
                true,
                tenant.map(|t| (t, memory_mb)),
            );
            if !evict || !self.make_room(needed) {
                break;
            }
        }
        Err(shortfall)
    }

    /// Evicts idle instances until `needed` is met, choosing them by the fair-share policy
    /// (docs/tenancy.md): first the requester's own when it is their quota that is short, then
    /// the least recently used of users holding more than their fair share of the pool, then
    /// the least recently used of anyone's (and generic ones), and — for a requester below their
    /// fair share — even the `min_warm` instances of users above it. Evicts nothing, and returns
    /// false, when all of that would not be enough.
    fn make_room(&self, mut needed: Need) -> bool {
        let holdings = self.ledger.holdings();
        let requester = needed.requester.take();
        let requester = requester.as_deref();
        let share = FairShare::of(&self.ledger, &holdings, requester);
        let over_share = |owner: &str| {
            holdings
                .get(owner)
                .is_some_and(|holding| share.exceeded_by(holding))
        };
        let requester_below = requester
            .is_some_and(|r| !share.exceeded_by(&holdings.get(r).copied().unwrap_or_default()));
        let victims = {
            let mut state = lock(&self.state);
            let mut candidates = Vec::new();
            for idle in state.specialised.values() {
                let evictable = idle
                    .len()
                    .saturating_sub(idle.first().map_or(0, |i| i.min_warm as usize));
                for (index, entry) in idle.iter().enumerate() {
                    let owner = entry.instance.slot.owner();
                    let over = owner.is_some_and(over_share);
                    let tier = match (index < evictable, over) {
                        (true, true) => Tier::AboveShare,
                        (true, false) => Tier::Anyone,
                        (false, true) if requester_below => Tier::ProvisionedAboveShare,
                        (false, _) => continue,
                    };
                    candidates.push(Candidate::of(&entry.instance, tier, index < evictable));
                }
            }
            for instance in state.generic.values().flatten() {
                candidates.push(Candidate::of(instance, Tier::Anyone, true));
            }
            candidates.sort_by_key(|c| (c.tier, c.last_used));
            let mut chosen = Vec::new();
            // The requester's own first, when it is their quota that is short.
            for candidate in &candidates {
                if needed.quota_mb == 0 {
                    break;
                }
                if candidate.unprotected && candidate.owner.as_deref() == requester {
                    needed.take(candidate, true);
                    chosen.push(candidate.id);
                }
            }
            if needed.quota_mb > 0 {
                return false;
            }
            for candidate in &candidates {
                if !needed.pool_short() {
                    break;
                }
                if !chosen.contains(&candidate.id) {
                    needed.take(candidate, candidate.owner.as_deref() == requester);
                    chosen.push(candidate.id);
                }
            }
            if needed.pool_short() {
                return false;
            }
            state.remove(&chosen)
        };
        self.counters
            .evicted
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        self.discard_all(victims);
        true
    }

    /// Whether `user` would still hold no more than their fair share of the pool with one more
    /// instance of `memory_mb`: `min_warm` instances are provisioned only then.
    pub fn within_fair_share(&self, user: &str, memory_mb: u32) -> bool {
        let holdings = self.ledger.holdings();
        let share = FairShare::of(&self.ledger, &holdings, Some(user));
        let mut holding = holdings.get(user).copied().unwrap_or_default();
        holding.instances += 1;
        holding.reserved_mb += u64::from(memory_mb);
        !share.exceeded_by(&holding)
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

    /// What the pool holds and has done; with `user`, only that user's instances (busy and
    /// starting ones counted together as busy), without the pool-wide counters.
    pub fn snapshot(&self, user: Option<&str>) -> PoolSnapshot {
        let mut counts: HashMap<(Species, &'static str), usize> = HashMap::new();
        let mut idle_of_user = [0; SPECIES];
        {
            let state = lock(&self.state);
            for (key, idle) in &state.specialised {
                for entry in idle {
                    let species = (key.runtime, entry.instance.language);
                    if user.is_some_and(|user| entry.instance.slot.owner() != Some(user)) {
                        continue;
                    }
                    idle_of_user[species_index(species)] += 1;
                    *counts.entry((species, "idle")).or_default() += 1;
                }
            }
            if user.is_none() {
                for (species, generic) in &state.generic {
                    *counts.entry((*species, "prewarmed")).or_default() += generic.len();
                }
            }
        }
        let holding = user.map(|user| self.ledger.holding(user));
        for (index, idle) in idle_of_user.into_iter().enumerate() {
            let species = species_at(index);
            match &holding {
                Some(holding) => {
                    *counts.entry((species, "busy")).or_default() +=
                        holding.by_species[index].saturating_sub(idle);
                }
                None => {
                    *counts.entry((species, "busy")).or_default() +=
                        self.census.busy[index].load(Ordering::Relaxed);
                    *counts.entry((species, "starting")).or_default() +=
                        self.census.starting[index].load(Ordering::Relaxed);
                }
            }
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
        if let Some(holding) = holding {
            return PoolSnapshot {
                instances,
                total_instances: holding.instances,
                max_instances: self.ledger.max_instances,
                memory_reserved_mb: holding.reserved_mb,
                memory_budget_mb: self.ledger.budget_mb,
                queue_length: user.map_or(0, |user| self.gates.waiting_for(user)),
                own: true,
                ..PoolSnapshot::default()
            };
        }
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
            own: false,
        }
    }
}
