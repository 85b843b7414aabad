//! Accounts and tokens on the real server: who gets in (401 for every kind of bad token), who
//! sees what (404 for others' functions, 403 for admin routes), the first administrator, logins,
//! registration, `--no-auth`, and the `kindling admin` and `kindling login` commands.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{Api, assert_error, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HELLO: &str = "def handler(event, context):\n    return 'hello'\n";

/// Requests that need a token, one per kind of route.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/functions"),
    ("POST", "/functions"),
    ("GET", "/functions/hello"),
    ("POST", "/functions/hello/invoke"),
    ("POST", "/functions/execute"),
    ("POST", "/execute/hello"),
    ("GET", "/invocations"),
    ("GET", "/run/hello"),
    ("GET", "/metrics/system"),
    ("GET", "/auth/tokens"),
    ("GET", "/auth/me"),
];

async fn call(api: &Api, method: &str, path: &str) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let body = (method == reqwest::Method::POST).then(|| json!({}));
    api.request(method, path, body.as_ref()).await
}

/// Every protected request, made with `api`, is refused with 401 and `code`.
async fn assert_refused(api: &Api, code: &str) {
    for (method, path) in PROTECTED {
        let answer = call(api, method, path).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, code);
    }
    let response = api.client.get(api.url("/functions")).send().await.unwrap();
    let challenge = response.headers()[reqwest::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

/// A token text with one character of its secret changed.
fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_wrong_expired_and_revoked_tokens_get_401() {
    let app = spawn_app().await;
    app.create_fn("hello", "python", HELLO, json!({"route": "/hello"}))
        .await;

    assert_refused(&app.as_token(None), "missing_token").await;
    for malformed in [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer secret123",
        "secret123",
    ] {
        assert_refused(&app.as_authorization(malformed), "malformed_token").await;
    }
    let unknown = "kdl_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_refused(&app.as_token(Some(unknown)), "invalid_token").await;
    assert_refused(
        &app.as_token(Some(&tampered(&app.admin_token))),
        "invalid_token",
    )
    .await;

    // A token that expires in a second works, then does not.
    let (status, short) = app
        .post(
            "/auth/tokens",
            &json!({"name": "short", "expires_in_secs": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    let short = app.as_token(short["token"].as_str());
    assert_eq!(short.get("/functions").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_refused(&short, "token_expired").await;

    // A revoked token stops working at once, though it was just used (and so remembered).
    let (_, revocable) = app
        .post("/auth/tokens", &json!({"name": "revocable"}))
        .await;
    let revocable_api = app.as_token(revocable["token"].as_str());
    assert_eq!(revocable_api.get("/functions").await.0, StatusCode::OK);
    let (status, revoked) = app
        .delete(&format!(
            "/auth/tokens/{}",
            revocable["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["active"], false);
    assert_refused(&revocable_api, "token_revoked").await;

    // The administrator's own token still works; what is public stays public.
    assert_eq!(app.get("/functions").await.0, StatusCode::OK);
    let anonymous = app.as_token(None);
    for public in ["/health", "/openapi.json", "/docs/"] {
        let (status, _) = anonymous.get(public).await;
        assert_eq!(status, StatusCode::OK, "{public}");
    }
    assert_eq!(anonymous.get("/nowhere").await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_change_and_invoke_only_their_own_functions() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let (alice, _) = app.user("alice").await;
    let (bob, bob_id) = app.user("bob").await;

    let mine = alice
        .create_fn("hello", "python", HELLO, json!({"route": "/alice"}))
        .await;
    let id = mine["id"].as_str().unwrap();
    let invocation = alice.invoke("hello", json!({})).await;
    let invocation_id = invocation["invocation_id"].as_str().unwrap();
    assert!(mine.get("owner").is_none(), "owners are not shown: {mine}");

    // Bob sees none of it: every way of naming Alice's function is a 404.
    let (_, listed) = bob.get("/functions").await;
    assert_eq!(listed, json!([]));
    for function in ["hello", id] {
        let not_found = |answer: (StatusCode, Value)| {
            assert_error(&answer, StatusCode::NOT_FOUND, "function_not_found")
        };
        not_found(bob.get(&format!("/functions/{function}")).await);
        not_found(
            bob.put(&format!("/functions/{function}"), &json!({"timeout": 9}))
                .await,
        );
        not_found(bob.delete(&format!("/functions/{function}")).await);
        not_found(
            bob.post(&format!("/functions/{function}/invoke"), &json!({}))
                .await,
        );
        not_found(
            bob.post(&format!("/functions/{function}/execute"), &json!({}))
                .await,
        );
        not_found(bob.post(&format!("/execute/{function}"), &json!({})).await);
        not_found(bob.get(&format!("/functions/{function}/versions")).await);
        not_found(bob.get(&format!("/functions/{function}/executions")).await);
        not_found(bob.get(&format!("/invocations?function={function}")).await);
        not_found(
            bob.post("/functions/execute", &json!({"id": function}))
                .await,
        );
    }
    assert_error(
        &bob.get("/run/alice").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    );
    assert_error(
        &bob.get(&format!("/invocations/{invocation_id}")).await,
        StatusCode::NOT_FOUND,
        "invocation_not_found",
    );
    assert_eq!(bob.get("/invocations").await.1, json!([]));
    // Nothing changed for Alice.
    let (status, still) = alice.get("/functions/hello").await;
    assert_eq!(
        (status, still["version"].clone()),
        (StatusCode::OK, json!(1))
    );

    // Bob may use the same name: names are unique per owner.
    bob.create_fn(
        "hello",
        "python",
        "def handler():\n    return 'bob'\n",
        json!({}),
    )
    .await;
    assert_eq!(bob.invoke("hello", json!({})).await["result"], "bob");
    assert_eq!(alice.invoke("hello", json!({})).await["result"], "hello");

    // The administrator sees and changes everything; a name means their own function first.
    let (_, all) = app.get("/functions").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(app.get(&format!("/functions/{id}")).await.0, StatusCode::OK);
    assert_eq!(app.invoke(id, json!({})).await["result"], "hello");
    let (_, history) = app.get("/invocations").await;
    assert_eq!(history.as_array().unwrap().len(), 4, "{history}");
    let (status, _) = app
        .put(&format!("/functions/{id}"), &json!({"timeout": 9}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.create_fn(
        "hello",
        "python",
        "def handler():\n    return 'admin'\n",
        json!({}),
    )
    .await;
    assert_eq!(app.invoke("hello", json!({})).await["result"], "admin");
    let (_, users) = app.get("/auth/users").await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    let (_, bobs_tokens) = app.get("/auth/tokens?user=bob").await;
    assert_eq!(bobs_tokens.as_array().unwrap().len(), 1, "{bobs_tokens}");
    let (status, me) = bob.get("/auth/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, json!({"id": bob_id, "username": "bob", "admin": false}));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_get_403_on_admin_routes() {
    let app = spawn_app().await;
    let (alice, _) = app.user("alice").await;
    app.user("bob").await;
    let forbidden = |answer: (StatusCode, Value)| {
        assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    };
    forbidden(alice.get("/auth/users").await);
    forbidden(alice.get("/auth/tokens?user=bob").await);
    forbidden(
        alice
            .post(
                "/auth/register",
                &json!({"username": "carol", "password": "carol-password"}),
            )
            .await,
    );
    // Her own things are hers to see.
    assert_eq!(alice.get("/auth/tokens?user=alice").await.0, StatusCode::OK);
    assert_eq!(alice.get("/metrics/system").await.0, StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_shown_once_and_kept_hashed_and_passwords_as_argon2() {
    let app = spawn_app().await;
    let (alice, alice_id) = app.user("alice").await;
    let (status, issued) = alice
        .post(
            "/auth/tokens",
            &json!({"name": "ci", "expires_in_secs": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let text = issued["token"].as_str().unwrap();
    assert!(text.starts_with(&format!("kdl_{}_", issued["id"].as_str().unwrap())));
    assert!(issued["expires_at"].is_string(), "{issued}");
    assert_eq!(
        app.as_token(Some(text)).get("/auth/me").await.1["id"],
        alice_id
    );

    // Listed without its text, now and later. (Its last use is noted off the request's path.)
    let mut listed = Vec::new();
    for _ in 0..50 {
        listed = alice
            .get("/auth/tokens")
            .await
            .1
            .as_array()
            .unwrap()
            .clone();
        if listed
            .iter()
            .any(|t| t["name"] == "ci" && t["last_used_at"].is_string())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(listed.len(), 2, "the login token and this one: {listed:?}");
    assert!(listed.iter().all(|t| t.get("token").is_none()));
    assert!(!serde_json::to_string(&listed).unwrap().contains(text));
    let ci = listed.iter().find(|t| t["name"] == "ci").unwrap();
    assert_eq!(ci["active"], true);
    assert!(ci["last_used_at"].is_string(), "it was used: {ci}");

    // On disk: the digest, never the text; an Argon2id hash, never the password.
    let database = common::open_database(app.data_dir()).await;
    let digest: String = sqlx::query_scalar("SELECT digest FROM api_tokens WHERE id = $1")
        .bind(issued["id"].as_str().unwrap())
        .fetch_one(&database)
        .await
        .unwrap();
    assert_eq!(digest, sha256_hex(text));
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE name = 'alice'")
        .fetch_one(&database)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    database.close().await;
    let mut stored = Vec::new();
    for file in ["kindling.db", "kindling.db-wal"] {
        stored.extend(std::fs::read(app.data_dir().join(file)).unwrap_or_default());
    }
    for secret in [text, &app.admin_token, "alice-password"] {
        assert!(
            !stored
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "{secret} is stored in plain text"
        );
    }

    // The first administrator's token file is for its owner only.
    let mode = std::fs::metadata(app.data_dir().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Bad token requests.
    for (body, code) in [
        (json!({"expires_in_secs": 0}), "invalid_expiry"),
        (json!({"name": ""}), "invalid_token_name"),
        (json!({"name": 5}), "invalid_json"),
    ] {
        assert_error(
            &alice.post("/auth/tokens", &body).await,
            StatusCode::BAD_REQUEST,
            code,
        );
    }
    assert_error(
        &alice.delete("/auth/tokens/0123456789abcdef").await,
        StatusCode::NOT_FOUND,
        "token_not_found",
    );
    // Someone else's token is not found either.
    let (bob, _) = app.user("bob").await;
    assert_error(
        &bob.delete(&format!("/auth/tokens/{}", issued["id"].as_str().unwrap()))
            .await,
        StatusCode::NOT_FOUND,
        "token_not_found",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_registration() {
    let app = spawn_app().await;
    let anonymous = app.as_token(None);
    app.user("alice").await;
    for credentials in [
        json!({"username": "alice", "password": "wrong-password"}),
        json!({"username": "nobody", "password": "alice-password"}),
        json!({"username": "admin", "password": "anything-at-all"}),
    ] {
        assert_error(
            &anonymous.post("/auth/login", &credentials).await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    let (status, login) = anonymous
        .post(
            "/auth/login",
            &json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["user"]["username"], "alice");
    assert_eq!(login["user"]["role"], "user");
    assert!(
        login["expires_at"].is_string(),
        "login tokens expire: {login}"
    );
    assert_error(
        &anonymous
            .post("/auth/login", &json!({"username": "alice"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );

    // Registration is the administrator's unless it is open.
    let carol = json!({"username": "carol", "password": "carol-password"});
    assert_error(
        &anonymous.post("/auth/register", &carol).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    );
    assert_error(
        &app.as_authorization("Bearer nonsense")
            .post("/auth/register", &carol)
            .await,
        StatusCode::UNAUTHORIZED,
        "malformed_token",
    );
    for (body, status, code) in [
        (
            json!({"username": "alice", "password": "another-password"}),
            StatusCode::CONFLICT,
            "username_taken",
        ),
        (
            json!({"username": "bad name", "password": "a-good-password"}),
            StatusCode::BAD_REQUEST,
            "invalid_username",
        ),
        (
            json!({"username": "dave", "password": "short"}),
            StatusCode::BAD_REQUEST,
            "invalid_password",
        ),
        (
            json!({"username": "dave", "password": "a-good-password", "role": "root"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ] {
        assert_error(&app.post("/auth/register", &body).await, status, code);
    }
    let (status, admin) = app
        .post(
            "/auth/register",
            &json!({"username": "root2", "password": "root2-password", "role": "admin"}),
        )
        .await;
    assert_eq!(
        (status, admin["role"].clone()),
        (StatusCode::CREATED, json!("admin"))
    );
    app.stop().await;

    let open = spawn_app_with(|config| config.accounts.open_registration = true).await;
    let anonymous = open.as_token(None);
    let (status, carol) = anonymous.post("/auth/register", &carol).await;
    assert_eq!(
        (status, carol["role"].clone()),
        (StatusCode::CREATED, json!("user"))
    );
    assert_error(
        &anonymous
            .post(
                "/auth/register",
                &json!({"username": "eve", "password": "eve-password", "role": "admin"}),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_every_caller_is_the_first_administrator() {
    if common::skipped_without_root() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let path = data.path().to_path_buf();
    let app = spawn_app_with(|config| {
        config.data_dir = path.clone();
        config.auth = false;
    })
    .await;
    let anonymous = app.as_token(None);
    let (_, me) = anonymous.get("/auth/me").await;
    assert_eq!(
        (me["username"].clone(), me["admin"].clone()),
        (json!("admin"), json!(true))
    );
    anonymous
        .create_fn("open", "python", HELLO, json!({}))
        .await;
    assert_eq!(anonymous.invoke("open", json!({})).await["result"], "hello");
    app.stop().await;

    // With authentication back on, what was made belongs to that administrator.
    let app = spawn_app_with(|config| config.data_dir = path.clone()).await;
    assert_error(
        &app.as_token(None).get("/functions/open").await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    );
    assert_eq!(app.get("/functions/open").await.0, StatusCode::OK);
    assert_eq!(
        app.get("/invocations?function=open")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_from_before_accounts_belong_to_the_first_administrator() {
    if common::skipped_without_root() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let path = data.path().to_path_buf();
    let app = spawn_app_with(|config| config.data_dir = path.clone()).await;
    app.create_fn("old", "python", HELLO, json!({})).await;
    app.invoke("old", json!({})).await;
    app.stop().await;

    // Make the database look as it did before accounts: no users, everything owned by `local`.
    let database = common::open_database(&path).await;
    for statement in [
        "UPDATE functions SET owner = 'local'",
        "UPDATE invocations SET owner = 'local'",
        "DELETE FROM api_tokens",
        "DELETE FROM users",
    ] {
        sqlx::query(statement).execute(&database).await.unwrap();
    }
    database.close().await;
    std::fs::remove_file(path.join("admin-token")).unwrap();

    let app = spawn_app_with(|config| config.data_dir = path.clone()).await;
    let (status, old) = app.get("/functions/old").await;
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(app.invoke("old", json!({})).await["result"], "hello");
    assert_eq!(
        app.get("/invocations?function=old")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let database = common::open_database(&path).await;
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT owner FROM functions UNION SELECT owner FROM invocations")
            .fetch_all(&database)
            .await
            .unwrap();
    let (_, me) = app.get("/auth/me").await;
    assert_eq!(owners, [me["id"].as_str().unwrap()]);
    database.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_make_users_and_reset_tokens_and_users_log_in_from_the_cli() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let data_dir = app.data_dir().to_str().unwrap().to_owned();

    let created = common::kindling(
        &[
            "admin",
            "create-user",
            "alice",
            "--password-stdin",
            "--data-dir",
            &data_dir,
        ],
        "alice-password\n",
        &[],
    )
    .await;
    let alice = app.as_token(Some(created.trim()));
    assert_eq!(alice.get("/auth/me").await.1["username"], "alice");
    assert_eq!(alice.get("/auth/users").await.0, StatusCode::FORBIDDEN);
    let ops = common::kindling(
        &[
            "admin",
            "create-user",
            "ops",
            "--admin",
            "--data-dir",
            &data_dir,
        ],
        "",
        &[],
    )
    .await;
    assert_eq!(
        app.as_token(Some(ops.trim())).get("/auth/users").await.0,
        StatusCode::OK
    );

    // A reset revokes the old tokens (this one was never used, so no server remembers it).
    let unused = {
        let (_, issued) = alice.post("/auth/tokens", &json!({})).await;
        issued["token"].as_str().unwrap().to_owned()
    };
    let reset = common::kindling(
        &["admin", "reset-token", "alice", "--data-dir", &data_dir],
        "",
        &[],
    )
    .await;
    assert_error(
        &app.as_token(Some(&unused)).get("/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    assert_eq!(
        app.as_token(Some(reset.trim())).get("/auth/me").await.1["username"],
        "alice"
    );

    // `kindling login` saves a token the other commands use.
    let home = tempfile::tempdir().unwrap();
    let config_home = home.path().to_str().unwrap();
    let url = app.base.clone();
    common::kindling(
        &["login", "alice", "--url", &url],
        "alice-password\n",
        &[("XDG_CONFIG_HOME", config_home)],
    )
    .await;
    let mode = std::fs::metadata(home.path().join("kindling/credentials.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    common::kindling(
        &[
            "fn",
            "create",
            "cli",
            "--language",
            "python",
            "--code",
            HELLO,
            "--url",
            &url,
        ],
        "",
        &[("XDG_CONFIG_HOME", config_home)],
    )
    .await;
    let invoked = common::kindling(
        &["fn", "invoke", "cli", "--url", &url],
        "",
        &[("XDG_CONFIG_HOME", config_home)],
    )
    .await;
    assert!(invoked.contains("\"result\": \"hello\""), "{invoked}");
    let metrics = common::kindling(
        &["metrics", "cli", "--window", "1h", "--url", &url],
        "",
        &[("XDG_CONFIG_HOME", config_home)],
    )
    .await;
    assert!(metrics.contains("\"invocations\": 1,"), "{metrics}");
    assert_eq!(alice.get("/functions/cli").await.0, StatusCode::OK);
    app.stop().await;
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
