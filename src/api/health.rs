//! `GET /health`: is the server up, and which runtimes can run functions here — nothing more to
//! anyone without a token (the state of the pool is `/metrics/system`'s, per user).

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use super::{AppState, Caller};
use crate::model::{Language, RuntimeKind};

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the default runtime cannot run functions.
    pub status: &'static str,
    /// The server's version, for callers with a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    pub default_runtime: RuntimeKind,
    pub runtimes: BTreeMap<RuntimeKind, RuntimeHealth>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RuntimeHealth {
    #[serde(flatten)]
    pub availability: Availability,
    /// Which languages it can run (only for an available runtime).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub languages: BTreeMap<Language, Availability>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Availability {
    pub available: bool,
    /// Why not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<Result<(), String>> for Availability {
    fn from(availability: Result<(), String>) -> Self {
        Self {
            available: availability.is_ok(),
            reason: availability.err(),
        }
    }
}

/// Liveness and runtime availability. Needs no authentication; with a token it also says the
/// server's version.
#[utoipa::path(get, path = "/health", tag = "system", security((), ("bearer" = [])), responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>, caller: Option<Caller>) -> Json<Health> {
    let runtimes: BTreeMap<RuntimeKind, RuntimeHealth> = state
        .engine
        .runtimes()
        .into_iter()
        .map(|(kind, runtime)| {
            let health = match runtime {
                Ok(runtime) => RuntimeHealth {
                    availability: Ok(()).into(),
                    languages: Language::ALL
                        .into_iter()
                        .map(|language| (language, runtime.supports(language).into()))
                        .collect(),
                },
                Err(reason) => RuntimeHealth {
                    availability: Err(reason).into(),
                    languages: BTreeMap::new(),
                },
            };
            (kind, health)
        })
        .collect();
    let default_ok = runtimes
        .get(&state.default_runtime)
        .is_some_and(|r| r.availability.available);
    Json(Health {
        status: if default_ok { "ok" } else { "degraded" },
        version: caller.map(|_| env!("CARGO_PKG_VERSION")),
        default_runtime: state.default_runtime,
        runtimes,
    })
}
