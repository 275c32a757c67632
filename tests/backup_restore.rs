//! Backups a city can restore: `civictext backup FILE` copies the SQLite database while the
//! gateway keeps serving, and a gateway started on the restored copy carries on each resident's
//! conversation where it was. On PostgreSQL the documented pg_dump / pg_restore path is checked
//! against the real server.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{TestApp, phone, spawn_app_with};

/// `civictext ARGS…` run in `dir`, with no configuration but `DATABASE_URL`.
fn civictext(dir: &Path, database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_civictext"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env_remove("CIVICTEXT_CONFIG")
        .env_remove("TWILIO_AUTH_TOKEN")
        .output()
        .expect("civictext runs")
}

fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A resident partway through the park survey: the keyword and the first answer.
async fn start_survey(app: &TestApp, resident: &str) {
    let first = app.say(resident, "PARKS").await;
    assert!(
        first.iter().any(|m| m.contains("How often do you visit")),
        "{first:?}"
    );
    let second = app.say(resident, "2").await;
    assert!(
        second.iter().any(|m| m.contains("how clean is the park")),
        "{second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_gateway_runs_restores_into_a_gateway_that_carries_on_the_conversation()
 {
    let dir = tempfile::tempdir().unwrap();
    let live_url = format!("sqlite://{}", dir.path().join("live.db").display());
    let original = spawn_app_with(|s| s.database_url = live_url.clone()).await;
    let residents: Vec<String> = (0..3).map(phone).collect();
    for r in &residents {
        start_survey(&original, r).await;
    }

    // Residents keep texting while the backup is taken.
    let backup_file = dir.path().join("civictext-backup.db");
    let output = tokio::task::spawn_blocking({
        let (dir, url, file) = (
            dir.path().to_path_buf(),
            live_url.clone(),
            backup_file.clone(),
        );
        move || civictext(&dir, &url, &["backup", file.to_str().unwrap()])
    });
    for n in 0..5 {
        original.say(&phone(100 + n), "PARKS").await;
    }
    let output = output.await.unwrap();
    assert!(output.status.success(), "{}", text_of(&output));
    assert!(
        text_of(&output).contains("integrity check ok"),
        "{}",
        text_of(&output)
    );

    // Restored somewhere else, a new gateway continues every conversation at the next question.
    let elsewhere = tempfile::tempdir().unwrap();
    let restored_file = elsewhere.path().join("civictext.db");
    std::fs::copy(&backup_file, &restored_file).unwrap();
    let restored_url = format!("sqlite://{}", restored_file.display());
    let restored = spawn_app_with(|s| s.database_url = restored_url.clone()).await;
    for r in &residents {
        let reply = restored.say(r, "4").await;
        assert!(
            reply.iter().any(|m| m.contains("Do you bring a dog?")),
            "the restored gateway did not continue {r}'s survey: {reply:?}"
        );
    }
    // The original, still running, agrees on what comes next.
    assert!(
        original
            .say(&residents[0], "4")
            .await
            .iter()
            .any(|m| m.contains("Do you bring a dog?"))
    );
    // And the answers given before the backup are in the restored database.
    assert_eq!(restored.count("answers", "question = 'visits'").await, 3);
}

/// Runs a PostgreSQL client tool, failing the test with its output if it fails.
fn pg_tool(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (PostgreSQL's client tools): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        text_of(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_pg_dump_and_pg_restore_carry_a_conversation_to_a_new_database() {
    let live = common::postgres::TempPostgres::create().await;
    let original = spawn_app_with(|s| s.database_url = live.url.clone()).await;
    let residents: Vec<String> = (0..3).map(phone).collect();
    for r in &residents {
        start_survey(&original, r).await;
    }

    // docs/operations.md, "Backups": dumped while the gateway runs, restored into a new database.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("civictext.dump");
    let dump_arg = format!("--file={}", dump.display());
    let dumping = tokio::task::spawn_blocking({
        let (url, dump_arg) = (live.url.clone(), dump_arg.clone());
        move || pg_tool("pg_dump", &["--format=custom", &dump_arg, &url])
    });
    for n in 0..5 {
        original.say(&phone(100 + n), "PARKS").await;
    }
    dumping.await.unwrap();
    let target = common::postgres::TempPostgres::create().await;
    let dbname = format!("--dbname={}", target.url);
    pg_tool(
        "pg_restore",
        &["--clean", "--if-exists", &dbname, dump.to_str().unwrap()],
    );

    let restored = spawn_app_with(|s| s.database_url = target.url.clone()).await;
    for r in &residents {
        let reply = restored.say(r, "4").await;
        assert!(
            reply.iter().any(|m| m.contains("Do you bring a dog?")),
            "the restored gateway did not continue {r}'s survey: {reply:?}"
        );
    }
    assert_eq!(restored.count("answers", "question = 'visits'").await, 3);
}

#[test]
fn backing_up_a_postgresql_database_names_the_pg_dump_command_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let output = civictext(
        dir.path(),
        "postgres://app:s3cret@127.0.0.1:5432/civictext",
        &["backup", "civictext.dump"],
    );
    assert!(!output.status.success());
    let text = text_of(&output);
    assert!(text.contains("pg_dump --format=custom"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!dir.path().join("civictext.dump").exists());
}

#[test]
fn a_backup_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("live.db").display());
    // A missing source is an error, not a new empty database backed up.
    let missing = civictext(dir.path(), &url, &["backup", "copy.db"]);
    assert!(!missing.status.success());
    assert!(
        text_of(&missing).contains("no database at"),
        "{}",
        text_of(&missing)
    );

    std::fs::write(dir.path().join("live.db"), b"").unwrap();
    std::fs::write(dir.path().join("copy.db"), b"precious").unwrap();
    let output = civictext(dir.path(), &url, &["backup", "copy.db"]);
    assert!(!output.status.success());
    assert!(
        text_of(&output).contains("already exists"),
        "{}",
        text_of(&output)
    );
    assert_eq!(
        std::fs::read(dir.path().join("copy.db")).unwrap(),
        b"precious"
    );
}
