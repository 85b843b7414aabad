//! The invoke path: find or start an instance for a function version, run the invocation on it,
//! record the outcome.
//!
//! ```text
//! invoke ─► the function's gate: below its concurrency cap? else wait in its queue, or 429
//!        ─► pool: idle instance of this version?              ── warm
//!                 else a pre-started generic one + load code   ── prewarmed
//!                 else start an instance + load code           ── cold (or 429 when full)
//!        ─► instance: invoke frame ─► result frame (or timeout / crash / OOM)
//!        ─► healthy and current? back to the pool (frozen after 10 ms idle) : killed
//!        ─► invocation record (group-committed), metrics counters ─► caller
//! ```
//!
//! A maintenance task keeps the pool in shape: it refills generic instances, retires idle ones
//! past their keep-alive or found dead, and keeps each function's `min_warm` instances ready.
//! A freezing task freezes idle instances ([`crate::runtimes::freezer`]); taking one thaws it.

mod census;
mod gate;
mod instance;
mod ledger;
mod limits;
mod logs;
mod maintenance;
mod output;
mod pool;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agents::protocol::{self, FunctionMeta, ProtocolError, Reply, ResultOutcome};
use crate::config::Limits;
use crate::functions::{Registry, registry::Scope};
use crate::model::{
    Function, FunctionError, Invocation, Language, RuntimeKind, StartKind, Status, VersionKey,
};
use crate::quotas::QuotaTable;
use crate::runtimes::{InstanceSpec, Runtime, StartError, Usage};
use crate::store::{InvocationWriter, StoreError};

use census::Mark;
pub use census::{PoolSnapshot, StartCounts};
pub use gate::Throttled;
pub use instance::{BootError, Failure, Instance};
use ledger::{Slot, Tenant};
pub use limits::PoolLimits;
pub use logs::LogTail;
use maintenance::Provisioning;
use pool::{Pool, PoolKey};

/// How long an idle instance waits before it is frozen. One taken again sooner — a function
/// under steady load — is not frozen and thawed in between: each costs the kernel a wake-up of
/// every thread of the instance, which showed as 4–12 % less throughput at concurrency 16 when
/// every invocation froze its instance. What its threads may do meanwhile is bounded by this.
const FREEZE_AFTER: Duration = Duration::from_millis(10);
/// The error type of an invocation refused because its owner is at a quota (its API code is
/// `quota_exceeded`).
pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";
/// How long an instance may take to start its agent.
const BOOT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the maintenance task looks at the pool when nothing wakes it.
const MAINTENANCE_PERIOD: Duration = Duration::from_secs(1);
/// How long after a failed attempt a function's `min_warm` instances are tried again.
const PROVISION_BACKOFF: Duration = Duration::from_secs(30);

/// What to run: the event, script arguments, and optionally a runtime other than the function's.
#[derive(Debug)]
pub struct InvokeRequest {
    pub event: Box<RawValue>,
    pub args: Vec<String>,
    pub runtime: Option<RuntimeKind>,
}

/// Why an invocation could not be run or recorded (a function failing is not one of these: that
/// is an invocation with an error status).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the {runtime} runtime is not available on this host: {reason}")]
    RuntimeUnavailable {
        runtime: RuntimeKind,
        reason: String,
    },
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Refused for lack of capacity; the refusal is recorded as an invocation too.
    #[error("{}", .0.error.as_ref().map_or("throttled", |e| e.error_message.as_str()))]
    Throttled(Arc<Invocation>),
    #[error("recording the invocation failed: {0}")]
    Record(#[from] StoreError),
    /// A bug: the invocation's task panicked.
    #[error("{0}")]
    Failed(String),
}

/// Hears what the engine did, as it happens (the Prometheus exposition is one): the engine tells,
/// and knows nothing of who listens.
pub trait Observer: Send + Sync {
    /// An invocation was recorded.
    fn invoked(&self, invocation: &Invocation);
}

/// A runtime, or why this host cannot offer it.
pub type RuntimeSlot = Result<Arc<dyn Runtime>, String>;

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    runtimes: BTreeMap<RuntimeKind, RuntimeSlot>,
    /// Whether each runtime answered its last check.
    health: RwLock<BTreeMap<RuntimeKind, Result<(), String>>>,
    pool: Pool,
    registry: Arc<Registry>,
    writer: InvocationWriter,
    /// Told of every recorded invocation.
    observer: Arc<dyn Observer>,
    limits: Limits,
    /// Each user's quotas: their concurrency and reserved memory are capped here.
    quotas: Arc<QuotaTable>,
    /// Invocations in flight, instances being killed, the maintenance task; shutdown waits.
    tasks: TaskTracker,
    stop: CancellationToken,
    next_instance: AtomicU64,
    /// Functions whose `min_warm` instances are being started, or failed to start lately.
    provisioning: Mutex<HashMap<VersionKey, Provisioning>>,
}

/// An instance ready to run an invocation, and how it was obtained.
struct Acquired {
    instance: Instance,
    start: StartKind,
    init_ms: Option<f64>,
    _busy: Mark,
}

/// Why no instance could be had for an invocation.
enum Refusal {
    Throttled(Throttled),
    /// The runtime stopped answering.
    Unavailable(String),
    /// Starting or loading failed: the invocation ends so, having started this way.
    Failed(Ending, StartKind),
}

/// What running an invocation came to, before it is recorded.
struct Ran {
    ending: Ending,
    start: StartKind,
    init_ms: Option<f64>,
    duration_ms: f64,
    usage: Option<Usage>,
}

impl Ran {
    /// No instance could be started or loaded for it.
    fn failed_to_start(ending: Ending, start: StartKind) -> Self {
        Self {
            ending,
            start,
            init_ms: None,
            duration_ms: 0.0,
            usage: None,
        }
    }
}

/// How an invocation ended, before it is recorded.
struct Ending {
    status: Status,
    result: Option<Box<RawValue>>,
    error: Option<FunctionError>,
}

impl Ending {
    fn failed(status: Status, error: FunctionError) -> Self {
        Self {
            status,
            result: None,
            error: Some(error),
        }
    }
}

impl Engine {
    /// The engine, with its maintenance task running. Each runtime is first cleared of what a
    /// previous run left behind and tried with one instance, so that a host that cannot run it
    /// says so now rather than at the first invocation; that instance becomes a generic one.
    pub async fn start(
        runtimes: BTreeMap<RuntimeKind, RuntimeSlot>,
        registry: Arc<Registry>,
        writer: InvocationWriter,
        observer: Arc<dyn Observer>,
        limits: Limits,
        pool: PoolLimits,
        quotas: Arc<QuotaTable>,
    ) -> Self {
        let tasks = TaskTracker::new();
        let pool = Pool::new(pool, tasks.clone());
        let mut checked = BTreeMap::new();
        let mut health = BTreeMap::new();
        for (kind, slot) in runtimes {
            if let Ok(runtime) = &slot {
                // A runtime that does not answer (a stopped Docker engine) may come back; one that
                // answers but cannot start an instance is broken for good.
                let answer = runtime.check().await;
                if answer.is_ok() {
                    runtime.reap_orphans().await;
                    match probe(&pool, runtime.as_ref()).await {
                        Ok(Some(instance)) if pool.limits.prewarm > 0 => pool.put_generic(instance),
                        Ok(Some(instance)) => instance.kill().await,
                        // No language to try yet (a missing image): each says why on use.
                        Ok(None) => {}
                        Err(reason) => {
                            checked.insert(kind, Err(reason));
                            continue;
                        }
                    }
                }
                health.insert(kind, answer);
            }
            checked.insert(kind, slot);
        }
        let inner = Arc::new(Inner {
            runtimes: checked,
            health: RwLock::new(health),
            pool,
            registry,
            writer,
            observer,
            limits,
            quotas,
            tasks,
            stop: CancellationToken::new(),
            next_instance: AtomicU64::new(1),
            provisioning: Mutex::default(),
        });
        inner.tasks.spawn(inner.clone().maintain());
        inner.tasks.spawn(inner.clone().freeze_idle());
        Self { inner }
    }

    /// What the pool holds and has done.
    pub fn pool(&self) -> PoolSnapshot {
        self.inner.pool.snapshot(None)
    }

    /// What `user`'s instances are, and what memory their quota lets them reserve.
    pub fn pool_of(&self, user: &str) -> PoolSnapshot {
        PoolSnapshot {
            memory_budget_mb: self.inner.quotas.of(user).memory_mb,
            ..self.inner.pool.snapshot(Some(user))
        }
    }

    /// Each runtime, or why it cannot be used right now.
    pub fn runtimes(&self) -> Vec<(RuntimeKind, RuntimeSlot)> {
        self.inner
            .runtimes
            .keys()
            .map(|kind| (*kind, self.inner.available(*kind)))
            .collect()
    }

    /// Runs one invocation of `function` and records it. The invocation runs in its own task: a
    /// caller that goes away does not cut it short, and it is recorded all the same.
    pub async fn invoke(
        &self,
        function: Arc<Function>,
        request: InvokeRequest,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let kind = request.runtime.unwrap_or(function.runtime);
        let unavailable = |reason| InvokeError::RuntimeUnavailable {
            runtime: kind,
            reason,
        };
        let runtime = self.inner.available(kind).map_err(unavailable)?;
        if let Err(reason) = runtime.supports(function.language) {
            return Err(unavailable(format!(
                "{} functions cannot run: {reason}",
                function.language
            )));
        }
        if self.inner.tasks.is_closed() {
            return Err(InvokeError::ShuttingDown);
        }
        let inner = self.inner.clone();
        self.inner
            .tasks
            .spawn(async move { inner.run(function, runtime, request).await })
            .await
            .map_err(|e| InvokeError::Failed(format!("the invocation's task failed: {e}")))?
    }

    /// Kills the idle instances of a function that was updated. Instances running an
    /// invocation finish it on their version and are killed when they come back.
    pub fn retire(&self, function_id: &str) {
        self.inner.pool.retire(function_id);
        self.inner.pool.wake.notify_one();
    }

    /// Kills the idle instances of a deleted function and forgets its concurrency gate.
    pub fn forget(&self, function_id: &str) {
        self.inner.pool.retire(function_id);
        self.inner.pool.gates.forget(function_id);
    }

    /// Waits for invocations in flight, then kills every instance.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        futures::future::join_all(self.inner.pool.drain().into_iter().map(Instance::kill)).await;
        for runtime in self.inner.runtimes.values().flatten() {
            runtime.shutdown().await;
        }
    }
}

impl Inner {
    /// The runtime of `kind`, unless it is missing on this host or failed its last check.
    fn available(&self, kind: RuntimeKind) -> Result<Arc<dyn Runtime>, String> {
        let runtime = match self.runtimes.get(&kind) {
            Some(Ok(runtime)) => runtime,
            Some(Err(reason)) => return Err(reason.clone()),
            None => return Err("it is not configured".to_owned()),
        };
        match crate::sync::read(&self.health).get(&kind) {
            Some(Err(reason)) => Err(reason.clone()),
            _ => Ok(runtime.clone()),
        }
    }

    /// Records whether a runtime answers, logging when that changes.
    fn set_health(&self, kind: RuntimeKind, answer: Result<(), String>) {
        let mut health = crate::sync::write(&self.health);
        let before = health.insert(kind, answer.clone());
        match (before.map(|b| b.is_ok()), answer) {
            (Some(true), Err(reason)) => {
                tracing::warn!(runtime = %kind, "runtime unavailable: {reason}")
            }
            (Some(false), Ok(())) => tracing::info!(runtime = %kind, "runtime available again"),
            _ => {}
        }
    }

    /// One invocation, in order: past the function's gate, onto an instance, run, recorded.
    async fn run(
        &self,
        function: Arc<Function>,
        runtime: Arc<dyn Runtime>,
        request: InvokeRequest,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let started_at = Utc::now();
        let mut logs = LogTail::new(self.limits.log_tail_bytes);
        let capacity = function
            .max_concurrency
            .unwrap_or(self.pool.limits.max_concurrency);
        let quotas = self.quotas.of(&function.owner);
        let admitted =
            self.pool
                .gates
                .admit(&function.id, capacity, &function.owner, quotas.concurrency);
        let permit = match admitted.await {
            Ok(permit) => permit,
            Err(refusal) => {
                return self
                    .refuse(&function, runtime.kind(), started_at, refusal)
                    .await;
            }
        };
        let invocation_id = uuid::Uuid::now_v7().to_string();
        let species = (runtime.kind(), function.language);
        let tenant = || Tenant::new(&function.owner, quotas.memory_mb, species);
        let acquired = self.acquire(&function, runtime.as_ref(), tenant, &mut logs);
        let ran = match acquired.await {
            Ok(acquired) => {
                self.execute(acquired, &function, &invocation_id, &request, &mut logs)
                    .await
            }
            Err(Refusal::Failed(ending, start)) => Ran::failed_to_start(ending, start),
            Err(Refusal::Throttled(refusal)) => {
                return self
                    .refuse(&function, runtime.kind(), started_at, refusal)
                    .await;
            }
            Err(Refusal::Unavailable(reason)) => {
                return Err(InvokeError::RuntimeUnavailable {
                    runtime: runtime.kind(),
                    reason,
                });
            }
        };
        drop(permit);
        self.record(Invocation {
            status: ran.ending.status,
            result: ran.ending.result,
            error: ran.ending.error,
            logs: logs.into_text(),
            start: Some(ran.start),
            duration_ms: ran.duration_ms,
            init_ms: ran.init_ms,
            peak_memory_bytes: ran.usage.map(|u| u.peak_memory_bytes),
            cpu_time_ms: ran.usage.map(|u| u.cpu_ns as f64 / 1e6),
            ..not_run(&function, runtime.kind(), started_at, invocation_id)
        })
        .await
    }

    /// Runs the invocation on the instance it got, measuring it, and hands the instance back.
    async fn execute(
        &self,
        acquired: Acquired,
        function: &Function,
        invocation_id: &str,
        request: &InvokeRequest,
        logs: &mut LogTail,
    ) -> Ran {
        let Acquired {
            mut instance,
            start,
            init_ms,
            _busy,
        } = acquired;
        let before = instance.usage();
        let began = Instant::now();
        let ending = self
            .run_on(&mut instance, function, invocation_id, request, logs)
            .await;
        let duration_ms = began.elapsed().as_secs_f64() * 1000.0;
        let usage = before
            .zip(instance.usage())
            .map(|(before, after)| after.since(before));
        self.release(instance, function, ending.is_ok());
        Ran {
            ending: ending.unwrap_or_else(|ending| ending),
            start,
            init_ms,
            duration_ms,
            usage,
        }
    }

    async fn record(&self, invocation: Invocation) -> Result<Arc<Invocation>, InvokeError> {
        let invocation = Arc::new(invocation);
        self.writer.record(invocation.clone()).await?;
        self.observer.invoked(&invocation);
        Ok(invocation)
    }

    /// Records a throttled invocation and refuses it.
    async fn refuse(
        &self,
        function: &Function,
        runtime: RuntimeKind,
        started_at: DateTime<Utc>,
        refusal: Throttled,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let invocation_id = uuid::Uuid::now_v7().to_string();
        let invocation = self
            .record(Invocation {
                status: Status::Throttled,
                error: Some(FunctionError::platform(
                    if refusal.quota.is_some() {
                        QUOTA_EXCEEDED
                    } else {
                        "Throttled"
                    },
                    refusal.message,
                )),
                ..not_run(function, runtime, started_at, invocation_id)
            })
            .await?;
        Err(InvokeError::Throttled(invocation))
    }

    /// An idle instance of this version (warm), else a generic one loaded with the code
    /// (prewarmed), else a new one loaded with the code (cold).
    /// `tenant` is made only when the invocation is not warm: the warm path allocates nothing
    /// for it.
    async fn acquire(
        &self,
        function: &Function,
        runtime: &dyn Runtime,
        tenant: impl FnOnce() -> Tenant,
        logs: &mut LogTail,
    ) -> Result<Acquired, Refusal> {
        let species = (runtime.kind(), function.language);
        let key = PoolKey {
            version: function.version_key(),
            runtime: runtime.kind(),
        };
        if let Some(instance) = self.pool.take_warm(&key) {
            self.pool.count_start(StartKind::Warm);
            return Ok(Acquired {
                instance,
                start: StartKind::Warm,
                init_ms: None,
                _busy: self.pool.mark_busy(species),
            });
        }
        let began = Instant::now();
        let busy = self.pool.mark_busy(species);
        let (mut instance, start) = self.specialisable(function, runtime, &tenant()).await?;
        let loaded = self.load(&mut instance, function, logs).await;
        if start == StartKind::Prewarmed {
            self.pool.wake.notify_one(); // replace the generic instance taken
        }
        if let Err(ending) = loaded {
            self.pool.discard(instance);
            return Err(Refusal::Failed(ending, start));
        }
        self.pool.count_start(start);
        Ok(Acquired {
            instance,
            start,
            init_ms: Some(began.elapsed().as_secs_f64() * 1000.0),
            _busy: busy,
        })
    }

    /// An instance that has loaded nothing yet, under `function`'s memory limit: a generic one
    /// when the pool has one, else a new one.
    async fn specialisable(
        &self,
        function: &Function,
        runtime: &dyn Runtime,
        tenant: &Tenant,
    ) -> Result<(Instance, StartKind), Refusal> {
        let species = (runtime.kind(), function.language);
        if let Some(mut instance) = self.pool.take_generic(species, function.memory_mb, tenant) {
            let limit = match function.memory_mb == self.pool.limits.generic_memory_mb {
                true => Ok(()),
                false => instance.set_memory_limit(function.memory_mb).await,
            };
            match limit {
                Ok(()) => return Ok((instance, StartKind::Prewarmed)),
                // Lowering the limit below what the idle interpreter already uses fails.
                Err(e) => {
                    tracing::debug!(function = %function.name, error = %e, "cannot specialise a generic instance");
                    self.pool.discard(instance);
                }
            }
        }
        let slot = self
            .pool
            .book(function.memory_mb, tenant)
            .await
            .map_err(Refusal::Throttled)?;
        match self.boot(runtime, function.language, slot).await {
            Ok(instance) => Ok((instance, StartKind::Cold)),
            Err(BootError::Runtime(StartError::Unavailable(reason))) => {
                self.set_health(runtime.kind(), Err(reason.clone()));
                Err(Refusal::Unavailable(reason))
            }
            Err(e) => {
                tracing::warn!(function = %function.name, error = %e, "instance start failed");
                let error = FunctionError::platform("Runtime.StartError", e.to_string());
                Err(Refusal::Failed(
                    Ending::failed(Status::Crashed, error),
                    StartKind::Cold,
                ))
            }
        }
    }

    /// Starts a new instance of `language` under its slot's memory limit.
    async fn boot(
        &self,
        runtime: &dyn Runtime,
        language: Language,
        slot: Slot,
    ) -> Result<Instance, BootError> {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let _starting = self.pool.mark_starting((runtime.kind(), language));
        start_instance(&self.pool, runtime, id, language, slot).await
    }

    /// Specialises a generic instance to `function`.
    async fn load(
        &self,
        instance: &mut Instance,
        function: &Function,
        logs: &mut LogTail,
    ) -> Result<(), Ending> {
        let code = self.registry.code(function).await.map_err(|e| {
            Ending::failed(
                Status::Crashed,
                FunctionError::platform("Runtime.CodeUnavailable", e.to_string()),
            )
        })?;
        let timeout = Duration::from_secs(function.timeout.into());
        let log_end = format!("\u{1e}kindling:end:{}\u{1e}", uuid::Uuid::new_v4().simple());
        let frame = protocol::encode(&protocol::Load {
            kind: "load",
            code: &code,
            handler: &function.handler,
            env: &function.env,
            log_end: &log_end,
            function: FunctionMeta {
                name: &function.name,
                version: function.version,
                memory_mb: function.memory_mb,
                timeout_ms: timeout.as_millis() as u64,
            },
        });
        let deadline = Instant::now() + timeout;
        let failure = match exchange(instance, frame, deadline, logs).await {
            Ok(Reply::Loaded(_mode)) => {
                instance.set_log_marker(&log_end);
                return Ok(());
            }
            Ok(Reply::LoadFailed(error)) => return Err(Ending::failed(Status::Error, error)),
            Ok(other) => unexpected("'loaded'", &other),
            Err(failure) => failure,
        };
        let (status, error) = instance.explain(&failure, timeout).await;
        Err(Ending::failed(status, error))
    }

    /// Runs the invocation on `instance`. `Err` means the instance must not be used again.
    async fn run_on(
        &self,
        instance: &mut Instance,
        function: &Function,
        invocation_id: &str,
        request: &InvokeRequest,
        logs: &mut LogTail,
    ) -> Result<Ending, Ending> {
        let timeout = Duration::from_secs(function.timeout.into());
        let deadline = Instant::now() + timeout;
        let deadline_ms = (Utc::now() + timeout).timestamp_millis().max(0) as u64;
        let frame = protocol::encode(&protocol::Invoke {
            kind: "invoke",
            id: invocation_id,
            event: &request.event,
            args: &request.args,
            deadline_ms,
        });
        let failure = match exchange(instance, frame, deadline, logs).await {
            Ok(Reply::Result { id, outcome }) if id == invocation_id => {
                return Ok(match outcome {
                    ResultOutcome::Value(value) => Ending {
                        status: Status::Success,
                        result: Some(value),
                        error: None,
                    },
                    ResultOutcome::Stdout(stdout) => Ending {
                        status: Status::Success,
                        result: Some(script_result(&stdout)),
                        error: None,
                    },
                    ResultOutcome::Error(error) => Ending::failed(Status::Error, error),
                });
            }
            Ok(other) => unexpected("the invocation's result", &other),
            Err(failure) => failure,
        };
        tracing::debug!(function = %function.name, ?failure, "instance failed");
        let (status, error) = instance.explain(&failure, timeout).await;
        Err(Ending::failed(status, error))
    }

    /// Returns a healthy instance of the current version to the pool, where it is frozen once
    /// it has waited there a moment (`FREEZE_AFTER`); kills any other.
    fn release(&self, instance: Instance, function: &Function, healthy: bool) {
        if healthy && self.is_current(&function.version_key()) {
            let key = PoolKey {
                version: function.version_key(),
                runtime: instance.runtime,
            };
            self.pool
                .put_idle(key, instance, self.keep_alive(function), function.min_warm);
        } else {
            self.pool.discard(instance);
        }
    }

    /// Whether `version` is its function's current version (a deleted function has none).
    fn is_current(&self, version: &VersionKey) -> bool {
        self.registry
            .resolve(Scope::All, &version.function_id)
            .is_some_and(|f| f.version == version.version)
    }

    fn keep_alive(&self, function: &Function) -> Duration {
        function
            .keep_alive_secs
            .map_or(self.pool.limits.keep_alive, |secs| {
                Duration::from_secs(secs.into())
            })
    }
}

/// Sends an encoded request to `instance` and waits for its reply.
async fn exchange(
    instance: &mut Instance,
    frame: Result<Vec<u8>, ProtocolError>,
    deadline: Instant,
    logs: &mut LogTail,
) -> Result<Reply, Failure> {
    let frame = frame.map_err(Failure::Protocol)?;
    instance.exchange(Some(&frame), deadline, logs).await
}

/// A reply other than the one expected.
fn unexpected(expected: &'static str, got: &Reply) -> Failure {
    Failure::Protocol(ProtocolError::Unexpected {
        expected,
        got: format!("{got:?}"),
    })
}

/// The record of an invocation of `function` before anything ran: what every record has.
fn not_run(
    function: &Function,
    runtime: RuntimeKind,
    started_at: DateTime<Utc>,
    invocation_id: String,
) -> Invocation {
    Invocation {
        invocation_id,
        function_id: function.id.clone(),
        function_name: function.name.clone(),
        owner: function.owner.clone(),
        version: function.version,
        runtime,
        status: Status::Crashed,
        result: None,
        error: None,
        logs: String::new(),
        start: None,
        started_at,
        duration_ms: 0.0,
        init_ms: None,
        peak_memory_bytes: None,
        cpu_time_ms: None,
    }
}

/// Starts instance `id` of `language` on `runtime`, under its slot's memory limit.
async fn start_instance(
    pool: &Pool,
    runtime: &dyn Runtime,
    id: u64,
    language: Language,
    slot: Slot,
) -> Result<Instance, BootError> {
    let spec = InstanceSpec {
        id,
        language,
        limits: pool.limits.instance(slot.memory_mb()),
    };
    Instance::start(runtime, spec, slot, Instant::now() + BOOT_TIMEOUT).await
}

/// Starts one instance of the first language `runtime` supports (`None` when it supports none
/// yet); the error says why it cannot.
async fn probe(pool: &Pool, runtime: &dyn Runtime) -> Result<Option<Instance>, String> {
    let Some(language) = Language::ALL
        .into_iter()
        .find(|language| runtime.supports(*language).is_ok())
    else {
        return Ok(None);
    };
    let slot = pool
        .try_book(pool.limits.generic_memory_mb, None, false)
        .map_err(|_| "the pool has no room for a single instance")?;
    start_instance(pool, runtime, 0, language, slot)
        .await
        .map(Some)
        .map_err(|e| format!("a test instance failed: {e}"))
}

/// A script's stdout as a result: its JSON value when it printed JSON, else its text.
fn script_result(stdout: &str) -> Box<RawValue> {
    let text = stdout.strip_suffix('\n').unwrap_or(stdout);
    let text = text.strip_suffix('\r').unwrap_or(text);
    match serde_json::from_str::<Box<RawValue>>(text.trim()) {
        Ok(value) => value,
        Err(_) => serde_json::value::to_raw_value(text).unwrap_or_else(|_| protocol::null()),
    }
}
