//! `/api/v1`: the agencies' API. Bearer tokens with scopes, every use audited, errors as
//! problem details, and an OpenAPI description generated from these handlers.

pub mod auth;
pub mod cursor;
pub mod flows;
pub mod openapi;
pub mod problem;
pub mod requests;
pub mod responses;
pub mod summary;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

use super::AppState;

/// The API's routes: the description and reference page are public, everything else needs a
/// token.
pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/api/v1/flows", get(flows::list))
        .route("/api/v1/flows/{flow}", get(flows::one))
        .route("/api/v1/flows/{flow}/summary", get(summary::summary))
        .route("/api/v1/responses", get(responses::list))
        .route("/api/v1/requests", get(requests::list))
        .route(
            "/api/v1/requests/{code}",
            get(requests::one).patch(requests::update),
        )
        .route_layer(from_fn_with_state(state, auth::authenticate));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::json))
        .route("/api/v1/docs", get(openapi::page))
        .merge(protected)
}
