//! The OpenAPI document (`/openapi.json`) and browsable docs (`/docs`), served by the binary.

use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;
use super::{auth, functions, health, invocations, metrics, run, seed_compat, session};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kindling", description = "Self-hosted serverless functions: register Python and JavaScript functions, invoke them over HTTP."),
    paths(
        functions::create, functions::list, functions::read, functions::update, functions::delete,
        functions::versions, functions::version,
        invocations::invoke, invocations::invoke_batch, invocations::list, invocations::read,
        run::run,
        seed_compat::execute, seed_compat::execute_named, seed_compat::execute_named_gvisor,
        seed_compat::executions,
        health::health,
        metrics::summary, metrics::function, metrics::time_series, metrics::function_time_series,
        metrics::activity, metrics::system, metrics::prometheus,
        auth::login, auth::register, auth::me, auth::users, auth::reset_token, auth::tokens,
        auth::delete_user, auth::user_quotas, auth::set_user_quotas,
        auth::create_token, auth::revoke_token,
        session::sign_in, session::current, session::sign_out,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "functions", description = "Register and manage functions"),
        (name = "invocations", description = "Invoke functions and read their history"),
        (name = "seed compatibility", description = "The requests of the seed projects, as aliases"),
        (name = "system", description = "Health and the state of the pool and the host"),
        (name = "metrics", description = "Invocation figures over a window, per-minute series, the pool and the host, Prometheus"),
        (name = "auth", description = "Accounts, API tokens and the dashboard's browser sessions: every route but /health, /auth/login, /auth/register and /auth/session needs `Authorization: Bearer <token>` (or the dashboard's session cookie with its CSRF proof)"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token every operation needs unless it says otherwise.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("kdl_<id>_<secret>")
            .description(Some(
                "An API token: from /auth/login, /auth/tokens, or the data dir's admin-token",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

pub fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
