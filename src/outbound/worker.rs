//! The outbox worker: one loop per replica that claims due texts (the store checks consent and
//! quiet hours through [`Policy`] while the rows are locked, and hands out paced send slots
//! shared by every replica), sends each at its slot, and records Twilio's answer. Texts whose
//! sending replica died mid-call are reconciled against Twilio's Messages list, never blindly
//! resent (docs/adr/0009-outbox-exactly-once.md).

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::consent::{self, Recipient};
use super::quiet_hours::QuietHours;
use super::{pacing, retry, zones};
use crate::channel::twilio::sender::{SendError, SendFrom, TwilioSender};
use crate::store::{
    Candidate, ClaimPolicy, ClaimSpec, ClaimedText, InDoubtText, RecipientFact, RecordedSend,
    SendOutcome, Store, Verdict,
};
use crate::telemetry;

/// Where the worker reads the time: the system clock, or a test's.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// How the worker sends.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    pub from: SendFrom,
    /// Segments per second for this sender, across every replica.
    pub per_second: f64,
    pub quiet_hours: Option<QuietHours>,
    /// The zone of a resident whose number names none.
    pub gateway_zone: TimeZone,
    /// Where Twilio posts delivery statuses.
    pub status_callback: Option<String>,
    /// This replica's name, kept on the rows it claims.
    pub worker: String,
    /// How often to look for due texts when there are none.
    pub poll: Duration,
}

/// Texts handed to Twilio at once by one replica.
const IN_FLIGHT: usize = 256;
/// Twilio's answers recorded in one transaction at most. Answers that arrive while a batch is
/// being written wait for the next one, so one commit covers many texts under load and a lone
/// text is recorded at once.
const RECORD_BATCH: usize = 256;
/// Texts are claimed at most this far ahead of their send slot.
const HORIZON: SignedDuration = SignedDuration::from_millis(500);
/// How long past its slot a claimed text stays this replica's: longer than a send call can
/// take (the client gives up after 30 s), so a live replica never loses a text it is sending.
const LEASE: SignedDuration = SignedDuration::from_secs(90);
/// How often in-doubt texts are looked for.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// A copy of an in-doubt text found at Twilio counts if Twilio created it no earlier than this
/// before the claim (clock differences).
const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(120);

/// Why a reminder was not sent: the resident answered (or the conversation ended) first.
pub const SUPERSEDED: &str = "the conversation moved on before the reminder went";

/// The pure decisions of a claim, at one instant.
pub struct Policy<'a> {
    pub settings: &'a OutboundSettings,
    pub now: Timestamp,
}

impl ClaimPolicy for Policy<'_> {
    fn judge(&self, c: &Candidate) -> Verdict {
        let recipient = Recipient {
            opted_out: c.opted_out,
            consented: c.consented,
            invalid: c.invalid,
            unreachable: c.unreachable,
        };
        if let Some(why) = consent::refuse(c.kind, recipient) {
            return Verdict::Skip(why.as_str().to_string());
        }
        if c.superseded {
            return Verdict::Skip(SUPERSEDED.to_string());
        }
        if let (true, Some(quiet)) = (c.kind.respects_quiet_hours(), &self.settings.quiet_hours) {
            let zones =
                zones::resident_zones(c.time_zone.as_deref(), &c.to, &self.settings.gateway_zone);
            if let Some(morning) = quiet.wait_until(self.now, &zones) {
                return Verdict::Hold(morning);
            }
        }
        Verdict::Send
    }

    fn pace(&self, next_free_us: i64, segments: &[u32]) -> (Vec<i64>, i64) {
        let now = self.now.as_microsecond();
        let horizon = i64::try_from(HORIZON.as_micros()).unwrap_or(i64::MAX);
        let r = pacing::reserve(
            next_free_us,
            now,
            self.settings.per_second,
            horizon,
            segments,
        );
        (r.slots, r.next_free)
    }
}

/// What one send attempt means for the outbox row; None when the answer is unknown (the text
/// is then in doubt).
pub fn outcome(
    result: Result<crate::channel::twilio::sender::SentMessage, SendError>,
    attempt: u32,
    now: Timestamp,
) -> Option<SendOutcome> {
    Some(match result {
        Ok(sent) => SendOutcome::Sent {
            sid: sent.sid,
            status: sent.status.map_or("queued", |s| s.as_str()).to_string(),
            segments: sent.num_segments,
        },
        Err(SendError::OptedOut { code, message }) => SendOutcome::Failed {
            code: Some(code),
            error: message,
            fact: RecipientFact::OptedOut,
        },
        Err(SendError::InvalidNumber { code, message }) => SendOutcome::Failed {
            code: Some(code),
            error: message,
            fact: RecipientFact::Invalid,
        },
        Err(e @ (SendError::RateLimited { .. } | SendError::Transient { .. })) => {
            let (retry_after, code) = match &e {
                SendError::RateLimited { retry_after } => (
                    *retry_after,
                    Some(crate::channel::twilio::sender::ERROR_TOO_MANY_REQUESTS),
                ),
                SendError::Transient { status, .. } => (None, status.map(u32::from)),
                _ => (None, None),
            };
            match retry::backoff(attempt, retry_after) {
                Some(wait) => SendOutcome::Retry {
                    not_before: now + SignedDuration::try_from(wait).unwrap_or(LEASE),
                    code,
                    error: e.to_string(),
                },
                None => SendOutcome::Failed {
                    code,
                    error: format!("gave up after {attempt} attempts: {e}"),
                    fact: RecipientFact::Nothing,
                },
            }
        }
        Err(SendError::Rejected { code, message, .. }) => SendOutcome::Failed {
            code,
            error: message,
            fact: RecipientFact::Nothing,
        },
        Err(SendError::Unanswered { .. } | SendError::InvalidResponse(_)) => return None,
    })
}

/// Twilio's answer about one text, waiting to be recorded; holds the text's in-flight permit.
struct Answered {
    send: RecordedSend,
    _permit: OwnedSemaphorePermit,
}

/// The worker, with what it needs to run.
pub struct Worker {
    pub store: Store,
    pub sender: TwilioSender,
    pub settings: Arc<OutboundSettings>,
    pub clock: Arc<dyn Clock>,
}

impl Worker {
    /// Runs until `stop` turns true, then waits for the texts already handed out.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut sends = JoinSet::new();
        // At most IN_FLIGHT answers wait here: each holds its text's permit until recorded.
        let (answers, answered) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(worker.clone().record_answers(answered));
        let mut last_reconcile: Option<std::time::Instant> = None;
        tracing::info!(
            sender = %worker.settings.from.as_str(),
            per_second = worker.settings.per_second,
            quiet_hours = %worker.settings.quiet_hours.map_or("off".to_string(), |q| q.to_string()),
            "outbox worker started"
        );
        while !*stop.borrow() {
            while sends.try_join_next().is_some() {}
            if last_reconcile.is_none_or(|t| t.elapsed() >= RECONCILE_EVERY) {
                last_reconcile = Some(std::time::Instant::now());
                if let Err(e) = worker.reconcile().await {
                    tracing::warn!(error = %e, "reconciling in-doubt texts failed; will retry");
                }
            }
            let free = u32::try_from(slots.available_permits())
                .unwrap_or(0)
                .min(500);
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match worker.claim(free).await {
                    Ok(texts) => texts,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming outbox texts failed; will retry");
                        Vec::new()
                    }
                }
            };
            let idle = claimed.is_empty();
            for text in claimed {
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let (w, answers) = (worker.clone(), answers.clone());
                sends.spawn(async move { w.send(text, permit, &answers).await });
            }
            if idle {
                tokio::select! {
                    () = tokio::time::sleep(worker.settings.poll) => {}
                    _ = stop.changed() => {}
                }
            } else {
                // Slots were handed out up to HORIZON ahead: claim again before they run out.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        while sends.join_next().await.is_some() {}
        drop(answers);
        let _ = recorder.await;
    }

    /// Records Twilio's answers as they come, as many as are waiting in one transaction.
    async fn record_answers(self: Arc<Self>, mut answered: mpsc::UnboundedReceiver<Answered>) {
        let from = self.settings.from.as_str();
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while answered.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let sends: Vec<RecordedSend> = batch.iter().map(|a| a.send.clone()).collect();
            if let Err(e) = self.store.record_sends(from, &sends).await {
                tracing::warn!(error = %e, texts = sends.len(), "recording sends together failed; recording each alone");
                for s in &sends {
                    if let Err(e) = self.store.record_sends(from, std::slice::from_ref(s)).await {
                        // The lease runs out and reconciliation finds what Twilio has.
                        tracing::error!(outbox = s.id, error = %e, "could not record a send");
                    }
                }
            }
            // Frees the texts' permits: the worker may claim as many again.
            batch.clear();
        }
    }

    async fn claim(&self, max_rows: u32) -> Result<Vec<ClaimedText>, crate::store::StoreError> {
        let now = self.clock.now();
        let spec = ClaimSpec {
            worker: self.settings.worker.clone(),
            sender: self.settings.from.as_str().to_string(),
            now,
            lease: LEASE,
            max_rows,
        };
        let claim = self
            .store
            .claim_outbox(
                &spec,
                &Policy {
                    settings: &self.settings,
                    now,
                },
            )
            .await?;
        if claim.skipped > 0 || claim.held > 0 {
            tracing::info!(
                skipped = claim.skipped,
                held = claim.held,
                "outbox texts skipped (no consent, opted out, unreachable) or held (quiet hours)"
            );
        }
        Ok(claim.texts)
    }

    /// Sends one claimed text at its slot and hands the answer to the recorder (or, with no
    /// answer, puts the text in doubt).
    async fn send(
        &self,
        text: ClaimedText,
        permit: OwnedSemaphorePermit,
        answers: &mpsc::UnboundedSender<Answered>,
    ) {
        let wait = text.slot.duration_since(self.clock.now());
        if wait.is_positive() {
            tokio::time::sleep(wait.unsigned_abs()).await;
        }
        let result = self
            .sender
            .send_from(
                &self.settings.from,
                &text.to,
                &text.body,
                self.settings.status_callback.as_deref(),
            )
            .await;
        let now = self.clock.now();
        let Some(outcome) = outcome(result, text.attempt, now) else {
            telemetry::record_send(Err(None));
            tracing::warn!(
                outbox = text.id,
                "no answer from Twilio: the text is in doubt and will be reconciled"
            );
            if let Err(e) = self.store.release_to_doubt(text.id, now).await {
                // The lease runs out and reconciliation finds what Twilio has.
                tracing::error!(outbox = text.id, error = %e, "could not put a text in doubt");
            }
            return;
        };
        match &outcome {
            SendOutcome::Sent { .. } => telemetry::record_send(Ok(())),
            SendOutcome::Retry { code, .. } => telemetry::record_send(Err(*code)),
            SendOutcome::Failed { code, error, .. } => {
                telemetry::record_send(Err(*code));
                if *code == Some(crate::channel::twilio::sender::ERROR_OPTED_OUT) {
                    telemetry::record_opt_out("send_refused");
                }
                tracing::warn!(outbox = text.id, ?code, %error, "text not sent");
            }
        }
        let answer = Answered {
            send: RecordedSend {
                id: text.id,
                outcome,
                at: now,
            },
            _permit: permit,
        };
        if answers.send(answer).is_err() {
            // Only when the recorder is gone: the lease runs out and reconciliation finds
            // what Twilio has.
            tracing::error!(outbox = text.id, "could not record a send");
        }
    }

    /// Looks up each in-doubt text at Twilio: found, it is recorded as sent; not found, it is
    /// queued again (it never reached Twilio, so sending it is no repeat).
    async fn reconcile(&self) -> Result<(), anyhow::Error> {
        let now = self.clock.now();
        let texts = self
            .store
            .claim_in_doubt(&self.settings.worker, now, LEASE, 20)
            .await?;
        for t in texts {
            self.reconcile_one(&t).await?;
        }
        Ok(())
    }

    async fn reconcile_one(&self, t: &InDoubtText) -> Result<(), anyhow::Error> {
        let from = match &self.settings.from {
            SendFrom::Number(n) => Some(n.as_str()),
            SendFrom::MessagingService(_) => None,
        };
        let listed = self.sender.recent_messages(&t.to, from).await?;
        let copy = listed.into_iter().find(|m| {
            m.body == t.body
                && m.date_created
                    .is_none_or(|d| d >= t.claimed_at - CLOCK_SKEW)
        });
        let now = self.clock.now();
        match copy {
            Some(m) => {
                tracing::info!(outbox = t.id, sid = %m.sid, "in-doubt text found at Twilio: recorded as sent");
                let outcome = SendOutcome::Sent {
                    sid: m.sid,
                    status: m.status.map_or("queued", |s| s.as_str()).to_string(),
                    segments: m.num_segments,
                };
                self.store
                    .record_send(t.id, self.settings.from.as_str(), &outcome, now)
                    .await?;
            }
            None => {
                tracing::info!(outbox = t.id, "in-doubt text not at Twilio: queued again");
                self.store.requeue_in_doubt(t.id, now).await?;
            }
        }
        Ok(())
    }
}
