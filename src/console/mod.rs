//! The staff console at `/console`: server-rendered pages (askama templates in `templates/`),
//! served by the same router as the webhooks, for staff signed in with an account and a role.
//!
//! Every page works without JavaScript. Shared pieces for new pages: [`Layout`] (the page frame
//! and its navigation), the [`session::Staff`] and [`session::Signed`] extractors (signed-in staff,
//! with a role gate), and the CSRF check every state-changing request passes in
//! [`session::guard`] (forms carry `csrf` = [`session::Staff::csrf`]).

pub mod account;
pub mod admin;
pub mod charts;
pub mod clock;
pub mod editor;
pub mod flows;
pub mod home;
pub mod invitations;
pub mod requests;
pub mod results;
pub mod session;
pub mod simulator;
pub mod snapshots;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::staff::Permission;
use crate::http::AppState;
use crate::store::StoreError;
use session::Staff;

/// Settings of the console.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// Cookies carry `Secure`: the console is reached over https (public URL is https).
    pub secure_cookies: bool,
    /// The flows directory, where the flows' conversation tests are kept.
    pub flows_dir: Option<std::path::PathBuf>,
    /// Twilio credentials and a sender are configured, so queued texts go out.
    pub sending: bool,
    /// The quiet hours the outbox keeps (None: off).
    pub quiet_hours: Option<crate::outbound::quiet_hours::QuietHours>,
    /// Snapshots of slow result counts: per flow.
    pub summaries: snapshots::Snapshots<String, crate::store::results::SummaryCounts>,
    /// Snapshots of slow chart data: per flow, with or without phone and email answers.
    pub insights: snapshots::Snapshots<(String, bool), crate::store::insights::FlowInsights>,
}

impl ConsoleSettings {
    /// The session and answer counts of `flow`, live or from a snapshot when counting is slow.
    pub async fn summary_counts(
        &self,
        store: &crate::store::Store,
        flow: &str,
    ) -> Result<snapshots::Counted<crate::store::results::SummaryCounts>, StoreError> {
        let (store, id) = (store.clone(), flow.to_string());
        self.summaries
            .get(flow.to_string(), move || async move {
                store.summary_counts(&id).await
            })
            .await
    }
}

/// The page frame: title, who is signed in, and which sections they may open.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub title: String,
    /// The signed-in staff member's email (None on the sign-in pages).
    pub email: Option<String>,
    pub role: String,
    /// The session's form token, for the sign-out form and every other form.
    pub csrf: String,
    pub results: bool,
    pub requests: bool,
    pub simulator: bool,
    /// Flow versions, source and diffs (and the editor, for those who may edit).
    pub flows: bool,
    pub invitations: bool,
    pub admin: bool,
    /// Which section the page belongs to, for `aria-current` in the navigation.
    pub section: &'static str,
}

impl Layout {
    /// The frame of a page for `staff`.
    pub fn new(staff: &Staff, title: impl Into<String>, section: &'static str) -> Layout {
        Layout {
            title: title.into(),
            email: Some(staff.email.clone()),
            role: staff.role.to_string(),
            csrf: staff.csrf.clone(),
            results: staff.may(Permission::Results),
            requests: staff.may(Permission::Requests),
            simulator: staff.may(Permission::Simulator),
            flows: staff.may(Permission::Flows),
            invitations: staff.may(Permission::Broadcasts),
            admin: staff.may(Permission::ManageStaff),
            section,
        }
    }

    /// The frame of a page shown before signing in.
    pub fn public(title: impl Into<String>, csrf: &str) -> Layout {
        Layout {
            title: title.into(),
            csrf: csrf.to_string(),
            ..Layout::default()
        }
    }

    /// `aria-current="page"` for the section's link.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// Why a console request failed, shown as a page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in: go to the sign-in page, then back to this address.
    #[error("sign in first")]
    SignIn(String),
    #[error("your role does not give access to this page")]
    Forbidden,
    /// A state-changing request without a valid form token.
    #[error("this form could not be accepted")]
    BadForm,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the database could not be read: {0}")]
    Store(#[from] StoreError),
    #[error("the page could not be drawn: {0}")]
    Template(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ConsoleError::SignIn(next) => {
                let to = format!(
                    "/console/login?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return Redirect::to(&to).into_response();
            }
            ConsoleError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Your role does not give access to this page. Ask an administrator if you need it."
                    .to_string(),
            ),
            ConsoleError::BadForm => (
                StatusCode::FORBIDDEN,
                "This form could not be accepted: it was not sent from this console page, or it \
                 has expired. Go back, reload the page and try again."
                    .to_string(),
            ),
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ConsoleError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ConsoleError::Store(e) => {
                tracing::error!(error = %e, "console: database error");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database could not be reached. Try again in a moment.".to_string(),
                )
            }
            ConsoleError::Template(e) => {
                tracing::error!(error = %e, "console: template error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "This page could not be drawn.".to_string(),
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::public("Something went wrong", ""),
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message_only()).into_response(),
        }
    }
}

fn message_only() -> &'static str {
    "Something went wrong."
}

/// A rendered page.
pub fn page(t: &impl Template) -> Result<Response, ConsoleError> {
    Ok(Html(t.render()?).into_response())
}

/// A 303 to `to` (after a form was handled).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

const CSS: &str = include_str!("assets/console.css");
/// The flow editor (CodeMirror 6), built by `console-editor/build.sh` from its lockfile.
const EDITOR_JS: &str = include_str!("assets/editor.js");

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn editor_js() -> Response {
    asset("text/javascript; charset=utf-8", EDITOR_JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The console's routes, all under `/console`, all through [`session::guard`].
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/console", get(home::dashboard))
        .route("/console/", get(home::dashboard))
        .route(
            "/console/login",
            get(account::login_page).post(account::login),
        )
        .route("/console/logout", post(account::logout))
        .route(
            "/console/password",
            get(account::password_page).post(account::change_password),
        )
        .route(
            "/console/set-password",
            get(account::set_password_page).post(account::set_password),
        )
        .route(
            "/console/staff",
            get(admin::staff_page).post(admin::add_staff),
        )
        .route("/console/staff/{id}", post(admin::change_staff))
        .route("/console/audit", get(admin::audit_page))
        .route("/console/flows", get(flows::list))
        .route("/console/new-flow", get(editor::new_flow))
        .route("/console/flows/{flow}/versions", get(flows::versions))
        .route(
            "/console/flows/{flow}/versions/{version}",
            get(flows::source),
        )
        .route("/console/flows/{flow}/diff", get(flows::diff))
        .route(
            "/console/flows/{flow}/edit",
            get(editor::edit_page).post(editor::edit_post),
        )
        .route("/console/flows/{flow}/check", post(editor::check))
        .route("/console/flows/{flow}", get(results::flow_page))
        .route(
            "/console/flows/{flow}/responses",
            get(results::responses_page),
        )
        .route(
            "/console/flows/{flow}/responses.csv",
            get(results::responses_csv),
        )
        .route("/console/requests", get(requests::queue))
        .route(
            "/console/requests/{code}",
            get(requests::detail).post(requests::change_status),
        )
        .route(
            "/console/simulator",
            get(simulator::page_get).post(simulator::turn),
        )
        .route(
            "/console/invitations",
            get(invitations::list).post(invitations::confirm),
        )
        .route("/console/invitations/new", get(invitations::compose_page))
        .route("/console/invitations/preview", post(invitations::preview))
        .route("/console/invitations/{id}", get(invitations::progress))
        .route(
            "/console/invitations/{id}/cancel",
            post(invitations::cancel),
        )
        .route("/console/static/console.css", get(css))
        .route("/console/static/editor.js", get(editor_js))
        .layer(from_fn_with_state(state, session::guard))
}

/// Records a change `staff` made in the staff audit log.
pub async fn audit(
    state: &AppState,
    staff: &Staff,
    action: &str,
    detail: &str,
) -> Result<(), ConsoleError> {
    state
        .gateway
        .store
        .record_staff_audit(&crate::store::NewStaffAudit {
            staff_id: Some(staff.id),
            actor: &staff.email,
            action,
            detail,
            at: crate::gateway::Gateway::now(),
        })
        .await?;
    Ok(())
}
