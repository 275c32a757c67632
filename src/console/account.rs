//! Signing in and out, setting a password from a one-time link, and changing one's password.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::session::{FORM_COOKIE, SESSION_COOKIE, Staff, cookie, set_cookie};
use super::{ConsoleError, Layout, audit, page, see_other};
use crate::auth::hash_token;
use crate::auth::staff::{
    SESSION_LIFETIME, check_password, decoy_hash, hash_password, new_secret, normalize_email,
    throttle_since, throttled, verify_password,
};
use crate::gateway::Gateway;
use crate::http::AppState;
use crate::store::NewStaffAudit;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go after signing in (a console address).
    pub next: Option<String>,
    /// Set after a password was set from a link.
    pub set: Option<String>,
}

/// `next` when it is an address inside the console, else the dashboard: a sign-in link can
/// never send a clerk to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/console/login")
                && !n.starts_with("/console/logout") =>
        {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

/// The form token of a page used before signing in: the form cookie's, or a fresh one (set on
/// the response by [`with_form_cookie`]).
fn form_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, FORM_COOKIE) {
        Some(t) if t.len() >= 32 => (t.to_string(), false),
        _ => (new_secret().0, true),
    }
}

fn with_form_cookie(mut resp: Response, token: &str, fresh: bool, state: &AppState) -> Response {
    if fresh {
        resp.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                FORM_COOKIE,
                token,
                86_400,
                "Strict",
                state.console.secure_cookies,
            ),
        );
    }
    resp
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, ConsoleError> {
    let (token, fresh) = form_token(headers);
    let html = LoginPage {
        layout: Layout::public("Sign in", &token),
        next,
        email,
        error,
        notice,
    }
    .render()?;
    Ok(with_form_cookie(
        (status, Html(html)).into_response(),
        &token,
        fresh,
        state,
    ))
}

/// `GET /console/login`.
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ConsoleError> {
    let notice = q
        .set
        .is_some()
        .then(|| "Your password is set. Sign in with it now.".to_string());
    login_form(
        &state,
        &headers,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        String::new(),
        None,
        notice,
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub next: String,
}

/// `POST /console/login`: checks the password (Argon2id, off the async threads), refusing an
/// email with too many recent failures before looking at the password.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let now = Gateway::now();
    let next = safe_next(Some(&form.next));
    let shown_email = form.email.trim().to_string();
    let Ok(email) = normalize_email(&form.email) else {
        return login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            shown_email,
            Some("That email and password do not match an account.".into()),
            None,
        );
    };
    if throttled(
        store
            .login_failures_since(&email, throttle_since(now))
            .await?,
    ) {
        return login_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            shown_email,
            Some(
                "Too many failed sign-ins for this account. Wait 15 minutes and try again, or ask \
                 an administrator for a new password link."
                    .into(),
            ),
            None,
        );
    }
    let account = store.staff_by_email(&email).await?;
    let stored = account
        .as_ref()
        .filter(|a| a.disabled_at.is_none())
        .and_then(|a| a.password_hash.clone());
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => verify_password(&password, &hash),
        None => {
            // As slow as a real check, so a missing account cannot be told from a wrong password.
            let _ = verify_password(&password, decoy_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(account) = account.filter(|_| matches) else {
        store.record_login_failure(&email, now).await?;
        return login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            shown_email,
            Some("That email and password do not match an account.".into()),
            None,
        );
    };
    store.clear_login_failures(&email).await?;
    let (secret, hash) = new_secret();
    let (csrf, _) = new_secret();
    store
        .create_staff_session(&hash, account.id, &csrf, now, now + SESSION_LIFETIME)
        .await?;
    store
        .record_staff_audit(&NewStaffAudit {
            staff_id: Some(account.id),
            actor: &account.email,
            action: "sign_in",
            detail: "signed in",
            at: now,
        })
        .await?;
    let mut resp = see_other(&next);
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &secret,
            SESSION_LIFETIME.as_secs(),
            "Lax",
            state.console.secure_cookies,
        ),
    );
    Ok(resp)
}

/// `POST /console/logout`: ends the session in the database and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    staff: Option<Staff>,
) -> Result<Response, ConsoleError> {
    if let Some(staff) = staff {
        state
            .gateway
            .store
            .delete_staff_session(&staff.session_hash)
            .await?;
        audit(&state, &staff, "sign_out", "signed out").await?;
    }
    let mut resp = see_other("/console/login");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, "Lax", state.console.secure_cookies),
    );
    Ok(resp)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    error: Option<String>,
    notice: Option<String>,
}

/// `GET /console/password`.
pub async fn password_page(staff: Staff) -> Result<Response, ConsoleError> {
    page(&PasswordPage {
        layout: Layout::new(&staff, "Change your password", "password"),
        error: None,
        notice: None,
    })
}

/// The password-change form.
#[derive(Deserialize)]
pub struct PasswordForm {
    pub current: String,
    pub new: String,
    pub confirm: String,
}

/// `POST /console/password`: needs the current password; ends the account's other sessions.
pub async fn change_password(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<PasswordForm>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let refuse = |staff: &Staff, error: String| -> Result<Response, ConsoleError> {
        let html = PasswordPage {
            layout: Layout::new(staff, "Change your password", "password"),
            error: Some(error),
            notice: None,
        }
        .render()?;
        Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
    };
    if form.new != form.confirm {
        return refuse(
            &staff,
            "The new password and its confirmation differ.".into(),
        );
    }
    if let Err(e) = check_password(&form.new) {
        return refuse(&staff, format!("{}.", capitalize(&e.to_string())));
    }
    let stored = store
        .staff_by_email(&staff.email)
        .await?
        .and_then(|a| a.password_hash);
    let (current, new) = (form.current, form.new);
    let hashed = tokio::task::spawn_blocking(move || {
        let ok = stored.is_some_and(|h| verify_password(&current, &h));
        ok.then(|| hash_password(&new))
    })
    .await
    .ok()
    .flatten();
    let Some(hashed) = hashed else {
        return refuse(&staff, "The current password is not right.".into());
    };
    let hashed = hashed.map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    store
        .set_staff_password(staff.id, &hashed, &staff.session_hash)
        .await?;
    audit(&state, &staff, "password_change", "changed their password").await?;
    page(&PasswordPage {
        layout: Layout::new(&staff, "Change your password", "password"),
        error: None,
        notice: Some("Your password is changed. Your other sessions were signed out.".into()),
    })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    layout: Layout,
    token: String,
    email: String,
    error: Option<String>,
}

/// Query of the set-password page (the one-time link).
#[derive(Deserialize)]
pub struct LinkQuery {
    pub token: Option<String>,
}

fn link_gone() -> ConsoleError {
    ConsoleError::NotFound(
        "This link to set a password has been used or has expired. Ask an administrator for a \
         new one."
            .into(),
    )
}

/// `GET /console/set-password?token=…`: the form to choose a password, while the link works.
pub async fn set_password_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Result<Response, ConsoleError> {
    let token = q.token.unwrap_or_default();
    let Some(account) = state
        .gateway
        .store
        .password_link(&hash_token(&token), Gateway::now())
        .await?
    else {
        return Err(link_gone());
    };
    let (csrf, fresh) = form_token(&headers);
    let html = SetPasswordPage {
        layout: Layout::public("Set your password", &csrf),
        token,
        email: account.email,
        error: None,
    }
    .render()?;
    Ok(with_form_cookie(
        Html(html).into_response(),
        &csrf,
        fresh,
        &state,
    ))
}

/// The set-password form.
#[derive(Deserialize)]
pub struct SetPasswordForm {
    pub token: String,
    pub new: String,
    pub confirm: String,
}

/// `POST /console/set-password`: sets the password and uses up the link.
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SetPasswordForm>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let now = Gateway::now();
    let hash = hash_token(&form.token);
    let Some(account) = store.password_link(&hash, now).await? else {
        return Err(link_gone());
    };
    let problem = if form.new != form.confirm {
        Some("The password and its confirmation differ.".to_string())
    } else {
        check_password(&form.new)
            .err()
            .map(|e| format!("{}.", capitalize(&e.to_string())))
    };
    if let Some(error) = problem {
        let (csrf, _) = form_token(&headers);
        let html = SetPasswordPage {
            layout: Layout::public("Set your password", &csrf),
            token: form.token,
            email: account.email,
            error: Some(error),
        }
        .render()?;
        return Ok((StatusCode::BAD_REQUEST, Html(html)).into_response());
    }
    let new = form.new;
    let hashed = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|_| ConsoleError::BadRequest("The password could not be hashed.".into()))?
        .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    let Some(account) = store.use_password_link(&hash, &hashed, now).await? else {
        return Err(link_gone());
    };
    store
        .record_staff_audit(&NewStaffAudit {
            staff_id: Some(account.id),
            actor: &account.email,
            action: "password_set",
            detail: "set their password from a one-time link",
            at: now,
        })
        .await?;
    Ok(see_other("/console/login?set=1"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn after_signing_in_only_console_addresses_are_followed() {
        assert_eq!(
            safe_next(Some("/console/requests?status=open")),
            "/console/requests?status=open"
        );
        assert_eq!(safe_next(Some("https://evil.example")), "/console");
        assert_eq!(safe_next(Some("//evil.example/console")), "/console");
        assert_eq!(safe_next(Some("/console/logout")), "/console");
        assert_eq!(safe_next(None), "/console");
    }
}
