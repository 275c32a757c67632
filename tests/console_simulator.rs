//! The console's simulator over real HTTP: a conversation with a flow version through the real
//! engine and dispatch, each message with its segments and encoding, STOP as for a resident, and
//! nothing stored.

mod common;

use common::console::signed_in;
use common::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn the_simulator_plays_a_conversation_with_segments_and_stores_nothing() {
    let app = spawn_app().await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    let start = analyst.get("/console/simulator").await;
    assert_eq!(start.status, StatusCode::OK);
    let at = start
        .body
        .find(r#"value="park-survey@"#)
        .expect("park-survey is offered");
    let rest = &start.body[at + 7..];
    let key = rest[..rest.find('"').unwrap()].to_string();

    let first = analyst
        .get(&format!("/console/simulator?flow={key}&lang="))
        .await
        .body;
    assert!(first.contains("How often do you visit Riverside Park?"));
    let turn = analyst
        .submit(
            &format!("/console/simulator?flow={key}&lang="),
            "/console/simulator",
            &[("flow", &key), ("lang", ""), ("text", "weekly")],
        )
        .await;
    assert_eq!(turn.status, StatusCode::OK, "{}", turn.body);
    assert!(turn.body.contains("From 1 to 5, how clean is the park?"));
    assert!(turn.body.contains("1 segment, GSM-7"));
    let stop = analyst
        .submit(
            &format!("/console/simulator?flow={key}&lang="),
            "/console/simulator",
            &[
                ("flow", &key),
                ("lang", ""),
                ("said", "weekly"),
                ("text", "STOP"),
            ],
        )
        .await
        .body;
    assert!(
        stop.contains("id=\"sim-ended\""),
        "STOP ends the conversation"
    );
    assert!(stop.to_lowercase().contains("unsubscribed"), "{stop}");

    let spanish = analyst
        .get(&format!("/console/simulator?flow={key}&lang=es"))
        .await
        .body;
    assert!(spanish.contains("¿Con qué frecuencia visita el Parque Riverside?"));

    for table in ["contacts", "sessions", "messages", "answers"] {
        assert_eq!(
            app.count(table, "TRUE").await,
            0,
            "the simulator stored in {table}"
        );
    }
    let worker = signed_in(&app, "worker@city.gov", "caseworker").await;
    assert_eq!(
        worker.get("/console/simulator").await.status,
        StatusCode::FORBIDDEN
    );
}
