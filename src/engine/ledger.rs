//! The ledger: how many instances are alive and how much memory they reserve, against the
//! pool's limits. Every instance holds a [`Slot`] in it for its whole life.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts every live instance and the memory they reserve, against the limits.
#[derive(Debug)]
pub struct Ledger {
    pub instances: AtomicUsize,
    pub reserved_mb: AtomicU64,
    pub max_instances: usize,
    pub budget_mb: u64,
    /// Wakes invocations waiting for room.
    pub freed: Notify,
}

impl Ledger {
    /// Books one more instance of `memory_mb`, if it fits.
    pub fn try_book(&self, memory_mb: u32) -> bool {
        let booked = self
            .instances
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_instances).then_some(n + 1)
            })
            .is_ok();
        if booked && !self.try_grow(0, memory_mb) {
            self.instances.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        booked
    }

    /// Changes a booking from `from` to `to` megabytes, if the budget allows.
    pub fn try_grow(&self, from: u32, to: u32) -> bool {
        self.reserved_mb
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |reserved| {
                let next = reserved - u64::from(from) + u64::from(to);
                (to <= from || next <= self.budget_mb).then_some(next)
            })
            .is_ok()
    }

    pub fn release(&self, memory_mb: u32) {
        self.instances.fetch_sub(1, Ordering::AcqRel);
        self.reserved_mb
            .fetch_sub(memory_mb.into(), Ordering::AcqRel);
        self.freed.notify_waiters();
    }
}

/// One instance's booking in the ledger; given back when dropped, i.e. when its instance is, or
/// as soon as the instance is condemned.
#[derive(Debug)]
pub struct Slot {
    pub(super) ledger: Arc<Ledger>,
    pub(super) memory_mb: u32,
    pub(super) released: bool,
}

impl Slot {
    pub fn memory_mb(&self) -> u32 {
        self.memory_mb
    }

    pub(super) fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            self.ledger.release(self.memory_mb);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}
