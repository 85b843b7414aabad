//! Each instance's own host uid (and gid, the same number), so that no two instances share what
//! the kernel counts per user — inotify instances, POSIX message queue bytes, processes, locked
//! memory: one function holding a limit's worth cannot make another's calls fail.
//!
//! The uids come from `isolation.uids`. Every server on the host records the uid each live
//! instance holds in a claim file, `<isolation.claims_dir>/<uid>`, locked (`flock`) for as long as
//! the server holds it and naming the holder (`<server> <runtime>`) until the uid is free again:
//!
//! - [`UidPool::claim`] takes the lowest uid whose file is unlocked and empty — or names a
//!   `sandbox` holder that is gone (its instances died with it) and no process on this host runs
//!   as that uid (lowest first, so that a host needs only as many claim files as instances run
//!   at once, and a claim is mostly one open of a file that exists);
//! - [`UidLease::release`], once every process of the instance is dead, empties the file;
//! - a lease dropped without that (the instance's end is not certain) keeps its holder's name
//!   on file. A `docker` or `gvisor` claim is kept so until its server has seen that no container
//!   of its runs as that uid any more ([`UidPool::release_abandoned`]: when it starts, after
//!   removing what a previous run left behind, and when its Docker engine answers again):
//!   containers outlive a crashed server, and their processes are not always visible here.
//!
//! Two live instances — of this server or of any other using the same claims directory — never
//! hold one uid, and a uid is handed out again only after its instance's processes are gone.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::{IsolationConfig, UidRange};
use crate::model::RuntimeKind;

/// Why an instance could not be given a uid.
#[derive(Debug, thiserror::Error)]
pub enum UidError {
    #[error(
        "every uid of isolation.uids ({0}) is held by a live instance; widen the range, or lower pool.max_instances"
    )]
    Exhausted(UidRange),
    #[error("cannot record uid claims in {} (isolation.claims_dir): {source}", .path.display())]
    Claims { path: PathBuf, source: io::Error },
}

/// The uids this server hands to its instances, shared by all of its runtimes.
pub struct UidPool {
    range: UidRange,
    dir: PathBuf,
    /// This server's name, written into its claims.
    server: String,
    /// The uids this server's leases hold, skipped without asking the file system.
    held: Arc<Mutex<BTreeSet<u32>>>,
}

/// One instance's uid, held until [`release`](Self::release).
#[derive(Debug)]
pub struct UidLease {
    uid: u32,
    /// The locked claim file; closing it unlocks it.
    claim: Option<File>,
    held: Arc<Mutex<BTreeSet<u32>>>,
}

impl UidLease {
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The instance's gid: the same number as its uid.
    pub fn gid(&self) -> u32 {
        self.uid
    }

    /// Frees the uid for another instance: call it once every process that ran as it is dead.
    /// (Dropped instead, the lease leaves its claim on file: see the module's documentation.)
    pub fn release(mut self) {
        if let Some(claim) = self.claim.take() {
            let _ = claim.set_len(0);
        }
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        crate::sync::lock(&self.held).remove(&self.uid);
    }
}

impl UidPool {
    /// The pool of `config.uids` for the server named `server`, recording its claims in
    /// `config.claims_dir` (created, root-only, if missing).
    pub fn open(config: &IsolationConfig, server: &str) -> Result<Self, UidError> {
        let dir = config.claims_dir.clone();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| UidError::Claims {
                path: dir.clone(),
                source,
            })?;
        Ok(Self {
            range: config.uids,
            dir,
            server: server.to_owned(),
            held: Arc::default(),
        })
    }

    pub fn range(&self) -> UidRange {
        self.range
    }

    /// The lowest uid no live instance holds, for an instance of `runtime`.
    pub fn claim(&self, runtime: RuntimeKind) -> Result<UidLease, UidError> {
        for uid in self.range.first..=self.range.last {
            if crate::sync::lock(&self.held).contains(&uid) {
                continue;
            }
            if let Some(lease) = self.try_claim(uid, runtime)? {
                return Ok(lease);
            }
        }
        Err(UidError::Exhausted(self.range))
    }

    /// Frees the claims this server's `runtime` left on file — in an earlier run, or when an
    /// instance's end was uncertain — but those of `alive`, uids its instances may still run as.
    /// Claims of live leases stay: they are locked.
    pub fn release_abandoned(&self, runtime: RuntimeKind, alive: &BTreeSet<u32>) {
        let mine = self.holder(runtime);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let uid = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse().ok());
            if uid.is_none_or(|uid| alive.contains(&uid)) {
                continue;
            }
            let Ok(Some((claim, holder))) = open_unlocked(&entry.path()) else {
                continue;
            };
            if holder == mine {
                let _ = claim.set_len(0);
            }
        }
    }

    fn holder(&self, runtime: RuntimeKind) -> String {
        format!("{} {runtime}\n", self.server)
    }

    fn try_claim(&self, uid: u32, runtime: RuntimeKind) -> Result<Option<UidLease>, UidError> {
        let path = self.dir.join(uid.to_string());
        let failed = |source| UidError::Claims {
            path: path.clone(),
            source,
        };
        let Some((claim, holder)) = open_unlocked(&path).map_err(failed)? else {
            return Ok(None);
        };
        if !holder.is_empty() && !abandoned_and_free(&holder, uid) {
            return Ok(None);
        }
        claim.set_len(0).map_err(failed)?;
        claim
            .write_all_at(self.holder(runtime).as_bytes(), 0)
            .map_err(failed)?;
        crate::sync::lock(&self.held).insert(uid);
        Ok(Some(UidLease {
            uid,
            claim: Some(claim),
            held: self.held.clone(),
        }))
    }
}

/// The claim file at `path` (created if missing), locked by us, and who it names — or `None`
/// when another holder has it locked.
fn open_unlocked(path: &Path) -> io::Result<Option<(File, String)>> {
    let mut claim = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    // SAFETY: flock on a descriptor this function owns; the lock goes when the file is closed.
    if unsafe { libc::flock(claim.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(None),
            _ => Err(error),
        };
    }
    let mut holder = String::new();
    claim.read_to_string(&mut holder)?;
    Ok(Some((claim, holder)))
}

/// Whether a claim whose holder is gone (its lock is free) may be taken over: a sandbox's
/// instances died with their server, which the host's processes confirm; containers may outlive
/// theirs, so their claims wait for [`UidPool::release_abandoned`].
fn abandoned_and_free(holder: &str, uid: u32) -> bool {
    let runtime = holder.split_whitespace().nth(1);
    if runtime.is_some_and(|r| r != RuntimeKind::Sandbox.as_str()) {
        return false;
    }
    !runs_as(uid)
}

/// Whether any process on this host runs as `uid` (real, effective, saved or file-system uid).
fn runs_as(uid: u32) -> bool {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        // Cannot tell: assume it does.
        return true;
    };
    let uid = uid.to_string();
    processes.flatten().any(|process| {
        let is_pid = process
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit());
        is_pid
            && std::fs::read_to_string(process.path().join("status")).is_ok_and(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("Uid:"))
                    .is_some_and(|ids| ids.split_whitespace().any(|id| id == uid))
            })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn pool(dir: &Path, server: &str, first: u32, last: u32) -> UidPool {
        let config = IsolationConfig {
            uids: UidRange { first, last },
            claims_dir: dir.to_path_buf(),
        };
        UidPool::open(&config, server).unwrap()
    }

    /// Far from any uid a process of this host runs as.
    const FIRST: u32 = 2_111_000_000;

    #[test]
    fn ranges_are_written_first_to_last() {
        let range = UidRange::try_from("2000000000-2000065535".to_owned()).unwrap();
        assert_eq!(
            (range.first, range.last, range.count()),
            (2_000_000_000, 2_000_065_535, 65536)
        );
        assert_eq!(range.to_string(), "2000000000-2000065535");
        for wrong in ["", "5", "7-3", "0-10", "1-4294967295", "a-b"] {
            assert!(UidRange::try_from(wrong.to_owned()).is_err(), "{wrong}");
        }
    }

    #[test]
    fn live_leases_never_share_a_uid_even_across_servers() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            pool(dir.path(), "a", FIRST, FIRST + 3),
            pool(dir.path(), "b", FIRST, FIRST + 3),
        );
        let leases: Vec<UidLease> = (0..4)
            .map(|i| {
                let pool = if i % 2 == 0 { &a } else { &b };
                pool.claim(RuntimeKind::Sandbox).unwrap()
            })
            .collect();
        let uids: HashSet<u32> = leases.iter().map(UidLease::uid).collect();
        assert_eq!(uids.len(), 4, "{leases:?}");
        assert!(uids.iter().all(|uid| (FIRST..=FIRST + 3).contains(uid)));
        let exhausted = a.claim(RuntimeKind::Docker).unwrap_err();
        assert!(matches!(exhausted, UidError::Exhausted(_)), "{exhausted}");
        assert!(exhausted.to_string().contains("isolation.uids"));

        let freed = leases[1].uid();
        let mut leases = leases;
        leases.remove(1).release();
        assert_eq!(b.claim(RuntimeKind::Sandbox).unwrap().uid(), freed);
    }

    #[test]
    fn the_lowest_free_uid_is_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path(), "a", FIRST, FIRST + 9);
        let mut leases: Vec<UidLease> = (0..3)
            .map(|_| pool.claim(RuntimeKind::Sandbox).unwrap())
            .collect();
        let uids: Vec<u32> = leases.iter().map(UidLease::uid).collect();
        assert_eq!(uids, [FIRST, FIRST + 1, FIRST + 2]);
        leases.remove(1).release();
        assert_eq!(pool.claim(RuntimeKind::Sandbox).unwrap().uid(), FIRST + 1);
    }

    #[test]
    fn a_dropped_sandbox_lease_is_taken_over_once_no_process_runs_as_it() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path(), "a", FIRST, FIRST);
        drop(pool.claim(RuntimeKind::Sandbox).unwrap());
        assert_eq!(pool.claim(RuntimeKind::Sandbox).unwrap().uid(), FIRST);

        // SAFETY: getuid has no preconditions.
        let own = unsafe { libc::getuid() };
        let busy = self::pool(dir.path(), "a", own, own);
        drop(busy.claim(RuntimeKind::Sandbox).unwrap());
        assert!(
            matches!(
                busy.claim(RuntimeKind::Sandbox),
                Err(UidError::Exhausted(_))
            ),
            "this test runs as uid {own}: its abandoned claim must stay"
        );
    }

    #[test]
    fn a_dropped_container_lease_waits_for_its_server_to_reap() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            pool(dir.path(), "a", FIRST, FIRST),
            pool(dir.path(), "b", FIRST, FIRST),
        );
        drop(a.claim(RuntimeKind::Docker).unwrap());
        assert!(matches!(
            b.claim(RuntimeKind::Sandbox),
            Err(UidError::Exhausted(_))
        ));
        let none = BTreeSet::new();
        b.release_abandoned(RuntimeKind::Docker, &none);
        a.release_abandoned(RuntimeKind::Gvisor, &none);
        assert!(
            matches!(a.claim(RuntimeKind::Docker), Err(UidError::Exhausted(_))),
            "only the server and runtime that left it free it"
        );
        a.release_abandoned(RuntimeKind::Docker, &BTreeSet::from([FIRST]));
        assert!(
            matches!(a.claim(RuntimeKind::Docker), Err(UidError::Exhausted(_))),
            "not while a container may run as it"
        );
        a.release_abandoned(RuntimeKind::Docker, &none);
        assert_eq!(b.claim(RuntimeKind::Sandbox).unwrap().uid(), FIRST);
    }

    #[test]
    fn releasing_abandoned_claims_leaves_live_ones_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path(), "a", FIRST, FIRST + 1);
        let live = pool.claim(RuntimeKind::Docker).unwrap();
        pool.release_abandoned(RuntimeKind::Docker, &BTreeSet::new());
        let other = pool.claim(RuntimeKind::Docker).unwrap();
        assert_ne!(other.uid(), live.uid());
        assert!(matches!(
            pool.claim(RuntimeKind::Docker),
            Err(UidError::Exhausted(_))
        ));
    }
}
