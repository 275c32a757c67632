//! The console's flows section over real HTTP: the list, a flow's versions, a version's source
//! with its problems and costs, diffs, and the editor — check as you type (the same report as
//! `civictext flows check`), conversation tests against a draft, publishing (refused with
//! errors, refused to analysts and without the form token), and residents texting the keyword
//! getting what was published while a conversation already under way keeps its version.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::console::{Browser, csrf, signed_in};
use common::{TestApp, fixture_flows, joined, phone, spawn_app};
use reqwest::StatusCode;

const FLOW: &str = "park-survey";
const EDIT: &str = "/console/flows/park-survey/edit";
const CHECK: &str = "/console/flows/park-survey/check";
const FIRST_QUESTION: &str = "How often do you visit Riverside Park?";
const SECOND_QUESTION: &str = "From 1 to 5, how clean is the park?";

fn fixture() -> String {
    std::fs::read_to_string(fixture_flows().join("park-survey.yaml")).unwrap()
}

/// The fixture with its `next:` pointing at a step that does not exist (line 24).
fn broken() -> String {
    let text = fixture();
    assert!(text.contains("next: { never: why-not }"));
    text.replace("next: { never: why-not }", "next: { never: why-no }")
}

/// The fixture with both questions reworded.
fn reworded() -> String {
    fixture()
        .replace(FIRST_QUESTION, "How often do you come to Riverside Park?")
        .replace(SECOND_QUESTION, "From 1 to 5, how tidy is the park?")
}

/// `civictext flows check DIR` on a directory holding only `text` as park-survey.yaml: stdout.
fn flows_check(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("park-survey.yaml"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_civictext"))
        .args(["flows", "check"])
        .arg(dir.path())
        .output()
        .expect("civictext runs");
    String::from_utf8(out.stdout).unwrap()
}

async fn check(editor: &Browser, source: &str) -> (StatusCode, serde_json::Value) {
    let token = csrf(&editor.get(EDIT).await.body);
    let page = editor
        .post_raw(CHECK, &[("csrf", &token), ("source", source)])
        .await;
    let json = serde_json::from_str(&page.body).unwrap_or(serde_json::Value::Null);
    (page.status, json)
}

async fn publish(editor: &Browser, source: &str, note: &str) -> common::console::Page {
    editor
        .submit(
            EDIT,
            EDIT,
            &[("source", source), ("action", "publish"), ("note", note)],
        )
        .await
}

/// Waits until a new resident texting PARKS is asked `question` (the replica has noticed the
/// publication); panics after 20 s.
async fn served(app: &TestApp, question: &str, first_phone: u32) -> u32 {
    for n in first_phone..first_phone + 200 {
        let reply = joined(&app.say(&phone(n), "PARKS").await);
        if reply.contains(question) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the published version was never served");
}

#[tokio::test]
async fn the_editor_check_marks_a_broken_draft_at_its_line_with_the_same_report_as_flows_check() {
    let app = spawn_app().await;
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let (status, clean) = check(&editor, &fixture()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clean["errors"], 0, "{clean}");

    let (status, json) = check(&editor, &broken()).await;
    assert_eq!(status, StatusCode::OK);
    let errors: Vec<&serde_json::Value> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{json}");
    let e = errors[0];
    assert_eq!(e["line"], 24, "{e}");
    assert!(e["message"].as_str().unwrap().contains("why-no"), "{e}");
    assert!(!e["hint"].as_str().unwrap_or_default().is_empty(), "{e}");
    // Word for word what `civictext flows check` prints for the same file (which names it with
    // the directory it was given).
    let cli = flows_check(&broken());
    assert!(
        cli.contains(e["rendered"].as_str().unwrap()),
        "console:\n{}\ncli:\n{cli}",
        e["rendered"]
    );
    assert!(
        json["summary"]
            .as_str()
            .unwrap()
            .contains("cannot be published"),
        "{json}"
    );

    // Without script: the Check button draws the same problem, marked at line 24.
    let page = editor
        .submit(EDIT, EDIT, &[("source", &broken()), ("action", "check")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-line="24""#), "{}", page.body);
}

#[tokio::test]
async fn a_draft_too_large_is_refused_with_a_clear_message_and_the_gateway_keeps_answering() {
    let app = spawn_app().await;
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let big = format!("{}\n# {}\n", fixture(), "x".repeat(50 * 1024));
    let (status, json) = check(&editor, &big).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        json["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a flow may be at most 48 KB"),
        "{json}"
    );
    let huge = "y".repeat(200 * 1024);
    let token = csrf(&editor.get(EDIT).await.body);
    let refused = editor
        .post_raw(
            EDIT,
            &[("csrf", &token), ("source", &huge), ("action", "publish")],
        )
        .await;
    assert!(
        refused.status == StatusCode::BAD_REQUEST
            || refused.status == StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.status
    );
    // A YAML bomb (aliases nested to blow up) is reported, not expanded.
    let bomb = "flow: park-survey\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let (status, json) = check(&editor, bomb).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json["errors"].as_u64().unwrap() >= 1, "{json}");
    assert!(joined(&app.say(&phone(1), "PARKS").await).contains(FIRST_QUESTION));
}

#[tokio::test]
async fn a_draft_with_errors_is_not_published_and_the_served_version_is_unchanged() {
    let app = spawn_app().await;
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let before = app.count("flow_publications", "TRUE").await;
    let page = publish(&editor, &broken(), "").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Not published"), "{}", page.body);
    assert!(page.body.contains(r#"data-line="24""#));
    assert_eq!(app.count("flow_publications", "TRUE").await, before);
    assert!(joined(&app.say(&phone(1), "PARKS").await).contains(FIRST_QUESTION));
}

#[tokio::test]
async fn a_published_draft_is_what_residents_texting_the_keyword_get_and_a_conversation_under_way_keeps_its_version()
 {
    let app = spawn_app().await;
    let midway = phone(500);
    assert!(joined(&app.say(&midway, "PARKS").await).contains(FIRST_QUESTION));
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let page = publish(&editor, &reworded(), "Plainer words").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to = page.location.unwrap();
    assert!(to.starts_with("/console/flows/park-survey/versions?published="));

    let n = served(&app, "How often do you come to Riverside Park?", 1).await;
    let next = joined(&app.say(&phone(n), "weekly").await);
    assert!(next.contains("how tidy is the park"), "{next}");
    // The resident who started before keeps the version they started on.
    let theirs = joined(&app.say(&midway, "weekly").await);
    assert!(theirs.contains(SECOND_QUESTION), "{theirs}");

    // The history says the console published it, who did, and why.
    let history = editor.get(&to).await.body;
    assert!(history.contains("Published version"), "{history}");
    let newest = &history[history.find("data-publication=").unwrap()..];
    let newest = &newest[..newest.find("</tr>").unwrap()];
    assert!(newest.contains(r#"data-origin="console""#), "{newest}");
    assert!(newest.contains("editor@city.gov") && newest.contains("Plainer words"));
    assert!(newest.contains("(served)"));
    assert_eq!(
        app.count(
            "staff_audit",
            "action = 'flow.publish' AND actor = 'editor@city.gov'"
        )
        .await,
        1
    );
    let list = editor.get("/console/flows").await.body;
    let row = &list[list.find(r#"data-flow="park-survey""#).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("console") && row.contains("editor@city.gov"),
        "{row}"
    );
    assert!(row.contains(r#"data-check="0/"#), "{row}");
}

#[tokio::test]
async fn the_diff_shows_the_lines_changed_between_two_versions() {
    let app = spawn_app().await;
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let old = crate_version(&fixture());
    let page = publish(&editor, &reworded(), "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let new = crate_version(&reworded());
    let diff = editor
        .get(&format!("/console/flows/{FLOW}/diff?from={old}&to={new}"))
        .await;
    assert_eq!(diff.status, StatusCode::OK);
    let body = diff.body;
    assert!(body.contains("2 lines added, 2 lines removed"), "{body}");
    let removed = &body[body.find(r#"<tr class="del">"#).expect("a removed line")..];
    assert!(removed[..removed.find("</tr>").unwrap()].contains(FIRST_QUESTION));
    let added = &body[body.find(r#"<tr class="ins">"#).expect("an added line")..];
    assert!(
        added[..added.find("</tr>").unwrap()].contains("How often do you come to Riverside Park?")
    );
    // Unchanged lines far from the changes are left out.
    assert!(!body.contains("Thanks for telling us why."));
}

/// The version the compiler gives `text` (what `flows history` lists).
fn crate_version(text: &str) -> String {
    civictext::flow::compile("park-survey.yaml", text)
        .flow
        .expect("compiles")
        .version
}

#[tokio::test]
async fn a_version_page_shows_its_numbered_source_and_what_each_message_costs() {
    let app = spawn_app().await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    let version = crate_version(&fixture());
    let list = analyst.get("/console/flows").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&format!(r#"data-version="{version}""#)));
    let page = analyst
        .get(&format!("/console/flows/{FLOW}/versions/{version}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="L18""#));
    assert!(page.body.contains(FIRST_QUESTION));
    assert!(page.body.contains("0 errors, "), "{}", page.body);
    // One row per text and language, with its encoding.
    assert!(
        page.body.contains("<td>es</td><td>GSM-7</td>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn analysts_read_versions_but_may_not_edit_or_publish_and_caseworkers_see_no_flows() {
    let app = spawn_app().await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    assert_eq!(analyst.get("/console/flows").await.status, StatusCode::OK);
    let versions = analyst.get("/console/flows/park-survey/versions").await;
    assert_eq!(versions.status, StatusCode::OK);
    assert!(!versions.body.contains(EDIT), "no Edit link for an analyst");
    assert_eq!(analyst.get(EDIT).await.status, StatusCode::FORBIDDEN);
    let before = app.count("flow_publications", "TRUE").await;
    let refused = analyst
        .submit(
            "/console/flows",
            EDIT,
            &[("source", &reworded()), ("action", "publish")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = analyst
        .submit("/console/flows", CHECK, &[("source", &fixture())])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("flow_publications", "TRUE").await, before);

    let worker = signed_in(&app, "worker@city.gov", "caseworker").await;
    assert_eq!(
        worker.get("/console/flows").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        worker
            .get("/console/flows/park-survey/versions")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_publish_without_the_form_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let before = app.count("flow_publications", "TRUE").await;
    let refused = editor
        .post_raw(EDIT, &[("source", &reworded()), ("action", "publish")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = editor.post_raw(CHECK, &[("source", &fixture())]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("flow_publications", "TRUE").await, before);
}

const TESTS: &str = r#"flow: park-survey
tests:
  - name: a visitor is asked how often
    conversation:
      - resident: PARKS
        replies:
          - contains: Welcome
          - contains: How often do you visit
  - name: someone who never visits is asked why
    conversation:
      - resident: PARKS
      - resident: never
        replies: ["What keeps you from visiting?"]
    ends: false
"#;

fn write_tests(dir: &Path) {
    std::fs::write(dir.join("park-survey.test.yaml"), TESTS).unwrap();
}

#[tokio::test]
async fn conversation_tests_run_against_the_draft_and_report_the_one_it_breaks() {
    let app = spawn_app().await;
    write_tests(app.flows_dir());
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let page = editor
        .submit(EDIT, EDIT, &[("source", &fixture()), ("action", "test")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("2 passed, 0 failed"), "{}", page.body);

    let draft = fixture().replace("What keeps you from visiting?", "Why not?");
    let page = editor
        .submit(EDIT, EDIT, &[("source", &draft), ("action", "test")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("1 passed, 1 failed"), "{}", page.body);
    let failed = &page.body[page.body.find(r#"class="test failed""#).unwrap()..];
    assert!(failed.contains("someone who never visits is asked why"));
    assert!(failed.contains("What keeps you from visiting?") && failed.contains("Why not?"));
    // Running tests publishes nothing.
    assert!(joined(&app.say(&phone(1), "PARKS").await).contains(FIRST_QUESTION));
}

#[tokio::test]
async fn the_simulator_plays_an_unpublished_draft_and_stores_nothing() {
    let app = spawn_app().await;
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    let before = app.count("flow_publications", "TRUE").await;
    let draft = reworded();
    let start = editor
        .submit(
            EDIT,
            "/console/simulator",
            &[
                ("draft_of", FLOW),
                ("source", &draft),
                ("action", "simulate"),
            ],
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    assert!(
        start
            .body
            .contains("How often do you come to Riverside Park?")
    );
    let turn = editor
        .submit(
            EDIT,
            "/console/simulator",
            &[("draft_of", FLOW), ("source", &draft), ("text", "weekly")],
        )
        .await;
    assert!(turn.body.contains("how tidy is the park"), "{}", turn.body);
    for table in ["contacts", "sessions", "messages", "answers"] {
        assert_eq!(app.count(table, "TRUE").await, 0, "stored in {table}");
    }
    assert_eq!(app.count("flow_publications", "TRUE").await, before);
    // A draft with errors is refused with its first error, not played.
    let refused = editor
        .submit(
            EDIT,
            "/console/simulator",
            &[("draft_of", FLOW), ("source", &broken())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("park-survey.yaml:24:"),
        "{}",
        refused.body
    );
}
