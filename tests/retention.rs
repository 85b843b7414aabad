//! What the server keeps, and for how long, on a real server: long logs are stored compressed
//! and read back whole; invocation records beyond the retention count are rolled up and deleted
//! while the metrics keep counting them; code no version uses is deleted; versions are paged.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Prints about 60 KB of log lines such as a web handler writes: timestamps, request ids,
/// figures — different for every seed.
const CHATTY: &str = r#"import random
def handler(event, context):
    rnd = random.Random(event["seed"])
    for i in range(540):
        print(f"2026-12-06T10:{i // 60 % 60:02d}:{i % 60:02d}.{rnd.randrange(1000):03d}Z INFO  "
              f"handler request_id={rnd.getrandbits(64):016x} item={rnd.randrange(100000)} "
              f"status={rnd.choice((200, 200, 200, 201, 404))} took_ms={rnd.random() * 50:.3f}")
    return event["seed"]
"#;

async fn records(app: &TestApp, function: &str) -> Vec<Value> {
    let (status, list) = app
        .get(&format!("/invocations?function={function}&limit=1000"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().expect("a list").clone()
}

#[tokio::test]
async fn long_logs_are_compressed_and_records_pruned_to_their_count() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.retention.max_invocations = 40;
        config.retention.interval_secs = 1;
    })
    .await;
    app.create_fn("chatty", "python", CHATTY, json!({})).await;
    let first = app.invoke("chatty", json!({"seed": 0})).await;
    let logs = first["logs"].as_str().expect("logs");
    assert!(logs.len() > 55_000, "{} bytes of logs", logs.len());

    // Read back whole, stored compressed.
    let id = first["invocation_id"].as_str().unwrap();
    let (_, stored) = app.get(&format!("/invocations/{id}")).await;
    assert_eq!(stored["logs"], logs);
    let db = common::open_database(app.data_dir()).await;
    let (text, compressed): (i64, i64) =
        sqlx::query_as("SELECT length(logs), length(logs_zstd) FROM invocations WHERE id = ?")
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(text, 0);
    assert!(
        compressed * 3 < logs.len() as i64,
        "{compressed} bytes compressed for {} bytes of logs",
        logs.len()
    );
    db.close().await;

    // 100 invocations: retention keeps the newest 40 records and rolls the rest up.
    for seed in 1..100 {
        app.invoke("chatty", json!({"seed": seed})).await;
    }
    let began = Instant::now();
    while records(&app, "chatty").await.len() > 40 {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "retention did not prune"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = records(&app, "chatty").await;
    assert_eq!(kept.len(), 40);
    assert_eq!(kept[0]["result"], 99, "the newest are kept");
    let (_, metrics) = app.get("/metrics/functions/chatty?window=1h").await;
    assert_eq!(metrics["invocations"], 100, "{metrics}");
    assert_eq!(metrics["successes"], 100, "{metrics}");
    assert!(metrics["duration_ms"]["p50"].as_f64().unwrap() > 0.0);
    let (_, series) = app
        .get("/metrics/functions/chatty/timeseries?window=1h")
        .await;
    let charted: u64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["invocations"].as_u64().unwrap())
        .sum();
    assert_eq!(charted, 100, "{series}");
    app.stop().await;
}

fn blob_count(data_dir: &Path) -> usize {
    walk(&data_dir.join("blobs"))
        .into_iter()
        .filter(|path| path.is_file())
        .count()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[tokio::test]
async fn code_no_version_uses_is_deleted_and_versions_are_paged() {
    let server = spawn_app_with(|config| config.quotas.versions_per_function = 3).await;
    let (app, _) = server.user("alice").await;
    let data_dir = server.data_dir();
    let code = |n: u32| format!("def handler(event, context):\n    return {n}\n");
    app.create_fn("f", "python", &code(1), json!({})).await;
    app.create_fn("same", "python", &code(1), json!({})).await;
    assert_eq!(blob_count(data_dir), 1, "one blob per content");
    for n in 2..=6 {
        let (status, body) = app.put("/functions/f", &json!({"code": code(n)})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // f keeps versions 4, 5 and 6; version 1's code is still `same`'s.
    assert_eq!(blob_count(data_dir), 4);

    let versions = |query: &'static str| {
        let app = &app;
        async move {
            let (status, list) = app.get(&format!("/functions/f/versions{query}")).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            list.as_array()
                .unwrap()
                .iter()
                .map(|v| v["version"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(versions("").await, [6, 5, 4]);
    assert_eq!(versions("?limit=2").await, [6, 5]);
    assert_eq!(versions("?limit=2&before=5").await, [4]);
    let (status, _) = app.get("/functions/f/versions?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = app.delete("/functions/f").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob_count(data_dir), 1, "only `same`'s code is left");
    let (status, _) = app.delete("/functions/same").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob_count(data_dir), 0);
    server.stop().await;
}
