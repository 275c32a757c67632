//! The deployed shape, run natively: nginx (the shipped deploy/nginx.conf) in front of two
//! `civictext serve` replicas sharing one PostgreSQL database, driven by residents texting
//! concurrently with signed webhooks. Needs /usr/sbin/nginx (without it each test says it did not
//! run, or fails under `CI=true`; `.ci/nginx.sh` installs it) and
//! PostgreSQL at `CIVICTEXT_TEST_POSTGRES` (default postgres://postgres@127.0.0.1:5432/postgres).

#[path = "topology/cluster.rs"]
mod cluster;
#[path = "topology/database.rs"]
mod database;
#[path = "topology/processes.rs"]
mod processes;
#[path = "topology/residents.rs"]
mod residents;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster::Topology;
use residents::{Ledger, deliver, message_sid, phone, survey_script};

const RESIDENTS: u32 = 20;

/// Drives every resident through the survey at once; `before_step` runs before each text.
async fn drive<F, Fut>(
    client: reqwest::Client,
    url: String,
    run: u32,
    ledger: &Arc<Ledger>,
    before_step: F,
) where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    for resident in 0..RESIDENTS {
        let client = client.clone();
        let url = url.clone();
        let ledger = ledger.clone();
        let before_step = before_step.clone();
        tasks.spawn(async move {
            let from = phone(resident);
            for (step, (text, _)) in survey_script(resident).iter().enumerate() {
                before_step(step).await;
                let sid = message_sid(run, resident, step);
                deliver(&client, &url, &ledger, &from, &sid, text).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a resident's texts were all delivered");
    }
}

/// Every text acknowledged is stored once, with exactly the replies the resident got, and every
/// resident has one completed survey with each answer stored once.
async fn check_database(topology: &Topology, run: u32, ledger: &Ledger) {
    let db = topology.db.reader().await;
    let acknowledged = ledger.acknowledged.lock().unwrap().clone();
    let sent: BTreeSet<String> = (0..RESIDENTS)
        .flat_map(|r| (0..survey_script(r).len()).map(move |s| message_sid(run, r, s)))
        .collect();
    assert_eq!(
        acknowledged.keys().cloned().collect::<BTreeSet<_>>(),
        sent,
        "every text was eventually acknowledged"
    );

    let stored = db.inbound_counts().await;
    for sid in &sent {
        assert_eq!(stored.get(sid), Some(&1), "{sid} is stored exactly once");
    }
    assert_eq!(
        stored.len(),
        sent.len(),
        "no inbound text is stored that was not sent"
    );

    let replies = db.replies().await;
    for (sid, got) in &acknowledged {
        assert_eq!(
            replies.get(sid).unwrap_or(&Vec::new()),
            got,
            "the replies stored for {sid} are the ones the resident received, once each"
        );
    }

    for resident in 0..RESIDENTS {
        let phone = phone(resident);
        assert_eq!(
            db.sessions(&phone).await,
            [("youth-survey".to_string(), "completed".to_string())],
            "{phone} has one completed survey"
        );
        let mut expected: Vec<(String, String)> = survey_script(resident)
            .into_iter()
            .filter_map(|(_, answer)| answer.map(|(q, v)| (q.to_string(), v)))
            .collect();
        expected.sort();
        assert_eq!(
            db.answers(&phone).await,
            expected,
            "{phone}'s answers are stored once each"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_residents_texting_at_once_through_nginx_and_two_replicas_each_complete_the_survey_once()
 {
    let Some(mut topology) = Topology::start("twenty_residents_texting_at_once_through_nginx_and_two_replicas_each_complete_the_survey_once").await else {
        return;
    };
    let ledger = Arc::new(Ledger::default());
    drive(
        topology.client.clone(),
        topology.webhook_url(),
        1,
        &ledger,
        |_| async {},
    )
    .await;

    // Twilio redelivers a webhook it got no answer for: the same MessageSid is answered exactly
    // as the first time and changes nothing, whichever replica gets it.
    let again = Arc::new(Ledger::default());
    for resident in 0..RESIDENTS {
        let (text, _) = &survey_script(resident)[3];
        let sid = message_sid(1, resident, 3);
        let url = topology.webhook_url();
        deliver(&topology.client, &url, &again, &phone(resident), &sid, text).await;
        assert_eq!(
            again.acknowledged.lock().unwrap()[&sid],
            ledger.acknowledged.lock().unwrap()[&sid],
            "a redelivered {sid} gets the same reply"
        );
    }
    check_database(&topology, 1, &ledger).await;

    // Each replica's metrics are there for the operator's Prometheus, on the replica itself;
    // the proxy facing the internet never serves them.
    for r in &topology.replicas {
        let direct = topology
            .client
            .get(format!("http://{}/metrics", r.address()))
            .send()
            .await
            .expect("the replica answers");
        assert_eq!(
            direct.status(),
            200,
            "{} serves /metrics on loopback",
            r.name
        );
        let body = direct.text().await.unwrap();
        assert!(body.contains("civictext_inbound_texts_total"), "{body}");
    }
    let proxied = topology
        .client
        .get(format!("http://127.0.0.1:{}/metrics", topology.nginx_port))
        .send()
        .await
        .expect("nginx answers");
    assert_eq!(proxied.status(), 404, "nginx does not forward /metrics");

    let served_by: BTreeSet<String> = topology
        .access_log()
        .iter()
        .filter(|l| l.contains("/webhooks/twilio/sms"))
        .filter_map(|l| l.split("upstream=").nth(1))
        .filter_map(|u| u.split_whitespace().next().map(str::to_owned))
        .collect();
    for r in &topology.replicas {
        assert!(
            served_by.contains(&r.address()),
            "{} served webhooks (served by: {served_by:?})",
            r.name
        );
    }

    for r in &mut topology.replicas {
        let status = r.terminate(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} stops cleanly on SIGTERM (got {status:?})",
            r.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_load_loses_no_acknowledged_text_and_stores_none_twice() {
    let Some(mut topology) = Topology::start(
        "a_replica_killed_mid_load_loses_no_acknowledged_text_and_stores_none_twice",
    )
    .await
    else {
        return;
    };
    let ledger = Arc::new(Ledger::default());
    let total = RESIDENTS as usize * survey_script(0).len();
    // The last two texts of every resident wait until the killed replica is back, so that it
    // demonstrably serves again after its restart.
    let (restarted_tx, restarted_rx) = tokio::sync::watch::channel(false);
    let gate = move |step: usize| {
        let mut rx = restarted_rx.clone();
        async move {
            if step >= 6 {
                rx.wait_for(|back| *back)
                    .await
                    .expect("the gate stays open");
            }
        }
    };

    let client = topology.client.clone();
    let access_log = topology.access_log_path();
    let readyz = format!("http://127.0.0.1:{}/readyz", topology.nginx_port);
    let driving = drive(client.clone(), topology.webhook_url(), 2, &ledger, gate);
    let victim = &mut topology.replicas[0];
    let victim_address = victim.address();
    let served_by_victim = format!("upstream={victim_address} upstream_status=200");
    let chaos = async {
        while ledger.acknowledged_count.load(Ordering::SeqCst) < total / 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at_kill = ledger.acknowledged_count.load(Ordering::SeqCst);
        victim.kill();
        victim.restart(&client).await;
        // nginx keeps a failed upstream out of rotation for fail_timeout; wait until it sends
        // requests to the restarted replica again.
        let mut log_mark = cluster::lines(&access_log).len();
        for _ in 0..100 {
            let _ = client.get(&readyz).send().await;
            let lines = cluster::lines(&access_log);
            if lines[log_mark..]
                .iter()
                .any(|l| l.contains(&served_by_victim))
            {
                break;
            }
            log_mark = lines.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log_mark = cluster::lines(&access_log).len();
        restarted_tx.send(true).expect("residents are waiting");
        (at_kill, log_mark)
    };
    let ((at_kill, log_mark), ()) = tokio::join!(chaos, driving);
    let passed_on = topology
        .access_log()
        .iter()
        .filter(|l| l.contains("/webhooks/twilio/sms") && l.contains(", "))
        .count();
    eprintln!(
        "killed {victim_address} after {at_kill} of {total} texts were acknowledged; \
         nginx passed {passed_on} on to the other replica, {} were delivered again",
        ledger.redeliveries.load(Ordering::Relaxed)
    );
    assert!(
        at_kill < total,
        "the replica was killed while texts were still coming"
    );

    check_database(&topology, 2, &ledger).await;

    let after_restart = topology.access_log()[log_mark..]
        .iter()
        .filter(|l| l.contains("/webhooks/twilio/sms") && l.contains(&served_by_victim))
        .count();
    assert!(
        after_restart > 0,
        "the restarted replica served webhooks again:\n{}",
        topology.access_log()[log_mark.saturating_sub(30)..].join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_no_acknowledged_text_and_stores_none_twice() {
    let Some(mut topology) = Topology::start(
        "a_rolling_restart_under_load_loses_no_acknowledged_text_and_stores_none_twice",
    )
    .await
    else {
        return;
    };
    let ledger = Arc::new(Ledger::default());
    let total = RESIDENTS as usize * survey_script(0).len();
    // Residents hold their last texts until both replicas have been restarted, so the restarts
    // happen while texts are still coming.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let gate = move |step: usize| {
        let mut rx = done_rx.clone();
        async move {
            if step >= 6 {
                rx.wait_for(|done| *done)
                    .await
                    .expect("the gate stays open");
            }
        }
    };
    let client = topology.client.clone();
    let driving = drive(client.clone(), topology.webhook_url(), 3, &ledger, gate);
    let replicas = &mut topology.replicas;
    let rolling = async {
        let mut restarted_at = Vec::new();
        for (i, replica) in replicas.iter_mut().enumerate() {
            while ledger.acknowledged_count.load(Ordering::SeqCst) < total * (i + 1) / 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            restarted_at.push(ledger.acknowledged_count.load(Ordering::SeqCst));
            let status = replica.terminate(Duration::from_secs(20));
            assert!(
                status.is_some_and(|s| s.success()),
                "{} stops cleanly on SIGTERM under load (got {status:?})",
                replica.address()
            );
            replica.restart(&client).await;
        }
        done_tx.send(true).expect("residents are waiting");
        restarted_at
    };
    let (restarted_at, ()) = tokio::join!(rolling, driving);
    eprintln!("replicas restarted one after the other after {restarted_at:?} of {total} texts");
    assert!(
        restarted_at.iter().all(|&n| n < total),
        "restarts happened under load"
    );
    check_database(&topology, 3, &ledger).await;
}
