//! Liveness and readiness probes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// How long readiness waits for the database: probes (a load balancer's, Kubernetes') give up
/// after a second or so, and an unreachable database must read as unready, not as no answer.
pub const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// The gateway can serve: a write to the database commits (within
/// [`DATABASE_PROBE_TIMEOUT`]) and at least one flow is loaded.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let db = match tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.gateway.store.probe_write())
        .await
    {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no write committed within {} ms",
            DATABASE_PROBE_TIMEOUT.as_millis()
        )),
    };
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
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "flows": loaded,
        "flow_errors": flow_errors,
    });
    if let Err(e) = db {
        tracing::warn!(error = %e, "readiness: the database cannot store texts");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
