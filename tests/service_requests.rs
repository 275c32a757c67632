//! Service requests after a resident filed them by text: staff change their status through the
//! API or the command line, the resident is texted about it through the outbox, and a resident
//! who texts their tracking code hears where it stands. Real gateway, real webhooks, real
//! database (`CIVICTEXT_TEST_BACKEND=postgres` for PostgreSQL).

mod common;

use std::time::Duration;

use civictext::config::Settings;
use common::twilio_stub::TwilioStub;
use common::{TestApp, joined, phone, shipped_flows, spawn_app_on};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn gateway() -> TestApp {
    spawn_app_on(&shipped_flows(), |_| {}).await
}

async fn patch(app: &TestApp, token: &str, code: &str, body: Value) -> (StatusCode, Value) {
    let resp = app
        .client
        .patch(app.url(&format!("/api/v1/requests/{code}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status();
    (status, resp.json().await.expect("a JSON body"))
}

async fn get_request(app: &TestApp, token: &str, code: &str) -> Value {
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/requests/{code}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// The outbox rows queued for `to`: (kind, body).
async fn queued_for(app: &TestApp, to: &str) -> Vec<(String, String)> {
    app.db()
        .rows(
            "SELECT kind, body FROM outbox WHERE to_addr = $1 ORDER BY id",
            &[to],
        )
        .await
}

#[tokio::test]
async fn a_status_change_through_the_api_is_kept_with_its_author_and_texts_the_resident() {
    let app = gateway().await;
    let me = phone(101);
    let code = app.report_pothole(&me, "1200 S 4th St", "en").await;
    let token = app.token("Public Works", "requests:write");

    let (status, body) = patch(
        &app,
        &token,
        &code.to_lowercase(),
        json!({"status": "closed", "note": "Filled on Tuesday."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["previous_status"], "open");
    assert_eq!(body["resident_notified"], true);
    assert_eq!(body["request"]["status"], "closed");

    let read = get_request(&app, &token, &code).await;
    assert_eq!(read["status"], "closed");
    assert_eq!(read["status_notes"], "Filled on Tuesday.");
    assert!(read["updated_at"].is_string(), "{read}");

    assert_eq!(
        queued_for(&app, &me).await,
        [(
            "request_update".to_string(),
            format!(
                "City of Testville: your report {code} is now closed. Note: Filled on Tuesday. \
                 Reply STOP to opt out."
            )
        )]
    );
    let history: Vec<(String, String, String)> = app
        .db()
        .rows(
            "SELECT old_status, status, changed_by FROM service_request_updates",
            &[],
        )
        .await;
    assert_eq!(
        history,
        [(
            "open".to_string(),
            "closed".to_string(),
            "token:Public Works".to_string()
        )]
    );
}

#[tokio::test]
async fn only_a_token_with_requests_write_may_change_a_status() {
    let app = gateway().await;
    let code = app
        .report_pothole(&phone(102), "4th and Broadway", "en")
        .await;
    let reader = app.token("Analyst", "requests,results");

    let (status, body) = patch(&app, &reader, &code, json!({"status": "closed"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("requests:write"));
    assert_eq!(get_request(&app, &reader, &code).await["status"], "open");
    assert_eq!(app.count("outbox", "TRUE").await, 0);
}

#[tokio::test]
async fn an_invalid_change_is_refused_as_a_problem_and_changes_nothing() {
    let app = gateway().await;
    let code = app.report_pothole(&phone(103), "5th and Main", "en").await;
    let token = app.token("Public Works", "requests:write");

    for body in [
        json!({"status": "Closed!"}),
        json!({"status": ""}),
        json!({"note": "no status"}),
        json!({"status": "closed", "note": "x".repeat(481)}),
        json!({"status": "closed", "colour": "red"}),
    ] {
        let (status, problem) = patch(&app, &token, &code, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {problem}");
        assert_eq!(problem["status"], 400);
    }
    let (status, _) = patch(&app, &token, "ZZZZ-ZZZZ", json!({"status": "closed"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("service_request_updates", "TRUE").await, 0);
    assert_eq!(app.count("outbox", "TRUE").await, 0);
}

#[tokio::test]
async fn a_change_the_resident_would_not_notice_sends_no_text() {
    let app = gateway().await;
    let me = phone(104);
    let code = app.report_pothole(&me, "5th and Main", "en").await;
    let token = app.token("Public Works", "requests:write");

    patch(&app, &token, &code, json!({"status": "in_progress"})).await;
    let (_, again) = patch(&app, &token, &code, json!({"status": "in_progress"})).await;
    assert_eq!(again["resident_notified"], false);
    let (_, noted) = patch(
        &app,
        &token,
        &code,
        json!({"status": "in_progress", "note": "Crew booked for Friday."}),
    )
    .await;
    assert_eq!(noted["resident_notified"], true);
    assert_eq!(queued_for(&app, &me).await.len(), 2);
    assert_eq!(app.count("service_request_updates", "TRUE").await, 3);
}

#[tokio::test]
async fn the_command_line_closes_a_request_and_the_resident_is_texted_in_spanish() {
    let app = gateway().await;
    let me = phone(105);
    let code = app.report_pothole(&me, "Calle 4 y Broadway", "es").await;
    // The command reads the same configuration as the gateway.
    std::fs::write(
        app.dir.path().join("civictext.toml"),
        "organization = \"City of Testville\"\n",
    )
    .unwrap();

    let out = app.civictext(&[
        "requests",
        "update",
        &code,
        "--status",
        "closed",
        "--note",
        "Reparado el martes.",
        "--by",
        "dana",
    ]);
    assert!(out.contains("open -> closed"), "{out}");
    assert_eq!(
        queued_for(&app, &me).await,
        [(
            "request_update".to_string(),
            format!(
                "City of Testville: su reporte {code} ahora está cerrado. Nota: Reparado el \
                 martes. Responda STOP para salir."
            )
        )]
    );

    let shown = app.civictext(&["requests", "show", &code]);
    assert!(shown.contains("Status: closed"), "{shown}");
    assert!(
        shown.contains("open -> closed\tby dana\tReparado el martes."),
        "{shown}"
    );
    let listed = app.civictext(&["requests", "list", "--status", "closed"]);
    assert!(
        listed.starts_with(&format!("{code}\tclosed\tpothole\t")),
        "{listed}"
    );

    let unknown = app.civictext_output(&["requests", "update", "NOPE-NOPE", "--status", "closed"]);
    assert!(!unknown.status.success(), "an unknown code must fail");
}

#[tokio::test]
async fn a_resident_who_texts_their_tracking_code_gets_its_status_and_latest_note() {
    let app = gateway().await;
    let me = phone(106);
    let code = app.report_pothole(&me, "1200 S 4th St", "en").await;
    assert_eq!(
        app.say(&me, &code).await,
        [format!("City of Testville: your report {code} is open.")]
    );
    let token = app.token("Public Works", "requests:write");
    patch(
        &app,
        &token,
        &code,
        json!({"status": "in_progress", "note": "Crew booked for Friday."}),
    )
    .await;
    // However they type it.
    let typed = format!("status {}", code.to_lowercase().replace('-', ""));
    assert_eq!(
        app.say(&me, &typed).await,
        [format!(
            "City of Testville: your report {code} is in progress. Latest note: Crew booked \
             for Friday."
        )]
    );
    let route: String = app
        .db()
        .scalar(
            "SELECT route FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await;
    assert_eq!(route, "request_status");
}

#[tokio::test]
async fn a_tracking_code_in_the_middle_of_a_conversation_is_answered_and_the_question_still_waits()
{
    let app = gateway().await;
    let me = phone(107);
    let code = app.report_pothole(&me, "1200 S 4th St", "es").await;
    // A second report, stopped at "what is it about?".
    assert!(joined(&app.say(&me, "REPORTE").await).contains("¿qué quiere reportar?"));

    assert_eq!(
        app.say(&me, &code).await,
        [format!(
            "City of Testville: su reporte {code} está abierto."
        )]
    );
    // The waiting question takes the next answer as if nothing had happened.
    assert!(joined(&app.say(&me, "1").await).contains("¿Dónde está?"));
    let answers: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM answers WHERE raw = $1",
            &[code.as_str()],
        )
        .await;
    assert_eq!(answers, 0, "the code must not be stored as an answer");
}

#[tokio::test]
async fn someone_elses_tracking_code_tells_nothing_about_their_request() {
    let app = gateway().await;
    let code = app.report_pothole(&phone(108), "1200 S 4th St", "en").await;
    let stranger = phone(109);
    let reply = joined(&app.say(&stranger, &code).await);
    assert!(!reply.contains(&code), "{reply}");
    assert!(!reply.contains("open"), "{reply}");
}

fn outbound(stub: &TwilioStub) -> impl FnOnce(&mut Settings) {
    let base = stub.base();
    move |s| {
        s.twilio_account_sid = Some("AC00000000000000000000000000000000".into());
        s.twilio_from = Some(common::CITY_NUMBER.into());
        s.twilio_api_base = base;
        s.outbound_mps = 50.0;
        s.quiet_hours = "off".into();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_gateway_sends_the_update_but_not_to_a_resident_who_opted_out() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&shipped_flows(), outbound(&stub)).await;
    let (stays, leaves) = (phone(110), phone(111));
    let kept = app.report_pothole(&stays, "1200 S 4th St", "en").await;
    let gone = app.report_pothole(&leaves, "5th and Main", "en").await;
    app.say(&leaves, "STOP").await;
    let token = app.token("Public Works", "requests:write");
    for code in [&kept, &gone] {
        let (status, _) = patch(&app, &token, code, json!({"status": "closed"})).await;
        assert_eq!(status, StatusCode::OK);
    }

    let settled = app
        .eventually(Duration::from_secs(20), || async {
            app.count("outbox", "state IN ('queued', 'sending', 'in_doubt')")
                .await
                == 0
        })
        .await;
    assert!(settled, "the outbox never emptied");
    let sent: Vec<(String, String)> = stub
        .accepted()
        .into_iter()
        .map(|a| (a.to, a.body))
        .collect();
    assert_eq!(
        sent,
        [(
            stays.clone(),
            format!("City of Testville: your report {kept} is now closed. Reply STOP to opt out.")
        )]
    );
    assert_eq!(app.count("outbox", "state = 'skipped'").await, 1);
}
