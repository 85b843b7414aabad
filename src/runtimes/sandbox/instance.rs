//! One sandboxed instance: its helper process, its cgroup, its root directory and its uid.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::cgroup::Cgroup;
use crate::runtimes::freezer::Freezer;
use crate::runtimes::uids::UidLease;
use crate::runtimes::{InstanceControl, Usage};

/// How long a killed helper may take to be reaped before we stop waiting for it.
const EXIT_WAIT: Duration = Duration::from_secs(5);

pub struct SandboxInstance {
    /// Shared with the blocking clean-up task.
    cgroup: Arc<Cgroup>,
    root: PathBuf,
    /// Released once the cgroup is gone, which only an empty cgroup can be: no process runs as
    /// the uid any more.
    uid: Option<UidLease>,
    helper: Option<tokio::process::Child>,
    cleaned: bool,
}

impl SandboxInstance {
    pub fn new(cgroup: Cgroup, root: PathBuf, uid: UidLease) -> Self {
        Self {
            cgroup: Arc::new(cgroup),
            root,
            uid: Some(uid),
            helper: None,
            cleaned: false,
        }
    }

    pub fn cgroup(&self) -> &Cgroup {
        &self.cgroup
    }

    pub fn attach(&mut self, helper: tokio::process::Child) {
        self.helper = Some(helper);
    }
}

impl InstanceControl for SandboxInstance {
    fn set_memory_limit(&self, memory_mb: u32) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async move { self.cgroup.set_memory_limit(memory_mb) })
    }

    fn out_of_memory(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { self.cgroup.oom_kills() > 0 })
    }

    fn usage(&self) -> Option<Usage> {
        self.cgroup.usage()
    }

    fn freezer(&self) -> Option<&Freezer> {
        self.cgroup.freezer()
    }

    fn kill(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.cleaned {
                return;
            }
            self.cleaned = true;
            let cgroup = self.cgroup.clone();
            let _ = tokio::task::spawn_blocking(move || cgroup.kill_all()).await;
            if let Some(mut helper) = self.helper.take()
                && tokio::time::timeout(EXIT_WAIT, helper.wait())
                    .await
                    .is_err()
            {
                let _ = helper.kill().await;
            }
            let (cgroup, root, uid) = (self.cgroup.clone(), self.root.clone(), self.uid.take());
            let _ = tokio::task::spawn_blocking(move || remove(&cgroup, &root, uid)).await;
        })
    }
}

impl Drop for SandboxInstance {
    /// A safety net: the engine kills instances explicitly, but one dropped on an unexpected path
    /// (a panic, a cancelled task) must not leave processes or directories behind.
    fn drop(&mut self) {
        if !self.cleaned {
            self.cgroup.kill_all();
            remove(&self.cgroup, &self.root, self.uid.take());
        }
    }
}

/// Removes a killed instance's cgroup and root directory, and frees its uid once the cgroup is
/// gone (a cgroup that stays still holds processes: its uid stays claimed).
fn remove(cgroup: &Cgroup, root: &std::path::Path, uid: Option<UidLease>) {
    if cgroup.remove()
        && let Some(uid) = uid
    {
        uid.release();
    }
    let _ = std::fs::remove_dir_all(root);
}
