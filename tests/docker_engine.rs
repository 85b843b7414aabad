//! The Docker engine going away and coming back, and a server killed with containers running:
//! against real Docker engines — a second `dockerd` of the test's own where the engine must stop
//! and start (so that other tests keep theirs), and a real `kindling serve` process for `kill -9`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{LOCAL_IMAGE, TestApp, spawn_app_with, wait_for_pool};
use kindling::runtimes::RuntimeKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A Docker engine of the test's own, in its own directories, with the local image loaded.
struct PrivateEngine {
    dir: PathBuf,
    daemon: Option<Child>,
}

impl PrivateEngine {
    fn socket(dir: &Path) -> String {
        format!("unix://{}/docker.sock", dir.display())
    }

    fn start(dir: &Path) -> Self {
        let mut engine = Self {
            dir: dir.to_path_buf(),
            daemon: None,
        };
        engine.resume();
        let load = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker save {LOCAL_IMAGE} | docker -H {} load -q",
                Self::socket(dir)
            ))
            .status()
            .expect("docker save | docker load");
        assert!(
            load.success(),
            "loading {LOCAL_IMAGE} into the private engine"
        );
        engine
    }

    /// Starts the daemon (again) on the same directories.
    fn resume(&mut self) {
        let dir = &self.dir;
        let daemon = Command::new("dockerd")
            .args(["--data-root", &dir.join("root").to_string_lossy()])
            .args(["--exec-root", &dir.join("exec").to_string_lossy()])
            .args(["-H", &Self::socket(dir)])
            .args(["--pidfile", &dir.join("docker.pid").to_string_lossy()])
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(["--config-file", "/etc/docker/daemon.json"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).expect("log file"))
            .spawn()
            .expect("dockerd starts");
        self.daemon = Some(daemon);
        let began = Instant::now();
        while !self.answers() {
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "the private dockerd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn answers(&self) -> bool {
        Command::new("docker")
            .args(["-H", &Self::socket(&self.dir), "info"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the daemon the way an operator does (SIGTERM); its containers die with it.
    fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) };
            let _ = daemon.wait();
        }
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_until(app: &TestApp, runtime: &str, available: bool) {
    let began = Instant::now();
    loop {
        let (_, health) = app.get("/health").await;
        if health["runtimes"][runtime]["available"] == available {
            return;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "{runtime} available={available}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_engine_stopping_and_returning() {
    if common::skipped_without_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut engine = PrivateEngine::start(dir.path());
    let app = spawn_app_with(|config| {
        config.runtimes = vec![RuntimeKind::Sandbox, RuntimeKind::Docker];
        config.docker.host = Some(PrivateEngine::socket(dir.path()));
        config.pool.prewarm = 1;
    })
    .await;
    wait_until(&app, "docker", true).await;
    app.create_fn(
        "in_docker",
        "python",
        "def handler():\n    return 'docker'\n",
        json!({"runtime": "docker"}),
    )
    .await;
    app.create_fn(
        "in_sandbox",
        "python",
        "def handler():\n    return 'sandbox'\n",
        json!({}),
    )
    .await;
    assert_eq!(app.invoke("in_docker", json!({})).await["result"], "docker");

    engine.stop();
    let answer = app.post("/functions/in_docker/invoke", &json!({})).await;
    assert_eq!(answer.0, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], "runtime_unavailable");
    let message = answer.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("Docker engine"), "{message}");
    wait_until(&app, "docker", false).await;
    assert_eq!(
        app.invoke("in_sandbox", json!({})).await["result"],
        "sandbox",
        "the sandbox keeps working"
    );

    engine.resume();
    wait_until(&app, "docker", true).await;
    let invocation = app.invoke("in_docker", json!({})).await;
    assert_eq!(invocation["result"], "docker", "{invocation}");
    // The containers that died with the engine could not be removed then: their uids are
    // released once the engine answers again, and shows they no longer run.
    let left = common::instances::abandoned_claims(app.data_dir(), false);
    assert!(left.is_empty(), "uids claimed by gone containers: {left:?}");
    app.stop().await;
}

/// Containers labelled as this data dir's server's.
fn containers_of(data_dir: &Path) -> Vec<String> {
    let server = kindling::runtimes::server_id(data_dir);
    let output = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=kindling.server={server}"),
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A `kindling serve` process, killed (-9) when dropped.
struct ServerProcess(Child);

impl ServerProcess {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `kindling serve` as a process of its own, with the Docker runtime as its default.
fn serve(data_dir: &Path) -> (ServerProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kindling"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--runtime",
            "docker",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("KINDLING_RUNTIMES", "[\"docker\"]")
        .env("KINDLING_DOCKER__PYTHON_IMAGE", LOCAL_IMAGE)
        .env("KINDLING_DOCKER__NODE_IMAGE", LOCAL_IMAGE)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kindling serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.split("addr=").nth(1) {
                let _ = found.send(addr.trim().to_owned());
            }
        }
    });
    let child = ServerProcess(child);
    let addr = address
        .recv_timeout(Duration::from_secs(60))
        .expect("the server says where it listens");
    (child, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_with_containers_running_leaves_none_after_restart() {
    if common::skipped_without_root() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(data.path());
    let token =
        std::fs::read_to_string(data.path().join(kindling::auth::ADMIN_TOKEN_FILE)).unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", token.trim()).parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let function = json!({"name": "sleepy", "language": "python",
                          "code": "import time\ndef handler(event):\n    time.sleep(event['s'])\n    return 'done'\n"});
    let created = client
        .post(format!("{base}/functions"))
        .json(&function)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let warm = client
        .post(format!("{base}/functions/sleepy/invoke"))
        .json(&json!({"s": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.json::<Value>().await.unwrap()["result"], "done");
    // One invocation in flight, an idle instance, generic ones.
    let busy = client
        .post(format!("{base}/functions/sleepy/invoke"))
        .json(&json!({"s": 30}))
        .send();
    let busy = tokio::spawn(busy);
    let api = common::Api {
        base: base.clone(),
        client: client.clone(),
    };
    wait_for_pool(&api, "busy", None, 1).await;
    // …and the generic ones started back in its place.
    let began = Instant::now();
    let before = loop {
        let before = containers_of(data.path());
        if before.len() >= 3 {
            break before;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "containers of the first run: {before:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    server.kill();
    let _ = busy.await;
    let claimed = common::instances::abandoned_claims(data.path(), false);
    assert!(
        claimed.len() >= before.len(),
        "the killed run's containers keep their uids claimed: {claimed:?}"
    );
    let (mut restarted, _) = serve(data.path());
    let after = containers_of(data.path());
    // Its containers removed, the restarted server released their uids.
    let left = common::instances::abandoned_claims(data.path(), false);
    restarted.kill();
    assert!(left.is_empty(), "uids of removed containers: {left:?}");
    let left: Vec<&String> = before.iter().filter(|id| after.contains(id)).collect();
    assert!(
        left.is_empty(),
        "containers of the killed run are left: {left:?}"
    );

    // Tidy up what the second, also killed, run started.
    for id in containers_of(data.path()) {
        // Frozen containers die only once thawed.
        let state = format!("/sys/fs/cgroup/freezer/docker/{id}/freezer.state");
        let _ = std::fs::write(state, "THAWED");
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
    common::instances::abandoned_claims(data.path(), true);
    common::instances::remove_keep_frozen(data.path());
}
