//! The records the store keeps and the change set one inbound text produces.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::flow::engine::{AnswerRecord, Media, ServiceRequest, Session};

/// A resident, as the gateway knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    /// E.164 (or the provider's address when it is not a phone number).
    pub phone: String,
    pub language: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub opted_out: bool,
    /// Unanswerable texts in the current throttle window, and when that window began.
    pub unmatched_count: u32,
    pub unmatched_since: Option<Timestamp>,
    pub last_default_reply_at: Option<Timestamp>,
    /// No replies at all to this number until then (robot protection).
    pub muted_until: Option<Timestamp>,
    /// When the resident was last told how to opt out after a text that might have meant
    /// STOP (sent at most once a day).
    pub opt_out_hint_at: Option<Timestamp>,
}

impl Contact {
    /// The id of a contact that is not stored: a number seen for the first time since its
    /// resident was forgotten while opted out. Its row is created by the text's write.
    pub const UNSTORED: i64 = 0;

    /// A forgotten resident who had opted out, texting again: opted out, nothing else known.
    pub fn remembered_opt_out(phone: &str) -> Contact {
        Contact {
            id: Contact::UNSTORED,
            phone: phone.to_string(),
            language: None,
            fields: BTreeMap::new(),
            opted_out: true,
            unmatched_count: 0,
            unmatched_since: None,
            last_default_reply_at: None,
            muted_until: None,
            opt_out_hint_at: None,
        }
    }

    /// True when the contact has a row in the database.
    pub fn is_stored(&self) -> bool {
        self.id != Contact::UNSTORED
    }
}

/// The contact's active conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub id: i64,
    pub state: Session,
}

/// What the store hands the decision for one inbound text.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// None for a number never seen before.
    pub contact: Option<Contact>,
    pub session: Option<ActiveSession>,
}

/// An inbound text as stored.
#[derive(Debug, Clone)]
pub struct InboundText {
    /// The provider's id: a repeat delivery carries the same one.
    pub sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Vec<Media>,
    pub received_at: Timestamp,
    /// The provider's own reading of the text as opt-out, opt-in or help (Twilio Advanced
    /// Opt-Out's `OptOutType`), if it gave one.
    pub provider_command: Option<crate::sms::vocabulary::Command>,
    /// The keyed hash of `from` kept for forgotten residents who had opted out
    /// ([`crate::privacy::Pseudonyms::erased_number`]). A number the store does not know is
    /// looked up by it, so a forgotten resident who said STOP is still treated as opted out.
    pub erased_hash: Option<String>,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Completed,
    Expired,
    OptedOut,
    Interrupted,
}

impl SessionEnd {
    /// The status stored for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Completed => "completed",
            SessionEnd::Expired => "expired",
            SessionEnd::OptedOut => "opted_out",
            SessionEnd::Interrupted => "interrupted",
        }
    }
}

/// An opt-out or opt-in, with the text that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    OptOut,
    OptIn,
}

/// A resident's consent now and every change to it, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentHistory {
    pub opted_out: bool,
    pub changes: Vec<ConsentEvent>,
}

/// One recorded change of a resident's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvent {
    pub change: ConsentChange,
    /// What it is about: None for everything (STOP, START, a list imported without a topic);
    /// a topic for an answer to a consent question (an opt-in, or, for any other answer, a
    /// withdrawal of that topic alone) or a list imported for it.
    pub topic: Option<String>,
    /// The provider id (MessageSid) of the text that made it, when a text did.
    pub sid: Option<String>,
}

impl ConsentEvent {
    /// A "no" to a consent question: the topic is withdrawn, nothing else.
    pub fn is_withdrawal(&self) -> bool {
        self.change == ConsentChange::OptOut && self.topic.is_some()
    }
}

/// Everything one inbound text changes; the store applies it in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Texts to reply with, in order.
    pub replies: Vec<String>,
    /// Consent change caused by this text.
    pub consent: Option<ConsentChange>,
    /// The contact's language, if it changed.
    pub language: Option<String>,
    /// Profile fields set.
    pub fields: Vec<(String, String)>,
    /// Throttle bookkeeping to store on the contact.
    pub throttle: Option<Throttle>,
    /// The active session ends (it is the one in the snapshot).
    pub end_session: Option<SessionEnd>,
    /// The session to keep: a new one, or the snapshot's one advanced.
    pub session: Option<SessionWrite>,
    /// Answers, for the session being written (or ended).
    pub answers: Vec<AnswerRecord>,
    pub requests: Vec<ServiceRequest>,
    /// Why the gateway answered as it did (logged and stored with the message).
    pub route: &'static str,
}

impl SessionWrite {
    /// The engine's session as stored (JSON).
    pub fn state_json(&self) -> String {
        serde_json::to_string(&self.state).expect("a session serialises")
    }

    /// The status column: `active`, or how it ended.
    pub fn status(&self) -> &'static str {
        self.ended.map_or("active", SessionEnd::as_str)
    }

    /// True when this write creates a row rather than updating the snapshot's session.
    pub fn inserts(&self, snapshot_session: Option<i64>) -> bool {
        self.new || snapshot_session.is_none()
    }
}

/// The new state of the throttle counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub unmatched_count: u32,
    pub unmatched_since: Option<Timestamp>,
    pub last_default_reply_at: Option<Timestamp>,
    pub muted_until: Option<Timestamp>,
    pub opt_out_hint_at: Option<Timestamp>,
}

/// A session to store after this text.
#[derive(Debug, Clone)]
pub struct SessionWrite {
    pub state: Session,
    /// Some when the session finished with this text.
    pub ended: Option<SessionEnd>,
    /// True when this text started it (a new row), false to update the snapshot's session.
    pub new: bool,
}

/// The contact's row after a decision, the same for every backend.
pub struct ContactChanges {
    /// True when the contact exists and this text changes nothing of it (nor its consent), so
    /// its row need not be written.
    pub unchanged: bool,
    pub language: Option<String>,
    pub fields_json: String,
    pub opted_out: bool,
    pub throttle: Throttle,
}

/// The contact's row after `d`: created on first contact, updated with what the text changed.
pub fn contact_changes(snapshot: &Snapshot, d: &Decision) -> ContactChanges {
    let mut fields: BTreeMap<String, String> = snapshot
        .contact
        .as_ref()
        .map(|c| c.fields.clone())
        .unwrap_or_default();
    for (k, v) in &d.fields {
        fields.insert(k.clone(), v.clone());
    }
    let language = d
        .language
        .clone()
        .or_else(|| snapshot.contact.as_ref().and_then(|c| c.language.clone()));
    let opted_out = match d.consent {
        Some(ConsentChange::OptOut) => true,
        Some(ConsentChange::OptIn) => false,
        None => snapshot.contact.as_ref().is_some_and(|c| c.opted_out),
    };
    let throttle = d.throttle.unwrap_or(match &snapshot.contact {
        Some(c) => Throttle {
            unmatched_count: c.unmatched_count,
            unmatched_since: c.unmatched_since,
            last_default_reply_at: c.last_default_reply_at,
            muted_until: c.muted_until,
            opt_out_hint_at: c.opt_out_hint_at,
        },
        None => Throttle {
            unmatched_count: 0,
            unmatched_since: None,
            last_default_reply_at: None,
            muted_until: None,
            opt_out_hint_at: None,
        },
    });
    let unchanged = d.consent.is_none()
        && snapshot.contact.as_ref().is_some_and(|c| {
            c.language == language
                && c.fields == fields
                && c.opted_out == opted_out
                && c.unmatched_count == throttle.unmatched_count
                && c.unmatched_since == throttle.unmatched_since
                && c.last_default_reply_at == throttle.last_default_reply_at
                && c.muted_until == throttle.muted_until
                && c.opt_out_hint_at == throttle.opt_out_hint_at
        });
    ContactChanges {
        unchanged,
        language,
        fields_json: serde_json::to_string(&fields).expect("a string map serialises"),
        opted_out,
        throttle,
    }
}
