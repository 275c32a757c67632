//! Staff accounts of the console: the records, and the [`Store`] front for accounts, their
//! sessions, one-time password links, failed sign-ins and the staff audit log.

use jiff::Timestamp;

use super::{Store, StoreError};

/// A staff account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    pub id: i64,
    /// Lower-cased.
    pub email: String,
    /// `admin`, `editor`, `analyst` or `caseworker`.
    pub role: String,
    /// Argon2id PHC string; None until the person sets a password.
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
}

/// One change a staff member made, as the audit log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAuditEntry {
    pub id: i64,
    /// None for changes made from the command line.
    pub staff_id: Option<i64>,
    /// The email of who made it (or `cli`).
    pub actor: String,
    /// What kind of change (`sign_in`, `staff_add`, `request_status` ...).
    pub action: String,
    /// What changed, in words.
    pub detail: String,
    pub at: Timestamp,
}

/// A staff change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStaffAudit<'a> {
    pub staff_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: &'a str,
    pub at: Timestamp,
}

macro_rules! both {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => super::sqlite_staff::$f(s.pool(), $($arg),*).await,
            Store::Postgres(s) => super::postgres_staff::$f(s.pool(), $($arg),*).await,
        }
    };
}

impl Store {
    /// Adds an account without a password; None when the email is taken.
    pub async fn create_staff(
        &self,
        email: &str,
        role: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        both!(self, create_staff(email, role, now))
    }

    /// The account with this (lower-cased) email.
    pub async fn staff_by_email(&self, email: &str) -> Result<Option<StaffRecord>, StoreError> {
        both!(self, staff_by_email(email))
    }

    /// Every account, oldest first.
    pub async fn list_staff(&self) -> Result<Vec<StaffRecord>, StoreError> {
        both!(self, list_staff())
    }

    /// Changes an account's role; false when there is no such account.
    pub async fn set_staff_role(&self, id: i64, role: &str) -> Result<bool, StoreError> {
        both!(self, set_staff_role(id, role))
    }

    /// Disables (Some) or re-enables (None) an account; disabling ends its sessions.
    pub async fn set_staff_disabled(
        &self,
        id: i64,
        disabled_at: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        both!(self, set_staff_disabled(id, disabled_at))
    }

    /// Stores a one-time link (its secret's hash) to set account `staff_id`'s password.
    pub async fn create_password_link(
        &self,
        staff_id: i64,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        both!(
            self,
            create_password_link(staff_id, token_hash, now, expires_at)
        )
    }

    /// The account a one-time link (by its secret's hash) sets the password of, while the
    /// link is unused and unexpired.
    pub async fn password_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<StaffRecord>, StoreError> {
        both!(self, password_link(token_hash, now))
    }

    /// Uses a one-time link: sets the password and marks the link used, in one transaction,
    /// and ends the account's other sessions. None when the link is unknown, used or expired.
    pub async fn use_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<StaffRecord>, StoreError> {
        both!(self, use_password_link(token_hash, password_hash, now))
    }

    /// Replaces an account's password and ends its sessions but `keep_session` (by hash).
    pub async fn set_staff_password(
        &self,
        id: i64,
        password_hash: &str,
        keep_session: &str,
    ) -> Result<(), StoreError> {
        both!(self, set_staff_password(id, password_hash, keep_session))
    }

    /// Stores a signed-in session (by its secret's hash) with its form token.
    pub async fn create_staff_session(
        &self,
        token_hash: &str,
        staff_id: i64,
        csrf: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        both!(
            self,
            create_staff_session(token_hash, staff_id, csrf, now, expires_at)
        )
    }

    /// The account and form token of a live session: unexpired, of an enabled account.
    pub async fn staff_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(StaffRecord, String)>, StoreError> {
        both!(self, staff_session(token_hash, now))
    }

    /// Ends a session (signing out).
    pub async fn delete_staff_session(&self, token_hash: &str) -> Result<(), StoreError> {
        both!(self, delete_staff_session(token_hash))
    }

    /// Records a failed sign-in for `email`.
    pub async fn record_login_failure(&self, email: &str, at: Timestamp) -> Result<(), StoreError> {
        both!(self, record_login_failure(email, at))
    }

    /// Failed sign-ins for `email` at or after `since`.
    pub async fn login_failures_since(
        &self,
        email: &str,
        since: Timestamp,
    ) -> Result<i64, StoreError> {
        both!(self, login_failures_since(email, since))
    }

    /// Forgets the failed sign-ins of `email` (after a successful one).
    pub async fn clear_login_failures(&self, email: &str) -> Result<(), StoreError> {
        both!(self, clear_login_failures(email))
    }

    /// Records one staff change in the audit log.
    pub async fn record_staff_audit(&self, entry: &NewStaffAudit<'_>) -> Result<(), StoreError> {
        both!(self, record_staff_audit(entry))
    }

    /// The staff audit log, newest first, at most `limit` entries.
    pub async fn staff_audit_log(&self, limit: i64) -> Result<Vec<StaffAuditEntry>, StoreError> {
        both!(self, staff_audit_log(limit))
    }
}
