//! The pool and the invoke path on the in-process fake runtime ([`crate::runtimes::fake`]), on a
//! paused clock: no root, no interpreters, no sleeps — virtual time only moves when every task
//! waits, and each test waits on what it can observe (the fake host, the pool's snapshot).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Engine, InvokeError, InvokeRequest, PoolLimits};
use crate::blobs::Blobs;
use crate::config::Config;
use crate::functions::Registry;
use crate::functions::registry::Scope;
use crate::model::{Function, Invocation, RuntimeKind, StartKind, Status};
use crate::quotas::QuotaTable;
use crate::runtimes::Runtime;
use crate::runtimes::fake::{FakeHost, FakeRuntime};
use crate::store::{InvocationWriter, Store};

struct Harness {
    engine: Engine,
    registry: Arc<Registry>,
    quotas: Arc<QuotaTable>,
    host: Arc<FakeHost>,
    _data_dir: tempfile::TempDir,
}

struct Quiet;

impl super::Observer for Quiet {
    fn invoked(&self, _invocation: &Invocation) {}
}

/// An engine on the fake runtime with `functions` (name → extra fields) registered, its clock
/// paused from then on. Functions are created before the pause: the store is a real SQLite
/// database, whose worker thread a paused clock does not wait for.
async fn harness(configure: impl FnOnce(&mut Config), functions: &[(&str, Value)]) -> Harness {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(data_dir.path());
    config.pool.prewarm = 0;
    config.pool.memory_budget_mb = 4096;
    configure(&mut config);
    let store = Store::open(data_dir.path()).await.unwrap();
    let blobs = Blobs::open(data_dir.path().join("blobs")).unwrap();
    let limits = PoolLimits::new(
        &config.pool,
        config.instance,
        config.limits.default_memory_mb,
    );
    let quotas = Arc::new(QuotaTable::new(
        &config.quotas,
        limits.memory_budget_mb,
        config.pool.max_instances,
    ));
    let registry = Arc::new(
        Registry::open(
            store.clone(),
            blobs,
            config.limits.clone(),
            RuntimeKind::Sandbox,
            quotas.clone(),
        )
        .await
        .unwrap(),
    );
    for (name, extra) in functions {
        let mut input = json!({"name": name, "language": "python", "code": "fake"});
        let fields = input.as_object_mut().unwrap();
        fields.extend(extra.as_object().unwrap().clone());
        // Functions belong to `tester` unless they name another owner.
        let owner = fields
            .remove("owner")
            .map_or("tester".to_owned(), |o| o.as_str().unwrap().to_owned());
        let user = crate::model::User {
            id: owner.clone(),
            username: owner.clone(),
            role: crate::model::Role::User,
            created_at: chrono::Utc::now(),
        };
        match store.insert_user(&user, None).await {
            Ok(()) | Err(crate::store::StoreError::Conflict(_)) => {}
            Err(e) => panic!("{e}"),
        }
        registry
            .create(&owner, serde_json::from_value(input).unwrap())
            .await
            .unwrap();
    }
    tokio::time::pause();
    let runtime = FakeRuntime::default();
    let host = runtime.host.clone();
    let runtime: Arc<dyn Runtime> = Arc::new(runtime);
    let writer = InvocationWriter::discarding();
    let engine = Engine::start(
        BTreeMap::from([(RuntimeKind::Sandbox, Ok(runtime))]),
        registry.clone(),
        writer,
        Arc::new(Quiet),
        config.limits.clone(),
        limits,
        quotas.clone(),
    )
    .await;
    Harness {
        engine,
        registry,
        quotas,
        host,
        _data_dir: data_dir,
    }
}

impl Harness {
    fn function(&self, name: &str) -> Arc<Function> {
        self.registry.resolve(Scope::All, name).unwrap()
    }

    async fn try_invoke(&self, name: &str, event: Value) -> Result<Arc<Invocation>, InvokeError> {
        let request = InvokeRequest {
            event: serde_json::value::to_raw_value(&event).unwrap(),
            args: Vec::new(),
            runtime: None,
        };
        self.engine.invoke(self.function(name), request).await
    }

    async fn invoke(&self, name: &str, event: Value) -> Arc<Invocation> {
        self.try_invoke(name, event).await.unwrap()
    }

    /// How many instances the pool holds in `state`.
    fn pool_count(&self, state: &str) -> usize {
        let snapshot = self.engine.pool();
        snapshot
            .instances
            .iter()
            .filter(|c| c.state == state)
            .map(|c| c.count)
            .sum()
    }
}

/// Which fake instance answered.
fn instance_of(invocation: &Arc<Invocation>) -> u64 {
    let result: Value = serde_json::from_str(invocation.result.as_ref().unwrap().get()).unwrap();
    result["instance"].as_u64().unwrap()
}

/// Waits (in virtual time, up to ten minutes of it) until `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..60_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn an_idle_instance_is_frozen_and_thawed_for_the_next_invocation() {
    let h = harness(|_| {}, &[("f", json!({}))]).await;
    let first = h.invoke("f", json!({})).await;
    assert_eq!(
        (first.status, first.start),
        (Status::Success, Some(StartKind::Cold))
    );
    let process = h.host.alive().pop().unwrap();
    until("frozen once idle", || process.is_frozen()).await;

    // A frozen fake agent answers nothing: this answer means it was thawed.
    let second = h.invoke("f", json!({"print": "hi"})).await;
    assert_eq!(
        (second.status, second.start),
        (Status::Success, Some(StartKind::Warm))
    );
    assert_eq!(instance_of(&second), instance_of(&first));
    assert_eq!(second.logs, "hi");
    until("frozen again", || process.is_frozen()).await;
}

#[tokio::test]
async fn an_instance_taken_again_soon_is_not_frozen_in_between() {
    let h = harness(|_| {}, &[("f", json!({}))]).await;
    for _ in 0..5 {
        h.invoke("f", json!({})).await;
        // Less than FREEZE_AFTER (10 ms) apart.
        tokio::time::advance(Duration::from_millis(5)).await;
    }
    assert_eq!(h.host.freezes.load(Ordering::SeqCst), 0);
    until("frozen once idle long enough", || {
        h.host.freezes.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn a_generic_instance_waits_frozen_and_is_thawed_to_load() {
    let h = harness(|config| config.pool.prewarm = 1, &[("f", json!({}))]).await;
    until("the generic instances are frozen", || {
        let alive = h.host.alive();
        alive.len() >= 2 && alive.iter().all(|p| p.is_frozen())
    })
    .await;
    // A frozen fake agent answers nothing: loading the code means it was thawed.
    let first = h.invoke("f", json!({})).await;
    assert_eq!(
        (first.status, first.start),
        (Status::Success, Some(StartKind::Prewarmed))
    );
}

#[tokio::test]
async fn a_failed_invocation_ends_its_instance() {
    let h = harness(
        |_| {},
        &[
            ("f", json!({"timeout": 2})),
            ("broken", json!({"code": "fail"})),
        ],
    )
    .await;
    for (action, status, error_type) in [
        ("hang", Status::Timeout, "Runtime.Timeout"),
        ("die", Status::Crashed, "Runtime.ExitError"),
        ("oom", Status::OutOfMemory, "Runtime.OutOfMemory"),
        ("garbage", Status::Crashed, "Runtime.ProtocolError"),
    ] {
        let failed = h.invoke("f", json!({"do": action})).await;
        assert_eq!(failed.status, status, "{action}: {failed:?}");
        assert_eq!(failed.error.as_ref().unwrap().error_type, error_type);
        until("the failed instance is killed", || {
            h.host.alive().is_empty()
        })
        .await;
        assert_eq!(h.pool_count("idle"), 0, "{action}: never reused");
    }
    let failed = h.invoke("broken", json!({})).await;
    assert_eq!(failed.status, Status::Error);
    assert_eq!(failed.error.as_ref().unwrap().error_type, "Fake.LoadError");
    until("the instance that failed to load is killed", || {
        h.host.alive().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_slow_boot_counts_as_init_and_a_boot_past_its_timeout_fails() {
    let h = harness(|_| {}, &[("f", json!({}))]).await;
    *crate::sync::lock(&h.host.boot_delay) = Duration::from_secs(3);
    let slow = h.invoke("f", json!({})).await;
    assert_eq!(slow.status, Status::Success);
    assert!(slow.init_ms.unwrap() >= 3000.0, "{:?}", slow.init_ms);

    h.engine.retire(&h.function("f").id);
    *crate::sync::lock(&h.host.boot_delay) = super::BOOT_TIMEOUT + Duration::from_secs(1);
    let too_slow = h.invoke("f", json!({})).await;
    assert_eq!(too_slow.status, Status::Crashed);
    assert_eq!(
        too_slow.error.as_ref().unwrap().error_type,
        "Runtime.StartError"
    );

    *crate::sync::lock(&h.host.boot_delay) = Duration::ZERO;
    h.host.garbage_hello.store(true, Ordering::SeqCst);
    let garbled = h.invoke("f", json!({})).await;
    assert_eq!(
        garbled.error.as_ref().unwrap().error_type,
        "Runtime.StartError"
    );
    until("no instance is left", || h.host.alive().is_empty()).await;
}

#[tokio::test]
async fn idle_instances_expire_after_their_keep_alive() {
    let h = harness(|_| {}, &[("f", json!({"keep_alive_secs": 60}))]).await;
    h.invoke("f", json!({})).await;
    let began = tokio::time::Instant::now();
    until("the idle instance expires", || h.host.alive().is_empty()).await;
    let kept = began.elapsed();
    assert!(
        kept >= Duration::from_secs(60) && kept < Duration::from_secs(62),
        "{kept:?}"
    );
    assert_eq!(h.engine.pool().expired, 1);
    let again = h.invoke("f", json!({})).await;
    assert_eq!(again.start, Some(StartKind::Cold));
}

#[tokio::test]
async fn the_least_recently_used_idle_instance_makes_room_at_the_cap() {
    let functions = [("a", json!({})), ("b", json!({})), ("c", json!({}))];
    let h = harness(|config| config.pool.max_instances = 2, &functions).await;
    // A second apart: on a paused clock, invocations would all happen at the same instant.
    let a = instance_of(&h.invoke("a", json!({})).await);
    tokio::time::advance(Duration::from_secs(1)).await;
    let b = instance_of(&h.invoke("b", json!({})).await);
    tokio::time::advance(Duration::from_secs(1)).await;
    h.invoke("a", json!({})).await; // b is now the least recently used
    tokio::time::advance(Duration::from_secs(1)).await;
    let began = tokio::time::Instant::now();
    let c = h.invoke("c", json!({})).await;
    assert_eq!(c.status, Status::Success);
    until("b's instance is evicted", || h.host.is_gone(b)).await;
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "at once, not at keep-alive's end"
    );
    assert_eq!(h.engine.pool().evicted, 1);
    assert_eq!(h.host.alive().len(), 2);
    let warm = h.invoke("a", json!({})).await;
    assert_eq!((warm.start, instance_of(&warm)), (Some(StartKind::Warm), a));
}

#[tokio::test]
async fn a_min_warm_instance_killed_while_frozen_is_replaced() {
    let h = harness(|_| {}, &[("f", json!({"min_warm": 1}))]).await;
    until("one instance is provisioned and frozen", || {
        h.host.alive().iter().filter(|p| p.is_frozen()).count() == 1
    })
    .await;
    let killed = h.host.alive().pop().unwrap();
    killed.kill();
    until("another instance replaces it", || {
        let alive = h.host.alive();
        !killed.is_alive() && alive.len() == 1 && alive[0].id != killed.id && alive[0].is_frozen()
    })
    .await;
    let replacement = h.host.alive()[0].id;
    let warm = h.invoke("f", json!({})).await;
    assert_eq!(
        (warm.start, instance_of(&warm)),
        (Some(StartKind::Warm), replacement)
    );
}

#[tokio::test]
async fn the_concurrency_gate_queues_then_throttles() {
    let configure = |config: &mut Config| {
        config.pool.max_queue = 1;
        config.pool.queue_timeout_ms = 5000;
    };
    let h = Arc::new(harness(configure, &[("f", json!({"max_concurrency": 1}))]).await);
    let running = tokio::spawn({
        let h = h.clone();
        async move { h.invoke("f", json!({"sleep_ms": 1000})).await }
    });
    until("the first invocation runs", || h.pool_count("busy") == 1).await;
    let queued = tokio::spawn({
        let h = h.clone();
        async move { h.invoke("f", json!({})).await }
    });
    until("the second waits in the queue", || {
        h.engine.pool().queue_length == 1
    })
    .await;
    match h.try_invoke("f", json!({})).await {
        Err(InvokeError::Throttled(refused)) => assert_eq!(refused.status, Status::Throttled),
        other => panic!("a full queue throttles at once: {other:?}"),
    }
    assert_eq!(running.await.unwrap().status, Status::Success);
    let queued = queued.await.unwrap();
    assert_eq!(
        (queued.status, queued.start),
        (Status::Success, Some(StartKind::Warm))
    );

    // A queued invocation waits at most the queue timeout.
    let running = tokio::spawn({
        let h = h.clone();
        async move { h.invoke("f", json!({"sleep_ms": 60_000})).await }
    });
    until("the long invocation runs", || h.pool_count("busy") == 1).await;
    let began = tokio::time::Instant::now();
    assert!(matches!(
        h.try_invoke("f", json!({})).await,
        Err(InvokeError::Throttled(_))
    ));
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_millis(5100),
        "{waited:?}"
    );
    running.abort();
}

#[tokio::test]
async fn an_update_retires_the_old_versions_idle_instances() {
    let h = harness(|_| {}, &[("f", json!({}))]).await;
    let old = instance_of(&h.invoke("f", json!({})).await);
    tokio::time::resume(); // the update is written to SQLite
    let input = serde_json::from_value(json!({"code": "fake, version 2"})).unwrap();
    let (_, updated) = h.registry.update(Scope::All, "f", input).await.unwrap();
    tokio::time::pause();
    h.engine.retire(&updated.id);
    until("the old version's instance is killed", || {
        h.host.is_gone(old)
    })
    .await;
    let new = h.invoke("f", json!({})).await;
    assert_eq!((new.version, new.start), (2, Some(StartKind::Cold)));
    assert_ne!(instance_of(&new), old);
}

#[tokio::test]
async fn an_instance_whose_thaw_fails_is_killed_not_used() {
    let h = harness(|_| {}, &[("f", json!({}))]).await;
    let first = instance_of(&h.invoke("f", json!({})).await);
    until("frozen", || h.host.alive().iter().any(|p| p.is_frozen())).await;
    h.host.fail_thaw.store(true, Ordering::SeqCst);
    let next = h.invoke("f", json!({})).await;
    assert_eq!(
        (next.status, next.start),
        (Status::Success, Some(StartKind::Cold))
    );
    assert_ne!(instance_of(&next), first);
    until("the unthawable instance is killed", || {
        h.host.is_gone(first)
    })
    .await;
}

#[tokio::test]
async fn an_instance_that_cannot_be_frozen_is_killed_not_kept() {
    let h = harness(|_| {}, &[("f", json!({}))]).await;
    h.host.fail_freeze.store(true, Ordering::SeqCst);
    let first = instance_of(&h.invoke("f", json!({})).await);
    until("the unfreezable instance is killed", || {
        h.host.alive().is_empty()
    })
    .await;
    let next = h.invoke("f", json!({})).await;
    assert_eq!(next.start, Some(StartKind::Cold));
    assert_ne!(instance_of(&next), first);
}

#[test]
fn scripts_printing_json_return_json() {
    use super::script_result;
    assert_eq!(script_result("{\"sum\":15}\n").get(), "{\"sum\":15}");
    assert_eq!(script_result("Hello, Alice!\n").get(), "\"Hello, Alice!\"");
    assert_eq!(script_result("").get(), "\"\"");
    assert_eq!(script_result("two\nlines\n").get(), "\"two\\nlines\"");
}

/// The error type of a refused invocation.
fn refusal(result: Result<Arc<Invocation>, InvokeError>) -> String {
    match result {
        Err(InvokeError::Throttled(refused)) => refused.error.as_ref().unwrap().error_type.clone(),
        other => panic!("expected a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn another_users_min_warm_instances_give_way_to_a_user_below_their_share() {
    // b's four provisioned instances fill the pool; a holds nothing, so a is below a fair share.
    let configure = |config: &mut Config| {
        config.pool.max_instances = 4;
        config.quotas.concurrency = 4;
    };
    let functions = [
        ("hog", json!({"owner": "b", "min_warm": 4})),
        ("f", json!({"owner": "a"})),
    ];
    let h = harness(configure, &functions).await;
    until("b's instances fill the pool", || h.host.alive().len() == 4).await;
    let began = tokio::time::Instant::now();
    let mine = h.invoke("f", json!({})).await;
    assert_eq!(
        (mine.status, mine.start),
        (Status::Success, Some(StartKind::Cold))
    );
    assert!(began.elapsed() < Duration::from_millis(100), "at once");
    assert_eq!(h.engine.pool().evicted, 1);
    // b, above a fair share of 2 instances, gets none back while a holds theirs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.host.alive().len(), 4);
    assert_eq!(
        h.invoke("f", json!({})).await.start,
        Some(StartKind::Warm),
        "a's instance was kept"
    );
}

#[tokio::test]
async fn min_warm_is_held_to_the_owners_quota_also_for_functions_stored_before() {
    let functions = [
        ("first", json!({"owner": "b", "min_warm": 2})),
        ("second", json!({"owner": "b", "min_warm": 2})),
    ];
    let h = harness(|_| {}, &functions).await;
    until("four instances are provisioned", || {
        h.host.alive().len() == 4
    })
    .await;
    // The quota is lowered (as after a restart with new settings): no more are kept, and
    // those that go are not replaced beyond it.
    let lower = crate::quotas::QuotaOverrides {
        min_warm: Some(3),
        ..Default::default()
    };
    h.quotas.set("b", false, &lower);
    for process in h.host.alive() {
        process.kill();
    }
    until("three are provisioned again", || {
        h.host.alive().iter().filter(|p| p.is_frozen()).count() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.host.alive().len(), 3);
}

#[tokio::test]
async fn a_users_concurrency_quota_throttles_them_not_others() {
    let configure = |config: &mut Config| {
        config.quotas.concurrency = 2;
        config.pool.queue_timeout_ms = 1000;
    };
    let functions = [
        ("slow1", json!({"owner": "b", "timeout": 60})),
        ("slow2", json!({"owner": "b", "timeout": 60})),
        ("slow3", json!({"owner": "b", "timeout": 60})),
        ("f", json!({"owner": "a"})),
    ];
    let h = Arc::new(harness(configure, &functions).await);
    let mut running = Vec::new();
    for name in ["slow1", "slow2"] {
        let h = h.clone();
        running.push(tokio::spawn(async move {
            h.invoke(name, json!({"sleep_ms": 30_000})).await
        }));
    }
    until("b's two invocations run", || h.pool_count("busy") == 2).await;
    assert_eq!(
        refusal(h.try_invoke("slow3", json!({})).await),
        "QuotaExceeded"
    );
    assert_eq!(h.invoke("f", json!({})).await.status, Status::Success);
    for task in running {
        task.abort();
    }
}

#[tokio::test]
async fn a_users_memory_quota_throttles_them_after_their_own_idle_instances_go() {
    let configure = |config: &mut Config| {
        config.quotas.memory_mb = 1024;
        config.pool.queue_timeout_ms = 1000;
    };
    let functions = [
        (
            "big1",
            json!({"owner": "b", "memory_mb": 512, "timeout": 60}),
        ),
        (
            "big2",
            json!({"owner": "b", "memory_mb": 512, "timeout": 60}),
        ),
        (
            "big3",
            json!({"owner": "b", "memory_mb": 512, "timeout": 60}),
        ),
        ("f", json!({"owner": "a", "memory_mb": 1024})),
    ];
    let h = Arc::new(harness(configure, &functions).await);
    let first = instance_of(&h.invoke("big1", json!({})).await);
    let busy = tokio::spawn({
        let h = h.clone();
        async move { h.invoke("big2", json!({"sleep_ms": 30_000})).await }
    });
    until("big2 runs", || h.pool_count("busy") == 1).await;
    // b's quota is full (big1 idle, big2 busy): big1's idle instance makes way for big3.
    assert_eq!(h.invoke("big3", json!({})).await.status, Status::Success);
    until("big1's instance is evicted", || h.host.is_gone(first)).await;
    // Now big2 and big3 hold it; only big2 is busy, so big3's idle instance goes for big1.
    assert_eq!(h.invoke("big1", json!({})).await.status, Status::Success);
    let blocked = tokio::spawn({
        let h = h.clone();
        async move { h.invoke("big1", json!({"sleep_ms": 30_000})).await }
    });
    until("big1 and big2 run", || h.pool_count("busy") == 2).await;
    assert_eq!(
        refusal(h.try_invoke("big3", json!({})).await),
        "QuotaExceeded"
    );
    // a is not held to b's quota.
    assert_eq!(h.invoke("f", json!({})).await.status, Status::Success);
    busy.abort();
    blocked.abort();
}

#[tokio::test]
async fn a_flood_is_read_at_a_pace_once_past_a_megabyte() {
    use crate::engine::output::{PACE, PACE_AFTER};
    let h = harness(|_| {}, &[("f", json!({"timeout": 60}))]).await;
    h.invoke("f", json!({})).await;
    let chatty = "x".repeat(512 * 1024);
    let began = tokio::time::Instant::now();
    let quick = h.invoke("f", json!({"print": chatty})).await;
    assert_eq!(quick.status, Status::Success);
    assert!(began.elapsed() < PACE, "half a megabyte is read at once");

    let flood = format!("{}the end", "y".repeat(3 * 1024 * 1024));
    let began = tokio::time::Instant::now();
    let flooded = h.invoke("f", json!({"print": flood})).await;
    let took = began.elapsed();
    assert_eq!(flooded.status, Status::Success);
    assert!(flooded.logs.ends_with("the end"), "the tail is kept");
    // Past the first megabyte, one 64 KiB read every PACE: 32 of them for the other two.
    let paced = (3 * 1024 * 1024 - PACE_AFTER) / (64 * 1024);
    assert!(took >= PACE * (paced as u32 - 2), "{took:?}");
    assert!(took <= PACE * (paced as u32 + 8), "{took:?}");

    // The next invocation starts at full speed again.
    let began = tokio::time::Instant::now();
    h.invoke("f", json!({"print": "z".repeat(512 * 1024)}))
        .await;
    assert!(began.elapsed() < PACE);
}
