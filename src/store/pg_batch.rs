//! Group commit for PostgreSQL: the texts waiting in one replica are handled together, in one
//! transaction of five statements, instead of one transaction of seven round trips each.
//!
//! A dispatcher task owns the queue. It forms a batch from the texts waiting, at most one per
//! resident and none of a resident whose earlier text is still in a batch being written, and
//! runs up to [`IN_FLIGHT`] batches at once, each on its own connection. A batch:
//!
//! 1. takes every resident's advisory lock, in key order (two batches, on one replica or two,
//!    never wait for each other in a cycle; a text handled alone takes one lock only);
//! 2. reads every snapshot in one statement (after the locks: under READ COMMITTED it sees what
//!    the previous holders committed);
//! 3. decides each text in memory;
//! 4. writes the contacts, consent events and ended sessions in one statement, then the new and
//!    advanced sessions, the messages, answers, service requests and replies in another;
//! 5. commits, then answers every caller.
//!
//! If anything in the batch fails, the batch is rolled back and each of its texts is handled
//! alone, on the one-transaction-per-text path, deciding again on a snapshot read again: a
//! text the batch could not store is never answered as stored, and never stored twice.

use std::collections::{HashMap, HashSet, VecDeque};

use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::mpsc;

use super::model::*;
use super::postgres::{
    PgStore, SNAPSHOT_COLUMNS, last_answer_per_question, pg_text, resident_key, snapshot_from_row,
    stored_replies, ts,
};
use super::queue::{Job, decide_safely};
use super::{Handled, StoreError};
use crate::sms::segments;

/// Most texts in one batch.
pub const MAX_BATCH: usize = 256;

/// Batches being written at once, each on its own connection: while one waits for its commit
/// to reach the disk or for a round trip, others use the cores. On two cores with 64 residents
/// texting, 1, 2 and 4 gave about 3,700, 4,200 and 5,100 texts/s (docs/benchmarks.md).
pub const IN_FLIGHT: usize = 4;

/// Texts that must be waiting before a batch starts beside one already being written: a
/// second batch of one or two texts costs a transaction and gives nothing back.
pub const MIN_BESIDE: usize = 16;

/// Texts waiting for a batch; callers wait when it is full.
pub const QUEUE: usize = 4096;

/// Starts the dispatcher; texts sent on the returned queue are handled in batches through
/// `store`'s pool, falling back to `store`'s one-text path when a batch fails.
pub fn start(store: PgStore) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(dispatch(store, rx));
    tx
}

/// Forms batches and runs them until every sender is gone and every text is answered.
async fn dispatch(store: PgStore, mut queue: mpsc::Receiver<Job>) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    // Residents with a text in a batch being written.
    let mut busy: HashSet<String> = HashSet::new();
    let (finished, mut finished_rx) = mpsc::unbounded_channel::<Vec<String>>();
    let mut in_flight = 0usize;
    let mut open = true;
    loop {
        while in_flight < IN_FLIGHT && (in_flight == 0 || waiting.len() >= MIN_BESIDE) {
            let batch = take_batch(&mut waiting, &busy);
            if batch.is_empty() {
                break;
            }
            let phones: Vec<String> = batch.iter().map(|j| j.msg.from.clone()).collect();
            busy.extend(phones.iter().cloned());
            in_flight += 1;
            let (store, finished) = (store.clone(), finished.clone());
            tokio::spawn(async move {
                run_batch(&store, batch).await;
                let _ = finished.send(phones);
            });
        }
        if !open && in_flight == 0 && waiting.is_empty() {
            return;
        }
        tokio::select! {
            Some(phones) = finished_rx.recv() => {
                for p in phones {
                    busy.remove(&p);
                }
                in_flight -= 1;
            }
            job = queue.recv(), if open && waiting.len() < QUEUE => match job {
                Some(job) => {
                    waiting.push_back(job);
                    while waiting.len() < QUEUE {
                        match queue.try_recv() {
                            Ok(job) => waiting.push_back(job),
                            Err(_) => break,
                        }
                    }
                }
                None => open = false,
            },
        }
    }
}

/// The next batch: waiting texts in arrival order, at most one per resident, none of a busy
/// resident. A resident's later texts stay queued behind the one taken, so their order holds.
fn take_batch(waiting: &mut VecDeque<Job>, busy: &HashSet<String>) -> Vec<Job> {
    let mut batch = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut rest = VecDeque::with_capacity(waiting.len());
    for job in waiting.drain(..) {
        if batch.len() < MAX_BATCH
            && !busy.contains(&job.msg.from)
            && !taken.contains(&job.msg.from)
        {
            taken.insert(job.msg.from.clone());
            batch.push(job);
        } else {
            rest.push_back(job);
        }
    }
    *waiting = rest;
    batch
}

/// Handles `job` alone, in a transaction of its own, and answers its caller. If the caller
/// stops waiting first (its webhook deadline passed), the transaction is dropped before its
/// commit, so it is rolled back: nobody would be told the text was stored.
async fn run_one(store: &PgStore, mut job: Job) {
    let outcome = {
        let Job { msg, decide, done } = &mut job;
        tokio::select! {
            outcome = store.handle_one(msg, |s| decide(s)) => Some(outcome),
            () = done.closed() => None,
        }
    };
    if let Some(outcome) = outcome {
        if outcome.as_ref().is_ok_and(|h| !h.duplicate) {
            crate::telemetry::record_group_commit(1);
        }
        let _ = job.done.send(outcome);
    }
}

/// Writes one batch and answers every caller in it. A text whose caller has stopped waiting (its
/// webhook deadline passed) is left out: nobody would be told it was stored.
async fn run_batch(store: &PgStore, mut batch: Vec<Job>) {
    batch.retain(|job| !job.done.is_closed());
    if batch.is_empty() {
        return;
    }
    if batch.len() == 1 {
        // Nothing to share a transaction with: the one-text path is fewer statements.
        let job = batch.into_iter().next().expect("one job");
        run_one(store, job).await;
        return;
    }
    match write_batch(store.pool(), &batch).await {
        Ok(outcomes) => {
            crate::telemetry::record_group_commit(batch.len());
            store
                .batched
                .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.done.send(outcome);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, texts = batch.len(),
                "a batch of inbound texts failed; handling them one by one");
            for job in batch {
                run_one(store, job).await;
            }
        }
    }
}

/// A text of the batch after its decision: to be written, or already answered.
enum Decided {
    /// Its MessageSid was stored before: the replies stored then.
    Repeat(Vec<String>),
    /// Its decision failed; nothing of it is written.
    Failed(StoreError),
    Write(Box<(Snapshot, Decision)>),
}

/// One transaction for the whole batch. `Err` means nothing was committed; `Ok` holds each
/// text's outcome, in batch order.
async fn write_batch(
    pool: &PgPool,
    batch: &[Job],
) -> Result<Vec<Result<Handled, StoreError>>, StoreError> {
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;

    let mut keys: Vec<i64> = batch.iter().map(|j| resident_key(&j.msg.from)).collect();
    keys.sort_unstable();
    keys.dedup();
    // Its own statement, before the reads (see `PgStore::handle_one`). `unnest` yields the
    // keys in array order, so the locks are taken in key order.
    sqlx::query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k")
        .bind(&keys)
        .execute(&mut *tx)
        .await?;

    let sids: Vec<&str> = batch.iter().map(|j| j.msg.sid.as_str()).collect();
    let phones: Vec<&str> = batch.iter().map(|j| j.msg.from.as_str()).collect();
    let hashes: Vec<Option<&str>> = batch.iter().map(|j| j.msg.erased_hash.as_deref()).collect();
    // LATERAL: each resident's rows are found through the indexes, one lookup each, whatever
    // the planner guesses about the size of `unnest`.
    let rows = sqlx::query(&format!(
        "SELECT q.ord, {SNAPSHOT_COLUMNS}
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
              AS q(sid, phone, erased_hash, ord)
         LEFT JOIN LATERAL (SELECT m.id FROM messages m
                            WHERE m.sid = q.sid AND m.direction = 'in') dup ON true
         LEFT JOIN LATERAL (SELECT * FROM contacts WHERE phone = q.phone) c ON true
         LEFT JOIN LATERAL (SELECT id, state FROM sessions
                            WHERE contact_id = c.id AND status = 'active') s ON true
         LEFT JOIN forgotten_opt_outs f ON c.id IS NULL AND f.phone_hash = q.erased_hash
         ORDER BY q.ord"
    ))
    .bind(&sids)
    .bind(&phones)
    .bind(&hashes)
    .fetch_all(&mut *tx)
    .await?;
    if rows.len() != batch.len() {
        return Err(StoreError::Corrupt(format!(
            "{} snapshots read for {} texts",
            rows.len(),
            batch.len()
        )));
    }

    let mut decided = Vec::with_capacity(batch.len());
    for (job, row) in batch.iter().zip(&rows) {
        decided.push(match stored_replies(row)? {
            Some(replies) => Decided::Repeat(replies),
            None => {
                let snapshot = snapshot_from_row(row)?;
                match decide_safely(&job.decide, &snapshot) {
                    Ok(d) => Decided::Write(Box::new((snapshot, d))),
                    Err(e) => Decided::Failed(e),
                }
            }
        });
    }

    let contact_ids = write_contacts(&mut tx, batch, &decided).await?;
    write_conversations(&mut tx, batch, &decided, &contact_ids).await?;
    tx.commit().await?;
    tracing::debug!(texts = batch.len(), elapsed = ?started.elapsed(), "batch committed");

    Ok(decided
        .into_iter()
        .map(|d| match d {
            Decided::Repeat(replies) => Ok(Handled {
                replies,
                duplicate: true,
                route: "duplicate",
            }),
            Decided::Failed(e) => Err(e),
            Decided::Write(w) => Ok(Handled {
                replies: w.1.replies,
                duplicate: false,
                route: w.1.route,
            }),
        })
        .collect())
}

/// The texts of the batch that are written, with their snapshot and decision.
fn writes<'a>(
    batch: &'a [Job],
    decided: &'a [Decided],
) -> impl Iterator<Item = (&'a InboundText, &'a Snapshot, &'a Decision)> {
    batch.iter().zip(decided).filter_map(|(job, d)| match d {
        Decided::Write(w) => Some((&job.msg, &w.0, &w.1)),
        _ => None,
    })
}

/// Creates or updates every written text's contact, records consent changes and ends the
/// sessions that end; returns each contact's id by phone number.
async fn write_contacts(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[Job],
    decided: &[Decided],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut c = ContactColumns::default();
    let mut consent = ConsentColumns::default();
    let mut ended = (Vec::new(), Vec::new(), Vec::new());
    let mut ids = HashMap::new();
    for (msg, snapshot, d) in writes(batch, decided) {
        let changes = contact_changes(snapshot, d);
        let now = ts(msg.received_at);
        if let (Some(end), Some(s)) = (d.end_session, &snapshot.session) {
            ended.0.push(s.id);
            ended.1.push(end.as_str());
            ended.2.push(now);
        }
        // A text that changes nothing of the contact (most answers) leaves its row alone.
        if let Some(known) = snapshot
            .contact
            .as_ref()
            .filter(|c| changes.unchanged && c.is_stored())
        {
            ids.insert(msg.from.clone(), known.id);
            continue;
        }
        c.phone.push(msg.from.as_str());
        c.language.push(changes.language);
        c.fields.push(changes.fields_json);
        c.opted_out.push(changes.opted_out);
        c.unmatched
            .push(i32::try_from(changes.throttle.unmatched_count).unwrap_or(i32::MAX));
        c.since.push(changes.throttle.unmatched_since.map(ts));
        c.last_reply
            .push(changes.throttle.last_default_reply_at.map(ts));
        c.muted.push(changes.throttle.muted_until.map(ts));
        c.hint.push(changes.throttle.opt_out_hint_at.map(ts));
        c.now.push(now);
        if let Some(change) = d.consent {
            consent.phone.push(msg.from.as_str());
            consent.kind.push(match change {
                ConsentChange::OptOut => "opt_out",
                ConsentChange::OptIn => "opt_in",
            });
            consent.text.push(pg_text(&msg.body).into_owned());
            consent.sid.push(msg.sid.as_str());
            consent.at.push(now);
        }
    }
    if c.phone.is_empty() && ended.0.is_empty() {
        return Ok(ids);
    }
    let rows = sqlx::query(
        "WITH contact AS (
            INSERT INTO contacts (phone, language, fields, opted_out, unmatched_count,
                                  unmatched_since, last_default_reply_at, muted_until,
                                  created_at, updated_at, opt_out_hint_at)
            SELECT t.phone, t.language, t.fields::jsonb, t.opted_out, t.unmatched, t.since,
                   t.last_reply, t.muted, t.now, t.now, t.hint
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int4[],
                        $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
                        $9::timestamptz[], $18::timestamptz[])
                 AS t(phone, language, fields, opted_out, unmatched, since, last_reply, muted,
                      now, hint)
            ON CONFLICT (phone) DO UPDATE SET
                language = excluded.language, fields = excluded.fields,
                opted_out = excluded.opted_out, unmatched_count = excluded.unmatched_count,
                unmatched_since = excluded.unmatched_since,
                last_default_reply_at = excluded.last_default_reply_at,
                muted_until = excluded.muted_until, updated_at = excluded.updated_at,
                opt_out_hint_at = excluded.opt_out_hint_at
            RETURNING id, phone
         ), consent AS (
            INSERT INTO consent_events (contact_id, kind, text, message_sid, created_at)
            SELECT contact.id, e.kind, e.text, e.sid, e.at
            FROM unnest($10::text[], $11::text[], $12::text[], $13::text[],
                        $14::timestamptz[]) WITH ORDINALITY AS e(phone, kind, text, sid, at, ord)
            JOIN contact ON contact.phone = e.phone
            ORDER BY e.ord
         ), ended AS (
            UPDATE sessions s SET status = x.status, ended_at = x.at, updated_at = x.at,
                                  expires_at = NULL
            FROM unnest($15::int8[], $16::text[], $17::timestamptz[]) AS x(id, status, at)
            WHERE s.id = x.id
         )
         SELECT id, phone FROM contact",
    )
    .bind(&c.phone)
    .bind(&c.language)
    .bind(&c.fields)
    .bind(&c.opted_out)
    .bind(&c.unmatched)
    .bind(&c.since)
    .bind(&c.last_reply)
    .bind(&c.muted)
    .bind(&c.now)
    .bind(&consent.phone)
    .bind(&consent.kind)
    .bind(&consent.text)
    .bind(&consent.sid)
    .bind(&consent.at)
    .bind(&ended.0)
    .bind(&ended.1)
    .bind(&ended.2)
    .bind(&c.hint)
    .fetch_all(&mut **tx)
    .await?;
    for r in &rows {
        ids.insert(r.try_get("phone")?, r.try_get("id")?);
    }
    Ok(ids)
}

/// Starts or advances every written text's session, then stores the inbound texts, their
/// answers, service requests and replies, in one statement.
async fn write_conversations(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[Job],
    decided: &[Decided],
    contact_ids: &HashMap<String, i64>,
) -> Result<(), StoreError> {
    let mut new = SessionColumns::default();
    let mut advanced = SessionColumns::default();
    let mut inbound = InboundColumns::default();
    let mut answers = AnswerColumns::default();
    let mut requests = RequestColumns::default();
    let mut replies = ReplyColumns::default();
    for (msg, snapshot, d) in writes(batch, decided) {
        let contact_id = *contact_ids.get(&msg.from).ok_or_else(|| {
            StoreError::Corrupt(format!("no contact row came back for text {}", msg.sid))
        })?;
        let now = ts(msg.received_at);
        let old_session = snapshot.session.as_ref().map(|s| s.id);
        let mut session_id = old_session;
        let mut starts = false;
        if let Some(w) = &d.session {
            let columns = if w.inserts(old_session) {
                starts = true;
                session_id = None;
                &mut new
            } else {
                advanced.id.push(old_session.unwrap_or_default());
                &mut advanced
            };
            columns.contact_id.push(contact_id);
            columns.flow.push(w.state.flow.as_str());
            columns.version.push(w.state.version.as_str());
            columns.language.push(w.state.language.as_str());
            columns.status.push(w.status());
            columns.state.push(w.state_json());
            columns.started.push(ts(w.state.started_at));
            columns.now.push(now);
            columns.ended.push(w.ended.map(|_| now));
            columns.expires.push(w.state.expires_at.map(ts));
        }
        let cost = segments::count(&msg.body);
        inbound.sid.push(msg.sid.as_str());
        inbound.contact_id.push(contact_id);
        inbound.session_id.push(session_id);
        inbound.starts.push(starts);
        inbound.from.push(msg.from.as_str());
        inbound.to.push(msg.to.as_str());
        inbound.body.push(pg_text(&msg.body).into_owned());
        inbound
            .media
            .push(serde_json::to_string(&msg.media).expect("media serialises"));
        inbound.encoding.push(cost.encoding.as_str());
        inbound
            .segments
            .push(i32::try_from(cost.segments).unwrap_or(i32::MAX));
        inbound.route.push(d.route);
        inbound.now.push(now);

        let (flow_id, flow_version) = match (&d.session, &snapshot.session) {
            (Some(w), _) => (w.state.flow.as_str(), w.state.version.as_str()),
            (None, Some(s)) => (s.state.flow.as_str(), s.state.version.as_str()),
            (None, None) => ("", ""),
        };
        if session_id.is_some() || starts {
            for i in last_answer_per_question(&d.answers) {
                let a = &d.answers[i];
                answers.sid.push(msg.sid.as_str());
                answers.flow.push(flow_id);
                answers.version.push(flow_version);
                answers.question.push(a.question.as_str());
                answers.raw.push(pg_text(&a.raw).into_owned());
                answers.value.push(pg_text(&a.value).into_owned());
                answers.category.push(a.category.as_str());
                answers.consent_topic.push(a.consent_topic.as_deref());
                answers.withdrawn_topic.push(a.withdrawn_topic.as_deref());
            }
            for r in &d.requests {
                requests.sid.push(msg.sid.as_str());
                requests.code.push(r.code.as_str());
                requests.flow.push(flow_id);
                requests.service.push(r.service.as_str());
                requests
                    .description
                    .push(r.description.as_deref().map(pg_text));
                requests.location.push(r.location.as_deref().map(pg_text));
                requests.photo.push(r.photo.as_deref());
            }
        }
        for reply in &d.replies {
            let cost = segments::count(reply);
            replies.sid.push(msg.sid.as_str());
            replies.body.push(pg_text(reply).into_owned());
            replies.encoding.push(cost.encoding.as_str());
            replies
                .segments
                .push(i32::try_from(cost.segments).unwrap_or(i32::MAX));
        }
    }
    if inbound.sid.is_empty() {
        return Ok(());
    }
    let requests_description: Vec<Option<&str>> =
        requests.description.iter().map(|d| d.as_deref()).collect();
    let requests_location: Vec<Option<&str>> =
        requests.location.iter().map(|d| d.as_deref()).collect();
    // Rows that reference a new message or session are checked against it at the statement's
    // end, so one statement can insert both.
    let stored: i64 = sqlx::query_scalar(
        "WITH new_sessions AS (
            INSERT INTO sessions (contact_id, flow_id, flow_version, language, status, state,
                                  started_at, updated_at, ended_at, expires_at)
            SELECT n.contact_id, n.flow, n.version, n.language, n.status, n.state::jsonb,
                   n.started, n.now, n.ended, n.expires
            FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                        $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                        $10::timestamptz[])
                 AS n(contact_id, flow, version, language, status, state, started, now, ended,
                      expires)
            RETURNING id, contact_id
         ), advanced AS (
            UPDATE sessions s SET state = u.state::jsonb, status = u.status,
                                  language = u.language, updated_at = u.now,
                                  ended_at = u.ended, expires_at = u.expires
            FROM unnest($11::int8[], $12::text[], $13::text[], $14::text[], $15::timestamptz[],
                        $16::timestamptz[], $17::timestamptz[])
                 AS u(id, state, status, language, now, ended, expires)
            WHERE s.id = u.id
         ), inbound AS (
            INSERT INTO messages (direction, sid, contact_id, session_id, from_addr, to_addr,
                                  body, media, encoding, segments, status, route, created_at)
            SELECT 'in', t.sid, t.contact_id, COALESCE(t.session_id, ns.id), t.from_addr,
                   t.to_addr, t.body, t.media::jsonb, t.encoding, t.segments, 'received',
                   t.route, t.now
            FROM unnest($18::text[], $19::int8[], $20::int8[], $21::bool[], $22::text[],
                        $23::text[], $24::text[], $25::text[], $26::text[], $27::int4[],
                        $28::text[], $29::timestamptz[]) WITH ORDINALITY
                 AS t(sid, contact_id, session_id, starts, from_addr, to_addr, body, media,
                      encoding, segments, route, now, ord)
            LEFT JOIN new_sessions ns ON t.starts AND ns.contact_id = t.contact_id
            ORDER BY t.ord
            RETURNING id, sid, contact_id, session_id, from_addr, to_addr, route, created_at
         ), answer_rows AS (
            INSERT INTO answers (session_id, contact_id, flow_id, flow_version, question, raw,
                                 value, category, message_id, answered_at, consent_topic,
                                 withdrawn_topic)
            SELECT i.session_id, i.contact_id, a.flow, a.version, a.question, a.raw, a.value,
                   a.category, i.id, i.created_at, a.consent_topic, a.withdrawn_topic
            FROM unnest($30::text[], $31::text[], $32::text[], $33::text[], $34::text[],
                        $35::text[], $36::text[], $48::text[], $49::text[])
                 AS a(sid, flow, version, question, raw, value, category, consent_topic,
                      withdrawn_topic)
            JOIN inbound i ON i.sid = a.sid
            WHERE i.session_id IS NOT NULL
            ON CONFLICT (session_id, question) DO UPDATE SET
                raw = excluded.raw, value = excluded.value, category = excluded.category,
                message_id = excluded.message_id, answered_at = excluded.answered_at,
                consent_topic = excluded.consent_topic,
                withdrawn_topic = excluded.withdrawn_topic
         ), request_rows AS (
            INSERT INTO service_requests (code, session_id, contact_id, flow_id, service,
                                          description, location, photo, created_at)
            SELECT r.code, i.session_id, i.contact_id, r.flow, r.service, r.description,
                   r.location, r.photo, i.created_at
            FROM unnest($37::text[], $38::text[], $39::text[], $40::text[], $41::text[],
                        $42::text[], $43::text[]) WITH ORDINALITY
                 AS r(sid, code, flow, service, description, location, photo, ord)
            JOIN inbound i ON i.sid = r.sid
            WHERE i.session_id IS NOT NULL
            ORDER BY r.ord
         ), reply_rows AS (
            INSERT INTO messages (direction, contact_id, session_id, reply_to, from_addr,
                                  to_addr, body, encoding, segments, status, route, created_at)
            SELECT 'out', i.contact_id, i.session_id, i.id, i.to_addr, i.from_addr, r.body,
                   r.encoding, r.segments, 'replied', i.route, i.created_at
            FROM unnest($44::text[], $45::text[], $46::text[], $47::int4[]) WITH ORDINALITY
                 AS r(sid, body, encoding, segments, ord)
            JOIN inbound i ON i.sid = r.sid
            ORDER BY r.ord
         )
         SELECT COUNT(*) FROM inbound",
    )
    .bind(&new.contact_id)
    .bind(&new.flow)
    .bind(&new.version)
    .bind(&new.language)
    .bind(&new.status)
    .bind(&new.state)
    .bind(&new.started)
    .bind(&new.now)
    .bind(&new.ended)
    .bind(&new.expires)
    .bind(&advanced.id)
    .bind(&advanced.state)
    .bind(&advanced.status)
    .bind(&advanced.language)
    .bind(&advanced.now)
    .bind(&advanced.ended)
    .bind(&advanced.expires)
    .bind(&inbound.sid)
    .bind(&inbound.contact_id)
    .bind(&inbound.session_id)
    .bind(&inbound.starts)
    .bind(&inbound.from)
    .bind(&inbound.to)
    .bind(&inbound.body)
    .bind(&inbound.media)
    .bind(&inbound.encoding)
    .bind(&inbound.segments)
    .bind(&inbound.route)
    .bind(&inbound.now)
    .bind(&answers.sid)
    .bind(&answers.flow)
    .bind(&answers.version)
    .bind(&answers.question)
    .bind(&answers.raw)
    .bind(&answers.value)
    .bind(&answers.category)
    .bind(&requests.sid)
    .bind(&requests.code)
    .bind(&requests.flow)
    .bind(&requests.service)
    .bind(&requests_description)
    .bind(&requests_location)
    .bind(&requests.photo)
    .bind(&replies.sid)
    .bind(&replies.body)
    .bind(&replies.encoding)
    .bind(&replies.segments)
    .bind(&answers.consent_topic)
    .bind(&answers.withdrawn_topic)
    .fetch_one(&mut **tx)
    .await?;
    if usize::try_from(stored).ok() != Some(inbound.sid.len()) {
        return Err(StoreError::Corrupt(format!(
            "{stored} of {} inbound texts stored",
            inbound.sid.len()
        )));
    }
    Ok(())
}

/// Column arrays for `unnest`: one entry per row.
#[derive(Default)]
struct ContactColumns<'a> {
    phone: Vec<&'a str>,
    language: Vec<Option<String>>,
    fields: Vec<String>,
    opted_out: Vec<bool>,
    unmatched: Vec<i32>,
    since: Vec<Option<super::postgres::Ts>>,
    last_reply: Vec<Option<super::postgres::Ts>>,
    muted: Vec<Option<super::postgres::Ts>>,
    now: Vec<super::postgres::Ts>,
    hint: Vec<Option<super::postgres::Ts>>,
}

#[derive(Default)]
struct ConsentColumns<'a> {
    phone: Vec<&'a str>,
    kind: Vec<&'static str>,
    text: Vec<String>,
    sid: Vec<&'a str>,
    at: Vec<super::postgres::Ts>,
}

#[derive(Default)]
struct SessionColumns<'a> {
    /// Only for sessions advanced (the row to update).
    id: Vec<i64>,
    contact_id: Vec<i64>,
    flow: Vec<&'a str>,
    version: Vec<&'a str>,
    language: Vec<&'a str>,
    status: Vec<&'static str>,
    state: Vec<String>,
    started: Vec<super::postgres::Ts>,
    now: Vec<super::postgres::Ts>,
    ended: Vec<Option<super::postgres::Ts>>,
    expires: Vec<Option<super::postgres::Ts>>,
}

#[derive(Default)]
struct InboundColumns<'a> {
    sid: Vec<&'a str>,
    contact_id: Vec<i64>,
    session_id: Vec<Option<i64>>,
    starts: Vec<bool>,
    from: Vec<&'a str>,
    to: Vec<&'a str>,
    body: Vec<String>,
    media: Vec<String>,
    encoding: Vec<&'static str>,
    segments: Vec<i32>,
    route: Vec<&'static str>,
    now: Vec<super::postgres::Ts>,
}

#[derive(Default)]
struct AnswerColumns<'a> {
    sid: Vec<&'a str>,
    flow: Vec<&'a str>,
    version: Vec<&'a str>,
    question: Vec<&'a str>,
    raw: Vec<String>,
    value: Vec<String>,
    category: Vec<&'a str>,
    consent_topic: Vec<Option<&'a str>>,
    withdrawn_topic: Vec<Option<&'a str>>,
}

#[derive(Default)]
struct RequestColumns<'a> {
    sid: Vec<&'a str>,
    code: Vec<&'a str>,
    flow: Vec<&'a str>,
    service: Vec<&'a str>,
    description: Vec<Option<std::borrow::Cow<'a, str>>>,
    location: Vec<Option<std::borrow::Cow<'a, str>>>,
    photo: Vec<Option<&'a str>>,
}

#[derive(Default)]
struct ReplyColumns<'a> {
    sid: Vec<&'a str>,
    body: Vec<String>,
    encoding: Vec<&'static str>,
    segments: Vec<i32>,
}
