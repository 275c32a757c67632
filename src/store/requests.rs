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
    pub contact_id: i64,
    /// The resident's number (E.164).
    pub phone: String,
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

impl Store {
    /// The service request with tracking code `code` (compared case-insensitively, as residents
    /// type it), if there is one.
    pub async fn service_request(&self, code: &str) -> Result<Option<RequestInfo>, StoreError> {
        match self {
            Store::Sqlite(s) => super::sqlite_requests::get(s.pool(), code).await,
            Store::Postgres(s) => super::postgres_requests::get(s.pool(), code).await,
        }
    }

    /// Every status change of the request `code`, oldest first.
    pub async fn request_history(&self, code: &str) -> Result<Vec<StatusHistoryEntry>, StoreError> {
        match self {
            Store::Sqlite(s) => super::sqlite_requests::history(s.pool(), code).await,
            Store::Postgres(s) => super::postgres_requests::history(s.pool(), code).await,
        }
    }

    /// Changes the status of request `code` and records the change, in one transaction; the
    /// text `follow_up` makes from the updated request (if any) is queued in the outbox in that
    /// same transaction. None when there is no such request.
    pub async fn update_request_status(
        &self,
        code: &str,
        change: &StatusChange,
        follow_up: impl FnOnce(&RequestInfo) -> Option<OutboxText> + Send,
    ) -> Result<Option<RequestUpdated>, StoreError> {
        if !is_valid_status(&change.status) {
            return Err(StoreError::Invalid(format!(
                "status {:?}: use 1-32 lower-case letters, digits or _",
                change.status
            )));
        }
        match self {
            Store::Sqlite(s) => {
                super::sqlite_requests::update(s.pool(), code, change, follow_up).await
            }
            Store::Postgres(s) => {
                super::postgres_requests::update(s.pool(), code, change, follow_up).await
            }
        }
    }
}
