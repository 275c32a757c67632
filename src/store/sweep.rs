//! The session sweep: conversations whose reminder or expiry has fallen due while the resident
//! said nothing. Every replica sweeps; a session is claimed by one of them at a time (SQLite:
//! the single writer; PostgreSQL: `FOR UPDATE SKIP LOCKED` and the resident's advisory lock,
//! so a text arriving at the same moment is never overtaken), and whatever the sweep decides
//! (a reminder queued, the session closed and its closing text queued) is committed in one
//! transaction.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::outbox::OutboxText;
use crate::flow::engine::Session;

/// An active session whose reminder or expiry may be due, with what the engine needs to word
/// the texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSession {
    pub id: i64,
    pub contact_id: i64,
    pub phone: String,
    /// The contact's profile fields, with `language` when it is known.
    pub contact: BTreeMap<String, String>,
    pub state: Session,
}

/// What to do with a [`DueSession`], decided by the caller without IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepAction {
    /// Not due after all (the index is exact only to the second): change nothing.
    Leave,
    /// Store the session's new state (it stays active), queueing `text` if any (a reminder).
    Update {
        state: Session,
        text: Option<OutboxText>,
    },
    /// Close the session as expired, storing its last state and queueing its closing text if
    /// any.
    Expire {
        state: Session,
        closing: Option<OutboxText>,
    },
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Due sessions looked at.
    pub sessions: u32,
    /// Reminders queued.
    pub reminded: u32,
    /// Sessions closed as expired.
    pub expired: u32,
    /// Texts not queued because a text with the same cause was queued before.
    pub duplicates: u32,
}

impl super::Store {
    /// Claims up to `limit` active sessions whose reminder or expiry is due at `now`, asks
    /// `decide` what each needs, and commits every change in one transaction: the session's new
    /// state or its end, and the texts queued in the outbox (written for the session's contact,
    /// caused by the session). Sessions another replica is sweeping, or whose resident is texting
    /// right now, are left for the next sweep.
    pub async fn sweep_sessions(
        &self,
        now: Timestamp,
        limit: u32,
        decide: impl Fn(&DueSession) -> SweepAction + Send + Sync,
    ) -> Result<SweepReport, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_sweep::sweep(s.pool(), now, limit, &decide).await
            }
            super::Store::Postgres(s) => {
                super::postgres_sweep::sweep(s.pool(), now, limit, &decide).await
            }
        }
    }
}

/// The engine's context for a contact: its fields, and its language among them.
pub(super) fn contact_fields(
    fields_json: &str,
    language: Option<String>,
) -> Result<BTreeMap<String, String>, super::StoreError> {
    let mut fields: BTreeMap<String, String> = serde_json::from_str(fields_json)
        .map_err(|e| super::StoreError::Corrupt(format!("contact fields: {e}")))?;
    if let Some(l) = language {
        fields.entry("language".into()).or_insert(l);
    }
    Ok(fields)
}

/// A session's stored state.
pub(super) fn parse_state(json: &str) -> Result<Session, super::StoreError> {
    serde_json::from_str(json)
        .map_err(|e| super::StoreError::Corrupt(format!("session state: {e}")))
}
