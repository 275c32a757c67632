//! Prometheus metrics: the names the gateway reports, where `GET /metrics` is served, and the
//! scrape itself.
//!
//! Counters and histograms are recorded where things happen (the webhook, the writers, the
//! reloader, the sender) through the `metrics` facade. Gauges that describe the database (active
//! sessions, outbox depth and age, pool connections) are read from it at scrape time, so every
//! replica reports the same figures for what they share.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use jiff::Timestamp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::Store;

/// Inbound texts, by `route` (what the gateway did: `keyword`, `session`, `opt_out`, …) and
/// `outcome` (`answered`, `duplicate`, `rejected`, `unavailable`).
pub const INBOUND_TEXTS: &str = "civictext_inbound_texts_total";
/// Seconds from receiving a webhook to answering it.
pub const REPLY_SECONDS: &str = "civictext_webhook_reply_seconds";
/// Opt-outs recorded, by `source` (`resident`, `provider`, `send_refused`).
pub const OPT_OUTS: &str = "civictext_opt_outs_total";
/// Conversations waiting for a resident's answer and not yet expired.
pub const ACTIVE_SESSIONS: &str = "civictext_active_sessions";
/// Texts stored per database transaction by the group-committing writers.
pub const GROUP_COMMIT_TEXTS: &str = "civictext_group_commit_texts";
/// Database pool connections, by `state` (`open`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "civictext_db_pool_connections";
/// Flows being served.
pub const FLOWS_LOADED: &str = "civictext_flows_loaded";
/// Flow files that could not be loaded, at the last reload.
pub const FLOW_FILES_BROKEN: &str = "civictext_flow_files_broken";
/// Reloads of the flows directory that found a broken file or could not read it.
pub const FLOW_RELOAD_ERRORS: &str = "civictext_flow_reload_errors_total";
/// Outbox rows not yet sent (queued or waiting for a retry).
pub const OUTBOX_DEPTH: &str = "civictext_outbox_depth";
/// Age in seconds of the oldest row still waiting to be sent.
pub const OUTBOX_OLDEST_SECONDS: &str = "civictext_outbox_oldest_seconds";
/// Outbound texts Twilio accepted.
pub const OUTBOUND_SENT: &str = "civictext_outbound_sent_total";
/// Outbound sends that failed, by Twilio `code` (`none` for a transport failure).
pub const OUTBOUND_SEND_ERRORS: &str = "civictext_outbound_send_errors_total";
/// Seconds a scrape may spend reading the database before it reports what it has.
const SCRAPE_DB_BUDGET: Duration = Duration::from_secs(2);

/// The process's Prometheus recorder, installed on first use. Every gateway in a process (one
/// in production, several in tests) reports through it.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(REPLY_SECONDS.into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
                    ],
                )
                .expect("the reply buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Full(GROUP_COMMIT_TEXTS.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                )
                .expect("the batch buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder already installed (an embedding program's) keeps its place;
            // this handle then reports only what is set here directly.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(INBOUND_TEXTS, "Inbound texts by route and outcome");
    describe_histogram!(
        REPLY_SECONDS,
        Unit::Seconds,
        "Time from receiving a webhook to answering it"
    );
    describe_counter!(OPT_OUTS, "Opt-outs recorded, by source");
    describe_gauge!(ACTIVE_SESSIONS, "Conversations waiting for an answer");
    describe_histogram!(
        GROUP_COMMIT_TEXTS,
        "Texts stored per database transaction (group commit)"
    );
    describe_gauge!(DB_POOL_CONNECTIONS, "Database pool connections by state");
    describe_gauge!(FLOWS_LOADED, "Flows being served");
    describe_gauge!(FLOW_FILES_BROKEN, "Flow files that failed to load");
    describe_counter!(
        FLOW_RELOAD_ERRORS,
        "Reloads that found a broken flow file or an unreadable directory"
    );
    describe_gauge!(OUTBOX_DEPTH, "Outbound texts waiting to be sent");
    describe_gauge!(
        OUTBOX_OLDEST_SECONDS,
        Unit::Seconds,
        "Age of the oldest outbound text waiting"
    );
    describe_counter!(OUTBOUND_SENT, "Outbound texts accepted by Twilio");
    describe_counter!(OUTBOUND_SEND_ERRORS, "Outbound sends that failed, by code");
}

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the gateway's own listener, which only this machine can reach.
    MainListener,
    /// On a listener of its own, at `metrics_bind`.
    OwnListener(SocketAddr),
    /// Nowhere: the gateway listens beyond loopback and no `metrics_bind` is set.
    Off,
}

/// Decides where metrics are served: on their own address when one is configured, else on the
/// gateway's listener only while that is loopback — a gateway facing the internet never
/// publishes its metrics there by default.
pub fn placement(bind: SocketAddr, metrics_bind: Option<SocketAddr>) -> Placement {
    match metrics_bind {
        Some(addr) => Placement::OwnListener(addr),
        None if bind.ip().is_loopback() => Placement::MainListener,
        None => Placement::Off,
    }
}

/// Records one answered (or refused) webhook.
pub fn record_inbound(route: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(INBOUND_TEXTS, "route" => route, "outcome" => outcome).increment(1);
    metrics::histogram!(REPLY_SECONDS).record(elapsed.as_secs_f64());
}

/// Records an opt-out from `source`.
pub fn record_opt_out(source: &'static str) {
    metrics::counter!(OPT_OUTS, "source" => source).increment(1);
}

/// Records the size of one group commit.
pub fn record_group_commit(texts: usize) {
    metrics::histogram!(GROUP_COMMIT_TEXTS).record(texts as f64);
}

/// Records the outcome of loading the flows directory.
pub fn record_flows(loaded: usize, broken: usize) {
    metrics::gauge!(FLOWS_LOADED).set(loaded as f64);
    metrics::gauge!(FLOW_FILES_BROKEN).set(broken as f64);
}

/// Records a reload that found a problem.
pub fn record_reload_error() {
    metrics::counter!(FLOW_RELOAD_ERRORS).increment(1);
}

/// Records one send to Twilio: `Ok` when accepted, else Twilio's error code if it gave one.
pub fn record_send(result: Result<(), Option<u32>>) {
    match result {
        Ok(()) => metrics::counter!(OUTBOUND_SENT).increment(1),
        Err(code) => {
            let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
            metrics::counter!(OUTBOUND_SEND_ERRORS, "code" => code).increment(1);
        }
    }
}

/// `GET /metrics`: reads the database gauges, then renders every metric in Prometheus' text
/// format. A database that does not answer in time leaves those gauges as last read; the
/// counters are still served, so a scrape never hangs on an outage it should be reporting.
pub async fn scrape(State(store): State<Store>) -> impl IntoResponse {
    let handle = handle();
    let now = Timestamp::now();
    let (open, idle) = store.pool_connections();
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "open").set(open as f64);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
    match tokio::time::timeout(SCRAPE_DB_BUDGET, store.operational_gauges(now)).await {
        Ok(Ok(g)) => {
            metrics::gauge!(ACTIVE_SESSIONS).set(g.active_sessions as f64);
            metrics::gauge!(OUTBOX_DEPTH).set(g.outbox_depth as f64);
            metrics::gauge!(OUTBOX_OLDEST_SECONDS).set(g.outbox_oldest_seconds);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: the database gauges could not be read"),
        Err(_) => tracing::warn!("metrics: the database gauges took too long to read"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

/// The router serving `GET /metrics` alone.
pub fn router(store: Store) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metrics_stay_on_a_loopback_listener_and_never_on_a_public_one_by_default() {
        assert_eq!(
            placement(addr("127.0.0.1:8080"), None),
            Placement::MainListener
        );
        assert_eq!(placement(addr("[::1]:8080"), None), Placement::MainListener);
        assert_eq!(placement(addr("0.0.0.0:8080"), None), Placement::Off);
        assert_eq!(placement(addr("10.0.0.5:8080"), None), Placement::Off);
        assert_eq!(
            placement(addr("0.0.0.0:8080"), Some(addr("127.0.0.1:9464"))),
            Placement::OwnListener(addr("127.0.0.1:9464"))
        );
        assert_eq!(
            placement(addr("127.0.0.1:8080"), Some(addr("10.0.0.5:9464"))),
            Placement::OwnListener(addr("10.0.0.5:9464"))
        );
    }
}
