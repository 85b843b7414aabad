//! The core acceptance suite, run on every runtime: results, errors, context and env, logs,
//! timeouts, memory and fork bombs, no network, no host files, a capped /tmp, refused system
//! calls, a uid of each instance's own (and what running out of them does), log floods. One suite; the
//! `runtime_suite!` macro instantiates it per runtime (`sandbox::…`, `docker::…`, `gvisor::…`).
//! The Docker-based runtimes need a Docker engine with runsc and the local image
//! (`scripts/docker-setup`, `scripts/build-images`); without them these tests fail, loudly.

mod common;

use std::time::Instant;

use common::{TestApp, create_both, spawn_app_with, spawn_runtime};
use kindling::config::{IsolationConfig, UidRange};
use kindling::runtimes::RuntimeKind;
use serde_json::{Value, json};

/// Whether `uid` is one of the default range's (`isolation.uids`).
fn in_default_range(uid: &Value) -> bool {
    let range = IsolationConfig::default().uids;
    uid.as_u64()
        .is_some_and(|uid| (u64::from(range.first)..=u64::from(range.last)).contains(&uid))
}

/// A trivial function still answers after whatever a test did.
async fn assert_healthy(app: &TestApp) {
    if app.get("/functions/canary").await.0 != reqwest::StatusCode::OK {
        app.create_fn(
            "canary",
            "python",
            "def handler():\n    return 'ok'\n",
            json!({}),
        )
        .await;
    }
    let began = Instant::now();
    let invocation = app.invoke("canary", json!({})).await;
    assert_eq!(invocation["result"], "ok", "{invocation}");
    assert!(
        began.elapsed().as_secs() < 5,
        "the server is slow: {:?}",
        began.elapsed()
    );
}

async fn results_errors_context_env_and_logs(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let names = create_both(&app,
        "ctx",
        "import os, sys\ndef handler(event, context):\n    print('to stdout')\n    print('to stderr', file=sys.stderr)\n    if event.get('fail'):\n        raise ValueError('bad input %d' % event['fail'])\n    return {'event': event, 'request_id': context.aws_request_id, 'name': context.function_name,\n            'memory': context.memory_limit_in_mb, 'env': os.environ.get('GREETING'), 'uid': os.getuid(), 'pid': os.getpid()}\n",
        "exports.handler = async (event, context) => {\n  console.log('to stdout'); console.error('to stderr');\n  if (event.fail) throw new TypeError(`bad input ${event.fail}`);\n  return {event, request_id: context.awsRequestId, name: context.functionName, memory: context.memoryLimitInMB,\n          env: process.env.GREETING, uid: process.getuid(), pid: process.pid};\n};\n",
        json!({"env": {"GREETING": "hej"}}),
    )
    .await;
    for name in names {
        for round in 0..3 {
            let invocation = app
                .invoke(&name, json!({"round": round, "nested": [1, "two"]}))
                .await;
            assert_eq!(invocation["status"], "success", "{invocation}");
            assert_eq!(invocation["runtime"], runtime.as_str());
            let result = &invocation["result"];
            assert_eq!(
                result["event"],
                json!({"round": round, "nested": [1, "two"]})
            );
            assert_eq!(result["request_id"], invocation["invocation_id"]);
            assert_eq!(result["name"], name.as_str());
            assert_eq!(result["memory"], 128);
            assert_eq!(result["env"], "hej");
            assert!(
                in_default_range(&result["uid"]),
                "runs as an instance's own uid: {result}"
            );
            assert_eq!(result["pid"], 1, "in its own pid namespace");
            let logs = invocation["logs"].as_str().unwrap();
            assert_eq!(
                logs.matches("to stdout").count(),
                1,
                "{name} round {round}: {logs:?}"
            );
            assert_eq!(
                logs.matches("to stderr").count(),
                1,
                "{name} round {round}: {logs:?}"
            );
            assert_eq!(invocation["start"] == "warm", round > 0, "{invocation}");
        }
        let failed = app.invoke(&name, json!({"fail": 7})).await;
        assert_eq!(failed["status"], "error", "{failed}");
        assert_eq!(failed["error"]["errorMessage"], "bad input 7");
        assert!(!failed["error"]["stackTrace"].as_array().unwrap().is_empty());
        assert!(failed["logs"].as_str().unwrap().contains("to stdout"));
    }
    app.stop().await;
}

async fn infinite_loops_time_out_on_time(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let names = create_both(
        &app,
        "spin",
        "def handler(event, context):\n    while True:\n        pass\n",
        "exports.handler = async () => { while (true) {} };\n",
        json!({"timeout": 2}),
    )
    .await;
    for name in names {
        let began = Instant::now();
        let invocation = app.invoke(&name, json!({})).await;
        let elapsed = began.elapsed().as_secs_f64();
        assert_eq!(invocation["status"], "timeout", "{invocation}");
        assert_eq!(invocation["error"]["errorType"], "Runtime.Timeout");
        assert!(elapsed < 3.0, "{name}: a 2 s timeout took {elapsed:.2} s");
    }
    assert_healthy(&app).await;
    app.stop().await;
}

async fn memory_bombs_are_killed_as_out_of_memory(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let names = create_both(&app,
        "membomb",
        "def handler(event, context):\n    hoard = []\n    while True:\n        hoard.append(b'x' * (16 * 1024 * 1024))\n",
        "exports.handler = async () => { const hoard = []; while (true) hoard.push(Buffer.alloc(16 * 1024 * 1024, 1)); };\n",
        json!({"memory_mb": 128, "timeout": 20}),
    )
    .await;
    for name in names {
        let invocation = app.invoke(&name, json!({})).await;
        assert_eq!(
            invocation["status"], "out_of_memory",
            "{name}: {invocation}"
        );
        assert_eq!(invocation["error"]["errorType"], "Runtime.OutOfMemory");
        assert!(
            invocation["error"]["errorMessage"]
                .as_str()
                .unwrap()
                .contains("128 MB")
        );
    }
    assert_healthy(&app).await;
    app.stop().await;
}

async fn fork_bombs_are_contained(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let names = create_both(&app,
        "forkbomb",
        "import os\ndef handler(event, context):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
        "const { spawn } = require('child_process');\nexports.handler = async () => { for (;;) { try { spawn('/bin/sh', ['-c', 'sleep 60'], {detached: true}); } catch (e) {} await new Promise(r => setImmediate(r)); } };\n",
        json!({"timeout": 3}),
    )
    .await;
    for name in names {
        // It spins until its timeout, or its process creation fails and it gives up. Under gVisor
        // the function's processes live in the sandbox's kernel, so the host's pids limit or the
        // memory limit stops that kernel, and with it the whole sandbox.
        let invocation = app.invoke(&name, json!({})).await;
        let refused = invocation["status"] == "error"
            && invocation["error"]["errorMessage"]
                .as_str()
                .unwrap()
                .contains("EAGAIN");
        let sandbox_ended = runtime == RuntimeKind::Gvisor
            && (invocation["status"] == "crashed" || invocation["status"] == "out_of_memory");
        assert!(
            invocation["status"] == "timeout" || refused || sandbox_ended,
            "{name}: {invocation}"
        );
    }
    assert_healthy(&app).await;
    if runtime == RuntimeKind::Gvisor {
        app.stop().await;
        return;
    }

    // Forking until refused stops at the instance's pids limit (128 by default).
    let counting = "import os, time\ndef handler(event, context):\n    forked = 0\n    try:\n        while True:\n            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n            forked += 1\n    except OSError as e:\n        return {'forked': forked, 'error': e.strerror}\n";
    app.create_fn("fork_counter", "python", counting, json!({"timeout": 20}))
        .await;
    let invocation = app.invoke("fork_counter", json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    let forked = invocation["result"]["forked"].as_u64().unwrap();
    assert!((90..128).contains(&forked), "{invocation}");
    assert_eq!(
        invocation["result"]["error"],
        "Resource temporarily unavailable"
    );
    assert_healthy(&app).await;
    app.stop().await;
}

async fn host_files_and_the_network_are_out_of_reach(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let data_dir = app.data_dir().to_string_lossy().into_owned();
    let port = app.addr.port();
    let python = format!(
        "import os, socket\n\
def attempt(action):\n    try:\n        action()\n        return 'allowed'\n    except Exception as e:\n        return type(e).__name__\n\
def connect(host, port):\n    socket.create_connection((host, port), timeout=2).close()\n\
def handler(event, context):\n    return {{\n\
        'shadow': attempt(lambda: open('/etc/shadow').read()),\n\
        'data_dir': attempt(lambda: os.listdir('{data_dir}')),\n\
        'database': attempt(lambda: open('{data_dir}/kindling.db', 'rb').read(1)),\n\
        'root_home': attempt(lambda: os.listdir('/root')),\n\
        'write_usr': attempt(lambda: open('/usr/kindling-was-here', 'w')),\n\
        'internet': attempt(lambda: connect('1.1.1.1', 80)),\n\
        'engine_api': attempt(lambda: connect('127.0.0.1', {port})),\n\
    }}\n"
    );
    let javascript = format!(
        "const fs = require('fs'), net = require('net');\n\
const attempt = (action) => {{ try {{ action(); return 'allowed'; }} catch (e) {{ return e.code || e.name; }} }};\n\
const connect = (host, port) => new Promise((resolve) => {{\n\
  const socket = net.connect({{host, port, timeout: 2000}}, () => {{ socket.destroy(); resolve('allowed'); }});\n\
  socket.on('error', (e) => resolve(e.code)); socket.on('timeout', () => {{ socket.destroy(); resolve('timeout'); }});\n\
}});\n\
exports.handler = async () => ({{\n\
  shadow: attempt(() => fs.readFileSync('/etc/shadow')),\n\
  data_dir: attempt(() => fs.readdirSync('{data_dir}')),\n\
  database: attempt(() => fs.readFileSync('{data_dir}/kindling.db')),\n\
  root_home: attempt(() => fs.readdirSync('/root')),\n\
  write_usr: attempt(() => fs.writeFileSync('/usr/kindling-was-here', 'x')),\n\
  internet: await connect('1.1.1.1', 80),\n\
  engine_api: await connect('127.0.0.1', {port}),\n\
}});\n"
    );
    let names = create_both(&app, "escape", &python, &javascript, json!({"timeout": 10})).await;
    for name in names {
        let invocation = app.invoke(&name, json!({})).await;
        assert_eq!(invocation["status"], "success", "{invocation}");
        let result = &invocation["result"];
        for key in [
            "shadow",
            "data_dir",
            "database",
            "root_home",
            "write_usr",
            "internet",
            "engine_api",
        ] {
            assert_ne!(result[key], "allowed", "{name}: {key} must fail: {result}");
        }
    }
    assert!(!std::path::Path::new("/usr/kindling-was-here").exists());
    app.stop().await;
}

async fn tmp_is_private_writable_and_capped(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let names = create_both(&app,
        "tmp",
        "import os\ndef handler(event, context):\n    with open('/tmp/small', 'wb') as f:\n        f.write(b'x' * 1024 * 1024)\n    try:\n        with open('/tmp/big', 'wb') as f:\n            for _ in range(200):\n                f.write(b'x' * 1024 * 1024)\n        big = 'allowed'\n    except OSError as e:\n        big = e.strerror\n    return {'small': os.path.getsize('/tmp/small'), 'big': big, 'listing': sorted(os.listdir('/tmp'))}\n",
        "const fs = require('fs');\nexports.handler = async () => {\n  fs.writeFileSync('/tmp/small', Buffer.alloc(1024 * 1024, 1));\n  let big = 'allowed';\n  try { const fd = fs.openSync('/tmp/big', 'w'); for (let i = 0; i < 200; i++) fs.writeSync(fd, Buffer.alloc(1024 * 1024, 1)); fs.closeSync(fd); } catch (e) { big = e.code; }\n  return {small: fs.statSync('/tmp/small').size, big, listing: fs.readdirSync('/tmp').sort()};\n};\n",
        json!({"memory_mb": 512}),
    )
    .await;
    for name in names {
        let invocation = app.invoke(&name, json!({})).await;
        assert_eq!(invocation["status"], "success", "{invocation}");
        let result = &invocation["result"];
        assert_eq!(result["small"], 1024 * 1024);
        assert!(
            result["big"].as_str().unwrap().contains("No space left") || result["big"] == "ENOSPC",
            "{name}: {result}"
        );
        assert_eq!(
            result["listing"],
            json!(["big", "small"]),
            "{name}: only its own files"
        );
    }
    app.stop().await;
}

/// Written straight to fd 2 in 64 KiB blocks for two seconds, past any agent's buffering.
const FLOOD: &str = "import os, time\ndef handler(event, context):\n    block = (b'x' * 1023 + b'\\n') * 64\n    end, writes = time.time() + 2, 0\n    while time.time() < end:\n        os.write(2, block)\n        writes += 1\n    os.write(2, b'the end\\n')\n    return writes\n";

async fn a_log_flood_is_paced_and_keeps_its_tail(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    app.create_fn("flood", "python", FLOOD, json!({})).await;
    let invocation = app.invoke("flood", json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    let logs = invocation["logs"].as_str().unwrap();
    assert!(
        logs.starts_with("[kindling: "),
        "a truncation marker opens the logs"
    );
    assert!(
        logs.ends_with("the end\n") && logs.len() <= 64 * 1024 + 200,
        "the tail is kept"
    );
    // Past its first MiB the flood is read one 64 KiB block every 10 ms: about 200 blocks in
    // two seconds, more by what pipes, the attach stream and gVisor's sentry hold (seen here:
    // 190 on the sandbox, 220 on docker, 300–650 on gvisor). Read as fast as it is written:
    // 1,900–4,000 even in a debug build.
    let writes = invocation["result"].as_u64().unwrap();
    assert!(writes < 1000, "{writes} blocks of 64 KiB in two seconds");
    if runtime != RuntimeKind::Sandbox {
        // Nothing keeps a second copy of the output on dockerd's disk.
        let container = &common::instances::host_instances(&app, runtime)[0].name;
        let driver = std::process::Command::new("docker")
            .args(["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", container])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&driver.stdout).trim(), "none");
    }
    assert_healthy(&app).await;
    app.stop().await;
}

async fn each_instance_runs_as_a_user_of_its_own(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let names = create_both(&app,
        "whoami",
        "import grp, os, pwd\ndef handler(event, context):\n    tmp = os.stat('/tmp')\n    return {'uid': os.getuid(), 'gid': os.getgid(), 'user': pwd.getpwuid(os.getuid()).pw_name,\n            'group': grp.getgrgid(os.getgid()).gr_name, 'tmp': [tmp.st_uid, tmp.st_gid, oct(tmp.st_mode & 0o7777)]}\n",
        "const fs = require('fs'), os = require('os');\nexports.handler = async () => {\n  const tmp = fs.statSync('/tmp');\n  return {uid: process.getuid(), gid: process.getgid(), user: os.userInfo().username,\n          tmp: [tmp.uid, tmp.gid, '0o' + (tmp.mode & 0o7777).toString(8)]};\n};\n",
        json!({}),
    )
    .await;
    let mut uids = Vec::new();
    for name in names {
        let invocation = app.invoke(&name, json!({})).await;
        assert_eq!(invocation["status"], "success", "{invocation}");
        let result = &invocation["result"];
        let uid = &result["uid"];
        assert!(in_default_range(uid), "{name}: {result}");
        assert_eq!(result["gid"], *uid, "{name}: its gid is its uid: {result}");
        assert_eq!(
            result["user"], "sandbox",
            "{name}: its uid has a name: {result}"
        );
        assert_eq!(
            result["tmp"],
            json!([uid, uid, "0o1777"]),
            "{name}: /tmp is the instance's own: {result}"
        );
        let again = app.invoke(&name, json!({})).await;
        assert_eq!(
            again["result"]["uid"], *uid,
            "a warm instance keeps its uid"
        );
        uids.push(uid.clone());
    }
    assert_ne!(uids[0], uids[1], "two instances, two uids");
    app.stop().await;
}

async fn one_users_kernel_limits_leave_anothers_alone(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    let ((alice, _), (bob, _)) = (app.user("alice").await, app.user("bob").await);
    // Alice's instance takes every inotify instance and message queue byte its uid may have,
    // and keeps them (a module-level list survives in the warm instance).
    alice.create_fn("hog", "python",
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nheld = []\ndef exhaust(open_one, cap):\n    for i in range(cap):\n        fd = open_one(i)\n        if fd < 0:\n            return {'opened': i, 'error': os.strerror(ctypes.get_errno())}\n        held.append(fd)\n    return {'opened': cap, 'error': None}\ndef handler(event, context):\n    return {'uid': os.getuid(),\n            'inotify': exhaust(lambda i: libc.inotify_init1(0), event['cap']),\n            'mqueue': exhaust(lambda i: libc.mq_open(b'/hog%d' % i, os.O_CREAT | os.O_RDWR, 0o600, None), event['cap'])}\n",
        json!({"timeout": 20}),
    )
    .await;
    bob.create_fn("probe", "python",
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\ndef attempt(fd):\n    return fd if fd >= 0 else os.strerror(ctypes.get_errno())\ndef handler(event, context):\n    return {'uid': os.getuid(), 'inotify': attempt(libc.inotify_init1(0)),\n            'mqueue': attempt(libc.mq_open(b'/probe', os.O_CREAT | os.O_RDWR, 0o600, None))}\n",
        json!({}),
    )
    .await;
    let limit: u64 = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let hog = alice.invoke("hog", json!({"cap": limit + 8})).await;
    assert_eq!(hog["status"], "success", "{hog}");
    let held = &hog["result"];
    if runtime != RuntimeKind::Gvisor {
        // The host kernel counts per uid: its limits are what stopped the hog. (gVisor's kernel
        // has no per-user limits of these; each sandbox has a kernel of its own.)
        for what in ["inotify", "mqueue"] {
            assert_eq!(held[what]["error"], "Too many open files", "{what}: {held}");
        }
        assert!(
            held["inotify"]["opened"].as_u64().unwrap() <= limit,
            "{held}"
        );
    }
    let probe = bob.invoke("probe", json!({})).await;
    assert_eq!(probe["status"], "success", "{probe}");
    let result = &probe["result"];
    assert_ne!(result["uid"], held["uid"], "{result}");
    for what in ["inotify", "mqueue"] {
        assert!(
            result[what].as_i64().is_some_and(|fd| fd >= 0),
            "{what}: alice's instance holding its uid's share must not fail bob's: {result} (alice: {held})"
        );
    }
    app.stop().await;
}

async fn dangerous_system_calls_are_refused(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime(runtime).await;
    app.create_fn("syscalls", "python",
        "import ctypes, os, threading\nlibc = ctypes.CDLL(None, use_errno=True)\ndef attempt(call):\n    return 'allowed' if call() >= 0 else os.strerror(ctypes.get_errno())\ndef handler(event, context):\n    params = ctypes.create_string_buffer(120)\n    ran = []\n    thread = threading.Thread(target=lambda: ran.append(True))\n    thread.start()\n    thread.join()\n    return {'io_uring_setup': attempt(lambda: libc.syscall(425, 1, params)),\n            'unshare_user': attempt(lambda: libc.unshare(0x10000000)),\n            'vsock': attempt(lambda: libc.socket(40, 1, 0)),\n            'vsock_upper_bits': attempt(lambda: libc.syscall(41, ctypes.c_long(40 | 1 << 32), 1, 0)),\n            'clone3': attempt(lambda: libc.syscall(435, None, 0)),\n            'thread': ran == [True]}\n",
        json!({}),
    )
    .await;
    let invocation = app.invoke("syscalls", json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    let refused = "Operation not permitted";
    assert_eq!(
        invocation["result"],
        json!({
            "io_uring_setup": refused,
            "unshare_user": refused,
            "vsock": refused,
            "vsock_upper_bits": refused,
            // Refused as missing, so that the C library starts threads with clone instead.
            "clone3": "Function not implemented",
            "thread": true,
        }),
        "{runtime}"
    );
    app.stop().await;
}

async fn running_out_of_uids_is_a_clear_error(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    // Two uids, apart from every other test's (which run at the same time on this host).
    let first =
        2_100_000_000 + 10 * RuntimeKind::ALL.iter().position(|k| *k == runtime).unwrap() as u32;
    let app = spawn_app_with(|config| {
        config.runtimes = vec![runtime];
        config.default_runtime = runtime;
        config.pool.prewarm = 0;
        config.isolation.uids = UidRange {
            first,
            last: first + 1,
        };
    })
    .await;
    for name in ["one", "two", "three"] {
        app.create_fn(
            name,
            "python",
            "import os\ndef handler():\n    return os.getuid()\n",
            json!({}),
        )
        .await;
    }
    let one = app.invoke("one", json!({})).await;
    let two = app.invoke("two", json!({})).await;
    assert_eq!(one["status"], "success", "{one}");
    assert_eq!(two["status"], "success", "{two}");
    // The invocation fails, recorded with the reason; the server goes on.
    let three = app.invoke("three", json!({})).await;
    assert_eq!(three["status"], "crashed", "{three}");
    assert_eq!(three["error"]["errorType"], "Runtime.StartError", "{three}");
    let message = three["error"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("isolation.uids") && message.contains(&format!("{first}-{}", first + 1)),
        "{three}"
    );
    assert_eq!(
        one["result"].as_u64().map(|uid| uid - u64::from(first) < 2),
        Some(true)
    );

    // Once an instance is gone, its uid serves another.
    let (status, _) = app.delete("/functions/one").await;
    assert!(status.is_success());
    let began = Instant::now();
    loop {
        let three = app.invoke("three", json!({})).await;
        if three["status"] == "success" {
            assert_eq!(three["result"], one["result"], "{three}");
            break;
        }
        assert!(
            began.elapsed().as_secs() < 10,
            "the uid was not freed: {three}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// One test per scenario and runtime.
macro_rules! runtime_suite {
    ($($runtime:ident => $kind:expr),* $(,)?) => {$(
        mod $runtime {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn results_errors_context_env_and_logs() {
                super::results_errors_context_env_and_logs($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn infinite_loops_time_out_on_time() {
                super::infinite_loops_time_out_on_time($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory_bombs_are_killed_as_out_of_memory() {
                super::memory_bombs_are_killed_as_out_of_memory($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fork_bombs_are_contained() {
                super::fork_bombs_are_contained($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn host_files_and_the_network_are_out_of_reach() {
                super::host_files_and_the_network_are_out_of_reach($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tmp_is_private_writable_and_capped() {
                super::tmp_is_private_writable_and_capped($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn each_instance_runs_as_a_user_of_its_own() {
                super::each_instance_runs_as_a_user_of_its_own($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_users_kernel_limits_leave_anothers_alone() {
                super::one_users_kernel_limits_leave_anothers_alone($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dangerous_system_calls_are_refused() {
                super::dangerous_system_calls_are_refused($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_log_flood_is_paced_and_keeps_its_tail() {
                super::a_log_flood_is_paced_and_keeps_its_tail($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn running_out_of_uids_is_a_clear_error() {
                super::running_out_of_uids_is_a_clear_error($kind).await
            }

        }
    )*};
}

runtime_suite! {
    sandbox => RuntimeKind::Sandbox,
    docker => RuntimeKind::Docker,
    gvisor => RuntimeKind::Gvisor,
}
