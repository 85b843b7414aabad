//! Keeps what the server stores bounded: invocation records beyond their age or count are
//! rolled up into per-minute figures and deleted (`store::retention`), rollups beyond their
//! own age are deleted, and code blobs no function version uses are removed. One task, owned by
//! the server, runs it at start-up and every `retention.interval_secs` until shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;
use crate::functions::Registry;
use crate::store::Store;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The retention task; [`Retention::stop`] ends it.
pub struct Retention {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Retention {
    /// Starts the task: one pass now, then one every `config.interval_secs`.
    pub fn start(store: Store, registry: Arc<Registry>, config: RetentionConfig) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let period = Duration::from_secs(config.interval_secs.max(1));
                loop {
                    tokio::select! {
                        _ = pass(&store, &registry, &config) => {}
                        _ = stop.cancelled() => return,
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(period) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// Ends the task, mid-pass if need be (each chunk it prunes is its own transaction).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// One pass; what fails is logged and tried again at the next.
async fn pass(store: &Store, registry: &Registry, config: &RetentionConfig) {
    let now = Utc::now().timestamp_millis();
    let oldest_kept = match config.invocation_days {
        0 => i64::MIN,
        days => now - i64::from(days) * DAY_MS,
    };
    let pruned = match store
        .retention_cutoff(oldest_kept, config.max_invocations)
        .await
    {
        Ok(cutoff) => store.prune_invocations(cutoff).await,
        Err(e) => Err(e),
    };
    match pruned {
        Ok(0) => {}
        Ok(records) => tracing::info!(
            records,
            "retention rolled up and deleted invocation records"
        ),
        Err(e) => tracing::error!(error = %e, "retention could not prune invocation records"),
    }
    if config.rollup_days > 0 {
        let cutoff = now - i64::from(config.rollup_days) * DAY_MS;
        match store.prune_rollups(cutoff).await {
            Ok(0) => {}
            Ok(minutes) => tracing::info!(minutes, "retention deleted old per-minute figures"),
            Err(e) => tracing::error!(error = %e, "retention could not prune per-minute figures"),
        }
    }
    match registry.collect_garbage().await {
        Ok(0) => {}
        Ok(blobs) => tracing::info!(blobs, "retention removed code no version uses"),
        Err(e) => tracing::error!(error = %e, "retention could not collect unused code"),
    }
}
