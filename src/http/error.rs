//! One error type for every HTTP handler: a status and a plain message, never internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An HTTP failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// The request is not from who it claims to be.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// The request could not be served now; the client may try again later.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Something failed on our side; logged with details, answered without them.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(reason) => {
                tracing::warn!(reason, "request not served");
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, format!("{self}\n")).into_response()
    }
}
