//! The one test helper: a real server on port 0 with a fresh data dir, and HTTP clients for it —
//! by default authenticated as the server's first administrator.
#![allow(dead_code)] // each test binary uses a different part of it

pub mod instances;
#[path = "../../src/bench/spawn.rs"]
mod spawn;

use std::io::Write;
use std::net::SocketAddr;

use kindling::config::Config;
use kindling::runtimes::RuntimeKind;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderName};
use serde_json::{Value, json};

/// A running server, and a client of it that sends the first administrator's token (the one
/// the server wrote to its data dir on first start). It derefs to that client.
pub struct TestApp {
    pub addr: SocketAddr,
    pub api: Api,
    pub admin_token: String,
    server: spawn::Spawned,
}

/// The image `scripts/build-images` builds for the Docker-based runtimes (this project's test
/// machines cannot pull the official ones).
pub const LOCAL_IMAGE: &str = "kindling/runtime:bookworm";

/// A client of the test server that sends one caller's credentials on every request (or none).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

/// Whether this test must be skipped, and says why: it runs functions in real sandboxes or
/// containers, which need root (namespaces, cgroups, the Docker engine's socket). `cargo test` as root — as CI runs it — runs it; as any other
/// user, the engine's own unit tests (on the fake runtime) still run.
pub fn skipped_without_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    // Straight to stderr: the test harness would hide what `eprintln!` says in a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: it needs root (namespaces, cgroups, the Docker engine's socket), and runs as uid {euid}"
    );
    true
}

/// A server with default settings, offering the sandbox runtime only.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose settings `configure` may change first (it offers the sandbox runtime only
/// unless `configure` says otherwise).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let server = spawn::spawn(Config::default(), |config| {
        config.runtimes = vec![RuntimeKind::Sandbox];
        config.sandbox.helper = Some(env!("CARGO_BIN_EXE_kindling").into());
        config.docker.python_image = LOCAL_IMAGE.to_owned();
        config.docker.node_image = LOCAL_IMAGE.to_owned();
        configure(config);
    })
    .await
    .expect("server starts");
    let base = format!("http://{}", server.addr);
    TestApp {
        addr: server.addr,
        api: Api::with_token(&base, Some(&server.admin_token)),
        admin_token: server.admin_token.clone(),
        server,
    }
}

/// A server whose default runtime is `runtime`, which it must be able to run.
pub async fn spawn_runtime(runtime: RuntimeKind) -> TestApp {
    spawn_runtime_prewarmed(runtime, 1).await
}

/// A server whose default runtime is `runtime`, keeping `prewarm` generic instances.
pub async fn spawn_runtime_prewarmed(runtime: RuntimeKind, prewarm: u32) -> TestApp {
    let app = spawn_app_with(|config| {
        config.runtimes = vec![runtime];
        config.default_runtime = runtime;
        config.pool.prewarm = prewarm;
    })
    .await;
    let (_, health) = app.get("/health").await;
    assert_eq!(
        health["runtimes"][runtime.as_str()]["available"],
        true,
        "the {runtime} runtime must be available for this test (scripts/docker-setup, scripts/build-images): {health}"
    );
    app
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// The server's data dir (its temporary one, unless the test chose another).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.server.data_dir
    }

    /// The same server, called with `token` (`None`: no `Authorization` header).
    pub fn as_token(&self, token: Option<&str>) -> Api {
        Api::with_token(&self.base, token)
    }

    /// The same server, called with this `Authorization` header as is.
    pub fn as_authorization(&self, authorization: &str) -> Api {
        Api::with_headers(&self.base, [(AUTHORIZATION, authorization)])
    }

    /// Registers a user (as the administrator), signs them in, and returns their client and id.
    pub async fn user(&self, username: &str) -> (Api, String) {
        let password = format!("{username}-password");
        let credentials = json!({"username": username, "password": password});
        let (status, user) = self.post("/auth/register", &credentials).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "registering {username}: {user}"
        );
        let (status, login) = self.post("/auth/login", &credentials).await;
        assert_eq!(status, StatusCode::OK, "signing in {username}: {login}");
        let id = user["id"].as_str().expect("a user id").to_owned();
        (self.as_token(login["token"].as_str()), id)
    }

    /// Stops the server the way Ctrl-C does and waits until it has shut down.
    pub async fn stop(mut self) {
        self.server.stop().await.expect("server stopped cleanly");
    }
}

impl Api {
    fn with_token(base: &str, token: Option<&str>) -> Self {
        let authorization = token.map(|token| format!("Bearer {token}"));
        Self::with_headers(
            base,
            authorization
                .iter()
                .map(|value| (AUTHORIZATION, value.as_str())),
        )
    }

    fn with_headers<'a>(
        base: &str,
        headers: impl IntoIterator<Item = (HeaderName, &'a str)>,
    ) -> Self {
        let headers = headers
            .into_iter()
            .map(|(name, value)| (name, value.parse().expect("a header value")))
            .collect();
        Self {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// POSTs raw bytes (for bodies that are not JSON).
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("request sent");
        answer(response).await
    }

    /// Creates a function and returns it; panics unless the server answers 201.
    pub async fn create(&self, body: Value) -> Value {
        let (status, function) = self.post("/functions", &body).await;
        assert_eq!(status, StatusCode::CREATED, "creating {body}: {function}");
        function
    }

    /// Creates a function from its name, language and code, with `extra` fields merged in.
    pub async fn create_fn(&self, name: &str, language: &str, code: &str, extra: Value) -> Value {
        let mut body = json!({"name": name, "language": language, "code": code});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.create(body).await
    }

    /// Invokes a function and returns the invocation; panics unless the server answers 200.
    pub async fn invoke(&self, function: &str, event: Value) -> Value {
        let (status, invocation) = self
            .post(&format!("/functions/{function}/invoke"), &event)
            .await;
        assert_eq!(status, StatusCode::OK, "invoking {function}: {invocation}");
        invocation
    }
}

/// An answer's status and body, as JSON when it is JSON and as a string otherwise.
async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body read");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts an API error answer: its status and its `error.code`.
pub fn assert_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an error needs a message: {}",
        answer.1
    );
}

/// Creates the same behaviour written in each language; returns the two function names
/// (`{name}_python`, `{name}_javascript`).
pub async fn create_both(
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

/// How many instances the server's pool reports in `state` (`idle`, `busy`, `prewarmed`,
/// `starting`), of `language` or of any.
pub async fn pool_count(api: &Api, state: &str, language: Option<&str>) -> u64 {
    let (_, metrics) = api.get("/metrics/system").await;
    metrics["pool"]["instances"]
        .as_array()
        .expect("the pool's instances")
        .iter()
        .filter(|c| c["state"] == state && language.is_none_or(|l| c["language"] == l))
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

/// Waits (up to 10 s) until the pool reports `count` instances in `state`: how a test knows an
/// invocation is in flight, or an instance was replaced, without guessing with a sleep.
pub async fn wait_for_pool(api: &Api, state: &str, language: Option<&str>, count: u64) {
    let began = std::time::Instant::now();
    loop {
        let now = pool_count(api, state, language).await;
        if now == count {
            return;
        }
        assert!(
            began.elapsed() < std::time::Duration::from_secs(10),
            "{state}: {now}, waiting for {count}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Runs the `kindling` binary with `stdin`; returns its stdout, panicking unless it succeeds.
pub async fn kindling(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> String {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kindling"))
        .args(args)
        .env_remove("KINDLING_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "kindling {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The server's database, opened beside it (SQLite serialises the writes).
pub async fn open_database(dir: &std::path::Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("kindling.db"));
    sqlx::SqlitePool::connect_with(options).await.unwrap()
}
