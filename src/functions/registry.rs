//! The registry of functions: the store is the truth, an in-memory index answers lookups on the
//! invoke path without touching the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;

use super::validate::{self, Draft, FunctionInput, ValidationError};
use crate::blobs::Blobs;
use crate::config::Limits;
use crate::model::{Function, RuntimeKind};
use crate::quotas::{QuotaExceeded, QuotaTable, Quotas};
use crate::store::{Store, StoreError, Taken};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("function '{0}' not found")]
    NotFound(String),
    #[error("function '{function}' has no version {version}")]
    VersionNotFound { function: String, version: i64 },
    #[error("{message}")]
    Conflict { taken: Taken, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("code storage failed: {0}")]
    Blob(#[from] std::io::Error),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

/// Whose functions a lookup sees.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// One user's.
    Owner(&'a str),
    /// Everyone's, for an administrator: a name used by several users means the
    /// administrator's own function first.
    Admin(&'a str),
    /// Everyone's (the engine's own lookups).
    All,
}

impl Scope<'_> {
    fn admits(&self, function: &Function) -> bool {
        match self {
            Scope::Owner(owner) => function.owner == *owner,
            Scope::Admin(_) | Scope::All => true,
        }
    }

    /// Whether `function` is someone else's than the scope's user (ranks lookups by name).
    fn foreign(&self, function: &Function) -> bool {
        match self {
            Scope::Owner(user) | Scope::Admin(user) => function.owner != *user,
            Scope::All => false,
        }
    }
}

#[derive(Default)]
struct Index {
    by_id: HashMap<Arc<str>, Arc<Function>>,
    /// Names are unique per owner, so one name may map to functions of several owners.
    by_name: HashMap<String, Vec<Arc<str>>>,
    by_route: HashMap<String, Arc<str>>,
}

impl Index {
    fn insert(&mut self, function: Arc<Function>) {
        if let Some(route) = &function.route {
            self.by_route.insert(route.clone(), function.id.clone());
        }
        self.by_name
            .entry(function.name.clone())
            .or_default()
            .push(function.id.clone());
        self.by_id.insert(function.id.clone(), function);
    }

    fn remove(&mut self, function: &Function) {
        if let Some(route) = &function.route {
            self.by_route.remove(route);
        }
        if let Some(ids) = self.by_name.get_mut(&function.name) {
            ids.retain(|id| *id != function.id);
            if ids.is_empty() {
                self.by_name.remove(&function.name);
            }
        }
        self.by_id.remove(&function.id);
    }

    fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Arc<Function>> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }
}

pub struct Registry {
    store: Store,
    blobs: Blobs,
    limits: Limits,
    default_runtime: RuntimeKind,
    /// What each user may hold: functions, code, `min_warm`, memory, concurrency.
    quotas: Arc<QuotaTable>,
    index: RwLock<Index>,
    /// Serialises changes so the index and the store move in step.
    changes: tokio::sync::Mutex<()>,
}

impl Registry {
    pub async fn open(
        store: Store,
        blobs: Blobs,
        limits: Limits,
        default_runtime: RuntimeKind,
        quotas: Arc<QuotaTable>,
    ) -> Result<Self, StoreError> {
        let mut index = Index::default();
        for function in store.load_functions().await? {
            index.insert(Arc::new(function));
        }
        Ok(Self {
            store,
            blobs,
            limits,
            default_runtime,
            quotas,
            index: RwLock::new(index),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        crate::sync::read(&self.index)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        crate::sync::write(&self.index)
    }

    /// The current version of a function, by id or else by name, if `scope` may see it.
    pub fn resolve(&self, scope: Scope<'_>, id_or_name: &str) -> Option<Arc<Function>> {
        let index = self.read();
        if let Some(function) = index.by_id.get(id_or_name) {
            return scope.admits(function).then(|| function.clone());
        }
        index
            .named(id_or_name)
            .filter(|f| scope.admits(f))
            .min_by_key(|f| scope.foreign(f))
            .cloned()
    }

    /// The function bound to an HTTP route.
    pub fn by_route(&self, route: &str) -> Option<Arc<Function>> {
        let index = self.read();
        let id = index.by_route.get(route)?;
        index.by_id.get(id).cloned()
    }

    /// Every function `scope` may see, by name.
    pub fn list(&self, scope: Scope<'_>) -> Vec<Arc<Function>> {
        let mut functions: Vec<_> = self
            .read()
            .by_id
            .values()
            .filter(|f| scope.admits(f))
            .cloned()
            .collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name).then(a.created_at.cmp(&b.created_at)));
        functions
    }

    /// The source code of a function version.
    pub async fn code(&self, function: &Function) -> Result<String, RegistryError> {
        Ok(self.blobs.get(&function.code_sha256).await?)
    }

    /// A function's versions, newest first: those before version `before` (all without it),
    /// at most `limit`.
    pub async fn versions(
        &self,
        function: &Function,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Function>, RegistryError> {
        Ok(self
            .store
            .function_versions(&function.id, before, limit)
            .await?)
    }

    /// One version of a function.
    pub async fn version(
        &self,
        function: &Function,
        version: i64,
    ) -> Result<Function, RegistryError> {
        self.store
            .function_version(&function.id, version)
            .await?
            .ok_or_else(|| RegistryError::VersionNotFound {
                function: function.name.clone(),
                version,
            })
    }

    pub async fn create(
        &self,
        owner: &str,
        input: FunctionInput,
    ) -> Result<Arc<Function>, RegistryError> {
        let draft = validate::new_function(input, &self.limits, self.default_runtime)?;
        let _change = self.changes.lock().await;
        self.check_unique(owner, &draft, None)?;
        self.check_quotas(owner, &draft, None).await?;
        let now = Utc::now();
        let function = self
            .build(
                draft,
                uuid::Uuid::now_v7().to_string().into(),
                owner.to_owned(),
                1,
                now,
            )
            .await?;
        self.store
            .insert_function(&function)
            .await
            .map_err(|e| self.conflict_message(e, &function))?;
        let function = Arc::new(function);
        self.write().insert(function.clone());
        Ok(function)
    }

    /// Makes a new version; returns the replaced version and the new one.
    pub async fn update(
        &self,
        scope: Scope<'_>,
        id_or_name: &str,
        input: FunctionInput,
    ) -> Result<(Arc<Function>, Arc<Function>), RegistryError> {
        let _change = self.changes.lock().await;
        let current = self
            .resolve(scope, id_or_name)
            .ok_or_else(|| RegistryError::NotFound(id_or_name.to_owned()))?;
        let current_code = self.code(&current).await?;
        let draft = validate::update(&current, current_code, input, &self.limits)?;
        self.check_unique(&current.owner, &draft, Some(&current))?;
        self.check_quotas(&current.owner, &draft, Some(&current))
            .await?;
        let mut function = self
            .build(
                draft,
                current.id.clone(),
                current.owner.clone(),
                current.version + 1,
                Utc::now(),
            )
            .await?;
        function.created_at = current.created_at;
        self.store
            .update_function(&function)
            .await
            .map_err(|e| self.conflict_message(e, &function))?;
        let function = Arc::new(function);
        {
            let mut index = self.write();
            index.remove(&current);
            index.insert(function.clone());
        }
        // The oldest versions beyond the owner's quota go, and their code if nothing else uses
        // it. The new version stands whatever happens here: what is left over is pruned by the
        // next update, or swept by retention.
        let keep = self.quotas.of(&current.owner).versions_per_function;
        match self.store.prune_versions(&function.id, keep).await {
            Ok(pruned) => self.remove_unused_code(&pruned).await,
            Err(e) => {
                tracing::warn!(function = %function.id, error = %e, "pruning old versions failed")
            }
        }
        Ok((current, function))
    }

    pub async fn delete(
        &self,
        scope: Scope<'_>,
        id_or_name: &str,
    ) -> Result<Arc<Function>, RegistryError> {
        let _change = self.changes.lock().await;
        let function = self
            .resolve(scope, id_or_name)
            .ok_or_else(|| RegistryError::NotFound(id_or_name.to_owned()))?;
        self.remove(&function).await?;
        Ok(function)
    }

    /// Deletes every function of `owner`; returns them.
    pub async fn delete_all(&self, owner: &str) -> Result<Vec<Arc<Function>>, RegistryError> {
        let _change = self.changes.lock().await;
        let functions = self.list(Scope::Owner(owner));
        for function in &functions {
            self.remove(function).await?;
        }
        Ok(functions)
    }

    /// Whether every function of `from` could be handed to `to`: not when `to` has a function
    /// of the same name as one of them, or would go over their `functions` quota.
    pub fn check_transfer(&self, from: &str, to: &str) -> Result<(), RegistryError> {
        let index = self.read();
        let moving: Vec<&Arc<Function>> =
            index.by_id.values().filter(|f| f.owner == from).collect();
        if let Some(clash) = moving
            .iter()
            .find(|f| index.named(&f.name).any(|other| other.owner == to))
        {
            return Err(RegistryError::Conflict {
                taken: Taken::Name,
                message: format!(
                    "the recipient already has a function named '{}'; rename one first",
                    clash.name
                ),
            });
        }
        let held = index.by_id.values().filter(|f| f.owner == to).count();
        let quota = self.quotas.of(to).functions;
        if held + moving.len() > quota as usize {
            return Err(RegistryError::Quota(QuotaExceeded::new(
                "functions",
                quota.into(),
                format!(
                    "the recipient has {held} functions; {} more would be over their quota",
                    moving.len()
                ),
            )));
        }
        Ok(())
    }

    /// Hands every function of `from` to `to` (see [`Registry::check_transfer`]; refused with
    /// nothing changed). Returns the functions as they were.
    pub async fn transfer_all(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Vec<Arc<Function>>, RegistryError> {
        let _change = self.changes.lock().await;
        self.check_transfer(from, to)?;
        let moving = self.list(Scope::Owner(from));
        self.store.transfer_functions(from, to).await?;
        let mut index = self.write();
        for function in &moving {
            index.remove(function);
            index.insert(Arc::new(Function {
                owner: to.to_owned(),
                ..(**function).clone()
            }));
        }
        Ok(moving)
    }

    /// Deletes a function from the store and the index, and its code if nothing else uses it.
    /// Called with the change lock held.
    async fn remove(&self, function: &Function) -> Result<(), RegistryError> {
        let digests = self.store.delete_function(&function.id).await?;
        self.write().remove(function);
        self.remove_unused_code(&digests).await;
        Ok(())
    }

    /// Deletes the code blobs of `digests` that no version uses (any more). Called with the
    /// change lock held, so that no version being made can start using one meanwhile. What
    /// fails here is logged and left to retention's sweep: the change it follows stands.
    async fn remove_unused_code(&self, digests: &[String]) {
        let unused = match self.store.unused_code(digests).await {
            Ok(unused) => unused,
            Err(e) => return tracing::warn!(error = %e, "finding unused code failed"),
        };
        for digest in unused {
            if let Err(e) = self.blobs.remove(&digest).await {
                tracing::warn!(blob = %digest, error = %e, "removing unused code failed");
            }
        }
    }

    /// Deletes every code blob that no version uses: those a crash left between storing a
    /// blob and its version, and any the deletions above missed; and the temporary files of
    /// blob writes a crash cut short. Returns how many went.
    pub async fn collect_garbage(&self) -> Result<usize, RegistryError> {
        let stale = self
            .blobs
            .remove_stale_temporaries(std::time::Duration::from_secs(3600))
            .await?;
        let _change = self.changes.lock().await;
        let used = self.store.used_code().await?;
        let mut removed = stale;
        for digest in self.blobs.list().await? {
            if !used.contains(&digest) {
                self.blobs.remove(&digest).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn build(
        &self,
        draft: Draft,
        id: Arc<str>,
        owner: String,
        version: i64,
        now: chrono::DateTime<Utc>,
    ) -> Result<Function, RegistryError> {
        let code_size = draft.code.len() as u64;
        let code_sha256 = self.blobs.put(draft.code.into_bytes()).await?;
        Ok(Function {
            id,
            name: draft.name,
            owner,
            language: draft.language,
            handler: draft.handler,
            route: draft.route,
            timeout: draft.timeout,
            memory_mb: draft.memory_mb,
            env: draft.env,
            runtime: draft.runtime,
            max_concurrency: draft.max_concurrency,
            min_warm: draft.min_warm,
            keep_alive_secs: draft.keep_alive_secs,
            version,
            code_sha256,
            code_size,
            created_at: now,
            updated_at: now,
        })
    }

    /// Refuses a name the owner already uses or a route any function uses (`current` excepted).
    fn check_unique(
        &self,
        owner: &str,
        draft: &Draft,
        current: Option<&Function>,
    ) -> Result<(), RegistryError> {
        let index = self.read();
        let is_other = |f: &&Arc<Function>| current.is_none_or(|c| c.id != f.id);
        if let Some(other) = index
            .named(&draft.name)
            .filter(is_other)
            .find(|f| f.owner == owner)
        {
            return Err(RegistryError::Conflict {
                taken: Taken::Name,
                message: format!(
                    "a function named '{}' already exists (id {})",
                    draft.name, other.id
                ),
            });
        }
        if let Some(route) = &draft.route
            && let Some(other) = index.by_route.get(route).and_then(|id| index.by_id.get(id))
            && is_other(&other)
        {
            // Routes are shared by every user: whose function holds one is not for others to
            // learn, so the message names it only to its owner.
            let message = match other.owner == owner {
                true => format!(
                    "route '{route}' is already used by function '{}'",
                    other.name
                ),
                false => format!("route '{route}' is already taken"),
            };
            return Err(RegistryError::Conflict {
                taken: Taken::Route,
                message,
            });
        }
        Ok(())
    }

    /// Refuses a function that would take its owner over a quota: the number of functions,
    /// their `min_warm` and the memory it keeps reserved, a memory limit or concurrency their
    /// instances could never have, and the code kept for all their versions. `current` is the
    /// version a draft replaces.
    async fn check_quotas(
        &self,
        owner: &str,
        draft: &Draft,
        current: Option<&Function>,
    ) -> Result<(), RegistryError> {
        let quotas = self.quotas.of(owner);
        let (functions, min_warm, provisioned_mb) = {
            let index = self.read();
            let others = index
                .by_id
                .values()
                .filter(|f| f.owner == owner && current.is_none_or(|c| c.id != f.id));
            others.fold((0u64, 0u64, 0u64), |(n, warm, mb), f| {
                let warm_f = u64::from(f.min_warm);
                (n + 1, warm + warm_f, mb + warm_f * u64::from(f.memory_mb))
            })
        };
        let over = |quota: &'static str, limit: u64, message: String| {
            Err(RegistryError::Quota(QuotaExceeded::new(
                quota, limit, message,
            )))
        };
        if current.is_none() && functions >= u64::from(quotas.functions) {
            return over(
                "functions",
                quotas.functions.into(),
                format!("you already have {functions} functions"),
            );
        }
        let draft_warm = u64::from(draft.min_warm);
        if min_warm + draft_warm > u64::from(quotas.min_warm) {
            return over(
                "min_warm",
                quotas.min_warm.into(),
                format!(
                    "min_warm {} with the {min_warm} your other functions keep warm would be {}",
                    draft.min_warm,
                    min_warm + draft_warm
                ),
            );
        }
        let memory = u64::from(draft.memory_mb);
        if memory > quotas.memory_mb {
            return over(
                "memory_mb",
                quotas.memory_mb,
                format!("memory_mb {memory} is more than your instances may reserve in all"),
            );
        }
        if provisioned_mb + draft_warm * memory > quotas.memory_mb {
            return over(
                "memory_mb",
                quotas.memory_mb,
                format!(
                    "min_warm {} × memory_mb {memory} with the {provisioned_mb} MB your other functions keep warm would reserve {} MB",
                    draft.min_warm,
                    provisioned_mb + draft_warm * memory
                ),
            );
        }
        if let Some(cap) = draft.max_concurrency
            && cap > quotas.concurrency
        {
            return over(
                "concurrency",
                quotas.concurrency.into(),
                format!(
                    "max_concurrency {cap} is more than your invocations may run at once in all"
                ),
            );
        }
        self.check_code_quota(owner, draft, current, &quotas).await
    }

    /// The code kept for every version of the owner's functions, once this version is stored
    /// and the oldest beyond `versions_per_function` are pruned, must fit their `code_mb`.
    async fn check_code_quota(
        &self,
        owner: &str,
        draft: &Draft,
        current: Option<&Function>,
        quotas: &Quotas,
    ) -> Result<(), RegistryError> {
        let stored = self.store.code_bytes_of(owner).await?;
        let pruned: u64 = match current {
            Some(current) => self
                .store
                .version_sizes(&current.id)
                .await?
                .iter()
                .skip(quotas.versions_per_function.saturating_sub(1) as usize)
                .sum(),
            None => 0,
        };
        let after = (stored - pruned.min(stored)) + draft.code.len() as u64;
        let limit = quotas.code_mb.saturating_mul(1024 * 1024);
        if after > limit {
            return Err(RegistryError::Quota(QuotaExceeded::new(
                "code_mb",
                quotas.code_mb,
                format!(
                    "your functions' kept versions would hold {:.1} MiB of code",
                    after as f64 / (1024.0 * 1024.0)
                ),
            )));
        }
        Ok(())
    }

    fn conflict_message(&self, error: StoreError, function: &Function) -> RegistryError {
        match error {
            StoreError::Conflict(taken) => RegistryError::Conflict {
                taken,
                message: match taken {
                    Taken::Route => format!(
                        "route '{}' is already used by another function",
                        function.route.as_deref().unwrap_or_default()
                    ),
                    Taken::Name => format!("a function named '{}' already exists", function.name),
                },
            },
            other => RegistryError::Store(other),
        }
    }
}
