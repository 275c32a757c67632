//! `civictext bench outbox`: how fast the outbox worker claims rows and hands them to a sender,
//! against a loopback stub of Twilio's Messages API whose own ceiling (the same sender client
//! posting as fast as it can, no database) is measured in the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::routing::post;
use jiff::Timestamp;
use tokio::task::JoinSet;

use crate::channel::twilio::sender::{SendFrom, TwilioSender};
use crate::config::Settings;
use crate::store::{Audience, ImportedConsent, NewBroadcast, Store};

const ACCOUNT: &str = "AC00000000000000000000000000000000";
const FROM: &str = "+15025550000";
const BODY: &str = "Youth planning meeting Tuesday 6pm at the library. Reply STOP to opt out.";

/// Texts handed to the stub at once when its ceiling is measured: as many as one worker keeps
/// in flight.
const CONCURRENCY: usize = 256;

/// A stub of Twilio's Messages API on loopback: every message is accepted with a fresh sid.
pub struct Stub {
    pub base: String,
    pub accepted: Arc<AtomicU64>,
}

impl Stub {
    /// Starts the stub on a free loopback port.
    pub async fn start() -> anyhow::Result<Stub> {
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let app = Router::new().route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(move || {
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(serde_json::json!({
                            "sid": format!("SM{n:032x}"),
                            "status": "queued",
                            "num_segments": "1",
                        })),
                    )
                }
            })
            .get(|| async { axum::Json(serde_json::json!({ "messages": [] })) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Stub { base, accepted })
    }
}

/// What one measurement found.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub texts: u64,
    pub seconds: f64,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        self.texts as f64 / self.seconds
    }
}

/// The stub's ceiling: `n` messages posted by the sender client, [`CONCURRENCY`] at a time.
pub async fn stub_ceiling(stub: &Stub, n: u64) -> anyhow::Result<Rate> {
    let sender = Arc::new(TwilioSender::new(&stub.base, ACCOUNT, "bench-token")?);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (sender, next) = (sender.clone(), next.clone());
        tasks.spawn(async move {
            let from = SendFrom::Number(FROM.into());
            while next.fetch_add(1, Ordering::Relaxed) < n {
                sender.send_from(&from, "+15025550100", BODY, None).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(Rate {
        texts: n,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The outbox: `n` consenting residents and a broadcast to them queued in `database_url`, then
/// the gateway's own outbox worker (no pacing limit, no quiet hours) sends it to the stub. The
/// time runs from the worker's start until every row is recorded as sent.
pub async fn outbox(stub: &Stub, database_url: &str, n: u64) -> anyhow::Result<Rate> {
    let store = Store::connect(database_url)
        .await
        .context("cannot open the database")?;
    let given_at: Timestamp = "2026-05-01T15:00:00Z".parse()?;
    let pseudonyms = crate::privacy::Pseudonyms::new("bench-key");
    let consents: Vec<ImportedConsent> = (0..n)
        .map(|i| {
            let phone = format!("+1502{:07}", i);
            ImportedConsent {
                erased_hash: pseudonyms.erased_number(&phone),
                phone,
                source: "import:bench".into(),
                given_at,
                topic: None,
            }
        })
        .collect();
    for chunk in consents.chunks(5_000) {
        store.import_consents(chunk, Timestamp::now()).await?;
    }
    let (id, queued) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), BODY.into())],
            audience_label: "bench".into(),
            audience: Audience::Everyone,
            topic: None,
            invitation: None,
            send_at: Timestamp::now(),
            created_by: "bench".into(),
            now: Timestamp::now(),
        })
        .await?;
    anyhow::ensure!(
        u64::try_from(queued)? == n,
        "queued {queued} texts for {n} residents"
    );
    let settings = Settings {
        database_url: database_url.to_string(),
        twilio_account_sid: Some(ACCOUNT.into()),
        twilio_auth_token: Some("bench-token".into()),
        twilio_from: Some(FROM.into()),
        twilio_api_base: stub.base.clone(),
        // Pacing is not what is measured: the rate any sender may use is far above this run's.
        outbound_mps: 1e9,
        quiet_hours: "off".into(),
        ..Settings::default()
    };
    let started = Instant::now();
    let worker = crate::outbound::start(&settings, &store, jiff::tz::TimeZone::UTC)?
        .context("the outbox worker did not start")?;
    let deadline = started + Duration::from_secs(600);
    loop {
        let p = store
            .broadcast_progress(id)
            .await?
            .context("the broadcast disappeared")?;
        if p.queued + p.sending + p.in_doubt == 0 {
            anyhow::ensure!(
                u64::try_from(p.sent)? == n,
                "{} of {n} texts sent ({} failed, {} skipped)",
                p.sent,
                p.failed,
                p.skipped
            );
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the outbox did not drain in 600 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    worker.stop().await;
    store.close().await;
    Ok(Rate { texts: n, seconds })
}
