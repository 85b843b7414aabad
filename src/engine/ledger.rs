//! The ledger: how many instances are alive and how much memory they reserve, against the
//! pool's limits — in total, and per user against each user's memory quota. Every instance
//! holds a [`Slot`] in it for its whole life; a slot belongs to the user whose function the
//! instance runs, or to no one while the instance is generic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::census::{SPECIES, Species, species_index};
use crate::sync::lock;

/// The user an instance is booked for, the memory they may reserve in all, and the kind of
/// instance booked.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub user: Arc<str>,
    pub memory_quota_mb: u64,
    /// `census::species_index` of the instance's runtime and language.
    pub species: usize,
}

impl Tenant {
    pub fn new(user: &str, memory_quota_mb: u64, species: Species) -> Self {
        Self {
            user: user.into(),
            memory_quota_mb,
            species: species_index(species),
        }
    }
}

/// What one user's instances hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    pub instances: usize,
    pub reserved_mb: u64,
    /// Instances by `census::species_index`.
    pub by_species: [usize; SPECIES],
}

impl Holding {
    fn add(&mut self, species: usize, memory_mb: u32) {
        self.instances += 1;
        self.by_species[species] += 1;
        self.reserved_mb += u64::from(memory_mb);
    }
}

/// Counts every live instance and the memory they reserve, against the limits.
#[derive(Debug)]
pub struct Ledger {
    pub instances: AtomicUsize,
    pub reserved_mb: AtomicU64,
    pub max_instances: usize,
    pub budget_mb: u64,
    /// Each user's instances (generic ones belong to no one). Changed only when an instance is
    /// booked, specialised or gone — never on a warm invocation.
    holdings: Mutex<HashMap<Arc<str>, Holding>>,
    /// Wakes invocations waiting for room.
    pub freed: Notify,
}

/// Why a booking did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// The pool as a whole has no room.
    Pool,
    /// The user's instances already reserve their memory quota.
    Quota,
}

impl Ledger {
    pub fn new(max_instances: usize, budget_mb: u64) -> Self {
        Self {
            instances: AtomicUsize::new(0),
            reserved_mb: AtomicU64::new(0),
            max_instances,
            budget_mb,
            holdings: Mutex::default(),
            freed: Notify::new(),
        }
    }

    /// Books one more instance of `memory_mb` for `tenant` (or generic), if it fits.
    pub fn try_book(&self, memory_mb: u32, tenant: Option<&Tenant>) -> Result<(), Shortfall> {
        let mut holdings = lock(&self.holdings);
        if let Some(tenant) = tenant {
            check_quota(&holdings, tenant, memory_mb)?;
        }
        self.instances
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_instances).then_some(n + 1)
            })
            .map_err(|_| Shortfall::Pool)?;
        if !self.try_grow(0, memory_mb) {
            self.instances.fetch_sub(1, Ordering::AcqRel);
            return Err(Shortfall::Pool);
        }
        if let Some(tenant) = tenant {
            (holdings.entry(tenant.user.clone()).or_default()).add(tenant.species, memory_mb);
        }
        Ok(())
    }

    /// Hands a generic instance's booking of `from` megabytes to `tenant`, at `to` megabytes.
    pub fn try_adopt(&self, from: u32, to: u32, tenant: &Tenant) -> Result<(), Shortfall> {
        let mut holdings = lock(&self.holdings);
        check_quota(&holdings, tenant, to)?;
        if !self.try_grow(from, to) {
            return Err(Shortfall::Pool);
        }
        (holdings.entry(tenant.user.clone()).or_default()).add(tenant.species, to);
        Ok(())
    }

    /// Changes a booking from `from` to `to` megabytes, if the budget allows.
    fn try_grow(&self, from: u32, to: u32) -> bool {
        self.reserved_mb
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |reserved| {
                let next = reserved - u64::from(from) + u64::from(to);
                (to <= from || next <= self.budget_mb).then_some(next)
            })
            .is_ok()
    }

    fn release(&self, memory_mb: u32, owner: Option<&(Arc<str>, usize)>) {
        if let Some((owner, species)) = owner {
            let mut holdings = lock(&self.holdings);
            if let Some(holding) = holdings.get_mut(owner) {
                holding.instances -= 1;
                holding.by_species[*species] -= 1;
                holding.reserved_mb -= u64::from(memory_mb);
                if holding.instances == 0 {
                    holdings.remove(owner);
                }
            }
        }
        self.instances.fetch_sub(1, Ordering::AcqRel);
        self.reserved_mb
            .fetch_sub(memory_mb.into(), Ordering::AcqRel);
        self.freed.notify_waiters();
    }

    /// What `user`'s instances hold right now.
    pub fn holding(&self, user: &str) -> Holding {
        lock(&self.holdings).get(user).copied().unwrap_or_default()
    }

    /// Every user's holding, for choosing whom to evict.
    pub fn holdings(&self) -> HashMap<Arc<str>, Holding> {
        lock(&self.holdings).clone()
    }
}

fn check_quota(
    holdings: &HashMap<Arc<str>, Holding>,
    tenant: &Tenant,
    memory_mb: u32,
) -> Result<(), Shortfall> {
    let held = holdings.get(&tenant.user).map_or(0, |h| h.reserved_mb);
    match held + u64::from(memory_mb) <= tenant.memory_quota_mb {
        true => Ok(()),
        false => Err(Shortfall::Quota),
    }
}

/// One instance's booking in the ledger; given back when dropped, i.e. when its instance is, or
/// as soon as the instance is condemned.
#[derive(Debug)]
pub struct Slot {
    pub(super) ledger: Arc<Ledger>,
    pub(super) memory_mb: u32,
    /// The user whose function the instance runs, and its species index; `None` while it is
    /// generic.
    pub(super) owner: Option<(Arc<str>, usize)>,
    pub(super) released: bool,
}

impl Slot {
    pub fn memory_mb(&self) -> u32 {
        self.memory_mb
    }

    pub fn owner(&self) -> Option<&str> {
        self.owner.as_ref().map(|(owner, _)| &**owner)
    }

    pub(super) fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            self.ledger.release(self.memory_mb, self.owner.as_ref());
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}
