//! Residents' privacy on a real gateway and database: `civictext contacts forget` leaves no
//! trace of the number (no table on either database, no byte of the SQLite file), keeps only
//! anonymous answers and the opt-out; `contacts show` prints what is held; the retention job
//! blanks old message bodies and keeps the answers.

mod common;

use std::path::Path;
use std::time::Duration;

use civictext::store::Store;
use common::{Backend, TestApp, backend, fixture_flows, spawn_app_on};

const RESIDENT: &str = "+15025550123";
/// The same number in the other forms it could be written in.
const FORMS: [&str; 3] = ["+15025550123", "15025550123", "5025550123"];
const NEIGHBOUR: &str = "+15025550188";

/// The fixture flows, with the park survey's visit and rating questions marked anonymous.
fn flows_with_anonymous_questions(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["park-survey.yaml", "pothole-report.yaml"] {
        let text = std::fs::read_to_string(fixture_flows().join(name)).unwrap();
        let text = text
            .replace(
                "  - ask: visits\n",
                "  - ask: visits\n    anonymous: true\n",
            )
            .replace(
                "  - ask: rating\n",
                "  - ask: rating\n    anonymous: true\n",
            );
        std::fs::write(dir.join(name), text).unwrap();
    }
}

async fn app(tweak: impl FnOnce(&mut civictext::config::Settings)) -> (TestApp, tempfile::TempDir) {
    let flows = tempfile::tempdir().unwrap();
    flows_with_anonymous_questions(flows.path());
    (spawn_app_on(flows.path(), tweak).await, flows)
}

/// A resident who takes the survey (writing their own number in the comment), files a
/// pothole report, then opts out.
async fn full_history(app: &TestApp, phone: &str) {
    let digits = &phone[2..];
    let comment = format!(
        "call me back on {}-{}-{} or {digits}",
        &digits[..3],
        &digits[3..6],
        &digits[6..]
    );
    for text in ["PARKS", "1", "4", "yes", comment.as_str()] {
        app.say(phone, text).await;
    }
    for text in [
        "POTHOLE",
        "5th and Main",
        "yes",
        "SKIP",
        "deep one, by my house",
    ] {
        app.say(phone, text).await;
    }
}

/// Every (table, column) whose text holds one of [`FORMS`]: every text-like column of every
/// table, whatever the other features have added.
async fn tables_holding_the_number(app: &TestApp) -> Vec<String> {
    let db = app.db();
    let columns: Vec<(String, String)> = match backend() {
        Backend::Postgres => {
            db.rows(
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT)
                 FROM information_schema.columns
                 WHERE table_schema = 'public'
                   AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'character')",
                &[],
            )
            .await
        }
        Backend::Sqlite => {
            let tables: Vec<String> = db
                .scalars(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite_%'",
                    &[],
                )
                .await;
            let mut all = Vec::new();
            for t in tables {
                let names: Vec<String> = db
                    .scalars(&format!("SELECT name FROM pragma_table_info('{t}')"), &[])
                    .await;
                all.extend(names.into_iter().map(|c| (t.clone(), c)));
            }
            all
        }
    };
    assert!(columns.len() > 40, "every table's columns are searched");
    let mut found = Vec::new();
    for (table, column) in columns {
        for form in FORMS {
            let n: i64 = db
                .scalar(
                    &format!(
                        "SELECT COUNT(*) FROM {table}
                         WHERE strpos(CAST({column} AS TEXT), $1) > 0"
                    )
                    .replace(
                        "strpos(CAST",
                        if backend() == Backend::Sqlite {
                            "instr(CAST"
                        } else {
                            "strpos(CAST"
                        },
                    ),
                    &[form],
                )
                .await;
            if n > 0 {
                found.push(format!("{table}.{column} ({form})"));
            }
        }
    }
    found
}

async fn neighbours_answers(app: &TestApp) -> i64 {
    app.count(
        "answers a JOIN contacts c ON c.id = a.contact_id",
        &format!("c.phone = '{NEIGHBOUR}' AND a.raw <> ''"),
    )
    .await
}

fn file_holds(path: &Path, needle: &str) -> bool {
    match std::fs::read(path) {
        Ok(bytes) => bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
        Err(_) => false,
    }
}

#[tokio::test]
async fn forgetting_a_resident_leaves_their_number_in_no_table_and_no_byte_of_the_file() {
    let (app, _flows) = app(|_| {}).await;
    full_history(&app, RESIDENT).await;
    app.say(RESIDENT, "STOP").await;
    full_history(&app, NEIGHBOUR).await;
    assert!(
        !tables_holding_the_number(&app).await.is_empty(),
        "the number is stored before it is forgotten"
    );

    let neighbour_before = neighbours_answers(&app).await;
    assert!(neighbour_before >= 7);
    let said = app.civictext(&["contacts", "forget", RESIDENT]);
    assert!(said.contains("Forgot +15025550123"), "{said}");
    assert!(said.contains("Kept 2 anonymous answers"), "{said}");
    assert!(said.contains("opt-out list"), "{said}");

    assert_eq!(tables_holding_the_number(&app).await, Vec::<String>::new());
    if backend() == Backend::Sqlite {
        let file = app.dir.path().join("civictext.db");
        for form in FORMS {
            assert!(!file_holds(&file, form), "the database file holds {form}");
            assert!(
                !file_holds(&app.dir.path().join("civictext.db-wal"), form),
                "the log holds {form}"
            );
        }
        assert!(file_holds(&file, NEIGHBOUR), "the scan can find a number");
    }

    // The neighbour's answers are all there; of the resident's, only the anonymous values.
    let kept: Vec<(String, String, String)> = app
        .db()
        .rows(
            "SELECT a.question, a.value, a.raw FROM answers a
             JOIN contacts c ON c.id = a.contact_id
             WHERE c.phone <> $1 ORDER BY a.question",
            &[NEIGHBOUR],
        )
        .await;
    assert_eq!(
        kept,
        vec![
            ("rating".to_string(), "4".to_string(), String::new()),
            ("visits".to_string(), "weekly".to_string(), String::new()),
        ]
    );
    assert_eq!(neighbours_answers(&app).await, neighbour_before);
    assert_eq!(app.count("service_requests", "TRUE").await, 1);
}

#[tokio::test]
async fn a_forgotten_resident_who_said_stop_is_never_texted_and_stop_still_works() {
    let (app, _flows) = app(|_| {}).await;
    full_history(&app, RESIDENT).await;
    app.say(RESIDENT, "STOP").await;
    app.civictext(&["contacts", "forget", RESIDENT]);

    // Texting a keyword gets nothing: they are still opted out, though their number was gone.
    assert_eq!(app.say(RESIDENT, "PARKS").await, Vec::<String>::new());
    assert_eq!(
        app.count(
            "sessions s JOIN contacts c ON c.id = s.contact_id",
            &format!("c.phone = '{RESIDENT}'")
        )
        .await,
        0
    );
    let opted_out: Vec<String> = app
        .db()
        .scalars(
            "SELECT CAST(opted_out AS TEXT) FROM contacts WHERE phone = $1",
            &[RESIDENT],
        )
        .await;
    assert!(
        matches!(opted_out.as_slice(), [v] if v == "1" || v == "true"),
        "{opted_out:?}"
    );
    // STOP is honoured: recorded (no second confirmation to a number already opted out).
    assert_eq!(app.say(RESIDENT, "STOP").await, Vec::<String>::new());
    assert_eq!(
        app.count(
            "consent_events e JOIN contacts c ON c.id = e.contact_id",
            &format!("c.phone = '{RESIDENT}' AND e.kind = 'opt_out'")
        )
        .await,
        1
    );
    // START brings them back.
    let start = app.say(RESIDENT, "START").await;
    assert_eq!(start.len(), 1, "{start:?}");
    assert!(!app.say(RESIDENT, "PARKS").await.is_empty());

    // A resident forgotten while opted in is a stranger afterwards, and may start a survey.
    full_history(&app, NEIGHBOUR).await;
    app.civictext(&["contacts", "forget", NEIGHBOUR]);
    assert!(!app.say(NEIGHBOUR, "PARKS").await.is_empty());
}

#[tokio::test]
async fn contacts_show_prints_everything_held_about_one_resident() {
    let (app, _flows) = app(|_| {}).await;
    full_history(&app, RESIDENT).await;
    full_history(&app, NEIGHBOUR).await;

    let text = app.civictext(&["contacts", "show", "+1 (502) 555-0123"]);
    for expected in [
        "Resident +15025550123",
        "park-survey",
        "comments: call me back",
        "pothole-report",
        "deep one, by my house",
        "Messages (",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains(NEIGHBOUR));

    let doc: serde_json::Value =
        serde_json::from_str(&app.civictext(&["contacts", "show", RESIDENT, "--json"])).unwrap();
    let contact = &doc["contact"];
    assert_eq!(contact["phone"], RESIDENT);
    assert_eq!(contact["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(contact["service_requests"].as_array().unwrap().len(), 1);
    let sent: usize = contact["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .count();
    assert_eq!(sent, 10, "every text they sent");
    let answers: Vec<&str> = contact["sessions"][0]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["question"].as_str().unwrap())
        .collect();
    assert_eq!(answers, ["visits", "rating", "dogs", "comments"]);

    app.civictext(&["contacts", "forget", RESIDENT]);
    let after: serde_json::Value =
        serde_json::from_str(&app.civictext(&["contacts", "show", RESIDENT, "--json"])).unwrap();
    assert_eq!(after["held"], false);
    assert!(
        app.civictext(&["contacts", "show", RESIDENT])
            .contains("Nothing is held")
    );
}

/// Moves every stored time of `phone`'s messages and answers back by `days`.
async fn age(app: &TestApp, phone: &str, days: i64) {
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string();
    let (messages, answers) = match backend() {
        Backend::Sqlite => (
            "UPDATE messages SET created_at = $1
             WHERE contact_id = (SELECT id FROM contacts WHERE phone = $2)",
            "UPDATE answers SET answered_at = $1
             WHERE contact_id = (SELECT id FROM contacts WHERE phone = $2)",
        ),
        Backend::Postgres => (
            "UPDATE messages SET created_at = CAST($1 AS TIMESTAMPTZ)
             WHERE contact_id = (SELECT id FROM contacts WHERE phone = $2)",
            "UPDATE answers SET answered_at = CAST($1 AS TIMESTAMPTZ)
             WHERE contact_id = (SELECT id FROM contacts WHERE phone = $2)",
        ),
    };
    for sql in [messages, answers] {
        let _: Vec<(i64,)> = app
            .db()
            .rows(&format!("{sql} RETURNING id"), &[&old, phone])
            .await;
    }
}

async fn bodies(app: &TestApp, phone: &str) -> Vec<String> {
    app.db()
        .scalars(
            "SELECT m.body FROM messages m JOIN contacts c ON c.id = m.contact_id
             WHERE c.phone = $1 ORDER BY m.id",
            &[phone],
        )
        .await
}

#[tokio::test]
async fn the_retention_job_blanks_old_message_bodies_and_keeps_answers() {
    let (mut app, _flows) = app(|_| {}).await;
    full_history(&app, RESIDENT).await;
    full_history(&app, NEIGHBOUR).await;
    age(&app, RESIDENT, 40).await;
    age(&app, NEIGHBOUR, 10).await;

    app.settings.retention_days = Some(30);
    app.restart().await;
    let redacted = app
        .eventually(Duration::from_secs(20), || async {
            bodies(&app, RESIDENT).await.iter().all(|b| b.is_empty())
        })
        .await;
    assert!(redacted, "old bodies: {:?}", bodies(&app, RESIDENT).await);
    assert!(
        bodies(&app, NEIGHBOUR).await.iter().all(|b| !b.is_empty()),
        "texts within the retention stay"
    );
    let answers: Vec<(String, String, String)> = app
        .db()
        .rows(
            "SELECT a.question, a.value, a.raw FROM answers a
             JOIN contacts c ON c.id = a.contact_id WHERE c.phone = $1 AND a.flow_id = 'park-survey'
             ORDER BY a.question",
            &[RESIDENT],
        )
        .await;
    assert_eq!(
        answers
            .iter()
            .map(|(q, v, r)| (q.as_str(), v.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [
            ("comments", "call me back on 502-555-0123 or 5025550123", ""),
            ("dogs", "yes", ""),
            ("rating", "4", ""),
            ("visits", "weekly", ""),
        ]
    );
    assert_eq!(app.count("sessions", "TRUE").await, 4, "sessions stay");
    assert_eq!(app.count("service_requests", "TRUE").await, 2);
}

#[tokio::test]
async fn redaction_takes_the_time_it_is_given_and_a_second_run_changes_nothing() {
    let (app, _flows) = app(|_| {}).await;
    full_history(&app, RESIDENT).await;
    let store = Store::connect(&app.settings.database_url).await.unwrap();
    let now = jiff::Timestamp::now();
    let before = store
        .redact_before(now - jiff::SignedDuration::from_hours(1), now)
        .await
        .unwrap();
    assert_eq!(before.total(), 0, "nothing is an hour old yet");

    let raw_held = app.count("answers", "raw <> ''").await;
    let later = now + jiff::SignedDuration::from_hours(24 * 31);
    let done = store
        .redact_before(civictext::privacy::retention::cutoff(later, 30), later)
        .await
        .unwrap();
    assert_eq!(done.messages as i64, app.count("messages", "TRUE").await);
    assert_eq!(done.answers as i64, raw_held);
    assert!(bodies(&app, RESIDENT).await.iter().all(|b| b.is_empty()));
    let again = store
        .redact_before(civictext::privacy::retention::cutoff(later, 30), later)
        .await
        .unwrap();
    assert_eq!(again.total(), 0);
    store.close().await;
}
