//! No API token ever appears in the logs: the gateway runs with every log line captured at
//! trace level while tokens (valid, revoked, unknown) are sent in headers and in query strings,
//! and also `tokens create | revoke | list` logs nothing of them.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TestApp, spawn_app};
use reqwest::StatusCode;

/// Every log line the process writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `civictext ARGS` on the gateway with trace logs on; (stdout, stderr).
fn civictext_traced(app: &TestApp, args: &[&str]) -> (String, String) {
    let out = app
        .civictext_command(args)
        .env("RUST_LOG", "trace")
        .output()
        .expect("civictext runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The secret part of a token, as it would appear if any of it were logged.
fn secret(token: &str) -> &str {
    token.strip_prefix("ct_").unwrap_or(token)
}

#[tokio::test]
async fn no_token_ever_appears_in_the_logs_whatever_the_client_sends() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(logs.clone())
        .try_init()
        .expect("this test owns the process's logging");

    let app = spawn_app().await;
    app.say("+15025550101", "PARKS").await;
    let (out, create_logs) = civictext_traced(
        &app,
        &[
            "tokens", "create", "--name", "Planning", "--scope", "results",
        ],
    );
    let valid = out.lines().last().unwrap().to_string();
    let (out, _) = civictext_traced(
        &app,
        &["tokens", "create", "--name", "Old", "--scope", "results"],
    );
    let revoked = out.lines().last().unwrap().to_string();
    let (list, list_logs) = civictext_traced(&app, &["tokens", "list"]);
    let id = list
        .lines()
        .find(|l| l.contains("Old"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the listing shows the token's id")
        .to_string();
    let (_, revoke_logs) = civictext_traced(&app, &["tokens", "revoke", &id]);
    let unknown = format!("ct_{}", "Zq9".repeat(14));

    let client = &app.client;
    for (token, expected) in [
        (&valid, StatusCode::OK),
        (&revoked, StatusCode::UNAUTHORIZED),
        (&unknown, StatusCode::UNAUTHORIZED),
    ] {
        for path in ["/api/v1/responses", "/api/v1/flows/park-survey/summary"] {
            let resp = client
                .get(app.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), expected, "{path}");
            // Tokens where they do not belong: in the query string, and in a header that is
            // not Authorization. Refused, and still never logged.
            for query in ["access_token", "token", "api_key"] {
                let resp = client
                    .get(format!("{}?{query}={token}", app.url(path)))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            }
            let resp = client
                .get(app.url(path))
                .header("X-Api-Key", token.as_str())
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        }
    }
    // A malformed one: a token glued to the scheme.
    let resp = client
        .get(app.url("/api/v1/responses"))
        .header("Authorization", format!("Bearer{valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let captured = logs.text();
    assert!(
        captured.contains("/api/v1/responses") && captured.contains("TRACE"),
        "the capture sees the gateway's trace logs of API requests"
    );
    for token in [&valid, &revoked, &unknown] {
        assert!(
            !captured.contains(secret(token)),
            "a token was logged by the gateway"
        );
        for (command, stderr) in [
            ("create", &create_logs),
            ("list", &list_logs),
            ("revoke", &revoke_logs),
        ] {
            assert!(
                !stderr.contains(secret(token)),
                "`tokens {command}` logged a token"
            );
        }
    }
}
