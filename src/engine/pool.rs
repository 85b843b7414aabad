//! Idle instances, kept for reuse by the function version they were specialised to.
//!
//! An instance is only ever handed back to invocations of the exact version (and runtime) it
//! loaded; an instance that failed in any way never comes back here.

use std::collections::HashMap;
use std::sync::Mutex;

use super::instance::Instance;
use crate::functions::VersionKey;
use crate::runtimes::RuntimeKind;

/// What an idle instance can serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub version: VersionKey,
    pub runtime: RuntimeKind,
}

#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Instance>>>,
}

impl Pool {
    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Vec<Instance>>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The most recently used idle instance for `key`, if any.
    pub fn take(&self, key: &PoolKey) -> Option<Instance> {
        let mut idle = self.idle();
        let instances = idle.get_mut(key)?;
        let instance = instances.pop();
        if instances.is_empty() {
            idle.remove(key);
        }
        instance
    }

    /// Keeps a healthy instance for the next invocation of `key`.
    pub fn put(&self, key: PoolKey, instance: Instance) {
        self.idle().entry(key).or_default().push(instance);
    }

    /// Removes every idle instance of a function (all its versions), for the caller to kill.
    pub fn remove_function(&self, function_id: &str) -> Vec<Instance> {
        let mut idle = self.idle();
        let keys: Vec<PoolKey> = idle
            .keys()
            .filter(|key| &*key.version.function_id == function_id)
            .cloned()
            .collect();
        keys.iter()
            .filter_map(|key| idle.remove(key))
            .flatten()
            .collect()
    }

    /// Removes every idle instance, for the caller to kill.
    pub fn remove_all(&self) -> Vec<Instance> {
        self.idle()
            .drain()
            .flat_map(|(_, instances)| instances)
            .collect()
    }
}
