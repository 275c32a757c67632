//! The background sweep: conversations whose reminder or expiry falls due while the resident
//! says nothing. Every replica runs one; the store hands each due session to one of them at a
//! time, and the engine (pure) decides what falls due: the reminder, queued in the outbox (so
//! quiet hours and opt-outs are checked when it is sent), or the end of the session with its
//! closing text.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use super::{FlowSet, Gateway};
use crate::flow::engine::{self, Context, Due};
use crate::outbound::worker::Clock;
use crate::sms::segments;
use crate::store::{DueSession, OutboxKind, OutboxText, SweepAction, SweepReport};

/// Due sessions handled per transaction.
pub const BATCH: u32 = 200;

/// What to do with one due session at `now`. Pure.
pub fn decide(
    flows: &FlowSet,
    due: &DueSession,
    now: Timestamp,
    today: jiff::civil::Date,
) -> SweepAction {
    let state = due.state.clone();
    let Some(flow) = flows.version(&state.flow, &state.version) else {
        // The flow and its version are gone: nothing can be worded, but an expired
        // conversation still ends, and a reminder is not retried forever.
        let mut state = state;
        state.remind_at = None;
        return if engine::is_expired(&state, now) {
            SweepAction::Expire {
                state,
                closing: None,
            }
        } else {
            SweepAction::Update { state, text: None }
        };
    };
    let ctx = Context {
        now,
        today,
        contact: &due.contact,
        entropy: 0,
    };
    let position = state.position;
    let out = engine::due(&flow, state, &ctx);
    match out.due {
        Due::Nothing if out.session == due.state => SweepAction::Leave,
        Due::Nothing => SweepAction::Update {
            state: out.session,
            text: None,
        },
        Due::Remind { text } => SweepAction::Update {
            state: out.session,
            // One reminder per question per conversation, whichever replica queues it.
            text: Some(outbox_text(
                OutboxKind::Reminder,
                text,
                now,
                format!("reminder:{}:{position}", due.id),
            )),
        },
        Due::Expire { closing } => SweepAction::Expire {
            state: out.session,
            closing: closing.map(|text| {
                outbox_text(OutboxKind::Expiry, text, now, format!("expiry:{}", due.id))
            }),
        },
    }
}

fn outbox_text(kind: OutboxKind, body: String, now: Timestamp, key: String) -> OutboxText {
    OutboxText {
        kind,
        segments: segments::count(&body).segments,
        body,
        not_before: now,
        dedupe_key: Some(key),
    }
}

/// Sweeps every `every` until `stop` turns true, reading the time from `clock`.
pub async fn run(
    gateway: Arc<Gateway>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // The first sweep waits one interval: start-up is busy enough on SQLite's single writer.
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        sweep_once(&gateway, clock.now()).await;
    }
}

/// Handles every session due at `now`, a batch at a time; a failure is logged and the next
/// sweep tries again.
pub async fn sweep_once(gateway: &Gateway, now: Timestamp) -> SweepReport {
    let flows = gateway.flows();
    let today = now.to_zoned(gateway.time_zone.clone()).date();
    let mut total = SweepReport::default();
    loop {
        let result = gateway
            .store
            .sweep_sessions(now, BATCH, |due| decide(&flows, due, now, today))
            .await;
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "the session sweep failed; trying again at the next one");
                break;
            }
        };
        total.sessions += report.sessions;
        total.reminded += report.reminded;
        total.expired += report.expired;
        total.duplicates += report.duplicates;
        // A full batch may have more behind it, unless nothing in it changed (sessions not
        // quite due yet, or left to a replica that holds them).
        if report.sessions < BATCH || report.reminded + report.expired == 0 {
            break;
        }
    }
    if total.reminded + total.expired > 0 {
        tracing::info!(
            reminded = total.reminded,
            expired = total.expired,
            "session sweep: reminders queued and expired conversations closed"
        );
    }
    total
}
