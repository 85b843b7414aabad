//! The sandbox policy as data: what an instance sees of the file system, which system calls it may
//! not make (the docker and gvisor runtimes apply the same, as a seccomp profile), its resource
//! limits — and the [`LaunchPlan`] that carries one instance's share of it from the engine to the
//! helper process that applies it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Host directories an interpreter needs, mounted read-only at the same path. On a merged-/usr
/// host `/bin`, `/lib`, `/lib64` and `/sbin` are symlinks into `/usr` and are recreated as
/// symlinks; elsewhere they are mounted like `/usr`. Nothing else of the host is visible: no
/// `/home`, `/root`, `/var`, `/srv`, no engine data dir, no other function's code.
pub const HOST_DIRECTORIES: &[&str] = &["/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin"];

/// Files of the sandbox's own `/etc`, written for each instance into a small tmpfs (they name the
/// instance's own uid): just enough for the C library and the interpreters to resolve the user and
/// `localhost`. The docker and gvisor runtimes mount its `passwd` and `group` into their
/// containers.
pub const ETC_FILES: &[(&str, &str)] = &[
    (
        "passwd",
        "root:x:0:0:root:/:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:sandbox:/tmp:/usr/sbin/nologin\n",
    ),
    ("group", "root:x:0:\nsandbox:x:{gid}:\n"),
    ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
    (
        "nsswitch.conf",
        "passwd: files\ngroup: files\nhosts: files\n",
    ),
];

/// System calls a function gets `EPERM` for, in every runtime (the sandbox's filter; the seccomp
/// profile of the docker and gvisor containers): changing mounts or namespaces, tracing other
/// processes, loading kernel code, the kernel keyring, BPF, perf, io_uring, clocks, swap, reboot —
/// and what Docker's default profile refuses a process without capabilities besides (NUMA memory
/// policy, another process's file descriptors or memory advice, the host and domain name, obsolete
/// calls). Everything else is allowed: the namespaces, the instance's own uid, no capabilities and
/// the cgroup carry the rest.
pub const DENIED_SYSCALLS: &[&str] = &[
    "_sysctl",
    "acct",
    "add_key",
    "afs_syscall",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "getpmsg",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "migrate_pages",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pidfd_getfd",
    "pivot_root",
    "process_madvise",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "putpmsg",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "security",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "tuxcall",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vserver",
];

/// `clone` flags that would create new namespaces: refused (`EPERM`), so code cannot build itself
/// a user namespace with capabilities in it.
pub const DENIED_CLONE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// Socket address families refused (`EPERM`): vsock reaches the hypervisor of a virtual machine
/// host, and no network namespace stands in its way.
pub const DENIED_SOCKET_FAMILIES: &[u64] = &[libc::AF_VSOCK as u64];

/// The bits of a system call argument the kernel reads as an `int` (a socket's family): filters
/// compare under this mask, since a caller may set the 64-bit register's upper half.
pub const INT_ARGUMENT: u64 = 0xffff_ffff;

/// System calls that answer `ENOSYS`, as if the kernel lacked them: `clone3` passes its flags in
/// memory, which seccomp cannot inspect, and on `ENOSYS` (only) the C library falls back to
/// `clone`, whose flags [`DENIED_CLONE_FLAGS`] checks.
pub const UNIMPLEMENTED_SYSCALLS: &[&str] = &["clone3"];

/// Open files per process, and no core dumps (they would land in the capped /tmp at best).
pub const MAX_OPEN_FILES: u64 = 1024;

/// The search path of sandboxed agents (added to `agents::AGENT_ENV`).
pub const PATH: &str = "PATH=/usr/local/bin:/usr/bin:/bin";

pub const HOSTNAME: &str = "kindling";

/// One mount (or symlink) of an instance's root file system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Mount {
    /// A host path, read-only, at `path`.
    ReadOnly { host: PathBuf, path: String },
    /// A symlink at `path` pointing to `target`.
    Symlink { target: String, path: String },
    /// A private tmpfs capped at `size_mb`, its root directory of `mode`, `uid` and `gid`.
    Tmpfs {
        path: String,
        size_mb: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A file of `contents` at `path` (in a tmpfs mounted before it), readable by all.
    File { path: String, contents: String },
    /// A minimal /dev (null, zero, full, random, urandom, tty, pts).
    Devices { path: String },
}

/// Everything the helper needs to start one instance: built by the engine, passed as JSON on the
/// helper's command line (it holds no secrets: function code and env arrive later, over the
/// protocol).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchPlan {
    /// Empty directory that becomes the instance's `/`.
    pub root: PathBuf,
    /// `cgroup.procs` files the helper joins before it forks anything.
    pub cgroup_procs: Vec<PathBuf>,
    pub mounts: Vec<Mount>,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    /// The engine's pid: the helper exits if its parent is already another process.
    pub engine_pid: u32,
    /// The instance's cgroup v1 freezer directory. A process frozen there does not die of the
    /// engine's death (its SIGKILL waits for a thaw), so the helper leaves it once the instance
    /// has started and thaws it if the engine dies.
    pub v1_freezer: Option<PathBuf>,
}

/// What every instance's root file system shares: host directories and `/dev`.
pub fn root_mounts(extra_read_only: &[PathBuf]) -> Vec<Mount> {
    let mut mounts = Vec::new();
    for dir in HOST_DIRECTORIES {
        let host = Path::new(dir);
        match std::fs::read_link(host) {
            Ok(target) => mounts.push(Mount::Symlink {
                target: target.to_string_lossy().into_owned(),
                path: dir.to_string(),
            }),
            Err(_) if host.is_dir() => mounts.push(Mount::ReadOnly {
                host: host.to_path_buf(),
                path: dir.to_string(),
            }),
            Err(_) => {}
        }
    }
    for dir in extra_read_only.iter().filter(|dir| dir.is_dir()) {
        mounts.push(Mount::ReadOnly {
            host: dir.clone(),
            path: dir.to_string_lossy().into_owned(),
        });
    }
    mounts.push(Mount::Devices {
        path: "/dev".to_owned(),
    });
    mounts
}

/// `mounts` and one instance's own: its `/etc` ([`ETC_FILES`] in a tmpfs only root, which no
/// process of the instance is, may write) and a private `/tmp` of `tmp_size_mb` owned by its uid
/// and gid — world-writable with the sticky bit, as an image's `/tmp` is (Docker copies that onto
/// its containers' tmpfs), so that both runtimes show the same.
pub fn instance_mounts(mounts: &[Mount], tmp_size_mb: u32, uid: u32, gid: u32) -> Vec<Mount> {
    let mut mounts = mounts.to_vec();
    mounts.push(Mount::Tmpfs {
        path: "/etc".to_owned(),
        size_mb: 1,
        mode: 0o755,
        uid: 0,
        gid: 0,
    });
    for (name, contents) in etc_files(uid, gid) {
        mounts.push(Mount::File {
            path: format!("/etc/{name}"),
            contents,
        });
    }
    mounts.push(Mount::Tmpfs {
        path: "/tmp".to_owned(),
        size_mb: tmp_size_mb,
        mode: 0o1777,
        uid,
        gid,
    });
    mounts
}

/// Whether `path` (an interpreter, say) is visible inside an instance with these mounts.
pub fn is_visible(mounts: &[Mount], path: &Path) -> bool {
    mounts.iter().any(|mount| match mount {
        Mount::ReadOnly { path: inside, .. } => path.starts_with(inside),
        Mount::Symlink { path: inside, .. } => path.starts_with(inside),
        _ => false,
    })
}

/// The [`ETC_FILES`] of an instance running as `uid` and `gid`: each file's name and contents.
pub fn etc_files(uid: u32, gid: u32) -> impl Iterator<Item = (&'static str, String)> {
    ETC_FILES.iter().map(move |(name, template)| {
        let contents = template
            .replace("{uid}", &uid.to_string())
            .replace("{gid}", &gid.to_string());
        (*name, contents)
    })
}
