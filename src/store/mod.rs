//! All SQL lives here. SQLite is the embedded default; PostgreSQL is what several replicas
//! share. The [`Store`] front hides which database is behind it.

pub mod auth;
pub mod backup;
pub mod casework;
mod gauges;
pub mod insights;
pub mod model;
pub mod outbox;
mod pg_batch;
mod postgres;
mod postgres_auth;
mod postgres_casework;
mod postgres_insights;
mod postgres_outbox;
mod postgres_privacy;
mod postgres_requests;
mod postgres_results;
mod postgres_staff;
mod postgres_sweep;
pub mod privacy;
pub mod publications;
mod queue;
pub mod requests;
pub mod results;
mod sqlite;
mod sqlite_auth;
mod sqlite_casework;
mod sqlite_insights;
mod sqlite_outbox;
mod sqlite_privacy;
mod sqlite_reader;
mod sqlite_requests;
mod sqlite_results;
mod sqlite_staff;
mod sqlite_sweep;
mod sqlite_writer;
pub mod staff;
pub mod sweep;

use std::collections::BTreeMap;

pub use auth::{AuditEntry, NewAuditEntry, TokenRecord};
pub use gauges::OperationalGauges;
pub use model::*;
pub use outbox::{
    Audience, AudienceGroup, AudienceMember, BroadcastProgress, BroadcastSummary, Candidate, Claim,
    ClaimPolicy, ClaimSpec, ClaimedText, ConsentImport, DeliveryUpdate, ImportedConsent,
    InDoubtText, Invitation, NewBroadcast, OutboxKind, OutboxText, RecipientFact, RecordedSend,
    SendOutcome, Verdict,
};
pub use requests::{NewRequest, RequestInfo, RequestUpdated, StatusChange, StatusHistoryEntry};
pub use staff::{NewStaffAudit, StaffAuditEntry, StaffRecord};
pub use sweep::{DueSession, SweepAction, SweepReport};

use crate::flow::catalog::{Catalog, SourceFile};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("unsupported DATABASE_URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl(String),
    /// The text was not stored: its transaction (or the batch it was committed in) failed.
    #[error("inbound text not stored: {0}")]
    Writer(String),
    /// The caller asked for something the store refuses (an unknown status word ...).
    #[error("{0}")]
    Invalid(String),
}

/// What became of an inbound text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub replies: Vec<String>,
    /// True when the text had been handled before (same provider id): nothing changed.
    pub duplicate: bool,
    pub route: &'static str,
}

/// One flow version recorded in the store: which flow and version its text compiles to, so it
/// can be found without compiling every recorded text.
#[derive(Debug, Clone)]
pub struct RecordedFlow {
    pub flow_id: String,
    pub version: String,
    pub source: SourceFile,
}

/// One answer in an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportAnswer {
    pub raw: String,
    pub value: String,
    pub category: String,
}

/// One session in an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSession {
    pub session_id: i64,
    pub contact_id: i64,
    pub phone: String,
    pub flow_version: String,
    pub language: String,
    pub status: String,
    pub started_at: String,
    pub updated_at: String,
    pub ended_at: Option<String>,
    /// The tracking code of the service request the session filed, if it filed one.
    pub tracking_code: Option<String>,
    pub answers: BTreeMap<String, ExportAnswer>,
}

/// One consent event as the backends read it for [`Store::consent_history`]: whether the
/// contact is opted out now, the event's kind, topic and MessageSid (no kind: no event).
type HistoryRow = (bool, Option<String>, Option<String>, Option<String>);

/// What the database holds for a set of inbound texts, read back to check that every
/// acknowledged text was stored exactly once (see [`Store::audit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRows {
    /// Each stored inbound text: (provider id, session id, number of replies stored with it).
    pub inbound: Vec<(String, Option<i64>, i64)>,
    /// Each stored answer with the provider id of the text that gave it: (provider id, question,
    /// session id).
    pub answers: Vec<(String, String, i64)>,
}

/// The reply stored with each prefilled inbound text.
const PREFILL_REPLY: &str = "What should the city improve first?\n1. Parks and rec centers\n\
                             2. Buses and sidewalks\n3. Jobs and training\n4. Housing";

/// When prefilled conversations happened (30 days ago) and the JSON state of a completed
/// youth-survey session, as the engine stores it.
fn prefill_state() -> (jiff::Timestamp, String) {
    use crate::flow::engine::{Given, Session};
    let when = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 30);
    let answers = [
        ("age", "16", "integer"),
        ("zip", "40202", "pattern"),
        ("getting-around", "bus", "bus"),
        ("safe-walking", "yes", "yes"),
        ("priority", "transit", "transit"),
        ("rating", "4", "number"),
        ("follow-up", "no", "no"),
    ]
    .into_iter()
    .map(|(q, v, c)| {
        (
            q.to_string(),
            Given {
                value: v.into(),
                category: c.into(),
            },
        )
    })
    .collect();
    let state = Session {
        flow: "youth-survey".into(),
        version: "prefill".into(),
        language: "en".into(),
        position: 10,
        attempts: 0,
        pending_location: None,
        answers,
        contact: BTreeMap::from([("zip".to_string(), "40202".to_string())]),
        tracking_code: None,
        started_at: when,
        updated_at: when,
        expires_at: None,
        remind_at: None,
        reminded: None,
    };
    (
        when,
        serde_json::to_string(&state).expect("a session serialises"),
    )
}

/// The database behind the gateway.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Connects to `url` and migrates the schema.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::connect(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::connect(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// The straightforward store used as the benchmark's baseline: one transaction per inbound
    /// text, on the driver's default settings (or, with `wal`, SQLite's WAL journal).
    pub async fn connect_per_text(url: &str, wal: bool) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(
                SqliteStore::connect_per_text(url, wal).await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::connect_per_text(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// Bulk-inserts about `messages` realistic messages (with their contacts, completed
    /// sessions and answers) straight into the database, for measuring the gateway on a full
    /// database. Meant for a fresh benchmark database only: it writes `+1800…` contacts.
    pub async fn prefill(&self, messages: u64) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.prefill(messages).await,
            Store::Postgres(s) => s.prefill(messages).await,
        }
    }

    /// Every inbound text whose provider id starts with `sid_prefix`, and the answers it gave.
    pub async fn audit(&self, sid_prefix: &str) -> Result<AuditRows, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit(sid_prefix).await,
            Store::Postgres(s) => s.audit(sid_prefix).await,
        }
    }

    /// Creates the empty PostgreSQL database `name` through the server at `admin_url`, for a
    /// benchmark run, and returns its URL.
    pub async fn create_scratch_database(
        admin_url: &str,
        name: &str,
    ) -> Result<String, StoreError> {
        postgres::create_scratch_database(admin_url, name).await
    }

    /// Drops a database made by [`Store::create_scratch_database`].
    pub async fn drop_scratch_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
        postgres::drop_scratch_database(admin_url, name).await
    }

    /// Closes the store's connections.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.pool().close().await,
            Store::Postgres(s) => s.pool().close().await,
        }
    }

    /// Texts committed so far in a transaction shared with at least one other text (group
    /// commit at work): 0 for a store that gives every text its own transaction.
    pub fn texts_committed_together(&self) -> u64 {
        match self {
            Store::Sqlite(s) => s.texts_committed_together(),
            Store::Postgres(s) => s.texts_committed_together(),
        }
    }

    /// Brings the query planner's statistics in step with the data now. SQLite: tables that
    /// have grown or shrunk many times over since they were last analyzed are analyzed again
    /// (cheap when nothing changed); the gateway does this hourly, since SQLite has no
    /// background analysis. PostgreSQL: `ANALYZE`, which autovacuum also runs on its own.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.refresh_statistics().await,
            Store::Postgres(s) => {
                sqlx::query("ANALYZE").execute(s.pool()).await?;
                Ok(())
            }
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Postgres(s) => s.ping().await,
        }
    }

    /// Commits a small write the way texts are committed: Ok only when a text could be stored
    /// now. Readiness asks this rather than [`Store::ping`], since a database that answers
    /// reads but refuses writes (a full disk, a read-only file or standby) stores no text.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.probe_write().await,
            Store::Postgres(s) => s.probe_write().await,
        }
    }

    /// Handles one inbound text in one transaction: if its provider id was seen before, returns
    /// the replies stored then and changes nothing; otherwise loads the contact and active
    /// session, asks `decide` (pure) what to do, and stores the message, the replies and every
    /// change before returning.
    pub async fn handle_inbound(
        &self,
        msg: &InboundText,
        decide: impl Fn(&Snapshot) -> Decision + Send + Sync + 'static,
    ) -> Result<Handled, StoreError> {
        match self {
            Store::Sqlite(s) => s.handle_inbound(msg, decide).await,
            Store::Postgres(s) => s.handle_inbound(msg, decide).await,
        }
    }

    /// Records the text of each flow version in `catalog` whose file is among `sources`: a new
    /// version is added; one recorded before is not stored again, only marked as its file's
    /// newest (an edit undone brings the earlier version back).
    pub async fn save_flow_sources(
        &self,
        catalog: &Catalog,
        sources: &[SourceFile],
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.save_flow_sources(catalog, sources).await,
            Store::Postgres(s) => s.save_flow_sources(catalog, sources).await,
        }
    }

    /// Every flow version ever recorded, the one each file was last served at last.
    pub async fn load_flow_versions(&self) -> Result<Vec<RecordedFlow>, StoreError> {
        match self {
            Store::Sqlite(s) => s.load_flow_versions().await,
            Store::Postgres(s) => s.load_flow_versions().await,
        }
    }

    /// The texts of [`Store::load_flow_versions`].
    pub async fn load_flow_sources(&self) -> Result<Vec<SourceFile>, StoreError> {
        Ok(self
            .load_flow_versions()
            .await?
            .into_iter()
            .map(|r| r.source)
            .collect())
    }

    /// Whether `phone` has opted out now, and every opt-out, opt-in and withdrawal of a topic
    /// it made with the MessageSid of the text that made it. A repeat delivery is answered from
    /// what was stored, so this is checked on the way out.
    pub async fn consent_history(&self, phone: &str) -> Result<ConsentHistory, StoreError> {
        let rows = match self {
            Store::Sqlite(s) => s.consent_history(phone).await?,
            Store::Postgres(s) => s.consent_history(phone).await?,
        };
        let mut history = ConsentHistory::default();
        for (opted_out, kind, topic, sid) in rows {
            history.opted_out = opted_out;
            let change = match kind.as_deref() {
                Some("opt_out") => ConsentChange::OptOut,
                Some("opt_in") => ConsentChange::OptIn,
                None => continue,
                Some(other) => {
                    return Err(StoreError::Corrupt(format!("consent event kind {other:?}")));
                }
            };
            history.changes.push(ConsentEvent { change, topic, sid });
        }
        Ok(history)
    }

    /// Every session of a flow with its answers.
    pub async fn export(&self, flow_id: &str) -> Result<Vec<ExportSession>, StoreError> {
        match self {
            Store::Sqlite(s) => s.export(flow_id).await,
            Store::Postgres(s) => s.export(flow_id).await,
        }
    }
}
