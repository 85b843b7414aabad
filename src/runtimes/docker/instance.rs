//! One container instance: its id, its uid, and the task that splits its attached output stream
//! into the agent's stdout (replies) and stderr (logs).

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::ContainerUpdateBody;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncWriteExt, ReadHalf, SimplexStream};

use crate::runtimes::freezer::{CGROUP_MOUNT, Freezer};
use crate::runtimes::uids::UidLease;
use crate::runtimes::{InstanceControl, Usage};

/// Buffer between the demultiplexer and the engine, per stream.
const PIPE_BYTES: usize = 1 << 16;
/// How long to wait for dockerd to record a dead container's exit before asking why it died.
const OOM_VERDICT_WAIT: Duration = Duration::from_secs(2);
/// How often, and how far apart, to ask whether a SIGKILL was the OOM killer's.
const OOM_VERDICT_ASKS: usize = 10;
const OOM_VERDICT_PAUSE: Duration = Duration::from_millis(50);
/// The exit status of a process killed by SIGKILL.
const SIGKILLED: i64 = 128 + 9;
/// How long output may trail a container's exit.
const EXIT_GRACE: Duration = Duration::from_millis(100);

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

pub struct DockerInstance {
    client: Docker,
    id: String,
    /// Whether it runs under gVisor, which does not always report OOM kills.
    gvisor: bool,
    demultiplexer: Option<tokio::task::JoinHandle<()>>,
    /// The container's cgroup freezer, when the Docker engine runs on this host.
    freezer: Option<Freezer>,
    /// Released once the container is removed (its processes are dead then).
    uid: Option<UidLease>,
    /// The directory of its `/etc/passwd` and `/etc/group`, if it has its own.
    etc: Option<PathBuf>,
    removed: bool,
}

impl DockerInstance {
    pub fn new(
        client: Docker,
        id: String,
        gvisor: bool,
        uid: UidLease,
        etc: Option<PathBuf>,
    ) -> Self {
        Self {
            client,
            id,
            gvisor,
            demultiplexer: None,
            freezer: None,
            uid: Some(uid),
            etc,
            removed: false,
        }
    }

    /// Finds the started container's cgroup freezer (only a local engine's containers have one
    /// here). Without it the container waits unfrozen.
    pub async fn find_freezer(&mut self) {
        match container_freezer(&self.client, &self.id).await {
            Ok(freezer) => self.freezer = Some(freezer),
            Err(e) => tracing::debug!(container = %self.id, error = %e, "no freezer"),
        }
    }

    /// Splits the attached output into stdout and stderr; both end when the container does.
    /// (The attach stream itself may stay open after the container's process is gone, so the
    /// container's exit is watched too.)
    pub fn demultiplex(
        &mut self,
        mut output: Output,
    ) -> (ReadHalf<SimplexStream>, ReadHalf<SimplexStream>) {
        let (stdout, mut stdout_writer) = tokio::io::split(SimplexStream::new_unsplit(PIPE_BYTES));
        let (stderr, mut stderr_writer) = tokio::io::split(SimplexStream::new_unsplit(PIPE_BYTES));
        // Waiting for an exit is one long request: no request timeout for it.
        let waiter = self
            .client
            .clone()
            .with_timeout(Duration::from_secs(u32::MAX.into()));
        let id = self.id.clone();
        self.demultiplexer = Some(tokio::spawn(async move {
            let mut exited = std::pin::pin!(waiter.wait_container(&id, None));
            let mut closing: Option<tokio::time::Instant> = None;
            loop {
                let chunk = match closing {
                    None => tokio::select! {
                        chunk = output.next() => chunk,
                        _ = exited.next() => {
                            // Whatever it wrote before it died may still be on its way.
                            closing = Some(tokio::time::Instant::now() + EXIT_GRACE);
                            continue;
                        }
                    },
                    Some(deadline) => tokio::time::timeout_at(deadline, output.next())
                        .await
                        .ok()
                        .flatten(),
                };
                let written = match chunk {
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        stdout_writer.write_all(&message).await
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        stderr_writer.write_all(&message).await
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => Ok(()),
                    Some(Err(_)) | None => break,
                };
                if written.is_err() {
                    break;
                }
            }
            // The readers see the end of the streams only once the writers shut them down.
            let _ = stdout_writer.shutdown().await;
            let _ = stderr_writer.shutdown().await;
        }));
        (stdout, stderr)
    }
}

impl InstanceControl for DockerInstance {
    fn set_memory_limit(&self, memory_mb: u32) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async move {
            let bytes = i64::from(memory_mb) * 1024 * 1024;
            let update = ContainerUpdateBody {
                memory: Some(bytes),
                memory_swap: Some(bytes),
                ..ContainerUpdateBody::default()
            };
            self.client
                .update_container(&self.id, update)
                .await
                .map_err(std::io::Error::other)
        })
    }

    fn out_of_memory(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            // The engine may learn of the death (its streams end) before dockerd has recorded
            // how it happened: wait for dockerd to see the container exit, then ask. A SIGKILL
            // whose OOM verdict is not in yet (runsc reports it after the exit) is asked again.
            let exited = self.client.wait_container(&self.id, None);
            let _ = tokio::time::timeout(OOM_VERDICT_WAIT, std::pin::pin!(exited).next()).await;
            for _ in 0..OOM_VERDICT_ASKS {
                let state = self
                    .client
                    .inspect_container(&self.id, None)
                    .await
                    .ok()
                    .and_then(|c| c.state);
                let Some(state) = state else {
                    return false;
                };
                if state.oom_killed == Some(true) {
                    return true;
                }
                if state.exit_code != Some(SIGKILLED) {
                    return false;
                }
                tokio::time::sleep(OOM_VERDICT_PAUSE).await;
            }
            // Under gVisor the verdict is sometimes never reported: the sandbox's kernel is what
            // the host's OOM killer kills. A container the engine did not kill dying of SIGKILL
            // is, there, the memory limit.
            self.gvisor
        })
    }

    /// The container's cgroup is the Docker engine's (and for gVisor its processes are not the
    /// function's): no per-invocation accounting here.
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// Only where the Docker engine runs on this host.
    fn freezer(&self) -> Option<&Freezer> {
        self.freezer.as_ref()
    }

    fn kill(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if std::mem::replace(&mut self.removed, true) {
                return;
            }
            // A frozen container does not die until it is thawed.
            if let Some(freezer) = &self.freezer {
                let _ = freezer.thaw();
            }
            let removed = remove(&self.client, &self.id).await;
            forget(self.uid.take(), self.etc.take(), removed);
            if let Some(demultiplexer) = self.demultiplexer.take() {
                demultiplexer.abort();
            }
        })
    }
}

/// Removes container `id` by force, which kills it first and answers once it is gone; whether
/// it is gone (also when it was already).
async fn remove(client: &Docker, id: &str) -> bool {
    let force = RemoveContainerOptionsBuilder::default().force(true).build();
    match client.remove_container(id, Some(force)).await {
        Ok(()) => true,
        Err(bollard::errors::Error::DockerResponseServerError { status_code, .. }) => {
            status_code == 404
        }
        Err(_) => false,
    }
}

/// What a removed (or, if not `removed`, perhaps still running) container leaves: its uid is
/// freed only once it is surely gone, otherwise its claim waits for the server's next start.
fn forget(uid: Option<UidLease>, etc: Option<PathBuf>, removed: bool) {
    if let Some(etc) = etc {
        let _ = std::fs::remove_dir_all(etc);
    }
    if removed && let Some(uid) = uid {
        uid.release();
    }
}

/// The freezer of container `id`'s cgroup, found through its first process. Its path must name
/// the container: a remote engine's pid may mean another process here.
pub async fn container_freezer(client: &Docker, id: &str) -> std::io::Result<Freezer> {
    let pid = client
        .inspect_container(id, None)
        .await
        .map_err(std::io::Error::other)?
        .state
        .and_then(|state| state.pid)
        .filter(|pid| *pid > 0)
        .ok_or_else(|| std::io::Error::other("the container has no process"))?;
    let freezer = Freezer::of_process(std::path::Path::new(CGROUP_MOUNT), pid as u32)?;
    if !freezer.dir().to_string_lossy().contains(id) {
        return Err(std::io::Error::other(format!(
            "process {pid}'s cgroup {} is not the container's",
            freezer.dir().display()
        )));
    }
    Ok(freezer)
}

impl Drop for DockerInstance {
    /// A safety net for containers dropped without being killed (a start that failed half-way,
    /// a cancelled task): remove them in the background.
    fn drop(&mut self) {
        if let Some(demultiplexer) = self.demultiplexer.take() {
            demultiplexer.abort();
        }
        if let Some(freezer) = &self.freezer {
            let _ = freezer.thaw();
        }
        if !self.removed
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let (client, id) = (self.client.clone(), self.id.clone());
            let (uid, etc) = (self.uid.take(), self.etc.take());
            handle.spawn(async move {
                let removed = remove(&client, &id).await;
                forget(uid, etc, removed);
            });
        }
    }
}
