//! Publishing a flow version from the database: every replica serves it within seconds, a
//! conversation under way finishes on its own version, a version with errors never goes live,
//! and the history says where each version came from.

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use civictext::startup::Application;
use common::*;

const QUESTION: &str = "How often do you visit Riverside Park?";
const EDITED: &str = "How often do you go to Riverside Park?";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The park survey with its first question reworded, written beside the test's files.
fn edited_survey(app: &TestApp, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixture_flows().join("park-survey.yaml")).unwrap();
    assert!(text.contains(from));
    let path = app.dir.path().join("park-survey-edit.yaml");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

/// A second replica on the same database and flows.
async fn second_replica(app: &TestApp) -> SocketAddr {
    let mut settings = app.settings.clone();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    let replica = Application::build(&settings)
        .await
        .expect("the replica builds");
    let addr = replica.local_addr();
    tokio::spawn(replica.run_until(std::future::pending()));
    addr
}

/// The first question a new resident gets from PARKS at the gateway at `addr`.
async fn first_question(app: &TestApp, addr: SocketAddr, n: u32) -> String {
    let params = sms_params(&phone(n), "PARKS", &new_sid());
    let sig = civictext::channel::twilio::signature::compute(
        TEST_TOKEN,
        &format!("{PUBLIC_URL}{SMS_PATH}"),
        &params,
    );
    let response = app
        .client
        .post(format!("http://{addr}{SMS_PATH}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(encode_form(&params))
        .send()
        .await
        .expect("the replica answers");
    joined(&messages(&response.text().await.unwrap()))
}

#[tokio::test]
async fn a_published_version_is_served_by_every_replica_within_seconds() {
    let app = spawn_app().await;
    let other = second_replica(&app).await;
    assert!(first_question(&app, app.addr, 1).await.contains(QUESTION));
    // A resident part-way through keeps the version they started on.
    let midway = phone(900);
    app.say(&midway, "PARKS").await;

    let file = edited_survey(&app, QUESTION, EDITED);
    let out = app.civictext_output(&[
        "flows",
        "publish",
        file.to_str().unwrap(),
        "--by",
        "clerk@city.gov",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("published park-survey version"),
        "{}",
        stdout(&out)
    );

    let mut n = 10;
    for addr in [app.addr, other] {
        let mut served = false;
        for _ in 0..100 {
            n += 1;
            if first_question(&app, addr, n).await.contains(EDITED) {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served, "the replica at {addr} serves the published version");
    }
    let next = app.say(&midway, "weekly").await;
    assert_eq!(
        next,
        ["From 1 to 5, how clean is the park?"],
        "the conversation under way goes on"
    );
    let versions: Vec<String> = app
        .db()
        .scalars(
            "SELECT DISTINCT flow_version FROM sessions WHERE flow_id = 'park-survey'",
            &[],
        )
        .await;
    assert_eq!(
        versions.len(),
        2,
        "old and new sessions on their own versions"
    );
    // The directory's file is left as it was: the database says what is served.
    let on_disk = std::fs::read_to_string(app.flows_dir().join("park-survey.yaml")).unwrap();
    assert!(on_disk.contains(QUESTION));
}

#[tokio::test]
async fn a_version_with_an_error_is_not_published_and_the_error_names_its_line() {
    let app = spawn_app().await;
    let file = edited_survey(&app, "    type: yes_no\n", "    type: yes_or_no\n");
    let before: i64 = app.count("flow_publications", "1 = 1").await;
    let out = app.civictext_output(&["flows", "publish", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .position(|l| l.contains("yes_or_no"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("park-survey-edit.yaml:{line}:")),
        "the error points at line {line}: {text}"
    );
    assert!(text.contains("yes_no"), "the hint lists the types: {text}");
    assert!(text.contains("not published"), "{text}");
    assert_eq!(app.count("flow_publications", "1 = 1").await, before);
    assert!(
        app.say(&phone(2), "PARKS")
            .await
            .join("\n")
            .contains(QUESTION)
    );
}

#[tokio::test]
async fn a_keyword_another_published_flow_answers_to_is_refused() {
    let app = spawn_app().await;
    // The park survey taking POTHOLE, which the pothole report answers to.
    let file = edited_survey(&app, "en: [PARKS]", "en: [PARKS, POTHOLE]");
    let out = app.civictext_output(&["flows", "publish", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("POTHOLE"), "{}", stdout(&out));
}

#[tokio::test]
async fn the_history_says_where_each_version_came_from_and_diff_shows_the_change() {
    let app = spawn_app().await;
    let file = edited_survey(&app, QUESTION, EDITED);
    let published = app.civictext_output(&[
        "flows",
        "publish",
        file.to_str().unwrap(),
        "--by",
        "clerk@city.gov",
        "--note",
        "friendlier wording",
    ]);
    assert!(published.status.success());
    let again = app.civictext_output(&["flows", "publish", file.to_str().unwrap()]);
    assert!(stdout(&again).contains("already the published version"));

    let history = stdout(&app.civictext_output(&["flows", "history", "park-survey"]));
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(
        rows[0].contains(" file ") && rows[0].contains("park-survey.yaml"),
        "{history}"
    );
    assert!(
        rows[1].contains(" publish ")
            && rows[1].contains("clerk@city.gov — friendlier wording")
            && rows[1].ends_with("(served)"),
        "{history}"
    );
    let first_version = rows[0].split_whitespace().nth(3).unwrap();
    let diff = stdout(&app.civictext_output(&["flows", "diff", "park-survey", first_version]));
    assert!(diff.contains(&format!("-      en: {QUESTION}")), "{diff}");
    assert!(diff.contains(&format!("+      en: {EDITED}")), "{diff}");
}

#[tokio::test]
async fn an_edited_file_is_published_again_and_a_removed_one_stops_being_served() {
    let app = spawn_app().await;
    let file = edited_survey(&app, QUESTION, EDITED);
    assert!(
        app.civictext_output(&["flows", "publish", file.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        app.eventually(Duration::from_secs(10), || async {
            app.say(&phone(3), "PARKS")
                .await
                .join("\n")
                .contains(EDITED)
        })
        .await
    );

    // A clerk edits the file on the server: the file's version goes live, over the publish.
    let path = app.flows_dir().join("park-survey.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(QUESTION, "How many times a month do you visit?"),
    )
    .unwrap();
    assert!(
        app.eventually(Duration::from_secs(10), || async {
            app.say(&phone(4), "PARKS")
                .await
                .join("\n")
                .contains("How many times a month")
        })
        .await
    );

    // Removing the quick poll's file withdraws it.
    std::fs::remove_file(app.flows_dir().join("quick-poll.yaml")).unwrap();
    let history_has_withdrawal = app
        .eventually(Duration::from_secs(10), || async {
            app.count("flow_publications", "version IS NULL").await == 1
        })
        .await;
    assert!(history_has_withdrawal);
    let mut withdrawn = false;
    for n in 100..200 {
        let reply = app.say(&phone(n), "QUICK").await.join("\n");
        if reply.contains("didn't understand") {
            withdrawn = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(withdrawn, "QUICK is no longer a keyword");
}
