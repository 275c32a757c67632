//! The console's service-request queue over real HTTP: a request a resident filed by text is
//! listed and filtered, its detail shows the answers, address, photo and conversation, and a
//! caseworker's status change reaches the resident who texts the code.

mod common;

use common::console::signed_in;
use common::{TestApp, joined, phone, spawn_app};
use reqwest::StatusCode;

/// A resident reports a pothole with a photo; returns the tracking code.
async fn report(app: &TestApp, from: &str) -> String {
    for t in ["POTHOLE", "Oak St and 3rd", "yes"] {
        app.say(from, t).await;
    }
    let (status, _) = app
        .text_photo(from, "", "https://api.twilio.com/2010-04-01/Media/ME1")
        .await;
    assert_eq!(status, StatusCode::OK);
    let done = joined(&app.say(from, "Deep hole by the curb").await);
    done.rsplit(' ')
        .next()
        .map(|c| c.trim_end_matches('.').to_string())
        .filter(|c| c.len() == 9)
        .unwrap_or_else(|| panic!("no code in {done:?}"))
}

#[tokio::test]
async fn a_caseworker_finds_a_request_reads_it_and_closes_it_and_the_resident_reads_the_new_status()
{
    let app = spawn_app().await;
    let resident = phone(7);
    let code = report(&app, &resident).await;
    let worker = signed_in(&app, "worker@city.gov", "caseworker").await;

    let queue = worker.get("/console/requests").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains(&format!(r#"data-code="{code}""#)));
    assert!(queue.body.contains("Oak St and 3rd"));
    for (query, listed) in [
        ("?service=pothole&status=open&older_than=", true),
        ("?service=graffiti&status=&older_than=", false),
        ("?service=&status=closed&older_than=", false),
        ("?service=&status=&older_than=2", false),
    ] {
        let page = worker.get(&format!("/console/requests{query}")).await.body;
        assert_eq!(
            page.contains(&format!(r#"data-code="{code}""#)),
            listed,
            "{query}"
        );
    }

    let detail = worker.get(&format!("/console/requests/{code}")).await.body;
    assert!(detail.contains("Oak St and 3rd"));
    assert!(detail.contains("Deep hole by the curb"));
    assert!(detail.contains(r#"href="https://api.twilio.com/2010-04-01/Media/ME1""#));
    assert!(
        detail.contains(&resident),
        "a caseworker sees the resident's number"
    );
    assert!(
        detail.contains("Send an address or the nearest cross streets."),
        "the conversation"
    );

    let changed = worker
        .submit(
            &format!("/console/requests/{code}"),
            &format!("/console/requests/{code}"),
            &[("status", "closed"), ("note", "Filled on Monday")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    let detail = worker.get(&format!("/console/requests/{code}")).await.body;
    assert!(detail.contains(r#"<dd id="request-status">closed</dd>"#));
    assert!(detail.contains("worker@city.gov"), "the history says who");
    let stored: String = app
        .db()
        .scalar(
            "SELECT status FROM service_requests WHERE code = $1",
            &[&code],
        )
        .await;
    assert_eq!(stored, "closed");
    let queued: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM outbox WHERE body LIKE '%' || $1 || '%' AND body LIKE '%closed%'",
            &[&code],
        )
        .await;
    assert_eq!(queued, 1, "the resident is texted about the change");

    let reply = joined(&app.say(&resident, &code).await);
    assert!(reply.contains("closed"), "{reply}");
    assert!(reply.contains("Filled on Monday"), "{reply}");

    let admin = signed_in(&app, "admin@city.gov", "admin").await;
    let log = admin.get("/console/audit").await.body;
    assert!(log.contains(&format!(
        "changed request {code} from open to closed with note: Filled on Monday"
    )));
}

#[tokio::test]
async fn an_analyst_cannot_open_the_queue_and_a_status_change_needs_its_form_token() {
    let app = spawn_app().await;
    let code = report(&app, &phone(8)).await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    assert_eq!(
        analyst.get("/console/requests").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        analyst
            .get(&format!("/console/requests/{code}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let worker = signed_in(&app, "worker@city.gov", "caseworker").await;
    let forged = worker
        .post_raw(
            &format!("/console/requests/{code}"),
            &[("status", "closed")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let stored: String = app
        .db()
        .scalar(
            "SELECT status FROM service_requests WHERE code = $1",
            &[&code],
        )
        .await;
    assert_eq!(stored, "open");
}
