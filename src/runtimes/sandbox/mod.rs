//! The `sandbox` runtime: the host's own python3 and node, each instance in its own Linux
//! namespaces (mount, pid, net, ipc, uts) with a minimal read-only root, a private size-capped
//! `/tmp`, a cgroup (memory, pids, CPU), rlimits, a seccomp filter, no new privileges and no
//! capabilities, as an unprivileged uid of its own ([`crate::runtimes::uids`]).
//!
//! The engine prepares each instance (uid, cgroup, empty root directory, [`policy::LaunchPlan`]) and starts the helper `kindling __sandbox-exec` ([`exec`]) with the
//! instance's pipes; the helper applies the plan and execs the agent.

mod cgroup;
pub mod exec;
mod instance;
pub mod policy;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use self::cgroup::CgroupError;
use self::cgroup::{CgroupLimits, CgroupTree};
use self::instance::SandboxInstance;
use self::policy::{LaunchPlan, Mount};
use super::uids::UidPool;
use super::{InstanceSpec, Runtime, Spawned, StartError, server_id};
use crate::agents::AGENT_ENV;
use crate::config::SandboxConfig;
use crate::model::{Language, RuntimeKind};

/// Why this host cannot run sandboxes.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("it needs root (to create namespaces and cgroups), and kindling runs as uid {0}")]
    NotRoot(u32),
    #[error("cannot find its own executable: {0}")]
    NoExecutable(#[source] std::io::Error),
    #[error("the helper {} does not exist", .0.display())]
    NoHelper(PathBuf),
    #[error("cannot use {}: {source}", .path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the data dir {} is inside a directory the sandbox mounts; move it elsewhere", .0.display())]
    DataDirVisible(PathBuf),
    #[error("/bin/sh, which starts the agents, is missing")]
    NoShell,
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("the sandbox runtime needs a Tokio runtime: {0}")]
    NoTokio(#[from] tokio::runtime::TryCurrentError),
    #[error("cannot start the spawner thread: {0}")]
    Spawner(#[source] std::io::Error),
}

/// The hidden subcommand that runs [`exec::run`].
pub const HELPER_SUBCOMMAND: &str = "__sandbox-exec";

pub struct SandboxRuntime {
    shared: Arc<Shared>,
    /// Hands instance starts to the spawner thread.
    spawner: std::sync::mpsc::Sender<SpawnRequest>,
}

/// One instance to start, and where to send it.
type SpawnRequest = (
    InstanceSpec,
    tokio::sync::oneshot::Sender<Result<Spawned, StartError>>,
);

struct Shared {
    helper: PathBuf,
    cgroups: CgroupTree,
    /// Parent of the instances' root directories.
    roots: PathBuf,
    uids: Arc<UidPool>,
    mounts: Vec<Mount>,
    /// Each language's interpreter, or why it cannot be used.
    interpreters: HashMap<Language, Result<String, String>>,
}

impl SandboxRuntime {
    /// Checks that this host can run sandboxes and prepares the server's share of them; each
    /// instance runs as a uid of `uids`. The error names what is missing.
    pub fn new(
        config: &SandboxConfig,
        data_dir: &Path,
        uids: Arc<UidPool>,
    ) -> Result<Self, SandboxError> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(SandboxError::NotRoot(euid));
        }
        let helper = match &config.helper {
            Some(helper) => helper.clone(),
            None => std::env::current_exe().map_err(SandboxError::NoExecutable)?,
        };
        if !helper.is_file() {
            return Err(SandboxError::NoHelper(helper));
        }
        let directory = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SandboxError::Directory { path, source }
        };
        let data_dir = std::fs::canonicalize(data_dir).map_err(directory(data_dir))?;
        let sandbox_dir = data_dir.join("sandbox");
        let mounts = policy::root_mounts(&config.extra_read_only);
        if policy::is_visible(&mounts, &data_dir) {
            return Err(SandboxError::DataDirVisible(data_dir));
        }
        if !policy::is_visible(&mounts, Path::new("/bin/sh")) || !Path::new("/bin/sh").exists() {
            return Err(SandboxError::NoShell);
        }
        let cgroups = CgroupTree::open(&config.cgroup_root, &server_id(&data_dir))?;
        let roots = sandbox_dir.join("roots");
        std::fs::create_dir_all(&roots).map_err(directory(&roots))?;
        let interpreters = Language::ALL
            .into_iter()
            .map(|language| (language, interpreter(config, language, &mounts)))
            .collect();
        let shared = Arc::new(Shared {
            helper,
            cgroups,
            roots,
            uids,
            mounts,
            interpreters,
        });
        let spawner = spawner(shared.clone())?;
        Ok(Self { shared, spawner })
    }
}

/// The one thread that starts helpers, living as long as the runtime. A helper asks to die with
/// its parent (`PR_SET_PDEATHSIG`), and for the kernel the parent is the *thread* that forked it:
/// started from a pool thread that later retires, it would die with that thread.
fn spawner(shared: Arc<Shared>) -> Result<std::sync::mpsc::Sender<SpawnRequest>, SandboxError> {
    let runtime = tokio::runtime::Handle::try_current()?;
    let (requests, incoming) = std::sync::mpsc::channel::<SpawnRequest>();
    std::thread::Builder::new()
        .name("kindling-spawner".to_owned())
        .spawn(move || {
            // Child processes are watched by the Tokio runtime's reaper.
            let _runtime = runtime.enter();
            for (spec, reply) in incoming {
                let _ = reply.send(shared.spawn(&spec));
            }
        })
        .map_err(SandboxError::Spawner)?;
    Ok(requests)
}

impl Shared {
    /// Prepares and spawns one instance (blocking: cgroup and directory set-up), on the spawner
    /// thread.
    fn spawn(&self, spec: &InstanceSpec) -> Result<Spawned, StartError> {
        let interpreter = self.interpreters[&spec.language]
            .as_ref()
            .map_err(|reason| StartError::LanguageUnavailable {
                runtime: RuntimeKind::Sandbox,
                language: spec.language,
                reason: reason.clone(),
            })?;
        let name = format!("i{}", spec.id);
        let uid = self.uids.claim(RuntimeKind::Sandbox)?;
        let (uid_number, gid) = (uid.uid(), uid.gid());
        let cgroup = self.cgroups.create(
            &name,
            CgroupLimits {
                memory_mb: spec.limits.memory_mb,
                pids_max: spec.limits.pids_max,
                cpus: spec.limits.cpus,
            },
        );
        let cgroup = match cgroup {
            Ok(cgroup) => cgroup,
            Err(e) => {
                uid.release();
                return Err(e.into());
            }
        };
        let root = self.roots.join(&name);
        let mut instance = SandboxInstance::new(cgroup, root.clone(), uid);
        std::fs::create_dir_all(&root)?;
        // The instance's uid walks its `/`, whatever mask the engine runs with.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        let plan = LaunchPlan {
            root,
            cgroup_procs: instance.cgroup().procs_files(),
            mounts: policy::instance_mounts(&self.mounts, spec.limits.tmp_size_mb, uid_number, gid),
            argv: spec.language.agent_command(interpreter),
            env: std::iter::once(policy::PATH)
                .chain(AGENT_ENV.iter().copied())
                .map(str::to_owned)
                .collect(),
            uid: uid_number,
            gid,
            engine_pid: std::process::id(),
            v1_freezer: instance.cgroup().v1_freezer_dir(),
        };
        let plan = serde_json::to_string(&plan).map_err(std::io::Error::other)?;
        let child = tokio::process::Command::new(&self.helper)
            .arg(HELPER_SUBCOMMAND)
            .arg(plan)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Spawned::from_child(child, |child| {
            instance.attach(child);
            instance
        })?)
    }
}

impl Runtime for SandboxRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Sandbox
    }

    /// Everything the sandbox needs was checked when it was created.
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn supports(&self, language: Language) -> Result<(), String> {
        self.shared.interpreters[&language]
            .as_ref()
            .map(|_| ())
            .map_err(Clone::clone)
    }

    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<Spawned, StartError>> {
        let (reply, spawned) = tokio::sync::oneshot::channel();
        let sent = self.spawner.send((spec, reply));
        Box::pin(async move {
            let gone = || StartError::SpawnerStopped;
            sent.map_err(|_| gone())?;
            spawned.await.map_err(|_| gone())?
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || {
                shared.cgroups.reap_all();
                shared.cgroups.remove();
                let _ = std::fs::remove_dir_all(&shared.roots);
            })
            .await;
        })
    }

    fn reap_orphans(&self) -> BoxFuture<'_, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || {
                shared.cgroups.reap_all();
                let _ = std::fs::remove_dir_all(&shared.roots);
                let _ = std::fs::create_dir_all(&shared.roots);
                shared
                    .uids
                    .release_abandoned(RuntimeKind::Sandbox, &Default::default());
            })
            .await;
        })
    }
}

/// The interpreter for `language`, if it exists and the sandbox can see it.
fn interpreter(
    config: &SandboxConfig,
    language: Language,
    mounts: &[Mount],
) -> Result<String, String> {
    let path = match language {
        Language::Python => &config.python,
        Language::Javascript => &config.node,
    };
    if !path.is_file() {
        return Err(format!("{} is not installed", path.display()));
    }
    if !policy::is_visible(mounts, path) {
        return Err(format!(
            "{} is outside the directories the sandbox mounts (add its directory to sandbox.extra_read_only)",
            path.display()
        ));
    }
    Ok(path.to_string_lossy().into_owned())
}
