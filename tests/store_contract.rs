//! The store contract: every test runs against SQLite and PostgreSQL alike.
//!
//! PostgreSQL tests create a fresh database per test on the server named by
//! `CIVICTEXT_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`) and drop it
//! afterwards (tests/common/postgres.rs). They fail when that server cannot be reached: start it
//! with `.ci/postgres.sh`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use civictext::flow::catalog::{Catalog, SourceFile};
use civictext::flow::engine::{AnswerRecord, Given, Media, ServiceRequest, Session};
use civictext::store::results::{ResponseRow, ResultsFilter};
use civictext::store::{
    Audience, ConsentChange, Decision, Handled, ImportedConsent, InboundText, SessionEnd,
    SessionWrite, Snapshot, Store, Throttle,
};
use common::postgres::TempPostgres;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use rand::seq::SliceRandom;

const GATEWAY: &str = "+15025550100";

// ---------------------------------------------------------------------------------------------
// Backends

/// A store on a database of its own, removed when dropped.
struct Backend {
    store: Store,
    url: String,
    _db: TestDb,
}

enum TestDb {
    Memory,
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TempPostgres),
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("civictext.db").display());
        let store = Store::connect(&url).await.expect("SQLite store");
        Backend {
            store,
            url,
            _db: TestDb::Sqlite(dir),
        }
    }

    /// SQLite held in memory: no file for a second connection to open, so results are read
    /// through the pool rather than the store's own readers.
    async fn memory() -> Backend {
        let url = "sqlite::memory:".to_string();
        let store = Store::connect(&url).await.expect("SQLite store in memory");
        Backend {
            store,
            url,
            _db: TestDb::Memory,
        }
    }

    async fn postgres() -> Backend {
        let db = TempPostgres::create().await;
        let url = db.url.clone();
        let store = Store::connect(&url).await.expect("PostgreSQL store");
        assert!(matches!(store, Store::Postgres(_)));
        Backend {
            store,
            url,
            _db: TestDb::Postgres(db),
        }
    }

    /// Stores that behave as separate gateway processes on the same database: their own pools
    /// (PostgreSQL). SQLite is a single-process database, so its "replicas" share one store.
    async fn replicas(&self, n: usize) -> Vec<Store> {
        let mut out = vec![self.store.clone()];
        for _ in 1..n {
            out.push(match &self.store {
                Store::Sqlite(_) => self.store.clone(),
                Store::Postgres(_) => Store::connect(&self.url).await.expect("another replica"),
            });
        }
        out
    }

    /// Runs a `SELECT COUNT(*) …` (any query returning one BIGINT).
    async fn count(&self, sql: &str) -> i64 {
        match &self.store {
            Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
            Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement that returns nothing.
    async fn exec(&self, sql: &str) {
        match &self.store {
            Store::Sqlite(s) => sqlx::query(sql).execute(s.pool()).await.map(drop),
            Store::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Row counts of every table, to show that nothing changed.
    async fn counts(&self) -> BTreeMap<&'static str, i64> {
        let mut out = BTreeMap::new();
        for table in [
            "contacts",
            "consent_events",
            "sessions",
            "messages",
            "answers",
            "service_requests",
            "flow_versions",
        ] {
            out.insert(
                table,
                self.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            );
        }
        out
    }
}

/// Declares each contract test once per backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::postgres().await).await;
                }
            )*
        }
    };
}

contract!(
    replicas_starting_together_agree_on_one_installation_secret,
    first_contact_creates_contact,
    session_round_trips_through_next_snapshot,
    answers_upsert_per_session_and_question,
    duplicate_sid_returns_stored_replies_and_changes_nothing,
    opt_out_and_opt_in_record_consent,
    end_and_start_in_one_decision_keeps_one_active_session,
    second_active_session_is_refused_and_rolled_back,
    service_requests_stored_with_code,
    throttle_fields_round_trip,
    flow_sources_saved_once_per_version,
    export_returns_sessions_with_answers,
    timestamps_round_trip_to_the_microsecond,
    same_sid_from_two_addresses_is_handled_once,
    concurrent_texts_from_one_resident_advance_once_each_in_order,
    many_residents_at_once_are_each_stored_once_with_everything_their_text_changed,
    a_repeat_delivery_among_many_residents_gets_the_first_reply_and_changes_nothing,
    a_failing_decision_among_many_residents_fails_only_its_own_text,
    the_same_message_sid_from_two_numbers_among_many_is_stored_once,
    every_write_path_records_a_no_to_a_consent_question_as_a_withdrawal_of_its_topic,
    consent_to_a_topic_follows_the_latest_event_for_it_or_for_everything_by_when_it_was_given,
    an_audience_counted_in_the_database_is_the_listed_audience_counted,
    pages_and_streams_give_each_session_its_own_answers_in_the_order_given_however_flows_interleave,
);

// ---------------------------------------------------------------------------------------------
// Material

fn at(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

fn text(sid: &str, from: &str, body: &str, received_at: Timestamp) -> InboundText {
    InboundText {
        sid: sid.to_string(),
        from: from.to_string(),
        to: GATEWAY.to_string(),
        body: body.to_string(),
        media: Vec::new(),
        received_at,
        provider_command: None,
        erased_hash: None,
    }
}

/// An engine session with every field set, including nanosecond times.
fn rich_session(flow: &str, started: Timestamp) -> Session {
    let mut answers = BTreeMap::new();
    answers.insert(
        "visits".to_string(),
        Given {
            value: "weekly".into(),
            category: "weekly".into(),
        },
    );
    answers.insert(
        "why".to_string(),
        Given {
            value: "Ñandú «quote» \"and\" emoji 🌳".into(),
            category: "text".into(),
        },
    );
    let mut contact = BTreeMap::new();
    contact.insert("zip".to_string(), "40202".to_string());
    Session {
        flow: flow.to_string(),
        version: "0a1b2c3d4e5f".into(),
        language: "es".into(),
        position: 3,
        attempts: 2,
        pending_location: Some("5th & Main".into()),
        answers,
        contact,
        tracking_code: Some("PK-7Q2X".into()),
        started_at: started,
        updated_at: started + SignedDuration::from_nanos(123_456_789),
        expires_at: Some(started + SignedDuration::from_hours(24) + SignedDuration::from_nanos(1)),
        remind_at: Some(started + SignedDuration::from_hours(4)),
        reminded: Some(1),
    }
}

fn new_session(state: Session) -> Option<SessionWrite> {
    Some(SessionWrite {
        state,
        ended: None,
        new: true,
    })
}

fn answer(question: &str, raw: &str, value: &str, category: &str) -> AnswerRecord {
    AnswerRecord {
        question: question.into(),
        raw: raw.into(),
        value: value.into(),
        category: category.into(),
        consent_topic: None,
        withdrawn_topic: None,
    }
}

/// Handles `msg`, returning what `decide` was shown.
async fn handle(b: &Backend, msg: &InboundText, decision: Decision) -> (Handled, Option<Snapshot>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let shown = seen.clone();
    let handled = b
        .store
        .handle_inbound(msg, move |s| {
            *shown.lock().unwrap() = Some(s.clone());
            decision.clone()
        })
        .await
        .expect("handle_inbound");
    let seen = seen.lock().unwrap().take();
    (handled, seen)
}

/// The snapshot the next text from `phone` would be decided on (that text is then stored with
/// an empty decision, which changes nothing else).
async fn next_snapshot(b: &Backend, phone: &str, sid: &str, at: Timestamp) -> Snapshot {
    let (_, seen) = handle(b, &text(sid, phone, "peek", at), Decision::default()).await;
    seen.expect("decide runs for a new text")
}

// ---------------------------------------------------------------------------------------------
// Contract

async fn first_contact_creates_contact(b: Backend) {
    let phone = "+15025550111";
    let now = at("2026-03-01T12:00:00Z");
    let (handled, seen) = handle(
        &b,
        &text("SM-first", phone, "HELLO", now),
        Decision {
            replies: vec!["Welcome!".into()],
            language: Some("es".into()),
            fields: vec![("zip".into(), "40202".into())],
            route: "default",
            ..Decision::default()
        },
    )
    .await;
    let seen = seen.unwrap();
    assert!(seen.contact.is_none(), "a new number has no contact");
    assert!(seen.session.is_none());
    assert_eq!(
        handled,
        Handled {
            replies: vec!["Welcome!".into()],
            duplicate: false,
            route: "default",
        }
    );
    assert_eq!(b.count("SELECT COUNT(*) FROM contacts").await, 1);
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'")
            .await,
        1
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'out'")
            .await,
        1
    );

    let snap = next_snapshot(&b, phone, "SM-peek", now).await;
    let c = snap.contact.expect("the contact exists now");
    assert_eq!(c.phone, phone);
    assert_eq!(c.language.as_deref(), Some("es"));
    assert_eq!(c.fields.get("zip").map(String::as_str), Some("40202"));
    assert!(!c.opted_out);
    assert_eq!(c.unmatched_count, 0);
    assert_eq!(c.unmatched_since, None);
    assert_eq!(c.muted_until, None);
    assert!(snap.session.is_none());
    assert_eq!(b.count("SELECT COUNT(*) FROM contacts").await, 1);
}

async fn session_round_trips_through_next_snapshot(b: Backend) {
    let phone = "+15025550112";
    let t0 = at("2026-03-01T12:00:00.123456789Z");
    let state = rich_session("parks", t0);
    handle(
        &b,
        &text("SM-1", phone, "PARKS", t0),
        Decision {
            session: new_session(state.clone()),
            route: "keyword",
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, phone, "SM-2", t0).await;
    let active = snap.session.expect("an active session");
    assert_eq!(active.state, state, "the engine session comes back exactly");

    // Advanced in place: same row, new state.
    let mut advanced = state.clone();
    advanced.position = 4;
    advanced.attempts = 0;
    advanced.pending_location = None;
    advanced.expires_at = None;
    advanced.answers.insert(
        "age".into(),
        Given {
            value: "17".into(),
            category: "integer".into(),
        },
    );
    handle(
        &b,
        &text("SM-3", phone, "17", t0),
        Decision {
            session: Some(SessionWrite {
                state: advanced.clone(),
                ended: None,
                new: false,
            }),
            route: "answer",
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, phone, "SM-4", t0).await;
    let again = snap.session.expect("still active");
    assert_eq!(again.id, active.id, "advancing updates the same session");
    assert_eq!(again.state, advanced);
    assert_eq!(b.count("SELECT COUNT(*) FROM sessions").await, 1);
}

async fn answers_upsert_per_session_and_question(b: Backend) {
    let phone = "+15025550113";
    let t0 = at("2026-03-01T12:00:00Z");
    handle(
        &b,
        &text("SM-1", phone, "PARKS", t0),
        Decision {
            session: new_session(rich_session("parks", t0)),
            answers: vec![answer("visits", "2", "monthly", "monthly")],
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, phone, "SM-2", t0).await;
    let state = snap.session.unwrap().state;
    handle(
        &b,
        &text("SM-3", phone, "weekly", t0),
        Decision {
            session: Some(SessionWrite {
                state: state.clone(),
                ended: None,
                new: false,
            }),
            answers: vec![
                answer("visits", "weekly", "weekly", "weekly"),
                answer("why", "too far", "too far", "text"),
                // The same question twice in one text: the later answer stands.
                answer("zip", "4020", "4020", "pattern"),
                answer("zip", "40202", "40202", "pattern"),
            ],
            ..Decision::default()
        },
    )
    .await;
    assert_eq!(b.count("SELECT COUNT(*) FROM answers").await, 3);
    let export = b.store.export("parks").await.unwrap();
    assert_eq!(export.len(), 1);
    let answers = &export[0].answers;
    assert_eq!(answers["visits"].raw, "weekly");
    assert_eq!(answers["visits"].value, "weekly");
    assert_eq!(answers["why"].value, "too far");
    assert_eq!(answers["zip"].value, "40202");
    // Each answer points at the text that gave it.
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM answers a JOIN messages m ON m.id = a.message_id
             WHERE m.sid = 'SM-3'"
        )
        .await,
        3
    );

    // A new session of the same flow keeps its own answers.
    handle(
        &b,
        &text("SM-4", phone, "PARKS", t0),
        Decision {
            end_session: Some(SessionEnd::Interrupted),
            session: new_session(rich_session("parks", t0)),
            answers: vec![answer("visits", "never", "never", "never")],
            ..Decision::default()
        },
    )
    .await;
    assert_eq!(b.count("SELECT COUNT(*) FROM answers").await, 4);
    let export = b.store.export("parks").await.unwrap();
    assert_eq!(export[0].answers["visits"].value, "weekly");
    assert_eq!(export[1].answers["visits"].value, "never");
}

async fn duplicate_sid_returns_stored_replies_and_changes_nothing(b: Backend) {
    let phone = "+15025550114";
    let t0 = at("2026-03-01T12:00:00Z");
    let mut msg = text("SM-dup", phone, "PARKS", t0);
    msg.media = vec![Media {
        url: "https://api.twilio.com/media/ME1".into(),
        content_type: "image/jpeg".into(),
    }];
    let first = handle(
        &b,
        &msg,
        Decision {
            replies: vec!["one".into(), "two".into(), "three".into()],
            consent: Some(ConsentChange::OptIn),
            session: new_session(rich_session("parks", t0)),
            answers: vec![answer("visits", "2", "monthly", "monthly")],
            requests: vec![ServiceRequest {
                code: "PK-DUP1".into(),
                service: "parks".into(),
                description: None,
                location: None,
                photo: None,
            }],
            route: "keyword",
            ..Decision::default()
        },
    )
    .await
    .0;
    assert!(!first.duplicate);
    let before = b.counts().await;

    let again = b
        .store
        .handle_inbound(&msg, |_| panic!("a repeat delivery is not decided again"))
        .await
        .unwrap();
    assert_eq!(
        again,
        Handled {
            replies: vec!["one".into(), "two".into(), "three".into()],
            duplicate: true,
            route: "duplicate",
        }
    );
    assert_eq!(
        b.counts().await,
        before,
        "a repeat delivery changes nothing"
    );

    // A text whose decision had no replies repeats as no replies.
    handle(&b, &text("SM-quiet", phone, "ok", t0), Decision::default()).await;
    let quiet = b
        .store
        .handle_inbound(&text("SM-quiet", phone, "ok", t0), |_| unreachable!())
        .await
        .unwrap();
    assert!(quiet.duplicate);
    assert!(quiet.replies.is_empty());
}

async fn opt_out_and_opt_in_record_consent(b: Backend) {
    let phone = "+15025550115";
    let t0 = at("2026-03-01T12:00:00Z");
    handle(&b, &text("SM-hi", phone, "hello", t0), Decision::default()).await;
    handle(
        &b,
        &text("SM-stop", phone, "STOP", t0),
        Decision {
            consent: Some(ConsentChange::OptOut),
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, phone, "SM-p1", t0).await;
    assert!(snap.contact.unwrap().opted_out);
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM consent_events
             WHERE kind = 'opt_out' AND text = 'STOP' AND message_sid = 'SM-stop'"
        )
        .await,
        1
    );
    handle(
        &b,
        &text("SM-start", phone, "START", t0),
        Decision {
            consent: Some(ConsentChange::OptIn),
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, phone, "SM-p2", t0).await;
    assert!(!snap.contact.unwrap().opted_out);
    assert_eq!(b.count("SELECT COUNT(*) FROM consent_events").await, 2);
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM consent_events
             WHERE kind = 'opt_in' AND text = 'START' AND message_sid = 'SM-start'"
        )
        .await,
        1
    );
    // Opting out on the very first text creates the contact opted out.
    handle(
        &b,
        &text("SM-new-stop", "+15025550199", "STOP", t0),
        Decision {
            consent: Some(ConsentChange::OptOut),
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, "+15025550199", "SM-p3", t0).await;
    assert!(snap.contact.unwrap().opted_out);
    assert_eq!(b.count("SELECT COUNT(*) FROM consent_events").await, 3);
}

async fn end_and_start_in_one_decision_keeps_one_active_session(b: Backend) {
    let phone = "+15025550116";
    let t0 = at("2026-03-01T12:00:00Z");
    handle(
        &b,
        &text("SM-1", phone, "PARKS", t0),
        Decision {
            session: new_session(rich_session("parks", t0)),
            ..Decision::default()
        },
    )
    .await;
    let first = next_snapshot(&b, phone, "SM-2", t0).await.session.unwrap();
    let t1 = at("2026-03-01T12:05:00Z");
    let other = rich_session("youth", t1);
    handle(
        &b,
        &text("SM-3", phone, "PLAN", t1),
        Decision {
            end_session: Some(SessionEnd::Interrupted),
            session: new_session(other.clone()),
            route: "keyword",
            ..Decision::default()
        },
    )
    .await;
    let now = next_snapshot(&b, phone, "SM-4", t1).await.session.unwrap();
    assert_ne!(now.id, first.id);
    assert_eq!(now.state, other);
    assert_eq!(
        b.count("SELECT COUNT(*) FROM sessions WHERE status = 'active'")
            .await,
        1
    );
    assert_eq!(
        b.count(&format!(
            "SELECT COUNT(*) FROM sessions
             WHERE id = {} AND status = 'interrupted' AND ended_at IS NOT NULL
               AND expires_at IS NULL",
            first.id
        ))
        .await,
        1
    );
    // A session that finishes on the text that started it is stored ended.
    handle(
        &b,
        &text("SM-5", phone, "INFO", t1),
        Decision {
            end_session: Some(SessionEnd::Interrupted),
            session: Some(SessionWrite {
                state: rich_session("info", t1),
                ended: Some(SessionEnd::Completed),
                new: true,
            }),
            ..Decision::default()
        },
    )
    .await;
    assert!(next_snapshot(&b, phone, "SM-6", t1).await.session.is_none());
    assert_eq!(
        b.count("SELECT COUNT(*) FROM sessions WHERE status = 'active'")
            .await,
        0
    );
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM sessions
             WHERE flow_id = 'info' AND status = 'completed' AND ended_at IS NOT NULL"
        )
        .await,
        1
    );
}

async fn second_active_session_is_refused_and_rolled_back(b: Backend) {
    let phone = "+15025550117";
    let t0 = at("2026-03-01T12:00:00Z");
    handle(
        &b,
        &text("SM-1", phone, "PARKS", t0),
        Decision {
            session: new_session(rich_session("parks", t0)),
            ..Decision::default()
        },
    )
    .await;
    let before = b.counts().await;
    // A new session without ending the active one breaks the rule: the database refuses it,
    // and nothing of that text is kept.
    let refused = b
        .store
        .handle_inbound(&text("SM-2", phone, "PLAN", t0), move |_| Decision {
            replies: vec!["never sent".into()],
            consent: Some(ConsentChange::OptOut),
            session: new_session(rich_session("youth", t0)),
            ..Decision::default()
        })
        .await;
    assert!(refused.is_err(), "two active sessions must be refused");
    assert_eq!(b.counts().await, before);
    // The text can be delivered again and handled properly.
    let retried = handle(&b, &text("SM-2", phone, "PLAN", t0), Decision::default()).await;
    assert!(!retried.0.duplicate);
}

async fn service_requests_stored_with_code(b: Backend) {
    let phone = "+15025550118";
    let t0 = at("2026-03-01T12:00:00Z");
    let mut state = rich_session("pothole", t0);
    state.tracking_code = Some("PH-4K7M".into());
    handle(
        &b,
        &text("SM-1", phone, "YES", t0),
        Decision {
            session: Some(SessionWrite {
                state,
                ended: Some(SessionEnd::Completed),
                new: true,
            }),
            requests: vec![
                ServiceRequest {
                    code: "PH-4K7M".into(),
                    service: "pothole".into(),
                    description: Some("deep one".into()),
                    location: Some("5th & Main".into()),
                    photo: Some("https://api.twilio.com/media/ME2".into()),
                },
                ServiceRequest {
                    code: "PH-4K7N".into(),
                    service: "streetlight".into(),
                    description: None,
                    location: None,
                    photo: None,
                },
            ],
            ..Decision::default()
        },
    )
    .await;
    assert_eq!(b.count("SELECT COUNT(*) FROM service_requests").await, 2);
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM service_requests r JOIN sessions s ON s.id = r.session_id
             JOIN contacts c ON c.id = r.contact_id
             WHERE r.code = 'PH-4K7M' AND r.service = 'pothole' AND r.description = 'deep one'
               AND r.location = '5th & Main' AND r.photo = 'https://api.twilio.com/media/ME2'
               AND r.status = 'open' AND r.flow_id = 'pothole' AND s.flow_id = 'pothole'
               AND c.phone = '+15025550118'"
        )
        .await,
        1
    );
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM service_requests
             WHERE code = 'PH-4K7N' AND description IS NULL AND location IS NULL
               AND photo IS NULL"
        )
        .await,
        1
    );
}

async fn throttle_fields_round_trip(b: Backend) {
    let phone = "+15025550119";
    let t0 = at("2026-03-01T12:00:00Z");
    let throttle = Throttle {
        unmatched_count: 3,
        unmatched_since: Some(at("2026-03-01T11:59:58.250001Z")),
        last_default_reply_at: Some(at("2026-03-01T11:59:59.999999Z")),
        muted_until: Some(at("2026-03-01T13:00:00.000001Z")),
        opt_out_hint_at: Some(at("2026-03-01T10:00:00.5Z")),
    };
    handle(
        &b,
        &text("SM-1", phone, "asdf", t0),
        Decision {
            throttle: Some(throttle),
            route: "unmatched",
            ..Decision::default()
        },
    )
    .await;
    let c = next_snapshot(&b, phone, "SM-2", t0).await.contact.unwrap();
    assert_eq!(c.unmatched_count, throttle.unmatched_count);
    assert_eq!(c.unmatched_since, throttle.unmatched_since);
    assert_eq!(c.last_default_reply_at, throttle.last_default_reply_at);
    assert_eq!(c.opt_out_hint_at, throttle.opt_out_hint_at);
    assert_eq!(c.muted_until, throttle.muted_until);
    // A decision without throttle bookkeeping keeps what is stored (the peek above was one).
    let c = next_snapshot(&b, phone, "SM-3", t0).await.contact.unwrap();
    assert_eq!(c.unmatched_count, 3);
    assert_eq!(c.muted_until, throttle.muted_until);
    // Clearing works too.
    handle(
        &b,
        &text("SM-4", phone, "PARKS", t0),
        Decision {
            throttle: Some(Throttle {
                unmatched_count: 0,
                unmatched_since: None,
                last_default_reply_at: None,
                muted_until: None,
                opt_out_hint_at: None,
            }),
            ..Decision::default()
        },
    )
    .await;
    let c = next_snapshot(&b, phone, "SM-5", t0).await.contact.unwrap();
    assert_eq!(c.unmatched_count, 0);
    assert_eq!(c.unmatched_since, None);
    assert_eq!(c.last_default_reply_at, None);
    assert_eq!(c.muted_until, None);
}

const FLOW_A: &str =
    "flow: alpha\ntitle: Alpha\nkeywords: [ALPHA]\nsteps:\n  - say: Hello from alpha\n";
const FLOW_B: &str =
    "flow: beta\ntitle: Beta\nkeywords: [BETA]\nsteps:\n  - say: Hello from beta\n";
const FLOW_A2: &str =
    "flow: alpha\ntitle: Alpha\nkeywords: [ALPHA]\nsteps:\n  - say: Hello again from alpha\n";

fn catalog(files: &[(&str, &str)]) -> (Catalog, Vec<SourceFile>) {
    let sources: Vec<SourceFile> = files
        .iter()
        .map(|(name, text)| SourceFile {
            name: name.to_string(),
            text: text.to_string(),
        })
        .collect();
    let (catalog, checks) = Catalog::build(sources.clone());
    for c in &checks {
        assert!(c.diagnostics.is_empty(), "{}: {:?}", c.name, c.diagnostics);
    }
    assert_eq!(catalog.flows().len(), files.len());
    (catalog, sources)
}

async fn flow_sources_saved_once_per_version(b: Backend) {
    assert!(b.store.load_flow_sources().await.unwrap().is_empty());
    let (cat, sources) = catalog(&[("alpha.yaml", FLOW_A), ("beta.yaml", FLOW_B)]);
    b.store.save_flow_sources(&cat, &sources).await.unwrap();
    b.store.save_flow_sources(&cat, &sources).await.unwrap();
    assert_eq!(b.count("SELECT COUNT(*) FROM flow_versions").await, 2);

    // An edit is a new version; the old one is kept.
    let (cat2, sources2) = catalog(&[("alpha.yaml", FLOW_A2), ("beta.yaml", FLOW_B)]);
    b.store.save_flow_sources(&cat2, &sources2).await.unwrap();
    assert_eq!(b.count("SELECT COUNT(*) FROM flow_versions").await, 3);

    let loaded: BTreeSet<(String, String)> = b
        .store
        .load_flow_sources()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.text))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("alpha.yaml", FLOW_A),
        ("alpha.yaml", FLOW_A2),
        ("beta.yaml", FLOW_B),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t.to_string()))
    .collect();
    assert_eq!(loaded, expected);
    // The stored texts rebuild the same flows.
    let (again, _) = Catalog::build(b.store.load_flow_sources().await.unwrap());
    let mut versions: Vec<String> = again.flows().iter().map(|f| f.version.clone()).collect();
    versions.sort();
    let mut wanted: Vec<String> = cat
        .flows()
        .iter()
        .chain(cat2.flows())
        .map(|f| f.version.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    wanted.sort();
    assert!(versions.iter().all(|v| wanted.contains(v)));
}

async fn export_returns_sessions_with_answers(b: Backend) {
    let t0 = at("2026-03-01T12:00:00.5Z");
    let t1 = at("2026-03-01T12:03:00.000250Z");
    // Resident one completes the survey.
    let one = "+15025550121";
    handle(
        &b,
        &text("SM-a1", one, "PARKS", t0),
        Decision {
            session: new_session(rich_session("parks", t0)),
            answers: vec![answer("visits", "1", "weekly", "weekly")],
            ..Decision::default()
        },
    )
    .await;
    let state = next_snapshot(&b, one, "SM-a2", t0)
        .await
        .session
        .unwrap()
        .state;
    handle(
        &b,
        &text("SM-a3", one, "too far", t1),
        Decision {
            session: Some(SessionWrite {
                state,
                ended: Some(SessionEnd::Completed),
                new: false,
            }),
            answers: vec![answer("why", "too far", "too far", "text")],
            ..Decision::default()
        },
    )
    .await;
    // Resident two is midway; resident three is on another flow.
    let two = "+15025550122";
    let mut state_two = rich_session("parks", t1);
    state_two.language = "en".into();
    handle(
        &b,
        &text("SM-b1", two, "PARKS", t1),
        Decision {
            session: new_session(state_two),
            answers: vec![answer("visits", "never", "never", "never")],
            ..Decision::default()
        },
    )
    .await;
    handle(
        &b,
        &text("SM-c1", "+15025550123", "PLAN", t1),
        Decision {
            session: new_session(rich_session("youth", t1)),
            answers: vec![answer("age", "17", "17", "integer")],
            ..Decision::default()
        },
    )
    .await;

    let export = b.store.export("parks").await.unwrap();
    assert_eq!(export.len(), 2);
    let (a, c) = (&export[0], &export[1]);
    assert_eq!(a.phone, one);
    assert_eq!(a.status, "completed");
    assert_eq!(a.language, "es");
    assert_eq!(a.flow_version, "0a1b2c3d4e5f");
    assert_eq!(a.started_at, t0.to_string());
    assert_eq!(a.updated_at, t1.to_string());
    assert_eq!(a.ended_at, Some(t1.to_string()));
    assert_eq!(a.answers.len(), 2);
    assert_eq!(a.answers["visits"].value, "weekly");
    assert_eq!(a.answers["visits"].raw, "1");
    assert_eq!(a.answers["why"].category, "text");
    assert_eq!(c.phone, two);
    assert_eq!(c.status, "active");
    assert_eq!(c.language, "en");
    assert_eq!(c.ended_at, None);
    assert_eq!(c.answers.len(), 1);
    assert!(a.session_id < c.session_id);
    assert_ne!(a.contact_id, c.contact_id);
    assert_eq!(b.store.export("youth").await.unwrap().len(), 1);
    assert!(b.store.export("nothing").await.unwrap().is_empty());
}

async fn timestamps_round_trip_to_the_microsecond(b: Backend) {
    let phone = "+15025550124";
    // Inside the session state times keep every digit; in columns, at least the microsecond.
    let fine = at("2026-03-01T12:00:00.123456789Z");
    let state = rich_session("parks", fine);
    handle(
        &b,
        &text("SM-1", phone, "PARKS", fine),
        Decision {
            session: new_session(state.clone()),
            throttle: Some(Throttle {
                unmatched_count: 1,
                unmatched_since: Some(fine),
                last_default_reply_at: Some(at("1999-12-31T23:59:59.999999Z")),
                muted_until: Some(at("2100-01-01T00:00:00.000001Z")),
                opt_out_hint_at: None,
            }),
            ..Decision::default()
        },
    )
    .await;
    let snap = next_snapshot(&b, phone, "SM-2", fine).await;
    assert_eq!(snap.session.unwrap().state, state);
    let c = snap.contact.unwrap();
    let since = c.unmatched_since.unwrap();
    let lost = fine.duration_since(since);
    assert!(
        lost >= SignedDuration::ZERO && lost < SignedDuration::from_micros(1),
        "{fine} came back as {since}"
    );
    assert_eq!(
        c.last_default_reply_at,
        Some(at("1999-12-31T23:59:59.999999Z"))
    );
    assert_eq!(c.muted_until, Some(at("2100-01-01T00:00:00.000001Z")));
    let export = b.store.export("parks").await.unwrap();
    let started: Timestamp = export[0].started_at.parse().unwrap();
    let lost = fine.duration_since(started);
    assert!(lost >= SignedDuration::ZERO && lost < SignedDuration::from_micros(1));
}

async fn same_sid_from_two_addresses_is_handled_once(b: Backend) {
    // Provider ids are unique across senders; if one ever arrived from two addresses at once,
    // the texts are not serialised by resident, and the unique id must still hold.
    let t0 = at("2026-03-01T12:00:00Z");
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let store = b.store.clone();
    let slow = tokio::spawn(async move {
        store
            .handle_inbound(&text("SM-same", "+15025550131", "one", t0), move |_| {
                entered_tx.send(()).unwrap();
                // Hold the transaction open while the other copy is handled.
                std::thread::sleep(Duration::from_millis(600));
                Decision {
                    replies: vec!["from the first".into()],
                    route: "first",
                    ..Decision::default()
                }
            })
            .await
    });
    tokio::task::spawn_blocking(move || entered_rx.recv().unwrap())
        .await
        .unwrap();
    let fast = b
        .store
        .handle_inbound(&text("SM-same", "+15025550132", "one", t0), |_| Decision {
            replies: vec!["from the second".into()],
            route: "second",
            ..Decision::default()
        })
        .await
        .expect("the second copy");
    let slow = slow.await.unwrap().expect("the first copy");
    let (winner, loser) = if slow.duplicate {
        (&fast, &slow)
    } else {
        (&slow, &fast)
    };
    assert!(!winner.duplicate && loser.duplicate, "{slow:?} / {fast:?}");
    assert_eq!(loser.replies, winner.replies);
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE sid = 'SM-same'")
            .await,
        1
    );
    assert_eq!(b.count("SELECT COUNT(*) FROM messages").await, 2);
    assert_eq!(
        b.count("SELECT COUNT(*) FROM contacts").await,
        1,
        "the duplicate's changes are rolled back"
    );
}

/// The counter a decision keeps in the session's answers.
fn counter(s: &Session) -> u64 {
    s.answers
        .get("counter")
        .map_or(0, |g| g.value.parse().expect("a number"))
}

async fn concurrent_texts_from_one_resident_advance_once_each_in_order(b: Backend) {
    const TEXTS: usize = 200;
    const DISTINCT: usize = 160;
    let phone = "+15025550140";
    let t0 = at("2026-03-01T12:00:00Z");
    // 200 deliveries of 160 texts: 40 are repeats, all shuffled and sent at once, spread over
    // three replicas.
    let mut sids: Vec<String> = (0..DISTINCT).map(|i| format!("SM-c{i:04}")).collect();
    let mut rng = rand::thread_rng();
    for _ in DISTINCT..TEXTS {
        let pick = sids[rng.gen_range(0..DISTINCT)].clone();
        sids.push(pick);
    }
    sids.shuffle(&mut rng);
    let replicas = b.replicas(3).await;
    let decided = Arc::new(Mutex::new(Vec::<String>::new()));

    let mut tasks = Vec::with_capacity(TEXTS);
    for (i, sid) in sids.iter().enumerate() {
        let store = replicas[i % replicas.len()].clone();
        let decided = decided.clone();
        let msg = text(sid, phone, "next", t0);
        tasks.push(tokio::spawn(async move {
            let sid = msg.sid.clone();
            let handled = store
                .handle_inbound(&msg, move |snap: &Snapshot| {
                    let (state, new, count) = match &snap.session {
                        Some(s) => (s.state.clone(), false, counter(&s.state) + 1),
                        None => (rich_session("counter", t0), true, 1),
                    };
                    let mut state = state;
                    state.answers.insert(
                        "counter".into(),
                        Given {
                            value: count.to_string(),
                            category: "integer".into(),
                        },
                    );
                    decided.lock().unwrap().push(sid.clone());
                    Decision {
                        replies: vec![format!("count {count}")],
                        session: Some(SessionWrite {
                            state,
                            ended: None,
                            new,
                        }),
                        route: "count",
                        ..Decision::default()
                    }
                })
                .await;
            (msg.sid, handled)
        }));
    }
    let mut results: HashMap<String, Vec<Handled>> = HashMap::new();
    for t in tasks {
        let (sid, handled) = t.await.expect("task");
        let handled = handled.unwrap_or_else(|e| panic!("{sid}: {e}"));
        results.entry(sid).or_default().push(handled);
    }

    // Each distinct text advanced the conversation exactly once.
    let snap = next_snapshot(&b, phone, "SM-final", t0).await;
    let session = snap.session.expect("the counting session");
    assert_eq!(counter(&session.state), DISTINCT as u64);
    assert_eq!(b.count("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(b.count("SELECT COUNT(*) FROM contacts").await, 1);
    let decided = decided.lock().unwrap().clone();
    let unique: BTreeSet<&String> = decided.iter().collect();
    assert_eq!(unique.len(), DISTINCT, "every text decided");
    // Decisions discarded on the MessageSid backstop may repeat a sid, never more.
    assert!(decided.len() >= DISTINCT);

    // Every sid stored once; every delivery answered with that text's own reply.
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND sid LIKE 'SM-c%'")
            .await,
        DISTINCT as i64
    );
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM (SELECT sid FROM messages WHERE sid IS NOT NULL
             GROUP BY sid HAVING COUNT(*) > 1) AS repeated"
        )
        .await,
        0
    );
    let mut counts = BTreeSet::new();
    for (sid, deliveries) in &results {
        let firsts: Vec<&Handled> = deliveries.iter().filter(|h| !h.duplicate).collect();
        assert_eq!(firsts.len(), 1, "{sid} handled as new exactly once");
        for h in deliveries {
            assert_eq!(
                h.replies, firsts[0].replies,
                "{sid}: repeats get the same reply"
            );
        }
        counts.insert(firsts[0].replies[0].clone());
    }
    assert_eq!(counts.len(), DISTINCT, "no two texts saw the same count");

    // In order: taken by message id, the stored texts counted 1, 2, 3, …
    let in_order = b
        .count(
            "SELECT COUNT(*) FROM messages i JOIN messages o ON o.reply_to = i.id
             WHERE i.sid LIKE 'SM-c%'
               AND o.body = 'count ' || (SELECT COUNT(*) FROM messages e
                                         WHERE e.direction = 'in' AND e.sid LIKE 'SM-c%'
                                           AND e.id <= i.id)",
        )
        .await;
    assert_eq!(in_order, DISTINCT as i64);
}

// ---------------------------------------------------------------------------------------------
// Many residents at once: texts waiting together are committed together (group commit), and
// each must come out exactly as if it had been handled alone.

/// The phone number of crowd resident `i`.
fn crowd_phone(i: usize) -> String {
    format!("+1502556{i:04}")
}

/// Holds the first text of a crowd in its decision until every other text has been handed to
/// the store, so they are all waiting behind it whatever the machine's load (a fixed sleep
/// alone lost that race on a busy machine). The texts are spawned without any async sleep in
/// between: while the held decision blocks a runtime worker, tokio's timers may not fire.
#[derive(Clone)]
struct Crowd {
    handed: Arc<AtomicUsize>,
    others: usize,
}

impl Crowd {
    fn new(size: usize) -> Crowd {
        Crowd {
            handed: Arc::default(),
            others: size - 1,
        }
    }

    /// Said by each other text's task just before it hands its text to the store.
    fn handing(&self) {
        self.handed.fetch_add(1, Ordering::SeqCst);
    }

    /// Run in the first text's decision: waits for the others (at most 10 s, well inside
    /// PostgreSQL's idle-in-transaction limit), then a moment more for their last step into the
    /// store's queue.
    fn hold_the_first(&self) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while self.handed.load(Ordering::SeqCst) < self.others && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends every `(text, decision)` at once, each from a task of its own, and returns the
/// outcomes in the same order. The first text's decision waits until the others are queued
/// behind it, so they are committed together.
async fn all_at_once(
    store: &Store,
    texts: Vec<(InboundText, Decision)>,
) -> Vec<Result<Handled, civictext::store::StoreError>> {
    let crowd = Crowd::new(texts.len());
    let mut tasks = Vec::with_capacity(texts.len());
    for (i, (msg, decision)) in texts.into_iter().enumerate() {
        let store = store.clone();
        let crowd = crowd.clone();
        tasks.push(tokio::spawn(async move {
            if i > 0 {
                crowd.handing();
            }
            store
                .handle_inbound(&msg, move |_| {
                    if i == 0 {
                        crowd.hold_the_first();
                    }
                    decision.clone()
                })
                .await
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

async fn many_residents_at_once_are_each_stored_once_with_everything_their_text_changed(
    b: Backend,
) {
    const CROWD: usize = 120;
    let t0 = at("2026-03-01T12:00:00Z");
    let t1 = at("2026-03-01T12:05:00Z");
    // Three residents in four are already in a conversation.
    for i in (0..CROWD).filter(|i| i % 4 != 0) {
        handle(
            &b,
            &text(&format!("SM-start-{i}"), &crowd_phone(i), "PARKS", t0),
            Decision {
                replies: vec!["First question?".into()],
                session: new_session(rich_session("parks", t0)),
                route: "keyword",
                ..Decision::default()
            },
        )
        .await;
    }
    let before = b.store.texts_committed_together();

    // Then all of them text at once: a newcomer starts a conversation; a resident in one
    // answers and files a request; one opts out; one switches to another conversation.
    let mut texts = Vec::new();
    for i in 0..CROWD {
        let decision = match i % 4 {
            0 => Decision {
                replies: vec![format!("welcome {i}"), format!("question {i}")],
                language: Some("es".into()),
                fields: vec![("zip".into(), format!("4{i:04}"))],
                session: new_session(rich_session("bike", t1)),
                answers: vec![answer("lang", "2", "es", "es")],
                route: "keyword",
                ..Decision::default()
            },
            1 => Decision {
                replies: vec![format!("filed {i}")],
                session: Some(SessionWrite {
                    state: Session {
                        position: 4,
                        ..rich_session("parks", t0)
                    },
                    ended: None,
                    new: false,
                }),
                answers: vec![answer("where", "5th & Main", "5th & Main", "location")],
                requests: vec![ServiceRequest {
                    code: format!("PK-{i:04}"),
                    service: "parks".into(),
                    description: Some(format!("bench {i} broken")),
                    location: Some("5th & Main".into()),
                    photo: None,
                }],
                route: "session",
                ..Decision::default()
            },
            2 => Decision {
                replies: vec![format!("unsubscribed {i}")],
                consent: Some(ConsentChange::OptOut),
                end_session: Some(SessionEnd::OptedOut),
                route: "opt_out",
                ..Decision::default()
            },
            _ => Decision {
                replies: vec![format!("switched {i}")],
                end_session: Some(SessionEnd::Interrupted),
                session: new_session(rich_session("bike", t1)),
                answers: vec![answer("lang", "1", "en", "en")],
                route: "keyword",
                ..Decision::default()
            },
        };
        let body = if i % 4 == 2 { "STOP" } else { "go" };
        texts.push((
            text(&format!("SM-crowd-{i}"), &crowd_phone(i), body, t1),
            decision,
        ));
    }
    let outcomes = all_at_once(&b.store, texts).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        let h = outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("resident {i}: {e}"));
        assert!(!h.duplicate, "resident {i}");
        assert_eq!(h.replies[0].split(' ').nth(1), Some(i.to_string().as_str()));
    }
    assert!(
        b.store.texts_committed_together() > before,
        "the texts waiting together were committed together"
    );

    // One row per text, each reply after its own text, in order, in the same conversation.
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE sid LIKE 'SM-crowd-%'")
            .await,
        CROWD as i64
    );
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM messages o JOIN messages i ON o.reply_to = i.id
             WHERE i.sid LIKE 'SM-crowd-%'"
        )
        .await,
        (CROWD + CROWD / 4) as i64
    );
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM messages o JOIN messages i ON o.reply_to = i.id
             WHERE o.contact_id <> i.contact_id OR o.to_addr <> i.from_addr
                OR o.from_addr <> i.to_addr OR o.route <> i.route
                OR COALESCE(o.session_id, -1) <> COALESCE(i.session_id, -1)"
        )
        .await,
        0
    );
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM messages w JOIN messages q ON q.reply_to = w.reply_to
             WHERE w.body LIKE 'welcome %' AND q.body LIKE 'question %' AND q.id > w.id"
        )
        .await,
        (CROWD / 4) as i64,
        "a text's replies are stored in the order they are sent"
    );

    // Newcomers: a contact with their language and ZIP, a conversation with its answer.
    for i in (0..CROWD).step_by(4) {
        let snap = next_snapshot(&b, &crowd_phone(i), &format!("SM-peek-{i}"), t1).await;
        let c = snap.contact.expect("the newcomer's contact");
        assert_eq!(c.language.as_deref(), Some("es"));
        assert_eq!(c.fields.get("zip"), Some(&format!("4{i:04}")));
        assert_eq!(snap.session.expect("their conversation").state.flow, "bike");
    }
    // Every answer belongs to the text that gave it and to that text's conversation.
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM answers a JOIN messages m ON a.message_id = m.id
             WHERE m.sid LIKE 'SM-crowd-%' AND a.session_id = m.session_id
               AND a.contact_id = m.contact_id"
        )
        .await,
        (3 * CROWD / 4) as i64
    );
    // Requests: filed in the conversation they came from.
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM service_requests r JOIN sessions s ON r.session_id = s.id
             WHERE s.flow_id = 'parks' AND s.contact_id = r.contact_id
               AND r.description LIKE 'bench % broken'"
        )
        .await,
        (CROWD / 4) as i64
    );
    // Opt-outs: recorded with the text that caused them; their conversations ended.
    assert_eq!(
        b.count(
            "SELECT COUNT(*) FROM consent_events e JOIN contacts c ON e.contact_id = c.id
             WHERE e.kind = 'opt_out' AND e.text = 'STOP' AND e.message_sid LIKE 'SM-crowd-%'
               AND c.opted_out"
        )
        .await,
        (CROWD / 4) as i64
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM sessions WHERE status = 'opted_out'")
            .await,
        (CROWD / 4) as i64
    );
    // Switchers: the old conversation interrupted, the new one active; never two at once.
    assert_eq!(
        b.count("SELECT COUNT(*) FROM sessions WHERE status = 'interrupted'")
            .await,
        (CROWD / 4) as i64
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM sessions WHERE status = 'active'")
            .await,
        (3 * CROWD / 4) as i64
    );
}

async fn a_repeat_delivery_among_many_residents_gets_the_first_reply_and_changes_nothing(
    b: Backend,
) {
    let t0 = at("2026-03-01T12:00:00Z");
    let reply = |i: usize, copy: usize| Decision {
        replies: vec![format!("reply {i} from copy {copy}")],
        fields: vec![("copy".into(), copy.to_string())],
        route: "default",
        ..Decision::default()
    };
    // 60 residents, each text delivered three times, all at once.
    let mut texts = Vec::new();
    for copy in 0..3 {
        for i in 0..60 {
            texts.push((
                text(&format!("SM-rep-{i}"), &crowd_phone(i), "hi", t0),
                reply(i, copy),
            ));
        }
    }
    let outcomes = all_at_once(&b.store, texts).await;
    for i in 0..60 {
        let copies: Vec<&Handled> = (0..3)
            .map(|copy| outcomes[copy * 60 + i].as_ref().expect("handled"))
            .collect();
        assert_eq!(
            copies.iter().filter(|h| !h.duplicate).count(),
            1,
            "resident {i}: {copies:?}"
        );
        assert!(copies.iter().all(|h| h.replies == copies[0].replies));
    }
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'")
            .await,
        60
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'out'")
            .await,
        60
    );
    assert_eq!(b.count("SELECT COUNT(*) FROM contacts").await, 60);
}

async fn a_failing_decision_among_many_residents_fails_only_its_own_text(b: Backend) {
    let t0 = at("2026-03-01T12:00:00Z");
    let crowd = Crowd::new(80);
    let mut tasks = Vec::new();
    for i in 0..80 {
        let store = b.store.clone();
        let crowd = crowd.clone();
        tasks.push(tokio::spawn(async move {
            let msg = text(&format!("SM-fail-{i}"), &crowd_phone(i), "hi", t0);
            if i > 0 {
                crowd.handing();
            }
            store
                .handle_inbound(&msg, move |_| {
                    if i == 0 {
                        crowd.hold_the_first();
                    }
                    if i == 41 {
                        panic!("a decision that fails");
                    }
                    Decision {
                        replies: vec![format!("hello {i}")],
                        route: "default",
                        ..Decision::default()
                    }
                })
                .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let outcome = t.await.expect("task");
        if i == 41 {
            assert!(outcome.is_err(), "the failing text reports its failure");
        } else {
            assert_eq!(
                outcome.expect("handled").replies,
                vec![format!("hello {i}")]
            );
        }
    }
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'")
            .await,
        79
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE sid = 'SM-fail-41'")
            .await,
        0
    );
    assert_eq!(b.count("SELECT COUNT(*) FROM contacts").await, 79);
    assert!(b.store.texts_committed_together() > 0);
}

async fn the_same_message_sid_from_two_numbers_among_many_is_stored_once(b: Backend) {
    let t0 = at("2026-03-01T12:00:00Z");
    let mut texts = Vec::new();
    for i in 0..40 {
        texts.push((
            text(&format!("SM-pair-{i}"), &crowd_phone(i), "hi", t0),
            Decision {
                replies: vec![format!("hello {i}")],
                route: "default",
                ..Decision::default()
            },
        ));
    }
    // The same provider id from a second number, queued with the rest.
    texts.push((
        text("SM-pair-7", &crowd_phone(1007), "hi", t0),
        Decision {
            replies: vec!["hello again".into()],
            route: "default",
            ..Decision::default()
        },
    ));
    let outcomes = all_at_once(&b.store, texts).await;
    let pair: Vec<&Handled> = [7, 40]
        .iter()
        .map(|&i| outcomes[i].as_ref().expect("handled"))
        .collect();
    assert_eq!(pair.iter().filter(|h| h.duplicate).count(), 1, "{pair:?}");
    assert_eq!(pair[0].replies, pair[1].replies);
    for (i, outcome) in outcomes.iter().enumerate().take(40) {
        if i != 7 {
            assert_eq!(
                outcome.as_ref().unwrap().replies,
                vec![format!("hello {i}")]
            );
        }
    }
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'")
            .await,
        40
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM messages WHERE direction = 'out'")
            .await,
        40
    );
}

#[tokio::test]
async fn database_urls_select_the_backend() {
    let pg = Backend::postgres().await;
    let alias = pg.url.replacen("postgres://", "postgresql://", 1);
    let store = Store::connect(&alias)
        .await
        .expect("postgresql:// works too");
    assert!(matches!(store, Store::Postgres(_)));
    store.ping().await.unwrap();
    pg.store.ping().await.unwrap();

    let sqlite = Backend::sqlite().await;
    assert!(matches!(sqlite.store, Store::Sqlite(_)));

    let err = Store::connect("mysql://root@localhost/civictext")
        .await
        .expect_err("not a supported database");
    let message = err.to_string();
    assert!(
        message.contains("sqlite://") && message.contains("postgres://"),
        "{message}"
    );
}

/// Replicas started at the same moment each offer a fresh secret; every one of them must come
/// away with the same stored value (a replica that could not read it back failed to start).
async fn replicas_starting_together_agree_on_one_installation_secret(b: Backend) {
    let replicas = b.replicas(4).await;
    for round in 0..20 {
        let name = format!("test-secret-{round}");
        let tasks: Vec<_> = replicas
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let store = store.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    store
                        .installation_secret(&name, &format!("offered-by-{i}"))
                        .await
                        .expect("the secret is read or stored")
                })
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        assert!(
            values.iter().all(|v| *v == values[0]),
            "round {round}: replicas disagree: {values:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Consent given and withdrawn by answers

/// An answer to the `news` question of the `parks` flow, which records consent to `park-news`
/// when it is `weekly`; any other answer withdraws it (as the engine says).
fn news_answer(value: &str) -> AnswerRecord {
    let mut a = answer("news", value, value, value);
    if value == "weekly" {
        a.consent_topic = Some("park-news".into());
    } else {
        a.withdrawn_topic = Some("park-news".into());
    }
    a
}

/// Stores `msg` on `store` with `decision`.
async fn store_text(store: &Store, msg: &InboundText, decision: Decision) {
    store
        .handle_inbound(msg, move |_| decision.clone())
        .await
        .expect("handle_inbound");
}

/// The contact's consent events as (kind, topic, MessageSid), oldest first.
async fn consent_events(store: &Store, phone: &str) -> Vec<(&'static str, Option<String>, String)> {
    store
        .consent_history(phone)
        .await
        .expect("consent history")
        .changes
        .into_iter()
        .map(|e| {
            let kind = match (e.change, e.is_withdrawal()) {
                (_, true) => "withdrawal",
                (ConsentChange::OptIn, _) => "opt_in",
                (ConsentChange::OptOut, _) => "opt_out",
            };
            (kind, e.topic, e.sid.unwrap_or_default())
        })
        .collect()
}

/// Whether a broadcast to `topic` (None: to no topic in particular) would reach `phone` now.
async fn reached(store: &Store, phone: &str, topic: Option<&str>) -> bool {
    store
        .audience(&Audience::Phones(vec![phone.to_string()]), topic)
        .await
        .expect("audience")
        .iter()
        .any(|m| m.phone == phone)
}

async fn every_write_path_records_a_no_to_a_consent_question_as_a_withdrawal_of_its_topic(
    b: Backend,
) {
    let t0 = at("2026-03-01T12:00:00Z");
    let per_text = Store::connect_per_text(&b.url, true)
        .await
        .expect("a store writing one transaction per text");
    for (n, (path, store)) in [("batched", b.store.clone()), ("per-text", per_text)]
        .into_iter()
        .enumerate()
    {
        let phone = format!("+1502555017{n}");
        let sid = |step: &str| format!("SM-{path}-{step}");
        let continuing = Some(SessionWrite {
            state: rich_session("parks", t0),
            ended: None,
            new: false,
        });
        // Yes, then no, then yes again to the same question of one session (each replaces the
        // stored answer), then no in a new session.
        store_text(
            &store,
            &text(&sid("yes"), &phone, "PARKS", t0),
            Decision {
                session: new_session(rich_session("parks", t0)),
                answers: vec![news_answer("weekly")],
                ..Decision::default()
            },
        )
        .await;
        assert!(reached(&store, &phone, Some("park-news")).await, "{path}");
        store_text(
            &store,
            &text(
                &sid("no"),
                &phone,
                "never",
                t0 + SignedDuration::from_secs(1),
            ),
            Decision {
                session: continuing.clone(),
                answers: vec![news_answer("never")],
                ..Decision::default()
            },
        )
        .await;
        assert!(
            !reached(&store, &phone, Some("park-news")).await,
            "{path}: the no withdrew the yes"
        );
        assert!(!reached(&store, &phone, None).await, "{path}");
        store_text(
            &store,
            &text(
                &sid("yes-again"),
                &phone,
                "weekly",
                t0 + SignedDuration::from_secs(2),
            ),
            Decision {
                session: continuing,
                answers: vec![news_answer("weekly")],
                ..Decision::default()
            },
        )
        .await;
        assert!(reached(&store, &phone, Some("park-news")).await, "{path}");
        store_text(
            &store,
            &text(
                &sid("new-no"),
                &phone,
                "never",
                t0 + SignedDuration::from_secs(3),
            ),
            Decision {
                end_session: Some(SessionEnd::Completed),
                session: new_session(rich_session("parks", t0)),
                answers: vec![news_answer("never")],
                ..Decision::default()
            },
        )
        .await;
        assert!(!reached(&store, &phone, Some("park-news")).await, "{path}");

        let topic = Some("park-news".to_string());
        assert_eq!(
            consent_events(&store, &phone).await,
            [
                ("opt_in", topic.clone(), sid("yes")),
                ("withdrawal", topic.clone(), sid("no")),
                ("opt_in", topic.clone(), sid("yes-again")),
                ("withdrawal", topic, sid("new-no")),
            ],
            "{path}"
        );
        assert!(
            !store.consent_history(&phone).await.unwrap().opted_out,
            "{path}: a withdrawal is not a STOP"
        );
        assert_eq!(
            b.count(&format!(
                "SELECT COUNT(*) FROM consent_events e JOIN contacts c ON c.id = e.contact_id
                 WHERE c.phone = '{phone}' AND e.kind = 'opt_out' AND e.text = 'never'
                   AND e.source = 'flow:parks@0a1b2c3d4e5f/news'"
            ))
            .await,
            2,
            "{path}: each withdrawal names its flow, version and question"
        );
    }
}

async fn consent_to_a_topic_follows_the_latest_event_for_it_or_for_everything_by_when_it_was_given(
    b: Backend,
) {
    let store = &b.store;
    let t0 = at("2026-03-01T12:00:00Z");
    let day = SignedDuration::from_hours(24);
    let import = |phone: &str, topic: Option<&str>, given_at: Timestamp| ImportedConsent {
        phone: phone.to_string(),
        source: "import:test-list".into(),
        given_at,
        topic: topic.map(str::to_string),
        erased_hash: format!("not-forgotten-{phone}"),
    };
    let say_no = |phone: &str, sid: &str, when: Timestamp| {
        let (phone, sid) = (phone.to_string(), sid.to_string());
        async move {
            store_text(
                store,
                &text(&sid, &phone, "never", when),
                Decision {
                    end_session: None,
                    session: new_session(rich_session("parks", when)),
                    answers: vec![news_answer("never")],
                    ..Decision::default()
                },
            )
            .await;
        }
    };

    // Opted in to everything (a list without a topic), then said no to park news: everything
    // but park news.
    let all = "+15025550181";
    store
        .import_consents(&[import(all, None, t0)], t0)
        .await
        .unwrap();
    say_no(all, "SM-all-no", t0 + day).await;
    assert!(!reached(store, all, Some("park-news")).await);
    assert!(reached(store, all, Some("youth-events")).await);
    assert!(reached(store, all, None).await);

    // Two topics: withdrawing one keeps the other.
    let two = "+15025550182";
    store
        .import_consents(
            &[
                import(two, Some("park-news"), t0),
                import(two, Some("youth-events"), t0),
            ],
            t0,
        )
        .await
        .unwrap();
    say_no(two, "SM-two-no", t0 + day).await;
    assert!(!reached(store, two, Some("park-news")).await);
    assert!(reached(store, two, Some("youth-events")).await);
    assert!(reached(store, two, None).await);

    // A list recorded after the no, but saying consent was given before it, does not undo the
    // no; one given after it does.
    let listed = "+15025550183";
    say_no(listed, "SM-listed-no", t0 + day).await;
    store
        .import_consents(&[import(listed, Some("park-news"), t0)], t0 + day * 2)
        .await
        .unwrap();
    assert!(!reached(store, listed, Some("park-news")).await);
    assert!(!reached(store, listed, None).await);
    store
        .import_consents(
            &[import(listed, Some("park-news"), t0 + day * 2)],
            t0 + day * 2,
        )
        .await
        .unwrap();
    assert!(reached(store, listed, Some("park-news")).await);

    // START after the no consents to everything again, park news included; STOP stops all.
    let restarted = "+15025550184";
    store
        .import_consents(&[import(restarted, Some("park-news"), t0)], t0)
        .await
        .unwrap();
    say_no(restarted, "SM-restarted-no", t0 + day).await;
    store_text(
        store,
        &text("SM-restarted-stop", restarted, "STOP", t0 + day * 2),
        Decision {
            consent: Some(ConsentChange::OptOut),
            end_session: Some(SessionEnd::OptedOut),
            ..Decision::default()
        },
    )
    .await;
    assert!(!reached(store, restarted, None).await);
    store_text(
        store,
        &text("SM-restarted-start", restarted, "START", t0 + day * 3),
        Decision {
            consent: Some(ConsentChange::OptIn),
            ..Decision::default()
        },
    )
    .await;
    assert!(reached(store, restarted, Some("park-news")).await);
    assert!(reached(store, restarted, Some("youth-events")).await);

    // The audience of a topic, from many contacts at once, agrees.
    let everyone: Vec<String> = store
        .audience(&Audience::Everyone, Some("park-news"))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.phone)
        .collect();
    assert_eq!(everyone, [listed, restarted]);
}

async fn an_audience_counted_in_the_database_is_the_listed_audience_counted(b: Backend) {
    let store = &b.store;
    let phones = [
        "+15025550001",
        "+15025550002",
        "+15025550003",
        "+15027770004",
        "+12065550005",
        "+18085550006",
        "+442071838750",
        "+1502555",
        "+1502555000x",
        "+150255500012",
        "+15025550009",
    ];
    common::consenting(store, &phones).await;
    let pseudonyms = civictext::startup::pseudonyms(&civictext::config::Settings::default(), store)
        .await
        .unwrap();
    let topical = ["+15025550010", "+12065550011"].map(|phone| civictext::store::ImportedConsent {
        phone: phone.to_string(),
        source: "import:park-list".into(),
        given_at: at("2026-05-01T15:00:00Z"),
        topic: Some("park-news".into()),
        erased_hash: pseudonyms.erased_number(phone),
    });
    store
        .import_consents(&topical, Timestamp::now())
        .await
        .unwrap();
    for sql in [
        "UPDATE contacts SET language = 'es' WHERE phone IN ('+15025550002', '+15027770004', '+12065550011')",
        "UPDATE contacts SET language = 'en' WHERE phone = '+15025550003'",
        "UPDATE contacts SET time_zone = 'America/Denver' WHERE phone IN ('+15025550003', '+442071838750')",
        "UPDATE contacts SET opted_out = TRUE WHERE phone = '+15025550009'",
    ] {
        b.exec(sql).await;
    }
    match store {
        Store::Sqlite(_) => b.exec("UPDATE contacts SET fields = '{\"zip\": \"40202\"}' WHERE phone LIKE '+1502%'").await,
        Store::Postgres(_) => b.exec("UPDATE contacts SET fields = '{\"zip\": \"40202\"}'::jsonb WHERE phone LIKE '+1502%'").await,
    }

    let audiences = [
        (Audience::Everyone, None),
        (
            Audience::Field {
                name: "zip".into(),
                value: "40202".into(),
            },
            None,
        ),
        (
            Audience::Phones(vec!["+15025550002".into(), "+442071838750".into()]),
            None,
        ),
        (Audience::Everyone, Some("park-news")),
    ];
    for (audience, topic) in &audiences {
        let listed = store.audience(audience, *topic).await.unwrap();
        let mut want = civictext::outbound::compose::groups(&listed);
        want.sort();
        let mut counted = store.audience_groups(audience, *topic).await.unwrap();
        counted.sort();
        assert_eq!(counted, want, "{audience:?} {topic:?}");
    }
    let everyone = store
        .audience_groups(&Audience::Everyone, None)
        .await
        .unwrap();
    assert_eq!(
        everyone.iter().map(|g| g.members).sum::<u64>(),
        12,
        "every consenting number but the one that opted out: {everyone:?}"
    );
    assert!(
        everyone
            .iter()
            .any(|g| g.area_code.as_deref() == Some("808") && g.members == 1),
        "{everyone:?}"
    );
    assert_eq!(
        everyone
            .iter()
            .filter(|g| g.area_code.is_none())
            .map(|g| g.members)
            .sum::<u64>(),
        4,
        "numbers that are not +1 and ten digits have no area code: {everyone:?}"
    );
}

/// Short statements only: JIT compiling one costs more than running it (with JIT forced on, the
/// invitation preview's audience query took 248 ms instead of 72-105 ms).
#[tokio::test]
async fn the_gateways_postgresql_connections_never_compile_queries_just_in_time() {
    let b = Backend::postgres().await;
    let Store::Postgres(s) = &b.store else {
        unreachable!()
    };
    let jit: String = sqlx::query_scalar("SELECT current_setting('jit')")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(jit, "off");
}

// ---------------------------------------------------------------------------------------------
// Results

/// (session id, flow, [(question, value)]) of every response read page by page.
async fn paged(
    store: &Store,
    filter: &ResultsFilter,
    limit: i64,
) -> Vec<(i64, String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .responses_page(filter, after.as_deref(), limit)
            .await
            .expect("a page")
            .expect("the store's own cursor");
        assert!(page.rows.len() as i64 <= limit);
        out.extend(page.rows.into_iter().map(shown));
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

fn shown(r: ResponseRow) -> (i64, String, Vec<(String, String)>) {
    let answers = r
        .answers
        .into_iter()
        .map(|a| (a.question, a.value))
        .collect();
    (r.session_id, r.flow_id, answers)
}

async fn pages_and_streams_give_each_session_its_own_answers_in_the_order_given_however_flows_interleave(
    b: Backend,
) {
    // Three flows' sessions interleaved, so one flow's sessions are spread through the ids;
    // every fifth session has no answer yet, and every other finished one changed its first
    // answer later (stored over the first, given last).
    let flows = ["parks", "youth", "roads"];
    let t0 = at("2026-05-01T09:00:00Z");
    let mut expected = Vec::new();
    for i in 0..30i64 {
        let flow = flows[i as usize % 3];
        let phone = format!("+1502555{:04}", 3000 + i);
        // Times written with different numbers of fraction digits in the same second, whose
        // text order is not their order in time (`…:04.5Z` sorts before `…:04Z`).
        let at_first = t0
            + SignedDuration::from_secs(i)
            + SignedDuration::from_millis(if i % 4 == 2 { 500 } else { 0 });
        let answers = if i % 5 == 0 {
            vec![]
        } else {
            vec![
                answer("visits", "1", &format!("weekly-{i}"), "weekly"),
                answer("why", "far", &format!("far-{i}"), "text"),
            ]
        };
        let mut given: Vec<(String, String)> = answers
            .iter()
            .map(|a| (a.question.clone(), a.value.clone()))
            .collect();
        handle(
            &b,
            &text(&format!("SM-il-{i}-a"), &phone, "START", at_first),
            Decision {
                session: new_session(rich_session(flow, at_first)),
                answers,
                ..Decision::default()
            },
        )
        .await;
        if i % 5 != 0 && i % 2 == 0 {
            let later = at_first + SignedDuration::from_millis(if i % 4 == 2 { 20 } else { 500 });
            let state = next_snapshot(&b, &phone, &format!("SM-il-{i}-b"), later)
                .await
                .session
                .unwrap()
                .state;
            handle(
                &b,
                &text(&format!("SM-il-{i}-c"), &phone, "monthly", later),
                Decision {
                    session: Some(SessionWrite {
                        state,
                        ended: Some(SessionEnd::Completed),
                        new: false,
                    }),
                    answers: vec![answer(
                        "visits",
                        "monthly",
                        &format!("monthly-{i}"),
                        "monthly",
                    )],
                    ..Decision::default()
                },
            )
            .await;
            given.remove(0);
            given.push(("visits".into(), format!("monthly-{i}")));
        }
        expected.push((flow.to_string(), given));
    }
    let everything = paged(&b.store, &ResultsFilter::default(), 1000).await;
    assert_eq!(everything.len(), 30);
    let ids: Vec<i64> = everything.iter().map(|(id, _, _)| *id).collect();
    let expected: Vec<_> = ids
        .iter()
        .zip(expected)
        .map(|(id, (flow, given))| (*id, flow, given))
        .collect();
    assert_eq!(everything, expected);

    for flow in [None, Some("parks"), Some("youth"), Some("roads")] {
        let filter = ResultsFilter {
            flow: flow.map(String::from),
            ..ResultsFilter::default()
        };
        let wanted: Vec<_> = expected
            .iter()
            .filter(|(_, f, _)| flow.is_none_or(|flow| f == flow))
            .cloned()
            .collect();
        for limit in [1, 3, 4, 1000] {
            assert_eq!(
                paged(&b.store, &filter, limit).await,
                wanted,
                "{flow:?}, pages of {limit}"
            );
        }
        assert_eq!(
            streamed(&b.store, &filter, None).await,
            wanted,
            "{flow:?}, streamed"
        );
        for page in [1, 2, 3] {
            let got = streamed(&b.store, &filter, Some(page)).await;
            assert_eq!(got, wanted, "{flow:?}, streamed in pages of {page}");
        }
    }
    // Only the finished ones: half the sessions, spread out.
    let completed = ResultsFilter {
        status: Some("completed".into()),
        ..ResultsFilter::default()
    };
    let finished = paged(&b.store, &completed, 2).await;
    assert_eq!(finished.len(), 12);
    assert!(
        finished
            .iter()
            .all(|(_, _, given)| given.last().unwrap().1.starts_with("monthly"))
    );
    assert_eq!(streamed(&b.store, &completed, Some(2)).await, finished);

    // Clients that go away mid-stream leave nothing held: the store still reads afterwards.
    for _ in 0..8 {
        let mut rx = b.store.responses_stream_paged(ResultsFilter::default(), 1);
        rx.recv()
            .await
            .expect("a first row")
            .expect("a streamed row");
        rx.recv()
            .await
            .expect("a second row")
            .expect("a streamed row");
    }
    let again = tokio::time::timeout(
        Duration::from_secs(5),
        paged(&b.store, &ResultsFilter::default(), 7),
    )
    .await
    .expect("pages are read after abandoned streams");
    assert_eq!(again, everything);
}

/// Every response matching `filter` streamed, in pages of `page` (None: the store's own).
async fn streamed(
    store: &Store,
    filter: &ResultsFilter,
    page: Option<i64>,
) -> Vec<(i64, String, Vec<(String, String)>)> {
    let mut rx = match page {
        Some(page) => store.responses_stream_paged(filter.clone(), page),
        None => store.responses_stream(filter.clone()),
    };
    let mut out = Vec::new();
    while let Some(row) = rx.recv().await {
        out.push(shown(row.expect("a streamed row")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_held_in_memory_pages_and_streams_its_results_as_a_file_does() {
    pages_and_streams_give_each_session_its_own_answers_in_the_order_given_however_flows_interleave(
        Backend::memory().await,
    )
    .await;
}
