//! Metrics on the real server: after a known sequence of invocations every figure is the
//! expected one; the Prometheus exposition parses and carries the series; every metrics route
//! needs a token; seed 004's flow.

mod common;

use std::collections::HashMap;

use common::{Api, assert_error, spawn_app_with, wait_for_pool};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KNOWN: &str = "import time\ndef handler(event, context):\n    if event.get('sleep'):\n        time.sleep(event['sleep'])\n    if event.get('allocate'):\n        block = bytearray(event['allocate'] << 20)\n        block[::4096] = b'x' * len(block[::4096])\n    if event.get('fail'):\n        raise ValueError('asked to fail')\n    return 'ok'\n";

/// Invokes `function` with `event`; returns the answer's status and body.
async fn invoke(api: &Api, function: &str, event: Value) -> (StatusCode, Value) {
    api.post(&format!("/functions/{function}/invoke"), &event)
        .await
}

/// Runs the known sequence on `known` and checks how each invocation went.
async fn known_sequence(api: &Api) {
    let expect = |answer: (StatusCode, Value), status: &str, start: &str| {
        assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
        assert_eq!(
            (answer.1["status"].as_str(), answer.1["start"].as_str()),
            (Some(status), Some(start)),
            "{}",
            answer.1
        );
    };
    expect(invoke(api, "known", json!({})).await, "success", "cold");
    for _ in 0..3 {
        expect(invoke(api, "known", json!({})).await, "success", "warm");
    }
    for _ in 0..2 {
        expect(
            invoke(api, "known", json!({"fail": true})).await,
            "error",
            "warm",
        );
    }
    expect(
        invoke(api, "known", json!({"sleep": 5})).await,
        "timeout",
        "warm",
    );
    expect(invoke(api, "known", json!({})).await, "success", "cold");
    expect(
        invoke(api, "known", json!({"allocate": 200})).await,
        "out_of_memory",
        "warm",
    );
    expect(invoke(api, "known", json!({})).await, "success", "cold");
    // At its concurrency limit of 1, with no queue: two more are throttled while one runs.
    let slow = {
        let api = api.clone();
        tokio::spawn(async move { invoke(&api, "known", json!({"sleep": 1.0})).await })
    };
    wait_for_pool(api, "busy", None, 1).await;
    for _ in 0..2 {
        assert_error(
            &invoke(api, "known", json!({})).await,
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
        );
    }
    expect(slow.await.unwrap(), "success", "warm");
}

/// The nearest-rank percentile of ascending `values`.
fn percentile(values: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * values.len() as f64).ceil() as usize;
    values[rank.max(1) - 1]
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_figure_matches_a_known_sequence_of_invocations() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.pool.prewarm = 0;
        config.pool.max_queue = 0;
    })
    .await;
    let known = app
        .create_fn(
            "known",
            "python",
            KNOWN,
            json!({"timeout": 2, "memory_mb": 64, "max_concurrency": 1}),
        )
        .await;
    known_sequence(&app).await;
    let (alice, _) = app.user("alice").await;
    alice.create_fn("mine", "python", KNOWN, json!({})).await;
    alice.invoke("mine", json!({})).await;
    alice.invoke("mine", json!({})).await;

    let (status, metrics) = app.get("/metrics/functions/known?window=1h").await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    let counts: HashMap<&str, u64> = [
        "invocations",
        "successes",
        "errors",
        "timeouts",
        "out_of_memory",
        "crashes",
        "throttles",
    ]
    .into_iter()
    .map(|field| (field, metrics[field].as_u64().unwrap()))
    .collect();
    let expected: HashMap<&str, u64> = [
        ("invocations", 11),
        ("successes", 7),
        ("errors", 2),
        ("timeouts", 1),
        ("out_of_memory", 1),
        ("crashes", 0),
        ("throttles", 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected, "{metrics}");
    assert!(close(&metrics["success_rate"], 7.0 / 11.0), "{metrics}");
    assert_eq!(
        metrics["starts"],
        json!({"cold": 3, "prewarmed": 0, "warm": 8})
    );
    assert_eq!(metrics["function"], "known");
    assert_eq!(metrics["function_id"], known["id"]);
    assert_eq!(metrics["window"]["window"], "1h");

    // The distribution is the one of the recorded invocations.
    let (_, history) = app.get("/invocations?function=known&limit=100").await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 13);
    let ran: Vec<&Value> = history
        .iter()
        .filter(|i| i["status"] != "throttled")
        .collect();
    let mut durations: Vec<f64> = ran
        .iter()
        .map(|i| i["duration_ms"].as_f64().unwrap())
        .collect();
    durations.sort_by(f64::total_cmp);
    let duration = &metrics["duration_ms"];
    assert_eq!(duration["p50"].as_f64(), Some(percentile(&durations, 50.0)));
    assert_eq!(duration["p95"].as_f64(), Some(percentile(&durations, 95.0)));
    assert_eq!(duration["p99"].as_f64(), Some(percentile(&durations, 99.0)));
    assert_eq!(duration["max"].as_f64(), durations.last().copied());
    assert!(close(
        &duration["mean"],
        durations.iter().sum::<f64>() / 11.0
    ));
    // The timeout is the slowest: killed after its 2 s.
    assert!(duration["max"].as_f64().unwrap() >= 2000.0, "{duration}");
    assert!(duration["p50"].as_f64().unwrap() < 500.0, "{duration}");
    let inits: Vec<f64> = ran.iter().filter_map(|i| i["init_ms"].as_f64()).collect();
    assert_eq!(inits.len(), 3, "three cold starts");
    assert!(close(
        &metrics["init_ms_mean"],
        inits.iter().sum::<f64>() / 3.0
    ));
    let peak = ran
        .iter()
        .filter_map(|i| i["peak_memory_bytes"].as_u64())
        .max();
    assert_eq!(metrics["peak_memory_bytes"].as_u64(), peak);
    assert!(peak.unwrap() >= 50 << 20, "the out-of-memory one: {peak:?}");
    let cpu: f64 = ran.iter().filter_map(|i| i["cpu_time_ms"].as_f64()).sum();
    assert!(close(&metrics["cpu_time_ms"], cpu), "{metrics}");

    // Seed 001's route says the same.
    let id = known["id"].as_str().unwrap();
    let (_, by_id) = app.get(&format!("/metrics/{id}?window=1h")).await;
    assert_eq!(by_id["invocations"], 11);

    // The summary: the administrator sees both functions, Alice only hers.
    let (_, summary) = app.get("/metrics/summary").await;
    assert_eq!(summary["totals"]["invocations"], 13, "{summary}");
    assert_eq!(summary["totals"]["throttles"], 2);
    let names: Vec<&str> = summary["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["known", "mine"]);
    let (_, hers) = alice.get("/metrics/summary?window=all").await;
    assert_eq!(hers["totals"]["invocations"], 2, "{hers}");
    assert_eq!(hers["functions"].as_array().unwrap().len(), 1);
    assert_error(
        &alice.get("/metrics/functions/known").await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );
    assert_error(
        &alice.get(&format!("/metrics/{id}")).await,
        StatusCode::NOT_FOUND,
        "function_not_found",
    );

    // Per-minute series add up to the same.
    let (_, series) = app.get("/metrics/functions/known/timeseries").await;
    let points = series["points"].as_array().unwrap();
    let sum = |field: &str| {
        points
            .iter()
            .map(|p| p[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (sum("invocations"), sum("throttles"), sum("failures")),
        (11, 2, 4)
    );
    assert_eq!(series["step_secs"], 60);
    assert_eq!(
        (
            sum("errors"),
            sum("timeouts"),
            sum("out_of_memory"),
            sum("crashes")
        ),
        (2, 1, 1, 0)
    );
    // Each minute's p50 and p95 are the nearest-rank ones of that minute's recorded durations.
    let (_, history) = app.get("/invocations?function=known&limit=100").await;
    let mut by_minute: HashMap<String, Vec<f64>> = HashMap::new();
    for invocation in history.as_array().unwrap() {
        if invocation["status"] == "throttled" {
            continue;
        }
        let started: chrono::DateTime<chrono::Utc> =
            invocation["started_at"].as_str().unwrap().parse().unwrap();
        let minute = chrono::DateTime::from_timestamp(started.timestamp() / 60 * 60, 0).unwrap();
        by_minute
            .entry(minute.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .or_default()
            .push(invocation["duration_ms"].as_f64().unwrap());
    }
    for point in points {
        let start: chrono::DateTime<chrono::Utc> =
            point["start"].as_str().unwrap().parse().unwrap();
        let mut durations = by_minute
            .remove(&start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        durations.sort_by(f64::total_cmp);
        let rank =
            |permille: usize| durations[(permille * durations.len()).div_ceil(1000).max(1) - 1];
        assert_eq!(
            point["duration_ms_p50"].as_f64(),
            Some(rank(500)),
            "{point}"
        );
        assert_eq!(
            point["duration_ms_p95"].as_f64(),
            Some(rank(950)),
            "{point}"
        );
    }
    assert!(
        by_minute.is_empty(),
        "minutes missing from the series: {by_minute:?}"
    );

    // Activity: the same counts in buckets, and the latest invocation.
    let (_, activity) = app.get("/metrics/activity?window=1h&buckets=6").await;
    let known_activity = activity["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "known")
        .expect("known is listed");
    let bucket_sum = |field: &str| {
        known_activity[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(known_activity["invocations"].as_array().unwrap().len(), 6);
    assert_eq!((bucket_sum("invocations"), bucket_sum("failures")), (11, 4));
    assert_eq!(known_activity["last_status"], history[0]["status"]);
    assert_eq!(activity["bucket_ms"], 600_000);
    assert_error(
        &app.get("/metrics/activity?window=all").await,
        StatusCode::BAD_REQUEST,
        "invalid_window",
    );
    assert_error(
        &app.get("/metrics/activity?buckets=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_buckets",
    );
    let (_, hers) = alice.get("/metrics/activity").await;
    let hers = hers["functions"].as_array().unwrap();
    assert_eq!(hers.len(), 1, "only her own function: {hers:?}");
    let her_runs: u64 = hers[0]["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(her_runs, 2);
    let (_, overall) = app.get("/metrics/timeseries?window=1h").await;
    let overall: u64 = overall["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["invocations"].as_u64().unwrap())
        .sum();
    assert_eq!(overall, 13);
    let (_, hers) = alice.get("/metrics/timeseries").await;
    assert_eq!(hers["points"][0]["invocations"], 2);

    // The system: pool and host.
    let (_, system) = app.get("/metrics/system").await;
    assert!(
        system["pool"]["hit_rate"].as_f64().unwrap() > 0.0,
        "{system}"
    );
    assert!(system["host"]["memory_total_mb"].as_u64().unwrap() > 0);
    assert!(system["host"]["cpus"].as_u64().unwrap() > 0);

    // Bad windows.
    for (query, code) in [
        ("window=1y", "invalid_window"),
        ("window=1h&since=2026-01-01T00:00:00Z", "invalid_window"),
        ("since=yesterday", "invalid_query"),
    ] {
        assert_error(
            &app.get(&format!("/metrics/summary?{query}")).await,
            StatusCode::BAD_REQUEST,
            code,
        );
    }
    let (_, future) = app
        .get("/metrics/functions/known?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["invocations"], 0);
    assert_eq!(future["success_rate"], Value::Null);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_exposition_parses_and_carries_the_series() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|config| {
        config.pool.prewarm = 0;
        config.pool.max_queue = 0;
    })
    .await;
    app.create_fn(
        "known",
        "python",
        KNOWN,
        json!({"timeout": 2, "memory_mb": 64, "max_concurrency": 1}),
    )
    .await;
    known_sequence(&app).await;

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    // Every line is a comment or a sample the parser understands.
    for line in text.lines() {
        let parsed = prometheus_parse::LineInfo::parse(line);
        let understood = match parsed {
            prometheus_parse::LineInfo::Sample { .. }
            | prometheus_parse::LineInfo::Doc { .. }
            | prometheus_parse::LineInfo::Type { .. }
            | prometheus_parse::LineInfo::Empty => true,
            prometheus_parse::LineInfo::Ignored => false,
        };
        assert!(understood, "not Prometheus text: {line}");
    }
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap();
    let value = |metric: &str, labels: &[(&str, &str)]| -> Vec<prometheus_parse::Value> {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| s.value.clone())
            .collect()
    };
    let counter = |labels: &[(&str, &str)]| match value("kindling_invocations_total", labels)[..] {
        [prometheus_parse::Value::Counter(n)] => n,
        ref other => panic!("{labels:?}: {other:?}"),
    };
    let known = [("function", "known"), ("runtime", "sandbox")];
    let with = |extra: [(&'static str, &'static str); 2]| {
        let mut labels = known.to_vec();
        labels.extend(extra);
        labels
    };
    let expected = [
        ("success", "cold", 3.0),
        ("success", "warm", 4.0),
        ("error", "warm", 2.0),
        ("timeout", "warm", 1.0),
        ("out_of_memory", "warm", 1.0),
        ("throttled", "none", 2.0),
    ];
    for (status, start, count) in expected {
        assert_eq!(
            counter(&with([("status", status), ("start", start)])),
            count,
            "{status}, {start}"
        );
    }

    // The duration histogram counted the 11 that ran, the timeout in its top buckets.
    let counts: f64 = value("kindling_invocation_duration_seconds_count", &known)
        .iter()
        .map(|v| match v {
            prometheus_parse::Value::Untyped(n) | prometheus_parse::Value::Counter(n) => *n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(counts, 11.0);
    let buckets = value(
        "kindling_invocation_duration_seconds",
        &with([("start", "warm"), ("function", "known")]),
    );
    let prometheus_parse::Value::Histogram(buckets) = &buckets[0] else {
        panic!("{buckets:?}");
    };
    let at = |le: f64| buckets.iter().find(|b| b.less_than == le).unwrap().count;
    assert_eq!(at(f64::INFINITY), 8.0);
    assert_eq!(
        at(1.0),
        6.0,
        "all but the timeout and the one sleeping 1 s: {buckets:?}"
    );
    assert!(!value("kindling_invocation_cpu_seconds_total", &known).is_empty());
    assert!(!value("kindling_invocation_peak_memory_bytes", &known).is_empty());
    assert!(!value("kindling_instance_init_seconds", &[("start", "cold")]).is_empty());

    // The pool, read at the scrape.
    let gauge = |metric: &str, labels: &[(&str, &str)]| match value(metric, labels)[..] {
        [prometheus_parse::Value::Gauge(n)] => n,
        ref other => panic!("{metric} {labels:?}: {other:?}"),
    };
    let idle = [
        ("runtime", "sandbox"),
        ("language", "python"),
        ("state", "idle"),
    ];
    assert_eq!(gauge("kindling_instances", &idle), 1.0);
    assert_eq!(
        value("kindling_instances", &[]).len(),
        24,
        "every combination"
    );
    assert_eq!(gauge("kindling_queue_length", &[]), 0.0);
    assert!(gauge("kindling_pool_hit_ratio", &[]) > 0.0);
    assert!(matches!(
        value("kindling_pool_starts_total", &[("start", "cold")])[..],
        [prometheus_parse::Value::Counter(n)] if n >= 3.0
    ));
    assert!(scrape.docs.contains_key("kindling_invocations_total"));

    // An administrator's: it names everyone's functions.
    let (alice, _) = app.user("alice").await;
    assert_error(
        &alice.get("/metrics").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metrics_route_needs_a_token_and_seed_004_works_with_one() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app_with(|_| {}).await;
    // Seed 004: hello.py with CLI-style args, a timeout, then the metrics with the wrong token
    // (blocked) and a valid one (shown).
    let (status, hello) = app
        .post(
            "/functions",
            &json!({"name": "hello", "language": "python",
                    "code": "import sys\nprint(f'Hello, {sys.argv[1]}!')\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hello}");
    let (_, executed) = app
        .post(
            "/functions/execute",
            &json!({"id": hello["id"], "args": ["Alice"], "use_gvisor": false}),
        )
        .await;
    assert_eq!(executed["result"], "Hello, Alice!", "{executed}");
    app.create_fn(
        "infinite",
        "python",
        "while True:\n    pass\n",
        json!({"timeout": 1}),
    )
    .await;
    let (_, timed_out) = app
        .post("/functions/execute", &json!({"id": "infinite"}))
        .await;
    assert_eq!(timed_out["status"], "timeout");

    for path in [
        "/metrics",
        "/metrics/summary",
        "/metrics/system",
        "/metrics/timeseries",
        "/metrics/functions/hello",
        "/metrics/functions/hello/timeseries",
        "/metrics/hello",
    ] {
        assert_error(
            &app.as_token(None).get(path).await,
            StatusCode::UNAUTHORIZED,
            "missing_token",
        );
        assert_error(
            &app.as_authorization("Bearer secret123").get(path).await,
            StatusCode::UNAUTHORIZED,
            "malformed_token",
        );
        assert_eq!(app.get(path).await.0, StatusCode::OK, "{path}");
    }
    let (_, summary) = app.get("/metrics/summary").await;
    assert_eq!(
        (
            summary["totals"]["successes"].clone(),
            summary["totals"]["timeouts"].clone()
        ),
        (json!(1), json!(1)),
        "{summary}"
    );
    app.stop().await;
}
