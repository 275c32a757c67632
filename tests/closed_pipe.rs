//! `civictext flows check | head` and the like: every command that prints stops quietly when
//! the reader of its output has gone, instead of panicking.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn shipped_flows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conversation-flows")
}

/// Runs civictext with `args` and `stdin`, closing the read end of its stdout before it can
/// write a byte; returns its exit code and stderr.
fn run_with_closed_stdout(args: &[&str], stdin: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_civictext"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("civictext runs");
    drop(child.stdout.take());
    let mut input = child.stdin.take().unwrap();
    // The process may already have stopped reading; a failed write here is fine.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn every_command_that_prints_stops_quietly_when_its_reader_has_gone() {
    let flows = shipped_flows();
    let flows = flows.to_str().unwrap();
    let db = "sqlite://closed-pipe.db";
    for (args, stdin) in [
        (vec!["flows", "check", flows], ""),
        (vec!["flows", "check", "--no-costs", flows], ""),
        (vec!["flows", "test", flows], ""),
        (vec!["flows", "test", "--verbose", flows], ""),
        (vec!["config"], ""),
        (
            vec!["simulate", "youth-survey", "--flows", flows],
            "16\n40202\n",
        ),
        (
            vec![
                "export",
                "--flow",
                "youth-survey",
                "--database-url",
                db,
                "--flows",
                flows,
            ],
            "",
        ),
    ] {
        let (code, stderr) = run_with_closed_stdout(&args, stdin);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert_eq!(stderr, "", "{args:?} complained: {stderr}");
        // As a process killed by SIGPIPE reports itself to a shell (128 + 13).
        assert_eq!(code, Some(141), "{args:?}");
    }
}
