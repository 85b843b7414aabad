//! A function version and the vocabulary it is described in: its language and runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A language functions can be written in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Javascript,
}

named_enum!(Language, "language", {
    Python => "python" | "python3" | "py",
    Javascript => "javascript" | "js" | "node" | "nodejs",
});

/// The kinds of runtime a function can ask for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// The host's interpreters in Linux namespaces (the embedded default).
    Sandbox,
    /// A Docker container (runc).
    Docker,
    /// A Docker container under gVisor (runsc).
    Gvisor,
}

named_enum!(RuntimeKind, "runtime", {
    Sandbox => "sandbox",
    Docker => "docker",
    Gvisor => "gvisor",
});

/// One version of a function: everything needed to run it. Immutable — an update makes a new
/// `Function` with `version + 1`, and invocations already running keep the one they started with.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Function {
    #[schema(value_type = String)]
    pub id: Arc<str>,
    pub name: String,
    #[serde(skip)]
    pub owner: String,
    pub language: Language,
    /// Name of the handler the agent calls (Python or JavaScript identifier).
    pub handler: String,
    /// Path under `/run` that invokes the function over plain HTTP, if any.
    pub route: Option<String>,
    /// Seconds an invocation may run before it is killed.
    pub timeout: u32,
    pub memory_mb: u32,
    pub env: BTreeMap<String, String>,
    /// Runtime used when an invocation does not ask for one.
    pub runtime: RuntimeKind,
    /// Most invocations running at once; `None` is the server's default.
    pub max_concurrency: Option<u32>,
    /// Specialised instances kept ready at all times (provisioned concurrency).
    pub min_warm: u32,
    /// How long an idle instance is kept; `None` is the server's default.
    pub keep_alive_secs: Option<u32>,
    pub version: i64,
    pub code_sha256: String,
    pub code_size: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What identifies the code an instance has loaded: an instance only ever serves this.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionKey {
    pub function_id: Arc<str>,
    pub version: i64,
}

impl Function {
    pub fn version_key(&self) -> VersionKey {
        VersionKey {
            function_id: self.id.clone(),
            version: self.version,
        }
    }
}
