//! How an invocation ended and how its instance was obtained.

use serde::{Deserialize, Serialize};

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
