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

/// The question the editor rewords in the browser, as residents then read it.
const REWORDED: &str = "How often do you visit Riverside Park? Reply with a number.";

/// What the browser does in the flow editor: on line 24 (`next: { never: why-not }`), two keys
/// left of the end, one Backspace makes `why-no`, a step that does not exist; typing `t` fixes
/// it; then line 18 (the first question in English) gets " Reply with a number.".
fn editing() -> serde_json::Value {
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/park-survey.yaml"),
    )
    .unwrap();
    let lines: Vec<&str> = fixture.lines().collect();
    assert_eq!(lines[23].trim(), "next: { never: why-not }");
    assert!(lines[17].ends_with("How often do you visit Riverside Park?"));
    let version = civictext::flow::compile("park-survey.yaml", &fixture)
        .flow
        .expect("the fixture compiles")
        .version;
    serde_json::json!({
        "flow": "park-survey",
        "version": version,
        "line": 24,
        "left": 2,
        "missing": "why-no",
        "fix": "t",
        "textLine": 18,
        "append": " Reply with a number.",
        "note": "Say how to answer",
    })
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
        ("editor@city.gov", "editor"),
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
    // Residents 1 and 2 signed up for texts at the library: the invitation's audience.
    let consenting = [phone(1), phone(2)];
    let store = civictext::store::Store::connect(&app.settings.database_url)
        .await
        .unwrap();
    common::consenting(&store, &consenting).await;
    store.close().await;
    let tomorrow_noon = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("America/Kentucky/Louisville").unwrap())
        .date()
        .tomorrow()
        .unwrap()
        .at(12, 0, 0, 0)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
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
        "editor": who("editor@city.gov"),
        "editing": editing(),
        "invite": { "recipients": consenting.len(), "at": tomorrow_noon },
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
    // A resident texting the keyword gets the question as the editor reworded it in the browser.
    let mut asked = String::new();
    for n in 100..300 {
        asked = joined(&app.say(&phone(n), "PARKS").await);
        if asked.contains(REWORDED) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(asked.contains(REWORDED), "{asked}");
    for page in [
        "login",
        "dashboard",
        "flow-results",
        "requests",
        "request-closed-phone",
        "flows",
        "flow-versions",
        "flow-source",
        "flow-diff",
        "flow-editor",
        "flow-editor-error",
        "invitation-new",
        "invitation-preview",
        "invitation-progress",
        "invitations",
        "invitation-preview-phone",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}
