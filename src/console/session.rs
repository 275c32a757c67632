//! Who is signed in, and the checks every console request passes: the session cookie is looked
//! up in the database (so any replica serves a signed-in clerk), and every state-changing request
//! must carry the form token (CSRF) or is refused with 403.

use std::marker::PhantomData;

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use super::ConsoleError;
use crate::auth::hash_token;
use crate::auth::staff::{Permission, Role};
use crate::gateway::Gateway;
use crate::http::AppState;

/// The cookie holding a signed-in session's secret.
pub const SESSION_COOKIE: &str = "civictext_session";
/// The cookie holding the form token of pages used before signing in (double-submit).
pub const FORM_COOKIE: &str = "civictext_form";
/// The form field every state-changing request carries.
pub const CSRF_FIELD: &str = "csrf";
/// Largest console form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// The session's form token, to put in every form.
    pub csrf: String,
    /// The stored hash of the session's secret.
    pub session_hash: String,
}

impl Staff {
    /// Whether this staff member may do `p`.
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }

    /// Ok when this staff member may do `p`, else the 403 page.
    pub fn require(&self, p: Permission) -> Result<(), ConsoleError> {
        if self.may(p) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a console cookie: HttpOnly, limited to /console, Secure when the
/// console is served over https.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Looks up the session of every console request and refuses any state-changing request whose
/// form token does not match the session's (or, before signing in, the form cookie's).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut req = req;
    let secret = cookie(req.headers(), SESSION_COOKIE).map(str::to_string);
    let mut staff = None;
    if let Some(secret) = secret {
        let hash = hash_token(&secret);
        match state
            .gateway
            .store
            .staff_session(&hash, Gateway::now())
            .await
        {
            Ok(Some((record, csrf))) => {
                if let Some(role) = Role::parse(&record.role) {
                    staff = Some(Staff {
                        id: record.id,
                        email: record.email,
                        role,
                        csrf,
                        session_hash: hash,
                    });
                }
            }
            Ok(None) => {}
            Err(e) => return ConsoleError::from(e).into_response(),
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let form_cookie = cookie(req.headers(), FORM_COOKIE).map(str::to_string);
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return ConsoleError::BadRequest("That form was too large.".into()).into_response();
        };
        let sent = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
        let valid = sent.is_some_and(|t| {
            !t.is_empty()
                && (staff.as_ref().is_some_and(|s| same(&s.csrf, &t))
                    || form_cookie.as_deref().is_some_and(|c| same(c, &t)))
        });
        if !valid {
            return ConsoleError::BadForm.into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    if let Some(staff) = staff {
        req.extensions_mut().insert(staff);
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // Pages show residents' answers: never cached, never framed.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Staff>()
            .cloned()
            .ok_or_else(|| ConsoleError::SignIn(parts.uri.to_string()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Staff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Staff>().cloned())
    }
}

/// A page or action gated on one permission.
pub trait Gate {
    const PERMISSION: Permission;
}

/// Signed-in staff whose role grants `G`'s permission: a handler taking `Signed<Results>` is
/// refused (403) to everyone else, and redirects a signed-out browser to the sign-in page.
#[derive(Debug, Clone)]
pub struct Signed<G: Gate>(pub Staff, pub PhantomData<G>);

impl<G: Gate, S: Send + Sync> FromRequestParts<S> for Signed<G> {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let staff = <Staff as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        staff.require(G::PERMISSION)?;
        Ok(Signed(staff, PhantomData))
    }
}

/// The gates of [`Signed`].
pub mod gates {
    use super::{Gate, Permission};

    macro_rules! gate {
        ($name:ident, $p:ident, $doc:literal) => {
            #[doc = $doc]
            #[derive(Debug, Clone)]
            pub struct $name;
            impl Gate for $name {
                const PERMISSION: Permission = Permission::$p;
            }
        };
    }
    gate!(Results, Results, "Flow results.");
    gate!(Simulator, Simulator, "The simulator.");
    gate!(Requests, Requests, "The service-request queue.");
    gate!(Flows, Flows, "Flow versions, their source and diffs.");
    gate!(EditFlows, EditFlows, "Editing and publishing flows.");
    gate!(Broadcasts, Broadcasts, "Broadcasts and survey invitations.");
    gate!(
        ManageStaff,
        ManageStaff,
        "Staff accounts and the audit log."
    );
}
