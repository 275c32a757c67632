//! HTTP: the Twilio webhooks (inbound texts, delivery statuses), the health probes, the
//! agencies' API and the staff console.

pub mod api;
pub mod error;
mod health;
pub mod open311;
pub mod server;
pub mod status;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::gateway::Gateway;

/// Largest webhook body accepted. Twilio's are a few KiB (1600 characters of emoji percent-encoded
/// is about 20 KiB); anything far larger is not Twilio.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How webhooks are authenticated.
#[derive(Debug, Clone, Default)]
pub struct WebhookAuth {
    /// Twilio auth token; None disables signature checks (loopback only).
    pub auth_token: Option<String>,
    /// The public base URL Twilio calls, e.g. `https://sms.example.gov`.
    pub public_url: Option<String>,
    /// When set, webhooks for another account are refused.
    pub account_sid: Option<String>,
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub webhook: Arc<WebhookAuth>,
    /// Residents' pseudonyms in results.
    pub pseudonyms: crate::privacy::Pseudonyms,
    /// Time to store and answer a text once its request has been read.
    pub webhook_deadline: Duration,
    /// The staff console's settings.
    pub console: Arc<crate::console::ConsoleSettings>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router(state.clone()))
        .merge(open311::router())
        .merge(crate::console::router(state.clone()))
        .route(webhook::SMS_PATH, post(webhook::sms))
        .route(status::STATUS_PATH, post(status::status))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Refuses a body declared too large (Content-Length) at once, before waiting for it.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // The span names the path, never the query string or headers: a client may put an API
        // token (or a resident's number) in either, and logs must not keep it.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            }),
        )
        .with_state(state)
}
