//! Typed settings, layered: built-in defaults → TOML file → `KINDLING_*` environment → flags.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::model::RuntimeKind;

/// Everything `kindling serve` can be told. Field names are the TOML keys; nested tables map to
/// `KINDLING_<TABLE>__<KEY>` environment variables (e.g. `KINDLING_SANDBOX__PIDS_MAX=256`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Holds the SQLite database, code blobs and per-instance scratch directories.
    pub data_dir: PathBuf,
    /// Runtime for functions that do not name one.
    pub default_runtime: RuntimeKind,
    /// The runtimes this server offers (each still needs its host to support it).
    pub runtimes: Vec<RuntimeKind>,
    /// Whether requests need an API token. `false` (`--no-auth`) makes every caller the first
    /// administrator: for local development only.
    pub auth: bool,
    pub accounts: AccountsConfig,
    pub quotas: QuotaConfig,
    pub retention: RetentionConfig,
    pub limits: Limits,
    pub pool: PoolConfig,
    pub instance: InstanceConfig,
    pub sandbox: SandboxConfig,
    pub docker: DockerConfig,
    pub isolation: IsolationConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("./kindling-data"),
            default_runtime: RuntimeKind::Sandbox,
            runtimes: RuntimeKind::ALL.to_vec(),
            auth: true,
            accounts: AccountsConfig::default(),
            quotas: QuotaConfig::default(),
            retention: RetentionConfig::default(),
            limits: Limits::default(),
            pool: PoolConfig::default(),
            instance: InstanceConfig::default(),
            sandbox: SandboxConfig::default(),
            docker: DockerConfig::default(),
            isolation: IsolationConfig::default(),
        }
    }
}

/// Users and tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Whether anyone may register a (non-administrator) account with `POST /auth/register`;
    /// otherwise only administrators register users.
    pub open_registration: bool,
    /// Lifetime of the tokens `POST /auth/login` hands out.
    pub login_token_ttl_secs: u64,
    /// Lifetime of a dashboard's browser session (signing out ends it earlier).
    pub session_ttl_secs: u64,
    /// Whether the dashboard's session cookie is always `Secure`: set it when browsers reach
    /// the server over HTTPS through a proxy that does not send `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Proxies (load balancers) in front of the server whose `X-Forwarded-For` names the client
    /// that sign-in attempts are counted against; from any other peer the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// How many sign-in attempts a user name and a client address may make.
    pub login: LoginLimits,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            open_registration: false,
            login_token_ttl_secs: 30 * 24 * 3600,
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            login: LoginLimits::default(),
        }
    }
}

/// Sign-in attempts (with a password) allowed per user name and per client address: a burst,
/// then one every so many seconds; and a longer-term burst and pace on top (`crate::auth::throttle`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginLimits {
    pub name_burst: u32,
    pub name_every_secs: u64,
    pub name_long_burst: u32,
    pub name_long_every_secs: u64,
    pub address_burst: u32,
    pub address_every_secs: u64,
    pub address_long_burst: u32,
    pub address_long_every_secs: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            name_burst: 5,
            name_every_secs: 12,
            name_long_burst: 30,
            name_long_every_secs: 600,
            address_burst: 20,
            address_every_secs: 3,
            address_long_burst: 200,
            address_long_every_secs: 60,
        }
    }
}

/// What each user may hold unless an administrator says otherwise (`crate::quotas`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    pub functions: u32,
    /// Versions kept per function; older ones no alias names are pruned.
    pub versions_per_function: u32,
    /// Code stored across a user's functions and their kept versions, in MiB.
    pub code_mb: u64,
    /// Invocations of a user's functions running at once; 0 means half of `pool.max_instances`.
    pub concurrency: u32,
    /// Memory a user's instances may reserve at once; 0 means half of the pool's memory budget.
    pub memory_mb: u64,
    /// The sum of `min_warm` over a user's functions.
    pub min_warm: u32,
    /// API tokens per user.
    pub tokens: u32,
    /// Whether administrators are held to these too; otherwise they are unlimited unless an
    /// administrator sets their quotas.
    pub apply_to_admins: bool,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            functions: 100,
            versions_per_function: 20,
            code_mb: 256,
            concurrency: 0,
            memory_mb: 0,
            min_warm: 10,
            tokens: 50,
            apply_to_admins: false,
        }
    }
}

/// How long the server keeps what it records (`crate::retention`). 0 means no limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Invocation records older than this are rolled up into per-minute figures (the metrics
    /// keep counting them) and deleted with their results and logs.
    pub invocation_days: u32,
    /// At most this many invocation records are kept, the newest; older ones are rolled up and
    /// deleted as above.
    pub max_invocations: u64,
    /// The per-minute figures of deleted records are kept this long.
    pub rollup_days: u32,
    /// How often retention runs (it also runs at start-up).
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            invocation_days: 7,
            max_invocations: 200_000,
            rollup_days: 90,
            interval_secs: 300,
        }
    }
}

/// Bounds on what users may ask for, and the defaults they get when they ask for nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_code_bytes: usize,
    pub max_payload_bytes: usize,
    /// How much of an invocation's output is kept (the tail); the rest is counted and dropped.
    pub log_tail_bytes: usize,
    pub default_timeout_secs: u32,
    pub max_timeout_secs: u32,
    pub default_memory_mb: u32,
    pub min_memory_mb: u32,
    pub max_memory_mb: u32,
    /// How many invocations of one batch request may run at the same time.
    pub batch_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_code_bytes: 5 * 1024 * 1024,
            max_payload_bytes: 6 * 1024 * 1024,
            log_tail_bytes: 64 * 1024,
            default_timeout_secs: 30,
            max_timeout_secs: 900,
            default_memory_mb: 128,
            min_memory_mb: 64,
            max_memory_mb: 10240,
            batch_concurrency: 16,
        }
    }
}

/// The pool of instances: how many are pre-started, how long idle ones live, how many there may be.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Generic instances kept started, holding no code, per runtime and language.
    pub prewarm: u32,
    /// How long an idle specialised instance is kept for its function (functions may override).
    pub keep_alive_secs: u32,
    /// Most instances alive at once, every state counted.
    pub max_instances: u32,
    /// Most memory the instances may reserve in total (the sum of their limits); 0 means half of
    /// the host's memory.
    pub memory_budget_mb: u64,
    /// Invocations of one function running at once, unless the function says otherwise.
    pub max_concurrency: u32,
    /// How long an invocation waits for a free slot before it is throttled.
    pub queue_timeout_ms: u64,
    /// How many invocations of one function may wait at once; more are throttled at once.
    pub max_queue: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            prewarm: 2,
            keep_alive_secs: 600,
            max_instances: 100,
            memory_budget_mb: 0,
            max_concurrency: 10,
            queue_timeout_ms: 1000,
            max_queue: 100,
        }
    }
}

/// Settings of the embedded `sandbox` runtime. What gets mounted and which syscalls are refused
/// is policy, kept in `runtimes::sandbox::policy`; these are the knobs an operator may turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Interpreter for Python functions (Debian's, not a pyenv shim: it starts 3× faster).
    pub python: PathBuf,
    /// Interpreter for JavaScript functions.
    pub node: PathBuf,
    /// The `kindling` binary that sets up each sandbox; defaults to the running executable.
    pub helper: Option<PathBuf>,
    /// Mount point of the cgroup file system.
    pub cgroup_root: PathBuf,
    /// Extra host directories mounted read-only at the same path (e.g. a virtualenv).
    pub extra_read_only: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            python: PathBuf::from("/usr/bin/python3"),
            node: PathBuf::from("/usr/bin/node"),
            helper: None,
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            extra_read_only: Vec::new(),
        }
    }
}

/// Limits every instance gets, whatever its runtime (its memory limit is its function's).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// Processes and threads one instance may have.
    pub pids_max: u32,
    /// CPU time one instance may use, in CPUs.
    pub cpus: f64,
    /// Size cap of the instance's private, writable `/tmp`.
    pub tmp_size_mb: u32,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        Self {
            pids_max: 128,
            cpus: 1.0,
            tmp_size_mb: 64,
        }
    }
}

/// Settings of the `docker` and `gvisor` runtimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// The Docker Engine API address (`unix:///var/run/docker.sock`, `tcp://host:2375`); by
    /// default `DOCKER_HOST`, else the local socket.
    pub host: Option<String>,
    /// Image for Python functions: anything with `/bin/sh` and `python3` on its PATH.
    pub python_image: String,
    /// Image for JavaScript functions: anything with `/bin/sh` and `node` on its PATH.
    pub node_image: String,
    /// Name of the gVisor OCI runtime registered with the Docker engine. It must be started with
    /// `--oci-seccomp`, or gVisor ignores the seccomp profile (scripts/docker-setup registers
    /// `runsc-kindling` so, leaving the host's own `runsc` alone).
    pub gvisor_runtime: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: None,
            python_image: "python:3.12-slim".to_owned(),
            node_image: "node:20-slim".to_owned(),
            gvisor_runtime: "runsc-kindling".to_owned(),
        }
    }
}

/// The host identities instances run as (`crate::runtimes::uids`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IsolationConfig {
    /// Host uids (and, the same numbers, gids) handed out one per live instance, so that no two
    /// instances share a uid's kernel limits. The default sits where no one else allocates: above
    /// the `/etc/subuid` ranges `useradd` hands out (100000–600165535) and systemd-nspawn's
    /// container ranges (524288–1879048191), below systemd's foreign range (from 2147352576)
    /// and 2^31 (which some tools read as negative).
    pub uids: UidRange,
    /// Where the servers of this host record which uid each live instance holds: every server
    /// sharing a host (or a Docker engine) must use the same directory. `/run` is a tmpfs on most
    /// hosts: a reboot, which ends every instance, clears it.
    pub claims_dir: PathBuf,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        Self {
            uids: UidRange {
                first: 2_000_000_000,
                last: 2_000_065_535,
            },
            claims_dir: PathBuf::from("/run/kindling/uids"),
        }
    }
}

/// An inclusive range of uids, written `first-last` (`2000000000-2000065535`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UidRange {
    pub first: u32,
    pub last: u32,
}

impl UidRange {
    /// How many uids it holds (at least one).
    pub fn count(self) -> u32 {
        self.last - self.first + 1
    }
}

impl TryFrom<String> for UidRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let wrong = || format!("'{text}' is not a uid range like 2000000000-2000065535");
        let (first, last) = text.split_once('-').ok_or_else(wrong)?;
        let (first, last): (u32, u32) = (
            first.trim().parse().map_err(|_| wrong())?,
            last.trim().parse().map_err(|_| wrong())?,
        );
        if first == 0 || first > last || last == u32::MAX {
            // 0 is root; u32::MAX is the "no uid" of setresuid.
            return Err(format!(
                "'{text}' must run from a first uid above 0 to a last one at or above it, below 4294967295"
            ));
        }
        Ok(Self { first, last })
    }
}

impl From<UidRange> for String {
    fn from(range: UidRange) -> String {
        range.to_string()
    }
}

impl std::fmt::Display for UidRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Command-line flags of `kindling serve`; `None` leaves the lower layers' value alone.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_runtime: Option<RuntimeKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<bool>,
}

/// Environment variables that belong to the client commands, not to the server's settings.
const CLIENT_ENV_KEYS: &[&str] = &["url", "token", "log"];

impl Config {
    /// Builds the settings from every layer; `file` is `--config`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(
                Env::prefixed("KINDLING_")
                    .filter(|key| {
                        !CLIENT_ENV_KEYS
                            .iter()
                            .any(|client| key.as_str().eq_ignore_ascii_case(client))
                    })
                    .split("__"),
            )
            .merge(Serialized::globals(overrides))
            .extract()
            .map_err(Box::new)
    }

    /// Settings for tests and benchmarks: a fresh data dir, a free port, everything else default.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            ..Self::default()
        }
    }
}
