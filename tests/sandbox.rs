//! Hostile functions against the real sandbox: memory and fork bombs, host files, the network,
//! /tmp, timeouts — in both languages. The server must stay healthy throughout.

mod common;

use std::time::Instant;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

async fn both(
    app: &TestApp,
    name: &str,
    python: &str,
    javascript: &str,
    extra: Value,
) -> [String; 2] {
    let mut names = [String::new(), String::new()];
    for (slot, (language, code)) in names
        .iter_mut()
        .zip([("python", python), ("javascript", javascript)])
    {
        *slot = format!("{name}_{language}");
        app.create_fn(slot, language, code, extra.clone()).await;
    }
    names
}

/// A trivial function still answers, warm, after whatever a test did.
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
    assert_eq!(invocation["result"], "ok");
    assert!(
        began.elapsed().as_secs() < 5,
        "the server is slow: {:?}",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loops_time_out_on_time() {
    let app = spawn_app().await;
    let names = both(
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
        assert!(elapsed < 3.0, "{name}: timeout 2 s took {elapsed:.2} s");
        assert!(invocation["duration_ms"].as_f64().unwrap() >= 2000.0);
    }
    assert_healthy(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_are_killed_as_out_of_memory() {
    let app = spawn_app().await;
    let names = both(
        &app,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bombs_are_contained_by_the_pids_limit() {
    let app = spawn_app().await;
    let names = both(
        &app,
        "forkbomb",
        "import os\ndef handler(event, context):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
        "const { spawn } = require('child_process');\nexports.handler = async () => { for (;;) { try { spawn('/bin/sh', ['-c', 'sleep 60'], {detached: true}); } catch (e) {} await new Promise(r => setImmediate(r)); } };\n",
        json!({"timeout": 3}),
    )
    .await;
    for name in names {
        // Either it spins until its timeout, or its process creation fails and it gives up.
        let invocation = app.invoke(&name, json!({})).await;
        let refused = invocation["status"] == "error"
            && invocation["error"]["errorMessage"]
                .as_str()
                .unwrap()
                .contains("EAGAIN");
        assert!(
            invocation["status"] == "timeout" || refused,
            "{name}: {invocation}"
        );
    }
    assert_healthy(&app).await;

    // Forking until refused stops at the instance's pids limit (128 by default).
    let counting = "import os, time\ndef handler(event, context):\n    forked = 0\n    try:\n        while True:\n            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n            forked += 1\n    except OSError as e:\n        return {'forked': forked, 'error': e.strerror}\n";
    app.create_fn("fork_counter", "python", counting, json!({}))
        .await;
    let invocation = app.invoke("fork_counter", json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    let forked = invocation["result"]["forked"].as_u64().unwrap();
    assert!((100..128).contains(&forked), "{invocation}");
    assert_eq!(
        invocation["result"]["error"],
        "Resource temporarily unavailable"
    );
    assert_healthy(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_files_and_the_network_are_out_of_reach() {
    let app = spawn_app().await;
    let data_dir = app.data_dir.path().to_string_lossy().into_owned();
    let api = app.addr.to_string();
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
        'engine_api': attempt(lambda: connect('{host}', {port})),\n\
        'uid': os.getuid(),\n\
        'pid': os.getpid(),\n\
    }}\n",
        host = api.split(':').next().unwrap(),
        port = app.addr.port(),
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
  engine_api: await connect('{host}', {port}),\n\
  uid: process.getuid(),\n\
  pid: process.pid,\n\
}});\n",
        host = api.split(':').next().unwrap(),
        port = app.addr.port(),
    );
    let names = both(&app, "escape", &python, &javascript, json!({"timeout": 10})).await;
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
        assert_eq!(result["uid"], 65534, "{name} runs unprivileged");
        assert_eq!(result["pid"], 1, "{name} has its own pid namespace");
    }
    assert!(!std::path::Path::new("/usr/kindling-was-here").exists());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmp_is_private_writable_and_capped() {
    let app = spawn_app().await;
    let names = both(
        &app,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_report_their_cpu_time_and_peak_memory() {
    let app = spawn_app().await;
    // The figures are per invocation: a big allocation or a busy loop on one invocation does not
    // show on the next one of the same (warm) instance.
    let code = "import time\ndef handler(event, context):\n    if event.get('allocate'):\n        block = bytearray(event['allocate'] * 1024 * 1024)\n        block[::4096] = b'x' * len(block[::4096])\n    if event.get('spin'):\n        end = time.process_time() + event['spin']\n        while time.process_time() < end:\n            pass\n    return 'done'\n";
    app.create_fn("hungry", "python", code, json!({"memory_mb": 256}))
        .await;
    app.invoke("hungry", json!({})).await;

    let allocating = app.invoke("hungry", json!({"allocate": 64})).await;
    assert_eq!(allocating["start"], "warm", "{allocating}");
    let peak = allocating["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak >= 64 << 20, "64 MiB allocated, peak {peak}");
    assert!(peak < 256 << 20, "peak {peak}");

    let spinning = app.invoke("hungry", json!({"spin": 0.3})).await;
    let cpu = spinning["cpu_time_ms"].as_f64().unwrap();
    assert!(
        (280.0..1500.0).contains(&cpu),
        "300 ms of CPU, reported {cpu}"
    );
    let peak = spinning["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak < 48 << 20, "the 64 MiB were freed; peak {peak}");

    let idle = app.invoke("hungry", json!({})).await;
    assert!(idle["cpu_time_ms"].as_f64().unwrap() < 100.0, "{idle}");

    // The history keeps them.
    let id = spinning["invocation_id"].as_str().unwrap();
    let (_, stored) = app.get(&format!("/invocations/{id}")).await;
    assert_eq!(stored["cpu_time_ms"], spinning["cpu_time_ms"]);
    assert_eq!(stored["peak_memory_bytes"], spinning["peak_memory_bytes"]);
}
