//! Builds the whole server from its settings, binds it, and runs it until shut down.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::trace::TraceLayer;

use crate::api::{self, AppState};
use crate::auth::{Accounts, AuthError};
use crate::blobs::Blobs;
use crate::config::{Config, RetentionConfig};
use crate::dashboard;
use crate::engine::{Engine, PoolLimits, RuntimeSlot};
use crate::functions::Registry;
use crate::metrics::prometheus::{Exposition, Recorder};
use crate::model::{Role, RuntimeKind};
use crate::quotas::QuotaTable;
use crate::retention::Retention;
use crate::runtimes::docker::DockerRuntime;
use crate::runtimes::sandbox::SandboxRuntime;
use crate::runtimes::uids::UidPool;
use crate::runtimes::{Runtime, server_id};
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
    #[error("cannot open the accounts: {0}")]
    Accounts(#[from] AuthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built server, bound to its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    /// Where it listens (the port chosen when the settings said 0).
    addr: SocketAddr,
    state: AppState,
    retention: RetentionConfig,
}

/// Opens the data dir, the store and the runtimes, and binds the listener.
pub async fn build(config: Config) -> Result<Server, StartupError> {
    let data_dir = &config.data_dir;
    let data_dir_error = |source| StartupError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    crate::data_dir::open(data_dir).map_err(data_dir_error)?;
    let store = Store::open(data_dir).await?;
    let blobs = Blobs::open(data_dir.join("blobs")).map_err(data_dir_error)?;
    // Before the registry loads the functions: the first start adopts functions from before
    // accounts existed.
    let accounts = Accounts::open(
        store.clone(),
        data_dir,
        config.auth,
        config.accounts.clone(),
    )
    .await?;
    if !config.auth {
        tracing::warn!(
            "authentication is off (--no-auth): every request acts as the first administrator; use this for local development only"
        );
    }
    let pool = PoolLimits::new(
        &config.pool,
        config.instance,
        config.limits.default_memory_mb,
    );
    // A function that needs more memory than the whole pool may reserve could never run.
    let mut limits = config.limits.clone();
    limits.max_memory_mb = limits
        .max_memory_mb
        .min(u32::try_from(pool.memory_budget_mb).unwrap_or(u32::MAX));
    // Every user's quotas: the accounts fill in each user's role and overrides; the registry
    // and the engine hold users to them.
    let quotas = Arc::new(QuotaTable::new(
        &config.quotas,
        pool.memory_budget_mb,
        config.pool.max_instances,
    ));
    let mut overrides = store.quota_overrides(None).await?;
    for user in store.users().await? {
        let changed = overrides.remove(&user.id).unwrap_or_default();
        quotas.set(&user.id, user.role == Role::Admin, &changed);
    }
    let registry = Arc::new(
        Registry::open(
            store.clone(),
            blobs,
            limits.clone(),
            config.default_runtime,
            quotas.clone(),
        )
        .await?,
    );
    let writer = InvocationWriter::start(store.clone());
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::start(
        open_runtimes(&config),
        registry.clone(),
        writer,
        recorder.clone(),
        limits.clone(),
        pool,
        quotas.clone(),
    )
    .await;
    for (kind, runtime) in engine.runtimes() {
        match runtime {
            Ok(_) => tracing::info!(runtime = %kind, "runtime ready"),
            Err(reason) if kind == config.default_runtime => {
                tracing::error!(runtime = %kind, "the default runtime is unavailable: {reason}")
            }
            Err(reason) => tracing::info!(runtime = %kind, "runtime unavailable: {reason}"),
        }
    }
    let bind_error = |source| StartupError::Bind {
        addr: config.listen,
        source,
    };
    let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok(Server {
        listener,
        addr,
        state: AppState {
            registry,
            accounts: Arc::new(accounts),
            exposition: Arc::new(Exposition::new(&recorder, {
                let engine = engine.clone();
                move || engine.pool()
            })),
            host: Arc::default(),
            quotas,
            engine,
            store,
            limits,
            default_runtime: config.default_runtime,
        },
        retention: config.retention,
    })
}

/// Every runtime kind, or the reason this server cannot offer it. All of them hand out uids
/// from one pool: they share the host's kernel.
fn open_runtimes(config: &Config) -> BTreeMap<RuntimeKind, RuntimeSlot> {
    let uids = UidPool::open(&config.isolation, &server_id(&config.data_dir))
        .map(Arc::new)
        .map_err(|e| e.to_string());
    RuntimeKind::ALL
        .into_iter()
        .map(|kind| {
            let runtime: RuntimeSlot = if !config.runtimes.contains(&kind) {
                Err("it is not enabled in this server's configuration (`runtimes`)".to_owned())
            } else if let Err(reason) = &uids {
                Err(reason.clone())
            } else if kind == RuntimeKind::Sandbox {
                uids.clone().and_then(|uids| {
                    SandboxRuntime::new(&config.sandbox, &config.data_dir, uids)
                        .map(|sandbox| Arc::new(sandbox) as Arc<dyn Runtime>)
                        .map_err(|e| e.to_string())
                })
            } else {
                uids.clone().map(|uids| {
                    Arc::new(DockerRuntime::new(
                        kind,
                        &config.docker,
                        &config.data_dir,
                        uids,
                    )) as Arc<dyn Runtime>
                })
            };
            (kind, runtime)
        })
        .collect()
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then lets requests and invocations in flight finish,
    /// kills every instance and closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let engine = self.state.engine.clone();
        let store = self.state.store.clone();
        let retention =
            Retention::start(store.clone(), self.state.registry.clone(), self.retention);
        let app = api::router(self.state.clone())
            .merge(dashboard::routes().with_state(self.state))
            .layer(TraceLayer::new_for_http());
        let app = tower::util::MapRequestLayer::new(api::trim_trailing_slash).layer(app);
        tracing::info!(addr = %self.addr, "kindling is listening");
        // The peer's address goes with each request: sign-in attempts are counted per client.
        let app = ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        tracing::info!("shutting down: waiting for invocations in flight");
        // Every invocation awaited its record, so once they are done the store can close.
        engine.shutdown().await;
        retention.stop().await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
