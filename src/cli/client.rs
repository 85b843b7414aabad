//! Client commands: thin wrappers over the HTTP API that print its JSON answers.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Args, Clone)]
pub struct ClientArgs {
    /// The server's address.
    #[arg(long, env = "KINDLING_URL", default_value = "http://127.0.0.1:8000")]
    pub url: String,
    /// API token [default: the one `kindling login` saved for this URL].
    #[arg(long, env = "KINDLING_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Args)]
pub struct LoginArgs {
    pub username: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// What `kindling login` keeps: one token, for one server.
#[derive(Serialize, Deserialize)]
struct Saved {
    url: String,
    token: String,
}

/// `$XDG_CONFIG_HOME/kindling/credentials.json`, else `~/.config/kindling/credentials.json`.
fn saved_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("kindling").join("credentials.json"))
}

impl ClientArgs {
    /// The token to send: the one given, else the one saved for this server.
    fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            let saved = std::fs::read(saved_path()?).ok()?;
            let saved: Saved = serde_json::from_slice(&saved).ok()?;
            (saved.url.trim_end_matches('/') == self.url.trim_end_matches('/'))
                .then_some(saved.token)
        })
    }
}

/// The fields shared by `fn create` and `fn update`.
#[derive(Args)]
pub struct FunctionFields {
    /// `python` or `javascript` (guessed from --file's extension when omitted).
    #[arg(long, short)]
    language: Option<String>,
    /// File holding the code.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// The code itself.
    #[arg(long, conflicts_with = "file")]
    code: Option<String>,
    #[arg(long)]
    handler: Option<String>,
    /// HTTP route, e.g. /hello (served at /run/hello).
    #[arg(long)]
    route: Option<String>,
    /// Seconds.
    #[arg(long)]
    timeout: Option<u32>,
    #[arg(long)]
    memory_mb: Option<u32>,
    /// KEY=VALUE, repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// sandbox, docker or gvisor.
    #[arg(long)]
    runtime: Option<String>,
}

#[derive(Subcommand)]
pub enum FunctionCommand {
    /// Register a function.
    Create {
        name: String,
        #[command(flatten)]
        fields: FunctionFields,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List functions.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a function with its code.
    Get {
        function: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a function (makes a new version).
    Update {
        function: String,
        #[command(flatten)]
        fields: FunctionFields,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a function.
    Delete {
        function: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Invoke a function and print the invocation.
    Invoke {
        function: String,
        /// The event, as JSON.
        #[arg(long, short, default_value = "{}")]
        data: String,
        /// Argument for script-style functions, repeatable.
        #[arg(long = "arg")]
        args: Vec<String>,
        /// Run on this runtime instead of the function's own.
        #[arg(long)]
        runtime: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a function's recent invocations with their logs.
    Logs {
        function: String,
        #[arg(long, default_value_t = 10)]
        limit: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub(super) struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Client {
    pub(super) fn new(args: ClientArgs) -> Self {
        Self {
            http: reqwest::Client::new(),
            token: args.token(),
            url: args.url,
        }
    }

    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = answer["error"]["message"].as_str().unwrap_or("no details");
            bail!("{status}: {message}");
        }
        Ok(answer)
    }
}

pub(super) fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn body(name: Option<String>, fields: FunctionFields) -> anyhow::Result<Value> {
    let mut body = Map::new();
    if let Some(name) = name {
        body.insert("name".into(), json!(name));
    }
    let code = match (&fields.file, fields.code) {
        (Some(file), _) => Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        (None, code) => code,
    };
    let language = fields.language.or_else(|| {
        let extension = fields.file.as_ref()?.extension()?.to_str()?;
        match extension {
            "py" => Some("python".to_owned()),
            "js" | "cjs" => Some("javascript".to_owned()),
            _ => None,
        }
    });
    let mut env = Map::new();
    for pair in fields.env {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair}: expected KEY=VALUE"))?;
        env.insert(key.to_owned(), json!(value));
    }
    let optional = [
        ("language", language.map(Value::from)),
        ("code", code.map(Value::from)),
        ("handler", fields.handler.map(Value::from)),
        ("route", fields.route.map(Value::from)),
        ("timeout", fields.timeout.map(Value::from)),
        ("memory_mb", fields.memory_mb.map(Value::from)),
        ("runtime", fields.runtime.map(Value::from)),
        ("env", (!env.is_empty()).then_some(Value::Object(env))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    }
    Ok(Value::Object(body))
}

/// Percent-encodes a path segment (function names are safe already; this keeps odd input safe).
pub(super) fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub async fn run_function(command: FunctionCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        FunctionCommand::Create {
            name,
            fields,
            client,
        } => {
            let body = body(Some(name), fields)?;
            print(
                &Client::new(client)
                    .send(Method::POST, "/functions", Some(body))
                    .await?,
            );
        }
        FunctionCommand::List { client } => {
            let functions = Client::new(client)
                .send(Method::GET, "/functions", None)
                .await?;
            println!(
                "{:<32} {:<11} {:>7} {:<8} {:<20} ID",
                "NAME", "LANGUAGE", "VERSION", "RUNTIME", "ROUTE"
            );
            for f in functions.as_array().into_iter().flatten() {
                println!(
                    "{:<32} {:<11} {:>7} {:<8} {:<20} {}",
                    f["name"].as_str().unwrap_or(""),
                    f["language"].as_str().unwrap_or(""),
                    f["version"].as_i64().unwrap_or_default(),
                    f["runtime"].as_str().unwrap_or(""),
                    f["route"].as_str().unwrap_or("-"),
                    f["id"].as_str().unwrap_or(""),
                );
            }
        }
        FunctionCommand::Get { function, client } => {
            let path = format!("/functions/{}", segment(&function));
            print(&Client::new(client).send(Method::GET, &path, None).await?);
        }
        FunctionCommand::Update {
            function,
            fields,
            client,
        } => {
            let path = format!("/functions/{}", segment(&function));
            print(
                &Client::new(client)
                    .send(Method::PUT, &path, Some(body(None, fields)?))
                    .await?,
            );
        }
        FunctionCommand::Delete { function, client } => {
            let path = format!("/functions/{}", segment(&function));
            print(
                &Client::new(client)
                    .send(Method::DELETE, &path, None)
                    .await?,
            );
        }
        FunctionCommand::Invoke {
            function,
            data,
            args,
            runtime,
            client,
        } => {
            let event: Value = serde_json::from_str(&data).context("--data is not valid JSON")?;
            let mut item = json!({"function": function, "event": event, "args": args});
            if let Some(runtime) = runtime {
                item["runtime"] = json!(runtime);
            }
            print(
                &Client::new(client)
                    .send(Method::POST, "/functions/execute", Some(item))
                    .await?,
            );
        }
        FunctionCommand::Logs {
            function,
            limit,
            client,
        } => {
            let path = format!("/invocations?function={}&limit={limit}", segment(&function));
            let invocations = Client::new(client).send(Method::GET, &path, None).await?;
            for invocation in invocations.as_array().into_iter().flatten().rev() {
                println!(
                    "--- {} {} {} ({} ms)",
                    invocation["started_at"].as_str().unwrap_or(""),
                    invocation["invocation_id"].as_str().unwrap_or(""),
                    invocation["status"].as_str().unwrap_or(""),
                    invocation["duration_ms"]
                );
                print!("{}", invocation["logs"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}

pub async fn show_invocation(client: ClientArgs, id: String) -> anyhow::Result<()> {
    let path = format!("/invocations/{}", segment(&id));
    print(
        &Client::new(client)
            .send(reqwest::Method::GET, &path, None)
            .await?,
    );
    Ok(())
}

pub async fn show_metrics(
    client: ClientArgs,
    function: Option<String>,
    window: String,
) -> anyhow::Result<()> {
    let path = match function {
        Some(function) => format!(
            "/metrics/functions/{}?window={}",
            segment(&function),
            segment(&window)
        ),
        None => format!("/metrics/summary?window={}", segment(&window)),
    };
    print(
        &Client::new(client)
            .send(reqwest::Method::GET, &path, None)
            .await?,
    );
    Ok(())
}

/// Signs in and saves the token for the other commands.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = super::read_password(&format!("password for {}", args.username))?;
    let url = args.client.url.clone();
    let answer = Client::new(args.client)
        .send(
            reqwest::Method::POST,
            "/auth/login",
            Some(json!({"username": args.username, "password": password})),
        )
        .await?;
    let token = answer["token"]
        .as_str()
        .context("the server's answer holds no token")?;
    let path = saved_path().context("neither XDG_CONFIG_HOME nor HOME is set")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let saved = serde_json::to_string_pretty(&Saved {
        url,
        token: token.to_owned(),
    })?;
    crate::data_dir::write_private(&path, saved.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "signed in as {}; the token (expires {}) is saved in {}",
        args.username,
        answer["expires_at"].as_str().unwrap_or("never"),
        path.display()
    );
    Ok(())
}
