//! The SQLite writer behind group commit: one thread owns one connection and commits every
//! inbound text waiting for it in one transaction, one SAVEPOINT per text.
//!
//! It talks to SQLite directly (rusqlite) on its own thread. Through the async driver every
//! statement is a round trip to the driver's worker thread, two context switches each; with
//! about ten statements per text those switches, not SQLite, bounded the gateway (see
//! docs/benchmarks.md). The statements are the ones the one-transaction-per-text path runs
//! (the `SQL_*` constants, shared with it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, DatabaseName, params};
use tokio::sync::{mpsc, oneshot};

use super::model::*;
use super::queue::{Decide, Job, decide_safely};
use super::sqlite::{parse_ts, ts};
use super::{Handled, StoreError};
use crate::flow::engine::Session;
use crate::sms::segments;

/// Most texts committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// Texts waiting for the writer; callers wait when it is full.
pub const QUEUE: usize = 4096;

pub const SQL_FIND_INBOUND: &str = "SELECT id FROM messages WHERE sid = ? AND direction = 'in'";
pub const SQL_REPLIES_OF: &str = "SELECT body FROM messages WHERE reply_to = ? ORDER BY id";
pub const SQL_CONTACT: &str =
    "SELECT id, phone, language, fields, opted_out, unmatched_count, unmatched_since,
            last_default_reply_at, muted_until, opt_out_hint_at
     FROM contacts WHERE phone = ?";
pub const SQL_ACTIVE_SESSION: &str =
    "SELECT id, state FROM sessions WHERE contact_id = ? AND status = 'active'";
/// The repeat check and the snapshot in one statement (the writer's path): each join finds at
/// most one row, as sid, phone and active session are unique.
const SQL_SNAPSHOT: &str = "SELECT (SELECT id FROM messages WHERE sid = ?1 AND direction = 'in'),
            c.id, c.phone, c.language, c.fields, c.opted_out, c.unmatched_count,
            c.unmatched_since, c.last_default_reply_at, c.muted_until, s.id, s.state,
            c.opt_out_hint_at, f.phone_hash
     FROM (SELECT 1) AS one
     LEFT JOIN contacts c ON c.phone = ?2
     LEFT JOIN sessions s ON s.contact_id = c.id AND s.status = 'active'
     LEFT JOIN forgotten_opt_outs f ON c.id IS NULL AND f.phone_hash = ?3";
pub const SQL_UPSERT_CONTACT: &str =
    "INSERT INTO contacts (phone, language, fields, opted_out, unmatched_count,
                           unmatched_since, last_default_reply_at, muted_until,
                           created_at, updated_at, opt_out_hint_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (phone) DO UPDATE SET
        language = excluded.language, fields = excluded.fields,
        opted_out = excluded.opted_out, unmatched_count = excluded.unmatched_count,
        unmatched_since = excluded.unmatched_since,
        last_default_reply_at = excluded.last_default_reply_at,
        muted_until = excluded.muted_until, updated_at = excluded.updated_at,
        opt_out_hint_at = excluded.opt_out_hint_at
     RETURNING id";
pub const SQL_CONSENT: &str =
    "INSERT INTO consent_events (contact_id, kind, text, message_sid, created_at)
     VALUES (?, ?, ?, ?, ?)";
pub const SQL_END_SESSION: &str =
    "UPDATE sessions SET status = ?, ended_at = ?, updated_at = ?, expires_at = NULL
     WHERE id = ?";
pub const SQL_NEW_SESSION: &str =
    "INSERT INTO sessions (contact_id, flow_id, flow_version, language, status,
                           state, started_at, updated_at, ended_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id";
pub const SQL_UPDATE_SESSION: &str =
    "UPDATE sessions SET state = ?, status = ?, language = ?, updated_at = ?,
                         ended_at = ?, expires_at = ?
     WHERE id = ?";
pub const SQL_INBOUND: &str =
    "INSERT INTO messages (direction, sid, contact_id, session_id, from_addr, to_addr, body,
                           media, encoding, segments, status, route, created_at)
     VALUES ('in', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?) RETURNING id";
pub const SQL_ANSWER: &str =
    "INSERT INTO answers (session_id, contact_id, flow_id, flow_version, question,
                          raw, value, category, message_id, answered_at, consent_topic,
                          withdrawn_topic)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (session_id, question) DO UPDATE SET
        raw = excluded.raw, value = excluded.value, category = excluded.category,
        message_id = excluded.message_id, answered_at = excluded.answered_at,
        consent_topic = excluded.consent_topic, withdrawn_topic = excluded.withdrawn_topic";
pub const SQL_REQUEST: &str =
    "INSERT INTO service_requests (code, session_id, contact_id, flow_id, service,
                                   description, location, photo, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
pub const SQL_REPLY: &str =
    "INSERT INTO messages (direction, contact_id, session_id, reply_to, from_addr,
                           to_addr, body, encoding, segments, status, route, created_at)
     VALUES ('out', ?, ?, ?, ?, ?, ?, ?, ?, 'replied', ?, ?)";

fn open(path: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // The pool already created the file, migrated it and set WAL (a property of the file).
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a reply is only sent after its commit is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints run on their own thread (see `checkpointer`), not between two batches.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // 32 MiB of page cache: the indexes a text touches stay in memory on a large database.
    conn.pragma_update(None, "cache_size", -32 * 1024)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Opens the writer's connection, refusing one SQLite could only open read-only: it falls back
/// to reading when the file cannot be written (a full disk, a file a backup tool made
/// read-only), and a writer on such a connection would fail every text until a restart.
fn open_writable(path: &PathBuf) -> Result<Connection, StoreError> {
    let conn = open(path)?;
    if conn.is_readonly(DatabaseName::Main)? {
        return Err(StoreError::Writer(format!(
            "the database file {} cannot be written",
            path.display()
        )));
    }
    Ok(conn)
}

/// What the writer thread is asked to do.
pub enum Work {
    /// Store one inbound text.
    Text(Job),
    /// Commit a write to `write_probe`, for readiness: answers whether texts can be stored now.
    Probe(oneshot::Sender<Result<(), StoreError>>),
}

impl From<Job> for Work {
    fn from(job: Job) -> Work {
        Work::Text(job)
    }
}

/// The probe's write: one row, overwritten.
const SQL_PROBE: &str = "INSERT INTO write_probe (id, checked_at) VALUES (1, ?1)
     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at";

/// Asks the writer behind `queue` to commit a probe write.
pub async fn probe(queue: &mpsc::Sender<Work>) -> Result<(), StoreError> {
    let (done, answer) = oneshot::channel();
    queue
        .send(Work::Probe(done))
        .await
        .map_err(|_| StoreError::Writer("the database writer has stopped".into()))?;
    answer
        .await
        .map_err(|_| StoreError::Writer("the database writer stopped before answering".into()))?
}

/// WAL pages after which the checkpointer copies the log back into the database.
const CHECKPOINT_PAGES: i64 = 1000;

/// Copies the WAL back into the database file from a connection of its own, so the writer
/// never stops for it: a PASSIVE checkpoint whenever the log has grown past
/// [`CHECKPOINT_PAGES`] (SQLite's own threshold), checked every 50 ms. Ends with the writer.
fn checkpointer(path: PathBuf, writer_alive: std::sync::Weak<()>) {
    let mut conn: Option<Connection> = None;
    // Logged once when checkpoints start failing (the file cannot be written) and once when
    // they work again, not every 50 ms in between.
    let mut failing = false;
    while writer_alive.strong_count() > 0 {
        std::thread::sleep(Duration::from_millis(50));
        if conn.is_none() {
            // A connection opened read-only (the file could not be written just then) could
            // never checkpoint: refused like the writer's, and tried again later.
            conn = Connection::open(&path)
                .and_then(|c| c.busy_timeout(Duration::from_secs(10)).map(|()| c))
                .ok()
                .filter(|c| c.is_readonly(DatabaseName::Main) == Ok(false));
        }
        let Some(c) = &conn else {
            continue;
        };
        // (busy, pages in the log, pages copied)
        let wal: rusqlite::Result<(i64, i64, i64)> =
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        match wal {
            Ok((_, log, copied)) => {
                if failing {
                    tracing::info!("WAL checkpoints work again");
                    failing = false;
                }
                // A log that keeps growing past the threshold is cut back while the writer waits.
                if log > 8 * CHECKPOINT_PAGES && copied == log {
                    let _ = c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying on a new connection");
                    failing = true;
                }
                conn = None;
            }
        }
    }
}

/// Opens the writer's connection to the database file at `path` and starts its thread.
/// `batched` counts the texts committed together with at least one other.
pub fn start(path: PathBuf, batched: Arc<AtomicU64>) -> Result<mpsc::Sender<Work>, StoreError> {
    let conn = open_writable(&path)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let alive = std::sync::Arc::new(());
    let watch = std::sync::Arc::downgrade(&alive);
    let checkpoint_path = path.clone();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || checkpointer(checkpoint_path, watch))
        .map_err(|e| StoreError::Writer(format!("cannot start the checkpointer: {e}")))?;
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let _alive = alive;
            run(conn, path, rx, &batched)
        })
        .map_err(|e| StoreError::Writer(format!("cannot start the database writer: {e}")))?;
    Ok(tx)
}

/// Takes every text waiting (up to [`MAX_BATCH`]) and every probe, commits them together,
/// answers each caller. After a failed batch the connection is dropped and opened again for the
/// next one, writable or not at all: while the file cannot be written each batch fails at once,
/// and the first batch after it can be written again succeeds. Ends when every sender is gone.
fn run(conn: Connection, path: PathBuf, mut queue: mpsc::Receiver<Work>, batched: &AtomicU64) {
    let mut conn = Some(conn);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut probes = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        let mut next = Some(first);
        while let Some(work) = next.take() {
            match work {
                Work::Text(job) => batch.push(job),
                Work::Probe(done) => probes.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if conn.is_none() {
            match open_writable(&path) {
                Ok(fresh) => {
                    tracing::info!("the database can be written again");
                    conn = Some(fresh);
                }
                Err(e) => {
                    let why = format!("the database cannot be written: {e}");
                    for job in batch.drain(..) {
                        let _ = job.done.send(Err(StoreError::Writer(why.clone())));
                    }
                    for done in probes.drain(..) {
                        let _ = done.send(Err(StoreError::Writer(why.clone())));
                    }
                    continue;
                }
            }
        }
        let writer = conn.as_mut().expect("opened above");
        let texts = batch.len();
        match commit_batch(writer, &mut batch, &mut probes) {
            Ok(()) if texts > 0 => {
                crate::telemetry::record_group_commit(texts);
                if texts > 1 {
                    batched.fetch_add(texts as u64, Ordering::Relaxed);
                }
            }
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "a batch of inbound texts could not be committed");
                conn = None;
            }
        }
    }
}

/// One transaction for the whole batch, one SAVEPOINT per text, and the probe write if a probe
/// is waiting. Every caller is answered: with its result after the commit, or with the error
/// that rolled its text (or the batch) back. A text whose caller has stopped waiting (its
/// webhook deadline passed) is not stored: nobody would be told it was.
fn commit_batch(
    conn: &mut Connection,
    batch: &mut Vec<Job>,
    probes: &mut Vec<oneshot::Sender<Result<(), StoreError>>>,
) -> rusqlite::Result<()> {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            for job in batch.drain(..) {
                let _ = job.done.send(Err(StoreError::Writer(format!(
                    "cannot begin a transaction: {e}"
                ))));
            }
            for done in probes.drain(..) {
                let _ = done.send(Err(StoreError::Writer(format!(
                    "cannot begin a transaction: {e}"
                ))));
            }
            return Err(e);
        }
    };
    let mut handled = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if job.done.is_closed() {
            continue;
        }
        tx.prepare_cached("SAVEPOINT text")?.execute([])?;
        match apply(&tx, &job.msg, job.decide) {
            Ok(h) => {
                tx.prepare_cached("RELEASE text")?.execute([])?;
                handled.push((job.done, h));
            }
            Err(e) => {
                // Nothing of this text stays; the texts before it in the batch are untouched.
                tx.prepare_cached("ROLLBACK TO text")?.execute([])?;
                tx.prepare_cached("RELEASE text")?.execute([])?;
                let _ = job.done.send(Err(e));
            }
        }
    }
    let mut probed = Vec::with_capacity(probes.len());
    if !probes.is_empty() {
        // A failed probe statement is rolled back alone; the texts still commit.
        let result = tx
            .prepare_cached(SQL_PROBE)
            .and_then(|mut q| q.execute([ts(jiff::Timestamp::now())]));
        for done in probes.drain(..) {
            match &result {
                Ok(_) => probed.push(done),
                Err(e) => {
                    let _ = done.send(Err(StoreError::Writer(format!("probe write failed: {e}"))));
                }
            }
        }
    }
    match tx.commit() {
        Ok(()) => {
            for (done, h) in handled {
                let _ = done.send(Ok(h));
            }
            for done in probed {
                let _ = done.send(Ok(()));
            }
            Ok(())
        }
        Err(e) => {
            for (done, _) in handled {
                let _ = done.send(Err(StoreError::Writer(format!("commit failed: {e}"))));
            }
            for done in probed {
                let _ = done.send(Err(StoreError::Writer(format!("commit failed: {e}"))));
            }
            Err(e)
        }
    }
}

/// Handles one text inside the open transaction, exactly as the per-text path does.
fn apply(conn: &Connection, msg: &InboundText, decide: Decide) -> Result<Handled, StoreError> {
    type SnapshotRow = (
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: SnapshotRow = conn.prepare_cached(SQL_SNAPSHOT)?.query_row(
        params![msg.sid, msg.from, msg.erased_hash],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
            ))
        },
    )?;
    let (
        dup,
        id,
        phone,
        language,
        fields,
        opted_out,
        unmatched,
        since,
        last,
        muted,
        sid,
        state,
        hint,
        remembered,
    ) = row;
    if let Some(id) = dup {
        let replies = conn
            .prepare_cached(SQL_REPLIES_OF)?
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Handled {
            replies,
            duplicate: true,
            route: "duplicate",
        });
    }
    let contact = match id {
        None if remembered.is_some() => Some(Contact::remembered_opt_out(&msg.from)),
        None => None,
        Some(id) => Some(Contact {
            id,
            phone: phone.unwrap_or_default(),
            language,
            fields: serde_json::from_str(fields.as_deref().unwrap_or("{}"))
                .map_err(|e| StoreError::Corrupt(format!("contact fields: {e}")))?,
            opted_out: opted_out.unwrap_or(0) != 0,
            unmatched_count: u32::try_from(unmatched.unwrap_or(0)).unwrap_or(0),
            unmatched_since: parse_ts(since)?,
            last_default_reply_at: parse_ts(last)?,
            muted_until: parse_ts(muted)?,
            opt_out_hint_at: parse_ts(hint)?,
        }),
    };
    let session = match (sid, state) {
        (Some(id), Some(state)) => Some(ActiveSession {
            id,
            state: serde_json::from_str::<Session>(&state)
                .map_err(|e| StoreError::Corrupt(format!("session state: {e}")))?,
        }),
        _ => None,
    };
    let snapshot = Snapshot { contact, session };
    let d = decide_safely(&decide, &snapshot)?;
    let now = ts(msg.received_at);
    let c = contact_changes(&snapshot, &d);

    // A text that changes nothing of the contact (most answers) leaves its row alone.
    let contact_id: i64 = match &snapshot.contact {
        Some(known) if c.unchanged && known.is_stored() => known.id,
        _ => conn.prepare_cached(SQL_UPSERT_CONTACT)?.query_row(
            params![
                msg.from,
                c.language,
                c.fields_json,
                i64::from(c.opted_out),
                i64::from(c.throttle.unmatched_count),
                c.throttle.unmatched_since.map(ts),
                c.throttle.last_default_reply_at.map(ts),
                c.throttle.muted_until.map(ts),
                now,
                now,
                c.throttle.opt_out_hint_at.map(ts),
            ],
            |r| r.get(0),
        )?,
    };
    if let Some(change) = d.consent {
        conn.prepare_cached(SQL_CONSENT)?.execute(params![
            contact_id,
            match change {
                ConsentChange::OptOut => "opt_out",
                ConsentChange::OptIn => "opt_in",
            },
            msg.body,
            msg.sid,
            now,
        ])?;
    }
    let old_session = snapshot.session.as_ref().map(|s| s.id);
    if let (Some(end), Some(id)) = (d.end_session, old_session) {
        conn.prepare_cached(SQL_END_SESSION)?
            .execute(params![end.as_str(), now, now, id])?;
    }
    let mut session_id = old_session;
    if let Some(w) = &d.session {
        let state = w.state_json();
        let status = w.status();
        let ended_at = w.ended.map(|_| now.clone());
        let expires_at = w.state.expires_at.map(ts);
        if w.inserts(old_session) {
            session_id = Some(conn.prepare_cached(SQL_NEW_SESSION)?.query_row(
                params![
                    contact_id,
                    w.state.flow,
                    w.state.version,
                    w.state.language,
                    status,
                    state,
                    ts(w.state.started_at),
                    now,
                    ended_at,
                    expires_at,
                ],
                |r| r.get(0),
            )?);
        } else {
            conn.prepare_cached(SQL_UPDATE_SESSION)?.execute(params![
                state,
                status,
                w.state.language,
                now,
                ended_at,
                expires_at,
                old_session,
            ])?;
        }
    }
    let inbound_cost = segments::count(&msg.body);
    let media_json = serde_json::to_string(&msg.media).expect("media serialises");
    let inbound_id: i64 = conn.prepare_cached(SQL_INBOUND)?.query_row(
        params![
            msg.sid,
            contact_id,
            session_id,
            msg.from,
            msg.to,
            msg.body,
            media_json,
            inbound_cost.encoding.as_str(),
            i64::from(inbound_cost.segments),
            d.route,
            now,
        ],
        |r| r.get(0),
    )?;
    if let Some(sid) = session_id {
        let (flow_id, flow_version) = match (&d.session, &snapshot.session) {
            (Some(w), _) => (w.state.flow.as_str(), w.state.version.as_str()),
            (None, Some(s)) => (s.state.flow.as_str(), s.state.version.as_str()),
            (None, None) => ("", ""),
        };
        for a in &d.answers {
            conn.prepare_cached(SQL_ANSWER)?.execute(params![
                sid,
                contact_id,
                flow_id,
                flow_version,
                a.question,
                a.raw,
                a.value,
                a.category,
                inbound_id,
                now,
                a.consent_topic,
                a.withdrawn_topic,
            ])?;
        }
        for r in &d.requests {
            conn.prepare_cached(SQL_REQUEST)?.execute(params![
                r.code,
                sid,
                contact_id,
                flow_id,
                r.service,
                r.description,
                r.location,
                r.photo,
                now,
            ])?;
        }
    }
    for reply in &d.replies {
        let cost = segments::count(reply);
        conn.prepare_cached(SQL_REPLY)?.execute(params![
            contact_id,
            session_id,
            inbound_id,
            msg.to,
            msg.from,
            reply,
            cost.encoding.as_str(),
            i64::from(cost.segments),
            d.route,
            now,
        ])?;
    }
    Ok(Handled {
        replies: d.replies,
        duplicate: false,
        route: d.route,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::{SqliteStore, Store};
    use super::*;

    async fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        SqliteStore::connect(&url).await.unwrap()
    }

    fn text(sid: &str, from: &str, body: &str) -> InboundText {
        InboundText {
            sid: sid.into(),
            from: from.into(),
            to: "+15025550000".into(),
            body: body.into(),
            media: vec![],
            received_at: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            provider_command: None,
            erased_hash: None,
        }
    }

    fn reply(body: &str) -> impl Fn(&Snapshot) -> Decision + Send + Sync + 'static {
        let body = body.to_string();
        move |_| Decision {
            replies: vec![format!("re: {body}")],
            route: "test",
            ..Decision::default()
        }
    }

    async fn count(s: &SqliteStore, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap()
    }

    #[tokio::test]
    async fn concurrent_texts_are_each_stored_once_and_a_repeat_in_the_same_batch_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let msg = text(&format!("SM{i}"), &format!("+1502555{i:04}"), "hello");
                s.handle_inbound(&msg, reply("hello")).await.unwrap()
            }));
        }
        // The same MessageSid twice, queued back to back: one handling, one repeat.
        let again = text("SMtwice", "+15025559999", "hello");
        let (a, b) = tokio::join!(
            s.handle_inbound(&again, reply("other")),
            s.handle_inbound(&again, reply("other"))
        );
        for t in tasks {
            let h = t.await.unwrap();
            assert!(!h.duplicate);
        }
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(!a.duplicate && b.duplicate);
        assert_eq!(a.replies, vec!["re: other".to_string()]);
        assert_eq!(b.replies, a.replies);
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM messages WHERE direction = 'in'").await,
            201
        );
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM messages WHERE direction = 'out'").await,
            201
        );
        assert_eq!(count(&s, "SELECT COUNT(*) FROM contacts").await, 201);
    }

    #[tokio::test]
    async fn a_later_text_decides_on_a_snapshot_that_includes_the_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (first, second) = (seen.clone(), seen.clone());
        let (one, two) = (
            text("SM1", "+15025550001", "one"),
            text("SM2", "+15025550001", "two"),
        );
        let (a, b) = tokio::join!(
            s.handle_inbound(&one, move |snap| {
                first.lock().unwrap().push(("one", snap.contact.is_some()));
                Decision {
                    fields: vec![("zip".into(), "40202".into())],
                    route: "test",
                    ..Decision::default()
                }
            }),
            s.handle_inbound(&two, move |snap| {
                let zip = snap
                    .contact
                    .as_ref()
                    .and_then(|c| c.fields.get("zip").cloned());
                second.lock().unwrap().push(("two", zip.is_some()));
                Decision {
                    route: "test",
                    ..Decision::default()
                }
            })
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![("one", false), ("two", true)]);
    }

    #[tokio::test]
    async fn opening_an_analyzed_database_removes_its_value_samples_and_keeps_row_counts() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        for i in 0..50 {
            let msg = text(&format!("SM{i}"), &format!("+1502555{i:04}"), "hello");
            s.handle_inbound(&msg, reply("hello")).await.unwrap();
        }
        sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
        assert!(count(&s, "SELECT COUNT(*) FROM sqlite_stat4").await > 0);

        let reopened = store(&dir).await;
        assert_eq!(
            count(&reopened, "SELECT COUNT(*) FROM sqlite_stat4").await,
            0
        );
        assert!(count(&reopened, "SELECT COUNT(*) FROM sqlite_stat1").await > 0);
        let msg = text("SM-after", "+15025550001", "hello");
        assert!(
            !reopened
                .handle_inbound(&msg, reply("hi"))
                .await
                .unwrap()
                .duplicate
        );
    }

    /// The planner's row estimate for `index`: the first number of its `sqlite_stat1` line.
    async fn estimated_rows(s: &SqliteStore, index: &str) -> i64 {
        let stat: String = sqlx::query_scalar("SELECT stat FROM sqlite_stat1 WHERE idx = ?")
            .bind(index)
            .fetch_one(s.pool())
            .await
            .unwrap();
        stat.split(' ').next().unwrap().parse().unwrap()
    }

    /// A database analyzed when it held one resident, then given texts from `residents` more.
    async fn analyzed_small_then_grown(dir: &tempfile::TempDir, residents: usize) -> SqliteStore {
        let s = store(dir).await;
        let first = text("SM-first", "+15025559999", "hello");
        s.handle_inbound(&first, reply("hello")).await.unwrap();
        sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
        for i in 0..residents {
            let msg = text(&format!("SM{i}"), &format!("+1502555{i:04}"), "hello");
            s.handle_inbound(&msg, reply("hello")).await.unwrap();
        }
        assert_eq!(estimated_rows(&s, "sqlite_autoindex_contacts_1").await, 1);
        s
    }

    #[tokio::test]
    async fn statistics_taken_while_a_table_was_small_are_refreshed_once_it_has_grown() {
        let dir = tempfile::tempdir().unwrap();
        let s = analyzed_small_then_grown(&dir, 300).await;
        s.refresh_statistics().await.unwrap();
        assert_eq!(estimated_rows(&s, "sqlite_autoindex_contacts_1").await, 301);
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM sqlite_stat4").await,
            0,
            "no per-value samples come back with the refresh"
        );
    }

    #[tokio::test]
    async fn opening_a_database_refreshes_statistics_taken_while_it_was_small() {
        let dir = tempfile::tempdir().unwrap();
        drop(analyzed_small_then_grown(&dir, 300).await);
        let reopened = store(&dir).await;
        assert_eq!(
            estimated_rows(&reopened, "sqlite_autoindex_contacts_1").await,
            301
        );
    }

    #[tokio::test]
    async fn a_failing_text_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let (ta, tb, tc) = (
            text("SM1", "+15025550001", "a"),
            text("SM2", "+15025550002", "b"),
            text("SM3", "+15025550003", "c"),
        );
        let (a, b, c) = tokio::join!(
            s.handle_inbound(&ta, reply("a")),
            s.handle_inbound(&tb, |_| -> Decision { panic!("a decision that fails") }),
            s.handle_inbound(&tc, reply("c")),
        );
        assert!(a.is_ok() && c.is_ok());
        assert!(matches!(b, Err(StoreError::Writer(_))));
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM messages WHERE direction = 'in'").await,
            2
        );
        assert_eq!(
            count(
                &s,
                "SELECT COUNT(*) FROM contacts WHERE phone = '+15025550002'"
            )
            .await,
            0
        );
        // The writer keeps going.
        let d = Store::Sqlite(s.clone())
            .handle_inbound(&text("SM4", "+15025550004", "d"), reply("d"))
            .await;
        assert!(d.is_ok());
    }
}
