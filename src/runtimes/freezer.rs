//! Freezing an instance between invocations: the cgroup freezer stops every process of the
//! instance where it stands — threads a function left running, timers, its output — until the
//! next invocation thaws it (AWS Lambda freezes an execution environment the same way).
//!
//! Both the sandbox's own cgroups and a local Docker engine's container cgroups are frozen here
//! through one file kept open, so that thawing on the invoke path costs one `pwrite`. (Docker's
//! `pause`/`unpause` do the same through the Engine API and `runc`, at 8.4 ms each here against
//! 3–4 µs for the write; README's "Performance" has the figures.)

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Where cgroup hierarchies are mounted.
pub const CGROUP_MOUNT: &str = "/sys/fs/cgroup";
/// `SIGKILL`'s bit in `/proc/<pid>/status`'s pending-signal masks.
const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);

/// The two cgroup freezers: v1's `freezer` controller and v2's `cgroup.freeze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerKind {
    V1,
    V2,
}

impl FreezerKind {
    /// The control file in a cgroup's directory.
    pub fn file_name(self) -> &'static str {
        match self {
            FreezerKind::V1 => "freezer.state",
            FreezerKind::V2 => "cgroup.freeze",
        }
    }

    /// What to write to freeze (`true`) or thaw (`false`).
    fn state(self, frozen: bool) -> &'static [u8] {
        match (self, frozen) {
            (FreezerKind::V1, true) => b"FROZEN",
            (FreezerKind::V1, false) => b"THAWED",
            (FreezerKind::V2, true) => b"1",
            (FreezerKind::V2, false) => b"0",
        }
    }
}

/// The freezer of one cgroup, its control file open.
#[derive(Debug)]
pub struct Freezer {
    kind: FreezerKind,
    dir: PathBuf,
    control: File,
}

impl Freezer {
    /// The freezer of the cgroup at `dir`.
    pub fn open(dir: &Path, kind: FreezerKind) -> io::Result<Self> {
        let path = dir.join(kind.file_name());
        let control = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
        Ok(Self {
            kind,
            dir: dir.to_path_buf(),
            control,
        })
    }

    /// The freezer of the cgroup that process `pid` is in (v1's freezer hierarchy, else v2's
    /// unified one), under `mount`.
    pub fn of_process(mount: &Path, pid: u32) -> io::Result<Self> {
        let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let (kind, dir) = freezer_dir(mount, &cgroups).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("process {pid} is in no cgroup with a freezer"),
            )
        })?;
        Self::open(&dir, kind)
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops every process in the cgroup (v1 may report `FREEZING` for a moment: the kernel
    /// finishes the job on its own).
    pub fn freeze(&self) -> io::Result<()> {
        self.write(true)
    }

    /// Lets the cgroup's processes run again.
    pub fn thaw(&self) -> io::Result<()> {
        self.write(false)
    }

    fn write(&self, frozen: bool) -> io::Result<()> {
        self.control
            .write_at(self.kind.state(frozen), 0)
            .map(drop)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "writing {}: {e}",
                        self.dir.join(self.kind.file_name()).display()
                    ),
                )
            })
    }

    /// Whether the frozen cgroup's processes are gone or about to be: a SIGKILL sent to a frozen
    /// process waits, pending, until it is thawed (v1), so its streams do not end until then.
    pub fn killed_while_frozen(&self) -> bool {
        let Ok(procs) = fs::read_to_string(self.dir.join("cgroup.procs")) else {
            return true;
        };
        let mut pids = procs.lines().peekable();
        pids.peek().is_none() || pids.any(|pid| kill_pending(pid.trim()))
    }
}

/// An empty v1 cgroup kept frozen for as long as this lives. Linux patches its own code (a
/// static key) each time the number of frozen v1 cgroups goes from none to one and back: with no
/// other instance frozen, thawing one took ~130 µs instead of ~5 µs (`docs/sandbox.md`). This one
/// keeps the count above zero.
#[derive(Debug)]
pub struct KeepFrozen {
    dir: PathBuf,
}

impl KeepFrozen {
    /// Creates (or, after a crash, reuses) the cgroup `dir` in a v1 freezer hierarchy and
    /// freezes it.
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Freezer::open(&dir, FreezerKind::V1)?.freeze()?;
        Ok(Self { dir })
    }
}

impl Drop for KeepFrozen {
    fn drop(&mut self) {
        thaw_dir(&self.dir);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Thaws the cgroup at `dir` if it has a freezer (before killing what a previous run left
/// frozen: a frozen process does not die until thawed).
pub fn thaw_dir(dir: &Path) {
    for kind in [FreezerKind::V1, FreezerKind::V2] {
        let path = dir.join(kind.file_name());
        if path.exists() {
            let _ = fs::write(&path, kind.state(false));
        }
    }
}

/// The freezer cgroup named in a `/proc/<pid>/cgroup` text: the v1 `freezer` line, else the v2
/// (`0::`) line when `mount` is a unified hierarchy.
fn freezer_dir(mount: &Path, cgroups: &str) -> Option<(FreezerKind, PathBuf)> {
    let join = |base: PathBuf, path: &str| base.join(path.trim_start_matches('/'));
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        if controllers.split(',').any(|c| c == "freezer") {
            return Some((FreezerKind::V1, join(mount.join("freezer"), path)));
        }
    }
    let unified = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    mount
        .join("cgroup.controllers")
        .exists()
        .then(|| (FreezerKind::V2, join(mount.to_path_buf(), unified)))
}

/// Whether process `pid` has a SIGKILL waiting (or is gone).
fn kill_pending(pid: &str) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status
        .lines()
        .filter_map(|line| {
            line.strip_prefix("SigPnd:\t")
                .or_else(|| line.strip_prefix("ShdPnd:\t"))
        })
        .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .any(|mask| mask & SIGKILL_BIT != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v1_freezer_line() {
        let text = "12:pids:/docker/abc\n7:freezer:/docker/abc\n0::/system.slice\n";
        assert_eq!(
            freezer_dir(Path::new("/sys/fs/cgroup"), text),
            Some((
                FreezerKind::V1,
                PathBuf::from("/sys/fs/cgroup/freezer/docker/abc")
            ))
        );
    }

    #[test]
    fn without_a_freezer_line_or_unified_mount_there_is_none() {
        let mount = std::env::temp_dir().join("kindling-no-cgroup-here");
        assert_eq!(freezer_dir(&mount, "0::/x\n3:cpu:/y\n"), None);
    }

    #[test]
    fn the_kill_bit_is_sigkills() {
        assert_eq!(SIGKILL_BIT, 0x100);
    }
}
