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

/// A queued text that is due, with what is known of its recipient at this moment, for the
/// worker's policy to judge while the row is locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub kind: OutboxKind,
    pub to: String,
    pub segments: u32,
    /// The contact's own IANA time zone, if stored.
    pub time_zone: Option<String>,
    pub opted_out: bool,
    /// Has a recorded opt-in that still holds (not opted out since) — for a broadcast to a
    /// consent topic, one to that topic or to everything.
    pub consented: bool,
    pub invalid: bool,
    pub unreachable: bool,
    /// A reminder whose conversation moved on after it was queued (the resident texted, or the
    /// conversation ended): it would ask about a question already dealt with.
    pub superseded: bool,
}

/// The policy's verdict on a [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Claim it and send it.
    Send,
    /// Never send it; keep why.
    Skip(String),
    /// Not yet (quiet hours): leave it queued until then.
    Hold(Timestamp),
}

/// How a replica claims texts.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimSpec {
    /// This replica's name, kept on the rows it claims.
    pub worker: String,
    /// The sending number or Messaging Service: the rate is per sender.
    pub sender: String,
    pub now: Timestamp,
    /// How long past its slot a claimed text is this replica's alone; past it, the text is in
    /// doubt and reconciled (never simply resent).
    pub lease: jiff::SignedDuration,
    /// Due rows looked at per claim.
    pub max_rows: u32,
}

/// The decisions a claim asks of the outbound policy, inside its transaction.
pub trait ClaimPolicy: Send + Sync {
    /// Whether a due text may go now.
    fn judge(&self, candidate: &Candidate) -> Verdict;
    /// Send slots (microseconds since the Unix epoch) for texts of these segment counts, in
    /// order, given the sender's next free slot shared by every replica: fewer slots than texts
    /// leaves the rest queued. Returns the slots and the sender's new next free slot.
    fn pace(&self, next_free_us: i64, segments: &[u32]) -> (Vec<i64>, i64);
}

/// A text claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedText {
    pub id: i64,
    pub contact_id: i64,
    pub session_id: Option<i64>,
    pub kind: OutboxKind,
    pub to: String,
    pub body: String,
    pub segments: u32,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// When it may be handed to the provider (pacing).
    pub slot: Timestamp,
}

/// What the store did in one claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    pub texts: Vec<ClaimedText>,
    pub skipped: u32,
    pub held: u32,
}

/// What happened to the recipient, as the provider told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientFact {
    /// Nothing new about the recipient.
    Nothing,
    /// They opted out at the provider (Twilio 21610): record an opt-out.
    OptedOut,
    /// The number cannot receive SMS (21211, 21614).
    Invalid,
}

/// The outcome of a send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted it.
    Sent {
        sid: String,
        /// Twilio's status word (`queued`, `accepted` …).
        status: String,
        /// Segments the provider billed, if it said.
        segments: Option<u32>,
    },
    /// A transient failure: try again at `not_before`.
    Retry {
        not_before: Timestamp,
        code: Option<u32>,
        error: String,
    },
    /// A permanent failure: never retried.
    Failed {
        code: Option<u32>,
        error: String,
        fact: RecipientFact,
    },
}

/// The outcome of one send, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSend {
    /// The outbox row.
    pub id: i64,
    pub outcome: SendOutcome,
    /// When the provider answered.
    pub at: Timestamp,
}

/// A text whose sending replica stopped answering (its lease ran out mid-call): it may or may
/// not have reached the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDoubtText {
    pub id: i64,
    pub to: String,
    pub body: String,
    /// When it was claimed: the provider's copy, if any, was created after this.
    pub claimed_at: Timestamp,
}

/// Counts of a broadcast's texts by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastProgress {
    pub id: i64,
    pub status: String,
    pub recipients: i64,
    pub queued: i64,
    pub sending: i64,
    pub in_doubt: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub cancelled: i64,
}

/// A broadcast to queue: one text per recipient, in their language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBroadcast {
    /// Text per language code; the first is used for a contact whose language has none.
    pub texts: Vec<(String, String)>,
    /// How the audience was chosen, kept for the record.
    pub audience_label: String,
    pub audience: Audience,
    /// Only contacts who consented to this topic (or to everything: START, an untopical list).
    pub topic: Option<String>,
    /// A survey invitation: the texts are the flow's first question, and the session waiting
    /// for its answer is opened when a text is recorded as sent.
    pub invitation: Option<Invitation>,
    pub send_at: Timestamp,
    pub created_by: String,
    pub now: Timestamp,
}

/// The flow a survey invitation opens, with the session to open per language (each waiting on
/// the flow's first question; its times are moved to the moment the text is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub flow_id: String,
    /// Session per language code, in the same languages as the broadcast's texts.
    pub sessions: Vec<(String, crate::flow::engine::Session)>,
}

/// Who a broadcast goes to (always narrowed further to contacts with a recorded opt-in that
/// have not opted out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every consenting contact.
    Everyone,
    /// Contacts whose profile field `name` (letters, digits, `_`) equals `value`.
    Field { name: String, value: String },
    /// These numbers (E.164).
    Phones(Vec<String>),
}

/// One recipient of a broadcast, as a dry run lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceMember {
    pub contact_id: i64,
    pub phone: String,
    pub language: Option<String>,
    /// The contact's own IANA time zone, if stored (for the quiet-hours forecast).
    pub time_zone: Option<String>,
}

/// Consenting, reachable contacts of an audience counted by what decides a text's cost and
/// when quiet hours let it go: language, own time zone and North American area code. A preview
/// needs only these counts, and counting in the database keeps it fast for any audience size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AudienceGroup {
    pub language: Option<String>,
    pub time_zone: Option<String>,
    /// The area code of a `+1` number of ten digits; None for any other number.
    pub area_code: Option<String>,
    pub members: u64,
}

/// A broadcast as staff see it in a list: what, to whom, by whom, when, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastSummary {
    pub id: i64,
    /// Text per language code (for an invitation, the flow's opening per language).
    pub texts: Vec<(String, String)>,
    /// The flow a survey invitation opens.
    pub flow_id: Option<String>,
    /// How the audience was chosen, as recorded.
    pub audience: String,
    pub topic: Option<String>,
    pub send_at: Timestamp,
    pub created_by: String,
    pub created_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
    pub progress: BroadcastProgress,
}

/// A consent given outside a text (an imported list): who, where, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedConsent {
    pub phone: String,
    /// Where consent was given (`import:<list>` or the list's own words).
    pub source: String,
    pub given_at: Timestamp,
    /// What the consent covers; None: every topic.
    pub topic: Option<String>,
    /// The keyed hash of the number ([`crate::privacy::Pseudonyms::erased_number`]). A resident
    /// forgotten while opted out is known only by it, and a list naming them again must not
    /// subscribe them again.
    pub erased_hash: String,
}

/// What an import of consents did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentImport {
    /// Consents recorded.
    pub recorded: usize,
    /// The rows left out (indexes into the rows given): numbers of residents forgotten
    /// (`civictext contacts forget`) while opted out. Their opt-out stays in force; nothing
    /// about them is stored.
    pub forgotten_opt_outs: Vec<usize>,
}

/// The session a survey invitation opens, from the state queued with it, as if started at
/// `now` (it was prepared when the broadcast was queued, perhaps hours before it went): the same
/// time to expiry, counted from the moment the text was sent.
pub(super) fn invitation_session(
    state: &str,
    now: Timestamp,
) -> Result<crate::flow::engine::Session, super::StoreError> {
    let mut s: crate::flow::engine::Session = serde_json::from_str(state)
        .map_err(|e| super::StoreError::Corrupt(format!("invitation session: {e}")))?;
    if let Some(expires) = s.expires_at {
        s.expires_at = Some(now + expires.duration_since(s.started_at));
    }
    s.started_at = now;
    s.updated_at = now;
    Ok(s)
}

/// The SQL dialect of a query built here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

/// The SQL condition "contact `c` may be texted first about `topic` now", with `topic` an SQL
/// expression (a column or a parameter) that is NULL for a text about no topic in particular.
///
/// The contact has not opted out (STOP), and the latest of their consent events that concern
/// the topic — those for the topic itself and those for everything (no topic) — is an opt-in.
/// Events are ordered by when consent was given or withdrawn (`given_at`, for an imported list,
/// else when it was recorded), then by id. So a "no" to a consent question (an opt-out of its
/// topic) withdraws that topic alone, and a later "yes" or START consents again. For no
/// topic in particular, any opt-in not withdrawn since will do.
///
/// Written as "an opt-in with no opt-out after it" so each contact's events are looked up by
/// `consent_events_contact (contact_id, id)`: a contact has a handful of events, and the
/// audience query runs this once per contact.
pub(super) fn consent_sql(dialect: Dialect, topic: &str) -> String {
    consent_condition(dialect, topic, false)
}

/// [`consent_sql`] for a query over many contacts at once (an audience): the same condition,
/// with the look for a later withdrawal skipped for contacts who never opted out of anything,
/// found once through one set of every contact with an opt-out. Most consenting residents have
/// none, and looking once per contact made PostgreSQL's audience query a third slower.
pub(super) fn bulk_consent_sql(dialect: Dialect, topic: &str) -> String {
    consent_condition(dialect, topic, true)
}

fn consent_condition(dialect: Dialect, topic: &str, bulk: bool) -> String {
    let (not_opted_out, e_at, w_at) = match dialect {
        Dialect::Sqlite => (
            "c.opted_out = 0",
            // Times are RFC 3339 text of varying width: compare them as times.
            "julianday(COALESCE(e.given_at, e.created_at))",
            "julianday(COALESCE(w.given_at, w.created_at))",
        ),
        Dialect::Postgres => (
            "NOT c.opted_out",
            "COALESCE(e.given_at, e.created_at)",
            "COALESCE(w.given_at, w.created_at)",
        ),
    };
    let never_opted_out = if bulk {
        "c.id NOT IN (SELECT o.contact_id FROM consent_events o WHERE o.kind = 'opt_out') OR "
    } else {
        ""
    };
    format!(
        "({not_opted_out} AND EXISTS (
            SELECT 1 FROM consent_events e
            WHERE e.contact_id = c.id AND e.kind = 'opt_in'
              AND ({topic} IS NULL OR e.topic IS NULL OR e.topic = {topic})
              AND ({never_opted_out}NOT EXISTS (
                  SELECT 1 FROM consent_events w
                  WHERE w.contact_id = c.id AND w.kind = 'opt_out'
                    AND (w.topic IS NULL OR w.topic = COALESCE({topic}, e.topic))
                    AND ({w_at}, w.id) > ({e_at}, e.id)))))"
    )
}

/// Fixed-width RFC 3339 UTC (microseconds), so stored times compare correctly as text.
pub(super) fn fixed_ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl super::Store {
    /// Claims due texts for `spec.worker`: locks them (no other replica can take them), asks
    /// the policy about each with its recipient's facts read in the same transaction, marks
    /// the skipped and held ones, reserves paced send slots for the rest from the sender's
    /// slot shared by every replica, and commits them as `sending` under a lease.
    pub async fn claim_outbox(
        &self,
        spec: &ClaimSpec,
        policy: &dyn ClaimPolicy,
    ) -> Result<Claim, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::claim(s.pool(), spec, policy).await,
            super::Store::Postgres(s) => {
                super::postgres_outbox::claim(s.pool(), spec, policy).await
            }
        }
    }

    /// Records the outcome of sending claimed text `id` (from `from`). A sent text gets a
    /// message row that delivery callbacks update; an opt-out reported by the provider is
    /// recorded as one.
    pub async fn record_send(
        &self,
        id: i64,
        from: &str,
        outcome: &SendOutcome,
        now: Timestamp,
    ) -> Result<(), super::StoreError> {
        let send = RecordedSend {
            id,
            outcome: outcome.clone(),
            at: now,
        };
        self.record_sends(from, std::slice::from_ref(&send)).await
    }

    /// Records the outcomes of several sends from `from` in one transaction (one commit for
    /// many texts), each as [`Self::record_send`] would. A text already recorded (by a
    /// reconciliation) is left as it is.
    pub async fn record_sends(
        &self,
        from: &str,
        sends: &[RecordedSend],
    ) -> Result<(), super::StoreError> {
        if sends.is_empty() {
            return Ok(());
        }
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::record(s.pool(), from, sends).await,
            super::Store::Postgres(s) => {
                super::postgres_outbox::record(s.pool(), from, sends).await
            }
        }
    }

    /// Marks texts whose lease ran out while `sending` as in doubt, and claims up to `limit`
    /// in-doubt texts for `worker` to reconcile (each for `lease`, so no two replicas look
    /// at one at once).
    pub async fn claim_in_doubt(
        &self,
        worker: &str,
        now: Timestamp,
        lease: jiff::SignedDuration,
        limit: u32,
    ) -> Result<Vec<InDoubtText>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::claim_in_doubt(s.pool(), worker, now, lease, limit).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::claim_in_doubt(s.pool(), worker, now, lease, limit).await
            }
        }
    }

    /// Queues a broadcast: one outbox row per audience member who may receive it now (a
    /// recorded opt-in, not opted out, a valid and reachable number), all in one transaction.
    /// Returns its id and the number of texts queued.
    pub async fn queue_broadcast(&self, b: &NewBroadcast) -> Result<(i64, i64), super::StoreError> {
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::queue_broadcast(s.pool(), b).await,
            super::Store::Postgres(s) => super::postgres_outbox::queue_broadcast(s.pool(), b).await,
        }
    }

    /// Who a broadcast to `audience` (consenting to `topic`, if given) would reach now.
    pub async fn audience(
        &self,
        audience: &Audience,
        topic: Option<&str>,
    ) -> Result<Vec<AudienceMember>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::audience(s.pool(), audience, topic).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::audience(s.pool(), audience, topic).await
            }
        }
    }

    /// Who a broadcast to `audience` (consenting to `topic`, if given) would reach now, counted
    /// in groups (see [`AudienceGroup`]) rather than listed.
    pub async fn audience_groups(
        &self,
        audience: &Audience,
        topic: Option<&str>,
    ) -> Result<Vec<AudienceGroup>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::audience_groups(s.pool(), audience, topic).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::audience_groups(s.pool(), audience, topic).await
            }
        }
    }

    /// Records consents given outside a text (creating contacts not seen before); a number that
    /// opted out stays opted out, and the number of a resident forgotten while opted out (who
    /// has no contact, only the hash of the number) is left out and stays unknown.
    pub async fn import_consents(
        &self,
        rows: &[ImportedConsent],
        now: Timestamp,
    ) -> Result<ConsentImport, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::import_consents(s.pool(), rows, now).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::import_consents(s.pool(), rows, now).await
            }
        }
    }

    /// Which of `rows` [`Store::import_consents`] would leave out now (indexes into `rows`):
    /// numbers of residents forgotten while opted out, not known again since.
    pub async fn forgotten_opt_outs_among(
        &self,
        rows: &[ImportedConsent],
    ) -> Result<Vec<usize>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::forgotten_opt_outs_among(s.pool(), rows).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::forgotten_opt_outs_among(s.pool(), rows).await
            }
        }
    }

    /// A broadcast's progress; None if there is no such broadcast.
    pub async fn broadcast_progress(
        &self,
        id: i64,
    ) -> Result<Option<BroadcastProgress>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::progress(s.pool(), id).await,
            super::Store::Postgres(s) => super::postgres_outbox::progress(s.pool(), id).await,
        }
    }

    /// The latest `limit` broadcasts with their progress, newest first; with `before`, those
    /// older than broadcast `before` (the next page).
    pub async fn broadcasts(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<BroadcastSummary>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::broadcasts(s.pool(), limit, before, None).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::broadcasts(s.pool(), limit, before, None).await
            }
        }
    }

    /// Broadcast `id` with its progress; None if there is no such broadcast.
    pub async fn broadcast(&self, id: i64) -> Result<Option<BroadcastSummary>, super::StoreError> {
        let found = match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::broadcasts(s.pool(), 1, None, Some(id)).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::broadcasts(s.pool(), 1, None, Some(id)).await
            }
        }?;
        Ok(found.into_iter().next())
    }

    /// The ids of the latest `limit` broadcasts, newest first.
    pub async fn recent_broadcasts(&self, limit: u32) -> Result<Vec<i64>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => Ok(sqlx::query_scalar(
                "SELECT id FROM broadcasts ORDER BY id DESC LIMIT ?",
            )
            .bind(i64::from(limit))
            .fetch_all(s.pool())
            .await?),
            super::Store::Postgres(s) => Ok(sqlx::query_scalar(
                "SELECT id FROM broadcasts ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(s.pool())
            .await?),
        }
    }

    /// Cancels what of broadcast `id` has not gone yet; returns how many texts were cancelled.
    pub async fn cancel_broadcast(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<i64, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::cancel(s.pool(), id, now).await,
            super::Store::Postgres(s) => super::postgres_outbox::cancel(s.pool(), id, now).await,
        }
    }
}

impl super::Store {
    /// An in-doubt text the provider never received goes back to the queue (it is safe to
    /// send: reconciliation found no copy).
    pub async fn requeue_in_doubt(&self, id: i64, now: Timestamp) -> Result<(), super::StoreError> {
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::requeue(s.pool(), id, now).await,
            super::Store::Postgres(s) => super::postgres_outbox::requeue(s.pool(), id, now).await,
        }
    }

    /// Ends the lease on a claimed text now: the send call got no answer, so the text is in
    /// doubt and goes to reconciliation instead of being resent.
    pub async fn release_to_doubt(&self, id: i64, now: Timestamp) -> Result<(), super::StoreError> {
        match self {
            super::Store::Sqlite(s) => {
                super::sqlite_outbox::release_to_doubt(s.pool(), id, now).await
            }
            super::Store::Postgres(s) => {
                super::postgres_outbox::release_to_doubt(s.pool(), id, now).await
            }
        }
    }

    /// Applies a delivery status callback to the outbound message `d.sid`, unless the message
    /// already stands further along (callbacks arrive out of order). None when no outbound
    /// message has that id; Some(false) for a stale callback.
    pub async fn record_delivery(
        &self,
        d: &DeliveryUpdate,
    ) -> Result<Option<bool>, super::StoreError> {
        match self {
            super::Store::Sqlite(s) => super::sqlite_outbox::record_delivery(s.pool(), d).await,
            super::Store::Postgres(s) => super::postgres_outbox::record_delivery(s.pool(), d).await,
        }
    }
}

/// A delivery status reported for an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub sid: String,
    /// The provider's status word.
    pub status: String,
    /// Its place in the message's life (see `MessageStatus::rank`).
    pub rank: i32,
    pub error_code: Option<u32>,
    /// The handset could not be reached (counts towards marking the number unreachable).
    pub unreachable: bool,
    /// It was delivered (the number is reachable again).
    pub delivered: bool,
    /// Failures in a row after which the number counts as unreachable.
    pub unreachable_after: u32,
    pub at: Timestamp,
}
