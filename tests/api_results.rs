//! `/api/v1` results over real HTTP: sessions with answers under pseudonyms, filters, paging
//! while residents keep texting, CSV, and agreement with `civictext export`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{TestApp, phone, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn get_csv(app: &TestApp, token: &str, path: &str) -> (StatusCode, String, String) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

async fn converse(app: &TestApp, from: &str, texts: &[&str]) {
    for t in texts {
        app.say(from, t).await;
    }
}

/// Every row of every page of `path` (which has no `?` yet or ends in `&`-able query).
async fn walk(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = get_json(app, token, &url).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit);
        rows.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return rows,
        }
    }
}

#[tokio::test]
async fn responses_show_each_session_with_its_answers_under_a_stable_pseudonym() {
    let app = spawn_app().await;
    let (ana, ben) = (phone(1), phone(2));
    converse(&app, &ana, &["PARKS", "2", "four", "Yes!", "Benches"]).await;
    converse(&app, &ben, &["PARKS", "never", "Too far"]).await;
    converse(&app, &ana, &["PARKS", "weekly"]).await;
    let token = app.token("test", "results");
    let page = get_json(&app, &token, "/api/v1/responses?flow=park-survey").await;
    let rows = page["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(page["next_cursor"].is_null());
    let first = &rows[0];
    assert_eq!(first["flow"], "park-survey");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["language"], "en");
    assert!(first["flow_version"].is_string() && first["ended_at"].is_string());
    let answers = first["answers"].as_array().unwrap();
    assert_eq!(answers[0]["question"], "visits");
    assert_eq!(answers[0]["raw"], "2");
    assert_eq!(answers[0]["value"], "monthly");
    assert_eq!(answers[0]["category"], "monthly");
    assert_eq!(answers.len(), 4);
    // One resident, one pseudonym across sessions; not their number, and no phone field.
    assert_eq!(rows[0]["contact"], rows[2]["contact"]);
    assert_ne!(rows[0]["contact"], rows[1]["contact"]);
    assert!(first.get("phone").is_none());
    let body = page.to_string();
    assert!(!body.contains(&ana) && !body.contains(&ana[2..]), "{body}");
    assert_eq!(rows[2]["status"], "active");

    let pii = app.token("test", "results:pii");
    let page = get_json(&app, &pii, "/api/v1/responses?flow=park-survey").await;
    assert_eq!(page["data"][0]["phone"], ana.as_str());
    assert_eq!(page["data"][1]["phone"], ben.as_str());
    assert_eq!(page["data"][0]["contact"], rows[0]["contact"]);
}

#[tokio::test]
async fn responses_filter_by_flow_status_and_time_and_refuse_bad_parameters_as_problems() {
    let app = spawn_app().await;
    converse(&app, &phone(1), &["PARKS", "never", "Too far"]).await;
    converse(&app, &phone(2), &["PARKS", "weekly"]).await;
    converse(&app, &phone(3), &["QUICK"]).await;
    let token = app.token("test", "results");
    let n = |v: Value| v["data"].as_array().unwrap().len();
    assert_eq!(n(get_json(&app, &token, "/api/v1/responses").await), 3);
    assert_eq!(
        n(get_json(&app, &token, "/api/v1/responses?flow=park-survey").await),
        2
    );
    assert_eq!(
        n(get_json(
            &app,
            &token,
            "/api/v1/responses?flow=park-survey&status=completed"
        )
        .await),
        1
    );
    assert_eq!(
        n(get_json(&app, &token, "/api/v1/responses?status=opted_out").await),
        0
    );
    assert_eq!(
        n(get_json(&app, &token, "/api/v1/responses?since=2000-01-01T00:00:00Z").await),
        3
    );
    assert_eq!(
        n(get_json(&app, &token, "/api/v1/responses?until=2000-01-01T00:00:00Z").await),
        0
    );
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    assert_eq!(
        n(get_json(&app, &token, &format!("/api/v1/responses?since={later}")).await),
        0
    );
    for bad in [
        "status=finished",
        "since=yesterday",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "cursor=not-a-cursor",
    ] {
        let resp = app
            .client
            .get(app.url(&format!("/api/v1/responses?{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn walking_every_page_while_residents_keep_texting_returns_each_finished_session_once() {
    let app = spawn_app().await;
    let token = app.token("test", "results");
    // 30 residents finish before the walk begins.
    for i in 0..30 {
        converse(&app, &phone(100 + i), &["PARKS", "never", "Too far"]).await;
    }
    // Others keep texting while the walk goes on.
    let texting = {
        let app_ref: &TestApp = &app;
        async move {
            for i in 0..30 {
                converse(app_ref, &phone(200 + i), &["PARKS", "never", "Busy"]).await;
            }
        }
    };
    let walking = walk(&app, &token, "/api/v1/responses?status=completed", 4);
    let ((), rows) = tokio::join!(texting, walking);
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r["session_id"].as_i64().unwrap())
        .collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a session was returned twice: {ids:?}"
    );
    let contacts: BTreeSet<String> = rows
        .iter()
        .map(|r| r["contact"].as_str().unwrap().to_string())
        .collect();
    // Every session that had finished before the walk is there.
    let before = get_json(
        &app,
        &token,
        "/api/v1/responses?status=completed&limit=1000",
    )
    .await;
    let all: Vec<&Value> = before["data"].as_array().unwrap().iter().collect();
    assert_eq!(all.len(), 60);
    for r in all.iter().take(30) {
        assert!(
            contacts.contains(r["contact"].as_str().unwrap()),
            "{r} was skipped"
        );
    }
    // And a walk after the texting stops sees all 60, each once.
    let again = walk(&app, &token, "/api/v1/responses?status=completed", 7).await;
    let ids: BTreeSet<i64> = again
        .iter()
        .map(|r| r["session_id"].as_i64().unwrap())
        .collect();
    assert_eq!((again.len(), ids.len()), (60, 60));
}

#[tokio::test]
async fn responses_json_csv_and_export_agree_row_for_row() {
    let app = spawn_app().await;
    let tricky = "Benches, \"old\" ones; fix them\nplease";
    converse(&app, &phone(1), &["PARKS", "2", "four", "Yes!", tricky]).await;
    converse(&app, &phone(2), &["PARKS", "never", "Too far, no bus"]).await;
    converse(&app, &phone(3), &["PARQUES", "cada semana", "5"]).await;
    let token = app.token("test", "results");

    let json = walk(&app, &token, "/api/v1/responses?flow=park-survey", 2).await;
    let (status, ct, csv_text) = get_csv(&app, &token, "/api/v1/responses?flow=park-survey").await;
    assert_eq!(status, StatusCode::OK, "{csv_text}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    let export = app.civictext(&["export", "--flow", "park-survey", "--format", "csv"]);
    assert_eq!(csv_text, export, "the API's CSV and the export differ");

    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<HashMap<String, String>> = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), json.len());
    for (c, j) in rows.iter().zip(&json) {
        assert_eq!(c["session_id"], j["session_id"].to_string());
        assert_eq!(c["contact"], j["contact"].as_str().unwrap());
        assert_eq!(c["status"], j["status"].as_str().unwrap());
        assert_eq!(c["started_at"], j["started_at"].as_str().unwrap());
        for a in j["answers"].as_array().unwrap() {
            let q = a["question"].as_str().unwrap();
            assert_eq!(c[q], a["value"].as_str().unwrap());
            assert_eq!(c[&format!("{q}_raw")], a["raw"].as_str().unwrap());
        }
    }
    assert_eq!(rows[0]["comments_raw"], tricky);

    let jsonl = app.civictext(&["export", "--flow", "park-survey", "--format", "jsonl"]);
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), json.len());
    for (l, j) in lines.iter().zip(&json) {
        assert_eq!(l["session_id"], j["session_id"]);
        assert_eq!(l["contact"], j["contact"]);
    }

    // CSV needs a flow (its columns are the flow's questions).
    let (status, _, _) = get_csv(&app, &token, "/api/v1/responses").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A pii token's CSV adds the number beside the pseudonym.
    let pii = app.token("test", "results:pii");
    let (_, _, with) = get_csv(&app, &pii, "/api/v1/responses?flow=park-survey").await;
    assert!(with.starts_with("session_id,contact,phone,"), "{with}");
    assert!(with.contains(&phone(1)));
    assert!(!csv_text.contains(&phone(1)));
}

#[tokio::test]
async fn the_summary_counts_sessions_answer_categories_and_drop_off() {
    let app = spawn_app().await;
    converse(&app, &phone(1), &["PARKS", "2", "4", "yes", "ok"]).await;
    converse(&app, &phone(2), &["PARKS", "monthly", "5", "no", "fine"]).await;
    converse(&app, &phone(3), &["PARKS", "never", "Too far"]).await;
    converse(&app, &phone(4), &["PARKS", "weekly", "3", "STOP"]).await;
    converse(&app, &phone(5), &["PARKS", "weekly"]).await;
    let token = app.token("test", "results");
    let s = get_json(&app, &token, "/api/v1/flows/park-survey/summary").await;
    assert_eq!(s["flow"], "park-survey");
    assert_eq!(s["started"], 5);
    assert_eq!(s["completed"], 3);
    assert_eq!(s["opted_out"], 1);
    assert_eq!(s["active"], 1);
    assert_eq!(s["expired"], 0);
    assert!((s["completion_rate"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    let questions: BTreeMap<String, &Value> = s["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["question"].as_str().unwrap().to_string(), q))
        .collect();
    let visits = questions["visits"];
    assert_eq!(visits["answered"], 5);
    assert_eq!(visits["categories"]["weekly"], 2);
    assert_eq!(visits["categories"]["monthly"], 2);
    assert_eq!(visits["categories"]["never"], 1);
    // The resident who said STOP did so after answering the rating.
    assert_eq!(questions["rating"]["dropped_after"], 1);
    assert_eq!(questions["visits"]["dropped_after"], 0);
    assert_eq!(s["questions"][0]["question"], "visits");

    let resp = app
        .client
        .get(app.url("/api/v1/flows/no-such-flow/summary"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn flows_are_listed_with_their_versions_and_questions() {
    let app = spawn_app().await;
    let token = app.token("test", "results");
    let list = get_json(&app, &token, "/api/v1/flows").await;
    let park = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "park-survey")
        .expect("park-survey is listed");
    assert_eq!(park["versions"][0]["current"], true);
    assert_eq!(park["versions"][0]["version"], park["current_version"]);
    let q = &park["versions"][0]["questions"][0];
    assert_eq!(q["id"], "visits");
    assert_eq!(q["type"], "choice");
    assert_eq!(
        q["choices"],
        serde_json::json!(["weekly", "monthly", "never"])
    );
    assert_eq!(q["text"], "How often do you visit Riverside Park?");
    let one = get_json(&app, &token, "/api/v1/flows/park-survey").await;
    assert_eq!(&one, park);
}

#[tokio::test]
async fn service_requests_filed_by_text_are_listed_and_found_by_tracking_code() {
    let app = spawn_app().await;
    let me = phone(5);
    converse(&app, &me, &["POTHOLE", "Oak St and 3rd", "yes", "SKIP"]).await;
    let done = app.say(&me, "Hole by the curb").await;
    let code = done[0]
        .strip_prefix("Thanks! Your tracking code is ")
        .and_then(|s| s.strip_suffix('.'))
        .unwrap()
        .to_string();
    let token = app.token("test", "requests");
    let page = get_json(&app, &token, "/api/v1/requests").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let r = &page["data"][0];
    assert_eq!(r["code"], code.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["location"], "Oak St and 3rd");
    assert_eq!(r["description"], "Hole by the curb");
    assert!(!page.to_string().contains(&me));
    assert_eq!(
        &get_json(&app, &token, &format!("/api/v1/requests/{code}")).await,
        r
    );
    assert_eq!(
        get_json(&app, &token, "/api/v1/requests?status=closed").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let resp = app
        .client
        .get(app.url("/api/v1/requests/NOPE"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_description_and_its_reference_page_are_served_without_a_token() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/flows",
        "/api/v1/flows/{flow}",
        "/api/v1/flows/{flow}/summary",
        "/api/v1/responses",
        "/api/v1/requests",
        "/api/v1/requests/{code}",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is not described"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let (status, page) = app.get("/api/v1/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/api/v1/responses") && page.contains("ResponseItem"));
    assert!(
        !page.contains("<script"),
        "the reference page loads nothing from elsewhere"
    );
}
