//! Memory, pids and CPU limits for instances through cgroups — v1 (one hierarchy per controller)
//! and v2 (the unified hierarchy) — plus what the kernel accounted: OOM kills, CPU time and peak
//! memory — and the freezer that stops an idle instance ([`crate::runtimes::freezer`]).
//!
//! Layout: `<mount>/[<controller>/]kindling/<server>/<instance>`. One directory per server (named
//! after its data dir) lets a restarted server find and remove what its previous run left behind
//! without touching other servers on the same host.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runtimes::Usage;
use crate::runtimes::freezer::{self, Freezer, FreezerKind, KeepFrozen};

/// The v1 controllers an instance is placed in.
const V1_CONTROLLERS: &[&str] = &["memory", "pids", "cpu", "cpuacct"];
/// The v1 controller that freezes idle instances; without it they are left running.
const V1_FREEZER: &str = "freezer";
/// The v2 controllers enabled for instances.
const V2_CONTROLLERS: &str = "+memory +pids +cpu";
const CPU_PERIOD_US: u64 = 100_000;

/// Why the server's cgroups cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup v1 controller '{controller}' is not mounted at {}: {source}", .path.display())]
    NotMounted {
        controller: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cgroup v2 controller '{controller}' is not available at {} (it lists: {available})", .mount.display())]
    Unavailable {
        controller: &'static str,
        mount: PathBuf,
        available: String,
    },
    #[error("cannot create cgroup {}: {source}", .dir.display())]
    Create { dir: PathBuf, source: io::Error },
    #[error("cannot enable the memory, pids and cpu controllers in {}: {source}", .dir.display())]
    Delegate { dir: PathBuf, source: io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Limits written when an instance's cgroup is created.
#[derive(Debug, Clone, Copy)]
pub struct CgroupLimits {
    pub memory_mb: u32,
    pub pids_max: u32,
    pub cpus: f64,
}

/// This server's parent cgroup(s), under which every instance gets its own.
#[derive(Debug)]
pub struct CgroupTree {
    version: Version,
    /// One directory per distinct hierarchy (v1) or just one (v2).
    bases: Vec<PathBuf>,
    /// How instances are frozen, if this host can.
    freezer: Option<FreezerKind>,
    /// Keeps thawing cheap (v1); removed at shutdown.
    keep_frozen: std::sync::Mutex<Option<KeepFrozen>>,
}

/// One instance's cgroup.
#[derive(Debug)]
pub struct Cgroup {
    version: Version,
    dirs: Vec<PathBuf>,
    /// `None` when the accounting files could not be opened (the instance runs unaccounted).
    accounting: Option<Accounting>,
    /// `None` where the host has no freezer (the instance is never frozen).
    freezer: Option<Freezer>,
}

/// The accounting files of one cgroup, opened once: every invocation reads them twice, and on
/// cgroup v2 the peak-memory reset only applies to reads through the descriptor that wrote it.
#[derive(Debug)]
struct Accounting {
    version: Version,
    /// v1 `cpuacct.usage` (nanoseconds), v2 `cpu.stat` (`usage_usec`).
    cpu: File,
    /// v1 `memory.max_usage_in_bytes`, v2 `memory.peak`; both reset by a write.
    peak: File,
}

impl CgroupTree {
    /// Finds the cgroup version mounted at `mount` and creates `kindling/<server>` in it.
    /// The error names what is missing.
    pub fn open(mount: &Path, server: &str) -> Result<Self, CgroupError> {
        let relative = Path::new("kindling").join(server);
        if mount.join("cgroup.controllers").exists() {
            return Self::open_v2(mount, &relative);
        }
        let mut bases: Vec<PathBuf> = Vec::new();
        for controller in V1_CONTROLLERS {
            let hierarchy = mount.join(controller);
            let hierarchy =
                fs::canonicalize(&hierarchy).map_err(|source| CgroupError::NotMounted {
                    controller,
                    path: hierarchy,
                    source,
                })?;
            let base = hierarchy.join(&relative);
            if !bases.contains(&base) {
                create_dir(&base)?;
                bases.push(base);
            }
        }
        let freezer = fs::canonicalize(mount.join(V1_FREEZER))
            .map_err(|e| e.to_string())
            .and_then(|hierarchy| {
                create_dir(&hierarchy.join(&relative))
                    .map(|()| hierarchy)
                    .map_err(|e| e.to_string())
            });
        let mut keep_frozen = None;
        let freezer = match freezer {
            Ok(hierarchy) => {
                // Beside this server's cgroup, not in it: reaping instances leaves it alone.
                let anchor = hierarchy.join(format!("kindling/{server}.keep-frozen"));
                keep_frozen = KeepFrozen::new(anchor)
                    .inspect_err(|e| tracing::warn!(error = %e, "thawing will be slow"))
                    .ok();
                bases.push(hierarchy.join(&relative));
                Some(FreezerKind::V1)
            }
            Err(e) => {
                tracing::warn!(
                    "no cgroup v1 freezer at {}: idle instances keep running ({e})",
                    mount.join(V1_FREEZER).display()
                );
                None
            }
        };
        Ok(Self {
            version: Version::V1,
            bases,
            freezer,
            keep_frozen: std::sync::Mutex::new(keep_frozen),
        })
    }

    fn open_v2(mount: &Path, relative: &Path) -> Result<Self, CgroupError> {
        let available = fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
        for controller in ["memory", "pids", "cpu"] {
            if !available.split_whitespace().any(|c| c == controller) {
                return Err(CgroupError::Unavailable {
                    controller,
                    mount: mount.to_path_buf(),
                    available: available.trim().to_owned(),
                });
            }
        }
        // Each level must delegate the controllers to the next one down.
        let mut dir = mount.to_path_buf();
        enable_v2_controllers(&dir)?;
        for part in relative.components() {
            dir.push(part);
            create_dir(&dir)?;
            enable_v2_controllers(&dir)?;
        }
        // `cgroup.freeze` exists in non-root cgroups since Linux 5.2.
        let freezer = dir
            .join(FreezerKind::V2.file_name())
            .exists()
            .then_some(FreezerKind::V2);
        if freezer.is_none() {
            tracing::warn!(
                "no cgroup.freeze in {}: idle instances keep running",
                dir.display()
            );
        }
        Ok(Self {
            version: Version::V2,
            bases: vec![dir],
            freezer,
            keep_frozen: std::sync::Mutex::default(),
        })
    }

    /// Creates the cgroup of instance `name` with `limits`.
    pub fn create(&self, name: &str, limits: CgroupLimits) -> io::Result<Cgroup> {
        let dirs: Vec<PathBuf> = self.bases.iter().map(|base| base.join(name)).collect();
        for dir in &dirs {
            fs::create_dir_all(dir)?;
        }
        let mut cgroup = Cgroup {
            version: self.version,
            dirs,
            accounting: None,
            freezer: None,
        };
        if let Err(e) = cgroup.configure(limits) {
            cgroup.remove();
            return Err(e);
        }
        if let Some(kind) = self.freezer {
            match Freezer::open(&cgroup.dir_with(kind.file_name()), kind) {
                Ok(opened) => cgroup.freezer = Some(opened),
                Err(e) => {
                    cgroup.remove();
                    return Err(e);
                }
            }
        }
        cgroup.accounting = Accounting::open(&cgroup)
            .inspect_err(|e| tracing::debug!(error = %e, "cgroup accounting unavailable"))
            .ok();
        Ok(cgroup)
    }

    /// Kills and removes every instance cgroup under this server's.
    pub fn reap_all(&self) {
        let mut names: Vec<String> = Vec::new();
        for base in &self.bases {
            for entry in fs::read_dir(base).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        for name in names {
            let cgroup = Cgroup {
                version: self.version,
                dirs: self.bases.iter().map(|base| base.join(&name)).collect(),
                accounting: None,
                freezer: None,
            };
            cgroup.kill_all();
            cgroup.remove();
        }
    }
}

impl CgroupTree {
    /// Removes this server's parent cgroup (it stays when instances are still in it, for the
    /// next run to reap).
    pub fn remove(&self) {
        crate::sync::lock(&self.keep_frozen).take();
        for base in &self.bases {
            let _ = fs::remove_dir(base);
        }
    }
}

impl Cgroup {
    fn configure(&self, limits: CgroupLimits) -> io::Result<()> {
        self.set_memory_limit(limits.memory_mb)?;
        let quota = (limits.cpus * CPU_PERIOD_US as f64).round() as u64;
        match self.version {
            Version::V1 => {
                write(&self.file("pids.max"), &limits.pids_max.to_string())?;
                write(&self.file("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(&self.file("cpu.cfs_quota_us"), &quota.to_string())?;
            }
            Version::V2 => {
                write(&self.file("pids.max"), &limits.pids_max.to_string())?;
                write(&self.file("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            }
        }
        Ok(())
    }

    /// The files a process writes its pid to in order to join this cgroup.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// Sets the memory limit, swap included (a function cannot escape its limit into swap).
    pub fn set_memory_limit(&self, memory_mb: u32) -> io::Result<()> {
        let bytes = (u64::from(memory_mb) * 1024 * 1024).to_string();
        match self.version {
            Version::V1 => {
                let memory = self.file("memory.limit_in_bytes");
                let with_swap = self.file("memory.memsw.limit_in_bytes");
                if !with_swap.exists() {
                    return write(&memory, &bytes);
                }
                // The kernel keeps memsw >= memory at every step, so the order depends on the
                // direction of the change.
                write(&memory, &bytes)
                    .and_then(|()| write(&with_swap, &bytes))
                    .or_else(|_| write(&with_swap, &bytes).and_then(|()| write(&memory, &bytes)))
            }
            Version::V2 => {
                write(&self.file("memory.max"), &bytes)?;
                let swap = self.file("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
                Ok(())
            }
        }
    }

    /// How many processes the kernel's OOM killer killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let file = match self.version {
            Version::V1 => self.file("memory.oom_control"),
            Version::V2 => self.file("memory.events"),
        };
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time so far and peak memory since the previous call, which restarts the peak.
    pub fn usage(&self) -> Option<Usage> {
        self.accounting.as_ref()?.read().ok()
    }

    /// The cgroup's freezer, where the host has one.
    pub fn freezer(&self) -> Option<&Freezer> {
        self.freezer.as_ref()
    }

    /// The directory of its cgroup v1 freezer, if that is how it is frozen.
    pub fn v1_freezer_dir(&self) -> Option<PathBuf> {
        let freezer = self.freezer.as_ref()?;
        (self.version == Version::V1).then(|| freezer.dir().to_path_buf())
    }

    /// Kills every process in the cgroup (it may still take a moment for them to exit). A frozen
    /// cgroup is thawed first: its processes would not die before.
    pub fn kill_all(&self) {
        let kill_file = self.file("cgroup.kill");
        if self.version == Version::V2 && kill_file.exists() && write(&kill_file, "1").is_ok() {
            // Frozen processes die of it too, but only a thawed cgroup can be removed.
            freezer::thaw_dir(&self.dirs[0]);
            return;
        }
        // Killed first, then thawed: a frozen process dies as it thaws, without running again.
        self.signal_all();
        for dir in &self.dirs {
            freezer::thaw_dir(dir);
        }
        // Without cgroup.kill: signal every member until none is left, so that processes
        // forked while we were reading the list are caught on the next round.
        for _ in 0..100 {
            if !self.signal_all() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGKILL to every member; false when there was none.
    fn signal_all(&self) -> bool {
        let pids = self.pids();
        for pid in &pids {
            // SAFETY: kill(2) has no memory effects; a pid that has exited meanwhile makes it
            // fail with ESRCH, which is what we want.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        !pids.is_empty()
    }

    fn pids(&self) -> Vec<libc::pid_t> {
        self.dirs
            .iter()
            .flat_map(|dir| {
                fs::read_to_string(dir.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|pid| pid.trim().parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Removes the cgroup once its processes are gone (waits up to a second for them to exit);
    /// whether it is gone.
    pub fn remove(&self) -> bool {
        let mut gone = true;
        for dir in &self.dirs {
            let removed = (0..200).any(|_| match fs::remove_dir(dir) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    false
                }
            });
            gone &= removed;
        }
        gone
    }

    /// `name` in the directory of the hierarchy that has it (v1), or in the one directory (v2).
    fn file(&self, name: &str) -> PathBuf {
        self.dir_with(name).join(name)
    }

    /// The directory of the hierarchy that has the file `name`.
    fn dir_with(&self, name: &str) -> PathBuf {
        self.dirs
            .iter()
            .find(|dir| dir.join(name).exists())
            .unwrap_or(&self.dirs[0])
            .clone()
    }
}

impl Accounting {
    fn open(cgroup: &Cgroup) -> io::Result<Self> {
        let (cpu, peak) = match cgroup.version {
            Version::V1 => ("cpuacct.usage", "memory.max_usage_in_bytes"),
            Version::V2 => ("cpu.stat", "memory.peak"),
        };
        let open = |name: &str, write: bool| {
            let path = cgroup.file(name);
            OpenOptions::new()
                .read(true)
                .write(write)
                .open(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))
        };
        Ok(Self {
            version: cgroup.version,
            cpu: open(cpu, false)?,
            // Read-only where the kernel offers no reset.
            peak: open(peak, true).or_else(|_| open(peak, false))?,
        })
    }

    fn read(&self) -> io::Result<Usage> {
        let mut buffer = [0u8; 512];
        let peak_memory_bytes = parse_number(read_at_start(&self.peak, &mut buffer)?)?;
        // Restarts the high-water mark at the current usage. v2 before Linux 6.12 cannot reset
        // it: the figure is then the instance's peak so far, an upper bound.
        let _ = self.peak.write_at(b"0", 0);
        let cpu = read_at_start(&self.cpu, &mut buffer)?;
        let cpu_ns = match self.version {
            Version::V1 => parse_number(cpu)?,
            Version::V2 => cpu
                .lines()
                .find_map(|line| line.strip_prefix("usage_usec "))
                .map(parse_number)
                .transpose()?
                .unwrap_or(0)
                .saturating_mul(1000),
        };
        Ok(Usage {
            cpu_ns,
            peak_memory_bytes,
        })
    }
}

/// The start of a small cgroup file, read through an open descriptor.
fn read_at_start<'b>(file: &File, buffer: &'b mut [u8]) -> io::Result<&'b str> {
    let read = file.read_at(buffer, 0)?;
    std::str::from_utf8(&buffer[..read]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn parse_number(text: &str) -> io::Result<u64> {
    text.trim().parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("'{}': {e}", text.trim()),
        )
    })
}

fn create_dir(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(dir).map_err(|source| CgroupError::Create {
        dir: dir.to_path_buf(),
        source,
    })
}

fn enable_v2_controllers(dir: &Path) -> Result<(), CgroupError> {
    write(&dir.join("cgroup.subtree_control"), V2_CONTROLLERS).map_err(|source| {
        CgroupError::Delegate {
            dir: dir.to_path_buf(),
            source,
        }
    })
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}
