//! `kindling bench`: starts a server with a temporary data dir and measures what users feel —
//! warm invoke latency and throughput over HTTP, cold starts — next to the baseline of starting
//! the bare interpreter for every invocation. Prints a table and writes a markdown report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::Table;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::agents::Language;
use crate::config::Config;
use crate::runtimes::RuntimeKind;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Warm invocations measured per language and concurrency level.
    #[arg(long, default_value_t = 2000)]
    pub requests: u32,
    /// Concurrency levels for warm invocations.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<u32>,
    /// Cold starts measured per language.
    #[arg(long, default_value_t = 20)]
    pub starts: u32,
    /// Languages to measure.
    #[arg(long, value_delimiter = ',', default_value = "python,javascript")]
    pub languages: Vec<Language>,
    #[arg(long, default_value = "sandbox")]
    pub runtime: RuntimeKind,
    /// Where to write the markdown report.
    #[arg(long, default_value = "bench-report.md")]
    pub report: PathBuf,
}

/// A trivial handler per language: what the figures measure is the platform, not the code.
fn trivial(language: Language) -> &'static str {
    match language {
        Language::Python => "def handler(event, context):\n    return {'ok': True}\n",
        Language::Javascript => "exports.handler = async () => ({ok: true});\n",
    }
}

/// Latency distribution in microseconds.
struct Latencies(Histogram<u64>);

impl Latencies {
    fn new() -> Self {
        Self(
            Histogram::new_with_bounds(1, 120_000_000, 3)
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

/// One row of the report.
struct Row {
    what: String,
    p50_ms: f64,
    p99_ms: f64,
    per_second: Option<f64>,
}

struct Bench {
    base: String,
    http: reqwest::Client,
}

impl Bench {
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

    /// `requests` warm invocations from `concurrency` clients.
    async fn warm(
        self: &Arc<Self>,
        name: &str,
        requests: u32,
        concurrency: u32,
    ) -> anyhow::Result<Row> {
        for _ in 0..concurrency.max(10) {
            self.invoke(name).await?;
        }
        let began = Instant::now();
        let mut workers = Vec::new();
        for worker in 0..concurrency {
            let bench = self.clone();
            let name = name.to_owned();
            let share = requests / concurrency + u32::from(worker < requests % concurrency);
            workers.push(tokio::spawn(async move {
                let mut latencies = Latencies::new();
                for _ in 0..share {
                    let sent = Instant::now();
                    bench.invoke(&name).await?;
                    latencies.record(sent.elapsed());
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut all = Latencies::new();
        for worker in workers {
            let latencies = worker.await??;
            all.0.add(&latencies.0).context("merging latencies")?;
        }
        let elapsed = began.elapsed().as_secs_f64();
        Ok(Row {
            what: format!("warm invoke, concurrency {concurrency}"),
            p50_ms: all.ms(0.5),
            p99_ms: all.ms(0.99),
            per_second: Some(f64::from(requests) / elapsed),
        })
    }

    /// Cold starts: each update makes a new version, whose first invocation starts an instance.
    async fn cold(&self, name: &str, language: Language, starts: u32) -> anyhow::Result<Row> {
        let mut init = Latencies::new();
        for n in 0..starts {
            let code = format!("{}\n{} {n}\n", trivial(language), comment(language));
            self.call(
                reqwest::Method::PUT,
                &format!("/functions/{name}"),
                &json!({"code": code}),
            )
            .await?;
            let invocation = self.invoke(name).await?;
            if invocation["start"] != "cold" {
                bail!("expected a cold start, got {invocation}");
            }
            let init_ms = invocation["init_ms"].as_f64().unwrap_or_default();
            init.record(Duration::from_secs_f64(init_ms / 1000.0));
        }
        Ok(Row {
            what: "cold start (instance start + load)".to_owned(),
            p50_ms: init.ms(0.5),
            p99_ms: init.ms(0.99),
            per_second: None,
        })
    }
}

fn comment(language: Language) -> &'static str {
    match language {
        Language::Python => "#",
        Language::Javascript => "//",
    }
}

/// Starting the bare interpreter once per invocation: what running a function costs without
/// instances to reuse.
fn baseline(config: &Config, language: Language, runs: u32) -> anyhow::Result<Row> {
    let (program, args): (&PathBuf, &[&str]) = match language {
        Language::Python => (&config.sandbox.python, &["-c", "print(1)"]),
        Language::Javascript => (&config.sandbox.node, &["-e", "console.log(1)"]),
    };
    let mut latencies = Latencies::new();
    for _ in 0..runs {
        let began = Instant::now();
        let output = std::process::Command::new(program).args(args).output()?;
        if !output.status.success() {
            bail!("{} failed", program.display());
        }
        latencies.record(began.elapsed());
    }
    Ok(Row {
        what: format!(
            "baseline: `{} {}` per invocation",
            program.display(),
            args.join(" ")
        ),
        p50_ms: latencies.ms(0.5),
        p99_ms: latencies.ms(0.99),
        per_second: None,
    })
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut config = Config::for_data_dir(data_dir.path());
    config.default_runtime = args.runtime;
    let server = crate::server::build(config.clone()).await?;
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let bench = Arc::new(Bench {
        base,
        http: reqwest::Client::new(),
    });

    let mut sections = Vec::new();
    for language in &args.languages {
        let name = format!("bench_{language}");
        bench
            .call(
                reqwest::Method::POST,
                "/functions",
                &json!({"name": name, "language": language, "code": trivial(*language), "runtime": args.runtime}),
            )
            .await?;
        let mut rows = Vec::new();
        for concurrency in &args.concurrency {
            rows.push(
                bench
                    .warm(&name, args.requests, (*concurrency).max(1))
                    .await?,
            );
        }
        rows.push(bench.cold(&name, *language, args.starts).await?);
        rows.push(baseline(&config, *language, args.starts)?);
        sections.push((format!("{language} on {}", args.runtime), rows));
    }

    let _ = stop.send(());
    serving.await??;

    let mut markdown = format!(
        "# Kindling benchmark\n\n{} CPUs; {} warm requests per row; {} starts per row.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        args.requests,
        args.starts
    );
    for (title, rows) in &sections {
        let mut table = Table::new();
        table.load_style(comfy_table::presets::ASCII_MARKDOWN);
        table.set_header(["measure", "p50 ms", "p99 ms", "invocations/s"]);
        for row in rows {
            table.add_row([
                row.what.clone(),
                format!("{:.3}", row.p50_ms),
                format!("{:.3}", row.p99_ms),
                row.per_second
                    .map(|r| format!("{r:.0}"))
                    .unwrap_or_default(),
            ]);
        }
        println!("\n{title}\n{table}");
        markdown.push_str(&format!("\n## {title}\n\n{table}\n"));
    }
    std::fs::write(&args.report, markdown)
        .with_context(|| format!("writing {}", args.report.display()))?;
    println!("\nreport written to {}", args.report.display());
    Ok(())
}
