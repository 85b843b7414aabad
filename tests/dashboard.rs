//! The dashboard in a real browser: each test starts a real server (with the sandbox, Docker and
//! gVisor runtimes) and runs one file of `web/tests/` against it with Node's test runner, which
//! drives Debian's Chromium through playwright-core. Needs `scripts/web-setup` (Chromium and the
//! npm packages) and, for gVisor, `scripts/docker-setup` and `scripts/build-images`; without
//! them these tests fail, loudly. Screenshots land in `target/dashboard-screenshots/`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TestApp, spawn_app_with};
use kindling::runtimes::RuntimeKind;

/// One browser at a time: two cores do not run several Chromiums and the servers well.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TIME_LIMIT: Duration = Duration::from_secs(300);

async fn server() -> TestApp {
    let app = spawn_app_with(|config| {
        config.runtimes = RuntimeKind::ALL.to_vec();
        config.pool.prewarm = 1;
    })
    .await;
    let (_, health) = app.get("/health").await;
    for runtime in RuntimeKind::ALL {
        assert_eq!(
            health["runtimes"][runtime.as_str()]["available"],
            true,
            "the dashboard's tests use every runtime; {runtime} is unavailable (scripts/docker-setup, scripts/build-images): {health}"
        );
    }
    app
}

/// Runs `web/tests/<file>` against a fresh server; its output goes to the test's.
async fn browser_test(file: &str) {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run scripts/web-setup (npm ci in web/)"
    );
    let _turn = BROWSER.lock().await;
    let app = server().await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    let mut node = tokio::process::Command::new("node");
    node.args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
        .arg(format!("tests/{file}"))
        .current_dir(&web)
        .env("KINDLING_URL", &app.base)
        .env("KINDLING_ADMIN_TOKEN", &app.admin_token)
        .env("KINDLING_SCREENSHOTS", &screenshots)
        .kill_on_drop(true);
    let status = tokio::time::timeout(TIME_LIMIT, node.status())
        .await
        .unwrap_or_else(|_| panic!("web/tests/{file} ran longer than {TIME_LIMIT:?}"))
        .expect("node runs (scripts/setup installs it)");
    app.stop().await;
    assert!(status.success(), "web/tests/{file} failed: {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_004_end_to_end() {
    if common::skipped_without_root() {
        return;
    }
    browser_test("seed004.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_through_the_ui() {
    if common::skipped_without_root() {
        return;
    }
    browser_test("functions.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn account_tokens_and_users() {
    if common::skipped_without_root() {
        return;
    }
    browser_test("account.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_csrf_and_headers() {
    if common::skipped_without_root() {
        return;
    }
    browser_test("security.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_accessible_and_keyboard_reachable() {
    if common::skipped_without_root() {
        return;
    }
    browser_test("a11y.test.mjs").await;
}
