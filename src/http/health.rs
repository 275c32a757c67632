//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The gateway can serve: the database answers and at least one flow is loaded.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let db = state.gateway.store.ping().await;
    let flows = state.gateway.flows();
    let loaded: Vec<String> = flows
        .catalog()
        .flows()
        .iter()
        .map(|f| format!("{}@{}", f.id, f.version))
        .collect();
    let ready = db.is_ok() && !loaded.is_empty();
    // Broken flow files do not make the gateway unready (their last good versions serve), but
    // an operator looking here should see them.
    let flow_errors: Vec<serde_json::Value> = state
        .gateway
        .flow_errors()
        .iter()
        .map(|d| json!({"file": d.file, "line": d.pos.line, "column": d.pos.column, "message": d.message, "hint": d.hint}))
        .collect();
    let body = json!({
        "ready": ready,
        "database": if db.is_ok() { "ok".to_string() } else { "unreachable".to_string() },
        "flows": loaded,
        "flow_errors": flow_errors,
    });
    if let Err(e) = db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
