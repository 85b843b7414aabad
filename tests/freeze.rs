//! Idle instances are frozen, on every runtime: a function that leaves a busy thread or a timer
//! behind uses no CPU between invocations, its background work resumes when the next invocation
//! thaws it, nothing it prints meanwhile reaches any invocation's logs, and a frozen instance
//! killed from outside is noticed and replaced.
//!
//! Needs root (cgroups) and, for docker and gvisor, `scripts/docker-setup` and
//! `scripts/build-images`.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::instances::{HostInstance, host_instances, host_instances_of};
use common::{TestApp, spawn_runtime_prewarmed};
use kindling::runtimes::RuntimeKind;
use serde_json::{Value, json};

/// A thread that spins forever, and one that prints a timestamped tick every 10 ms.
const PYTHON: &str = r#"
import sys, threading, time
state = {"spins": 0}
def spin():
    while True:
        state["spins"] += 1
def tick():
    while True:
        sys.stdout.write(f"tick {int(time.time() * 1000)}\n")  # one write: one line
        sys.stdout.flush()
        time.sleep(0.01)
threading.Thread(target=spin, daemon=True).start()
threading.Thread(target=tick, daemon=True).start()
def handler(event, context):
    before = state["spins"]
    time.sleep(0.2)
    return {"before": before, "after": state["spins"]}
"#;

/// A `setInterval` that keeps the event loop busy and prints a timestamped tick each time.
const JAVASCRIPT: &str = r#"
const state = { spins: 0 };
setInterval(() => {
  const end = Date.now() + 5;
  while (Date.now() < end) state.spins++;
  console.log(`tick ${Date.now()}`);
}, 1);
exports.handler = async () => {
  const before = state.spins;
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { before, after: state.spins };
};
"#;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Waits until the host shows exactly `count` instances of `app` other than `gone`.
async fn wait_for_instances(
    app: &TestApp,
    runtime: RuntimeKind,
    count: usize,
    gone: &[HostInstance],
) -> Vec<HostInstance> {
    let began = Instant::now();
    loop {
        let found = host_instances(app, runtime);
        if found.len() == count && !found.iter().any(|i| gone.contains(i)) {
            return found;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "{runtime}: instances {found:?}, waiting for {count} other than {gone:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `instance` reports `FROZEN`.
async fn wait_frozen(instance: &HostInstance) {
    let began = Instant::now();
    while instance.freezer_state() != "FROZEN" {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{instance:?} never froze: its freezer says {}",
            instance.freezer_state()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Invokes `function` and checks that no tick in its logs was printed before it was sent (with
/// 20 ms for clock granularity): those were printed between invocations.
async fn invoke_checking_logs(app: &TestApp, function: &str) -> Value {
    let sent = now_ms();
    let invocation = app.invoke(function, json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    let logs = invocation["logs"].as_str().unwrap_or_default();
    for line in logs.lines() {
        let Some(at) = line.strip_prefix("tick ") else {
            continue;
        };
        let at: u64 = at.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));
        assert!(
            at + 20 >= sent,
            "printed {} ms before the invocation was sent, while idle: {logs}",
            sent - at
        );
    }
    invocation
}

async fn idle_instances_use_no_cpu_and_resume(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime_prewarmed(runtime, 0).await;
    for (language, code) in [("python", PYTHON), ("javascript", JAVASCRIPT)] {
        let name = format!("busy_{language}");
        app.create_fn(&name, language, code, json!({})).await;
        let first = invoke_checking_logs(&app, &name).await;
        assert_eq!(first["start"], "cold", "{first}");
        // Measured from the answer on: the instance is frozen within 10–20 ms of it.
        let [instance] = &wait_for_instances(&app, runtime, 1, &[]).await[..] else {
            unreachable!()
        };
        let before = instance.cpu_ns();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let used = Duration::from_nanos(instance.cpu_ns() - before);
        assert!(
            used < Duration::from_millis(50),
            "{runtime} {language}: an idle instance used {used:?} of CPU in the 5 s after its answer"
        );
        eprintln!("{runtime} {language}: {used:?} of CPU in the 5 s after the answer");
        wait_frozen(instance).await;

        let second = invoke_checking_logs(&app, &name).await;
        assert_eq!(second["start"], "warm", "{second}");
        let (before, after) = (&second["result"]["before"], &second["result"]["after"]);
        assert!(
            after.as_u64() > before.as_u64()
                && before.as_u64() >= first["result"]["after"].as_u64(),
            "{runtime} {language}: the background work resumes once thawed: {first} then {second}"
        );
        app.delete(&format!("/functions/{name}")).await;
        wait_for_instances(&app, runtime, 0, &[]).await;
    }
    app.stop().await;
}

/// A provisioned instance, frozen, killed from outside: the pool notices and starts another.
async fn a_frozen_instance_killed_from_outside_is_replaced(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_runtime_prewarmed(runtime, 0).await;
    let code =
        "import os\nTOKEN = os.urandom(8).hex()\ndef handler(event, context):\n    return TOKEN\n";
    app.create_fn("provisioned", "python", code, json!({"min_warm": 1}))
        .await;
    let killed = wait_for_instances(&app, runtime, 1, &[]).await;
    wait_frozen(&killed[0]).await;
    let before = app.invoke("provisioned", json!({})).await;
    assert_eq!(before["start"], "warm", "{before}");
    wait_frozen(&killed[0]).await;

    match runtime {
        RuntimeKind::Docker => killed[0].docker_kill(),
        // gVisor's `kill` asks the sandbox's kernel, which is frozen: kill its process instead.
        RuntimeKind::Sandbox | RuntimeKind::Gvisor => killed[0].kill_processes(),
    }
    let replaced = wait_for_instances(&app, runtime, 1, &killed).await;
    wait_frozen(&replaced[0]).await;
    let after = app.invoke("provisioned", json!({})).await;
    assert_eq!(
        (after["start"].as_str(), after["status"].as_str()),
        (Some("warm"), Some("success")),
        "{after}"
    );
    assert_ne!(after["result"], before["result"], "a new instance answers");
    app.stop().await;
}

/// The engine killed outright (SIGKILL, an OOM kill): its frozen sandbox instances die with it.
/// (A frozen process's SIGKILL waits for a thaw on cgroup v1; the helper thaws it as it dies.)
#[test]
fn frozen_instances_die_with_a_killed_engine() {
    if common::skipped_without_root() {
        return;
    }
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_kindling"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    let instances = loop {
        // Its pre-warmed generic instances, frozen as soon as they are ready.
        let found = host_instances_of(data_dir.path(), RuntimeKind::Sandbox);
        if found.len() >= 2 && found.iter().all(|i| i.freezer_state() == "FROZEN") {
            break found;
        }
        assert!(began.elapsed() < Duration::from_secs(30), "{found:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    server.kill().unwrap();
    server.wait().unwrap();
    let began = Instant::now();
    while instances.iter().any(|i| !i.pids().is_empty()) {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "frozen instances outlive the engine: {:?}",
            instances.iter().map(HostInstance::pids).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    common::instances::remove_keep_frozen(data_dir.path());
}

macro_rules! on_every_runtime {
    ($($runtime:ident: $module:ident),+) => {$(
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idle_instances_use_no_cpu_and_resume_when_thawed() {
                idle_instances_use_no_cpu_and_resume(RuntimeKind::$runtime).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_frozen_instance_killed_from_outside_is_replaced() {
                super::a_frozen_instance_killed_from_outside_is_replaced(RuntimeKind::$runtime).await;
            }
        }
    )+};
}

on_every_runtime!(Sandbox: sandbox, Docker: docker, Gvisor: gvisor);
