//! The staff console in a real browser: headless Chromium runs .ci/browser/console.mjs against a
//! real gateway that residents have texted through signed webhooks. Screenshots of every page go
//! to target/console-screenshots/. Needs `bash .ci/browser.sh` (CI installs Chromium with it).

mod common;

use std::path::Path;
use std::process::Command;

use common::console::{PASSWORD, signed_in};
use common::{TestApp, joined, phone, spawn_app};

async fn residents_answer(app: &TestApp) {
    for (n, texts) in [
        (1, &["PARKS", "weekly", "4", "yes", "Great paths"][..]),
        (2, &["PARQUES", "2", "5", "no", "Limpio"][..]),
        (3, &["PARKS", "1"][..]),
    ] {
        for t in texts {
            app.say(&phone(n), t).await;
        }
    }
}

async fn report(app: &TestApp, from: &str) -> String {
    for t in ["POTHOLE", "Oak St and 3rd", "yes", "SKIP"] {
        app.say(from, t).await;
    }
    let done = joined(&app.say(from, "Deep hole by the curb").await);
    done.rsplit(' ')
        .next()
        .map(|c| c.trim_end_matches('.').to_string())
        .filter(|c| c.len() == 9)
        .unwrap_or_else(|| panic!("no code in {done:?}"))
}

#[tokio::test]
async fn staff_work_the_console_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join(".ci/browser/console.mjs");
    if !Path::new("/usr/bin/chromium").exists()
        || !root
            .join(".ci/browser/node_modules/playwright-core")
            .exists()
    {
        eprintln!(
            "NOT RUN: the browser test needs `bash .ci/browser.sh` (Chromium and playwright-core)"
        );
        return;
    }
    let app = spawn_app().await;
    residents_answer(&app).await;
    let resident = phone(9);
    let code = report(&app, &resident).await;
    // Accounts with passwords set through their one-time links.
    for (email, role) in [
        ("admin@city.gov", "admin"),
        ("analyst@city.gov", "analyst"),
        ("worker@city.gov", "caseworker"),
    ] {
        signed_in(&app, email, role).await;
    }
    let started: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM sessions WHERE flow_id = 'park-survey'",
            &[],
        )
        .await;
    let completed: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM sessions WHERE flow_id = 'park-survey' AND status = 'completed'",
            &[],
        )
        .await;
    let shots = root.join("target/console-screenshots");
    let who = |email: &str| serde_json::json!({ "email": email, "password": PASSWORD });
    let config = serde_json::json!({
        "base": app.url(""),
        "flow": "park-survey",
        "expected": { "started": started, "completed": completed },
        "admin": who("admin@city.gov"),
        "analyst": who("analyst@city.gov"),
        "worker": who("worker@city.gov"),
        "phones": [phone(1), phone(2), phone(3), resident.clone()],
        "code": code,
        "note": "Filled on Monday",
        "shots": shots,
    });
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("CONSOLE_TEST", config.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    println!("{out}");
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the browser checks failed:\n{out}");
    assert!(out.contains(" passed, 0 failed"));
    // The resident texting the code reads what the caseworker did in the browser.
    let reply = joined(&app.say(&resident, &code).await);
    assert!(
        reply.contains("closed") && reply.contains("Filled on Monday"),
        "{reply}"
    );
    for page in [
        "login",
        "dashboard",
        "flow-results",
        "requests",
        "request-closed-phone",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}
