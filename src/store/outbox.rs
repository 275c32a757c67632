//! The outbox: every text the gateway sends on its own (a broadcast, an invitation, a reminder,
//! a follow-up) is a row here, written in the same transaction as its cause and sent later by
//! the outbound worker (`crate::outbound`).

use jiff::Timestamp;

/// Why a text is being sent, which decides its priority and the rules it is sent under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// A broadcast staff queued.
    Broadcast,
    /// A survey invitation: opens a session, so the reply is the first answer.
    Invitation,
    /// A reminder of an unanswered question.
    Reminder,
    /// The closing text of a session that expired unanswered.
    Expiry,
    /// News about the resident's own service request.
    RequestUpdate,
}

impl OutboxKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Broadcast,
        Self::Invitation,
        Self::Reminder,
        Self::Expiry,
        Self::RequestUpdate,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broadcast => "broadcast",
            Self::Invitation => "invitation",
            Self::Reminder => "reminder",
            Self::Expiry => "expiry",
            Self::RequestUpdate => "request_update",
        }
    }

    /// The kind stored as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Lower is sent first. Texts to one resident about their own conversation or request come
    /// before mass texts, so a broadcast of thousands never delays a reminder behind it.
    pub fn priority(self) -> i32 {
        match self {
            Self::RequestUpdate | Self::Reminder | Self::Expiry => 10,
            Self::Invitation | Self::Broadcast => 50,
        }
    }

    /// True for unsolicited texts, which need a recorded opt-in (not merely no opt-out).
    pub fn needs_consent(self) -> bool {
        matches!(self, Self::Broadcast | Self::Invitation)
    }

    /// True when the text waits out quiet hours. None of these answers a text the resident just
    /// sent (those ride on the webhook's reply), so all of them wait.
    pub fn respects_quiet_hours(self) -> bool {
        true
    }
}

/// A text to queue for one resident; the store fills in who it goes to from its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxText {
    pub kind: OutboxKind,
    pub body: String,
    /// SMS segments the body takes (what it costs).
    pub segments: u32,
    /// Not sent before this time.
    pub not_before: Timestamp,
    /// At most one row per key is ever queued (a second is silently not added).
    pub dedupe_key: Option<String>,
}
