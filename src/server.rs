//! Builds the whole server from its settings, binds it, and runs it until shut down.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::trace::TraceLayer;

use crate::agents::Language;
use crate::api::{self, AppState};
use crate::blobs::Blobs;
use crate::config::Config;
use crate::engine::{Engine, Instance, RuntimeSlot};
use crate::functions::Registry;
use crate::runtimes::sandbox::SandboxRuntime;
use crate::runtimes::{InstanceLimits, InstanceSpec, Runtime, RuntimeKind};
use crate::store::{InvocationWriter, Store, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built server, bound to its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

/// Opens the data dir, the store and the runtimes, and binds the listener.
pub async fn build(config: Config) -> Result<Server, StartupError> {
    let data_dir = &config.data_dir;
    let data_dir_error = |source| StartupError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(data_dir_error)?;
    let store = Store::open(data_dir).await?;
    let blobs = Blobs::open(data_dir.join("blobs")).map_err(data_dir_error)?;
    let registry = Arc::new(
        Registry::open(
            store.clone(),
            blobs,
            config.limits.clone(),
            config.default_runtime,
        )
        .await?,
    );
    let writer = InvocationWriter::start(store.clone());
    let runtimes = open_runtimes(&config).await;
    let engine = Engine::new(runtimes, registry.clone(), writer, config.limits.clone());
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
    Ok(Server {
        listener,
        state: AppState {
            registry,
            engine,
            store,
            limits: config.limits,
            default_runtime: config.default_runtime,
        },
    })
}

/// Every runtime kind, usable or with the reason it is not; logs each reason once.
async fn open_runtimes(config: &Config) -> BTreeMap<RuntimeKind, RuntimeSlot> {
    let mut runtimes = BTreeMap::new();
    let sandbox = match SandboxRuntime::new(&config.sandbox, &config.data_dir) {
        Ok(sandbox) => {
            let sandbox: Arc<dyn Runtime> = Arc::new(sandbox);
            sandbox.reap_orphans().await;
            probe(sandbox.as_ref()).await.map(|()| sandbox)
        }
        Err(reason) => Err(reason),
    };
    runtimes.insert(RuntimeKind::Sandbox, sandbox);
    for kind in [RuntimeKind::Docker, RuntimeKind::Gvisor] {
        runtimes.insert(
            kind,
            Err("this build of kindling does not include it yet".to_owned()),
        );
    }
    for (kind, slot) in &runtimes {
        if let Err(reason) = slot {
            if *kind == config.default_runtime {
                tracing::error!(runtime = %kind, "the default runtime is unavailable: {reason}");
            } else {
                tracing::info!(runtime = %kind, "runtime unavailable: {reason}");
            }
        }
    }
    runtimes
}

/// Starts and kills one instance, so that a host that cannot run sandboxes says so at start-up
/// rather than at the first invocation.
async fn probe(runtime: &dyn Runtime) -> Result<(), String> {
    let spec = InstanceSpec {
        id: 0,
        language: Language::Python,
        limits: InstanceLimits { memory_mb: 128 },
    };
    let began = Instant::now();
    let instance = Instance::start(runtime, spec, began + Duration::from_secs(10))
        .await
        .map_err(|e| format!("a test instance failed: {e}"))?;
    tracing::info!(runtime = %runtime.kind(), elapsed_ms = began.elapsed().as_millis() as u64, "runtime ready");
    instance.kill().await;
    Ok(())
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` resolves, then lets requests and invocations in flight finish,
    /// kills every instance and closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let engine = self.state.engine.clone();
        let store = self.state.store.clone();
        let app = api::router(self.state).layer(TraceLayer::new_for_http());
        let app = tower::util::MapRequestLayer::new(api::trim_trailing_slash).layer(app);
        tracing::info!(addr = %self.listener.local_addr()?, "kindling is listening");
        axum::serve(self.listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(shutdown)
            .await?;
        tracing::info!("shutting down: waiting for invocations in flight");
        // Every invocation awaited its record, so once they are done the store can close.
        engine.shutdown().await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
