//! The embedded SQLite store: one file, WAL journal, every write in an immediate transaction.
//!
//! SQLite has one writer at a time, and with `synchronous = FULL` every commit waits for the disk.
//! So inbound texts are not given a transaction each: a single writer task takes every text
//! waiting for it, handles them one after the other inside one `BEGIN IMMEDIATE` transaction
//! (each text inside its own SAVEPOINT, so each decides on a snapshot that includes the texts
//! before it and a failing text is rolled back alone), commits once, and only then answers each
//! caller. Texts are handled in arrival order, so one resident's texts keep their order. This
//! is group commit: one disk flush for the whole batch instead of one per text.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio::sync::mpsc;

use super::model::*;
use super::sqlite_writer::{
    self as writer, SQL_ACTIVE_SESSION, SQL_ANSWER, SQL_CONSENT, SQL_CONTACT, SQL_END_SESSION,
    SQL_FIND_INBOUND, SQL_INBOUND, SQL_NEW_SESSION, SQL_REPLIES_OF, SQL_REPLY, SQL_REQUEST,
    SQL_UPDATE_SESSION, SQL_UPSERT_CONTACT,
};
use super::{
    AuditRows, ExportAnswer, ExportSession, Handled, HistoryRow, RecordedFlow, StoreError,
};
use crate::flow::catalog::{Catalog, SourceFile};
use crate::flow::engine::Session;
use crate::sms::segments;

/// How inbound texts reach the database.
#[derive(Clone)]
enum Writes {
    /// Group commit through the writer task.
    Batched(mpsc::Sender<writer::Work>),
    /// One transaction per text on a pooled connection (the straightforward way, kept as the
    /// baseline the benchmark compares against).
    PerText,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Writes::Batched(_) => "Batched",
            Writes::PerText => "PerText",
        })
    }
}

/// The contact's consent now, with one row per consent event, oldest first (one row with no
/// event when there is none).
const SQL_CONSENT_HISTORY: &str = "SELECT c.opted_out, e.kind, e.topic, e.message_sid
     FROM contacts c LEFT JOIN consent_events e ON e.contact_id = c.id
     WHERE c.phone = ? ORDER BY e.id";

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writes: Writes,
    batched: Arc<AtomicU64>,
    /// Results read through SQLite directly; None for a database held in memory.
    reader: Option<super::sqlite_reader::Reader>,
}

/// Removes the per-value index samples (`sqlite_stat4`) that `ANALYZE` writes; the per-index
/// row counts (`sqlite_stat1`) stay.
///
/// With samples present, SQLite compiles a statement again whenever a value bound to an
/// indexed column changes, to plan for that value. Every statement the writer runs looks up a
/// unique key, whose plan never changes; on a database of 1,000,000 messages that had been
/// analyzed, the recompiling cost the gateway 30% of its throughput (docs/benchmarks.md).
async fn drop_value_samples(pool: &SqlitePool) -> Result<(), StoreError> {
    let sampled: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat4')",
    )
    .fetch_one(pool)
    .await?;
    if sampled {
        let removed = sqlx::query("DELETE FROM sqlite_stat4")
            .execute(pool)
            .await?
            .rows_affected();
        if removed > 0 {
            tracing::info!(
                removed,
                "removed ANALYZE's per-value samples (sqlite_stat4)"
            );
        }
    }
    Ok(())
}

pub(super) fn ts(t: Timestamp) -> String {
    t.to_string()
}

/// Brings the planner's statistics up to date where the data has changed a lot since they were
/// taken (`PRAGMA optimize`, as SQLite recommends for long-lived connections: once when the
/// database is opened and then periodically; `0x10002` considers every table, not only those
/// this connection has queried, since any connection of the pool may run it).
///
/// Statistics taken while a table was nearly empty (an `ANALYZE` run early in a database's life)
/// tell the planner it is free to scan; with 20,000 consents recorded since, the audience query
/// picked a scan of a partial index per contact and took 10 s instead of 30 ms.
async fn refresh_statistics(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("PRAGMA optimize=0x10002").execute(pool).await?;
    drop_value_samples(pool).await
}

pub(super) fn parse_ts(s: Option<String>) -> Result<Option<Timestamp>, StoreError> {
    s.map(|s| {
        s.parse::<Timestamp>()
            .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
    })
    .transpose()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://civictext.db`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a reply is only sent after its commit is on disk.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        refresh_statistics(&pool).await?;
        let file = options.get_filename();
        // The driver names `sqlite::memory:` databases `file:sqlx-in-memory-N`, not `:memory:`.
        let in_memory = file.as_os_str().is_empty()
            || file.to_string_lossy().contains(":memory:")
            || url.contains(":memory:")
            || url.contains("mode=memory");
        let batched = Arc::new(AtomicU64::new(0));
        let (writes, reader) = if in_memory {
            // A second connection would see another database: keep one transaction per text.
            (Writes::PerText, None)
        } else {
            (
                Writes::Batched(writer::start(file.to_path_buf(), batched.clone())?),
                Some(super::sqlite_reader::Reader::new(file.to_path_buf())),
            )
        };
        Ok(SqliteStore {
            pool,
            writes,
            batched,
            reader,
        })
    }

    /// The straightforward store the benchmark measures the gateway against: one transaction
    /// per text on the driver's default settings (rollback journal, default pool), or with
    /// `wal` the gateway's own journal settings (WAL, synchronous FULL).
    pub async fn connect_per_text(url: &str, wal: bool) -> Result<Self, StoreError> {
        let mut options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        if wal {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10));
        }
        let pool = SqlitePoolOptions::new().connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore {
            pool,
            writes: Writes::PerText,
            batched: Arc::default(),
            reader: None,
        })
    }

    /// Texts committed so far in a transaction shared with at least one other text.
    pub fn texts_committed_together(&self) -> u64 {
        self.batched.load(Ordering::Relaxed)
    }

    /// Reads results through SQLite directly, when the database is a file.
    pub(super) fn reader(&self) -> Option<&super::sqlite_reader::Reader> {
        self.reader.as_ref()
    }

    /// The connection pool, for tests and tools that read the database directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// See [`super::Store::refresh_statistics`].
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        refresh_statistics(&self.pool).await
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Commits a write through the connection texts are stored on (see
    /// [`super::Store::probe_write`]).
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        match &self.writes {
            Writes::Batched(queue) => writer::probe(queue).await,
            Writes::PerText => {
                sqlx::query(
                    "INSERT INTO write_probe (id, checked_at) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                )
                .bind(ts(Timestamp::now()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    }

    /// See [`super::Store::handle_inbound`].
    pub async fn handle_inbound(
        &self,
        msg: &InboundText,
        decide: impl Fn(&Snapshot) -> Decision + Send + Sync + 'static,
    ) -> Result<Handled, StoreError> {
        match &self.writes {
            Writes::Batched(queue) => {
                super::queue::submit(queue, "writer", msg, Box::new(decide)).await
            }
            Writes::PerText => {
                // IMMEDIATE takes the write lock up front: two deliveries for the same resident
                // are serialised here instead of failing with SQLITE_BUSY when a read upgrades
                // to a write.
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                let handled = apply(&mut tx, msg, decide).await?;
                tx.commit().await?;
                Ok(handled)
            }
        }
    }
}

/// Handles one text inside the caller's transaction: if its provider id was seen before,
/// returns the replies stored then and changes nothing; otherwise loads the contact and active
/// session, asks `decide` what to do and writes all of it.
async fn apply(
    tx: &mut SqliteConnection,
    msg: &InboundText,
    decide: impl FnOnce(&Snapshot) -> Decision,
) -> Result<Handled, StoreError> {
    {
        if let Some(id) = sqlx::query_scalar::<_, i64>(SQL_FIND_INBOUND)
            .bind(&msg.sid)
            .fetch_optional(&mut *tx)
            .await?
        {
            let replies = sqlx::query_scalar::<_, String>(SQL_REPLIES_OF)
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            return Ok(Handled {
                replies,
                duplicate: true,
                route: "duplicate",
            });
        }

        let contact = match sqlx::query(SQL_CONTACT)
            .bind(&msg.from)
            .fetch_optional(&mut *tx)
            .await?
        {
            None => match &msg.erased_hash {
                Some(hash) => sqlx::query("SELECT 1 FROM forgotten_opt_outs WHERE phone_hash = ?")
                    .bind(hash)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|_| Contact::remembered_opt_out(&msg.from)),
                None => None,
            },
            Some(r) => Some(Contact {
                id: r.get("id"),
                phone: r.get("phone"),
                language: r.get("language"),
                fields: serde_json::from_str(r.get::<&str, _>("fields"))
                    .map_err(|e| StoreError::Corrupt(format!("contact fields: {e}")))?,
                opted_out: r.get::<i64, _>("opted_out") != 0,
                unmatched_count: u32::try_from(r.get::<i64, _>("unmatched_count")).unwrap_or(0),
                unmatched_since: parse_ts(r.get("unmatched_since"))?,
                last_default_reply_at: parse_ts(r.get("last_default_reply_at"))?,
                muted_until: parse_ts(r.get("muted_until"))?,
                opt_out_hint_at: parse_ts(r.get("opt_out_hint_at"))?,
            }),
        };
        let session = match contact.as_ref().filter(|c| c.is_stored()) {
            None => None,
            Some(c) => match sqlx::query(SQL_ACTIVE_SESSION)
                .bind(c.id)
                .fetch_optional(&mut *tx)
                .await?
            {
                None => None,
                Some(r) => Some(ActiveSession {
                    id: r.get("id"),
                    state: serde_json::from_str::<Session>(r.get::<&str, _>("state"))
                        .map_err(|e| StoreError::Corrupt(format!("session state: {e}")))?,
                }),
            },
        };
        let snapshot = Snapshot { contact, session };
        // A decision that panics fails its own text, never the writer or the batch.
        let d = std::panic::catch_unwind(AssertUnwindSafe(|| decide(&snapshot)))
            .map_err(|_| StoreError::Writer("deciding on this text panicked".into()))?;
        let now = ts(msg.received_at);

        let ContactChanges {
            language,
            fields_json,
            opted_out,
            throttle,
            ..
        } = contact_changes(&snapshot, &d);
        let contact_id: i64 = sqlx::query_scalar(SQL_UPSERT_CONTACT)
            .bind(&msg.from)
            .bind(&language)
            .bind(&fields_json)
            .bind(i64::from(opted_out))
            .bind(i64::from(throttle.unmatched_count))
            .bind(throttle.unmatched_since.map(ts))
            .bind(throttle.last_default_reply_at.map(ts))
            .bind(throttle.muted_until.map(ts))
            .bind(&now)
            .bind(&now)
            .bind(throttle.opt_out_hint_at.map(ts))
            .fetch_one(&mut *tx)
            .await?;

        if let Some(change) = d.consent {
            sqlx::query(SQL_CONSENT)
                .bind(contact_id)
                .bind(match change {
                    ConsentChange::OptOut => "opt_out",
                    ConsentChange::OptIn => "opt_in",
                })
                .bind(&msg.body)
                .bind(&msg.sid)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
        }

        let old_session = snapshot.session.as_ref().map(|s| s.id);
        if let (Some(end), Some(id)) = (d.end_session, old_session) {
            sqlx::query(SQL_END_SESSION)
                .bind(end.as_str())
                .bind(&now)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let mut session_id = old_session;
        if let Some(w) = &d.session {
            let state = w.state_json();
            let status = w.status();
            let ended_at = w.ended.map(|_| now.clone());
            let expires_at = w.state.expires_at.map(ts);
            if w.inserts(old_session) {
                session_id = Some(
                    sqlx::query_scalar(SQL_NEW_SESSION)
                        .bind(contact_id)
                        .bind(&w.state.flow)
                        .bind(&w.state.version)
                        .bind(&w.state.language)
                        .bind(status)
                        .bind(&state)
                        .bind(ts(w.state.started_at))
                        .bind(&now)
                        .bind(&ended_at)
                        .bind(&expires_at)
                        .fetch_one(&mut *tx)
                        .await?,
                );
            } else {
                sqlx::query(SQL_UPDATE_SESSION)
                    .bind(&state)
                    .bind(status)
                    .bind(&w.state.language)
                    .bind(&now)
                    .bind(&ended_at)
                    .bind(&expires_at)
                    .bind(old_session)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        let inbound_cost = segments::count(&msg.body);
        let media_json = serde_json::to_string(&msg.media).expect("media serialises");
        let inbound_id: i64 = sqlx::query_scalar(SQL_INBOUND)
            .bind(&msg.sid)
            .bind(contact_id)
            .bind(session_id)
            .bind(&msg.from)
            .bind(&msg.to)
            .bind(&msg.body)
            .bind(&media_json)
            .bind(inbound_cost.encoding.as_str())
            .bind(i64::from(inbound_cost.segments))
            .bind(d.route)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;

        if let Some(sid) = session_id {
            let (flow_id, flow_version) = match (&d.session, &snapshot.session) {
                (Some(w), _) => (w.state.flow.clone(), w.state.version.clone()),
                (None, Some(s)) => (s.state.flow.clone(), s.state.version.clone()),
                (None, None) => (String::new(), String::new()),
            };
            for a in &d.answers {
                sqlx::query(SQL_ANSWER)
                    .bind(sid)
                    .bind(contact_id)
                    .bind(&flow_id)
                    .bind(&flow_version)
                    .bind(&a.question)
                    .bind(&a.raw)
                    .bind(&a.value)
                    .bind(&a.category)
                    .bind(inbound_id)
                    .bind(&now)
                    .bind(&a.consent_topic)
                    .bind(&a.withdrawn_topic)
                    .execute(&mut *tx)
                    .await?;
            }
            for r in &d.requests {
                sqlx::query(SQL_REQUEST)
                    .bind(&r.code)
                    .bind(sid)
                    .bind(contact_id)
                    .bind(&flow_id)
                    .bind(&r.service)
                    .bind(&r.description)
                    .bind(&r.location)
                    .bind(&r.photo)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        for reply in &d.replies {
            let cost = segments::count(reply);
            sqlx::query(SQL_REPLY)
                .bind(contact_id)
                .bind(session_id)
                .bind(inbound_id)
                .bind(&msg.to)
                .bind(&msg.from)
                .bind(reply)
                .bind(cost.encoding.as_str())
                .bind(i64::from(cost.segments))
                .bind(d.route)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
        }
        Ok(Handled {
            replies: d.replies,
            duplicate: false,
            route: d.route,
        })
    }
}

impl SqliteStore {
    /// See [`super::Store::save_flow_sources`].
    pub async fn save_flow_sources(
        &self,
        catalog: &Catalog,
        sources: &[SourceFile],
    ) -> Result<(), StoreError> {
        let now = ts(Timestamp::now());
        let mut tx = self.pool.begin().await?;
        for flow in catalog.flows() {
            let Some(src) = sources.iter().find(|s| s.name == flow.source) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO flow_versions (flow_id, version, file, source, loaded_at)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (flow_id, version)
                 DO UPDATE SET file = excluded.file, loaded_at = excluded.loaded_at",
            )
            .bind(&flow.id)
            .bind(&flow.version)
            .bind(&src.name)
            .bind(&src.text)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// See [`super::Store::consent_history`]: (opted out, event kind, its topic, its
    /// MessageSid) rows.
    pub async fn consent_history(&self, phone: &str) -> Result<Vec<HistoryRow>, StoreError> {
        // SQLite's booleans are integers.
        type Stored = (i64, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Stored> = sqlx::query_as(SQL_CONSENT_HISTORY)
            .bind(phone)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(o, kind, topic, sid)| (o != 0, kind, topic, sid))
            .collect())
    }

    /// Every flow version ever recorded, the most recently served last.
    pub async fn load_flow_versions(&self) -> Result<Vec<RecordedFlow>, StoreError> {
        let rows = sqlx::query(
            "SELECT flow_id, version, file, source FROM flow_versions
             ORDER BY loaded_at, flow_id, version",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| RecordedFlow {
                flow_id: r.get("flow_id"),
                version: r.get("version"),
                source: SourceFile {
                    name: r.get("file"),
                    text: r.get("source"),
                },
            })
            .collect())
    }

    /// Every session of `flow_id` with its answers, oldest first.
    pub async fn export(&self, flow_id: &str) -> Result<Vec<ExportSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.contact_id, c.phone, s.flow_version, s.language, s.status,
                    s.started_at, s.updated_at, s.ended_at,
                    (SELECT r.code FROM service_requests r WHERE r.session_id = s.id
                     ORDER BY r.id LIMIT 1) AS tracking_code
             FROM sessions s JOIN contacts c ON c.id = s.contact_id
             WHERE s.flow_id = ? ORDER BY s.id",
        )
        .bind(flow_id)
        .fetch_all(&self.pool)
        .await?;
        let mut sessions: Vec<ExportSession> = rows
            .iter()
            .map(|r| ExportSession {
                session_id: r.get("id"),
                contact_id: r.get("contact_id"),
                phone: r.get("phone"),
                flow_version: r.get("flow_version"),
                language: r.get("language"),
                status: r.get("status"),
                started_at: r.get("started_at"),
                updated_at: r.get("updated_at"),
                ended_at: r.get("ended_at"),
                tracking_code: r.get("tracking_code"),
                answers: BTreeMap::new(),
            })
            .collect();
        let index: BTreeMap<i64, usize> = sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.session_id, i))
            .collect();
        let answers = sqlx::query(
            "SELECT session_id, question, raw, value, category FROM answers WHERE flow_id = ?",
        )
        .bind(flow_id)
        .fetch_all(&self.pool)
        .await?;
        for a in answers {
            if let Some(&i) = index.get(&a.get::<i64, _>("session_id")) {
                sessions[i].answers.insert(
                    a.get("question"),
                    ExportAnswer {
                        raw: a.get("raw"),
                        value: a.get("value"),
                        category: a.get("category"),
                    },
                );
            }
        }
        Ok(sessions)
    }

    /// Bulk-inserts about `messages` messages as completed youth-survey conversations: per
    /// contact one completed session, 8 inbound texts, 8 replies and 7 answers (16 messages).
    /// For benchmarks on a fresh database: contacts are `+1800…` numbers.
    pub async fn prefill(&self, messages: u64) -> Result<(), StoreError> {
        const STEPS: &str = "(0, 'PLAN', NULL, NULL), (1, '16', 'age', '16'), \
            (2, '40202', 'zip', '40202'), (3, '1', 'getting-around', 'bus'), \
            (4, 'yes', 'safe-walking', 'yes'), (5, '2', 'priority', 'transit'), \
            (6, '4', 'rating', '4'), (7, 'no', 'follow-up', 'no')";
        let contacts = i64::try_from(messages.div_ceil(16)).unwrap_or(i64::MAX);
        let (when, state) = super::prefill_state();
        let at = ts(when);
        let reply = super::PREFILL_REPLY;

        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let first_contact: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM contacts")
            .fetch_one(&mut *tx)
            .await?;
        let first_message: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM messages")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ?)
             INSERT INTO contacts (phone, language, fields, opted_out, created_at, updated_at)
             SELECT printf('+1800%07d', x), 'en', '{\"events_opt_in\":\"no\",\"zip\":\"40202\"}',
                    0, ?, ?
             FROM seq",
        )
        .bind(contacts)
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (contact_id, flow_id, flow_version, language, status, state,
                                   started_at, updated_at, ended_at)
             SELECT id, 'youth-survey', 'prefill', 'en', 'completed', ?, ?, ?, ?
             FROM contacts WHERE id > ? ORDER BY id",
        )
        .bind(&state)
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .bind(first_contact)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "WITH steps(k, body, question, value) AS (VALUES {STEPS})
             INSERT INTO messages (direction, sid, contact_id, session_id, from_addr, to_addr,
                                   body, media, encoding, segments, status, route, created_at)
             SELECT 'in', printf('SMprefill%012d%02d', s.id, k), s.contact_id, s.id, c.phone,
                    '+15025550000', body, '[]', 'GSM-7', 1, 'received',
                    CASE k WHEN 0 THEN 'keyword' ELSE 'session' END, ?
             FROM sessions s JOIN contacts c ON c.id = s.contact_id, steps
             WHERE c.id > ? ORDER BY s.id, k"
        ))
        .bind(&at)
        .bind(first_contact)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO messages (direction, contact_id, session_id, reply_to, from_addr, to_addr,
                                   body, encoding, segments, status, route, created_at)
             SELECT 'out', contact_id, session_id, id, to_addr, from_addr, ?, 'GSM-7', 1,
                    'replied', route, created_at
             FROM messages WHERE id > ? AND direction = 'in' ORDER BY id",
        )
        .bind(reply)
        .bind(first_message)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "WITH steps(k, body, question, value) AS (VALUES {STEPS})
             INSERT INTO answers (session_id, contact_id, flow_id, flow_version, question, raw,
                                  value, category, message_id, answered_at)
             SELECT m.session_id, m.contact_id, 'youth-survey', 'prefill', steps.question,
                    steps.body, steps.value, steps.value, m.id, m.created_at
             FROM messages m JOIN steps ON steps.body = m.body
             WHERE m.id > ? AND m.direction = 'in' AND steps.question IS NOT NULL
             ORDER BY m.id"
        ))
        .bind(first_message)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    /// Every inbound text whose provider id starts with `sid_prefix` (with its session and the
    /// number of replies stored with it), and every answer those texts gave.
    pub async fn audit(&self, sid_prefix: &str) -> Result<AuditRows, StoreError> {
        // A range on the unique sid index instead of LIKE, which SQLite would scan.
        let low = sid_prefix.to_string();
        let high = format!("{sid_prefix}\u{10FFFF}");
        let inbound = sqlx::query(
            "SELECT m.sid, m.session_id,
                    (SELECT COUNT(*) FROM messages o WHERE o.reply_to = m.id) AS replies
             FROM messages m
             WHERE m.sid >= ? AND m.sid < ? AND m.direction = 'in'",
        )
        .bind(&low)
        .bind(&high)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| (r.get("sid"), r.get("session_id"), r.get("replies")))
        .collect();
        let answers = sqlx::query(
            "SELECT m.sid, a.question, a.session_id
             FROM messages m JOIN answers a ON a.message_id = m.id
             WHERE m.sid >= ? AND m.sid < ? AND m.direction = 'in'",
        )
        .bind(&low)
        .bind(&high)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| (r.get("sid"), r.get("question"), r.get("session_id")))
        .collect();
        Ok(AuditRows { inbound, answers })
    }
}
