//! Open311 GeoReport v2 at /open311/v2: the shipped flows' service types, the requests residents
//! filed by text with their status after staff changed it, requests filed by other systems, JSON
//! and XML, and Open311's errors — through the real router, and read by a real Open311 client
//! from PyPI. `CIVICTEXT_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;

use std::process::Command;

use common::{TestApp, phone, shipped_flows, spawn_app_on};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn gateway() -> TestApp {
    spawn_app_on(&shipped_flows(), |_| {}).await
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let resp = app.client.get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let (status, ct, body) = get(app, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert!(ct.starts_with("application/json"), "{path}: {ct}");
    serde_json::from_str(&body).unwrap()
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let resp = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn close(app: &TestApp, code: &str, note: &str) {
    let token = app.token("Public Works", "requests:write");
    let resp = app
        .client
        .patch(app.url(&format!("/api/v1/requests/{code}")))
        .bearer_auth(token)
        .json(&json!({"status": "closed", "note": note}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_services_are_what_the_shipped_flows_file_with_their_attributes() {
    let app = gateway().await;
    let services = get_json(&app, "/open311/v2/services.json").await;
    let codes: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "pothole",
            "streetlight",
            "graffiti",
            "missed-trash",
            "other"
        ]
    );
    assert_eq!(services[0]["service_name"], "Pothole");
    assert_eq!(services[0]["metadata"], true);
    assert_eq!(services[0]["type"], "realtime");

    let pothole = get_json(&app, "/open311/v2/services/pothole.json").await;
    assert_eq!(pothole["service_code"], "pothole");
    let attributes: Vec<(String, String, bool)> = pothole["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["code"].as_str().unwrap().to_string(),
                a["datatype"].as_str().unwrap().to_string(),
                a["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attributes,
        [
            ("where".to_string(), "string".to_string(), true),
            ("photo".to_string(), "string".to_string(), false),
            ("details".to_string(), "text".to_string(), false),
            ("describe".to_string(), "text".to_string(), false),
        ]
    );

    let (status, ct, xml) = get(&app, "/open311/v2/services.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/xml"), "{ct}");
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>pothole</service_code><service_name>Pothole</service_name>"),
        "{xml}"
    );
    let (status, _, definition) = get(&app, "/open311/v2/services/pothole.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(definition.contains("<service_definition><service_code>pothole</service_code><attributes><attribute><variable>true</variable><code>where</code>"), "{definition}");

    let discovery = get_json(&app, "/open311/v2/discovery.json").await;
    assert_eq!(
        discovery["endpoints"][0]["url"],
        "https://sms.example.gov/open311/v2"
    );
    assert_eq!(
        discovery["endpoints"][0]["formats"],
        json!(["text/xml", "application/json"])
    );
}

#[tokio::test]
async fn a_request_filed_by_text_reads_back_with_its_status_after_an_update() {
    let app = gateway().await;
    let code = app.report_pothole(&phone(201), "1200 S 4th St", "en").await;

    let before = get_json(&app, &format!("/open311/v2/requests/{code}.json")).await;
    assert_eq!(before[0]["service_request_id"], code.as_str());
    assert_eq!(before[0]["status"], "open");
    assert_eq!(before[0]["service_name"], "Pothole");
    assert_eq!(before[0]["agency_responsible"], "City of Testville");
    assert_eq!(
        before[0]["requested_datetime"],
        before[0]["updated_datetime"]
    );
    // Without a key, where and what the resident said stay private.
    assert_eq!(before[0]["address"], Value::Null);
    assert_eq!(before[0]["description"], Value::Null);

    close(&app, &code, "Filled on Tuesday.").await;
    let after = get_json(&app, &format!("/open311/v2/requests/{code}.json")).await;
    assert_eq!(after[0]["status"], "closed");
    assert_eq!(after[0]["status_notes"], "Filled on Tuesday.");

    let reader = app.token("311 desk", "requests");
    let full = get_json(
        &app,
        &format!("/open311/v2/requests/{code}.json?api_key={reader}"),
    )
    .await;
    assert_eq!(full[0]["address"], "1200 S 4th St");

    let (status, _, xml) = get(&app, &format!("/open311/v2/requests/{code}.xml")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        xml.contains(&format!(
            "<service_requests><request><service_request_id>{code}</service_request_id><status>closed</status><status_notes>Filled on Tuesday.</status_notes>"
        )),
        "{xml}"
    );

    let closed = get_json(&app, "/open311/v2/requests.json?status=closed").await;
    assert_eq!(closed.as_array().unwrap().len(), 1);
    let open = get_json(
        &app,
        "/open311/v2/requests.json?status=open&service_code=pothole",
    )
    .await;
    assert_eq!(open, json!([]));
    let by_id = get_json(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={code},NOPE-NOPE"),
    )
    .await;
    assert_eq!(by_id.as_array().unwrap().len(), 1);
    let later = get_json(
        &app,
        "/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(later, json!([]));
}

/// Where and what a resident reported, which only a reader with the `requests` scope may see.
const PRIVATE_FIELDS: [&str; 5] = ["address", "description", "lat", "long", "media_url"];

#[tokio::test]
async fn anonymous_readers_of_the_request_list_get_the_public_record_and_never_the_residents_words()
{
    let app = gateway().await;
    let resident = phone(203);
    let texted = app.report_pothole(&resident, "1200 S 4th St", "en").await;
    let writer = app.token("Call centre", "requests:write");
    let (status, body) = post_form(
        &app,
        "/open311/v2/requests.json",
        &[
            ("api_key", &writer),
            ("service_code", "streetlight"),
            ("lat", "38.2527"),
            ("long", "-85.7585"),
            ("address_string", "500 W Jefferson St"),
            ("description", "Out for a week, call me at 502-555-0199"),
            ("media_url", "https://example.org/light.jpg"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    close(&app, &texted, "Filled on Tuesday.").await;
    let private_words = [
        "1200 S 4th St",
        "500 W Jefferson St",
        "Out for a week",
        "502-555-0199",
        "light.jpg",
        "38.2527",
        "-85.7585",
        &resident[2..],
    ];

    // Anonymous, and with a key that may read results but not requests: the public record.
    let results_reader = app.token("Planning", "results");
    for key in [None, Some(results_reader.as_str())] {
        let query = key.map_or(String::new(), |k| format!("?api_key={k}"));
        let list = get_json(&app, &format!("/open311/v2/requests.json{query}")).await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        for r in list {
            assert!(r["service_request_id"].is_string(), "{r}");
            assert!(r["service_code"].is_string(), "{r}");
            assert!(r["requested_datetime"].is_string(), "{r}");
            for field in PRIVATE_FIELDS {
                assert_eq!(r[field], Value::Null, "{field} shown to {key:?}: {r}");
            }
        }
        let closed = list
            .iter()
            .find(|r| r["service_request_id"] == texted.as_str());
        assert_eq!(closed.unwrap()["status"], "closed");
        assert_eq!(closed.unwrap()["status_notes"], "Filled on Tuesday.");
        for format in ["json", "xml"] {
            let (status, _, body) =
                get(&app, &format!("/open311/v2/requests.{format}{query}")).await;
            assert_eq!(status, StatusCode::OK);
            for words in private_words {
                assert!(!body.contains(words), "{words} shown to {key:?}: {body}");
            }
        }
    }

    // A key with the `requests` scope reads everything.
    let reader = app.token("311 desk", "requests");
    let list = get_json(&app, &format!("/open311/v2/requests.json?api_key={reader}")).await;
    let posted = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service_code"] == "streetlight")
        .unwrap();
    assert_eq!(posted["address"], "500 W Jefferson St");
    assert_eq!(
        posted["description"],
        "Out for a week, call me at 502-555-0199"
    );
    assert_eq!(posted["lat"], 38.2527);
    assert_eq!(posted["media_url"], "https://example.org/light.jpg");
    let (_, _, xml) = get(&app, &format!("/open311/v2/requests.xml?api_key={reader}")).await;
    assert!(xml.contains("<address>1200 S 4th St</address>"), "{xml}");

    // A key that is unknown or revoked gets no public record either: 403.
    let id: i64 = app
        .db()
        .scalar("SELECT id FROM api_tokens WHERE name = 'Planning'", &[])
        .await;
    app.civictext(&["tokens", "revoke", &id.to_string()]);
    for bad in ["ct_nope", results_reader.as_str()] {
        let (status, _, _) = get(&app, &format!("/open311/v2/requests.json?api_key={bad}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn another_system_files_a_request_with_an_api_key_and_staff_can_close_it() {
    let app = gateway().await;
    let writer = app.token("Call centre", "requests:write");
    let (status, body) = post_form(
        &app,
        "/open311/v2/requests.json",
        &[
            ("api_key", &writer),
            ("service_code", "streetlight"),
            ("lat", "38.2527"),
            ("long", "-85.7585"),
            ("address_string", "500 W Jefferson St"),
            ("description", "Out for a week"),
            ("attribute[photo]", "https://example.org/light.jpg"),
            ("first_name", "Not stored"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let code = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 9, "{body}");

    let full = get_json(
        &app,
        &format!("/open311/v2/requests/{code}.json?api_key={writer}"),
    )
    .await;
    assert_eq!(full[0]["service_code"], "streetlight");
    assert_eq!(full[0]["address"], "500 W Jefferson St");
    assert_eq!(full[0]["description"], "Out for a week");
    assert_eq!(full[0]["media_url"], "https://example.org/light.jpg");
    assert_eq!(full[0]["lat"], 38.2527);
    assert_eq!(full[0]["long"], -85.7585);
    let channel: String = app
        .db()
        .scalar("SELECT channel FROM service_requests", &[])
        .await;
    assert_eq!(channel, "open311");
    assert_eq!(app.count("contacts", "TRUE").await, 0);

    // Closing it texts nobody: no resident filed it.
    let resp = app
        .client
        .patch(app.url(&format!("/api/v1/requests/{code}")))
        .bearer_auth(&writer)
        .json(&json!({"status": "closed", "note": "Bulb replaced."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["resident_notified"], false);
    assert_eq!(app.count("outbox", "TRUE").await, 0);

    let uses: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM api_audit WHERE route = '/open311/v2/requests' AND method = 'POST'",
            &[],
        )
        .await;
    assert_eq!(uses, 1);
}

/// A form, and the status and words of the error it must get.
type Form<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn filing_without_a_valid_key_or_a_location_is_refused_in_open311s_error_format() {
    let app = gateway().await;
    let reader = app.token("Analyst", "requests");
    let writer = app.token("Call centre", "requests:write");

    let cases: Vec<(Form, StatusCode, &str)> = vec![
        (
            vec![("service_code", "pothole"), ("address_string", "1 Main St")],
            StatusCode::FORBIDDEN,
            "api_key is required",
        ),
        (
            vec![
                ("api_key", "ct_nope"),
                ("service_code", "pothole"),
                ("address_string", "1 Main St"),
            ],
            StatusCode::FORBIDDEN,
            "Invalid api_key",
        ),
        (
            vec![
                ("api_key", &reader),
                ("service_code", "pothole"),
                ("address_string", "1 Main St"),
            ],
            StatusCode::FORBIDDEN,
            "requests:write",
        ),
        (
            vec![("api_key", &writer), ("service_code", "pothole")],
            StatusCode::BAD_REQUEST,
            "location is required",
        ),
        (
            vec![
                ("api_key", &writer),
                ("service_code", "helicopter"),
                ("address_string", "1 Main St"),
            ],
            StatusCode::BAD_REQUEST,
            "no service helicopter",
        ),
        (
            vec![
                ("api_key", &writer),
                ("service_code", "pothole"),
                ("lat", "91"),
                ("long", "0"),
            ],
            StatusCode::BAD_REQUEST,
            "lat must be",
        ),
    ];
    for (form, status, says) in cases {
        let (got, body) = post_form(&app, "/open311/v2/requests.json", &form).await;
        assert_eq!(got, status, "{form:?}: {body}");
        let errors: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(errors[0]["code"], status.as_u16(), "{body}");
        assert!(
            errors[0]["description"].as_str().unwrap().contains(says),
            "{form:?}: {body}"
        );
    }
    let (status, body) = post_form(
        &app,
        "/open311/v2/requests.xml",
        &[("service_code", "pothole")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("<errors><error><code>403</code><description>api_key is required"),
        "{body}"
    );
    let (status, _, body) = get(&app, "/open311/v2/requests/NOPE-NOPE.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()[0]["code"],
        404
    );
    let (status, _, _) = get(&app, "/open311/v2/requests.json?start_date=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("service_requests", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_open311_client_lists_the_services_and_reads_a_texted_request_after_its_update() {
    let Some(python) = common::ci_venv_program(
        "python",
        "a_real_open311_client_lists_the_services_and_reads_a_texted_request_after_its_update",
    ) else {
        return;
    };
    let app = gateway().await;
    let code = app.report_pothole(&phone(202), "1200 S 4th St", "en").await;
    close(&app, &code, "Filled on Tuesday.").await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/open311_client.py");
    let base = app.url("/open311/v2");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([script, &base, &code, "closed", "Filled on Tuesday."])
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("json: 5 services"), "{stdout}");
    assert!(stdout.contains("xml: 5 services"), "{stdout}");
    assert!(stdout.contains("is closed: Filled on Tuesday."), "{stdout}");
}
