//! What a city's IT person meets the first time, with the real binary: `serve` in the wrong
//! directory, `init` and `serve` in a fresh one, `config` checking what `serve` checks, and
//! `flows check` on a file an editor saved in the wrong encoding.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_civictext");

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

/// `civictext ARGS` in `dir` with a clean environment plus `env`.
fn civictext(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    civictext(dir, args, env).output().expect("civictext runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn serve_where_there_are_no_flows_says_how_to_point_at_them_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let out = civictext(
        dir.path(),
        &["serve"],
        &[("CIVICTEXT_BIND", &format!("127.0.0.1:{port}"))],
    )
    .stdout(Stdio::null())
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("conversation-flows"), "{err}");
    assert!(err.contains("civictext init"), "{err}");
    assert!(
        err.contains("--flows") && err.contains("CIVICTEXT_FLOWS"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "serve left files behind: {left:?}");

    // `config` reports the same, after printing what it would use.
    let out = run(dir.path(), &["config"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("civictext init"));
}

#[tokio::test]
async fn init_then_serve_in_an_empty_directory_answers_a_keyword() {
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city");
    let out = run(dir.path(), &["init", "city"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in [
        "civictext.toml",
        ".gitignore",
        "conversation-flows/youth-survey.yaml",
        "conversation-flows/youth-survey.test.yaml",
        "conversation-flows/poll.yaml",
        "conversation-flows/service-request.yaml",
    ] {
        assert!(city.join(file).is_file(), "init did not write {file}");
    }
    assert!(
        std::fs::read_to_string(city.join(".gitignore"))
            .unwrap()
            .contains("civictext.db")
    );
    let tested = run(&city, &["flows", "test", "conversation-flows"], &[]);
    assert!(tested.status.success(), "{}", text(&tested.stdout));

    let port = free_port();
    let log = dir.path().join("serve.log");
    let child = civictext(
        &city,
        &["serve"],
        &[("CIVICTEXT_BIND", &format!("127.0.0.1:{port}"))],
    )
    .stdout(Stdio::null())
    .stderr(File::create(&log).unwrap())
    .spawn()
    .unwrap();
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
                "serve exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(resp) = client.get(format!("{base}/readyz")).send().await
            && resp.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never answered 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = client
        .post(format!("{base}/webhooks/twilio/sms"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("From=%2B15025550123&To=%2B15025550000&MessageSid=SM0001&Body=PLAN")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let replies = common::messages(&resp.text().await.unwrap());
    assert!(
        replies.iter().any(|m| m.contains("How old are you?")),
        "{replies:?}"
    );
    assert!(city.join("civictext.db").exists());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("configuration file loaded") && l.contains("civictext.toml")),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");
}

#[test]
fn init_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("civictext.toml"),
        "bind = \"127.0.0.1:9000\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["init"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("civictext.toml"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("civictext.toml")).unwrap(),
        "bind = \"127.0.0.1:9000\"\n"
    );
    assert!(
        !dir.path().join("conversation-flows").exists(),
        "nothing was written"
    );
}

#[test]
fn a_sending_number_in_the_environment_is_read_as_a_number_to_text_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conversation-flows")).unwrap();
    let out = run(
        dir.path(),
        &["config"],
        &[
            ("TWILIO_FROM", "+15025550000"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("+15025550000"), "{stdout}");
}

#[test]
fn config_refuses_what_serve_refuses_and_names_where_the_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conversation-flows")).unwrap();

    let out = run(
        dir.path(),
        &["config"],
        &[("CIVICTEXT_TIME_ZONE", "America/Louisvile")],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("America/Louisvile"), "{err}");
    assert!(err.contains("CIVICTEXT_TIME_ZONE"), "{err}");

    std::fs::write(
        dir.path().join("civictext.toml"),
        "public_url = \"https://\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config"], &[]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("public URL") && err.contains("civictext.toml"),
        "{err}"
    );

    // The same value from the environment is named as such.
    std::fs::remove_file(dir.path().join("civictext.toml")).unwrap();
    let out = run(
        dir.path(),
        &["config"],
        &[("CIVICTEXT_PUBLIC_URL", "sms.example.gov")],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("CIVICTEXT_PUBLIC_URL"));

    // A good configuration says which file it read.
    std::fs::write(
        dir.path().join("civictext.toml"),
        "time_zone = \"America/Kentucky/Louisville\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("# configuration file: civictext.toml"));
}

#[test]
fn flows_check_reports_a_file_saved_as_windows_1252_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    std::fs::copy(
        common::fixture_flows().join("quick-poll.yaml"),
        flows.join("quick-poll.yaml"),
    )
    .unwrap();
    std::fs::write(
        flows.join("encuesta.yaml"),
        b"flow: encuesta\nkeywords: [ENCUESTA]\nsteps:\n  - say: \xBFQu\xE9 tal?\n",
    )
    .unwrap();
    let out = run(dir.path(), &["flows", "check", "flows", "--no-costs"], &[]);
    assert!(!out.status.success());
    let report = text(&out.stdout);
    assert!(report.contains("encuesta.yaml:4:10"), "{report}");
    assert!(report.contains("not UTF-8"), "{report}");
    assert!(report.contains("save as UTF-8"), "{report}");
    assert!(
        report.contains("1 loaded"),
        "the good flow still loads: {report}"
    );
}
