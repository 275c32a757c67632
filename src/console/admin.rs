//! Administrators' pages: staff accounts (add, change role, disable, new password link) and the
//! audit log of every change staff made.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;

use super::session::{Signed, gates};
use super::{ConsoleError, Layout, audit, page, see_other};
use crate::auth::staff::{LINK_LIFETIME, Role, new_secret, normalize_email};
use crate::gateway::Gateway;
use crate::http::AppState;
use crate::store::{StaffAuditEntry, StaffRecord, Store, StoreError};

/// Creates a one-time link for account `staff_id` and returns its path
/// (`/console/set-password?token=…`). Only the secret's hash is stored.
pub async fn issue_password_link(store: &Store, staff_id: i64) -> Result<String, StoreError> {
    let (secret, hash) = new_secret();
    let now = Gateway::now();
    store
        .create_password_link(staff_id, &hash, now, now + LINK_LIFETIME)
        .await?;
    Ok(format!("/console/set-password?token={secret}"))
}

/// One account as the staff page lists it.
pub struct StaffRow {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub state: &'static str,
    pub disabled: bool,
    pub created: String,
}

impl StaffRow {
    /// `r` as a row, its creation day read in `zone` (the gateway's).
    fn new(r: StaffRecord, zone: &jiff::tz::TimeZone) -> StaffRow {
        StaffRow {
            id: r.id,
            state: if r.disabled_at.is_some() {
                "disabled"
            } else if r.password_hash.is_none() {
                "waiting for a password"
            } else {
                "active"
            },
            disabled: r.disabled_at.is_some(),
            created: super::clock::day(zone, r.created_at).to_string(),
            email: r.email,
            role: r.role,
        }
    }
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    layout: Layout,
    rows: Vec<StaffRow>,
    roles: Vec<&'static str>,
    /// (email, link) of a link just made, shown once.
    link: Option<(String, String)>,
    error: Option<String>,
    self_id: i64,
}

/// The address of this console as the browser reached it, for a link an admin copies.
fn origin(headers: &HeaderMap, state: &AppState) -> String {
    if let Some(url) = &state.webhook.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn staff_view(
    state: &AppState,
    signed: &Signed<gates::ManageStaff>,
    link: Option<(String, String)>,
    error: Option<String>,
) -> Result<Response, ConsoleError> {
    let rows = state
        .gateway
        .store
        .list_staff()
        .await?
        .into_iter()
        .map(|r| StaffRow::new(r, &state.gateway.time_zone))
        .collect();
    page(&StaffPage {
        layout: Layout::new(&signed.0, "Staff accounts", "staff"),
        rows,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        link,
        error,
        self_id: signed.0.id,
    })
}

/// `GET /console/staff`.
pub async fn staff_page(
    State(state): State<AppState>,
    signed: Signed<gates::ManageStaff>,
) -> Result<Response, ConsoleError> {
    staff_view(&state, &signed, None, None).await
}

/// The add-account form.
#[derive(Deserialize)]
pub struct AddForm {
    pub email: String,
    pub role: String,
}

/// `POST /console/staff`: adds an account and shows its one-time link once.
pub async fn add_staff(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed<gates::ManageStaff>,
    Form(form): Form<AddForm>,
) -> Result<Response, ConsoleError> {
    let Some(role) = Role::parse(&form.role) else {
        return staff_view(&state, &signed, None, Some("Choose a role.".into())).await;
    };
    let email = match normalize_email(&form.email) {
        Ok(e) => e,
        Err(e) => return staff_view(&state, &signed, None, Some(format!("{e}."))).await,
    };
    let store = &state.gateway.store;
    let Some(id) = store
        .create_staff(&email, role.as_str(), Gateway::now())
        .await?
    else {
        return staff_view(
            &state,
            &signed,
            None,
            Some(format!("There is already an account for {email}.")),
        )
        .await;
    };
    let path = issue_password_link(store, id).await?;
    audit(
        &state,
        &signed.0,
        "staff_add",
        &format!("added {email} as {role}"),
    )
    .await?;
    let link = format!("{}{path}", origin(&headers, &state));
    staff_view(&state, &signed, Some((email, link)), None).await
}

/// A change to one account.
#[derive(Deserialize)]
pub struct ChangeForm {
    /// `role`, `disable`, `enable` or `link`.
    pub action: String,
    #[serde(default)]
    pub role: String,
}

/// `POST /console/staff/{id}`.
pub async fn change_staff(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed<gates::ManageStaff>,
    Path(id): Path<i64>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let Some(account) = store.list_staff().await?.into_iter().find(|s| s.id == id) else {
        return Err(ConsoleError::NotFound("There is no such account.".into()));
    };
    let email = account.email;
    if id == signed.0.id && form.action != "link" {
        return staff_view(
            &state,
            &signed,
            None,
            Some("You cannot change your own role or disable yourself.".into()),
        )
        .await;
    }
    match form.action.as_str() {
        "role" => {
            let Some(role) = Role::parse(&form.role) else {
                return staff_view(&state, &signed, None, Some("Choose a role.".into())).await;
            };
            store.set_staff_role(id, role.as_str()).await?;
            audit(
                &state,
                &signed.0,
                "staff_role",
                &format!("changed {email} from {} to {role}", account.role),
            )
            .await?;
        }
        "disable" => {
            store.set_staff_disabled(id, Some(Gateway::now())).await?;
            audit(
                &state,
                &signed.0,
                "staff_disable",
                &format!("disabled {email}"),
            )
            .await?;
        }
        "enable" => {
            store.set_staff_disabled(id, None).await?;
            audit(
                &state,
                &signed.0,
                "staff_enable",
                &format!("re-enabled {email}"),
            )
            .await?;
        }
        "link" => {
            let path = issue_password_link(store, id).await?;
            audit(
                &state,
                &signed.0,
                "staff_link",
                &format!("made a new password link for {email}"),
            )
            .await?;
            let link = format!("{}{path}", origin(&headers, &state));
            return staff_view(&state, &signed, Some((email, link)), None).await;
        }
        _ => return Err(ConsoleError::BadRequest("Unknown change.".into())),
    }
    Ok(see_other("/console/staff"))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    /// The gateway's zone, in which the entries' times are shown.
    zone: jiff::tz::TimeZone,
    entries: Vec<StaffAuditEntry>,
}

/// `GET /console/audit`: the latest 500 staff changes, newest first.
pub async fn audit_page(
    State(state): State<AppState>,
    signed: Signed<gates::ManageStaff>,
) -> Result<Response, ConsoleError> {
    let entries = state.gateway.store.staff_audit_log(500).await?;
    page(&AuditPage {
        layout: Layout::new(&signed.0, "Audit log", "audit"),
        zone: state.gateway.time_zone.clone(),
        entries,
    })
}
