//! A test server's instances seen from the host, as an operator would: each one's cgroup (its CPU
//! accounting, its freezer state, its processes), killing one from outside, and the uid claims
//! its instances left.

use std::path::{Path, PathBuf};
use std::process::Command;

use kindling::config::IsolationConfig;
use kindling::runtimes::{RuntimeKind, server_id};

use super::TestApp;

const CGROUPS: &str = "/sys/fs/cgroup";

/// One instance from the host's side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostInstance {
    /// The sandbox's cgroup name, or the container's id.
    pub name: String,
    /// Its cgroup under each hierarchy, relative to the hierarchy's root.
    cgroup: String,
}

impl HostInstance {
    fn file(&self, controller: &str, name: &str) -> PathBuf {
        Path::new(CGROUPS)
            .join(controller)
            .join(self.cgroup.trim_start_matches('/'))
            .join(name)
    }

    /// The contents of one of its cgroup files, trimmed.
    fn read(&self, controller: &str, name: &str) -> String {
        let file = self.file(controller, name);
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .trim()
            .to_owned()
    }

    /// CPU time its processes used so far, in nanoseconds (cgroup v1 `cpuacct.usage`).
    pub fn cpu_ns(&self) -> u64 {
        self.read("cpuacct", "cpuacct.usage").parse().unwrap()
    }

    /// Its v1 freezer state: `FROZEN`, `FREEZING` or `THAWED`.
    pub fn freezer_state(&self) -> String {
        self.read("freezer", "freezer.state")
    }

    /// The pids of its processes.
    pub fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.file("pids", "cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|pid| pid.trim().parse().ok())
            .collect()
    }

    /// Sends SIGKILL to every one of its processes.
    pub fn kill_processes(&self) {
        let pids = self.pids();
        assert!(!pids.is_empty(), "{self:?} has no processes");
        for pid in pids {
            // SAFETY: kill(2) has no memory effects.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    /// `docker kill` of the container.
    pub fn docker_kill(&self) {
        let killed = Command::new("docker")
            .args(["kill", &self.name])
            .output()
            .unwrap();
        assert!(killed.status.success(), "docker kill: {killed:?}");
    }
}

/// The instances of `app` on `runtime` that exist on the host right now, sorted.
pub fn host_instances(app: &TestApp, runtime: RuntimeKind) -> Vec<HostInstance> {
    host_instances_of(app.data_dir(), runtime)
}

/// The instances of the server on `data_dir`, on `runtime`, that exist on the host, sorted.
pub fn host_instances_of(data_dir: &Path, runtime: RuntimeKind) -> Vec<HostInstance> {
    let server = server_id(data_dir);
    let mut found = match runtime {
        RuntimeKind::Sandbox => sandbox_instances(&server),
        RuntimeKind::Docker | RuntimeKind::Gvisor => containers(&server, runtime),
    };
    found.sort();
    found
}

fn sandbox_instances(server: &str) -> Vec<HostInstance> {
    let relative = format!("kindling/{server}");
    let base = Path::new(CGROUPS).join("cpuacct").join(&relative);
    std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            HostInstance {
                cgroup: format!("{relative}/{name}"),
                name,
            }
        })
        .collect()
}

fn containers(server: &str, runtime: RuntimeKind) -> Vec<HostInstance> {
    let listed = Command::new("docker")
        .args(["ps", "-q", "--no-trunc"])
        .args(["--filter", &format!("label=kindling.server={server}")])
        .args(["--filter", &format!("label=kindling.runtime={runtime}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|id| {
            let pid = Command::new("docker")
                .args(["inspect", "-f", "{{.State.Pid}}", id])
                .output()
                .ok()?;
            let pid = String::from_utf8_lossy(&pid.stdout).trim().to_owned();
            let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            // `N:cpuacct:/docker/<id>` (or `N:cpu,cpuacct:…` where the two share a hierarchy).
            let cgroup = cgroups.lines().find_map(|line| {
                let mut fields = line.splitn(3, ':').skip(1);
                let controllers = fields.next()?;
                controllers
                    .split(',')
                    .any(|c| c == "cpuacct")
                    .then(|| fields.next().map(str::to_owned))?
            })?;
            Some(HostInstance {
                name: id.to_owned(),
                cgroup,
            })
        })
        .collect()
}

/// Removes the always-frozen cgroups a server killed outright left for the data dir `data_dir`
/// (a restart on it would reuse them; a test's data dir goes away).
pub fn remove_keep_frozen(data_dir: &Path) {
    let server = server_id(data_dir);
    let parent = Path::new(CGROUPS).join("freezer/kindling");
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&server) && name.ends_with(".keep-frozen") {
            let _ = std::fs::write(entry.path().join("freezer.state"), "THAWED");
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// The uids whose claims name the server of `data_dir` while no lease holds them (their lock is
/// free): what its instances left claimed, their end uncertain. With `release`, frees them — the
/// tidying up of a test that killed a server whose containers it removed itself.
pub fn abandoned_claims(data_dir: &Path, release: bool) -> Vec<u32> {
    use std::os::fd::AsRawFd;
    let server = format!("{} ", server_id(data_dir));
    let dir = IsolationConfig::default().claims_dir;
    let mut abandoned = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(claim) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(entry.path())
        else {
            continue;
        };
        // SAFETY: flock on a descriptor we own; closing it unlocks.
        if unsafe { libc::flock(claim.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            continue;
        }
        let holder = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if holder.starts_with(&server) {
            abandoned.extend(
                entry
                    .file_name()
                    .to_str()
                    .and_then(|uid| uid.parse::<u32>().ok()),
            );
            if release {
                claim.set_len(0).unwrap();
            }
        }
    }
    abandoned.sort();
    abandoned
}
