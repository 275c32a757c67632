//! Two gateway replicas on one database, one resident texting a burst of answers to both at
//! once (Twilio retries included): every text must advance the conversation exactly once.
//!
//! The flow is a long questionnaire of free-text questions, so each accepted text answers the
//! next question. A double advance (two texts deciding on the same snapshot) would overwrite an
//! answer and leave a text unaccounted for; a lost update would leave a question unanswered.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use civictext::channel::twilio::signature;
use civictext::config::Settings;
use civictext::startup::Application;
use common::postgres::TempPostgres;
use tokio::sync::oneshot;

const TOKEN: &str = "race-token";
const PUBLIC_URL: &str = "https://sms.example.gov";
const PHONE: &str = "+15025550199";

/// A flow with `n` free-text questions in a row, started by `RACE`.
fn questionnaire(n: usize) -> String {
    let mut s = String::from("flow: race\nkeywords: [RACE]\nsteps:\n");
    for i in 1..=n {
        s.push_str(&format!(
            "  - ask: q{i}\n    type: text\n    text: Question {i}?\n"
        ));
    }
    s.push_str("  - say: Done.\n");
    s
}

struct Replica {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn replica(database_url: &str, flows: &std::path::Path) -> Replica {
    let settings = Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_string(),
        flows: flows.to_path_buf(),
        public_url: Some(PUBLIC_URL.into()),
        twilio_auth_token: Some(TOKEN.into()),
        reload_interval: 3600,
        // One resident's burst of 1,200 texts is handled in order, so the last ones wait for
        // all the others: this test is about exactly-once, not about Twilio's 15 s.
        webhook_deadline: 600,
        request_timeout: 660,
        ..Settings::default()
    };
    let app = Application::build(&settings)
        .await
        .expect("the replica starts");
    let addr = app.local_addr();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Replica {
        addr,
        stop: Some(stop),
        task,
    }
}

impl Replica {
    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

async fn post(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    sid: &str,
    body: &str,
) -> (u16, String) {
    let params = vec![
        ("MessageSid".to_string(), sid.to_string()),
        ("AccountSid".to_string(), "ACrace".to_string()),
        ("From".to_string(), PHONE.to_string()),
        ("To".to_string(), "+15025550000".to_string()),
        ("Body".to_string(), body.to_string()),
    ];
    let sig = signature::compute(TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio/sms"), &params);
    let response = client
        .post(format!("http://{addr}/webhooks/twilio/sms"))
        .header("X-Twilio-Signature", sig)
        .form(&params)
        .send()
        .await
        .expect("the replica answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Sends `texts` distinct answers (plus every fifth one again, as a Twilio retry) concurrently,
/// alternating between the replicas, and returns what the database holds.
async fn burst(database_url: &str, texts: usize) -> (BTreeMap<String, String>, Vec<(String, i64)>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("race.yaml"), questionnaire(texts)).unwrap();
    let a = replica(database_url, dir.path()).await;
    let b = replica(database_url, dir.path()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let (status, _) = post(&client, a.addr, "SMstart", "RACE").await;
    assert_eq!(status, 200);

    let client = Arc::new(client);
    let mut sends = Vec::new();
    for i in 0..texts {
        let sid = format!("SMrace{i:05}");
        let body = format!("answer {i}");
        sends.push((
            sid.clone(),
            body.clone(),
            if i % 2 == 0 { a.addr } else { b.addr },
        ));
        if i % 5 == 0 {
            sends.push((sid, body, if i % 2 == 0 { b.addr } else { a.addr }));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (sid, body, addr) in sends {
        let client = client.clone();
        tasks.spawn(async move { post(&client, addr, &sid, &body).await });
    }
    let mut failures = BTreeMap::new();
    while let Some(outcome) = tasks.join_next().await {
        let (status, body) = outcome.unwrap();
        if status != 200 {
            *failures.entry((status, body)).or_insert(0) += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "every delivery must be acknowledged: {failures:?}"
    );
    a.shutdown().await;
    b.shutdown().await;

    let store = civictext::store::Store::connect(database_url)
        .await
        .unwrap();
    let sessions = store.export("race").await.unwrap();
    assert_eq!(sessions.len(), 1, "one conversation");
    let answers = sessions[0]
        .answers
        .iter()
        .map(|(q, a)| (q.clone(), a.raw.clone()))
        .collect();
    (answers, inbound_sid_counts(database_url).await)
}

/// How often each inbound MessageSid of the resident is stored.
async fn inbound_sid_counts(database_url: &str) -> Vec<(String, i64)> {
    const SQL: &str =
        "SELECT m.sid, COUNT(*) FROM messages m JOIN contacts c ON c.id = m.contact_id
                       WHERE m.direction = 'in' AND c.phone = $1 GROUP BY m.sid";
    if database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        sqlx::query_as(SQL)
            .bind(PHONE)
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query_as(SQL)
            .bind(PHONE)
            .fetch_all(&pool)
            .await
            .unwrap()
    }
}

fn check(texts: usize, answers: BTreeMap<String, String>, sid_counts: Vec<(String, i64)>) {
    let questions: BTreeSet<String> = answers.keys().cloned().collect();
    let expected_questions: BTreeSet<String> = (1..=texts).map(|i| format!("q{i}")).collect();
    let raws: BTreeSet<String> = answers.values().cloned().collect();
    let expected_raws: BTreeSet<String> = (0..texts).map(|i| format!("answer {i}")).collect();
    let missing: Vec<_> = expected_raws.difference(&raws).take(5).collect();
    assert_eq!(
        questions, expected_questions,
        "every question answered once, none skipped"
    );
    assert!(
        missing.is_empty(),
        "texts whose answer was lost or overwritten: {missing:?}"
    );
    assert_eq!(sid_counts.len(), texts + 1, "each MessageSid stored once");
    assert!(
        sid_counts.iter().all(|(_, n)| *n == 1),
        "no MessageSid stored twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_texts_over_two_sqlite_replicas_each_advance_the_conversation_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("race.db").display());
    let (answers, counts) = burst(&url, 1000).await;
    check(1000, answers, counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_texts_over_two_postgres_replicas_each_advance_the_conversation_once()
{
    let db = TempPostgres::create().await;
    let (answers, counts) = burst(&db.url, 1000).await;
    check(1000, answers, counts);
}
