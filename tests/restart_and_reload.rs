//! Conversations survive a restart, and flow edits are picked up while the gateway runs: new
//! conversations get the new text, conversations in progress finish on the version they began
//! on, and a broken edit never replaces a working flow.

mod common;

use std::time::Duration;

use common::{TestApp, phone, spawn_app};

const OLD_RATING: &str = "From 1 to 5, how clean is the park?";
const NEW_RATING: &str = "From 1 to 5, how tidy is the park today?";
const OLD_DOGS: &str = "Do you bring a dog? Reply YES or NO.";
const NEW_DOGS: &str = "Do you walk a dog here? Reply YES or NO.";

/// Replaces a flow file in one step (write aside, then rename), as editors and ConfigMaps do.
fn write_flow(app: &TestApp, file: &str, text: &str) {
    let tmp = app.dir.path().join(format!("{file}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, app.flows_dir().join(file)).unwrap();
}

fn edit_flow(app: &TestApp, file: &str, edits: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(app.flows_dir().join(file)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in {file}");
        text = text.replace(from, to);
    }
    write_flow(app, file, &text);
}

/// The versions /readyz says are served, as `id@version`.
async fn served(app: &TestApp) -> Vec<String> {
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn version_of(app: &TestApp, id: &str) -> String {
    served(app)
        .await
        .into_iter()
        .find_map(|f| f.strip_prefix(&format!("{id}@")).map(str::to_string))
        .unwrap_or_else(|| panic!("{id} is not served"))
}

/// Waits (polling) until /readyz serves a version of `id` other than `old`.
async fn wait_for_new_version(app: &TestApp, id: &str, old: &str) -> String {
    let changed = app
        .eventually(Duration::from_secs(10), || async {
            served(app)
                .await
                .iter()
                .any(|f| f.starts_with(&format!("{id}@")) && !f.ends_with(&format!("@{old}")))
        })
        .await;
    assert!(changed, "{id} was not reloaded");
    version_of(app, id).await
}

async fn answer_versions(app: &TestApp, from: &str) -> Vec<String> {
    app.db()
        .scalars(
            "SELECT DISTINCT a.flow_version FROM answers a JOIN contacts c ON c.id = a.contact_id
             WHERE c.phone = $1",
            &[from],
        )
        .await
}

#[tokio::test]
async fn after_a_restart_the_resident_carries_on_at_the_same_question() {
    let mut app = spawn_app().await;
    let me = phone(1);
    app.say(&me, "PARKS").await;
    let sid = common::new_sid();
    let before = app.text_with_sid(&me, "weekly", &sid).await;
    assert_eq!(common::messages(&before.1), [OLD_RATING]);

    app.restart().await;
    assert_eq!(app.get("/healthz").await.0, 200);

    // A retry of the text sent before the restart is still recognised.
    assert_eq!(app.text_with_sid(&me, "weekly", &sid).await, before);
    assert_eq!(app.say(&me, "4").await, [OLD_DOGS]);
    app.say(&me, "yes").await;
    assert_eq!(
        app.say(&me, "all good").await,
        ["Thanks! Your answers were recorded."]
    );
    assert_eq!(app.count("answers", "TRUE").await, 4);
    assert_eq!(app.count("sessions", "status = 'completed'").await, 1);
}

#[tokio::test]
async fn an_edited_flow_serves_new_conversations_while_one_in_progress_finishes_on_its_version() {
    let app = spawn_app().await;
    let early = phone(2);
    let late = phone(3);
    let old_version = version_of(&app, "park-survey").await;

    app.say(&early, "PARKS").await;
    assert_eq!(app.say(&early, "weekly").await, [OLD_RATING]);

    edit_flow(
        &app,
        "park-survey.yaml",
        &[(OLD_RATING, NEW_RATING), (OLD_DOGS, NEW_DOGS)],
    );
    let new_version = wait_for_new_version(&app, "park-survey", &old_version).await;

    app.say(&late, "PARKS").await;
    assert_eq!(app.say(&late, "weekly").await, [NEW_RATING]);
    assert_eq!(app.say(&late, "3").await, [NEW_DOGS]);

    // The early resident's conversation stays on the version it began on.
    assert_eq!(app.say(&early, "4").await, [OLD_DOGS]);
    app.say(&early, "no").await;
    assert_eq!(
        app.say(&early, "fine").await,
        ["Thanks! Your answers were recorded."]
    );
    assert_eq!(answer_versions(&app, &early).await, [old_version]);
    assert_eq!(answer_versions(&app, &late).await, [new_version]);
    assert_eq!(
        app.count("flow_versions", "flow_id = 'park-survey'").await,
        2
    );
}

#[tokio::test]
async fn a_broken_edit_keeps_the_last_good_version_serving() {
    let app = spawn_app().await;
    let old_version = version_of(&app, "park-survey").await;
    let quick_version = version_of(&app, "quick-poll").await;

    write_flow(
        &app,
        "park-survey.yaml",
        "flow: park-survey\nsteps:\n  - ask: [unclosed\n    text: {en: oops\n",
    );
    // A valid edit to another file in the same pass shows the directory has been re-read.
    edit_flow(
        &app,
        "quick-poll.yaml",
        &[("Which day suits you", "Which day works for you")],
    );
    wait_for_new_version(&app, "quick-poll", &quick_version).await;

    assert_eq!(version_of(&app, "park-survey").await, old_version);
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 200);
    let me = phone(4);
    assert_eq!(
        app.say(&me, "PARKS").await[0],
        "Welcome to the Riverside Park survey."
    );
    assert_eq!(app.say(&me, "weekly").await, [OLD_RATING]);
    assert!(
        app.say(&phone(5), "QUICK").await[0].starts_with("Which day works for you"),
        "the valid edit is served"
    );

    // Fixing the file later is picked up as usual.
    write_flow(
        &app,
        "park-survey.yaml",
        &std::fs::read_to_string(common::fixture_flows().join("park-survey.yaml"))
            .unwrap()
            .replace(OLD_RATING, NEW_RATING),
    );
    wait_for_new_version(&app, "park-survey", &old_version).await;
    let other = phone(6);
    app.say(&other, "PARKS").await;
    assert_eq!(app.say(&other, "weekly").await, [NEW_RATING]);
}

#[tokio::test]
async fn a_new_flow_file_dropped_into_the_directory_starts_being_served() {
    let app = spawn_app().await;
    write_flow(
        &app,
        "library-poll.yaml",
        "flow: library-poll\nkeywords: [BOOKS]\nlanguages: [en]\nsteps:\n  - ask: hours\n    type: yes_no\n    text: Should the library open on Sundays?\n  - say: Thanks!\n",
    );
    let appeared = app
        .eventually(Duration::from_secs(10), || async {
            served(&app)
                .await
                .iter()
                .any(|f| f.starts_with("library-poll@"))
        })
        .await;
    assert!(appeared, "the new flow was not loaded");
    let me = phone(7);
    assert_eq!(
        app.say(&me, "books").await,
        ["Should the library open on Sundays?"]
    );
    assert_eq!(app.say(&me, "yes").await, ["Thanks!"]);
}

#[tokio::test]
async fn a_conversation_begun_before_an_edit_and_a_restart_finishes_on_its_version() {
    let mut app = spawn_app().await;
    let early = phone(8);
    let old_version = version_of(&app, "park-survey").await;
    app.say(&early, "PARKS").await;

    app.stop().await;
    edit_flow(&app, "park-survey.yaml", &[(OLD_RATING, NEW_RATING)]);
    app.restart().await;

    assert_ne!(version_of(&app, "park-survey").await, old_version);
    assert_eq!(app.say(&early, "weekly").await, [OLD_RATING]);
    let late = phone(9);
    app.say(&late, "PARKS").await;
    assert_eq!(app.say(&late, "weekly").await, [NEW_RATING]);
    assert_eq!(answer_versions(&app, &early).await, [old_version]);
}

#[tokio::test]
async fn a_flow_broken_while_the_gateway_was_down_keeps_its_last_good_version_after_a_restart() {
    let mut app = spawn_app().await;
    let old_version = version_of(&app, "park-survey").await;
    app.stop().await;
    edit_flow(
        &app,
        "park-survey.yaml",
        &[("steps:", "steps:\n  - goto: nowhere")],
    );
    app.restart().await;

    assert_eq!(version_of(&app, "park-survey").await, old_version);
    let me = phone(20);
    assert_eq!(
        app.say(&me, "PARKS").await[0],
        "Welcome to the Riverside Park survey."
    );
}

/// `text` as a Windows editor saves it in the Western encoding (Windows-1252): accented
/// letters and `¿` become single bytes that are not UTF-8.
fn windows_1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

fn write_bytes(app: &TestApp, file: &str, bytes: &[u8]) {
    let tmp = app.dir.path().join(format!("{file}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, app.flows_dir().join(file)).unwrap();
}

/// The flow errors /readyz reports, as `file: message (hint)`.
async fn flow_errors(app: &TestApp) -> Vec<String> {
    let (_, body) = app.get("/readyz").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["flow_errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| format!("{}: {} ({})", e["file"], e["message"], e["hint"]))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_flow_saved_as_windows_1252_is_reported_while_the_other_flows_keep_reloading() {
    let mut app = spawn_app().await;
    let old_version = version_of(&app, "park-survey").await;
    let quick_version = version_of(&app, "quick-poll").await;
    let spanish = std::fs::read_to_string(app.flows_dir().join("park-survey.yaml")).unwrap();
    assert!(spanish.contains("¿Con qué"), "the fixture has Spanish text");

    write_bytes(&app, "park-survey.yaml", &windows_1252(&spanish));
    edit_flow(
        &app,
        "quick-poll.yaml",
        &[("Which day suits you", "Which day works for you")],
    );
    let quick_new = wait_for_new_version(&app, "quick-poll", &quick_version).await;

    // The broken file keeps serving the version it had; the others load.
    assert_eq!(version_of(&app, "park-survey").await, old_version);
    assert_eq!(app.get("/readyz").await.0, 200);
    let errors = flow_errors(&app).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("park-survey.yaml"), "{errors:?}");
    assert!(errors[0].contains("not UTF-8"), "{errors:?}");
    assert!(errors[0].contains("save as UTF-8"), "{errors:?}");
    let me = phone(30);
    assert_eq!(
        app.say(&me, "PARQUES").await[0],
        "Bienvenido a la encuesta del Parque Riverside."
    );
    assert!(app.say(&phone(31), "QUICK").await[0].starts_with("Which day works for you"));

    // A restart with the file still broken starts, and serves the same.
    app.restart().await;
    assert_eq!(version_of(&app, "park-survey").await, old_version);
    assert_eq!(version_of(&app, "quick-poll").await, quick_new);
    assert_eq!(flow_errors(&app).await.len(), 1);
    assert_eq!(
        app.say(&me, "2").await,
        ["Del 1 al 5, ¿qué tan limpio está el parque?"]
    );

    // Saved again as UTF-8, it is picked up and the error goes away.
    write_flow(
        &app,
        "park-survey.yaml",
        &spanish.replace(OLD_RATING, NEW_RATING),
    );
    wait_for_new_version(&app, "park-survey", &old_version).await;
    assert!(flow_errors(&app).await.is_empty());
}

#[tokio::test]
async fn a_gateway_starts_with_an_unreadable_new_flow_and_serves_the_others() {
    let mut app = spawn_app().await;
    app.stop().await;
    write_bytes(
        &app,
        "encuesta.yaml",
        &windows_1252(
            "flow: encuesta\nkeywords: [ENCUESTA]\nlanguages: [es]\nsteps:\n  - say: ¿Qué tal?\n",
        ),
    );
    // Far larger than any flow: refused as a flow, without stopping the others.
    write_bytes(&app, "export.yaml", &vec![b'#'; 300 * 1024]);
    app.restart().await;

    let served = served(&app).await;
    assert_eq!(served.len(), 3, "{served:?}");
    assert!(!served.iter().any(|f| f.starts_with("encuesta@")));
    let errors = flow_errors(&app).await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("encuesta.yaml") && errors[0].contains("save as UTF-8"));
    assert!(errors[1].contains("export.yaml") && errors[1].contains("KiB"));
    assert_eq!(
        app.say(&phone(32), "PARKS").await[0],
        "Welcome to the Riverside Park survey."
    );
    assert_eq!(app.count("flow_versions", "TRUE").await, 3);
}

#[tokio::test]
async fn an_edit_undone_is_the_version_a_broken_file_falls_back_to_after_a_restart() {
    let mut app = spawn_app().await;
    let original = std::fs::read_to_string(app.flows_dir().join("park-survey.yaml")).unwrap();
    let first = version_of(&app, "park-survey").await;
    edit_flow(&app, "park-survey.yaml", &[(OLD_RATING, NEW_RATING)]);
    let second = wait_for_new_version(&app, "park-survey", &first).await;
    write_flow(&app, "park-survey.yaml", &original);
    assert_eq!(
        wait_for_new_version(&app, "park-survey", &second).await,
        first
    );
    // Undoing an edit does not store the version again.
    assert_eq!(
        app.count("flow_versions", "flow_id = 'park-survey'").await,
        2
    );

    app.stop().await;
    write_flow(&app, "park-survey.yaml", "flow: park-survey\nsteps: [\n");
    app.restart().await;
    assert_eq!(version_of(&app, "park-survey").await, first);
    let me = phone(33);
    app.say(&me, "PARKS").await;
    assert_eq!(app.say(&me, "weekly").await, [OLD_RATING]);
}
