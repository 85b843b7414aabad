//! The OpenAPI document (`/openapi.json`) and browsable docs (`/docs`), served by the binary.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;
use super::{functions, health, invocations, metrics, run, seed_compat};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kindling", description = "Self-hosted serverless functions: register Python and JavaScript functions, invoke them over HTTP."),
    paths(
        functions::create, functions::list, functions::read, functions::update, functions::delete,
        functions::versions,
        invocations::invoke, invocations::invoke_batch, invocations::list, invocations::read,
        run::run,
        seed_compat::execute, seed_compat::execute_named, seed_compat::execute_named_gvisor,
        seed_compat::executions,
        health::health, metrics::system,
    ),
    tags(
        (name = "functions", description = "Register and manage functions"),
        (name = "invocations", description = "Invoke functions and read their history"),
        (name = "seed compatibility", description = "The requests of the seed projects, as aliases"),
        (name = "system", description = "Health and the state of the pool and the host"),
    )
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
