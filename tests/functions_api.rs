//! The function registry over HTTP: create, read, list, update, delete, and every bad input.

mod common;

use common::{assert_error, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

const HELLO: &str = "def handler(event, context):\n    return {'message': 'hello'}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_list_update_delete() {
    let app = spawn_app().await;
    let created = app
        .create(
            json!({"name": "hello", "language": "python", "code": HELLO, "route": "/hi",
                       "timeout": 5, "memory_mb": 256, "env": {"GREETING": "hi"}}),
        )
        .await;
    assert_eq!(created["version"], 1);
    assert_eq!(created["handler"], "handler");
    assert_eq!(created["route"], "/hi");
    assert_eq!(created["timeout"], 5);
    assert_eq!(created["memory_mb"], 256);
    assert_eq!(created["runtime"], "sandbox");
    assert_eq!(created["env"]["GREETING"], "hi");
    assert_eq!(created["code"], HELLO);
    assert_eq!(created["code_size"], HELLO.len());
    let id = created["id"].as_str().unwrap().to_owned();

    // By id and by name; the seeds write a trailing slash.
    for path in [
        format!("/functions/{id}"),
        "/functions/hello".to_owned(),
        "/functions/hello/".to_owned(),
    ] {
        let (status, read) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(read["id"], id.as_str());
        assert_eq!(read["code"], HELLO);
    }
    let (status, list) = app.get("/functions/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "hello");
    assert!(list[0].get("code").is_none(), "lists leave code out");

    // A partial update keeps the other fields and makes version 2.
    let (status, updated) = app
        .request(
            reqwest::Method::PUT,
            "/functions/hello",
            Some(&json!({"timeout": 9})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["timeout"], 9);
    assert_eq!(updated["memory_mb"], 256);
    assert_eq!(updated["code"], HELLO);
    assert_eq!(updated["created_at"], created["created_at"]);
    let (_, versions) = app.get("/functions/hello/versions").await;
    let versions: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    let (status, first) = app.get("/functions/hello/versions/1").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (first["version"].clone(), first["code"].clone()),
        (json!(1), json!(HELLO))
    );
    assert_eq!(first["timeout"], created["timeout"]);
    let (_, second) = app.get("/functions/hello/versions/2").await;
    assert_eq!(second["timeout"], 9);
    assert_error(
        &app.get("/functions/hello/versions/3").await,
        StatusCode::NOT_FOUND,
        "version_not_found",
    );
    assert_error(
        &app.get("/functions/hello/versions/latest").await,
        StatusCode::BAD_REQUEST,
        "invalid_version",
    );

    // Rename (seed 003's update sends every field) and remove the route.
    let (status, renamed) = app
        .request(
            reqwest::Method::PUT,
            &format!("/functions/{id}"),
            Some(&json!({"name": "updated_function", "language": "python", "code": HELLO, "route": null, "timeout": 10})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "updated_function");
    assert_eq!(renamed["route"], serde_json::Value::Null);
    assert_error(
        &app.get("/functions/hello").await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );

    let (status, deleted) = app
        .request(reqwest::Method::DELETE, &format!("/functions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["message"], "Function deleted");
    assert_error(
        &app.get(&format!("/functions/{id}")).await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    let (_, list) = app.get("/functions").await;
    assert_eq!(list, json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_and_invocations_survive_a_restart() {
    if common::skipped_without_root() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let path = data.path().to_path_buf();
    let app = spawn_app_with(|config| config.data_dir = path.clone()).await;
    app.create_fn(
        "kept",
        "javascript",
        "exports.handler = async () => 41 + 1;",
        json!({"route": "/kept"}),
    )
    .await;
    let invocation = app.invoke("kept", json!({})).await;
    app.stop().await;

    let app = spawn_app_with(|config| config.data_dir = path.clone()).await;
    let (status, kept) = app.get("/functions/kept").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["route"], "/kept");
    let id = invocation["invocation_id"].as_str().unwrap();
    let (status, recorded) = app.get(&format!("/invocations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recorded["result"], 42);
    assert_eq!(app.invoke("kept", json!({})).await["result"], 42);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_precise_4xx_and_writes_nothing() {
    let app = spawn_app().await;
    let base = json!({"name": "ok", "language": "python", "code": HELLO});
    let with = |field: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            with("name", json!("bad name!")),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            with("name", json!("x".repeat(65))),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            with("name", json!("invoke")),
            StatusCode::BAD_REQUEST,
            "reserved_name",
        ),
        (
            with("language", json!("ruby")),
            StatusCode::BAD_REQUEST,
            "unknown_language",
        ),
        (
            with("timeout", json!(0)),
            StatusCode::BAD_REQUEST,
            "timeout_out_of_range",
        ),
        (
            with("timeout", json!(901)),
            StatusCode::BAD_REQUEST,
            "timeout_out_of_range",
        ),
        (
            with("memory_mb", json!(63)),
            StatusCode::BAD_REQUEST,
            "memory_out_of_range",
        ),
        (
            with("memory_mb", json!(10241)),
            StatusCode::BAD_REQUEST,
            "memory_out_of_range",
        ),
        (
            with("handler", json!("not-an-identifier")),
            StatusCode::BAD_REQUEST,
            "invalid_handler",
        ),
        (
            with("route", json!("/a/../etc")),
            StatusCode::BAD_REQUEST,
            "invalid_route",
        ),
        (
            with("runtime", json!("firecracker")),
            StatusCode::BAD_REQUEST,
            "unknown_runtime",
        ),
        (
            with("env", json!({"1BAD": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_env",
        ),
        (
            with("code", json!("x".repeat(5 * 1024 * 1024 + 1))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "code_too_large",
        ),
        (
            with("surprise", json!(1)),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"name": "ok", "language": "python"}),
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (json!([1, 2]), StatusCode::BAD_REQUEST, "invalid_json"),
    ];
    for (body, status, code) in cases {
        let answer = app.post("/functions", &body).await;
        assert_error(&answer, status, code);
    }
    assert_error(
        &app.post_raw("/functions", "{not json").await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );
    assert_error(
        &app.post_raw("/functions", "").await,
        StatusCode::BAD_REQUEST,
        "empty_body",
    );
    let (_, list) = app.get("/functions").await;
    assert_eq!(list, json!([]), "nothing was written");
    // Each refusal of a field names it, so that a form can show the message beside it.
    for (field, value) in [
        ("name", json!("bad name!")),
        ("language", json!("ruby")),
        ("code", json!("  ")),
        ("handler", json!("not-an-identifier")),
        ("route", json!("/a/../etc")),
        ("timeout", json!(901)),
        ("memory_mb", json!(63)),
        ("env", json!({"1BAD": "x"})),
        ("runtime", json!("firecracker")),
        ("max_concurrency", json!(0)),
        ("min_warm", json!(101)),
        ("keep_alive_secs", json!(-1)),
    ] {
        let (_, refused) = app.post("/functions", &with(field, value)).await;
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let (_, not_json) = app.post_raw("/functions", "{not json").await;
    assert!(not_json["error"].get("field").is_none(), "{not_json}");

    // Duplicates: same name, same route.
    app.create(with("route", json!("/taken"))).await;
    assert_error(
        &app.post("/functions", &base).await,
        StatusCode::CONFLICT,
        "name_taken",
    );
    let other = json!({"name": "other", "language": "python", "code": HELLO, "route": "taken"});
    let taken = app.post("/functions", &other).await;
    assert_error(&taken, StatusCode::CONFLICT, "route_taken");
    assert_eq!(taken.1["error"]["field"], "route");
    app.create(json!({"name": "second", "language": "python", "code": HELLO}))
        .await;
    let answer = app
        .request(
            reqwest::Method::PUT,
            "/functions/second",
            Some(&json!({"name": "ok"})),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "name_taken");
    let (_, list) = app.get("/functions").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, second) = app.get("/functions/second").await;
    assert_eq!(second["version"], 1, "a refused update writes no version");

    // Unknown functions, everywhere.
    assert_error(
        &app.get("/functions/nope").await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    assert_error(
        &app.request(
            reqwest::Method::PUT,
            "/functions/nope",
            Some(&json!({"timeout": 3})),
        )
        .await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    assert_error(
        &app.request(reqwest::Method::DELETE, "/functions/nope", None)
            .await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    assert_error(
        &app.post("/functions/nope/invoke", &json!({})).await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    assert_error(
        &app.post("/execute/nope", &json!({"event": {}})).await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    assert_error(
        &app.get("/invocations/nope").await,
        StatusCode::NOT_FOUND,
        "invocation_not_found",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_its_openapi_document_and_docs() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/functions",
        "/functions/{function}/invoke",
        "/execute/{function}",
        "/invocations/{id}",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(!html.contains("cdn."), "docs are served by the binary");
    let (status, health) = app.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["runtimes"]["sandbox"]["available"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_beyond_the_pools_budget_is_refused() {
    let app = common::spawn_app_with(|config| config.pool.memory_budget_mb = 512).await;
    let body = json!({"name": "huge", "language": "python", "code": HELLO, "memory_mb": 1024});
    let answer = app.post("/functions", &body).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "memory_out_of_range");
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("512"),
        "{}",
        answer.1
    );
    app.stop().await;
}
