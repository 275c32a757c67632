//! What a newcomer does from the README: run `civictext serve` with no token on loopback, post
//! one text with curl, and see the survey's first question come back.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first question of the flow `keyword` starts, as the shipped flow file words it.
fn first_question(flows: &Path, keyword: &str) -> String {
    let (catalog, _) = civictext::flows_dir::load(flows).unwrap();
    let (flow, lang) = catalog
        .by_keyword(keyword)
        .unwrap_or_else(|| panic!("no shipped flow starts with {keyword}"));
    let lang = lang.unwrap_or(flow.default_language());
    let q = flow.questions().next().expect("the flow asks something");
    q.text.get(lang).render(|_| None)
}

#[tokio::test]
async fn the_readme_quick_start_answers_plan_with_the_surveys_first_question() {
    let dir = tempfile::tempdir().unwrap();
    let flows = common::shipped_flows();
    let port = free_port();
    let db = dir.path().join("civictext.db");
    let log = dir.path().join("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_civictext"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CIVICTEXT_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("CIVICTEXT_FLOWS", &flows)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("civictext serve starts");
    let mut server = KillOnDrop(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "civictext serve exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(resp) = client.get(format!("{base}/healthz")).send().await
            && resp.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never answered:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // curl -s -X POST http://127.0.0.1:8080/webhooks/twilio/sms -d From=%2B15025550123 \
    //   -d To=%2B15025550000 -d MessageSid=SM0001 -d Body=PLAN
    let resp = client
        .post(format!("{base}/webhooks/twilio/sms"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("From=%2B15025550123&To=%2B15025550000&MessageSid=SM0001&Body=PLAN")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let twiml = resp.text().await.unwrap();
    let question = first_question(&flows, "PLAN");
    let replies = common::messages(&twiml);
    assert!(
        replies.iter().any(|m| m.contains(&question)),
        "expected {question:?} in {twiml}"
    );
    assert!(db.exists(), "the database file was created");
}
