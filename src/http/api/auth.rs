//! Bearer-token authentication of the API, scope checks, and the audit log of every use.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::auth::{Scope, ScopeSet, hash_token};
use crate::http::AppState;
use crate::store::NewAuditEntry;

/// The token behind a request, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    /// Who the token is for: recorded as the author of the changes it makes.
    pub token_name: String,
    pub scopes: ScopeSet,
}

impl Caller {
    /// Ok when the token has `scope`; a 403 problem naming the scope otherwise.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "This token does not have the `{scope}` scope."
            )))
        }
    }
}

/// The token in `Authorization: Bearer …`, if that is what the header holds.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates the request, runs it, and records the use (token, route, status, time).
/// If the use cannot be recorded the answer is withheld: no data leaves unaudited.
pub async fn authenticate(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let store = &state.gateway.store;
    let route = matched.map_or_else(|| "(unmatched)".to_string(), |m| m.as_str().to_string());
    let method = request.method().as_str().to_string();
    let (token_id, response) = match bearer(&request).map(hash_token) {
        None => (
            None,
            Problem::unauthorized(
                "Send an API token as `Authorization: Bearer <token>` (civictext tokens create).",
            )
            .into_response(),
        ),
        Some(hash) => match store.find_token(&hash).await {
            Err(e) => (None, Problem::from(e).into_response()),
            Ok(None) => (
                None,
                Problem::unauthorized("This token is not known.").into_response(),
            ),
            Ok(Some(token)) if token.revoked_at.is_some() => (
                Some(token.id),
                Problem::unauthorized("This token has been revoked.").into_response(),
            ),
            Ok(Some(token)) => match ScopeSet::parse(&token.scopes) {
                Err(e) => (Some(token.id), Problem::internal(&e).into_response()),
                Ok(scopes) => {
                    request.extensions_mut().insert(Caller {
                        token_id: token.id,
                        token_name: token.name.clone(),
                        scopes,
                    });
                    (Some(token.id), next.run(request).await)
                }
            },
        },
    };
    let entry = NewAuditEntry {
        token_id,
        method: &method,
        route: &route,
        status: response.status().as_u16(),
        at: jiff::Timestamp::now(),
    };
    match store.record_use(&entry).await {
        Ok(()) => response,
        Err(e) => Problem::internal(&e).into_response(),
    }
}
