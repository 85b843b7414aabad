//! Invoking functions: the seeds' examples as written, every handler convention, results, errors,
//! logs, context and env, warm reuse, versions, batches, routes and history.

mod common;

use common::{TestApp, assert_error, create_both, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_examples_work_as_written() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;

    // Seed 001, Python.
    let code = "def handler():\n    numbers = [1, 2, 3, 4, 5]\n    return {\n        \"sum\": sum(numbers),\n        \"average\": sum(numbers) / len(numbers)\n    }\n";
    app.create_fn("seed001_py", "python", code, json!({})).await;
    let invocation = app.invoke("seed001_py", json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    assert_eq!(invocation["result"], json!({"sum": 15, "average": 3.0}));

    // Seed 001, JavaScript: a script that prints its JSON.
    let code = "function handler() {\n    const numbers = [1, 2, 3, 4, 5];\n    const sum = numbers.reduce((a, b) => a + b, 0);\n    \n    console.log(JSON.stringify({\n        sum: sum,\n        average: sum / numbers.length\n    }));\n}\n\nhandler();\n";
    app.create_fn("seed001_js", "javascript", code, json!({}))
        .await;
    let invocation = app.invoke("seed001_js", json!({})).await;
    assert_eq!(invocation["status"], "success", "{invocation}");
    assert_eq!(invocation["result"], json!({"sum": 15, "average": 3}));

    // Seed 003's curl flow.
    let (status, created) = app
        .post(
            "/functions/",
            &json!({"name": "test_curl_func", "route": "/curl_test", "language": "python",
                    "code": "def handler(event, context):\n    return {\"message\": \"Hello from curl\"}", "timeout": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, executed) = app
        .post("/execute/test_curl_func", &json!({"event": {}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{executed}");
    assert_eq!(executed["result"], json!({"message": "Hello from curl"}));
    let (status, _) = app.get("/functions/").await;
    assert_eq!(status, StatusCode::OK);

    // Seed 003's handler reading the event.
    let code = "def handler(event, context):\n    return {'message': f'Hello, {event.get(\"name\", \"World\")}'}";
    app.create_fn(
        "my_function",
        "python",
        code,
        json!({"route": "/my-function", "timeout": 5}),
    )
    .await;
    let (_, executed) = app
        .post("/execute/my_function", &json!({"event": {"name": "User"}}))
        .await;
    assert_eq!(executed["result"], json!({"message": "Hello, User"}));

    // Seed 004: hello.py with CLI-style args.
    let hello = app
        .create_fn(
            "hello",
            "python",
            "import sys\nprint(f\"Hello, {sys.argv[1]}!\")\n",
            json!({}),
        )
        .await;
    let (status, executed) = app
        .post(
            "/functions/execute",
            &json!({"id": hello["id"], "args": ["Alice"], "use_gvisor": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{executed}");
    assert_eq!(executed["result"], "Hello, Alice!");
    // …and several at once.
    let (status, executed) = app
        .post(
            "/functions/execute",
            &json!([{"id": "hello", "args": ["Bob"]}, {"id": "seed001_py"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{executed}");
    assert_eq!(executed[0]["result"], "Hello, Bob!");
    assert_eq!(executed[1]["result"]["sum"], 15);

    // Seed 004: an infinite loop times out.
    app.create_fn(
        "infinite",
        "python",
        "while True:\n    pass\n",
        json!({"timeout": 1}),
    )
    .await;
    let began = std::time::Instant::now();
    let invocation = app.invoke("infinite", json!({})).await;
    assert_eq!(invocation["status"], "timeout", "{invocation}");
    assert!(
        began.elapsed().as_secs_f64() < 2.0,
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(invocation["error"]["errorType"], "Runtime.Timeout");

    // Seed 000/002 aliases.
    let (status, executed) = app.post("/functions/seed001_py/execute", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(executed["result"]["sum"], 15);
    let (status, executions) = app.get("/functions/seed001_py/executions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(executions.as_array().unwrap().len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_context_and_env_arrive_in_both_languages() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let names = create_both(&app,
        "ctx",
        "import os\ndef handler(event, context):\n    return {'event': event, 'request_id': context.aws_request_id,\n            'name': context.function_name, 'version': context.function_version,\n            'memory': context.memory_limit_in_mb, 'remaining': context.get_remaining_time_in_millis(),\n            'env': os.environ.get('GREETING'), 'engine_env': os.environ.get('CARGO_PKG_NAME')}\n",
        "exports.handler = async (event, context) => ({event, request_id: context.awsRequestId,\n  name: context.functionName, version: context.functionVersion, memory: context.memoryLimitInMB,\n  remaining: context.getRemainingTimeInMillis(), env: process.env.GREETING,\n  engine_env: process.env.CARGO_PKG_NAME ?? null});\n",
        json!({"env": {"GREETING": "hej"}, "memory_mb": 256, "timeout": 7}),
    )
    .await;
    for name in names {
        let invocation = app
            .invoke(
                &name,
                json!({"nested": {"list": [1, 2.5, "three", null, true]}}),
            )
            .await;
        assert_eq!(invocation["status"], "success", "{invocation}");
        let result = &invocation["result"];
        assert_eq!(
            result["event"],
            json!({"nested": {"list": [1, 2.5, "three", null, true]}}),
            "{name}"
        );
        assert_eq!(result["request_id"], invocation["invocation_id"], "{name}");
        assert_eq!(result["name"], name.as_str());
        assert_eq!(result["version"], "1");
        assert_eq!(result["memory"], 256);
        let remaining = result["remaining"].as_i64().unwrap();
        assert!((6000..=7000).contains(&remaining), "{name}: {remaining}");
        assert_eq!(result["env"], "hej", "{name}");
        assert_eq!(
            result["engine_env"],
            Value::Null,
            "the engine's environment is not passed"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_handler_convention_works() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let cases = [
        (
            "py_two",
            "python",
            "def handler(event, context):\n    return event['x'] * 2",
        ),
        (
            "py_one",
            "python",
            "def handler(event):\n    return event['x'] * 2",
        ),
        ("py_none", "python", "def handler():\n    return 42"),
        (
            "py_async",
            "python",
            "import asyncio\nasync def handler(event, context):\n    await asyncio.sleep(0.01)\n    return event['x'] * 2",
        ),
        (
            "py_custom",
            "python",
            "def main(event, context):\n    return 'custom'",
        ),
        (
            "js_exports",
            "javascript",
            "exports.handler = async (event, context) => event.x * 2;",
        ),
        (
            "js_module_handler",
            "javascript",
            "module.exports.handler = (event) => event.x * 2;",
        ),
        (
            "js_module_fn",
            "javascript",
            "module.exports = async (event) => event.x * 2;",
        ),
        (
            "js_top_level",
            "javascript",
            "function handler(event, context) { return event.x * 2; }",
        ),
        (
            "js_promise",
            "javascript",
            "exports.handler = (event) => new Promise(r => setTimeout(() => r(event.x * 2), 10));",
        ),
        (
            "js_callback",
            "javascript",
            "exports.handler = function (event, context, callback) { callback(null, event.x * 2); };",
        ),
        (
            "js_custom",
            "javascript",
            "exports.main = async () => 'custom';",
        ),
    ];
    for (name, language, code) in cases {
        let handler = if name.ends_with("custom") {
            "main"
        } else {
            "handler"
        };
        app.create_fn(name, language, code, json!({"handler": handler}))
            .await;
        let invocation = app.invoke(name, json!({"x": 21})).await;
        assert_eq!(invocation["status"], "success", "{name}: {invocation}");
        let expected = match name {
            "py_none" => json!(42),
            n if n.ends_with("custom") => json!("custom"),
            _ => json!(42),
        };
        assert_eq!(invocation["result"], expected, "{name}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_goes_to_logs_and_errors_have_lambdas_shape() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let printing = create_both(&app,
        "printing",
        "import sys, os\ndef handler(event, context):\n    print('to stdout')\n    print('to stderr', file=sys.stderr)\n    os.write(1, b'raw fd 1\\n')\n    os.system('echo from a child')\n    return 'the result'\n",
        "const { execSync } = require('child_process');\nexports.handler = async () => {\n  console.log('to stdout');\n  console.error('to stderr');\n  require('fs').writeSync(1, 'raw fd 1\\n');\n  execSync('echo from a child', {stdio: 'inherit'});\n  return 'the result';\n};\n",
        json!({}),
    )
    .await;
    for name in printing {
        for _ in 0..2 {
            let invocation = app.invoke(&name, json!({})).await;
            assert_eq!(invocation["status"], "success", "{invocation}");
            assert_eq!(invocation["result"], "the result", "{name}");
            let logs = invocation["logs"].as_str().unwrap();
            for line in ["to stdout", "to stderr", "raw fd 1", "from a child"] {
                assert_eq!(
                    logs.matches(line).count(),
                    1,
                    "{name}: {line:?} once in {logs:?}"
                );
            }
        }
    }

    let failing = create_both(&app,
        "failing",
        "def helper(x):\n    raise ValueError(f'bad input {x}')\ndef handler(event, context):\n    print('before the error')\n    helper(event['x'])\n",
        "function helper(x) { throw new TypeError(`bad input ${x}`); }\nexports.handler = async (event) => { console.log('before the error'); helper(event.x); };\n",
        json!({}),
    )
    .await;
    for (name, error_type) in failing.iter().zip(["ValueError", "TypeError"]) {
        let invocation = app.invoke(name, json!({"x": 7})).await;
        assert_eq!(invocation["status"], "error", "{invocation}");
        assert_eq!(invocation["result"], Value::Null);
        let error = &invocation["error"];
        assert_eq!(error["errorType"], error_type);
        assert_eq!(error["errorMessage"], "bad input 7");
        let trace = error["stackTrace"].as_array().unwrap();
        assert!(
            trace
                .iter()
                .any(|line| line.as_str().unwrap().contains("helper")),
            "{name}: {trace:?}"
        );
        assert!(
            invocation["logs"]
                .as_str()
                .unwrap()
                .contains("before the error")
        );
        // A function error leaves the instance usable.
        let again = app.invoke(name, json!({"x": 8})).await;
        assert_eq!(again["start"], "warm", "{again}");
        assert_eq!(again["error"]["errorMessage"], "bad input 8");
    }

    let unserialisable = create_both(
        &app,
        "unserialisable",
        "def handler(event, context):\n    return {1, 2, 3}\n",
        "exports.handler = async () => ({ big: 10n });\n",
        json!({}),
    )
    .await;
    for name in unserialisable {
        let invocation = app.invoke(&name, json!({})).await;
        assert_eq!(invocation["status"], "error", "{invocation}");
        assert_eq!(
            invocation["error"]["errorType"], "Runtime.SerializationError",
            "{invocation}"
        );
    }

    let broken = create_both(
        &app,
        "broken",
        "def handler(event, context)\n    return 1\n",
        "exports.handler = async () => {;\n",
        json!({}),
    )
    .await;
    for name in broken {
        let invocation = app.invoke(&name, json!({})).await;
        assert_eq!(invocation["status"], "error", "{invocation}");
        assert_eq!(
            invocation["error"]["errorType"], "SyntaxError",
            "{invocation}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_reused_per_version_and_updates_take_effect() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    let code = |n: i32| {
        format!("import os\ndef handler(event, context):\n    return [{n}, os.getpid()]\n")
    };
    app.create_fn("counter", "python", &code(1), json!({}))
        .await;
    let first = app.invoke("counter", json!({})).await;
    assert_ne!(first["start"], "warm");
    assert!(first["init_ms"].as_f64().unwrap() > 0.0);
    let second = app.invoke("counter", json!({})).await;
    assert_eq!(second["start"], "warm");
    assert_eq!(second["init_ms"], Value::Null);
    assert_eq!(second["result"], first["result"], "same process");

    let (status, _) = app
        .request(
            reqwest::Method::PUT,
            "/functions/counter",
            Some(&json!({"code": code(2)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let third = app.invoke("counter", json!({})).await;
    assert_ne!(third["start"], "warm", "an update retires the old instance");
    assert_eq!(third["version"], 2);
    assert_eq!(third["result"][0], 2, "the new code runs");

    // A timed-out instance is never reused.
    app.create_fn("sleepy", "python", "import time\ndef handler(event, context):\n    time.sleep(event['s'])\n    return 'slept'\n", json!({"timeout": 1}))
        .await;
    assert_eq!(
        app.invoke("sleepy", json!({"s": 0})).await["status"],
        "success"
    );
    assert_eq!(
        app.invoke("sleepy", json!({"s": 5})).await["status"],
        "timeout"
    );
    let after = app.invoke("sleepy", json!({"s": 0})).await;
    assert_eq!(after["status"], "success");
    assert_ne!(after["start"], "warm");

    // A child the function forks and lets return from the handler never answers for it.
    app.create_fn(
        "forker",
        "python",
        "import os\ndef handler(event, context):\n    return {'child': os.fork() == 0}\n",
        json!({}),
    )
    .await;
    for warm in [false, true, true] {
        let invocation = app.invoke("forker", json!({})).await;
        assert_eq!(
            invocation["result"],
            json!({"child": false}),
            "{invocation}"
        );
        assert_eq!(invocation["start"] == "warm", warm, "{invocation}");
    }

    // A crashed instance neither.
    app.create_fn("crasher", "python", "import os\ndef handler(event, context):\n    if event.get('die'):\n        os._exit(3)\n    return 'alive'\n", json!({}))
        .await;
    assert_ne!(app.invoke("crasher", json!({})).await["start"], "warm");
    let crashed = app.invoke("crasher", json!({"die": true})).await;
    assert_eq!(crashed["status"], "crashed", "{crashed}");
    assert_ne!(app.invoke("crasher", json!({})).await["start"], "warm");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_routes_and_history() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    app.create_fn(
        "double",
        "python",
        "def handler(event):\n    return event['x'] * 2\n",
        json!({}),
    )
    .await;
    app.create_fn("web", "javascript",
        "exports.handler = async (event) => ({statusCode: 201, headers: {'x-answer': '42'}, body: `${event.method} ${event.path} ${event.query.name} ${event.body}`});",
        json!({"route": "/web/hello"}))
        .await;
    app.create_fn(
        "plain",
        "python",
        "def handler(event):\n    return {'plain': True}\n",
        json!({"route": "plain"}),
    )
    .await;

    let batch: Vec<Value> = (0..6)
        .map(|x| json!({"function": "double", "event": {"x": x}}))
        .collect();
    let mut batch = batch;
    batch.push(json!({"function": "missing"}));
    let (status, answers) = app.post("/functions/invoke", &Value::Array(batch)).await;
    assert_eq!(status, StatusCode::OK, "{answers}");
    let answers = answers.as_array().unwrap();
    for (x, answer) in answers.iter().take(6).enumerate() {
        assert_eq!(answer["result"], json!(x * 2), "in order: {answer}");
    }
    assert_eq!(answers[6]["error"]["code"], "function_not_found");

    let response = app
        .client
        .put(app.url("/run/web/hello?name=Ada"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-answer"], "42");
    assert!(response.headers().contains_key("x-kindling-invocation-id"));
    assert_eq!(response.text().await.unwrap(), "PUT /web/hello Ada payload");
    let response = app.client.get(app.url("/run/plain")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"plain": true})
    );
    // The caller's credentials are not passed on; framing headers and 1xx codes are not taken.
    app.create_fn(
        "nosy",
        "javascript",
        "exports.handler = async (event) => ({statusCode: event.query.code ? Number(event.query.code) : 200,\n  headers: {'transfer-encoding': 'chunked', 'x-seen': Object.keys(event.headers).join(',')}, body: 'ok'});",
        json!({"route": "/nosy"}),
    )
    .await;
    let response = app.client.get(app.url("/run/nosy")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = response.headers()["x-seen"].to_str().unwrap().to_owned();
    assert!(
        !seen.contains("authorization") && !seen.is_empty(),
        "{seen}"
    );
    assert!(!response.headers().contains_key("transfer-encoding"));
    let response = app
        .client
        .get(app.url("/run/nosy?code=101"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);

    let (status, _) = app.get("/run/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // History, newest first, filtered, and each record readable by id.
    let (status, history) = app.get("/invocations?function=double&limit=3").await;
    assert_eq!(status, StatusCode::OK);
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 3);
    for invocation in history {
        let id = invocation["invocation_id"].as_str().unwrap();
        let (status, read) = app.get(&format!("/invocations/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&read, invocation);
    }
    let (_, all) = app.get("/invocations?function=double&limit=100").await;
    assert_eq!(all.as_array().unwrap().len(), 6);
    let (_, errors) = app.get("/invocations?status=error").await;
    assert_eq!(errors, json!([]));
    assert_error(
        &app.get("/invocations?status=nonsense").await,
        StatusCode::BAD_REQUEST,
        "unknown_status",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invocations_get_a_precise_4xx() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    app.create_fn(
        "echo",
        "python",
        "def handler(event):\n    return event\n",
        json!({}),
    )
    .await;
    assert_error(
        &app.post_raw("/functions/echo/invoke", "{oops").await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );
    // Over the 6 MiB payload limit: refused on its declared length, before any of it is read.
    let answer = declare_body(&app, "/functions/echo/invoke", 7 * 1024 * 1024).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_error(
        &app.post("/functions/echo/invoke?runtime=nonsense", &json!({}))
            .await,
        StatusCode::BAD_REQUEST,
        "unknown_runtime",
    );
    assert_error(
        &app.post("/execute_gvisor/echo", &json!({"event": {}}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "runtime_unavailable",
    );
    // An empty body is the event {}; a multi-line JSON body is fine.
    assert_eq!(
        app.post_raw("/functions/echo/invoke", "").await.1["result"],
        json!({})
    );
    assert_eq!(
        app.post_raw("/functions/echo/invoke", "{\n \"a\":\n 1}\n")
            .await
            .1["result"],
        json!({"a": 1})
    );
    app.stop().await;
}

/// Sends a POST whose headers announce a body of `length` bytes, sends none of it, and reads the
/// answer (a client streaming a large body may see the connection reset when the server refuses
/// early, so the refusal is checked this way).
async fn declare_body(app: &TestApp, path: &str, length: usize) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        app.addr, app.admin_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status: u16 = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        StatusCode::from_u16(status).unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_report_their_cpu_time_and_peak_memory() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    // The figures are per invocation: a big allocation or a busy loop on one invocation does not
    // show on the next one of the same (warm) instance.
    let code = "import time\ndef handler(event, context):\n    if event.get('allocate'):\n        block = bytearray(event['allocate'] * 1024 * 1024)\n        block[::4096] = b'x' * len(block[::4096])\n    if event.get('spin'):\n        end = time.process_time() + event['spin']\n        while time.process_time() < end:\n            pass\n    return 'done'\n";
    app.create_fn("hungry", "python", code, json!({"memory_mb": 256}))
        .await;
    app.invoke("hungry", json!({})).await;

    let allocating = app.invoke("hungry", json!({"allocate": 64})).await;
    assert_eq!(allocating["start"], "warm", "{allocating}");
    let peak = allocating["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak >= 64 << 20, "64 MiB allocated, peak {peak}");
    assert!(peak < 256 << 20, "peak {peak}");

    let spinning = app.invoke("hungry", json!({"spin": 0.3})).await;
    let cpu = spinning["cpu_time_ms"].as_f64().unwrap();
    assert!(
        (280.0..1500.0).contains(&cpu),
        "300 ms of CPU, reported {cpu}"
    );
    let peak = spinning["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak < 48 << 20, "the 64 MiB were freed; peak {peak}");

    let idle = app.invoke("hungry", json!({})).await;
    assert!(idle["cpu_time_ms"].as_f64().unwrap() < 100.0, "{idle}");

    // The history keeps them.
    let id = spinning["invocation_id"].as_str().unwrap();
    let (_, stored) = app.get(&format!("/invocations/{id}")).await;
    assert_eq!(stored["cpu_time_ms"], spinning["cpu_time_ms"]);
    assert_eq!(stored["peak_memory_bytes"], spinning["peak_memory_bytes"]);
    app.stop().await;
}
