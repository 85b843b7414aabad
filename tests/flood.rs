//! A function that prints without end costs the engine a bounded amount of memory, and its logs
//! keep the last 64 KiB with a marker. (Its own test binary, so that nothing else moves the
//! engine's memory meanwhile.)

mod common;

use common::spawn_app;
use serde_json::json;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_print_floods_are_truncated_and_memory_stays_flat() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    app.create_fn(
        "flood_python",
        "python",
        "import sys\ndef handler(event, context):\n    line = 'x' * 1023\n    for i in range(10 * 1024):\n        print(line)\n    print('the end')\n    return 'flooded'\n",
        json!({"timeout": 60}),
    )
    .await;
    app.create_fn(
        "flood_javascript",
        "javascript",
        "exports.handler = async () => { const line = 'x'.repeat(1023); for (let i = 0; i < 10 * 1024; i++) console.log(line); console.log('the end'); return 'flooded'; };\n",
        json!({"timeout": 60}),
    )
    .await;
    // Warm up both, so the baseline includes every instance and connection.
    for name in ["flood_python", "flood_javascript"] {
        app.invoke(name, json!({})).await;
    }
    let baseline = resident_kib();
    for round in 0..3 {
        for name in ["flood_python", "flood_javascript"] {
            let invocation = app.invoke(name, json!({})).await;
            assert_eq!(invocation["status"], "success", "{invocation}");
            assert_eq!(invocation["result"], "flooded");
            let logs = invocation["logs"].as_str().unwrap();
            assert!(
                logs.len() <= 64 * 1024 + 200,
                "{name}: {} bytes of logs",
                logs.len()
            );
            assert!(
                logs.starts_with("[kindling: "),
                "{name}: a truncation marker opens the logs"
            );
            assert!(logs.ends_with("the end\n"), "{name}: the tail is kept");
            let _ = round;
        }
    }
    let grown = resident_kib().saturating_sub(baseline);
    // 60 MiB went through the engine; a copy of it would show.
    assert!(grown < 8 * 1024, "the engine grew by {grown} KiB");
    app.stop().await;
}
