//! Kindling — a self-hosted serverless function engine: AWS Lambda you run yourself.
//!
//! Users register Python and JavaScript functions over HTTP (or the CLI) and invoke them; each
//! function runs isolated in an *instance* — a long-lived interpreter running Kindling's agent —
//! that is reused while it stays healthy.
//!
//! # The path of an invocation
//!
//! ```text
//! HTTP ─► api (axum) ─► auth::Accounts: whose token? ─► functions::Registry (in-memory index)
//!        ─► engine::Engine::invoke: the function's concurrency gate (or 429)
//!            │   pool: idle instance of this version, thawed? ── warm
//!            │         else a pre-started generic one + load ── prewarmed
//!            │         else start an instance + load         ── cold
//!            ▼
//!         runtimes::Runtime (sandbox | docker | gvisor) ◄──► agents (python.py / node.js,
//!            ▼                                                 docs/protocol.md)
//!         store (SQLite: invocation record, group-committed) + observer ─► HTTP answer
//!            ▼
//!         the instance, back in the pool, is frozen after 10 ms idle, until an invocation takes it
//! ```
//!
//! The same, function by function, in the order they run:
//!
//! 1. `api::invocations::invoke` (or `api::run::run`, the seeds' aliases) — the `Caller`
//!    extractor runs `auth::Accounts::authenticate`; `run_one` resolves the function through
//!    `functions::Registry::resolve`.
//! 2. [`engine::Engine::invoke`] spawns the invocation's task, which runs `Inner::run`:
//!    1. `Gates::admit` — the function's concurrency gate and queue (or a throttled record);
//!    2. `Inner::acquire` — `Pool::take_warm` (which thaws: `Instance::wake`), else
//!       `Inner::specialisable` (`Pool::take_generic`, or `Pool::book` + `Inner::boot`) and
//!       `Inner::load`;
//!    3. `Inner::execute` — `Inner::run_on` sends the `invoke` frame and `Instance::exchange`
//!       waits for the result, collecting logs; `Inner::release` puts a healthy instance back
//!       (`Pool::put_idle`);
//!    4. `Inner::record` — `store::InvocationWriter::record` (group commit), then
//!       `engine::Observer::invoked`.
//! 3. The answer goes back to the caller. Off the invoke path, the engine's freezing task
//!    (`Pool::freeze_idle`) freezes the instance once it has waited idle 10 ms
//!    (`runtimes::freezer`); the maintenance task expires and replaces instances.

//! # The modules
//!
//! - [`cli`] — the `kindling` command: `serve`, and the client commands.
//! - [`config`] — typed settings: defaults → TOML file → `KINDLING_*` env → flags.
//! - [`server`] — builds everything from a [`config::Config`], binds, shuts down gracefully.
//! - [`api`] — HTTP routes, one file per resource, one error type, the OpenAPI document; every
//!   route but `/health` and the docs checks the caller's bearer token.
//! - [`auth`] — users (Argon2 passwords, roles), API tokens (stored as SHA-256 digests), the
//!   check of a request's token, browser sessions with their CSRF proof, the limits on sign-in
//!   attempts, audit lines; the first administrator is made on first start.
//! - [`dashboard`] — the web UI at `/`: the page and its files, built from `web/` and embedded
//!   by `build.rs`. It signs in through `api::session` (`/auth/session`, an HttpOnly cookie).
//! - [`model`] — the records every layer shares (function version, invocation, user, token) and
//!   their vocabulary (language, runtime, status, start kind); it imports no other module.
//! - [`functions`] — validation of what users send, and the registry that keeps functions.
//! - [`engine`] — the invoke path: instances, the pool (pre-warmed, keep-alive, LRU, `min_warm`,
//!   frozen while idle; its ledger, gates and census), bounded logs; a maintenance task keeps the
//!   pool in shape. It tells an [`engine::Observer`] what it did (the Prometheus exposition is
//!   one).
//! - [`runtimes`] — the `Runtime` trait; `sandbox` (Linux namespaces + cgroups, and the policy,
//!   system calls included, that every runtime applies), `docker` (the Docker Engine API; with
//!   runsc it is `gvisor`), the host uid of each instance's own (`uids`), the cgroup `freezer`
//!   that stops idle instances, and (in unit tests) an in-process `fake` whose scripted agents the
//!   engine's tests use.
//! - [`agents`] — the embedded language agents and the protocol they speak.
//! - [`metrics`] — figures over time windows and per-minute series from the invocation records,
//!   the host's state, and the Prometheus exposition (an observer of the engine).
//! - [`store`] — SQLite via sqlx, with migrations; [`blobs`] — content-addressed code storage.
//! - [`retention`] — the task that keeps the store bounded: old invocation records rolled up
//!   into per-minute figures and deleted, unused code blobs removed.
//! - [`data_dir`] — the data dir is private (0700, files 0600); [`secrets`] — the data dir's
//!   key, which seals function environments before they are stored.
//! - [`quotas`] — what each user may hold (functions, versions, code, concurrency, memory,
//!   `min_warm`, tokens): the settings' defaults and each user's overrides.
//! - [`sync`] — poison-tolerant locks. (`kindling bench`, the benchmark harness, is the
//!   executable's own: `src/bench/`, sharing its server spawner with `tests/common`.)

/// Gives a unit-only enum its lower-case names — `ALL`, `as_str`, `Display`, and a `FromStr` that
/// ignores case, also takes the listed aliases, and says which names it accepts.
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl $ty {
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.to_ascii_lowercase().as_str() {
                    $($name $(| $alias)* => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "unknown {} '{s}': expected {}",
                        $what,
                        [$(concat!("'", $name, "'")),+].join(" or ")
                    )),
                }
            }
        }
    };
}

pub mod agents;
pub mod api;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod data_dir;
pub mod engine;
pub mod functions;
pub mod metrics;
pub mod model;
pub mod quotas;
pub mod retention;
pub mod runtimes;
pub mod secrets;
pub mod server;
pub mod store;
pub mod sync;
