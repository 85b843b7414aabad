//! One instance seen from the engine: the protocol over its streams, supervised in one place.
//!
//! Every exchange with the agent — waiting for `hello`, `load`, `invoke` — goes through
//! [`Instance::exchange`]: a single `select!` over the agent's reply, its output (kept as logs) and
//! the deadline. Whatever goes wrong ends the instance: the caller kills it and never reuses it.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use tokio_util::codec::{FramedRead, LinesCodec};

use super::ledger::Slot;
use super::logs::LogTail;
use super::output::Output;
use crate::agents::protocol::{self, MAX_FRAME_BYTES, ProtocolError, Reply};
use crate::model::{FunctionError, Language, RuntimeKind, Status};
use crate::runtimes::InstanceSpec;
use crate::runtimes::{BoxRead, BoxWrite, InstanceControl, Runtime, Spawned, StartError, Usage};

/// How long the end-of-output marker may trail the reply before the logs are taken as they are.
const MARKER_GRACE: Duration = Duration::from_millis(500);

/// Why an exchange with an agent failed.
#[derive(Debug)]
pub enum Failure {
    /// The deadline passed first.
    Timeout,
    /// The instance's process is gone (it exited or was killed).
    Died,
    /// The agent sent something that is not a frame we expected.
    Protocol(ProtocolError),
}

pub struct Instance {
    pub id: u64,
    pub language: Language,
    pub runtime: RuntimeKind,
    /// Its booking in the pool's ledger, released when the instance is dropped.
    pub slot: Slot,
    stdin: BoxWrite,
    replies: FramedRead<BoxRead, LinesCodec>,
    output: Output,
    control: Box<dyn InstanceControl>,
    pub last_used: Instant,
    /// Whether its processes are frozen (it waits in the pool).
    frozen: bool,
}

/// Starting an instance failed: why, with what it printed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Runtime(#[from] StartError),
    #[error("the instance did not start: {reason}{}", output_suffix(.output))]
    Agent { reason: String, output: String },
}

fn output_suffix(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!("; it printed: {}", output.trim())
    }
}

impl Instance {
    /// Starts an instance on `runtime`, booked as `slot`, and waits for its agent's `hello`.
    pub async fn start(
        runtime: &dyn Runtime,
        spec: InstanceSpec,
        slot: Slot,
        deadline: Instant,
    ) -> Result<Self, BootError> {
        let (id, language) = (spec.id, spec.language);
        let Spawned {
            stdin,
            stdout,
            stderr,
            control,
        } = runtime.start(spec).await?;
        let now = Instant::now();
        let mut instance = Self {
            id,
            language,
            runtime: runtime.kind(),
            slot,
            stdin,
            replies: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_FRAME_BYTES)),
            output: Output::new(stderr),
            control,
            last_used: now,
            frozen: false,
        };
        let mut output = LogTail::new(4096);
        let reason = match instance.exchange(None, deadline, &mut output).await {
            Ok(Reply::Hello) => return Ok(instance),
            Ok(other) => format!("expected 'hello', got {other:?}"),
            Err(Failure::Timeout) => "no 'hello' from the agent in time".to_owned(),
            Err(Failure::Died) => "the agent exited".to_owned(),
            Err(Failure::Protocol(e)) => e.to_string(),
        };
        instance.kill().await;
        Err(BootError::Agent {
            reason,
            output: output.into_text(),
        })
    }

    /// Sends one request (or none, to wait for an unsolicited frame) and returns the reply,
    /// collecting what the instance prints meanwhile into `logs`.
    pub async fn exchange(
        &mut self,
        request: Option<&[u8]>,
        deadline: Instant,
        logs: &mut LogTail,
    ) -> Result<Reply, Failure> {
        // The request is written piece by piece inside the loop, so that an instance printing a
        // lot cannot block on its output pipe while we block on its input pipe.
        let mut unsent = request.unwrap_or_default();
        let mut chunk = [0u8; 8192];
        self.output.begin();
        let reply = loop {
            tokio::select! {
                biased;
                frame = self.replies.next() => break match frame {
                    Some(Ok(line)) => protocol::decode(&line).map_err(Failure::Protocol)?,
                    Some(Err(e)) => return Err(Failure::Protocol(e.into())),
                    None => return Err(Failure::Died),
                },
                written = self.stdin.write(unsent), if !unsent.is_empty() => match written {
                    Ok(n) if n > 0 => unsent = &unsent[n..],
                    _ => return Err(Failure::Died),
                },
                () = self.output.read(&mut chunk, logs) => {}
                _ = tokio::time::sleep_until(deadline) => return Err(Failure::Timeout),
            }
        };
        // What the function printed before it returned is in the output pipe already, or — where
        // output and replies are not ordered — arrives shortly, up to the end-of-output marker.
        self.output.read_ready(&mut chunk, logs);
        if matches!(reply, Reply::Result { .. }) && self.output.has_marker() {
            let grace = deadline.min(Instant::now() + MARKER_GRACE);
            while !self.output.ended() {
                tokio::select! {
                    () = self.output.read(&mut chunk, logs) => {}
                    _ = tokio::time::sleep_until(grace) => break,
                }
            }
        }
        self.output.finish(logs);
        Ok(reply)
    }

    /// From now on, each invocation's output ends with `marker` (sent to the agent at load).
    pub fn set_log_marker(&mut self, marker: &str) {
        self.output.set_marker(marker.as_bytes().to_vec());
    }

    pub async fn set_memory_limit(&mut self, memory_mb: u32) -> std::io::Result<()> {
        self.control.set_memory_limit(memory_mb).await
    }

    /// CPU time so far and peak memory since the previous reading (see [`InstanceControl::usage`]).
    pub fn usage(&self) -> Option<Usage> {
        self.control.usage()
    }

    /// Whether an idle instance is still there: its reply stream has neither ended nor carried
    /// anything unasked for. Never waits.
    pub fn is_alive(&mut self) -> bool {
        self.replies.next().now_or_never().is_none()
    }

    /// Freezes the instance as it goes idle (quick: the pool is locked). An error means it could
    /// not be frozen and must be killed; a runtime that cannot freeze at all leaves it running.
    pub fn freeze(&mut self) -> std::io::Result<()> {
        if self.frozen {
            return Ok(());
        }
        match self.control.freeze() {
            Ok(()) => {
                self.frozen = true;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes an idle instance ready for an invocation: drops what it printed while idle, and
    /// thaws it. An error means it must be killed, not used.
    pub fn wake(&mut self) -> std::io::Result<()> {
        self.output.discard_idle();
        if self.frozen {
            self.control.thaw()?;
            self.frozen = false;
        }
        Ok(())
    }

    /// Whether it waits frozen (see [`Instance::freeze`]).
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Whether it was killed from outside while frozen (and will die once thawed).
    pub fn killed_while_frozen(&self) -> bool {
        self.frozen && self.control.killed_while_frozen()
    }

    /// What a failure means for the invocation that hit it.
    pub async fn explain(
        &mut self,
        failure: &Failure,
        timeout: Duration,
    ) -> (Status, FunctionError) {
        let out_of_memory = matches!(failure, Failure::Died) && self.control.out_of_memory().await;
        match failure {
            Failure::Timeout => (
                Status::Timeout,
                FunctionError::platform(
                    "Runtime.Timeout",
                    format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                ),
            ),
            Failure::Died if out_of_memory => (
                Status::OutOfMemory,
                FunctionError::platform(
                    "Runtime.OutOfMemory",
                    format!(
                        "the function exceeded its memory limit of {} MB and was killed",
                        self.slot.memory_mb()
                    ),
                ),
            ),
            Failure::Died => (
                Status::Crashed,
                FunctionError::platform(
                    "Runtime.ExitError",
                    "the function's process exited before it answered",
                ),
            ),
            Failure::Protocol(error @ ProtocolError::Encode(_)) => (
                Status::Crashed,
                FunctionError::platform("Runtime.EncodeError", error.to_string()),
            ),
            Failure::Protocol(error) => (
                Status::Crashed,
                FunctionError::platform(
                    "Runtime.ProtocolError",
                    format!("the instance broke the protocol: {error}"),
                ),
            ),
        }
    }

    /// Kills the instance and releases everything it held.
    pub async fn kill(mut self) {
        self.control.kill().await;
    }
}
