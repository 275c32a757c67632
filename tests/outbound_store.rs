//! Service-request status and the outbox in the store: every test runs against SQLite and
//! PostgreSQL alike (PostgreSQL at `CIVICTEXT_TEST_POSTGRES`, see tests/common/postgres.rs).

mod common;

use std::collections::BTreeMap;

use civictext::flow::engine::{ServiceRequest, Session};
use civictext::store::{
    Decision, InboundText, OutboxKind, OutboxText, SessionEnd, SessionWrite, StatusChange, Store,
    StoreError,
};
use common::postgres::TempPostgres;
use jiff::Timestamp;

const GATEWAY: &str = "+15025550100";

/// A store on a database of its own, removed when dropped.
struct Backend {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<TempPostgres>,
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("civictext.db").display());
        Backend {
            store: Store::connect(&url).await.expect("SQLite store"),
            _dir: Some(dir),
            _pg: None,
        }
    }

    async fn postgres() -> Backend {
        let db = TempPostgres::create().await;
        Backend {
            store: Store::connect(&db.url).await.expect("PostgreSQL store"),
            _dir: None,
            _pg: Some(db),
        }
    }

    /// Runs a query returning one BIGINT.
    async fn count(&self, sql: &str) -> i64 {
        match &self.store {
            Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
            Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// Declares each test once per backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! both_databases {
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

both_databases!(
    a_status_change_is_stored_with_its_note_and_history,
    a_status_change_queues_the_residents_follow_up_in_the_same_transaction,
    an_unknown_tracking_code_changes_nothing,
    a_malformed_status_word_is_refused,
    tracking_codes_are_found_whatever_their_case,
    a_dedupe_key_queues_one_row_only,
);

fn at(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

/// Files request `code` for `phone` the way a flow does: through an inbound text.
async fn file_request(b: &Backend, phone: &str, code: &str, when: Timestamp) {
    let state = Session {
        flow: "pothole".into(),
        version: "v1".into(),
        language: "en".into(),
        position: 4,
        attempts: 0,
        pending_location: None,
        answers: BTreeMap::new(),
        contact: BTreeMap::new(),
        tracking_code: Some(code.into()),
        started_at: when,
        updated_at: when,
        expires_at: None,
        remind_at: None,
        reminded: None,
    };
    let decision = Decision {
        session: Some(SessionWrite {
            state,
            ended: Some(SessionEnd::Completed),
            new: true,
        }),
        requests: vec![ServiceRequest {
            code: code.into(),
            service: "pothole".into(),
            description: Some("deep one".into()),
            location: Some("5th & Main".into()),
            photo: None,
        }],
        ..Decision::default()
    };
    let msg = InboundText {
        sid: format!("SM-{code}"),
        from: phone.into(),
        to: GATEWAY.into(),
        body: "YES".into(),
        media: Vec::new(),
        received_at: when,
        provider_command: None,
        erased_hash: None,
    };
    b.store
        .handle_inbound(&msg, move |_| decision.clone())
        .await
        .expect("request filed");
}

fn change(status: &str, note: Option<&str>, by: &str, when: &str) -> StatusChange {
    StatusChange {
        status: status.into(),
        note: note.map(Into::into),
        changed_by: by.into(),
        at: at(when),
    }
}

async fn a_status_change_is_stored_with_its_note_and_history(b: Backend) {
    let filed = at("2026-03-01T12:00:00Z");
    file_request(&b, "+15025550111", "PH4K7M2Q", filed).await;
    let before = b.store.service_request("PH4K7M2Q").await.unwrap().unwrap();
    assert_eq!(before.status, "open");
    assert_eq!(before.status_notes, None);
    assert_eq!(before.updated_at, None);
    assert_eq!(before.created_at, filed);
    assert_eq!(before.phone.as_deref(), Some("+15025550111"));

    let first = b
        .store
        .update_request_status(
            "PH4K7M2Q",
            &change(
                "in_progress",
                Some("Crew booked for Tuesday"),
                "dana",
                "2026-03-02T09:00:00Z",
            ),
            |_, _| None,
        )
        .await
        .unwrap()
        .expect("the request exists");
    assert_eq!(first.old_status, "open");
    assert_eq!(first.follow_up, None);
    // A change without a note keeps the resident's last note.
    b.store
        .update_request_status(
            "PH4K7M2Q",
            &change("closed", None, "lee", "2026-03-04T16:30:00.123456Z"),
            |_, _| None,
        )
        .await
        .unwrap()
        .expect("the request exists");
    let after = b.store.service_request("PH4K7M2Q").await.unwrap().unwrap();
    assert_eq!(after.status, "closed");
    assert_eq!(
        after.status_notes.as_deref(),
        Some("Crew booked for Tuesday")
    );
    assert_eq!(after.updated_at, Some(at("2026-03-04T16:30:00.123456Z")));
    let history = b.store.request_history("PH4K7M2Q").await.unwrap();
    let seen: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.old_status.as_str(),
                h.status.as_str(),
                h.note.as_deref(),
                h.changed_by.as_str(),
                h.changed_at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "open",
                "in_progress",
                Some("Crew booked for Tuesday"),
                "dana",
                at("2026-03-02T09:00:00Z")
            ),
            (
                "in_progress",
                "closed",
                None,
                "lee",
                at("2026-03-04T16:30:00.123456Z")
            ),
        ]
    );
}

async fn a_status_change_queues_the_residents_follow_up_in_the_same_transaction(b: Backend) {
    file_request(&b, "+15025550112", "PH4K7M2R", at("2026-03-01T12:00:00Z")).await;
    let updated = b
        .store
        .update_request_status(
            "PH4K7M2R",
            &change(
                "closed",
                Some("Filled today"),
                "dana",
                "2026-03-02T09:00:00Z",
            ),
            |r, _| {
                Some(OutboxText {
                    kind: OutboxKind::RequestUpdate,
                    body: format!(
                        "Request {}: {}. {}",
                        r.code,
                        r.status,
                        r.status_notes.clone()?
                    ),
                    segments: 1,
                    not_before: at("2026-03-02T09:00:00Z"),
                    dedupe_key: None,
                })
            },
        )
        .await
        .unwrap()
        .expect("the request exists");
    let id = updated.follow_up.expect("a follow-up was queued");
    assert_eq!(
        b.count(&format!(
            "SELECT COUNT(*) FROM outbox o JOIN contacts c ON c.id = o.contact_id
             JOIN service_requests r ON r.id = o.request_id
             WHERE o.id = {id} AND o.state = 'queued' AND o.kind = 'request_update'
               AND o.to_addr = '+15025550112' AND c.phone = '+15025550112'
               AND r.code = 'PH4K7M2R'
               AND o.body = 'Request PH4K7M2R: closed. Filled today'"
        ))
        .await,
        1
    );
}

async fn an_unknown_tracking_code_changes_nothing(b: Backend) {
    file_request(&b, "+15025550113", "PH4K7M2S", at("2026-03-01T12:00:00Z")).await;
    let mut asked = false;
    let none = b
        .store
        .update_request_status(
            "NOSUCH00",
            &change("closed", Some("x"), "dana", "2026-03-02T09:00:00Z"),
            |_, _| {
                asked = true;
                None
            },
        )
        .await
        .unwrap();
    assert!(none.is_none());
    assert!(
        !asked,
        "no follow-up is composed for a request that does not exist"
    );
    assert!(b.store.service_request("NOSUCH00").await.unwrap().is_none());
    assert_eq!(
        b.count("SELECT COUNT(*) FROM service_request_updates")
            .await,
        0
    );
    assert_eq!(b.count("SELECT COUNT(*) FROM outbox").await, 0);
}

async fn a_malformed_status_word_is_refused(b: Backend) {
    file_request(&b, "+15025550114", "PH4K7M2T", at("2026-03-01T12:00:00Z")).await;
    for bad in ["", "Closed", "in progress", "closed;--", &"x".repeat(33)] {
        let refused = b
            .store
            .update_request_status(
                "PH4K7M2T",
                &change(bad, None, "dana", "2026-03-02T09:00:00Z"),
                |_, _| None,
            )
            .await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{bad:?}");
    }
    let r = b.store.service_request("PH4K7M2T").await.unwrap().unwrap();
    assert_eq!(r.status, "open");
}

async fn tracking_codes_are_found_whatever_their_case(b: Backend) {
    file_request(&b, "+15025550115", "PH4K7M2V", at("2026-03-01T12:00:00Z")).await;
    let found = b.store.service_request("ph4k7m2v").await.unwrap();
    assert_eq!(found.map(|r| r.code), Some("PH4K7M2V".to_string()));
    let updated = b
        .store
        .update_request_status(
            "Ph4K7m2V",
            &change("closed", None, "dana", "2026-03-02T09:00:00Z"),
            |_, _| None,
        )
        .await
        .unwrap();
    assert!(updated.is_some());
}

async fn a_dedupe_key_queues_one_row_only(b: Backend) {
    file_request(&b, "+15025550116", "PH4K7M2W", at("2026-03-01T12:00:00Z")).await;
    let text = |_: &_, _: &str| {
        Some(OutboxText {
            kind: OutboxKind::RequestUpdate,
            body: "Closed".into(),
            segments: 1,
            not_before: at("2026-03-02T09:00:00Z"),
            dedupe_key: Some("request:PH4K7M2W:closed".into()),
        })
    };
    let first = b
        .store
        .update_request_status(
            "PH4K7M2W",
            &change("closed", None, "dana", "2026-03-02T09:00:00Z"),
            text,
        )
        .await
        .unwrap()
        .unwrap();
    let second = b
        .store
        .update_request_status(
            "PH4K7M2W",
            &change("closed", None, "dana", "2026-03-02T09:01:00Z"),
            text,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(first.follow_up.is_some());
    assert_eq!(second.follow_up, None);
    assert_eq!(b.count("SELECT COUNT(*) FROM outbox").await, 1);
    assert_eq!(
        b.count("SELECT COUNT(*) FROM service_request_updates")
            .await,
        2
    );
}
