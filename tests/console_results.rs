//! The console's results over real HTTP: after residents text through signed webhooks, the
//! numbers a clerk reads equal what the database holds, every question has its chart, the
//! responses table filters, and its CSV is the export's; phone numbers only for entitled roles.

mod common;

use common::console::signed_in;
use common::{TestApp, phone, spawn_app, spawn_app_with};
use reqwest::StatusCode;

/// Five residents: three finish (one in Spanish, one down the "never" branch), one stops
/// half-way, one opts out.
async fn residents_answer(app: &TestApp) {
    for (n, texts) in [
        (1, &["PARKS", "weekly", "4", "yes", "Great paths"][..]),
        (2, &["PARQUES", "2", "5", "no", "Limpio"][..]),
        (3, &["parks", "never", "Too far away"][..]),
        (4, &["PARKS", "1"][..]),
        (5, &["PARKS", "STOP"][..]),
    ] {
        for t in texts {
            app.say(&phone(n), t).await;
        }
    }
}

/// The number shown in the card `key` of the results page.
fn card(html: &str, key: &str) -> String {
    let at = html
        .find(&format!(r#"data-count="{key}"><span class="n">"#))
        .unwrap_or_else(|| panic!("no card {key}"));
    let rest = &html[at..];
    let start = rest.find(r#"class="n">"#).unwrap() + r#"class="n">"#.len();
    rest[start..start + rest[start..].find('<').unwrap()].to_string()
}

async fn count(app: &TestApp, status: Option<&str>) -> i64 {
    match status {
        Some(s) => {
            app.db()
                .scalar(
                    "SELECT COUNT(*) FROM sessions WHERE flow_id = 'park-survey' AND status = $1",
                    &[s],
                )
                .await
        }
        None => {
            app.db()
                .scalar(
                    "SELECT COUNT(*) FROM sessions WHERE flow_id = 'park-survey'",
                    &[],
                )
                .await
        }
    }
}

#[tokio::test]
async fn the_results_page_shows_what_the_database_holds_and_a_chart_for_every_question() {
    let app = spawn_app().await;
    residents_answer(&app).await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    let page = analyst.get("/console/flows/park-survey").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let html = page.body;
    assert_eq!(card(&html, "started"), count(&app, None).await.to_string());
    assert_eq!(card(&html, "started"), "5");
    assert_eq!(
        card(&html, "completed"),
        count(&app, Some("completed")).await.to_string()
    );
    assert_eq!(card(&html, "completed"), "3");
    assert_eq!(card(&html, "opted_out"), "1");
    assert_eq!(card(&html, "active"), "1");
    assert_eq!(card(&html, "rate"), "60%");
    for q in ["visits", "rating", "dogs", "comments", "why-not"] {
        assert!(
            html.contains(&format!(r#"data-question="{q}""#)),
            "{q} missing"
        );
    }
    // Bars for choices and yes/no, a histogram for the number, latest texts for free text.
    assert!(html.contains("<title>Answers to visits</title>"));
    assert!(html.contains("<title>Answers to dogs</title>"));
    assert!(html.contains("<title>Histogram of rating</title>"));
    assert!(html.contains("Great paths") && html.contains("Too far away"));
    assert!(html.contains("<title>Drop-off funnel</title>"));
    assert!(html.contains("<title>Conversations started per day ("));
    // The keyword each conversation came in by, and the language split.
    assert!(
        html.contains("<td>PARKS</td><td class=\"num\">4</td>"),
        "{html}"
    );
    assert!(html.contains("<td>PARQUES</td><td class=\"num\">1</td>"));
    assert!(html.contains("<td>es</td><td class=\"num\">1</td>"));
    // Resident 4 answered "1" (weekly) before stopping half-way.
    assert!(html.contains("<td>Weekly (weekly)</td><td class=\"num\">2</td>"));
    assert!(html.contains("<td>Never (never)</td><td class=\"num\">1</td>"));
    for n in 1..=5 {
        assert!(!html.contains(&phone(n)), "an analyst sees no phone number");
    }
    // The dashboard agrees.
    let home = analyst.get("/console").await.body;
    assert!(home.contains(r#"<td class="num" data-count="started">5</td>"#));
    assert!(home.contains(r#"<td class="num" data-count="completed">3</td>"#));
}

#[tokio::test]
async fn the_responses_table_filters_and_its_csv_is_the_export_with_numbers_only_for_admins() {
    let app = spawn_app().await;
    residents_answer(&app).await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    let table = analyst
        .get("/console/flows/park-survey/responses?status=completed&since=&until=")
        .await;
    assert_eq!(table.status, StatusCode::OK);
    assert_eq!(table.body.matches("<td>completed</td>").count(), 3);
    assert!(!table.body.contains("<td>active</td>"));
    for n in 1..=5 {
        assert!(!table.body.contains(&phone(n)));
    }
    let csv = analyst
        .get("/console/flows/park-survey/responses.csv")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type.starts_with("text/csv"));
    let export = app.civictext(&["export", "--flow", "park-survey"]);
    assert_eq!(csv.body, export, "the console's CSV is the export's");
    assert!(!csv.body.contains("+1"), "no phone numbers for an analyst");

    let admin = signed_in(&app, "admin@city.gov", "admin").await;
    let table = admin.get("/console/flows/park-survey/responses").await.body;
    assert!(table.contains(&phone(1)));
    let csv = admin
        .get("/console/flows/park-survey/responses.csv?status=completed")
        .await
        .body;
    assert!(csv.lines().next().unwrap().contains("phone"));
    assert_eq!(
        csv.lines().count(),
        4,
        "a header and three completed sessions"
    );

    let log = admin.get("/console/audit").await.body;
    assert!(log.contains("downloaded park-survey responses"));
    assert!(log.contains("with phone numbers"));
}

#[tokio::test]
async fn a_caseworker_cannot_open_results_and_an_unknown_flow_is_not_found() {
    let app = spawn_app().await;
    let worker = signed_in(&app, "worker@city.gov", "caseworker").await;
    assert_eq!(
        worker.get("/console/flows/park-survey").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        worker
            .get("/console/flows/park-survey/responses.csv")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    assert_eq!(
        analyst.get("/console/flows/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn days_and_times_are_the_clerks_own_in_the_gateways_time_zone() {
    let app = spawn_app_with(|s| s.time_zone = Some("America/New_York".into())).await;
    residents_answer(&app).await;
    // Four conversations on March 2nd; one at 23:45 on March 1st in New York, which is already
    // March 2nd in UTC.
    app.db()
        .execute(
            "UPDATE sessions SET started_at = '2026-03-02T16:00:00Z' WHERE flow_id = 'park-survey'",
        )
        .await;
    app.db()
        .execute(
            "UPDATE sessions SET started_at = '2026-03-02T04:45:00Z'
             WHERE id = (SELECT MIN(id) FROM sessions WHERE flow_id = 'park-survey')",
        )
        .await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;

    let html = analyst.get("/console/flows/park-survey").await.body;
    assert!(
        html.contains("<title>Conversations started per day (America/New_York)</title>"),
        "{html}"
    );
    assert!(
        html.contains("<td>2026-03-01</td><td class=\"num\">1</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td>2026-03-02</td><td class=\"num\">4</td>"),
        "{html}"
    );

    let march_first = analyst
        .get("/console/flows/park-survey/responses?since=2026-03-01&until=2026-03-01")
        .await
        .body;
    assert!(
        march_first.contains("2026-03-01 23:45 EST"),
        "{march_first}"
    );
    assert!(!march_first.contains("2026-03-02 11:00 EST"));
    let march_second = analyst
        .get("/console/flows/park-survey/responses?since=2026-03-02&until=2026-03-02")
        .await
        .body;
    assert_eq!(march_second.matches("2026-03-02 11:00 EST").count(), 4);
    assert!(!march_second.contains("2026-03-01 23:45 EST"));
}
