//! The maintenance task: until shutdown, it checks the runtimes, refills generic instances,
//! retires idle ones that expired, died or belong to an old version, and keeps each function's
//! `min_warm` instances ready. Woken by the pool's `wake`, or once a second. Beside it, the
//! freezing task freezes idle instances once they have waited a moment.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::ledger::{Shortfall, Tenant};
use super::logs::LogTail;
use super::pool::PoolKey;
use super::{FREEZE_AFTER, Inner, MAINTENANCE_PERIOD, PROVISION_BACKOFF};
use crate::functions::registry::Scope;
use crate::model::{Function, Language};
use crate::runtimes::Runtime;
use crate::sync::lock;

/// Where a function's `min_warm` instances stand.
pub(super) enum Provisioning {
    Running,
    Failed(Instant),
}

impl Inner {
    /// Checks every runtime that can change its mind (all of them; the sandbox answers at once).
    async fn check_runtimes(&self) {
        for runtime in self.runtimes.values().flatten() {
            let answer = runtime.check().await;
            self.set_health(runtime.kind(), answer);
        }
    }

    /// The maintenance task: until shutdown, keeps generic instances topped up, retires idle
    /// ones that expired or died, and keeps `min_warm` instances of each function ready.
    pub(super) async fn maintain(self: Arc<Self>) {
        loop {
            self.check_runtimes().await;
            self.pool.reap(|version| self.is_current(version));
            // `min_warm` instances never take the room generic ones need.
            if self.refill().await {
                self.provision();
            }
            tokio::select! {
                _ = self.pool.wake.notified() => {}
                _ = tokio::time::sleep(MAINTENANCE_PERIOD) => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }

    /// The freezing task: until shutdown, freezes each idle instance once it has waited
    /// `FREEZE_AFTER`, looking again every `FREEZE_AFTER` while some wait unfrozen, and sleeping
    /// until one is put back when none do.
    pub(super) async fn freeze_idle(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.pool.unfrozen.notified() => {}
                _ = self.stop.cancelled() => return,
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FREEZE_AFTER) => {}
                    _ = self.stop.cancelled() => return,
                }
                if !self.pool.freeze_idle(FREEZE_AFTER) {
                    break;
                }
            }
        }
    }

    /// Starts generic instances until each runtime and language has `prewarm` of them, as long as
    /// there is room without evicting anything. Returns false when room was what they lacked
    /// (one that fails to start does not hold up `min_warm` instances).
    async fn refill(&self) -> bool {
        for kind in self.runtimes.keys() {
            let Ok(runtime) = self.available(*kind) else {
                continue;
            };
            for language in Language::ALL {
                if runtime.supports(language).is_err() {
                    continue;
                }
                let species = (runtime.kind(), language);
                while !self.stop.is_cancelled()
                    && self.pool.generic_count(species) < self.pool.limits.prewarm as usize
                {
                    let Ok(slot) =
                        self.pool
                            .try_book(self.pool.limits.generic_memory_mb, None, false)
                    else {
                        return false;
                    };
                    match self.boot(runtime.as_ref(), language, slot).await {
                        Ok(instance) => self.pool.put_generic(instance),
                        Err(e) => {
                            tracing::warn!(runtime = %runtime.kind(), %language, error = %e, "pre-warming failed");
                            break;
                        }
                    }
                }
            }
        }
        true
    }

    /// Starts a provisioning task for each function short of its `min_warm` instances, unless
    /// one is running for it or its last attempt failed less than `PROVISION_BACKOFF` ago. (Loading
    /// a function's code may take up to its timeout: it must not hold up the maintenance task.)
    /// A user's functions get no more `min_warm` instances in all than their quota, oldest
    /// functions first — also those stored before the quota was lowered.
    fn provision(self: &Arc<Self>) {
        let mut functions = self.registry.list(Scope::All);
        functions.sort_by_key(|f| f.created_at);
        lock(&self.provisioning).retain(|version, _| self.is_current(version));
        let mut granted: HashMap<&str, u32> = HashMap::new();
        for function in functions.iter().filter(|f| f.min_warm > 0) {
            let quota = self.quotas.of(&function.owner).min_warm;
            let used = granted.entry(&function.owner).or_default();
            let min_warm = function.min_warm.min(quota.saturating_sub(*used));
            *used += min_warm;
            if min_warm == 0 {
                continue;
            }
            let function = function.clone();
            let Ok(runtime) = self.available(function.runtime) else {
                continue;
            };
            if runtime.supports(function.language).is_err() {
                continue;
            }
            let key = PoolKey {
                version: function.version_key(),
                runtime: runtime.kind(),
            };
            let missing = (min_warm as usize).saturating_sub(self.pool.specialised_count(&key));
            if missing == 0 {
                continue;
            }
            {
                let mut provisioning = lock(&self.provisioning);
                match provisioning.get(&key.version) {
                    Some(Provisioning::Running) => continue,
                    Some(Provisioning::Failed(at)) if at.elapsed() < PROVISION_BACKOFF => continue,
                    _ => {}
                }
                provisioning.insert(key.version.clone(), Provisioning::Running);
            }
            let inner = self.clone();
            self.tasks.spawn(async move {
                let provisioned = tokio::select! {
                    provisioned = inner.provision_one(&function, runtime.as_ref(), &key, missing) => provisioned,
                    () = inner.stop.cancelled() => Ok(()),
                };
                let mut provisioning = lock(&inner.provisioning);
                match provisioned {
                    Ok(()) => provisioning.remove(&key.version),
                    Err(error) => {
                        tracing::warn!(function = %function.name, %error, "provisioning an instance failed; retrying later");
                        provisioning.insert(key.version.clone(), Provisioning::Failed(Instant::now()))
                    }
                };
            });
        }
    }

    /// Starts and loads `missing` instances of `function` into the pool.
    async fn provision_one(
        &self,
        function: &Function,
        runtime: &dyn Runtime,
        key: &PoolKey,
        missing: usize,
    ) -> Result<(), String> {
        let tenant = Tenant::new(
            &function.owner,
            self.quotas.of(&function.owner).memory_mb,
            (runtime.kind(), function.language),
        );
        for _ in 0..missing {
            // Provisioning evicts nothing, and stops at the owner's fair share of the pool:
            // what it keeps must not be what another user needs to run at all.
            if !self
                .pool
                .within_fair_share(&tenant.user, function.memory_mb)
            {
                return Err("its owner holds their fair share of the pool".to_owned());
            }
            let slot = self
                .pool
                .try_book(function.memory_mb, Some(&tenant), false)
                .map_err(|shortfall| match shortfall {
                    Shortfall::Pool => "the pool has no room for it",
                    Shortfall::Quota => "its owner's instances reserve their memory quota",
                })?;
            let mut instance = self
                .boot(runtime, function.language, slot)
                .await
                .map_err(|e| e.to_string())?;
            let mut logs = LogTail::new(self.limits.log_tail_bytes);
            if let Err(ending) = self.load(&mut instance, function, &mut logs).await {
                self.pool.discard(instance);
                return Err(ending.error.map(|e| e.error_message).unwrap_or_default());
            }
            self.pool.put_idle(
                key.clone(),
                instance,
                self.keep_alive(function),
                function.min_warm,
            );
        }
        Ok(())
    }
}
