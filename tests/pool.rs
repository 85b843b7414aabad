//! The pool on the real server: pre-warmed generic instances and their refill, keep-alive, LRU
//! eviction at the instance cap, provisioned concurrency, per-function concurrency and
//! throttling, and that an instance only ever serves one function version.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::instances::host_instances;
use common::{pool_count, spawn_app_with, wait_for_pool};
use kindling::runtimes::RuntimeKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A function that reports which instance ran it: a token drawn once per process at load.
fn identifying(tag: &str) -> String {
    format!(
        "import os, time\nTOKEN = os.urandom(8).hex()\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return {{'tag': '{tag}', 'token': TOKEN}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_instances_are_prewarmed_specialised_and_refilled() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| config.pool.prewarm = 2).await;
    wait_for_pool(&app, "prewarmed", Some("python"), 2).await;
    wait_for_pool(&app, "prewarmed", Some("javascript"), 2).await;

    app.create_fn("first", "python", &identifying("first"), json!({}))
        .await;
    let first = app.invoke("first", json!({})).await;
    assert_eq!(
        first["start"], "prewarmed",
        "the first invocation after start-up: {first}"
    );
    let init_ms = first["init_ms"].as_f64().unwrap();
    assert!(init_ms < 100.0, "specialising took {init_ms} ms");
    // The generic instance taken is replaced.
    wait_for_pool(&app, "prewarmed", Some("python"), 2).await;
    assert_eq!(app.invoke("first", json!({})).await["start"], "warm");

    app.create_fn(
        "js",
        "javascript",
        "exports.handler = async () => 'js';",
        json!({}),
    )
    .await;
    assert_eq!(app.invoke("js", json!({})).await["start"], "prewarmed");
    wait_for_pool(&app, "prewarmed", Some("javascript"), 2).await;

    let (_, metrics) = app.get("/metrics/system").await;
    let pool = &metrics["pool"];
    assert_eq!(pool["starts"]["prewarmed"], 2, "{pool}");
    assert_eq!(pool["starts"]["warm"], 1, "{pool}");
    assert_eq!(pool_count(&app, "idle", None).await, 2, "{pool}");
    assert_eq!(pool["memory_reserved_mb"], 6 * 128, "{pool}");
    assert!(metrics["host"]["memory_total_mb"].as_u64().unwrap() > 0);
    assert_eq!(pool["total_instances"], 6, "{pool}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_expire_after_their_keep_alive() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| config.pool.prewarm = 0).await;
    app.create_fn(
        "short",
        "python",
        &identifying("short"),
        json!({"keep_alive_secs": 1}),
    )
    .await;
    app.create_fn("long", "python", &identifying("long"), json!({}))
        .await;
    let first = app.invoke("short", json!({})).await;
    assert_eq!(first["start"], "cold");
    app.invoke("long", json!({})).await;
    assert_eq!(app.invoke("short", json!({})).await["start"], "warm");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = app.invoke("short", json!({})).await;
    assert_eq!(after["start"], "cold", "expired: {after}");
    assert_ne!(
        after["result"]["token"], first["result"]["token"],
        "a new instance"
    );
    assert_eq!(
        app.invoke("long", json!({})).await["start"],
        "warm",
        "the default keep-alive is 10 min"
    );
    let (_, metrics) = app.get("/metrics/system").await;
    assert_eq!(metrics["pool"]["expired"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_idle_instance_makes_room_at_the_cap() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.pool.prewarm = 0;
        config.pool.max_instances = 2;
    })
    .await;
    for name in ["a", "b", "c"] {
        app.create_fn(name, "python", &identifying(name), json!({}))
            .await;
    }
    let a = app.invoke("a", json!({})).await;
    let b = app.invoke("b", json!({})).await;
    assert_eq!(
        app.invoke("a", json!({})).await["start"],
        "warm",
        "a is now more recent than b"
    );
    let c = app.invoke("c", json!({})).await;
    assert_eq!(c["status"], "success", "{c}");
    assert_eq!(pool_count(&app, "idle", None).await, 2, "the cap holds");
    // b was least recently used: it went; a stayed.
    let a_again = app.invoke("a", json!({})).await;
    assert_eq!(a_again["start"], "warm");
    assert_eq!(a_again["result"]["token"], a["result"]["token"]);
    let b_again = app.invoke("b", json!({})).await;
    assert_ne!(b_again["start"], "warm");
    assert_ne!(b_again["result"]["token"], b["result"]["token"]);
    let (_, metrics) = app.get("/metrics/system").await;
    assert!(
        metrics["pool"]["evicted"].as_u64().unwrap() >= 2,
        "{metrics}"
    );
    assert!(metrics["pool"]["total_instances"].as_u64().unwrap() <= 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_warm_instances_are_kept_ready_and_rebuilt() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| config.pool.prewarm = 0).await;
    let code =
        "import os\nTOKEN = os.urandom(8).hex()\ndef handler(event, context):\n    return TOKEN\n";
    app.create_fn("provisioned", "python", code, json!({"min_warm": 2}))
        .await;
    wait_for_pool(&app, "idle", Some("python"), 2).await;
    let first = app.invoke("provisioned", json!({})).await;
    assert_eq!(
        first["start"], "warm",
        "provisioned instances are ready: {first}"
    );
    // One of them killed while idle is noticed and replaced: a new instance exists on the host
    // in its stead, not merely skipped by the next invocation.
    let provisioned = host_instances(&app, RuntimeKind::Sandbox);
    assert_eq!(provisioned.len(), 2, "{provisioned:?}");
    provisioned[0].kill_processes();
    let began = Instant::now();
    loop {
        let now = host_instances(&app, RuntimeKind::Sandbox);
        if now.len() == 2 && !now.contains(&provisioned[0]) {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "not replaced: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_for_pool(&app, "idle", Some("python"), 2).await;
    let second = app.invoke("provisioned", json!({})).await;
    assert_eq!(second["start"], "warm", "{second}");
    assert_eq!(second["status"], "success");

    // An update provisions the new version (and retires the old one).
    let (status, _) = app
        .request(
            reqwest::Method::PUT,
            "/functions/provisioned",
            Some(&json!({"min_warm": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    wait_for_pool(&app, "idle", Some("python"), 1).await;
    let updated = app.invoke("provisioned", json!({})).await;
    assert_eq!(
        (updated["start"].as_str(), updated["version"].as_i64()),
        (Some("warm"), Some(2))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_its_concurrency_cap_a_function_is_throttled_with_429_never_5xx() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.pool.queue_timeout_ms = 200;
        config.pool.max_queue = 5;
    })
    .await;
    app.create_fn(
        "slow",
        "python",
        &identifying("slow"),
        json!({"max_concurrency": 1}),
    )
    .await;
    app.create_fn(
        "wide",
        "python",
        &identifying("wide"),
        json!({"max_concurrency": 4}),
    )
    .await;
    app.invoke("slow", json!({})).await;

    let calls: Vec<_> = (0..12)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/functions/slow/invoke");
            tokio::spawn(async move { client.post(url).json(&json!({"sleep": 1})).send().await })
        })
        .collect();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for call in calls {
        let response = call.await.unwrap().expect("every call is answered");
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.headers()["retry-after"], "1");
            let id = response.headers()["x-kindling-invocation-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "throttled");
            let (_, recorded) = app.get(&format!("/invocations/{id}")).await;
            assert_eq!(
                recorded["status"], "throttled",
                "a throttled call is recorded"
            );
        }
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    assert_eq!(statuses.get(&200), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&11), "{statuses:?}");

    // Concurrent calls of a wider function run on several instances at once.
    let began = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/functions/wide/invoke");
            tokio::spawn(async move { client.post(url).json(&json!({"sleep": 1})).send().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        tokens.push(response.json::<Value>().await.unwrap()["result"]["token"].clone());
    }
    assert!(
        began.elapsed() < Duration::from_millis(2500),
        "ran in parallel: {:?}",
        began.elapsed()
    );
    tokens.sort_by_key(|t| t.to_string());
    tokens.dedup();
    assert_eq!(tokens.len(), 4, "four instances");
    let (_, throttled) = app.get("/invocations?status=throttled&limit=100").await;
    assert_eq!(throttled.as_array().unwrap().len(), 11);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_never_serves_two_functions_or_two_versions() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.pool.prewarm = 2;
        config.pool.max_instances = 6;
    })
    .await;
    let names = ["one", "two", "three"];
    for name in names {
        app.create_fn(name, "python", &identifying(name), json!({}))
            .await;
    }
    // token → (function, version) it answered for.
    let mut served: HashMap<String, (String, i64)> = HashMap::new();
    for round in 0..6 {
        if round % 2 == 1 {
            let name = names[round % 3];
            let code = identifying(name) + &format!("# version {round}\n");
            app.request(
                reqwest::Method::PUT,
                &format!("/functions/{name}"),
                Some(&json!({"code": code})),
            )
            .await;
        }
        let calls: Vec<_> = (0..9)
            .map(|i| {
                let client = app.client.clone();
                let url = app.url(&format!("/functions/{}/invoke", names[i % 3]));
                tokio::spawn(
                    async move { client.post(url).json(&json!({"sleep": 0.05})).send().await },
                )
            })
            .collect();
        for call in calls {
            let response = call.await.unwrap().unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let invocation: Value = response.json().await.unwrap();
            assert_eq!(invocation["status"], "success", "{invocation}");
            let token = invocation["result"]["token"].as_str().unwrap().to_owned();
            let this = (
                invocation["function_name"].as_str().unwrap().to_owned(),
                invocation["version"].as_i64().unwrap(),
            );
            assert_eq!(invocation["result"]["tag"], this.0.as_str());
            let first = served.entry(token).or_insert_with(|| this.clone());
            assert_eq!(*first, this, "one instance served two function versions");
        }
    }
    assert!(served.len() > 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_outlive_the_threads_that_started_them() {
    if common::skipped_without_root() {
        return;
    }
    // Tokio retires an idle blocking thread after 10 s; an instance must not die with the thread
    // that happened to start it.
    let app = spawn_app_with(|config| config.pool.prewarm = 0).await;
    app.create_fn("patient", "python", &identifying("patient"), json!({}))
        .await;
    let first = app.invoke("patient", json!({})).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let later = app.invoke("patient", json!({})).await;
    assert_eq!(later["start"], "warm", "{later}");
    assert_eq!(later["result"]["token"], first["result"]["token"]);
    app.stop().await;
}
