//! `POST /webhooks/twilio/status`: Twilio's delivery status callbacks for the texts the outbox
//! sent. Signed like the inbound webhook; a callback never moves a message backwards.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

use super::AppState;
use super::error::ApiError;
use super::webhook::check_signature;
use crate::channel::twilio::{inbound, status::StatusCallback};
use crate::gateway::Gateway;
use crate::outbound::retry;
use crate::store::DeliveryUpdate;

pub use crate::outbound::STATUS_PATH;

/// Verifies and applies one status callback. An unknown MessageSid is acknowledged (Twilio
/// would otherwise retry it) and logged.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let params = inbound::parse_form(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    check_signature(&state, &headers, &uri, STATUS_PATH, &params)?;
    let cb =
        StatusCallback::from_params(params).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let (Some(expected), Some(got)) = (&state.webhook.account_sid, &cb.account_sid)
        && expected != got
    {
        return Err(ApiError::Forbidden(
            "AccountSid does not match this gateway's account",
        ));
    }
    let update = DeliveryUpdate {
        sid: cb.message_sid.clone(),
        status: cb.status.as_str().to_string(),
        rank: cb.status.rank(),
        error_code: cb.error_code,
        unreachable: cb.status.is_failure()
            && cb.error_code.is_some_and(retry::is_unreachable_code),
        delivered: cb.status.as_str() == "delivered",
        unreachable_after: retry::UNREACHABLE_AFTER,
        at: Gateway::now(),
    };
    match state.gateway.store.record_delivery(&update).await? {
        None => {
            tracing::warn!(sid = %cb.message_sid, status = %cb.status, "status callback for an unknown message")
        }
        Some(false) => {
            tracing::debug!(sid = %cb.message_sid, status = %cb.status, "stale status callback ignored")
        }
        Some(true) => {
            tracing::info!(sid = %cb.message_sid, status = %cb.status, error_code = ?cb.error_code, "delivery status")
        }
    }
    Ok(StatusCode::OK)
}
