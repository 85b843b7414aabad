//! The server's life: graceful shutdown, and a host where the sandbox cannot run.

mod common;

use common::{assert_error, spawn_app, spawn_app_with, wait_for_pool};
use reqwest::StatusCode;
use serde_json::json;

/// Processes on the host running `__sandbox-exec` for this test's data dir.
fn helpers_for(data_dir: &std::path::Path) -> usize {
    let needle = data_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| {
            let cmdline = String::from_utf8_lossy(cmdline);
            cmdline.contains("__sandbox-exec") && cmdline.contains(&needle)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_invocations_finish_and_leaves_nothing_behind() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    app.create_fn(
        "slow",
        "python",
        "import time\ndef handler(event, context):\n    time.sleep(1)\n    return 'finished'\n",
        json!({}),
    )
    .await;
    app.create_fn(
        "idle",
        "javascript",
        "exports.handler = async () => 'idle';",
        json!({}),
    )
    .await;
    app.invoke("idle", json!({})).await;
    let data_dir = app.data_dir().to_path_buf();
    assert!(helpers_for(&data_dir) >= 1, "the idle instance is running");

    let client = app.client.clone();
    let url = app.url("/functions/slow/invoke");
    let in_flight = tokio::spawn(async move { client.post(url).body("{}").send().await });
    wait_for_pool(&app, "busy", Some("python"), 1).await;
    app.stop().await;

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK);
    let invocation: serde_json::Value = response.json().await.unwrap();
    assert_eq!(invocation["result"], "finished", "{invocation}");
    assert_eq!(helpers_for(&data_dir), 0, "every instance is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_a_usable_sandbox_says_why_and_still_serves() {
    if common::skipped_without_root() {
        return;
    }
    let app =
        spawn_app_with(|config| config.sandbox.cgroup_root = "/nonexistent-cgroup-fs".into()).await;
    let (status, health) = app.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["runtimes"]["sandbox"]["available"], false);
    let reason = health["runtimes"]["sandbox"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cgroup") && reason.contains("/nonexistent-cgroup-fs"),
        "{reason}"
    );

    app.create_fn(
        "hello",
        "python",
        "def handler():\n    return 1\n",
        json!({}),
    )
    .await;
    let answer = app.post("/functions/hello/invoke", &json!({})).await;
    assert_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "runtime_unavailable",
    );
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cgroup")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_interpreter_is_named() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| config.sandbox.node = "/usr/bin/no-such-node".into()).await;
    app.create_fn(
        "js",
        "javascript",
        "exports.handler = async () => 1;",
        json!({}),
    )
    .await;
    let answer = app.post("/functions/js/invoke", &json!({})).await;
    assert_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "runtime_unavailable",
    );
    let message = answer.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("/usr/bin/no-such-node"), "{message}");
    // Python is unaffected.
    app.create_fn("py", "python", "def handler():\n    return 1\n", json!({}))
        .await;
    assert_eq!(app.invoke("py", json!({})).await["result"], 1);
    app.stop().await;
}
