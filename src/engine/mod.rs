//! The invoke path: find or start an instance for a function version, run the invocation on it,
//! record the outcome.
//!
//! ```text
//! invoke ─► pool: idle instance of this version?          ── warm
//!                 else start an instance + load the code   ── cold
//!        ─► instance: invoke frame ─► result frame (or timeout / crash / OOM)
//!        ─► healthy? back to the pool : killed
//!        ─► invocation record (group-committed) ─► caller
//! ```

mod instance;
mod logs;
mod outcome;
mod pool;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::value::RawValue;
use tokio_util::task::TaskTracker;

use crate::agents::protocol::{self, FunctionError, FunctionMeta, Reply, ResultOutcome};
use crate::config::Limits;
use crate::functions::{Function, Registry, registry::Scope};
use crate::runtimes::{InstanceLimits, InstanceSpec, Runtime, RuntimeKind};
use crate::store::{Invocation, InvocationWriter, StoreError};

pub use instance::{BootError, Failure, Instance};
pub use logs::LogTail;
pub use outcome::{StartKind, Status};
use pool::{Pool, PoolKey};

/// How long an instance may take to start its agent.
const BOOT_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error("recording the invocation failed: {0}")]
    Record(#[from] StoreError),
}

/// A runtime, or why this host cannot offer it.
pub type RuntimeSlot = Result<Arc<dyn Runtime>, String>;

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    runtimes: BTreeMap<RuntimeKind, RuntimeSlot>,
    pool: Pool,
    registry: Arc<Registry>,
    writer: InvocationWriter,
    limits: Limits,
    /// Invocations in flight and instances being killed; shutdown waits for them.
    tasks: TaskTracker,
    next_instance: AtomicU64,
}

/// An instance ready to run an invocation, and how it was obtained.
struct Acquired {
    instance: Instance,
    start: StartKind,
    init_ms: Option<f64>,
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
    pub fn new(
        runtimes: BTreeMap<RuntimeKind, RuntimeSlot>,
        registry: Arc<Registry>,
        writer: InvocationWriter,
        limits: Limits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                runtimes,
                pool: Pool::default(),
                registry,
                writer,
                limits,
                tasks: TaskTracker::new(),
                next_instance: AtomicU64::new(1),
            }),
        }
    }

    /// Each runtime, or why this host cannot offer it.
    pub fn runtimes(&self) -> impl Iterator<Item = (RuntimeKind, Result<&dyn Runtime, &str>)> {
        self.inner.runtimes.iter().map(|(kind, slot)| {
            (
                *kind,
                slot.as_ref().map(|r| r.as_ref()).map_err(String::as_str),
            )
        })
    }

    /// Runs one invocation of `function` and records it. The invocation runs in its own task: a
    /// caller that goes away does not cut it short, and it is recorded all the same.
    pub async fn invoke(
        &self,
        function: Arc<Function>,
        request: InvokeRequest,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let kind = request.runtime.unwrap_or(function.runtime);
        let runtime = match self.inner.runtimes.get(&kind) {
            Some(Ok(runtime)) => runtime.clone(),
            Some(Err(reason)) => {
                return Err(InvokeError::RuntimeUnavailable {
                    runtime: kind,
                    reason: reason.clone(),
                });
            }
            None => {
                return Err(InvokeError::RuntimeUnavailable {
                    runtime: kind,
                    reason: "it is not configured".to_owned(),
                });
            }
        };
        if let Err(reason) = runtime.supports(function.language) {
            return Err(InvokeError::RuntimeUnavailable {
                runtime: kind,
                reason: format!("{} functions cannot run: {reason}", function.language),
            });
        }
        if self.inner.tasks.is_closed() {
            return Err(InvokeError::ShuttingDown);
        }
        let inner = self.inner.clone();
        self.inner
            .tasks
            .spawn(async move { inner.run(function, runtime, request).await })
            .await
            .map_err(|e| {
                InvokeError::Record(StoreError::Corrupt(format!("invocation task failed: {e}")))
            })?
    }

    /// Kills the idle instances of a function that was updated or deleted. Instances running an
    /// invocation finish it on their version and are killed when they come back.
    pub fn retire(&self, function_id: &str) {
        for instance in self.inner.pool.remove_function(function_id) {
            self.inner.tasks.spawn(instance.kill());
        }
    }

    /// Waits for invocations in flight, then kills every instance.
    pub async fn shutdown(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        for instance in self.inner.pool.remove_all() {
            instance.kill().await;
        }
        for runtime in self.inner.runtimes.values().flatten() {
            runtime.reap_orphans().await;
        }
    }
}

impl Inner {
    async fn run(
        &self,
        function: Arc<Function>,
        runtime: Arc<dyn Runtime>,
        request: InvokeRequest,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let started_at = Utc::now();
        let invocation_id = uuid::Uuid::now_v7().to_string();
        let timeout = Duration::from_secs(function.timeout.into());
        let mut logs = LogTail::new(self.limits.log_tail_bytes);

        let (ending, start, init_ms, duration_ms) =
            match self.acquire(&function, runtime.as_ref(), &mut logs).await {
                Err(ending) => (ending, None, None, 0.0),
                Ok(Acquired {
                    mut instance,
                    start,
                    init_ms,
                }) => {
                    let began = Instant::now();
                    let ending = self
                        .run_on(
                            &mut instance,
                            &function,
                            &invocation_id,
                            &request,
                            timeout,
                            &mut logs,
                        )
                        .await;
                    let duration_ms = began.elapsed().as_secs_f64() * 1000.0;
                    self.release(instance, &function, ending.is_ok());
                    (
                        ending.unwrap_or_else(|e| e),
                        Some(start),
                        init_ms,
                        duration_ms,
                    )
                }
            };

        let invocation = Arc::new(Invocation {
            invocation_id,
            function_id: function.id.clone(),
            function_name: function.name.clone(),
            owner: function.owner.clone(),
            version: function.version,
            runtime: runtime.kind(),
            status: ending.status,
            result: ending.result,
            error: ending.error,
            logs: logs.into_text(),
            start,
            started_at,
            duration_ms,
            init_ms,
        });
        self.writer.record(invocation.clone()).await?;
        Ok(invocation)
    }

    /// An idle instance of this version (warm), or a new one with the code loaded (cold).
    /// On failure, how the invocation ends.
    async fn acquire(
        &self,
        function: &Function,
        runtime: &dyn Runtime,
        logs: &mut LogTail,
    ) -> Result<Acquired, Ending> {
        let key = PoolKey {
            version: function.version_key(),
            runtime: runtime.kind(),
        };
        if let Some(instance) = self.pool.take(&key) {
            return Ok(Acquired {
                instance,
                start: StartKind::Warm,
                init_ms: None,
            });
        }
        let began = Instant::now();
        let spec = InstanceSpec {
            id: self.next_instance.fetch_add(1, Ordering::Relaxed),
            language: function.language,
            limits: InstanceLimits {
                memory_mb: function.memory_mb,
            },
        };
        let mut instance = Instance::start(runtime, spec, began + BOOT_TIMEOUT)
            .await
            .map_err(|e| {
                tracing::warn!(function = %function.name, error = %e, "instance start failed");
                Ending::failed(
                    Status::Crashed,
                    FunctionError::platform("Runtime.StartError", e.to_string()),
                )
            })?;
        if let Err(ending) = self.load(&mut instance, function, logs).await {
            instance.kill().await;
            return Err(ending);
        }
        Ok(Acquired {
            instance,
            start: StartKind::Cold,
            init_ms: Some(began.elapsed().as_secs_f64() * 1000.0),
        })
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
        let frame = protocol::encode(&protocol::Load {
            kind: "load",
            code: &code,
            handler: &function.handler,
            env: &function.env,
            function: FunctionMeta {
                name: &function.name,
                version: function.version,
                memory_mb: function.memory_mb,
                timeout_ms: timeout.as_millis() as u64,
            },
        });
        match instance
            .exchange(Some(&frame), Instant::now() + timeout, logs)
            .await
        {
            Ok(Reply::Loaded(mode)) => {
                instance.mode = Some(mode);
                Ok(())
            }
            Ok(Reply::LoadFailed(error)) => Err(Ending::failed(Status::Error, error)),
            Ok(other) => {
                let failure = Failure::Protocol(format!("expected 'loaded', got {other:?}"));
                let (status, error) = instance.explain(&failure, timeout);
                Err(Ending::failed(status, error))
            }
            Err(failure) => {
                let (status, error) = instance.explain(&failure, timeout);
                Err(Ending::failed(status, error))
            }
        }
    }

    /// Runs the invocation on `instance`. `Err` means the instance must not be used again.
    async fn run_on(
        &self,
        instance: &mut Instance,
        function: &Function,
        invocation_id: &str,
        request: &InvokeRequest,
        timeout: Duration,
        logs: &mut LogTail,
    ) -> Result<Ending, Ending> {
        let deadline = Instant::now() + timeout;
        let deadline_ms = (Utc::now() + timeout).timestamp_millis().max(0) as u64;
        let frame = protocol::encode(&protocol::Invoke {
            kind: "invoke",
            id: invocation_id,
            event: &request.event,
            args: &request.args,
            deadline_ms,
        });
        let failure = match instance.exchange(Some(&frame), deadline, logs).await {
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
            Ok(Reply::Result { id, .. }) => Failure::Protocol(format!(
                "result for invocation {id}, expected {invocation_id}"
            )),
            Ok(other) => Failure::Protocol(format!("expected a result, got {other:?}")),
            Err(failure) => failure,
        };
        tracing::debug!(function = %function.name, ?failure, "instance failed");
        let (status, error) = instance.explain(&failure, timeout);
        Err(Ending::failed(status, error))
    }

    /// Returns a healthy instance of the current version to the pool; kills any other.
    fn release(&self, instance: Instance, function: &Function, healthy: bool) {
        let current = self
            .registry
            .resolve(Scope::All, &function.id)
            .is_some_and(|f| f.version == function.version);
        if healthy && current {
            let key = PoolKey {
                version: function.version_key(),
                runtime: instance.runtime,
            };
            let mut instance = instance;
            instance.last_used = Instant::now();
            self.pool.put(key, instance);
        } else {
            self.tasks.spawn(instance.kill());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_printing_json_return_json() {
        assert_eq!(script_result("{\"sum\":15}\n").get(), "{\"sum\":15}");
        assert_eq!(script_result("Hello, Alice!\n").get(), "\"Hello, Alice!\"");
        assert_eq!(script_result("").get(), "\"\"");
        assert_eq!(script_result("two\nlines\n").get(), "\"two\\nlines\"");
    }
}
