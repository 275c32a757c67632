//! Schemathesis, a property-based API tester, against `/api/v1/openapi.json` on a real gateway
//! with residents' data in it: every operation, with a token holding every scope, must never
//! answer 5xx, must accept every request its schema allows, and must answer as its schema says.

mod common;

use std::process::Command;

use common::{phone, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_every_request_its_openapi_document_allows_as_the_document_says() {
    let Some(st) = common::ci_venv_program(
        "st",
        "the_api_answers_every_request_its_openapi_document_allows_as_the_document_says",
    ) else {
        return;
    };
    let app = spawn_app().await;
    // Something to list, summarise and page through: finished and open conversations, and a
    // service request.
    for n in 0..3 {
        let me = phone(700 + n);
        for text in ["PARKS", "weekly", "4", "yes", "more benches"] {
            app.say(&me, text).await;
        }
    }
    app.say(&phone(710), "PARKS").await;
    let reporter = phone(720);
    for text in [
        "POTHOLE",
        "5th and Main",
        "yes",
        "skip",
        "deep hole by the curb",
    ] {
        app.say(&reporter, text).await;
    }
    let token = app.token(
        "schemathesis",
        "results,results:pii,requests,requests:write,broadcasts",
    );
    let schema = app.url("/api/v1/openapi.json");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args(["run", &schema])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--max-examples", "40", "--seed", "20261202"])
            .args(["--no-color"])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}"
    );
    assert!(
        report.contains("Tested: "),
        "every operation was tested: {report}"
    );
}
