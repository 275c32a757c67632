//! The HTTP ceiling: a minimal axum server that answers the same webhook with a fixed TwiML
//! reply, touching neither the body nor a database.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::{get, post};

use crate::channel::twilio::twiml;

const REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>How old are you?</Message></Response>"#;

async fn sms(_body: Bytes) -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, twiml::CONTENT_TYPE)], REPLY)
}

/// The router: the webhook path and `/healthz`.
pub fn router() -> Router {
    Router::new()
        .route(super::plan::SMS_PATH, post(sms))
        .route("/healthz", get(|| async { "ok\n" }))
}

/// Serves on `bind` until SIGTERM / Ctrl-C.
pub async fn serve(bind: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    axum::serve(listener, router())
        .with_graceful_shutdown(crate::startup::shutdown_signal())
        .await?;
    Ok(())
}
