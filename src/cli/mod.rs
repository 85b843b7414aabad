//! The `kindling` command: `serve` runs the server; the other commands are clients of its API.

mod admin;
mod client;

use std::future::Future;
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::model::RuntimeKind;
use crate::runtimes::sandbox::{self, HELPER_SUBCOMMAND};

#[derive(Parser)]
#[command(
    name = "kindling",
    version,
    about = "Self-hosted serverless functions: AWS Lambda you run yourself"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: API, engine and runtimes in one process.
    Serve(ServeArgs),
    /// Create, change, list, invoke and delete functions.
    #[command(subcommand, name = "fn")]
    Function(client::FunctionCommand),
    /// Sign in with a user name and password; the token is saved for the other client commands.
    Login(client::LoginArgs),
    /// Make, delete and limit users, reset their tokens.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Show execution metrics: every function's, or one function's, over a window.
    Metrics {
        /// One function (id or name); without it, the summary of every function.
        function: Option<String>,
        /// 15m, 1h, 24h, 7d, … or all.
        #[arg(long, default_value = "24h")]
        window: String,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Show one invocation: result, error, logs and timings.
    Invocation {
        id: String,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Measure warm and cold invocation latency, throughput, and the per-invocation baseline
    /// (`kindling bench --help` lists its options).
    #[command(disable_help_flag = true)]
    Bench {
        /// Handed to the benchmark, which the executable provides.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Internal: sets up one sandboxed instance (started by the server).
    #[command(name = HELPER_SUBCOMMAND, hide = true)]
    SandboxExec { plan: String },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the database, code and instance scratch space [default: ./kindling-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Runtime for functions that do not name one [default: sandbox].
    #[arg(long)]
    runtime: Option<RuntimeKind>,
    /// TOML settings file; `KINDLING_*` environment variables and these flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Serve without authentication: every request acts as the first administrator. For local
    /// development only (config: `auth = false`).
    #[arg(long)]
    no_auth: bool,
}

/// Runs the command line; `bench` runs the benchmark the executable passes in with the arguments
/// after `bench` (it is not part of the library).
pub fn main(bench: fn(Vec<String>) -> ExitCode) -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // Runs before any thread exists: the helper forks.
        Command::SandboxExec { plan } => {
            ExitCode::from(sandbox::exec::run(&plan).clamp(0, 255) as u8)
        }
        Command::Serve(args) => block_on(serve(args)),
        Command::Function(command) => block_on(client::run_function(command)),
        Command::Invocation { id, client } => block_on(client::show_invocation(client, id)),
        Command::Login(args) => block_on(client::login(args)),
        Command::Metrics {
            function,
            window,
            client,
        } => block_on(client::show_metrics(client, function, window)),
        Command::Admin(command) => {
            init_logging();
            block_on(admin::run(command))
        }
        Command::Bench { args } => bench(args),
    }
}

/// Runs `task` on a new Tokio runtime; prints its error, if any, as the command's.
pub fn block_on(task: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kindling: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kindling: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, at `KINDLING_LOG`'s level (default `info`).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KINDLING_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        default_runtime: args.runtime,
        auth: args.no_auth.then_some(false),
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    let server = crate::server::build(config).await?;
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
}

/// The first line of standard input (a password), with a prompt when it is a terminal.
fn read_password(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what} (it shows as you type): ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}
