//! How an invocation ended and how its instance was obtained.

use std::fmt;
use std::str::FromStr;

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

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Success,
        Status::Error,
        Status::Timeout,
        Status::OutOfMemory,
        Status::Crashed,
        Status::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::OutOfMemory => "out_of_memory",
            Status::Crashed => "crashed",
            Status::Throttled => "throttled",
        }
    }
}

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

impl StartKind {
    pub const ALL: [StartKind; 3] = [StartKind::Warm, StartKind::Prewarmed, StartKind::Cold];

    pub fn as_str(self) -> &'static str {
        match self {
            StartKind::Warm => "warm",
            StartKind::Prewarmed => "prewarmed",
            StartKind::Cold => "cold",
        }
    }
}

macro_rules! text_enum {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown {} '{s}'", stringify!($ty)))
            }
        }
    )*};
}

text_enum!(Status, StartKind);
