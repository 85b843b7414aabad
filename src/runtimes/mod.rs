//! Where instances run: the [`Runtime`] trait and its kinds.
//!
//! A runtime starts an instance process (an agent, see [`crate::agents`]) under limits, as a host
//! uid of its own ([`uids`]), and hands back its three streams plus an [`InstanceControl`];
//! everything above — the protocol, timeouts, logs — is the engine's and is the same for every
//! runtime.

pub mod docker;
#[cfg(test)]
pub mod fake;
pub mod freezer;
pub mod sandbox;
pub mod uids;

use std::path::Path;
use std::pin::Pin;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use self::freezer::Freezer;
use crate::model::Language;
pub use crate::model::RuntimeKind;

/// A name for this server's instances that stays the same across restarts (it comes from the
/// data dir), so that a restarted server finds what a crashed run left behind, and two servers on
/// one host never touch each other's instances.
pub fn server_id(data_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    hex::encode(&Sha256::digest(data_dir.as_os_str().as_encoded_bytes())[..6])
}

/// Resource limits of one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceLimits {
    pub memory_mb: u32,
    pub pids_max: u32,
    pub cpus: f64,
    pub tmp_size_mb: u32,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Unique among this server's instances; runtimes use it to name what they create.
    pub id: u64,
    pub language: Language,
    pub limits: InstanceLimits,
}

pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// A started instance: the agent's standard streams and the handle that controls it.
pub struct Spawned {
    /// Requests to the agent.
    pub stdin: BoxWrite,
    /// Replies from the agent.
    pub stdout: BoxRead,
    /// Everything the function prints.
    pub stderr: BoxRead,
    pub control: Box<dyn InstanceControl>,
}

impl Spawned {
    /// A process spawned with its stdin, stdout and stderr piped, as an instance controlled by
    /// what `control` makes of the process.
    pub fn from_child<C: InstanceControl + 'static>(
        mut child: tokio::process::Child,
        control: impl FnOnce(tokio::process::Child) -> C,
    ) -> std::io::Result<Self> {
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the instance's pipes are missing"));
        };
        Ok(Self {
            stdin: Box::pin(stdin),
            stdout: Box::pin(stdout),
            stderr: Box::pin(stderr),
            control: Box::new(control(child)),
        })
    }
}

/// Control of one running instance, kept by the engine for the instance's whole life.
pub trait InstanceControl: Send + Sync {
    /// Changes the memory limit (a generic instance is specialised to a function's limit).
    fn set_memory_limit(&self, memory_mb: u32) -> BoxFuture<'_, std::io::Result<()>>;

    /// Whether the kernel killed something in the instance for exceeding its memory limit.
    fn out_of_memory(&self) -> BoxFuture<'_, bool>;

    /// What the kernel has accounted to the instance, or `None` where the runtime cannot tell.
    /// Each call restarts the peak-memory period, so that a reading taken before an invocation
    /// and one taken after it bracket exactly that invocation. Called twice per invocation:
    /// it must be cheap (a few reads of files already open).
    fn usage(&self) -> Option<Usage>;

    /// The cgroup freezer of the instance's processes, where the runtime has one here.
    fn freezer(&self) -> Option<&Freezer> {
        None
    }

    /// Stops every process of the instance while it waits in the pool. Often called with the
    /// pool locked: it must be quick (one write to a file already open). `Unsupported` where the
    /// runtime cannot freeze; the instance then waits running.
    fn freeze(&self) -> std::io::Result<()> {
        self.freezer().ok_or_else(no_freezer)?.freeze()
    }

    /// Lets a frozen instance run again, on the invoke path: it must be cheap. An instance whose
    /// thaw fails is killed, never used.
    fn thaw(&self) -> std::io::Result<()> {
        self.freezer().ok_or_else(no_freezer)?.thaw()
    }

    /// Whether the frozen instance was killed from outside: its processes only die, and its
    /// streams only end, once it is thawed. Asked by the maintenance task, not on the invoke path.
    fn killed_while_frozen(&self) -> bool {
        self.freezer().is_some_and(Freezer::killed_while_frozen)
    }

    /// Kills every process of the instance, waits until they are gone and removes what the
    /// runtime created for it. Safe to call on an instance that already died.
    fn kill(&mut self) -> BoxFuture<'_, ()>;
}

fn no_freezer() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the instance's cgroup has no freezer here",
    )
}

/// One reading of an instance's resource accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used by all of the instance's processes since it started (user and system).
    pub cpu_ns: u64,
    /// The most memory the instance used since the previous reading (or since it started).
    pub peak_memory_bytes: u64,
}

impl Usage {
    /// What was used between `before` and this later reading.
    pub fn since(self, before: Usage) -> Usage {
        Usage {
            cpu_ns: self.cpu_ns.saturating_sub(before.cpu_ns),
            peak_memory_bytes: self.peak_memory_bytes,
        }
    }
}

/// Why a runtime could not start an instance.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{language} is not available on the {runtime} runtime: {reason}")]
    LanguageUnavailable {
        runtime: RuntimeKind,
        language: Language,
        reason: String,
    },
    /// The runtime itself is gone (e.g. its Docker engine stopped answering).
    #[error("{0}")]
    Unavailable(String),
    /// The runtime refused this instance (the Docker engine's answer).
    #[error("{0}")]
    Refused(String),
    #[error("the sandbox's spawner thread has stopped")]
    SpawnerStopped,
    /// No uid for the instance: the range is used up, or the claims cannot be recorded.
    #[error(transparent)]
    Uid(#[from] uids::UidError),
}

/// A place where instances run.
pub trait Runtime: Send + Sync {
    fn kind(&self) -> RuntimeKind;

    /// Whether the runtime can start instances right now (its Docker engine answers, say); the
    /// error says why not. Called at start-up and then periodically.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;

    /// Whether this runtime can run `language` here, and why not (as of the last check).
    fn supports(&self, language: Language) -> Result<(), String>;

    /// Starts one instance of `spec.language`'s agent under `spec.limits`.
    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<Spawned, StartError>>;

    /// Removes every instance a previous run of this server left behind (after a crash) or that
    /// this run still has (at shutdown).
    fn reap_orphans(&self) -> BoxFuture<'_, ()>;

    /// At shutdown, after the engine killed its instances: removes what is left, and what the
    /// runtime set up for the server as a whole.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.reap_orphans()
    }
}
