//! An in-tree runtime for tests of the engine and the pool: the real agents as plain child
//! processes, with no isolation and no limits. Never offered to users.

use std::path::PathBuf;
use std::process::Stdio;

use futures::future::BoxFuture;

use super::{InstanceControl, InstanceSpec, Runtime, Spawned, StartError, Usage};

use crate::model::{Language, RuntimeKind};

pub struct FakeRuntime {
    pub python: PathBuf,
    pub node: PathBuf,
    /// The kind it reports, so tests can stand it in for any slot.
    pub kind: RuntimeKind,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self {
            python: PathBuf::from("/usr/bin/python3"),
            node: PathBuf::from("/usr/bin/node"),
            kind: RuntimeKind::Sandbox,
        }
    }
}

struct FakeInstance {
    child: tokio::process::Child,
}

impl InstanceControl for FakeInstance {
    fn set_memory_limit(&self, _memory_mb: u32) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn out_of_memory(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }

    /// Plain child processes have no cgroup to read.
    fn usage(&self) -> Option<Usage> {
        None
    }

    fn kill(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.child.kill().await;
        })
    }
}

impl Runtime for FakeRuntime {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn supports(&self, _language: Language) -> Result<(), String> {
        Ok(())
    }

    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<Spawned, StartError>> {
        Box::pin(async move {
            let interpreter = match spec.language {
                Language::Python => &self.python,
                Language::Javascript => &self.node,
            };
            let argv = spec.language.agent_command(&interpreter.to_string_lossy());
            let child = tokio::process::Command::new(&argv[0])
                .args(&argv[1..])
                .env_clear()
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            Ok(Spawned::from_child(child, |child| FakeInstance { child })?)
        })
    }

    fn reap_orphans(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
