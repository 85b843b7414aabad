//! `kindling bench`: starts servers with temporary data dirs and measures what users feel — warm
//! invoke latency and throughput over HTTP, prewarmed and cold starts, the memory of idle
//! instances and of the engine — next to the baseline of starting the bare interpreter for every
//! invocation. Prints tables and writes a markdown report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use comfy_table::Table;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

mod spawn;

use kindling::config::Config;
use kindling::model::{Language, RuntimeKind};
use spawn::{Spawned, spawn};

#[derive(Parser, Debug)]
#[command(
    name = "kindling bench",
    about = "Measure warm and cold invocation latency, throughput, and the per-invocation baseline"
)]
pub struct BenchArgs {
    /// Warm invocations measured per language and concurrency level.
    #[arg(long, default_value_t = 2000)]
    pub requests: u32,
    /// Concurrency levels for warm invocations.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<u32>,
    /// Prewarmed and cold starts measured per language.
    #[arg(long, default_value_t = 20)]
    pub starts: u32,
    /// Idle instances whose memory is measured (split between the languages).
    #[arg(long, default_value_t = 20)]
    pub idle_instances: u32,
    /// Languages to measure.
    #[arg(long, value_delimiter = ',', default_value = "python,javascript")]
    pub languages: Vec<Language>,
    #[arg(long, default_value = "sandbox")]
    pub runtime: RuntimeKind,
    /// Settings file for the servers (as `kindling serve --config`); `KINDLING_*` variables apply
    /// too, e.g. `KINDLING_DOCKER__PYTHON_IMAGE` for the docker and gvisor runtimes.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the markdown report.
    #[arg(long, default_value = "bench-report.md")]
    pub report: PathBuf,
}

/// A trivial handler per language: what the figures measure is the platform, not the code.
fn trivial(language: Language, variant: u32) -> String {
    match language {
        Language::Python => {
            format!("def handler(event, context):\n    return {{'ok': True}}\n# {variant}\n")
        }
        Language::Javascript => {
            format!("exports.handler = async () => ({{ok: true}});\n// {variant}\n")
        }
    }
}

/// Latency distribution in microseconds.
struct Latencies(Histogram<u64>);

impl Latencies {
    fn new() -> Self {
        Self(
            Histogram::new_with_bounds(1, 600_000_000, 3)
                .unwrap_or_else(|_| unreachable!("valid bounds")),
        )
    }

    fn record(&mut self, elapsed: Duration) {
        let _ = self.0.record((elapsed.as_micros() as u64).max(1));
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// One row of a report table.
struct Row {
    what: String,
    cells: Vec<String>,
}

struct Section {
    title: String,
    header: Vec<&'static str>,
    rows: Vec<Row>,
}

impl Section {
    fn table(&self) -> Table {
        let mut table = Table::new();
        table.load_style(comfy_table::presets::ASCII_MARKDOWN);
        let mut header = vec!["measure"];
        header.extend(&self.header);
        table.set_header(header);
        for row in &self.rows {
            let mut cells = vec![row.what.clone()];
            cells.extend(row.cells.iter().cloned());
            table.add_row(cells);
        }
        table
    }
}

fn latency_row(what: String, latencies: &Latencies, per_second: Option<f64>) -> Row {
    Row {
        what,
        cells: vec![
            format!("{:.3}", latencies.ms(0.5)),
            format!("{:.3}", latencies.ms(0.99)),
            per_second.map(|r| format!("{r:.0}")).unwrap_or_default(),
        ],
    }
}

/// A server of the benchmark's own, on a temporary data dir, and a client for it.
struct BenchServer {
    base: String,
    http: reqwest::Client,
    server: Spawned,
}

impl BenchServer {
    async fn start(base: &Config, runtime: RuntimeKind, prewarm: u32) -> anyhow::Result<Arc<Self>> {
        let server = spawn(base.clone(), |config| {
            config.runtimes = vec![runtime];
            config.default_runtime = runtime;
            config.pool.prewarm = prewarm;
            // The benchmark measures the engine, not its admission control.
            config.pool.max_concurrency = 1000;
        })
        .await?;
        // Measured as users call it: with a token, checked on every request.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", server.admin_token).parse()?,
        );
        Ok(Arc::new(Self {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()?,
            server,
        }))
    }

    fn data_dir(&self) -> &Path {
        &self.server.data_dir
    }

    async fn stop(self: Arc<Self>) -> anyhow::Result<()> {
        let mut bench = Arc::into_inner(self).context("the benchmark still uses the server")?;
        bench.server.stop().await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {answer}");
        }
        Ok(answer)
    }

    async fn create(&self, name: &str, language: Language) -> anyhow::Result<()> {
        let body = json!({"name": name, "language": language, "code": trivial(language, 0)});
        self.call(reqwest::Method::POST, "/functions", &body)
            .await
            .map(drop)
    }

    async fn invoke(&self, name: &str) -> anyhow::Result<Value> {
        let invocation = self
            .call(
                reqwest::Method::POST,
                &format!("/functions/{name}/invoke"),
                &json!({}),
            )
            .await?;
        if invocation["status"] != "success" {
            bail!("{name} failed: {invocation}");
        }
        Ok(invocation)
    }

    /// Whether the pool is at rest: `prewarm` generic instances of `language` ready and nothing
    /// starting (so that a measured start competes with nothing).
    async fn settled(&self, language: Language, prewarm: u32) -> anyhow::Result<bool> {
        let metrics = self
            .call(reqwest::Method::GET, "/metrics/system", &Value::Null)
            .await?;
        let count = |state: &str, language: Option<Language>| -> u64 {
            metrics["pool"]["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| {
                    c["state"] == state && language.is_none_or(|l| c["language"] == l.as_str())
                })
                .filter_map(|c| c["count"].as_u64())
                .sum()
        };
        Ok(
            count("prewarmed", Some(language)) >= u64::from(prewarm)
                && count("starting", None) == 0,
        )
    }

    /// `requests` warm invocations from `concurrency` clients.
    async fn warm(
        self: &Arc<Self>,
        name: &str,
        requests: u32,
        concurrency: u32,
    ) -> anyhow::Result<Row> {
        // Warm up at the same concurrency, so that every client finds an instance of its own.
        self.clients(name, concurrency * 5, concurrency).await?;
        let began = Instant::now();
        let latencies = self.clients(name, requests, concurrency).await?;
        let per_second = f64::from(requests) / began.elapsed().as_secs_f64();
        Ok(latency_row(
            format!("warm invoke over HTTP, concurrency {concurrency}"),
            &latencies,
            Some(per_second),
        ))
    }

    /// `requests` invocations of `name` from `concurrency` clients at once.
    async fn clients(
        self: &Arc<Self>,
        name: &str,
        requests: u32,
        concurrency: u32,
    ) -> anyhow::Result<Latencies> {
        let mut workers = Vec::new();
        for worker in 0..concurrency {
            let server = self.clone();
            let name = name.to_owned();
            let share = requests / concurrency + u32::from(worker < requests % concurrency);
            workers.push(tokio::spawn(async move {
                let mut latencies = Latencies::new();
                for _ in 0..share {
                    let sent = Instant::now();
                    server.invoke(&name).await?;
                    latencies.record(sent.elapsed());
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut all = Latencies::new();
        for worker in workers {
            all.0.add(&worker.await??.0).context("merging latencies")?;
        }
        Ok(all)
    }

    /// Starts of kind `expected`: each of `starts` new functions needs an instance for its first
    /// invocation. With `prewarm` > 0, the pool is let settle before each start.
    async fn starts(
        &self,
        name: &str,
        language: Language,
        starts: u32,
        prewarm: u32,
    ) -> anyhow::Result<Row> {
        let expected = if prewarm > 0 { "prewarmed" } else { "cold" };
        let (mut init, mut total) = (Latencies::new(), Latencies::new());
        for n in 1..=starts {
            let name = format!("{name}_{expected}_{n}");
            let body = json!({"name": name, "language": language, "code": trivial(language, n)});
            self.call(reqwest::Method::POST, "/functions", &body)
                .await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !self.settled(language, prewarm).await? {
                if Instant::now() > deadline {
                    bail!("the pool did not settle");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let sent = Instant::now();
            let invocation = self.invoke(&name).await?;
            total.record(sent.elapsed());
            if invocation["start"] != expected {
                bail!("expected a {expected} start, got {invocation}");
            }
            let init_ms = invocation["init_ms"].as_f64().unwrap_or_default();
            init.record(Duration::from_secs_f64(init_ms / 1000.0));
        }
        Ok(Row {
            what: format!("{expected} start: instance ready (init_ms) / whole HTTP call"),
            cells: vec![
                format!("{:.3} / {:.3}", init.ms(0.5), total.ms(0.5)),
                format!("{:.3} / {:.3}", init.ms(0.99), total.ms(0.99)),
                String::new(),
            ],
        })
    }
}

/// What running a function costs without instances to reuse: for the sandbox, starting the bare
/// interpreter once per invocation; for Docker and gVisor, the seeds' `docker run --rm` per
/// invocation.
fn baseline(
    config: &Config,
    runtime: RuntimeKind,
    language: Language,
    runs: u32,
) -> anyhow::Result<Row> {
    let (interpreter, code) = match language {
        Language::Python => ("python3", ["-c", "print(1)"]),
        Language::Javascript => ("node", ["-e", "console.log(1)"]),
    };
    // The docker CLI reads a seccomp profile from a file, kept until the runs are done.
    let mut profile = None;
    let mut command = match runtime {
        RuntimeKind::Sandbox => {
            let path = match language {
                Language::Python => &config.sandbox.python,
                Language::Javascript => &config.sandbox.node,
            };
            std::process::Command::new(path)
        }
        RuntimeKind::Docker | RuntimeKind::Gvisor => {
            let image = match language {
                Language::Python => &config.docker.python_image,
                Language::Javascript => &config.docker.node_image,
            };
            let mut docker = std::process::Command::new("docker");
            docker.args(["run", "--rm", "--network", "none"]);
            // gVisor's runtime is registered with --oci-seccomp, under which Docker's default
            // profile stops threads (docs/sandbox.md): every container gets Kindling's.
            let file = profile.insert(tempfile::NamedTempFile::new()?);
            let policy = kindling::runtimes::docker::seccomp_profile(runtime);
            std::io::Write::write_all(file, policy.as_bytes())?;
            docker
                .arg("--security-opt")
                .arg(format!("seccomp={}", file.path().display()));
            if runtime == RuntimeKind::Gvisor {
                docker.args(["--runtime", &config.docker.gvisor_runtime]);
            }
            docker.args([image.as_str(), interpreter]);
            docker
        }
    };
    command.args(code);
    let what = format!("baseline: `{}` per invocation", describe(&command));
    let mut latencies = Latencies::new();
    for _ in 0..runs {
        let began = Instant::now();
        let output = command.output()?;
        if !output.status.success() {
            bail!(
                "`{}` failed: {}",
                describe(&command),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        latencies.record(began.elapsed());
    }
    Ok(latency_row(what, &latencies, None))
}

fn describe(command: &std::process::Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resident and proportional memory of a set of processes, in KiB.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    pss_kib: u64,
}

fn process_memory(pid: u32) -> Memory {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        rollup
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("Rss:"),
        pss_kib: field("Pss:"),
    }
}

/// The memory of each instance of the server on `data_dir` — every process of it — with the
/// language it runs.
fn instance_memory(runtime: RuntimeKind, data_dir: &Path) -> Vec<(String, Memory)> {
    let parent_of = process_parents();
    let roots: Vec<(u32, String)> = match runtime {
        RuntimeKind::Sandbox => sandbox_helpers(data_dir),
        RuntimeKind::Docker | RuntimeKind::Gvisor => containers(data_dir),
    };
    // A sandbox helper's supervising child is a fork of it, with the same command line: only
    // the outermost process of an instance is its root.
    let root_pids: Vec<u32> = roots.iter().map(|(pid, _)| *pid).collect();
    roots
        .into_iter()
        .filter(|(pid, _)| {
            parent_of
                .get(pid)
                .is_none_or(|parent| !root_pids.contains(parent))
        })
        .map(|(root, language)| {
            let mut total = Memory::default();
            for pid in parent_of
                .keys()
                .filter(|pid| descends_from(**pid, root, &parent_of))
            {
                let memory = process_memory(*pid);
                total.rss_kib += memory.rss_kib;
                total.pss_kib += memory.pss_kib;
            }
            (language, total)
        })
        .collect()
}

/// Every process's parent.
fn process_parents() -> HashMap<u32, u32> {
    let mut parent_of = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent is the second field after the parenthesised command name.
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        {
            parent_of.insert(pid, ppid.parse().unwrap_or(0));
        }
    }
    parent_of
}

/// The sandbox helpers of the server on `data_dir`, with the language each one's agent runs.
fn sandbox_helpers(data_dir: &Path) -> Vec<(u32, String)> {
    let needle = data_dir.to_string_lossy().into_owned();
    let mut helpers = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("__sandbox-exec") && cmdline.contains(&needle) {
            let language = if cmdline.contains("/node") {
                "javascript"
            } else {
                "python"
            };
            helpers.push((pid, language.to_owned()));
        }
    }
    helpers
}

/// The main process of each container of the server on `data_dir`, with its language.
fn containers(data_dir: &Path) -> Vec<(u32, String)> {
    let server = kindling::runtimes::server_id(data_dir);
    let listed = std::process::Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=kindling.server={server}"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    listed
        .lines()
        .filter_map(|id| {
            let inspected = std::process::Command::new("docker")
                .args([
                    "inspect",
                    "--format",
                    "{{.State.Pid}} {{index .Config.Labels \"kindling.language\"}}",
                    id,
                ])
                .output()
                .ok()?;
            let inspected = String::from_utf8_lossy(&inspected.stdout).into_owned();
            let (pid, language) = inspected.trim().split_once(' ')?;
            Some((pid.parse().ok()?, language.to_owned()))
        })
        .collect()
}

fn descends_from(mut pid: u32, ancestor: u32, parent_of: &HashMap<u32, u32>) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent_of.get(&pid) {
            Some(&parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

fn own_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Idle instances, specialised and generic, and what the engine process costs with them.
async fn memory(
    server: &BenchServer,
    runtime: RuntimeKind,
    languages: &[Language],
    idle: u32,
) -> anyhow::Result<Section> {
    let before = own_rss_kib();
    for n in 0..idle {
        let language = languages[n as usize % languages.len()];
        let name = format!("idle_{n}");
        server.create(&name, language).await?;
        server.invoke(&name).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let instances = instance_memory(runtime, server.data_dir());
    let mut rows = Vec::new();
    for interpreter in ["python", "javascript"] {
        let of_kind: Vec<Memory> = instances
            .iter()
            .filter(|(i, _)| i == interpreter)
            .map(|(_, m)| *m)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let n = of_kind.len() as u64;
        rows.push(Row {
            what: format!("idle {interpreter} instance, all its processes, mean of {n}"),
            cells: vec![
                format!(
                    "{:.1}",
                    of_kind.iter().map(|m| m.rss_kib).sum::<u64>() as f64 / n as f64 / 1024.0
                ),
                format!(
                    "{:.1}",
                    of_kind.iter().map(|m| m.pss_kib).sum::<u64>() as f64 / n as f64 / 1024.0
                ),
            ],
        });
    }
    let after = own_rss_kib();
    rows.push(Row {
        what: format!(
            "engine process with {} instances alive; RSS before the last {idle} of them: {:.1} MiB",
            instances.len(),
            before as f64 / 1024.0
        ),
        cells: vec![format!("{:.1}", after as f64 / 1024.0), String::new()],
    });
    Ok(Section {
        title: format!("memory on {runtime}"),
        header: vec!["RSS MiB", "PSS MiB"],
        rows,
    })
}

/// `kindling bench`, given the arguments after `bench`.
pub fn main(args: Vec<String>) -> std::process::ExitCode {
    let args = BenchArgs::parse_from(std::iter::once("kindling bench".to_owned()).chain(args));
    kindling::cli::block_on(run(args))
}

async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = Config::load(
        args.config.as_deref(),
        kindling::config::Overrides::default(),
    )?;
    let prewarm = 2;
    let main = BenchServer::start(&config, args.runtime, prewarm).await?;
    let cold = BenchServer::start(&config, args.runtime, 0).await?;
    let header = vec!["p50 ms", "p99 ms", "invocations/s"];

    let mut sections = Vec::new();
    for language in &args.languages {
        let name = format!("bench_{language}");
        main.create(&name, *language).await?;
        let mut rows = Vec::new();
        for concurrency in &args.concurrency {
            rows.push(
                main.warm(&name, args.requests, (*concurrency).max(1))
                    .await?,
            );
        }
        rows.push(main.starts(&name, *language, args.starts, prewarm).await?);
        rows.push(cold.starts(&name, *language, args.starts, 0).await?);
        rows.push(baseline(&config, args.runtime, *language, args.starts)?);
        sections.push(Section {
            title: format!("{language} on {}", args.runtime),
            header: header.clone(),
            rows,
        });
    }
    sections.push(memory(&main, args.runtime, &args.languages, args.idle_instances).await?);
    cold.stop().await?;
    main.stop().await?;

    let mut markdown = format!(
        "# Kindling benchmark\n\n{} CPUs; {} warm requests per concurrency level; {} starts per kind; \
         trivial handlers; every invocation recorded.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.requests,
        args.starts
    );
    for section in &sections {
        let table = section.table();
        println!("\n{}\n{table}", section.title);
        markdown.push_str(&format!("\n## {}\n\n{table}\n", section.title));
    }
    std::fs::write(&args.report, markdown)
        .with_context(|| format!("writing {}", args.report.display()))?;
    println!("\nreport written to {}", args.report.display());
    Ok(())
}
