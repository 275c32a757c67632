//! Gateway replicas — real `civictext serve` processes — sharing one database send one
//! broadcast to a local Twilio stub: together at the configured rate, and without anyone getting
//! a text twice when one of them is SIGKILLed mid-broadcast and restarted.
//! `CIVICTEXT_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use civictext::store::{Audience, NewBroadcast, Store};
use common::twilio_stub::TwilioStub;
use common::{TestApp, spawn_app_with};
use jiff::Timestamp;

const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const FROM: &str = "+15025550000";

/// A `civictext serve` process; killed (SIGKILL) when dropped.
struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn start(app: &TestApp, stub: &TwilioStub, mps: f64, log: &str) -> Replica {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(app.dir.path().join(log)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_civictext"))
            .arg("serve")
            .current_dir(app.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &app.settings.database_url)
            .env("CIVICTEXT_FLOWS", app.flows_dir())
            .env("CIVICTEXT_BIND", format!("127.0.0.1:{port}"))
            .env("CIVICTEXT_PUBLIC_URL", common::PUBLIC_URL)
            .env("CIVICTEXT_TIME_ZONE", "America/Kentucky/Louisville")
            .env("CIVICTEXT_QUIET_HOURS", "off")
            .env("CIVICTEXT_OUTBOUND_MPS", mps.to_string())
            .env("TWILIO_AUTH_TOKEN", common::TEST_TOKEN)
            .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
            .env("TWILIO_FROM", FROM)
            .env("TWILIO_API_BASE", stub.base())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("civictext serve starts");
        Replica { child, port }
    }

    /// Waits until the replica answers `/healthz`.
    async fn ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client
                .get(format!("http://127.0.0.1:{}/healthz", self.port))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replica on port {} did not start", self.port);
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn resident(n: u32) -> String {
    format!("+1502{n:07}")
}

/// A database with `n` consenting residents, and a gateway on it that does not send (no Twilio
/// account): the replicas started by the test are the only senders.
async fn with_residents(n: u32) -> (TestApp, Store, Vec<String>) {
    let app = spawn_app_with(|_| {}).await;
    let store = Store::connect(&app.settings.database_url).await.unwrap();
    let phones: Vec<String> = (0..n).map(resident).collect();
    common::consenting(&store, &phones).await;
    (app, store, phones)
}

async fn queue(store: &Store, text: &str) -> i64 {
    let (id, _) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), text.into())],
            audience_label: "everyone".into(),
            audience: Audience::Everyone,
            topic: None,
            invitation: None,
            send_at: Timestamp::now(),
            created_by: "test".into(),
            now: Timestamp::now(),
        })
        .await
        .unwrap();
    id
}

async fn unfinished(app: &TestApp, id: i64) -> i64 {
    app.count(
        "outbox",
        &format!("broadcast_id = {id} AND state IN ('queued', 'sending', 'in_doubt')"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_together_send_at_the_configured_rate() {
    const MPS: f64 = 20.0;
    const TEXTS: u32 = 200;
    let stub = TwilioStub::start().await;
    let (app, store, phones) = with_residents(TEXTS).await;
    let a = Replica::start(&app, &stub, MPS, "a.log");
    let b = Replica::start(&app, &stub, MPS, "b.log");
    a.ready().await;
    b.ready().await;
    let id = queue(&store, "Youth planning meeting Tuesday 6pm.").await;
    assert!(
        app.eventually(Duration::from_secs(60), || async {
            unfinished(&app, id).await == 0
        })
        .await,
        "the broadcast finished"
    );

    let accepted = stub.accepted();
    assert_eq!(accepted.len(), phones.len(), "each resident once");
    let distinct: HashSet<&str> = accepted.iter().map(|a| a.to.as_str()).collect();
    assert_eq!(distinct.len(), phones.len());
    // Both replicas sent part of it.
    let senders: Vec<String> = app
        .db()
        .scalars(
            &format!("SELECT DISTINCT claimed_by FROM outbox WHERE broadcast_id = {id}"),
            &[],
        )
        .await;
    assert_eq!(senders.len(), 2, "both replicas sent: {senders:?}");

    // The rate over the whole broadcast, measured where Twilio would see it: from the first
    // text to the last.
    let first = accepted.iter().map(|a| a.at).min().unwrap();
    let last = accepted.iter().map(|a| a.at).max().unwrap();
    let seconds = last.duration_since(first).as_secs_f64();
    let rate = f64::from(TEXTS - 1) / seconds;
    println!(
        "two replicas sent {TEXTS} texts in {seconds:.2} s: {rate:.2} per second (outbound_mps {MPS})"
    );
    assert!(
        (rate - MPS).abs() <= MPS * 0.10,
        "combined rate {rate:.2}/s is not within 10% of {MPS}/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_broadcast_and_restarted_sends_no_resident_a_text_twice() {
    const TEXTS: u32 = 120;
    let stub = TwilioStub::start().await;
    // Twilio takes each message at once but answers late: a replica killed meanwhile has texts
    // Twilio took without it knowing their sid.
    stub.set_reply_delay(Duration::from_millis(1500));
    let (app, store, phones) = with_residents(TEXTS).await;
    let mut victim = Replica::start(&app, &stub, 40.0, "victim.log");
    victim.ready().await;
    let id = queue(&store, "Road work on Main St next week.").await;

    // Kill it once Twilio has taken some texts, while others are queued or on their way.
    assert!(
        app.eventually(Duration::from_secs(30), || async {
            stub.accepted().len() >= 80
        })
        .await
    );
    victim.kill();
    let sending_at_kill = app
        .count(
            "outbox",
            &format!("broadcast_id = {id} AND state = 'sending'"),
        )
        .await;
    let recorded_at_kill = app
        .count("outbox", &format!("broadcast_id = {id} AND state = 'sent'"))
        .await;
    let taken_at_kill = stub.accepted().len();
    println!(
        "killed with {taken_at_kill} texts taken by Twilio, {recorded_at_kill} recorded as sent, \
         {sending_at_kill} mid-send"
    );
    assert!(
        sending_at_kill > 0,
        "the replica was killed while it was sending"
    );
    assert!(
        i64::try_from(taken_at_kill).unwrap() > recorded_at_kill,
        "Twilio had texts the replica never recorded"
    );

    // Restarted, it finishes the broadcast: texts that were in flight are in doubt until their
    // lease runs out, then reconciled against Twilio's list instead of being sent again.
    let restarted = Replica::start(&app, &stub, 40.0, "restarted.log");
    restarted.ready().await;
    assert!(
        app.eventually(Duration::from_secs(150), || async {
            unfinished(&app, id).await == 0
        })
        .await,
        "every text was settled; still unfinished: {}",
        unfinished(&app, id).await
    );

    let per_number = stub.per_number();
    let twice: Vec<_> = per_number.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "texted twice: {twice:?}");
    assert_eq!(per_number.len(), phones.len(), "everyone got it");
    // Every row ends sent with the sid Twilio gave (or failed with a reason): nothing lost.
    assert_eq!(
        app.count(
            "outbox",
            &format!(
                "broadcast_id = {id} AND NOT (state = 'sent' AND sid IS NOT NULL) \
                 AND NOT (state = 'failed' AND error IS NOT NULL)"
            )
        )
        .await,
        0
    );
    let recorded: HashSet<String> = app
        .db()
        .scalars(
            &format!("SELECT sid FROM outbox WHERE broadcast_id = {id} AND state = 'sent'"),
            &[],
        )
        .await
        .into_iter()
        .collect();
    let taken: HashSet<String> = stub.accepted().into_iter().map(|a| a.sid).collect();
    assert_eq!(
        recorded, taken,
        "each row holds the sid of the one text Twilio took"
    );
}
