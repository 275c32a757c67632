//! Service requests after they are filed: staff change their status with a note, every change
//! is kept with who made it and when, and the resident can be texted about it through the
//! outbox in the same transaction.

use jiff::Timestamp;

use super::outbox::OutboxText;
use super::{Store, StoreError};

/// A service request as staff, agencies and the resident see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub id: i64,
    /// The tracking code the resident was given.
    pub code: String,
    pub service: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub photo: Option<String>,
    /// `open` when filed; then whatever staff set (see [`is_valid_status`]).
    pub status: String,
    /// The latest note given with a status change, meant for the resident.
    pub status_notes: Option<String>,
    pub flow_id: String,
    /// The resident who filed it; None for a request from another channel.
    pub contact_id: Option<i64>,
    /// The resident's number (E.164), when there is a resident to text.
    pub phone: Option<String>,
    /// The resident's language, when known: what a text about the request is written in.
    pub language: Option<String>,
    /// `sms`, or `open311` for a request posted by another system.
    pub channel: String,
    pub created_at: Timestamp,
    /// When the status last changed; None while it never has.
    pub updated_at: Option<Timestamp>,
}

/// A status change staff (or an API client) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: String,
    /// Shown to the resident; None keeps the previous note.
    pub note: Option<String>,
    /// Who made the change (a staff login, an API token's name, `cli`).
    pub changed_by: String,
    pub at: Timestamp,
}

/// One recorded status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusHistoryEntry {
    pub old_status: String,
    pub status: String,
    pub note: Option<String>,
    pub changed_by: String,
    pub changed_at: Timestamp,
}

/// What a status change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUpdated {
    /// The request after the change.
    pub request: RequestInfo,
    pub old_status: String,
    /// The outbox row queued to tell the resident, if one was.
    pub follow_up: Option<i64>,
}

/// True for a status word the store accepts: 1–32 characters of lower-case ASCII letters,
/// digits and `_` (`open`, `in_progress`, `closed` ...), so it reads the same in every export.
pub fn is_valid_status(status: &str) -> bool {
    (1..=32).contains(&status.len())
        && status
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A service request filed by another system (an Open311 client), not by a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    /// The tracking code to give it (see [`crate::flow::engine::tracking_code`]).
    pub code: String,
    /// The flow whose service it is.
    pub flow_id: String,
    pub service: String,
    pub description: Option<String>,
    /// The address, as the filer gave it.
    pub location: Option<String>,
    /// URL of a photo.
    pub photo: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Answers to the service's attributes, as a JSON object.
    pub attributes: Option<String>,
    /// `open311`.
    pub channel: String,
    pub at: Timestamp,
}

/// Tracking codes are stored as the gateway issued them (upper case); residents and clients
/// may type them in either case.
fn stored_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

impl Store {
    /// The service request with tracking code `code` (in either case, as residents type it),
    /// if there is one.
    pub async fn service_request(&self, code: &str) -> Result<Option<RequestInfo>, StoreError> {
        let code = stored_code(code);
        match self {
            Store::Sqlite(s) => super::sqlite_requests::get(s.pool(), &code).await,
            Store::Postgres(s) => super::postgres_requests::get(s.pool(), &code).await,
        }
    }

    /// Every status change of the request `code`, oldest first.
    pub async fn request_history(&self, code: &str) -> Result<Vec<StatusHistoryEntry>, StoreError> {
        let code = stored_code(code);
        match self {
            Store::Sqlite(s) => super::sqlite_requests::history(s.pool(), &code).await,
            Store::Postgres(s) => super::postgres_requests::history(s.pool(), &code).await,
        }
    }

    /// Files a request from another channel. False (and nothing stored) when its code is
    /// taken already; the caller draws another.
    pub async fn file_request(&self, r: &NewRequest) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => super::sqlite_requests::file(s.pool(), r).await,
            Store::Postgres(s) => super::postgres_requests::file(s.pool(), r).await,
        }
    }

    /// Changes the status of request `code` and records the change, in one transaction; the
    /// text `follow_up` makes from the updated request and its previous status (if any) is queued in the outbox in that
    /// same transaction, to the resident who filed it (a request without a contact is texted to
    /// nobody). None when there is no such request. Most callers want
    /// [`crate::gateway::requests::change_status`], which writes that text in the resident's
    /// language.
    pub async fn update_request_status(
        &self,
        code: &str,
        change: &StatusChange,
        follow_up: impl FnOnce(&RequestInfo, &str) -> Option<OutboxText> + Send,
    ) -> Result<Option<RequestUpdated>, StoreError> {
        if !is_valid_status(&change.status) {
            return Err(StoreError::Invalid(format!(
                "status {:?}: use 1-32 lower-case letters, digits or _",
                change.status
            )));
        }
        let code = stored_code(code);
        match self {
            Store::Sqlite(s) => {
                super::sqlite_requests::update(s.pool(), &code, change, follow_up).await
            }
            Store::Postgres(s) => {
                super::postgres_requests::update(s.pool(), &code, change, follow_up).await
            }
        }
    }
}
