//! An in-process runtime for the engine's unit tests: each instance is a task speaking the agent
//! protocol over in-memory pipes (`tokio::io::duplex`), so that the pool and the invoke path can
//! be tested without root, interpreters or real time (under `tokio::time::pause`).
//!
//! A fake agent does what each invocation's event asks — `{"do": "answer"}` (the default, with
//! an optional `"sleep_ms"` first and `"print"`ed output), `"hang"`, `"die"`, `"oom"`,
//! `"garbage"` — and loads any code except `"fail"`. The [`FakeHost`] is the tests' view from
//! outside: every instance started, which are alive and frozen, killing one, making boots slow
//! and freezing or thawing fail.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::watch;

use super::{InstanceControl, InstanceSpec, Runtime, Spawned, StartError, Usage};
use crate::model::{Language, RuntimeKind};
use crate::sync::lock;

const PIPE_BYTES: usize = 1 << 16;

/// What the tests see and steer from outside the instances.
#[derive(Default)]
pub struct FakeHost {
    processes: Mutex<Vec<Arc<FakeProcess>>>,
    /// How long an agent takes to say hello.
    pub boot_delay: Mutex<Duration>,
    /// Agents start by sending garbage instead of hello.
    pub garbage_hello: AtomicBool,
    pub fail_freeze: AtomicBool,
    pub fail_thaw: AtomicBool,
    /// How many times an instance was frozen.
    pub freezes: AtomicUsize,
}

/// One fake instance's process, as the host sees it.
pub struct FakeProcess {
    pub id: u64,
    /// `true` while frozen; the agent does nothing meanwhile.
    frozen: watch::Sender<bool>,
    /// Set by a kill; the agent ends at once, or once thawed when frozen.
    killed: watch::Sender<bool>,
    /// The agent's task is over (it exited or was killed and thawed).
    exited: AtomicBool,
    out_of_memory: AtomicBool,
}

impl FakeProcess {
    pub fn is_frozen(&self) -> bool {
        *self.frozen.borrow()
    }

    pub fn is_alive(&self) -> bool {
        !self.exited.load(Ordering::SeqCst)
    }

    /// SIGKILL from outside: a frozen instance dies only once thawed.
    pub fn kill(&self) {
        self.killed.send_replace(true);
    }
}

impl FakeHost {
    /// Every instance started so far, oldest first.
    pub fn processes(&self) -> Vec<Arc<FakeProcess>> {
        lock(&self.processes).clone()
    }

    /// Whether instance `id` was started and is gone now.
    pub fn is_gone(&self, id: u64) -> bool {
        self.processes().iter().any(|p| p.id == id && !p.is_alive())
    }

    /// The instances whose agent still runs (frozen or not).
    pub fn alive(&self) -> Vec<Arc<FakeProcess>> {
        self.processes()
            .into_iter()
            .filter(|p| p.is_alive())
            .collect()
    }
}

#[derive(Default)]
pub struct FakeRuntime {
    pub host: Arc<FakeHost>,
}

struct FakeControl {
    process: Arc<FakeProcess>,
    host: Arc<FakeHost>,
    agent: tokio::task::JoinHandle<()>,
}

impl InstanceControl for FakeControl {
    fn set_memory_limit(&self, _memory_mb: u32) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn out_of_memory(&self) -> BoxFuture<'_, bool> {
        let oom = self.process.out_of_memory.load(Ordering::SeqCst);
        Box::pin(async move { oom })
    }

    fn usage(&self) -> Option<Usage> {
        None
    }

    fn freeze(&self) -> std::io::Result<()> {
        if self.host.fail_freeze.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the fake freezer refuses"));
        }
        self.process.frozen.send_replace(true);
        self.host.freezes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn thaw(&self) -> std::io::Result<()> {
        if self.host.fail_thaw.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the fake freezer refuses"));
        }
        self.process.frozen.send_replace(false);
        Ok(())
    }

    fn killed_while_frozen(&self) -> bool {
        self.process.is_frozen() && *self.process.killed.borrow()
    }

    fn kill(&mut self) -> BoxFuture<'_, ()> {
        self.agent.abort();
        self.process.exited.store(true, Ordering::SeqCst);
        Box::pin(async {})
    }
}

impl Drop for FakeControl {
    fn drop(&mut self) {
        self.agent.abort();
        self.process.exited.store(true, Ordering::SeqCst);
    }
}

impl Runtime for FakeRuntime {
    /// It stands in for the sandbox.
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Sandbox
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn supports(&self, _language: Language) -> Result<(), String> {
        Ok(())
    }

    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<Spawned, StartError>> {
        let process = Arc::new(FakeProcess {
            id: spec.id,
            frozen: watch::Sender::new(false),
            killed: watch::Sender::new(false),
            exited: AtomicBool::new(false),
            out_of_memory: AtomicBool::new(false),
        });
        lock(&self.host.processes).push(process.clone());
        let (stdin, agent_stdin) = tokio::io::duplex(PIPE_BYTES);
        let (agent_stdout, stdout) = tokio::io::duplex(PIPE_BYTES);
        let (agent_stderr, stderr) = tokio::io::duplex(PIPE_BYTES);
        let boot = Boot {
            delay: *lock(&self.host.boot_delay),
            garbage: self.host.garbage_hello.load(Ordering::SeqCst),
        };
        let agent = tokio::spawn(supervise(
            process.clone(),
            agent(
                process.clone(),
                boot,
                agent_stdin,
                agent_stdout,
                agent_stderr,
            ),
        ));
        let control = FakeControl {
            process,
            host: self.host.clone(),
            agent,
        };
        Box::pin(async move {
            Ok(Spawned {
                stdin: Box::pin(stdin),
                stdout: Box::pin(stdout),
                stderr: Box::pin(stderr),
                control: Box::new(control),
            })
        })
    }

    fn reap_orphans(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

struct Boot {
    delay: Duration,
    garbage: bool,
}

/// Runs the agent until it ends or is killed (at once, or when thawed if frozen), then marks the
/// process gone; its pipes close with it.
async fn supervise(process: Arc<FakeProcess>, agent: impl Future<Output = ()>) {
    let mut killed = process.killed.subscribe();
    let mut frozen = process.frozen.subscribe();
    let killed_and_thawed = async {
        let _ = killed.wait_for(|killed| *killed).await;
        let _ = frozen.wait_for(|frozen| !*frozen).await;
    };
    tokio::select! {
        () = agent => {}
        () = killed_and_thawed => {}
    }
    process.exited.store(true, Ordering::SeqCst);
}

/// The fake agent: hello, then one reply per request, each step waiting while frozen.
async fn agent(
    process: Arc<FakeProcess>,
    boot: Boot,
    stdin: DuplexStream,
    mut stdout: DuplexStream,
    mut stderr: DuplexStream,
) {
    let mut thawed = process.frozen.subscribe();
    tokio::time::sleep(boot.delay).await;
    let hello = match boot.garbage {
        true => "this is not a frame\n".to_owned(),
        false => frame(json!({"type": "hello", "language": "fake", "version": "1"})),
    };
    if stdout.write_all(hello.as_bytes()).await.is_err() {
        return;
    }
    let mut log_end = String::new();
    let mut requests = BufReader::new(stdin).lines();
    while let Ok(Some(line)) = requests.next_line().await {
        let _ = thawed.wait_for(|frozen| !*frozen).await;
        let request: Value = serde_json::from_str(&line).unwrap_or_default();
        let reply = match request["type"].as_str() {
            Some("load") if request["code"] == "fail" => json!({
                "type": "load_failed",
                "error": {"errorType": "Fake.LoadError", "errorMessage": "told to fail", "stackTrace": []}
            }),
            Some("load") => {
                log_end = request["log_end"].as_str().unwrap_or_default().to_owned();
                json!({"type": "loaded", "mode": "handler"})
            }
            Some("invoke") => {
                let event = &request["event"];
                if let Some(ms) = event["sleep_ms"].as_u64() {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                match event["do"].as_str().unwrap_or("answer") {
                    "hang" => std::future::pending().await,
                    "die" => return,
                    "oom" => {
                        process.out_of_memory.store(true, Ordering::SeqCst);
                        return;
                    }
                    "garbage" => {
                        let _ = stdout.write_all(b"{not json\n").await;
                        continue;
                    }
                    _ => {}
                }
                let printed = event["print"].as_str().unwrap_or_default();
                if write_logs(&mut stderr, printed, &log_end).await.is_err() {
                    return;
                }
                json!({"type": "result", "id": request["id"], "ok": true,
                       "value": {"instance": process.id, "event": event}})
            }
            _ => return,
        };
        if stdout.write_all(frame(reply).as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn write_logs(
    stderr: &mut (impl AsyncWrite + Unpin),
    printed: &str,
    log_end: &str,
) -> std::io::Result<()> {
    stderr.write_all(printed.as_bytes()).await?;
    stderr.write_all(log_end.as_bytes()).await
}

fn frame(value: Value) -> String {
    let mut line = value.to_string();
    line.push('\n');
    line
}
