//! A whole server started in this process on a fresh temporary data dir and a free port, with
//! the first administrator's token it wrote there: what the integration tests (`tests/common`)
//! and `kindling bench` both run against. (One file, compiled into each of them; not part of the
//! library.)

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use kindling::auth::ADMIN_TOKEN_FILE;
use kindling::config::Config;
use tokio::sync::oneshot;

/// A running server.
pub struct Spawned {
    pub addr: SocketAddr,
    pub admin_token: String,
    /// Its data dir: the temporary one, unless `configure` chose another.
    pub data_dir: PathBuf,
    _temporary: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Builds the server from `base` — on a new temporary data dir, at 127.0.0.1 on a free port — as
/// `configure` changes it, and starts serving.
pub async fn spawn(base: Config, configure: impl FnOnce(&mut Config)) -> anyhow::Result<Spawned> {
    let temporary = tempfile::tempdir()?;
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: temporary.path().to_path_buf(),
        ..base
    };
    configure(&mut config);
    let data_dir = config.data_dir.clone();
    let token_file = data_dir.join(ADMIN_TOKEN_FILE);
    let server = kindling::server::build(config).await?;
    let addr = server.local_addr();
    let admin_token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?
        .trim()
        .to_owned();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Ok(Spawned {
        addr,
        admin_token,
        data_dir,
        _temporary: temporary,
        stop: Some(stop),
        serving: Some(serving),
    })
}

impl Spawned {
    /// Stops the server the way Ctrl-C does and waits until it has shut down.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await??;
        }
        Ok(())
    }
}
