//! An invocation as recorded: how it ended, how its instance was obtained, what it returned or
//! raised.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::RuntimeKind;

/// The final (or, for asynchronous invocations, current) state of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The function returned a value.
    Success,
    /// The function raised an error, or its code could not be loaded.
    Error,
    /// The function ran past its timeout; its instance was killed.
    Timeout,
    /// The function exceeded its memory limit; the kernel killed it.
    OutOfMemory,
    /// The instance died or broke the protocol.
    Crashed,
    /// Refused because the function was at its concurrency limit.
    Throttled,
}

named_enum!(Status, "status", {
    Success => "success",
    Error => "error",
    Timeout => "timeout",
    OutOfMemory => "out_of_memory",
    Crashed => "crashed",
    Throttled => "throttled",
});

/// How the instance that ran an invocation was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartKind {
    /// An idle instance already specialised to this function version.
    Warm,
    /// A pre-started generic instance, specialised on the spot.
    Prewarmed,
    /// A new instance, started and specialised on the spot.
    Cold,
}

named_enum!(StartKind, "start kind", {
    Warm => "warm",
    Prewarmed => "prewarmed",
    Cold => "cold",
});

/// What a function returned or raised, in AWS Lambda's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionError {
    pub error_type: String,
    pub error_message: String,
    #[serde(default)]
    pub stack_trace: Vec<String>,
}

impl FunctionError {
    /// An error raised by the platform rather than by the function's own code.
    pub fn platform(error_type: &str, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.to_owned(),
            error_message: message.into(),
            stack_trace: Vec::new(),
        }
    }
}

/// One invocation, as stored and as answered over the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invocation {
    pub invocation_id: String,
    #[schema(value_type = String)]
    pub function_id: Arc<str>,
    pub function_name: String,
    #[serde(skip)]
    pub owner: String,
    /// The function version that ran.
    pub version: i64,
    pub runtime: RuntimeKind,
    pub status: Status,
    /// What the function returned (`null` unless `status` is `success`).
    #[schema(value_type = Object)]
    pub result: Option<Box<RawValue>>,
    /// Why it failed, in AWS Lambda's shape.
    pub error: Option<FunctionError>,
    /// The last 64 KiB of what the function printed.
    pub logs: String,
    /// How its instance was obtained; `null` when it never ran (throttled).
    pub start: Option<StartKind>,
    pub started_at: DateTime<Utc>,
    /// Time spent running the handler.
    pub duration_ms: f64,
    /// Time spent starting and specialising an instance first (cold and prewarmed starts).
    pub init_ms: Option<f64>,
    /// The most memory the instance used during the invocation (the runtime's cgroup
    /// accounting; `null` where the runtime has none or the invocation never ran).
    pub peak_memory_bytes: Option<u64>,
    /// CPU time the invocation used, every process of its instance, user and system.
    pub cpu_time_ms: Option<f64>,
}
