//! The helper side of the sandbox: `kindling __sandbox-exec <plan>`, a fresh single-threaded
//! process that applies one [`LaunchPlan`] and becomes the instance's supervisor.
//!
//! The engine does not fork itself: it is multi-threaded and large, and a fork of it would pin a
//! copy of its memory for every instance. The helper is small, joins the instance's cgroup before
//! it forks anything (so every descendant is accounted and killable), gives the instance a network
//! namespace with only a loopback interface, and lets `hakoniwa` build the rest: mount, pid, ipc,
//! uts namespaces, the read-only root, rlimits and seccomp. The last step, in the instance's own
//! process, drops to the unprivileged uid with no capabilities left and execs the agent.

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;

use hakoniwa::seccomp::{Action, Arch, ArgCmp, ArgCmpOp, Filter};
use hakoniwa::{Container, MountOptions, Namespace, Rlimit};

use super::policy::{
    DENIED_CLONE_FLAGS, DENIED_SOCKET_FAMILIES, DENIED_SYSCALLS, HOSTNAME, INT_ARGUMENT,
    LaunchPlan, MAX_OPEN_FILES, Mount, UNIMPLEMENTED_SYSCALLS,
};

/// Exit status of the helper when it could not start the instance (like hakoniwa's).
const SETUP_FAILED: i32 = 125;

/// Runs the helper; returns its exit status.
pub fn run(plan_json: &str) -> i32 {
    match launch(plan_json) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("kindling sandbox: {message}");
            SETUP_FAILED
        }
    }
}

fn launch(plan_json: &str) -> Result<i32, String> {
    let plan: LaunchPlan =
        serde_json::from_str(plan_json).map_err(|e| format!("bad launch plan: {e}"))?;
    die_with_parent(plan.engine_pid)?;
    for procs in &plan.cgroup_procs {
        fs::write(procs, std::process::id().to_string())
            .map_err(|e| format!("cannot join cgroup {}: {e}", procs.display()))?;
    }
    loopback_only_network()?;
    // The files written into the instance's /etc must be readable by its uid, whatever mask the
    // engine runs with (a private data dir's 077, say); the agent inherits the usual mask too.
    // SAFETY: umask has no memory effects.
    unsafe { libc::umask(0o022) };

    let container = container(&plan);
    let argv = c_strings(&plan.argv)?;
    let env = c_strings(&plan.env)?;
    let (uid, gid) = (plan.uid, plan.gid);
    // SAFETY: the closure runs in the forked child of this single-threaded process; it only makes
    // system calls and builds pointer arrays from memory it owns.
    let mut command = unsafe {
        container.command_from_closure(move || drop_privileges_and_exec(&argv, &env, uid, gid))
    };
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    // The instance holds the stdio pipes now; the engine must see end-of-file when it dies.
    release_stdio();
    if let Some(freezer) = &plan.v1_freezer {
        thaw_when_the_engine_dies(freezer, plan.engine_pid)?;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(status.code)
}

/// Dies with the engine; refuses to start if the engine is already gone.
fn die_with_parent(engine_pid: u32) -> Result<(), String> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid have no memory effects.
    let (set, parent) = unsafe {
        (
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ),
            libc::getppid(),
        )
    };
    if set != 0 {
        return Err(format!("prctl: {}", std::io::Error::last_os_error()));
    }
    if parent as u32 != engine_pid {
        return Err("the engine exited before the instance started".to_owned());
    }
    Ok(())
}

/// The instance's `freezer.state`, for the signal handler (set once, before it is installed).
static FREEZER_STATE: std::sync::OnceLock<CString> = std::sync::OnceLock::new();

/// On cgroup v1 a frozen process does not die of SIGKILL until it is thawed: were the helper
/// frozen with the instance, its death with the engine (and so the instance's) would wait for a
/// thaw that never comes. So the helper leaves the instance's freezer cgroup for the server's
/// (never frozen) — its children stay — and dies with the engine of SIGTERM, whose handler first
/// thaws the instance. The instance's first process then dies of its own parent-death SIGKILL.
fn thaw_when_the_engine_dies(freezer: &std::path::Path, engine_pid: u32) -> Result<(), String> {
    let parent = freezer
        .parent()
        .ok_or_else(|| format!("{} has no parent cgroup", freezer.display()))?;
    fs::write(parent.join("cgroup.procs"), std::process::id().to_string())
        .map_err(|e| format!("cannot leave the freezer cgroup {}: {e}", freezer.display()))?;
    let state = freezer.join("freezer.state");
    let state = CString::new(state.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("NUL byte in {}", state.display()))?;
    let _ = FREEZER_STATE.set(state);
    extern "C" fn thaw_and_exit(_signal: libc::c_int) {
        // Only async-signal-safe calls: open, write, close, _exit.
        if let Some(state) = FREEZER_STATE.get() {
            // SAFETY: `state` is a NUL-terminated path that lives for the whole process.
            unsafe {
                let fd = libc::open(state.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"THAWED".as_ptr().cast(), 6);
                    libc::close(fd);
                }
            }
        }
        // SAFETY: _exit ends the process at once.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: a zeroed sigaction with a handler that only makes async-signal-safe calls; prctl
    // and getppid have no memory effects.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = thaw_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t;
        if libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut()) != 0 {
            return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGTERM as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(format!("prctl: {}", std::io::Error::last_os_error()));
        }
        if libc::getppid() as u32 != engine_pid {
            thaw_and_exit(libc::SIGTERM);
        }
    }
    Ok(())
}

/// A new network namespace whose only interface, loopback, is up: the function can serve and
/// call itself on 127.0.0.1 and reach nothing else.
fn loopback_only_network() -> Result<(), String> {
    let error = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: unshare, socket, ioctl and close are called with valid arguments; `request` is a
    // zeroed ifreq that lives across the ioctl.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(error("cannot create a network namespace"));
        }
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(error("socket"));
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
            *slot = *byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let up = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        libc::close(socket);
        if up != 0 {
            return Err(error("cannot bring up loopback"));
        }
    }
    Ok(())
}

fn container(plan: &LaunchPlan) -> Container {
    let mut container = Container::new();
    // No user namespace: the helper is root and the instance drops to `plan.uid` itself. The
    // network namespace is already the helper's own.
    container
        .share(Namespace::User)
        .unshare(Namespace::Ipc)
        .unshare(Namespace::Uts)
        .rootdir(&plan.root)
        .hostname(HOSTNAME)
        .setrlimit(Rlimit::Core, 0, 0)
        .setrlimit(Rlimit::Nofile, MAX_OPEN_FILES, MAX_OPEN_FILES)
        .seccomp_filter(seccomp_filter());
    for mount in &plan.mounts {
        match mount {
            Mount::ReadOnly { host, path } => {
                container.bindmount_ro(&host.to_string_lossy(), path);
            }
            Mount::Symlink { target, path } => {
                container.symlink(target, path);
            }
            Mount::Tmpfs {
                path,
                size_mb,
                mode,
                uid,
                gid,
            } => {
                container.mount(
                    "tmpfs",
                    path,
                    "tmpfs",
                    MountOptions::NOSUID | MountOptions::NODEV,
                    Some(format!("size={size_mb}m,mode={mode:o},uid={uid},gid={gid}")),
                );
            }
            Mount::File { path, contents } => {
                container.file(path, contents);
            }
            Mount::Devices { path } => {
                container.devfsmount(path);
            }
        }
    }
    container
}

fn seccomp_filter() -> Filter {
    let mut filter = Filter::new(Action::Allow);
    filter.add_arch(Arch::Native);
    for syscall in DENIED_SYSCALLS {
        filter.add_rule(Action::Errno(libc::EPERM), syscall);
    }
    for flag in DENIED_CLONE_FLAGS {
        filter.add_rule_conditional(
            Action::Errno(libc::EPERM),
            "clone",
            &[ArgCmp::new(0, ArgCmpOp::MaskedEq, *flag, *flag)],
        );
    }
    for family in DENIED_SOCKET_FAMILIES {
        filter.add_rule_conditional(
            Action::Errno(libc::EPERM),
            "socket",
            &[ArgCmp::new(0, ArgCmpOp::MaskedEq, INT_ARGUMENT, *family)],
        );
    }
    for syscall in UNIMPLEMENTED_SYSCALLS {
        filter.add_rule(Action::Errno(libc::ENOSYS), syscall);
    }
    filter
}

/// In the instance's first process: no capabilities (not even in the bounding set), no
/// supplementary groups, the unprivileged uid and gid — then the agent.
fn drop_privileges_and_exec(argv: &[CString], env: &[CString], uid: u32, gid: u32) -> i32 {
    let fail = |what: &str| {
        eprintln!(
            "kindling sandbox: {what}: {}",
            std::io::Error::last_os_error()
        );
        126
    };
    // SAFETY: these calls only change this process's credentials; the pointer arrays are
    // null-terminated and point into `argv`/`env`, which outlive the execve call.
    unsafe {
        // Every capability the kernel knows, until it says there are no more (EINVAL past the
        // last one). Any other failure leaves a capability in the bounding set: refuse to start.
        for capability in 0.. {
            if libc::prctl(libc::PR_CAPBSET_DROP, capability as libc::c_ulong, 0, 0, 0) == 0 {
                continue;
            }
            let past_the_last =
                std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL);
            if !past_the_last || capability == 0 {
                return fail(&format!("cannot drop capability {capability}"));
            }
            break;
        }
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return fail("setgroups");
        }
        if libc::setresgid(gid, gid, gid) != 0 {
            return fail("setresgid");
        }
        if libc::setresuid(uid, uid, uid) != 0 {
            return fail("setresuid");
        }
        let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        args.push(std::ptr::null());
        let mut vars: Vec<*const libc::c_char> = env.iter().map(|v| v.as_ptr()).collect();
        vars.push(std::ptr::null());
        libc::execve(args[0], args.as_ptr(), vars.as_ptr());
    }
    fail("cannot execute the agent")
}

/// Points this process's stdio at /dev/null, closing its copies of the engine's pipes.
fn release_stdio() {
    if let Ok(null) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors of this process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

fn c_strings(strings: &[String]) -> Result<Vec<CString>, String> {
    strings
        .iter()
        .map(|s| CString::new(s.as_str()).map_err(|_| format!("NUL byte in {s:?}")))
        .collect()
}
