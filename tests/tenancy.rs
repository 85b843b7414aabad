//! Two users on one real server: user b's attacks on the pool — big `memory_mb`, huge
//! `min_warm`, a flood of parallel invocations — leave user a's invocations succeeding, also
//! after a restart; quotas refuse with `quota_exceeded`; each user sees only their own instances.

mod common;

use std::time::Duration;

use common::{Api, TestApp, assert_error, pool_count, spawn_app_with, wait_for_pool};
use kindling::model::RuntimeKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ECHO: &str = "def handler(event, context):\n    return event\n";
const SLEEP: &str = "import time\ndef handler(event, context):\n    time.sleep(event['secs'])\n    return 'slept'\n";

/// A server of 2048 MB and 8 instances on `runtime`: each ordinary user may reserve 1024 MB and
/// run 4 invocations at once (the defaults: half of the pool).
async fn small_pool(runtime: RuntimeKind, data_dir: &std::path::Path) -> TestApp {
    let data_dir = data_dir.to_path_buf();
    spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.runtimes = vec![runtime];
        config.default_runtime = runtime;
        config.pool.memory_budget_mb = 2048;
        config.pool.max_instances = 8;
        config.pool.prewarm = 1;
    })
    .await
}

async fn invoke_status(api: &Api, function: &str, event: Value) -> (StatusCode, Value) {
    api.post(&format!("/functions/{function}/invoke"), &event)
        .await
}

/// b's attack, then a's invocations: all run on `runtime`.
async fn another_users_attack_leaves_mine_running(runtime: RuntimeKind) {
    if common::skipped_without_root() {
        return;
    }
    let data_dir = tempfile::tempdir().unwrap();
    let app = small_pool(runtime, data_dir.path()).await;
    let (a, _) = app.user("alice").await;
    let (b, _) = app.user("bob").await;
    a.create_fn("mine", "python", ECHO, json!({})).await;
    assert_eq!(a.invoke("mine", json!(1)).await["status"], "success");

    // What the attacker asked for is refused, saying which quota.
    for (extra, quota) in [
        (json!({"memory_mb": 1500}), "memory_mb"),
        (json!({"memory_mb": 1000, "min_warm": 2}), "memory_mb"),
        (json!({"min_warm": 100}), "min_warm"),
        (json!({"max_concurrency": 1000}), "concurrency"),
    ] {
        let mut body = json!({"name": "hog", "language": "python", "code": ECHO});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let refused = b.post("/functions", &body).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "quota_exceeded");
        assert_eq!(refused.1["error"]["field"], quota, "{}", refused.1);
    }
    // The most b may keep warm: its whole memory quota.
    b.create_fn(
        "hog",
        "python",
        ECHO,
        json!({"memory_mb": 256, "min_warm": 4}),
    )
    .await;
    b.create_fn("slow", "python", SLEEP, json!({"timeout": 30}))
        .await;
    wait_for_idle(&b, 4).await;
    assert_eq!(
        a.invoke("mine", json!(2)).await["start"],
        "warm",
        "provisioning b's instances evicted none of a's"
    );

    // b floods: 12 parallel 3-second invocations. Its concurrency quota is 4, and its memory
    // quota is held by its own min_warm instances: b is refused, a is not.
    let flood: Vec<_> = (0..12)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { invoke_status(&b, "slow", json!({"secs": 3})).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..5 {
        let (status, invocation) = invoke_status(&a, "mine", json!(n)).await;
        assert_eq!(status, StatusCode::OK, "a during b's flood: {invocation}");
    }
    let mut refused = 0;
    for answer in flood {
        let (status, body) = answer.await.unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
            refused += 1;
        }
    }
    assert_eq!(
        refused, 12,
        "b's min_warm instances hold all of b's memory quota"
    );
    app.stop().await;

    // After a restart the same rules hold: b's instances come back within b's quota.
    let app = small_pool(runtime, data_dir.path()).await;
    let a = app.as_token(a_token(&app, "alice").await.as_deref());
    let b = app.as_token(a_token(&app, "bob").await.as_deref());
    wait_for_idle(&b, 4).await;
    let (status, invocation) = invoke_status(&a, "mine", json!("after")).await;
    assert_eq!(status, StatusCode::OK, "{invocation}");
    app.stop().await;
}

/// A new token of `username`, signing in with the password `TestApp::user` gave them.
async fn a_token(app: &TestApp, username: &str) -> Option<String> {
    let credentials = json!({"username": username, "password": format!("{username}-password")});
    let (status, login) = app.post("/auth/login", &credentials).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    login["token"].as_str().map(str::to_owned)
}

/// Waits until `api`'s user has `count` idle instances (what they see of the pool is theirs).
async fn wait_for_idle(api: &Api, count: u64) {
    let began = std::time::Instant::now();
    while pool_count(api, "idle", None).await != count {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "never got {count} idle instances"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_attack_leaves_mine_running_in_the_sandbox() {
    another_users_attack_leaves_mine_running(RuntimeKind::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_attack_leaves_mine_running_on_docker() {
    another_users_attack_leaves_mine_running(RuntimeKind::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_attack_leaves_mine_running_on_gvisor() {
    another_users_attack_leaves_mine_running(RuntimeKind::Gvisor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_quotas_refuse_with_quota_exceeded() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.quotas.functions = 2;
        config.quotas.code_mb = 1;
    })
    .await;
    let (b, _) = app.user("bob").await;
    // 600 KB of code: one fits in a MiB, two do not.
    let big = format!("{}{ECHO}", "#".repeat(600 * 1024) + "\n");
    b.create_fn("one", "python", &big, json!({})).await;
    assert_error(
        &b.post(
            "/functions",
            &json!({"name": "two", "language": "python", "code": big}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "quota_exceeded",
    );
    b.create_fn("two", "python", ECHO, json!({})).await;
    let third = b
        .post(
            "/functions",
            &json!({"name": "three", "language": "python", "code": ECHO}),
        )
        .await;
    assert_error(&third, StatusCode::FORBIDDEN, "quota_exceeded");
    assert_eq!(third.1["error"]["field"], "functions");
    // The administrator is not held to the defaults.
    for name in ["x", "y", "z"] {
        app.create_fn(name, "python", ECHO, json!({})).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_sees_only_their_own_instances() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|_| {}).await;
    let (a, _) = app.user("alice").await;
    let (b, _) = app.user("bob").await;
    a.create_fn("mine", "python", ECHO, json!({})).await;
    a.invoke("mine", json!(1)).await;
    wait_for_pool(&a, "idle", Some("python"), 1).await;
    let (_, theirs) = b.get("/metrics/system").await;
    assert_eq!(theirs["pool"]["own"], true);
    assert_eq!(theirs["pool"]["instances"], json!([]), "{theirs}");
    assert_eq!(theirs["pool"]["total_instances"], 0);
    assert_eq!(theirs["pool"]["starts"]["cold"], 0, "no pool-wide counters");
    let (_, mine) = a.get("/metrics/system").await;
    assert_eq!(mine["pool"]["total_instances"], 1, "{mine}");
    let (_, all) = app.get("/metrics/system").await;
    assert_eq!(all["pool"]["own"], false);
    assert!(
        pool_count(&app, "prewarmed", None).await > 0,
        "the administrator sees all"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_held_to_their_quota_and_a_taken_route_names_no_function() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| config.quotas.tokens = 3).await;
    let (a, _) = app.user("alice").await; // signing in made one
    for name in ["ci", "laptop"] {
        let (status, made) = a.post("/auth/tokens", &json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
    }
    let refused = a.post("/auth/tokens", &json!({"name": "one-more"})).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "quota_exceeded");
    assert_eq!(refused.1["error"]["field"], "tokens");

    let (b, _) = app.user("bob").await;
    a.create_fn(
        "secret_project",
        "python",
        ECHO,
        json!({"route": "/shared"}),
    )
    .await;
    let taken = b
        .post(
            "/functions",
            &json!({"name": "mine", "language": "python", "code": ECHO, "route": "/shared"}),
        )
        .await;
    assert_error(&taken, StatusCode::CONFLICT, "route_taken");
    assert!(
        !taken.1.to_string().contains("secret_project"),
        "another user's function is not named: {}",
        taken.1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_newest_versions_are_kept() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| config.quotas.versions_per_function = 3).await;
    let (b, _) = app.user("bob").await;
    b.create_fn("f", "python", ECHO, json!({})).await;
    for n in 2..=6 {
        let code = format!("{ECHO}# version {n}\n");
        let (status, updated) = b.put("/functions/f", &json!({"code": code})).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
    }
    let (_, versions) = b.get("/functions/f/versions").await;
    let kept: Vec<i64> = versions_of(&versions);
    assert_eq!(kept, [6, 5, 4], "{versions}");
    let (status, _) = b.get("/functions/f/versions/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(b.invoke("f", json!("still")).await["result"], "still");
    app.stop().await;
}

/// The version numbers a `/versions` answer lists, newest first.
fn versions_of(answer: &Value) -> Vec<i64> {
    let list = answer.get("versions").unwrap_or(answer);
    let mut versions: Vec<i64> = list
        .as_array()
        .expect("a list of versions")
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions
}
