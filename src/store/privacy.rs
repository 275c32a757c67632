//! Residents' privacy in the store: retention (old message bodies redacted), erasure of one
//! resident on request, and everything held about one resident (a subject-access request).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use super::{Store, StoreError};
use crate::flow::engine::Session;

/// Rows whose text the retention job blanked in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Redacted {
    /// Inbound and outbound messages: body and media links.
    pub messages: u64,
    /// Answers: the raw text (a verbatim copy of the resident's message). The normalised
    /// value and the category stay.
    pub answers: u64,
    /// Finished outbox rows: the text that was (or was not) sent.
    pub outbox: u64,
}

impl Redacted {
    /// Rows changed in all.
    pub fn total(&self) -> u64 {
        self.messages + self.answers + self.outbox
    }
}

/// Rows changed per statement of a retention run: small transactions, so inbound texts never
/// wait long behind the job.
pub const REDACT_BATCH: i64 = 500;

/// What to forget, and what may stay.
#[derive(Debug, Clone)]
pub struct ForgetRequest {
    /// The number as stored (E.164).
    pub phone: String,
    /// The keyed hash of the number kept in the opt-out list when the resident had opted out
    /// ([`crate::privacy::Pseudonyms::erased_number`]).
    pub erased_hash: String,
    /// The questions marked `anonymous` in some flow version: (flow, version, question). Only
    /// their answers' normalised values are kept.
    pub anonymous: BTreeSet<(String, String, String)>,
    pub now: Timestamp,
}

/// What forgetting a resident removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// False when no contact had that number (nothing was held).
    pub found: bool,
    /// The resident had opted out: the keyed hash of their number stays on the opt-out list.
    pub opt_out_kept: bool,
    pub messages: u64,
    pub sessions: u64,
    pub answers_removed: u64,
    /// Anonymous answers kept (value and category only), detached from the resident.
    pub answers_kept: u64,
    pub service_requests: u64,
    pub outbox: u64,
    pub consent_events: u64,
    /// SQLite: the file was rebuilt and its log emptied, so no deleted byte remains on disk.
    /// False when another connection kept the log from being emptied in time (the rows are
    /// deleted all the same; running the erasure again finishes the job). Always true on
    /// PostgreSQL, whose deleted rows are unreadable through SQL at once and reclaimed by
    /// its vacuum.
    pub scrubbed: bool,
}

/// One consent change, as held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentRecord {
    /// `opt_in` or `opt_out`.
    pub kind: String,
    /// What it is about; None for everything. An `opt_out` with a topic is a withdrawal of
    /// that topic alone (a "no" to a consent question), not a STOP.
    pub topic: Option<String>,
    /// The text that made it (empty for an imported list).
    pub text: String,
    /// The MessageSid of that text, when a text made it.
    pub message_sid: Option<String>,
    pub source: Option<String>,
    pub at: Timestamp,
}

impl ConsentRecord {
    /// What the change was, for a person to read: `opt_in`, `opt_out` (STOP), `opt_in to
    /// <topic>` or `withdrawal of <topic>`.
    pub fn describe(&self) -> String {
        match (self.kind.as_str(), &self.topic) {
            ("opt_out", Some(topic)) => format!("withdrawal of {topic}"),
            ("opt_in", Some(topic)) => format!("opt_in to {topic}"),
            (kind, _) => kind.to_string(),
        }
    }
}

/// One answer, as held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldAnswer {
    pub question: String,
    pub raw: String,
    pub value: String,
    pub category: String,
    pub answered_at: Timestamp,
}

/// One conversation, as held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldSession {
    pub id: i64,
    pub flow: String,
    pub flow_version: String,
    pub language: String,
    pub status: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub answers: Vec<HeldAnswer>,
}

/// One text in or out, as held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldMessage {
    /// `in` (from the resident) or `out` (to them).
    pub direction: String,
    pub body: String,
    /// Links to pictures the resident sent.
    pub media: Vec<String>,
    pub status: String,
    pub at: Timestamp,
    /// When retention blanked its body.
    pub redacted_at: Option<Timestamp>,
}

/// One service request, as held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldRequest {
    pub code: String,
    pub service: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub photo: Option<String>,
    pub status: String,
    pub status_notes: Option<String>,
    pub created_at: Timestamp,
}

/// One text queued or sent by the gateway on its own, as held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldOutbox {
    pub kind: String,
    pub body: String,
    pub state: String,
    pub created_at: Timestamp,
}

/// Everything held about one resident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRecord {
    pub phone: String,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    /// Profile fields saved by flows.
    pub fields: BTreeMap<String, String>,
    pub opted_out: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub consent: Vec<ConsentRecord>,
    pub sessions: Vec<HeldSession>,
    pub messages: Vec<HeldMessage>,
    pub service_requests: Vec<HeldRequest>,
    pub outbox: Vec<HeldOutbox>,
}

/// A session's stored state with everything about the resident taken out: profile fields,
/// a location waiting for confirmation, the tracking code, and every answer not in `keep`.
pub(super) fn scrub_state(state: &str, keep: &BTreeSet<String>) -> Result<String, StoreError> {
    let mut s: Session = serde_json::from_str(state)
        .map_err(|e| StoreError::Corrupt(format!("session state: {e}")))?;
    s.contact.clear();
    s.pending_location = None;
    s.tracking_code = None;
    s.expires_at = None;
    s.answers.retain(|q, _| keep.contains(q));
    Ok(serde_json::to_string(&s).expect("a session serialises"))
}

/// The stand-in number of an erased contact that still holds anonymous answers: random, so
/// it says nothing about the resident, and not a phone number, so nothing can text it.
pub(super) fn erased_stand_in() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("erased:{hex}")
}

/// Removes `phone` from a broadcast's audience description (a list of numbers).
pub(super) fn without_number(audience: &str, phone: &str) -> String {
    audience.replace(phone, "(erased)")
}

impl Store {
    /// Blanks message bodies, raw answer texts and finished outbox texts from before `cutoff`
    /// (the retention job). Answers' values and categories, and every count, stay. Safe to run
    /// from several replicas at once: each statement changes rows not yet blanked, and on
    /// PostgreSQL skips rows another replica is changing.
    pub async fn redact_before(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<Redacted, StoreError> {
        match self {
            Store::Sqlite(s) => s.redact_before(cutoff, now).await,
            Store::Postgres(s) => s.redact_before(cutoff, now).await,
        }
    }

    /// Forgets a resident (see [`ForgetRequest`]): their contact, profile, consent history,
    /// messages, service requests, queued texts and answers are deleted, except the values of
    /// anonymous answers, which move to a stand-in contact that can never be texted. If they had
    /// opted out, the keyed hash of their number is kept so a text from it is still treated as
    /// opted out. On SQLite the file is then rebuilt (VACUUM) and the log emptied, so no deleted
    /// byte survives in either.
    pub async fn forget_contact(&self, request: &ForgetRequest) -> Result<Forgotten, StoreError> {
        match self {
            Store::Sqlite(s) => s.forget_contact(request).await,
            Store::Postgres(s) => s.forget_contact(request).await,
        }
    }

    /// Everything held about the resident with number `phone`; None when nothing is.
    pub async fn contact_record(&self, phone: &str) -> Result<Option<ContactRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.contact_record(phone).await,
            Store::Postgres(s) => s.contact_record(phone).await,
        }
    }

    /// True when a forgotten resident who had opted out had the number whose keyed hash is
    /// `erased_hash`.
    pub async fn is_forgotten_opt_out(&self, erased_hash: &str) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.is_forgotten_opt_out(erased_hash).await,
            Store::Postgres(s) => s.is_forgotten_opt_out(erased_hash).await,
        }
    }
}
