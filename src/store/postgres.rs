//! The PostgreSQL store, shared by several gateway replicas.
//!
//! Texts from one resident are serialised across every replica by a transaction-scoped advisory
//! lock keyed on their phone number, taken before anything is read; within one replica a local
//! lock queues them first, so a burst from one number holds at most one pooled connection per
//! replica. The unique MessageSid is the backstop: a repeat delivery that slips past the lock
//! (same MessageSid from another address) rolls back and answers with the stored replies.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{
    PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgTypeInfo, PgValueFormat, PgValueRef,
    Postgres,
};
use sqlx::postgres::{PgHasArrayType, PgRow};
use sqlx::{Decode, Encode, PgPool, Row, Type};

use tokio::sync::mpsc;

use super::model::*;
use super::queue::Job;
use super::{ExportAnswer, ExportSession, Handled, RecordedFlow, StoreError};
use crate::flow::catalog::{Catalog, SourceFile};
use crate::flow::engine::Session;
use crate::sms::segments;

/// Connections per replica: one per batch being written (`pg_batch::IN_FLIGHT`) and one more
/// for readiness checks and repeat deliveries. Inbound texts queue for a batch, not for a
/// connection, so a small pool keeps the server's CPUs busy without piling up backends that
/// only wait.
const POOL_SIZE: u32 = 5;

/// The namespace of this store's advisory lock keys.
const LOCK_NAMESPACE: &[u8] = b"civictext/resident/";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    residents: Arc<ResidentLocks>,
    /// Group commit (see `pg_batch`); None for one transaction per text.
    batches: Option<mpsc::Sender<Job>>,
    /// Texts committed in a transaction shared with at least one other text.
    pub(super) batched: Arc<AtomicU64>,
    /// Result pages read at once (each holds a connection for its transaction), so downloads
    /// never take the connections inbound texts need.
    pub(super) result_pages: Arc<tokio::sync::Semaphore>,
}

/// Result pages this process reads at once: a stream keeps two in flight, and the other
/// connections of the pool stay free for texts.
const RESULT_PAGES: usize = 2;

/// A timestamp as PostgreSQL `timestamptz` (microseconds; finer digits are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ts(pub(super) Timestamp);

/// `timestamptz`'s built-in type id (fixed in `pg_type`).
const TIMESTAMPTZ: Oid = Oid(1184);

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(TIMESTAMPTZ)
    }
}

impl PgHasArrayType for Ts {
    fn array_type_info() -> PgTypeInfo {
        // `timestamptz[]`
        PgTypeInfo::with_oid(Oid(1185))
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let unix_micros = i64::try_from(self.0.as_nanosecond().div_euclid(1000))?;
        Encode::<Postgres>::encode(unix_micros - PG_EPOCH_MICROS, buf)
    }

    fn size_hint(&self) -> usize {
        std::mem::size_of::<i64>()
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => {
                let pg_micros = <i64 as Decode<Postgres>>::decode(value)?;
                let unix_micros = pg_micros
                    .checked_add(PG_EPOCH_MICROS)
                    .ok_or("timestamp out of range")?;
                Ok(Ts(Timestamp::from_microsecond(unix_micros)?))
            }
            // `2026-03-01 12:00:00.5+00`: ISO output, which jiff reads as is.
            PgValueFormat::Text => Ok(Ts(value.as_str()?.parse()?)),
        }
    }
}

pub(super) fn ts(t: Timestamp) -> Ts {
    Ts(t)
}

fn opt_ts(t: Option<Ts>) -> Option<Timestamp> {
    t.map(|t| t.0)
}

/// `text` as PostgreSQL `text` can hold it: U+0000 (which SQLite keeps, but PostgreSQL refuses
/// with "invalid byte sequence") becomes U+FFFD, the replacement character.
pub(super) fn pg_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

/// The advisory lock key for a resident: 64 bits of SHA-256, the same in every build and on
/// every replica. Two residents sharing a key only wait for each other.
pub(super) fn resident_key(phone: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(LOCK_NAMESPACE)
        .chain_update(phone.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// True when `e` is the MessageSid uniqueness constraint refusing a second copy.
fn is_sid_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some("messages_sid_unique")
        }
        _ => false,
    }
}

/// Per-resident queues inside this process: a FIFO mutex per phone number, dropped from the map
/// when nobody holds or awaits it.
#[derive(Debug, Default)]
struct ResidentLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct ResidentGuard<'a> {
    locks: &'a ResidentLocks,
    phone: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl ResidentLocks {
    async fn lock(&self, phone: &str) -> ResidentGuard<'_> {
        let mutex = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(phone.to_string())
            .or_default()
            .clone();
        // Built before waiting, so a cancelled wait still cleans the map up.
        let mut guard = ResidentGuard {
            locks: self,
            phone: phone.to_string(),
            mutex,
            held: None,
        };
        guard.held = Some(guard.mutex.clone().lock_owned().await);
        guard
    }
}

impl Drop for ResidentGuard<'_> {
    fn drop(&mut self) {
        self.held.take();
        let mut map = self
            .locks
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Clones are only made under the map's lock: the map's and ours mean nobody else.
        if Arc::strong_count(&self.mutex) == 2 {
            map.remove(&self.phone);
        }
    }
}

/// Keeps the last answer given to each question, in first-asked order (a multi-row upsert may
/// not touch one row twice).
pub(super) fn last_answer_per_question(
    answers: &[crate::flow::engine::AnswerRecord],
) -> Vec<usize> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        if last.insert(a.question.as_str(), i).is_none() {
            order.push(a.question.as_str());
        }
    }
    order.iter().map(|q| last[q]).collect()
}

/// The replies stored with an earlier copy of the text, when the snapshot row (see
/// `SNAPSHOT_COLUMNS`) found one.
pub(super) fn stored_replies(row: &PgRow) -> Result<Option<Vec<String>>, StoreError> {
    if row.try_get::<Option<i64>, _>("dup_id")?.is_none() {
        return Ok(None);
    }
    let replies: Option<Vec<String>> = row.try_get("dup_replies")?;
    Ok(Some(replies.unwrap_or_default()))
}

/// The contact and active session in a snapshot row (see `SNAPSHOT_COLUMNS`).
pub(super) fn snapshot_from_row(row: &PgRow) -> Result<Snapshot, StoreError> {
    let contact = match row.try_get::<Option<i64>, _>("id")? {
        None => row
            .try_get::<Option<String>, _>("remembered_opt_out")?
            .map(|_| Contact::remembered_opt_out("")),
        Some(id) => Some(Contact {
            id,
            phone: row.try_get("phone")?,
            language: row.try_get("language")?,
            fields: serde_json::from_str(row.try_get::<&str, _>("fields")?)
                .map_err(|e| StoreError::Corrupt(format!("contact fields: {e}")))?,
            opted_out: row.try_get("opted_out")?,
            unmatched_count: u32::try_from(row.try_get::<i32, _>("unmatched_count")?).unwrap_or(0),
            unmatched_since: opt_ts(row.try_get("unmatched_since")?),
            last_default_reply_at: opt_ts(row.try_get("last_default_reply_at")?),
            muted_until: opt_ts(row.try_get("muted_until")?),
            opt_out_hint_at: opt_ts(row.try_get("opt_out_hint_at")?),
        }),
    };
    let session = match row.try_get::<Option<i64>, _>("session_id")? {
        None => None,
        Some(id) => Some(ActiveSession {
            id,
            state: serde_json::from_str::<Session>(row.try_get::<&str, _>("state")?)
                .map_err(|e| StoreError::Corrupt(format!("session state: {e}")))?,
        }),
    };
    Ok(Snapshot { contact, session })
}

/// What a snapshot reads: an earlier copy of the text (`dup`) with its replies, the contact
/// (`c`), the active session (`s`) and, for a number with no contact, whether it belonged to a
/// forgotten resident who had opted out (`f`). The query supplies the FROM clause.
pub(super) const SNAPSHOT_COLUMNS: &str = "dup.id AS dup_id,
        (SELECT array_agg(r.body ORDER BY r.id) FROM messages r
         WHERE r.reply_to = dup.id) AS dup_replies,
        c.id, c.phone, c.language, c.fields::text AS fields, c.opted_out,
        c.unmatched_count, c.unmatched_since, c.last_default_reply_at,
        c.muted_until, c.opt_out_hint_at, s.id AS session_id, s.state::text AS state,
        f.phone_hash AS remembered_opt_out";

impl PgStore {
    /// Connects to `url` (`postgres://user@host/db`) and brings the schema up to date. Replicas
    /// starting together are safe: the migrator holds an advisory lock while it runs.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            .application_name("civictext")
            .options([
                // Fail a text (the provider retries it) rather than wait on a stuck replica.
                ("lock_timeout", "10s"),
                // A replica that stalls mid-transaction releases its residents.
                ("idle_in_transaction_session_timeout", "30s"),
                // Plan each statement for the tables as they are now. A plan cached on a new
                // database (seq scans of tiny tables) was kept while the tables grew a
                // thousandfold: the batch's reads and updates scanned every message.
                ("plan_cache_mode", "force_custom_plan"),
                // No JIT compilation: every statement here is short, and compiling one costs
                // more than running it. With JIT forced on, the invitation preview's audience
                // query over 143,000 contacts spent 45 ms compiling and took 248 ms, against
                // 72-105 ms without; large tables' estimates cross the JIT threshold by
                // themselves.
                ("jit", "off"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let mut store = PgStore {
            pool,
            residents: Arc::default(),
            batches: None,
            batched: Arc::default(),
            result_pages: Arc::new(tokio::sync::Semaphore::new(RESULT_PAGES)),
        };
        store.batches = Some(super::pg_batch::start(store.clone()));
        Ok(store)
    }

    /// The benchmark's baseline: the same per-text transactions on a pool with the driver's
    /// default settings.
    pub async fn connect_per_text(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .connect_with(PgConnectOptions::from_str(url)?)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            pool,
            residents: Arc::default(),
            batches: None,
            batched: Arc::default(),
            result_pages: Arc::new(tokio::sync::Semaphore::new(RESULT_PAGES)),
        })
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
        let mut tx = self.pool.begin().await?;
        let first_contact: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM contacts")
            .fetch_one(&mut *tx)
            .await?;
        let first_message: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM messages")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO contacts (phone, language, fields, opted_out, created_at, updated_at)
             SELECT '+1800' || lpad(x::text, 7, '0'), 'en',
                    '{\"events_opt_in\":\"no\",\"zip\":\"40202\"}'::jsonb, false, $2, $2
             FROM generate_series(1, $1) AS x",
        )
        .bind(contacts)
        .bind(ts(when))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (contact_id, flow_id, flow_version, language, status, state,
                                   started_at, updated_at, ended_at)
             SELECT id, 'youth-survey', 'prefill', 'en', 'completed', $1::jsonb, $2, $2, $2
             FROM contacts WHERE id > $3 ORDER BY id",
        )
        .bind(&state)
        .bind(ts(when))
        .bind(first_contact)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "WITH steps(k, body, question, value) AS (VALUES {STEPS})
             INSERT INTO messages (direction, sid, contact_id, session_id, from_addr, to_addr,
                                   body, media, encoding, segments, status, route, created_at)
             SELECT 'in', 'SMprefill' || lpad(s.id::text, 12, '0') || lpad(k::text, 2, '0'),
                    s.contact_id, s.id, c.phone, '+15025550000', body, '[]'::jsonb, 'GSM-7', 1,
                    'received', CASE k WHEN 0 THEN 'keyword' ELSE 'session' END, $1
             FROM sessions s JOIN contacts c ON c.id = s.contact_id, steps
             WHERE c.id > $2 ORDER BY s.id, k"
        ))
        .bind(ts(when))
        .bind(first_contact)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO messages (direction, contact_id, session_id, reply_to, from_addr, to_addr,
                                   body, encoding, segments, status, route, created_at)
             SELECT 'out', contact_id, session_id, id, to_addr, from_addr, $1, 'GSM-7', 1,
                    'replied', route, created_at
             FROM messages WHERE id > $2 AND direction = 'in' ORDER BY id",
        )
        .bind(super::PREFILL_REPLY)
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
             WHERE m.id > $1 AND m.direction = 'in' AND steps.question IS NOT NULL
             ORDER BY m.id"
        ))
        .bind(first_message)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // A database that has held a million answers for a while has been vacuumed (hint bits
        // set, visibility map current) and analyzed by autovacuum; measure that, not the
        // minutes after a bulk load while autovacuum works through it.
        sqlx::query("VACUUM (ANALYZE)").execute(&self.pool).await?;
        Ok(())
    }

    /// Every inbound text whose provider id starts with `sid_prefix` (with its session and the
    /// number of replies stored with it), and every answer those texts gave.
    pub async fn audit(&self, sid_prefix: &str) -> Result<super::AuditRows, StoreError> {
        let inbound = sqlx::query(
            "SELECT m.sid, m.session_id,
                    (SELECT COUNT(*) FROM messages o WHERE o.reply_to = m.id) AS replies
             FROM messages m
             WHERE starts_with(m.sid, $1) AND m.direction = 'in'",
        )
        .bind(sid_prefix)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| (r.get("sid"), r.get("session_id"), r.get("replies")))
        .collect();
        let answers = sqlx::query(
            "SELECT m.sid, a.question, a.session_id
             FROM messages m JOIN answers a ON a.message_id = m.id
             WHERE starts_with(m.sid, $1) AND m.direction = 'in'",
        )
        .bind(sid_prefix)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| (r.get("sid"), r.get("question"), r.get("session_id")))
        .collect();
        Ok(super::AuditRows { inbound, answers })
    }

    /// Texts committed so far in a transaction shared with at least one other text.
    pub fn texts_committed_together(&self) -> u64 {
        self.batched.load(Ordering::Relaxed)
    }

    /// The connection pool, for tests and tools that read the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Commits a write (see [`super::Store::probe_write`]).
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO write_probe (id, checked_at) VALUES (1, now())
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// See [`super::Store::handle_inbound`]: through the batcher, or alone in a transaction of
    /// its own for a store made by [`PgStore::connect_per_text`].
    pub async fn handle_inbound(
        &self,
        msg: &InboundText,
        decide: impl Fn(&Snapshot) -> Decision + Send + Sync + 'static,
    ) -> Result<Handled, StoreError> {
        match &self.batches {
            Some(queue) => super::queue::submit(queue, "batcher", msg, Box::new(decide)).await,
            None => self.handle_one(msg, decide).await,
        }
    }

    /// Handles one text in a transaction of its own.
    pub(super) async fn handle_one(
        &self,
        msg: &InboundText,
        decide: impl FnOnce(&Snapshot) -> Decision,
    ) -> Result<Handled, StoreError> {
        let _queued = self.residents.lock(&msg.from).await;
        let mut tx = self.pool.begin().await?;

        // Its own statement: under READ COMMITTED each statement reads the database as of its
        // start, so everything read after this sees what the previous holder committed.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(resident_key(&msg.from))
            .execute(&mut *tx)
            .await?;

        // The repeat check and the snapshot in one round trip. Each join finds at most one row:
        // sid, phone and active session are all unique.
        let row = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS}
             FROM (SELECT 1) AS one
             LEFT JOIN messages dup ON dup.sid = $1 AND dup.direction = 'in'
             LEFT JOIN contacts c ON c.phone = $2
             LEFT JOIN sessions s ON s.contact_id = c.id AND s.status = 'active'
             LEFT JOIN forgotten_opt_outs f ON c.id IS NULL AND f.phone_hash = $3"
        ))
        .bind(&msg.sid)
        .bind(&msg.from)
        .bind(&msg.erased_hash)
        .fetch_one(&mut *tx)
        .await?;

        if let Some(replies) = stored_replies(&row)? {
            tx.rollback().await?;
            return Ok(Handled {
                replies,
                duplicate: true,
                route: "duplicate",
            });
        }
        let snapshot = snapshot_from_row(&row)?;
        let d = decide(&snapshot);
        let now = ts(msg.received_at);

        // The contact, created on first contact and updated with what the text changed, and the
        // consent event if there is one.
        let ContactChanges {
            language,
            fields_json,
            opted_out,
            throttle,
            ..
        } = contact_changes(&snapshot, &d);
        let body = pg_text(&msg.body);
        let consent_kind = d.consent.map(|c| match c {
            ConsentChange::OptOut => "opt_out",
            ConsentChange::OptIn => "opt_in",
        });
        let contact_id: i64 = sqlx::query_scalar(
            "WITH contact AS (
                INSERT INTO contacts (phone, language, fields, opted_out, unmatched_count,
                                      unmatched_since, last_default_reply_at, muted_until,
                                      created_at, updated_at, opt_out_hint_at)
                VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $9, $13)
                ON CONFLICT (phone) DO UPDATE SET
                    language = excluded.language, fields = excluded.fields,
                    opted_out = excluded.opted_out, unmatched_count = excluded.unmatched_count,
                    unmatched_since = excluded.unmatched_since,
                    last_default_reply_at = excluded.last_default_reply_at,
                    muted_until = excluded.muted_until, updated_at = excluded.updated_at,
                    opt_out_hint_at = excluded.opt_out_hint_at
                RETURNING id
             ), consent AS (
                INSERT INTO consent_events (contact_id, kind, text, message_sid, created_at)
                SELECT contact.id, $10, $11, $12, $9 FROM contact WHERE $10 IS NOT NULL
             )
             SELECT id FROM contact",
        )
        .bind(&msg.from)
        .bind(&language)
        .bind(&fields_json)
        .bind(opted_out)
        .bind(i32::try_from(throttle.unmatched_count).unwrap_or(i32::MAX))
        .bind(throttle.unmatched_since.map(ts))
        .bind(throttle.last_default_reply_at.map(ts))
        .bind(throttle.muted_until.map(ts))
        .bind(now)
        .bind(consent_kind)
        .bind(&*body)
        .bind(&msg.sid)
        .bind(throttle.opt_out_hint_at.map(ts))
        .fetch_one(&mut *tx)
        .await?;

        // Ending the old session and starting a new one are separate statements, in this order:
        // the one-active-session index is checked row by row.
        let old_session = snapshot.session.as_ref().map(|s| s.id);
        if let (Some(end), Some(id)) = (d.end_session, old_session) {
            sqlx::query(
                "UPDATE sessions SET status = $1, ended_at = $2, updated_at = $2,
                                     expires_at = NULL
                 WHERE id = $3",
            )
            .bind(end.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let mut session_id = old_session;
        if let Some(w) = &d.session {
            let state = w.state_json();
            let status = w.status();
            let ended_at = w.ended.map(|_| now);
            let expires_at = w.state.expires_at.map(ts);
            if w.inserts(old_session) {
                session_id = Some(
                    sqlx::query_scalar(
                        "INSERT INTO sessions (contact_id, flow_id, flow_version, language, status,
                                               state, started_at, updated_at, ended_at, expires_at)
                         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10) RETURNING id",
                    )
                    .bind(contact_id)
                    .bind(&w.state.flow)
                    .bind(&w.state.version)
                    .bind(&w.state.language)
                    .bind(status)
                    .bind(&state)
                    .bind(ts(w.state.started_at))
                    .bind(now)
                    .bind(ended_at)
                    .bind(expires_at)
                    .fetch_one(&mut *tx)
                    .await?,
                );
            } else {
                sqlx::query(
                    "UPDATE sessions SET state = $1::jsonb, status = $2, language = $3,
                                         updated_at = $4, ended_at = $5, expires_at = $6
                     WHERE id = $7",
                )
                .bind(&state)
                .bind(status)
                .bind(&w.state.language)
                .bind(now)
                .bind(ended_at)
                .bind(expires_at)
                .bind(old_session)
                .execute(&mut *tx)
                .await?;
            }
        }

        // The inbound text, the answers and service requests it gave, and the replies, in one
        // statement. Foreign keys to the new message are checked at its end.
        let (flow_id, flow_version) = match (&d.session, &snapshot.session) {
            (Some(w), _) => (w.state.flow.clone(), w.state.version.clone()),
            (None, Some(s)) => (s.state.flow.clone(), s.state.version.clone()),
            (None, None) => (String::new(), String::new()),
        };
        let mut answers = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut consent_topics: Vec<Option<&str>> = Vec::new();
        let mut withdrawn_topics: Vec<Option<&str>> = Vec::new();
        let mut requests = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if session_id.is_some() {
            for i in last_answer_per_question(&d.answers) {
                let a = &d.answers[i];
                answers.0.push(a.question.as_str());
                answers.1.push(a.raw.as_str());
                answers.2.push(a.value.as_str());
                answers.3.push(a.category.as_str());
                consent_topics.push(a.consent_topic.as_deref());
                withdrawn_topics.push(a.withdrawn_topic.as_deref());
            }
            for r in &d.requests {
                requests.0.push(r.code.as_str());
                requests.1.push(r.service.as_str());
                requests.2.push(r.description.as_deref());
                requests.3.push(r.location.as_deref());
                requests.4.push(r.photo.as_deref());
            }
        }
        let mut replies = (Vec::new(), Vec::new(), Vec::new());
        for reply in &d.replies {
            let cost = segments::count(reply);
            replies.0.push(reply.as_str());
            replies.1.push(cost.encoding.as_str());
            replies
                .2
                .push(i32::try_from(cost.segments).unwrap_or(i32::MAX));
        }
        let inbound_cost = segments::count(&msg.body);
        let media_json = serde_json::to_string(&msg.media).expect("media serialises");
        let stored = sqlx::query(
            "WITH inbound AS (
                INSERT INTO messages (direction, sid, contact_id, session_id, from_addr, to_addr,
                                      body, media, encoding, segments, status, route, created_at)
                VALUES ('in', $1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, 'received', $10, $11)
                RETURNING id
             ), answer_rows AS (
                INSERT INTO answers (session_id, contact_id, flow_id, flow_version, question, raw,
                                     value, category, message_id, answered_at, consent_topic,
                                     withdrawn_topic)
                SELECT $3, $2, $12, $13, a.question, a.raw, a.value, a.category, inbound.id, $11,
                       a.consent_topic, a.withdrawn_topic
                FROM inbound,
                     unnest($14::text[], $15::text[], $16::text[], $17::text[], $26::text[],
                            $27::text[])
                         AS a(question, raw, value, category, consent_topic, withdrawn_topic)
                ON CONFLICT (session_id, question) DO UPDATE SET
                    raw = excluded.raw, value = excluded.value, category = excluded.category,
                    message_id = excluded.message_id, answered_at = excluded.answered_at,
                    consent_topic = excluded.consent_topic,
                    withdrawn_topic = excluded.withdrawn_topic
             ), request_rows AS (
                INSERT INTO service_requests (code, session_id, contact_id, flow_id, service,
                                              description, location, photo, created_at)
                SELECT r.code, $3, $2, $12, r.service, r.description, r.location, r.photo, $11
                FROM unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[])
                         AS r(code, service, description, location, photo)
             ), reply_rows AS (
                INSERT INTO messages (direction, contact_id, session_id, reply_to, from_addr,
                                      to_addr, body, encoding, segments, status, route,
                                      created_at)
                SELECT 'out', $2, $3, inbound.id, $5, $4, r.body, r.encoding, r.segments,
                       'replied', $10, $11
                FROM inbound,
                     unnest($23::text[], $24::text[], $25::int4[]) WITH ORDINALITY
                         AS r(body, encoding, segments, ord)
                ORDER BY r.ord
             )
             SELECT id FROM inbound",
        )
        .bind(&msg.sid)
        .bind(contact_id)
        .bind(session_id)
        .bind(&msg.from)
        .bind(&msg.to)
        .bind(&*body)
        .bind(&media_json)
        .bind(inbound_cost.encoding.as_str())
        .bind(i32::try_from(inbound_cost.segments).unwrap_or(i32::MAX))
        .bind(d.route)
        .bind(now)
        .bind(&flow_id)
        .bind(&flow_version)
        .bind(&answers.0)
        .bind(&answers.1)
        .bind(&answers.2)
        .bind(&answers.3)
        .bind(&requests.0)
        .bind(&requests.1)
        .bind(&requests.2)
        .bind(&requests.3)
        .bind(&requests.4)
        .bind(&replies.0)
        .bind(&replies.1)
        .bind(&replies.2)
        .bind(&consent_topics)
        .bind(&withdrawn_topics)
        .execute(&mut *tx)
        .await;
        match stored {
            Ok(_) => {}
            Err(e) if is_sid_conflict(&e) => {
                // Another replica stored this very text first (and has committed: the
                // violation is only raised then). Undo everything and answer as it did.
                tx.rollback().await?;
                let replies = sqlx::query_scalar::<_, String>(
                    "SELECT r.body FROM messages r
                     JOIN messages m ON r.reply_to = m.id
                     WHERE m.sid = $1 AND m.direction = 'in'
                     ORDER BY r.id",
                )
                .bind(&msg.sid)
                .fetch_all(&self.pool)
                .await?;
                return Ok(Handled {
                    replies,
                    duplicate: true,
                    route: "duplicate",
                });
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(Handled {
            replies: d.replies,
            duplicate: false,
            route: d.route,
        })
    }

    /// See [`super::Store::save_flow_sources`].
    pub async fn save_flow_sources(
        &self,
        catalog: &Catalog,
        sources: &[SourceFile],
    ) -> Result<(), StoreError> {
        let mut rows = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for flow in catalog.flows() {
            let Some(src) = sources.iter().find(|s| s.name == flow.source) else {
                continue;
            };
            rows.0.push(flow.id.as_str());
            rows.1.push(flow.version.as_str());
            rows.2.push(src.name.as_str());
            rows.3.push(src.text.as_str());
        }
        if rows.0.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO flow_versions (flow_id, version, file, source, loaded_at)
             SELECT f.flow_id, f.version, f.file, f.source, $5
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                 AS f(flow_id, version, file, source)
             ON CONFLICT (flow_id, version)
             DO UPDATE SET file = excluded.file, loaded_at = excluded.loaded_at",
        )
        .bind(&rows.0)
        .bind(&rows.1)
        .bind(&rows.2)
        .bind(&rows.3)
        .bind(ts(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// See [`super::Store::consent_history`]: (opted out, event kind, its topic, its
    /// MessageSid) rows, oldest event first.
    pub async fn consent_history(&self, phone: &str) -> Result<Vec<super::HistoryRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.opted_out, e.kind, e.topic, e.message_sid
             FROM contacts c LEFT JOIN consent_events e ON e.contact_id = c.id
             WHERE c.phone = $1 ORDER BY e.id",
        )
        .bind(phone)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every flow version ever recorded, the most recently served last.
    pub async fn load_flow_versions(&self) -> Result<Vec<RecordedFlow>, StoreError> {
        let rows = sqlx::query(
            "SELECT flow_id, version, file, source FROM flow_versions
             ORDER BY loaded_at, flow_id, version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecordedFlow {
                    flow_id: r.try_get("flow_id")?,
                    version: r.try_get("version")?,
                    source: SourceFile {
                        name: r.try_get("file")?,
                        text: r.try_get("source")?,
                    },
                })
            })
            .collect()
    }

    /// Every session of `flow_id` with its answers, oldest first.
    pub async fn export(&self, flow_id: &str) -> Result<Vec<ExportSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.contact_id, c.phone, s.flow_version, s.language, s.status,
                    s.started_at, s.updated_at, s.ended_at,
                    (SELECT r.code FROM service_requests r WHERE r.session_id = s.id
                     ORDER BY r.id LIMIT 1) AS tracking_code
             FROM sessions s JOIN contacts c ON c.id = s.contact_id
             WHERE s.flow_id = $1 ORDER BY s.id",
        )
        .bind(flow_id)
        .fetch_all(&self.pool)
        .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for r in &rows {
            sessions.push(ExportSession {
                session_id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                phone: r.try_get("phone")?,
                flow_version: r.try_get("flow_version")?,
                language: r.try_get("language")?,
                status: r.try_get("status")?,
                started_at: r.try_get::<Ts, _>("started_at")?.0.to_string(),
                updated_at: r.try_get::<Ts, _>("updated_at")?.0.to_string(),
                ended_at: r
                    .try_get::<Option<Ts>, _>("ended_at")?
                    .map(|t| t.0.to_string()),
                tracking_code: r.try_get("tracking_code")?,
                answers: BTreeMap::new(),
            });
        }
        let index: BTreeMap<i64, usize> = sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.session_id, i))
            .collect();
        let answers = sqlx::query(
            "SELECT session_id, question, raw, value, category FROM answers WHERE flow_id = $1",
        )
        .bind(flow_id)
        .fetch_all(&self.pool)
        .await?;
        for a in answers {
            if let Some(&i) = index.get(&a.try_get::<i64, _>("session_id")?) {
                sessions[i].answers.insert(
                    a.try_get("question")?,
                    ExportAnswer {
                        raw: a.try_get("raw")?,
                        value: a.try_get("value")?,
                        category: a.try_get("category")?,
                    },
                );
            }
        }
        Ok(sessions)
    }
}

/// A database name the benchmark may create and drop: its own prefix, then letters, digits and
/// underscores only (it is spliced into the statement: identifiers cannot be bound).
fn scratch_name(name: &str) -> Result<&str, StoreError> {
    if name.starts_with("civictext_bench_")
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(name)
    } else {
        Err(StoreError::Corrupt(format!(
            "{name:?} is not a benchmark database name"
        )))
    }
}

/// See [`super::Store::create_scratch_database`].
pub(super) async fn create_scratch_database(
    admin_url: &str,
    name: &str,
) -> Result<String, StoreError> {
    use sqlx::Connection as _;
    let name = scratch_name(name)?;
    let options = PgConnectOptions::from_str(admin_url)?;
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let mut url = url_without_database(admin_url);
    url.push('/');
    url.push_str(name);
    Ok(url)
}

/// See [`super::Store::drop_scratch_database`].
pub(super) async fn drop_scratch_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let name = scratch_name(name)?;
    let options = PgConnectOptions::from_str(admin_url)?;
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// `postgres://user@host:port/db?x=y` → `postgres://user@host:port` (the query is dropped).
fn url_without_database(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}
