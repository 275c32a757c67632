//! A running gateway's outbox worker sends a broadcast through Twilio's published OpenAPI
//! contract, served by Prism (tests/common/prism.rs). Prism, started with `--errors`, checks every
//! request against the contract: one that breaks it is refused with a 422, which the gateway
//! records as a `failed` row. It answers each accepted message with the contract's own example,
//! which carries the same `MessageSid` every time. A recorder between the gateway and Prism keeps
//! every request and answer. `CIVICTEXT_TEST_BACKEND=postgres` runs it on PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use civictext::store::{Audience, NewBroadcast, Store};
use common::prism::Prism;
use common::{ACCOUNT_SID, TestApp, spawn_app_with};
use jiff::Timestamp;

const FROM: &str = "+15025550000";
/// Residents the broadcast goes to. Prism validates every request against a 1.8 MB contract; it
/// answered 160-220 messages a second here with many in flight.
const RESIDENTS: u32 = 2_000;
/// The `sid` of the example message in Twilio's contract, which Prism returns for every message.
const EXAMPLE_SID: &str = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// One request the gateway made to "Twilio", and Prism's answer.
#[derive(Debug, Clone)]
struct Exchange {
    method: Method,
    to: Option<String>,
    status: u16,
    sid: Option<String>,
}

#[derive(Clone)]
struct Recorder {
    upstream: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Vec<Exchange>>>,
}

/// Passes a request to Prism unchanged and keeps it with the answer.
async fn relay(
    State(r): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let to = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.into_owned());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = r
        .client
        .request(method.clone(), format!("{}{path}", r.upstream))
        .body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v);
        }
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status().as_u16();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let sid = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("sid")?.as_str().map(str::to_owned));
    r.seen.lock().unwrap().push(Exchange {
        method,
        to,
        status,
        sid,
    });
    let mut response = (StatusCode::from_u16(status).unwrap(), bytes).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert("content-type", ct);
    }
    response
}

/// Starts the recorder on loopback in front of `upstream`; returns its base URL.
async fn recorder(upstream: String) -> (String, Arc<Mutex<Vec<Exchange>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Recorder {
        upstream,
        // A fresh connection per request: a pooled one Prism has just closed would fail a
        // request the recorder then never passed on.
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        seen: seen.clone(),
    };
    let app = axum::Router::new().fallback(relay).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

/// What Prism logged about the messages it was sent, beyond each request's arrival: refusals
/// and contract violations.
fn problems(prism: &Prism) -> String {
    let log = prism.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("ℹ  info") && !l.contains("▶  start"))
        .collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn resident(n: u32) -> String {
    format!("+1502{n:07}")
}

/// Waits until no text of broadcast `id` is still queued, being sent, or in doubt.
async fn settled(app: &TestApp, id: i64, timeout: Duration) -> bool {
    app.eventually(timeout, || async {
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state IN ('queued', 'sending', 'in_doubt')"),
        )
        .await
            == 0
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broadcast_through_twilios_published_contract_reaches_every_consenting_resident_once() {
    let prism = Prism::start();
    let (base, seen) = recorder(prism.base()).await;
    let app = spawn_app_with(move |s| {
        s.twilio_account_sid = Some(ACCOUNT_SID.into());
        s.twilio_from = Some(FROM.into());
        s.twilio_api_base = base;
        // Well below what Prism answers, so no request waits out the sender's 30 s timeout in
        // Prism's queue on a loaded machine (a text in doubt could not be reconciled here: the
        // contract's own example list breaks the contract, and Prism refuses to serve it).
        s.outbound_mps = 50.0;
        s.quiet_hours = "off".into();
    })
    .await;
    let store = Store::connect(&app.settings.database_url)
        .await
        .expect("the gateway's database");
    let phones: Vec<String> = (0..RESIDENTS).map(resident).collect();
    common::consenting(&store, &phones).await;
    let (id, queued) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![(
                "en".into(),
                "Library hours change Monday: 9am to 8pm. Reply STOP to opt out.".into(),
            )],
            audience_label: "everyone".into(),
            audience: Audience::Everyone,
            topic: None,
            invitation: None,
            send_at: Timestamp::now(),
            created_by: "test".into(),
            now: Timestamp::now(),
        })
        .await
        .expect("broadcast queued");
    assert_eq!(queued, i64::from(RESIDENTS));
    assert!(
        settled(&app, id, Duration::from_secs(300)).await,
        "the broadcast finished: {:?}\n{}",
        store.broadcast_progress(id).await,
        problems(&prism)
    );

    let seen = seen.lock().unwrap().clone();
    let posts: Vec<&Exchange> = seen.iter().filter(|e| e.method == Method::POST).collect();
    // Prism refuses a request that breaks the contract (4xx) and reports an answer of its own
    // that breaks it (5xx): every message was accepted, so none of that happened.
    let mut statuses = BTreeMap::new();
    for e in &posts {
        *statuses.entry(e.status).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        BTreeMap::from([(201, RESIDENTS as usize)]),
        "{}",
        problems(&prism)
    );
    let mut per_number: HashMap<&str, usize> = HashMap::new();
    for e in &posts {
        *per_number
            .entry(e.to.as_deref().expect("every message has a To"))
            .or_default() += 1;
    }
    assert_eq!(
        per_number.keys().copied().collect::<BTreeSet<_>>(),
        phones.iter().map(String::as_str).collect(),
        "every consenting resident was texted"
    );
    assert!(
        per_number.values().all(|n| *n == 1),
        "nobody was texted twice"
    );
    // What Prism gives back: the contract's example message, one sid for all of them.
    let sids: BTreeSet<&str> = posts.iter().filter_map(|e| e.sid.as_deref()).collect();
    assert_eq!(sids, BTreeSet::from([EXAMPLE_SID]));

    // Every row is recorded as sent with the sid Twilio gave it, at the first attempt.
    let db = app.db();
    let states: Vec<(String, i64)> = db
        .rows(
            &format!("SELECT state, COUNT(*) FROM outbox WHERE broadcast_id = {id} GROUP BY state"),
            &[],
        )
        .await;
    assert_eq!(states, [("sent".to_string(), i64::from(RESIDENTS))]);
    assert_eq!(
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND sid = '{EXAMPLE_SID}' AND attempts = 1")
        )
        .await,
        i64::from(RESIDENTS)
    );
    // Each text keeps its own outbound message, on its resident's history, though the sid
    // repeats: the first holds the sid (delivery statuses for it land there), the others
    // are kept without one rather than folded into it.
    assert_eq!(
        app.count(
            "messages m JOIN outbox o ON o.message_id = m.id",
            &format!(
                "o.broadcast_id = {id} AND m.contact_id = o.contact_id AND m.direction = 'out'"
            )
        )
        .await,
        i64::from(RESIDENTS)
    );
    assert_eq!(
        app.count("messages", &format!("sid = '{EXAMPLE_SID}'"))
            .await,
        1
    );
    let progress = store.broadcast_progress(id).await.unwrap().unwrap();
    assert_eq!(
        (progress.recipients, progress.sent, progress.failed),
        (i64::from(RESIDENTS), i64::from(RESIDENTS), 0)
    );
}
