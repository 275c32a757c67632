//! `GET /metrics` as an operator's Prometheus sees it: what the gateway did with texts, how fast,
//! what the database holds, and whether the flows loaded — and never on a public listener unless
//! an address is given for it.
//!
//! The recorder is one per process, so the scenarios here take turns (`SERIAL`) and compare
//! figures before and after what they do.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use civictext::startup::Application;
use civictext::store::{Audience, NewBroadcast, Store};
use common::twilio_stub::{Behaviour, TwilioStub};
use common::*;
use jiff::Timestamp;
use reqwest::StatusCode;
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

/// One scrape: every sample by metric name and its labels (sorted), as Prometheus reads them.
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(body: &str) -> Scrape {
        let mut samples = BTreeMap::new();
        for line in body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let key = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => series.to_string(),
            };
            samples.insert(key, value.parse().expect("a sample's value is a number"));
        }
        Scrape(samples)
    }

    /// The sample `series` (labels in any order), 0 when absent.
    fn get(&self, series: &str) -> f64 {
        Scrape::parse(&format!("{series} 0"))
            .0
            .into_keys()
            .next()
            .and_then(|k| self.0.get(&k).copied())
            .unwrap_or(0.0)
    }

    fn has(&self, name: &str) -> bool {
        self.0
            .keys()
            .any(|k| k == name || k.starts_with(&format!("{name}{{")))
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Scrape {
    let response = client.get(url).send().await.expect("the scrape answers");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "Prometheus' text format: {content_type}"
    );
    Scrape::parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn an_operator_sees_texts_by_route_and_outcome_latency_opt_outs_and_sessions() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let url = app.url("/metrics");
    let before = scrape(&app.client, &url).await;

    let resident = phone(4101);
    app.say(&resident, "PARKS").await;
    assert_eq!(
        scrape(&app.client, &url)
            .await
            .get("civictext_active_sessions"),
        1.0,
        "one conversation waits for an answer"
    );
    app.say(&resident, "Weekly").await;
    let sid = new_sid();
    app.text_with_sid(&resident, "4", &sid).await;
    app.text_with_sid(&resident, "4", &sid).await;
    app.say(&resident, "stop texting me").await;
    let forged = sms_params(&phone(4102), "PARKS", &new_sid());
    let (status, _) = app
        .post_form(SMS_PATH, &forged, Some("bad-signature"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let after = scrape(&app.client, &url).await;
    let delta = |series: &str| after.get(series) - before.get(series);
    let texts = |route: &str, outcome: &str| {
        delta(&format!(
            "civictext_inbound_texts_total{{route=\"{route}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(texts("keyword", "answered"), 1.0);
    assert_eq!(texts("session", "answered"), 2.0);
    assert_eq!(
        texts("duplicate", "duplicate"),
        1.0,
        "Twilio's retry of the same text"
    );
    assert_eq!(texts("opt_out", "answered"), 1.0);
    assert_eq!(texts("none", "rejected"), 1.0, "the forged webhook");
    assert_eq!(delta("civictext_opt_outs_total{source=\"resident\"}"), 1.0);
    assert_eq!(delta("civictext_webhook_reply_seconds_count"), 6.0);
    assert!(delta("civictext_webhook_reply_seconds_sum") > 0.0);
    assert!(
        after.get("civictext_webhook_reply_seconds_bucket{le=\"15\"}") >= 6.0,
        "every reply within Twilio's 15 s"
    );
    assert!(
        delta("civictext_group_commit_texts_count") >= 1.0,
        "stored texts are counted per commit: {after:?}"
    );
    assert_eq!(
        after.get("civictext_active_sessions"),
        0.0,
        "the opt-out ended it"
    );
    assert_eq!(
        after.get("civictext_flows_loaded"),
        3.0,
        "the fixture flows"
    );
    assert_eq!(after.get("civictext_flow_files_broken"), 0.0);
    assert!(after.get("civictext_db_pool_connections{state=\"open\"}") >= 1.0);
    assert!(after.has("civictext_outbox_depth"));
    assert!(after.has("civictext_outbox_oldest_seconds"));
}

#[tokio::test]
async fn a_broken_flow_file_shows_in_the_reload_figures() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let url = app.url("/metrics");
    let before = scrape(&app.client, &url).await;
    std::fs::write(
        app.flows_dir().join("broken.yaml"),
        "flow: broken\nsteps: [\n",
    )
    .unwrap();
    let mut after = scrape(&app.client, &url).await;
    for _ in 0..100 {
        if after.get("civictext_flow_files_broken") == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scrape(&app.client, &url).await;
    }
    assert_eq!(after.get("civictext_flow_files_broken"), 1.0);
    assert_eq!(
        after.get("civictext_flows_loaded"),
        3.0,
        "the others still load"
    );
    assert!(
        after.get("civictext_flow_reload_errors_total")
            > before.get("civictext_flow_reload_errors_total")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_sees_texts_the_gateway_sent_and_twilios_refusals_by_error_code() {
    let _turn = SERIAL.lock().await;
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(stub.sending(50.0, "off")).await;
    let url = app.url("/metrics");
    let before = scrape(&app.client, &url).await;

    let store = Store::connect(&app.settings.database_url)
        .await
        .expect("the gateway's database");
    let phones: Vec<String> = (4201..4204).map(phone).collect();
    common::consenting(&store, &phones).await;
    // Twilio refuses one: the resident had replied STOP to the number before (21610).
    stub.set(&phones[2], Behaviour::OptedOut);
    let (id, queued) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), "Pool opens Saturday.".into())],
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
    assert_eq!(queued, 3);
    let done = app
        .eventually(Duration::from_secs(30), || async {
            app.count(
                "outbox",
                &format!("broadcast_id = {id} AND state IN ('sent', 'failed')"),
            )
            .await
                == 3
        })
        .await;
    assert!(done, "the broadcast finished");

    let after = scrape(&app.client, &url).await;
    let delta = |series: &str| after.get(series) - before.get(series);
    assert_eq!(delta("civictext_outbound_sent_total"), 2.0);
    assert_eq!(
        delta("civictext_outbound_send_errors_total{code=\"21610\"}"),
        1.0
    );
    assert_eq!(
        delta("civictext_opt_outs_total{source=\"send_refused\"}"),
        1.0,
        "Twilio's refusal is an opt-out"
    );
}

/// A gateway built from the test harness' settings with a different listener.
async fn serve(
    bind: SocketAddr,
    metrics_bind: Option<SocketAddr>,
) -> (SocketAddr, Option<SocketAddr>, TestApp) {
    // The harness app supplies a database and flows; a second gateway shares them.
    let base = spawn_app().await;
    let mut settings = base.settings.clone();
    settings.bind = bind;
    settings.metrics_bind = metrics_bind;
    let app = Application::build(&settings)
        .await
        .expect("the gateway builds");
    let main = app.local_addr();
    let metrics = app.metrics_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    (main, metrics, base)
}

#[tokio::test]
async fn metrics_are_not_served_on_a_public_listener_unless_an_address_is_given_for_them() {
    let _turn = SERIAL.lock().await;
    let client = reqwest::Client::new();
    let local = |addr: SocketAddr| format!("http://127.0.0.1:{}", addr.port());

    // Listening on every interface: /metrics is not there.
    let (main, metrics, _base) = serve("0.0.0.0:0".parse().unwrap(), None).await;
    assert_eq!(metrics, None);
    let r = client
        .get(format!("{}/metrics", local(main)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client
        .get(format!("{}/healthz", local(main)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the gateway itself is up");

    // With metrics_bind, they are served there, and still not on the public listener.
    let (main, metrics, _base) = serve(
        "0.0.0.0:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .await;
    let metrics = metrics.expect("a listener for metrics");
    let r = client
        .get(format!("{}/metrics", local(main)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let scraped = scrape(&client, &format!("http://{metrics}/metrics")).await;
    assert!(scraped.has("civictext_active_sessions"), "{scraped:?}");
}

#[test]
fn the_grafana_dashboard_charts_only_metrics_the_gateway_reports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).expect("deploy/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let known = [
        civictext::telemetry::INBOUND_TEXTS,
        civictext::telemetry::REPLY_SECONDS,
        civictext::telemetry::OPT_OUTS,
        civictext::telemetry::ACTIVE_SESSIONS,
        civictext::telemetry::GROUP_COMMIT_TEXTS,
        civictext::telemetry::DB_POOL_CONNECTIONS,
        civictext::telemetry::FLOWS_LOADED,
        civictext::telemetry::FLOW_FILES_BROKEN,
        civictext::telemetry::FLOW_RELOAD_ERRORS,
        civictext::telemetry::OUTBOX_DEPTH,
        civictext::telemetry::OUTBOX_OLDEST_SECONDS,
        civictext::telemetry::OUTBOUND_SENT,
        civictext::telemetry::OUTBOUND_SEND_ERRORS,
    ];
    let mut charted = std::collections::BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(
        panels.len() >= 8,
        "a panel for each thing an operator watches"
    );
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .expect("each target is a PromQL expression");
            let metrics: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("civictext_"))
                .collect();
            assert!(!metrics.is_empty(), "{expr}");
            for m in metrics {
                let base = m
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_count")
                    .trim_end_matches("_sum");
                assert!(
                    known.contains(&base),
                    "{m} in {expr} is not a gateway metric"
                );
                charted.insert(base);
            }
        }
    }
    for m in known {
        assert!(charted.contains(m), "{m} is on no panel");
    }
}
