//! What each user may hold: functions, versions, code, concurrent invocations, reserved memory,
//! provisioned (`min_warm`) instances and API tokens. The defaults come from the settings
//! (`[quotas]`); an administrator may set any of them per user. Going over one is refused with
//! [`QuotaExceeded`] (`quota_exceeded`), never capped silently.
//!
//! The table is read on the invoke path (the engine caps each user's running invocations and
//! reserved memory), so a lookup is one read lock and one hash probe.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::QuotaConfig;
pub use crate::model::{QuotaOverrides, Quotas};
use crate::sync::{read, write};

/// A request that would take a user over one of their quotas.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (quota '{quota}': {limit})")]
pub struct QuotaExceeded {
    /// The quota's name, as in [`Quotas`].
    pub quota: &'static str,
    pub limit: u64,
    /// What went over it, for a person.
    pub message: String,
    /// Whether waiting may help: running invocations and reserved memory are given back as
    /// invocations end (429); stored things stay until the user deletes some (403).
    pub transient: bool,
}

impl QuotaExceeded {
    pub fn new(quota: &'static str, limit: u64, message: impl Into<String>) -> Self {
        Self {
            quota,
            limit,
            message: message.into(),
            transient: false,
        }
    }

    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }
}

/// Every user's quotas: the defaults, with each user's overrides applied.
pub struct QuotaTable {
    /// A user's quotas when nothing overrides them.
    defaults: Quotas,
    /// Whether administrators are held to the defaults too (else they are unlimited, unless
    /// overridden).
    admins_limited: bool,
    /// Users whose quotas are not the defaults: administrators, and those with overrides.
    users: RwLock<HashMap<Arc<str>, Quotas>>,
}

impl QuotaTable {
    /// `pool_memory_mb` and `pool_instances` resolve the settings' "0: half of the pool".
    pub fn new(config: &QuotaConfig, pool_memory_mb: u64, pool_instances: u32) -> Self {
        let half_or = |value: u64, pool: u64| if value == 0 { pool / 2 } else { value };
        Self {
            defaults: Quotas {
                functions: config.functions,
                versions_per_function: config.versions_per_function,
                code_mb: config.code_mb,
                concurrency: half_or(config.concurrency.into(), pool_instances.into()) as u32,
                memory_mb: half_or(config.memory_mb, pool_memory_mb),
                min_warm: config.min_warm,
                tokens: config.tokens,
            },
            admins_limited: config.apply_to_admins,
            users: RwLock::default(),
        }
    }

    pub fn defaults(&self) -> Quotas {
        self.defaults
    }

    /// `user`'s quotas.
    pub fn of(&self, user: &str) -> Quotas {
        read(&self.users)
            .get(user)
            .copied()
            .unwrap_or(self.defaults)
    }

    /// The quotas a user of this role has when nothing overrides them.
    pub fn base(&self, admin: bool) -> Quotas {
        if admin && !self.admins_limited {
            Quotas::UNLIMITED
        } else {
            self.defaults
        }
    }

    /// Sets what `user`'s quotas are, from their role and their overrides.
    pub fn set(&self, user: &str, admin: bool, overrides: &QuotaOverrides) {
        let quotas = overrides.apply(self.base(admin));
        let mut users = write(&self.users);
        if quotas == self.defaults {
            users.remove(user);
        } else {
            users.insert(user.into(), quotas);
        }
    }

    /// Forgets a deleted user.
    pub fn forget(&self, user: &str) {
        write(&self.users).remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_roles_resolve() {
        let table = QuotaTable::new(&QuotaConfig::default(), 8000, 100);
        let defaults = table.defaults();
        assert_eq!(defaults.memory_mb, 4000);
        assert_eq!(defaults.concurrency, 50);
        assert_eq!(table.of("someone"), defaults);
        table.set("root", true, &QuotaOverrides::default());
        assert_eq!(table.of("root"), Quotas::UNLIMITED);
        let fewer = QuotaOverrides {
            functions: Some(3),
            ..QuotaOverrides::default()
        };
        table.set("bob", false, &fewer);
        assert_eq!(table.of("bob").functions, 3);
        assert_eq!(table.of("bob").tokens, defaults.tokens);
        table.forget("bob");
        assert_eq!(table.of("bob"), defaults);
    }
}
