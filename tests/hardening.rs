//! Accounts under attack and in an operator's hands, on a real server: a password guesser is
//! slowed down with 429 and `Retry-After`; an administrator deletes users (their functions
//! deleted or handed over) and changes their quotas, over the API and with `kindling admin`;
//! the data dir is private and function environments are sealed at rest.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{assert_error, kindling, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ECHO: &str = "def handler(event, context):\n    return event\n";

/// `POST /auth/login` as `username` with a wrong password.
async fn wrong_login(app: &common::TestApp, username: &str) -> reqwest::Response {
    let wrong = json!({"username": username, "password": "not-the-password"});
    app.client
        .post(app.url("/auth/login"))
        .json(&wrong)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_wrong_passwords_end_in_429_with_retry_after() {
    // Here the name's limit is what is tested: the address (all of the test's requests come
    // from 127.0.0.1) may make more attempts than usual.
    let app = spawn_app_with(|config| {
        config.accounts.login.address_burst = 1000;
        config.accounts.login.address_long_burst = 1000;
    })
    .await;
    app.user("alice").await;
    app.user("bob").await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..200 {
        let response = wrong_login(&app, "alice").await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
        }
    }
    // alice and bob each signed in once already (the test's `user`).
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(statuses[..4], [StatusCode::UNAUTHORIZED; 4]);
    assert_eq!(refused, 196, "{statuses:?}");
    let retry_after: u64 = retry_after
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=12).contains(&retry_after),
        "Retry-After: {retry_after}"
    );

    // The right password is refused too while the name is limited: guessing learns nothing.
    let right = json!({"username": "alice", "password": "alice-password"});
    assert_error(
        &app.post("/auth/login", &right).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    let dashboard = app
        .client
        .post(app.url("/auth/session"))
        .json(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user signs in from the same address.
    let bob = json!({"username": "bob", "password": "bob-password"});
    assert_eq!(app.post("/auth/login", &bob).await.0, StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_trying_many_names_is_limited_too() {
    // One attempt an hour once the burst is spent: none comes back while the test runs.
    let app = spawn_app_with(|config| config.accounts.login.address_every_secs = 3600).await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        // Made-up names, and names no user can have (counted against the address only).
        let name = match i % 2 {
            0 => format!("user{i}"),
            _ => format!("not a name {i}\n"),
        };
        statuses.push(wrong_login(&app, &name).await.status());
    }
    // 20 attempts per address at once (accounts.login.address_burst).
    assert_eq!(
        statuses[..20],
        [StatusCode::UNAUTHORIZED; 20],
        "{statuses:?}"
    );
    assert_eq!(
        statuses[20..],
        [StatusCode::TOO_MANY_REQUESTS; 10],
        "{statuses:?}"
    );
    let refused = wrong_login(&app, "admin").await;
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("address"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_deletes_users_and_their_functions_go_or_move() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let (alice, _) = app.user("alice").await;
    let (bob, _) = app.user("bob").await;
    let (carol, _) = app.user("carol").await;
    alice
        .create_fn("report", "python", ECHO, json!({"route": "/report"}))
        .await;
    alice.invoke("report", json!(1)).await;
    carol.create_fn("mine", "python", ECHO, json!({})).await;
    bob.create_fn("report", "python", ECHO, json!({})).await;

    assert_error(
        &app.delete("/auth/users/alice").await,
        StatusCode::BAD_REQUEST,
        "functions_choice",
    );
    // bob has a `report` already: nothing changes.
    assert_error(
        &app.delete("/auth/users/alice?functions=transfer&to=bob")
            .await,
        StatusCode::CONFLICT,
        "name_taken",
    );
    assert_eq!(alice.get("/auth/me").await.0, StatusCode::OK);
    let (status, deleted) = app
        .delete("/auth/users/alice?functions=transfer&to=carol")
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["transferred_functions"], json!(["report"]));
    assert_error(
        &alice.get("/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(carol.invoke("report", json!(2)).await["result"], 2);
    let (status, _) = app.get("/run/report").await;
    assert_eq!(status, StatusCode::OK, "the route moved with its function");
    let (_, users) = app.get("/auth/users").await;
    assert!(!users.to_string().contains("alice"), "{users}");

    // With the CLI: carol's functions are deleted.
    let url = app.base.clone();
    let out = kindling(
        &[
            "admin",
            "delete-user",
            "carol",
            "--delete-functions",
            "--url",
            &url,
        ],
        "",
        &[("KINDLING_TOKEN", &app.admin_token)],
    )
    .await;
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["deleted_functions"], json!(["mine", "report"]));
    assert_eq!(carol.get("/auth/me").await.0, StatusCode::UNAUTHORIZED);
    let (_, functions) = app.get("/functions").await;
    let names: Vec<&str> = functions
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["report"], "only bob's is left");

    assert_error(
        &app.delete("/auth/users/admin").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &bob.delete("/auth/users/admin?functions=delete").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.delete("/auth/users/nobody").await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_set_per_user_hold_and_outlive_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path().to_path_buf();
    let app = spawn_app_with(|config| config.data_dir = dir).await;
    let (alice, _) = app.user("alice").await;
    let (bob, _) = app.user("bob").await;
    let (status, quotas) = alice.get("/auth/users/alice/quotas").await;
    assert_eq!(status, StatusCode::OK, "{quotas}");
    assert_eq!(quotas["quotas"]["functions"], 100);
    assert_error(
        &bob.get("/auth/users/alice/quotas").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &alice
            .put("/auth/users/alice/quotas", &json!({"functions": 50}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.put("/auth/users/alice/quotas", &json!({"functoins": 1}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );

    // `kindling admin quotas` sets one, keeps the others.
    let url = app.base.clone();
    let token = app.admin_token.clone();
    let env = [("KINDLING_TOKEN", token.as_str())];
    kindling(
        &[
            "admin",
            "quotas",
            "alice",
            "--functions",
            "1",
            "--url",
            &url,
        ],
        "",
        &env,
    )
    .await;
    let shown = kindling(
        &["admin", "quotas", "alice", "--tokens", "3", "--url", &url],
        "",
        &env,
    )
    .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["overrides"],
        json!({"functions": 1, "versions_per_function": null,
        "code_mb": null, "concurrency": null, "memory_mb": null, "min_warm": null, "tokens": 3})
    );
    assert_eq!(shown["quotas"]["functions"], 1);
    assert_eq!(shown["defaults"]["functions"], 100);

    let body = json!({"name": "one", "language": "python", "code": ECHO});
    assert_eq!(alice.post("/functions", &body).await.0, StatusCode::CREATED);
    let two = json!({"name": "two", "language": "python", "code": ECHO});
    let refused = alice.post("/functions", &two).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "quota_exceeded");
    assert_eq!(refused.1["error"]["field"], "functions");
    assert_eq!(bob.post("/functions", &two).await.0, StatusCode::CREATED);

    // After a restart the stored quotas hold.
    app.stop().await;
    let dir = data_dir.path().to_path_buf();
    let app = spawn_app_with(|config| config.data_dir = dir).await;
    let alice = app.as_token(alice_token(&app).await.as_deref());
    assert_error(
        &alice.post("/functions", &two).await,
        StatusCode::FORBIDDEN,
        "quota_exceeded",
    );
    kindling(
        &["admin", "quotas", "alice", "--reset", "--url", &app.base],
        "",
        &[("KINDLING_TOKEN", &app.admin_token)],
    )
    .await;
    assert_eq!(alice.post("/functions", &two).await.0, StatusCode::CREATED);
    app.stop().await;
}

async fn alice_token(app: &common::TestApp) -> Option<String> {
    let login = json!({"username": "alice", "password": "alice-password"});
    let (_, answer) = app.post("/auth/login", &login).await;
    answer["token"].as_str().map(str::to_owned)
}

/// Every path under `dir`, but the runtimes' own subtrees (what their instances mount).
fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|name| name.to_str());
        if matches!(name, Some("sandbox" | "docker" | "gvisor")) {
            continue;
        }
        if path.is_dir() {
            found.extend(data_files(&path));
        }
        found.push(path);
    }
    found
}

const SECRET: &str = "s3cret-value-7f1c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_private_and_environments_are_sealed() {
    if common::skipped_without_root() {
        return;
    }
    let parent = tempfile::tempdir().unwrap();
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = parent.path().join("data");
    let dir = data.clone();
    let app = spawn_app_with(|config| config.data_dir = dir).await;
    let code = "import os\ndef handler(event, context):\n    print('key ends', os.environ['API_KEY'][-4:])\n    return len(os.environ['API_KEY'])\n";
    app.create_fn("keyed", "python", code, json!({"env": {"API_KEY": SECRET}}))
        .await;
    assert_eq!(app.invoke("keyed", json!({})).await["result"], SECRET.len());
    let (_, function) = app.get("/functions/keyed").await;
    assert_eq!(
        function["env"]["API_KEY"], SECRET,
        "the owner reads it back"
    );

    let check = |data: &Path| {
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(data), 0o700);
        let files = data_files(data);
        for path in &files {
            let expected = if path.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode(path), expected, "{}", path.display());
            if path.is_file() {
                let bytes = std::fs::read(path).unwrap();
                assert!(
                    !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                    "{} holds the secret in plain text",
                    path.display()
                );
            }
        }
        assert!(
            files.iter().any(|f| f.ends_with("kindling.db-wal")),
            "{files:?}"
        );
        assert!(files.iter().any(|f| f.ends_with("secret.key")), "{files:?}");
    };
    check(&data);
    // No other local user reads anything, the database least of all.
    let nobody = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "cat"])
        .arg(data.join("kindling.db"))
        .output()
        .unwrap();
    assert!(!nobody.status.success(), "uid 65534 read the database");
    app.stop().await;

    // A database from before sealing: its plain-text environments are sealed at start-up,
    // and what they held is gone from the file.
    let database = common::open_database(&data).await;
    sqlx::query("UPDATE function_versions SET env = ?")
        .bind(format!("{{\"API_KEY\":\"{SECRET}\"}}"))
        .execute(&database)
        .await
        .unwrap();
    database.close().await;
    let dir = data.clone();
    let app = spawn_app_with(|config| config.data_dir = dir).await;
    let (_, function) = app.get("/functions/keyed").await;
    assert_eq!(function["env"]["API_KEY"], SECRET);
    check(&data);
    app.stop().await;

    // Without its key the server does not start — nor make a new key that opens nothing.
    std::fs::rename(data.join("secret.key"), parent.path().join("saved.key")).unwrap();
    let refused = match kindling::server::build(kindling::config::Config::for_data_dir(&data)).await
    {
        Ok(_) => panic!("the server started without its key"),
        Err(e) => e.to_string(),
    };
    assert!(refused.contains("secret.key is missing"), "{refused}");
    assert!(!data.join("secret.key").exists());
}
