//! The core acceptance suite, run on every runtime: results, errors, context and env, logs,
//! timeouts, memory and fork bombs, no network, no host files, a capped /tmp, refused system
//! calls. One suite; the
//! `runtime_suite!` macro instantiates it per runtime (`sandbox::…`, `docker::…`, `gvisor::…`).
//! The Docker-based runtimes need a Docker engine with runsc and the local image
//! (`scripts/docker-setup`, `scripts/build-images`); without them these tests fail, loudly.

mod common;

use std::time::Instant;

use common::{TestApp, create_both, spawn_runtime};
use kindling::runtimes::RuntimeKind;
use serde_json::json;

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
            assert_eq!(result["uid"], 65534, "runs unprivileged");
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
            async fn dangerous_system_calls_are_refused() {
                super::dangerous_system_calls_are_refused($kind).await
            }
        }
    )*};
}

runtime_suite! {
    sandbox => RuntimeKind::Sandbox,
    docker => RuntimeKind::Docker,
    gvisor => RuntimeKind::Gvisor,
}
