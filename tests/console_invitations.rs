//! The console's invitations pages through the real router: composing a broadcast or a survey
//! invitation, its preview (which queues nothing), confirming it, following it and cancelling
//! it, who may do so, and a queued invitation actually sent to a local Twilio stub.
//! `CIVICTEXT_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;

use std::time::Duration;

use civictext::config::Settings;
use civictext::store::Store;
use common::console::{Browser, csrf, signed_in};
use common::twilio_stub::TwilioStub;
use common::{TestApp, shipped_flows, spawn_app_on, spawn_app_with};
use jiff::Timestamp;
use reqwest::StatusCode;

const NEW: &str = "/console/invitations/new";
const PREVIEW: &str = "/console/invitations/preview";
const CONFIRM: &str = "/console/invitations";

fn resident(n: u32) -> String {
    format!("+1502{n:07}")
}

async fn consenting(app: &TestApp, phones: &[String]) {
    let store = Store::connect(&app.settings.database_url)
        .await
        .expect("the gateway's database");
    common::consenting(&store, phones).await;
    store.close().await;
}

/// Sets a contact's language and ZIP code, as earlier conversations would have.
async fn profile(app: &TestApp, phone: &str, language: &str, zip: &str) {
    let fields = format!(r#"{{"zip": "{zip}"}}"#);
    let sql = match common::backend() {
        common::Backend::Sqlite => {
            "UPDATE contacts SET language = $1, fields = $2 WHERE phone = $3"
        }
        common::Backend::Postgres => {
            "UPDATE contacts SET language = $1, fields = $2::jsonb WHERE phone = $3"
        }
    };
    let _: Vec<(i64,)> = app.db().rows(sql, &[language, &fields, phone]).await;
}

/// Three consenting residents: one Spanish-speaking in 40202, two English-speaking in 40203.
async fn three_residents(app: &TestApp) -> Vec<String> {
    let phones: Vec<String> = (1..=3).map(resident).collect();
    consenting(app, &phones).await;
    profile(app, &phones[0], "es", "40202").await;
    profile(app, &phones[1], "en", "40203").await;
    profile(app, &phones[2], "en", "40203").await;
    phones
}

async fn admin(app: &TestApp) -> Browser {
    signed_in(app, "comms@city.gov", "admin").await
}

/// The broadcast id of a `/console/invitations/{id}?queued=1` redirect.
fn broadcast_id(location: &Option<String>) -> i64 {
    let l = location.as_deref().expect("a redirect");
    l.trim_start_matches("/console/invitations/")
        .split('?')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no broadcast id in {l}"))
}

/// The number in the cell marked `data-count="{name}"`.
fn count_cell(html: &str, name: &str) -> i64 {
    let marker = format!(r#"data-count="{name}">"#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} count in {html}"))
        + marker.len();
    html[at..]
        .split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_preview_shows_audience_segments_and_cost_per_language_and_queues_nothing() {
    let app = spawn_app_with(|_| {}).await;
    three_residents(&app).await;
    let clerk = admin(&app).await;

    let page = clerk
        .submit(
            NEW,
            PREVIEW,
            &[
                ("kind", "text"),
                (
                    "text_en",
                    "Youth planning meeting Tuesday 6pm at the library.",
                ),
                (
                    "text_es",
                    "Reunión juvenil el martes a las 6pm en la biblioteca.",
                ),
                ("when", "now"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("nothing is queued yet"), "{}", page.body);
    assert!(
        page.body.contains(r#"<dd id="preview-recipients">3</dd>"#),
        "{}",
        page.body
    );
    // English: GSM-7, one segment, two residents. Spanish: the accents make it UCS-2.
    let english = row(&page.body, "English");
    assert!(
        english.contains("GSM-7") && english.contains(">2<"),
        "{english}"
    );
    let spanish = row(&page.body, "Spanish");
    assert!(
        spanish.contains("UCS-2") && spanish.contains("“ó” (U+00F3)"),
        "{spanish}"
    );
    assert!(spanish.contains("$0.01"), "{spanish}");
    assert!(
        page.body
            .contains(r#"<td class="num" id="preview-cost">$0.02</td>"#),
        "{}",
        page.body
    );
    // The test gateway has no Twilio credentials: the page says what that means.
    assert!(
        page.body.contains("stays queued until Twilio is set up"),
        "{}",
        page.body
    );
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
    assert_eq!(app.count("outbox", "TRUE").await, 0);
}

/// The cost-table row of `language` in `html`.
fn row<'a>(html: &'a str, language: &str) -> &'a str {
    let at = html
        .find(&format!(r#"<tr data-language="{language}">"#))
        .unwrap_or_else(|| panic!("no {language} row in {html}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_preview_at_night_says_how_many_texts_quiet_hours_will_hold_and_until_when() {
    let app = spawn_app_with(|s| s.quiet_hours = "21:00-08:00".into()).await;
    three_residents(&app).await;
    let clerk = admin(&app).await;
    // 23:00 tomorrow in Louisville; the residents' 502 numbers are in the same zone.
    let zone = jiff::tz::TimeZone::get("America/Kentucky/Louisville").unwrap();
    let tomorrow = Timestamp::now()
        .to_zoned(zone.clone())
        .date()
        .tomorrow()
        .unwrap();
    let at = format!("{tomorrow}T23:00");
    let page = clerk
        .submit(
            NEW,
            PREVIEW,
            &[
                ("kind", "text"),
                ("text_en", "Pool opens tomorrow."),
                ("when", "later"),
                ("at", &at),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let morning = tomorrow.tomorrow().unwrap();
    assert!(
        page.body.contains(
            "Quiet hours 21:00–08:00: texts to residents in a quiet window wait until 08:00 \
             their time. At the send time 3 of 3 recipients will be in it"
        ),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("waits until {morning} 08:00")),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirming_queues_the_broadcast_for_the_chosen_audience_and_it_shows_in_broadcast_status()
{
    let app = spawn_app_with(|_| {}).await;
    let phones = three_residents(&app).await;
    let clerk = admin(&app).await;
    let fields = [
        ("kind", "text"),
        ("text_en", "Sidewalk repairs on Main St start Monday."),
        ("text_es", "Arreglos de aceras en Main St desde el lunes."),
        ("field", "zip"),
        ("value", "40202"),
        ("when", "now"),
    ];
    let preview = clerk.submit(NEW, PREVIEW, &fields).await;
    assert!(
        preview
            .body
            .contains(r#"<dd id="preview-recipients">1</dd>"#),
        "{}",
        preview.body
    );
    // The confirmation posts the same fields back from the preview page.
    let done = clerk.submit(NEW, CONFIRM, &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let id = broadcast_id(&done.location);

    let to: Vec<String> = app
        .db()
        .scalars("SELECT to_addr FROM outbox WHERE kind = 'broadcast'", &[])
        .await;
    assert_eq!(to, vec![phones[0].clone()], "only the resident in 40202");
    let body: String = app.db().scalar("SELECT body FROM outbox", &[]).await;
    assert_eq!(body, "Arreglos de aceras en Main St desde el lunes.");
    let by: String = app
        .db()
        .scalar("SELECT created_by FROM broadcasts", &[])
        .await;
    assert_eq!(by, "comms@city.gov");
    assert_eq!(
        app.count("staff_audit", "action = 'broadcast_queued'")
            .await,
        1
    );

    let status = app.civictext(&["broadcast", "status", &id.to_string()]);
    assert!(
        status.starts_with(&format!("broadcast {id}: queued — 0/1 done")),
        "{status}"
    );
    let page = clerk
        .get(&format!("/console/invitations/{id}?queued=1"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Queued: 1 text."), "{}", page.body);
    assert_eq!(count_cell(&page.body, "queued"), 1);
    let list = clerk.get("/console/invitations").await;
    assert!(
        list.body
            .contains(&format!(r#"<tr data-broadcast="{id}">"#))
            && list.body.contains("where zip=40202")
            && list.body.contains("comms@city.gov"),
        "{}",
        list.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_text_too_long_for_one_message_is_refused_at_its_field_with_the_reason() {
    let app = spawn_app_with(|_| {}).await;
    three_residents(&app).await;
    let clerk = admin(&app).await;
    let long = format!("{}Come.", "Budget hearing! ".repeat(100));
    for path in [PREVIEW, CONFIRM] {
        let page = clerk
            .submit(
                NEW,
                path,
                &[("kind", "text"), ("text_en", &long), ("when", "now")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(
            page.body.contains(
                r#"<p class="error" id="text_en-error">The `en` text is 1605 characters; one SMS conversation message can be at most 1600: shorten it</p>"#
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains(r#"aria-invalid="true""#));
    }
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analysts_and_caseworkers_are_refused_the_invitations_pages() {
    let app = spawn_app_with(|_| {}).await;
    three_residents(&app).await;
    for (email, role) in [
        ("analyst@city.gov", "analyst"),
        ("casework@city.gov", "caseworker"),
    ] {
        let b = signed_in(&app, email, role).await;
        for path in ["/console/invitations", NEW] {
            assert_eq!(
                b.get(path).await.status,
                StatusCode::FORBIDDEN,
                "{role} {path}"
            );
        }
        let home = b.get("/console").await;
        assert!(
            !home.body.contains("/console/invitations"),
            "{role}: no link"
        );
        let token = csrf(&home.body);
        let posted = b
            .post_raw(
                CONFIRM,
                &[
                    ("csrf", &token),
                    ("kind", "text"),
                    ("text_en", "Hi"),
                    ("when", "now"),
                ],
            )
            .await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{role}");
    }
    // Editors write the surveys and may invite residents to them.
    let editor = signed_in(&app, "editor@city.gov", "editor").await;
    assert_eq!(editor.get(NEW).await.status, StatusCode::OK);
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_without_the_form_token_is_refused_and_queues_nothing() {
    let app = spawn_app_with(|_| {}).await;
    three_residents(&app).await;
    let clerk = admin(&app).await;
    let page = clerk
        .post_raw(
            CONFIRM,
            &[("kind", "text"), ("text_en", "Hello"), ("when", "now")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let forged = clerk
        .post_raw(
            CONFIRM,
            &[
                ("csrf", "forged"),
                ("kind", "text"),
                ("text_en", "Hello"),
                ("when", "now"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
    assert_eq!(app.count("outbox", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_scheduled_broadcast_stops_the_texts_that_have_not_gone() {
    let app = spawn_app_with(|_| {}).await;
    three_residents(&app).await;
    let clerk = admin(&app).await;
    let zone = jiff::tz::TimeZone::get("America/Kentucky/Louisville").unwrap();
    let later = (Timestamp::now() + jiff::SignedDuration::from_hours(48))
        .to_zoned(zone)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let done = clerk
        .submit(
            NEW,
            CONFIRM,
            &[
                ("kind", "text"),
                ("text_en", "Farmers market moves to Saturday."),
                ("when", "later"),
                ("at", &later),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let id = broadcast_id(&done.location);
    let page = clerk.get(&format!("/console/invitations/{id}")).await;
    assert!(
        page.body
            .contains(r#"<dd id="broadcast-state">scheduled</dd>"#),
        "{}",
        page.body
    );

    let cancel_path = format!("/console/invitations/{id}/cancel");
    let cancelled = clerk
        .submit(&format!("/console/invitations/{id}"), &cancel_path, &[])
        .await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("outbox", "state = 'cancelled'").await, 3);
    assert_eq!(app.count("outbox", "state = 'queued'").await, 0);
    let page = clerk.get(cancelled.location.as_deref().unwrap()).await;
    assert!(
        page.body
            .contains("Cancelled: 3 texts that had not gone will not be sent."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<dd id="broadcast-state">cancelled</dd>"#)
    );
    assert!(!page.body.contains(&cancel_path), "nothing left to cancel");
    assert_eq!(
        app.count("staff_audit", "action = 'broadcast_cancelled'")
            .await,
        1
    );
}

fn outbound(stub: &TwilioStub) -> impl FnOnce(&mut Settings) {
    let base = stub.base();
    move |s| {
        s.twilio_account_sid = Some("AC00000000000000000000000000000000".into());
        s.twilio_from = Some(common::twilio_stub::SENDER.into());
        s.twilio_api_base = base;
        s.outbound_mps = 50.0;
        s.quiet_hours = "off".into();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_survey_invitation_queued_in_the_console_is_sent_and_its_progress_page_shows_it() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&shipped_flows(), outbound(&stub)).await;
    let phones = three_residents(&app).await;
    let clerk = admin(&app).await;
    let fields = [
        ("kind", "survey"),
        ("flow", "youth-survey"),
        ("when", "now"),
    ];
    let preview = clerk.submit(NEW, PREVIEW, &fields).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        row(&preview.body, "English").contains("How old are you?"),
        "{}",
        preview.body
    );
    assert!(!preview.body.contains("stays queued until Twilio is set up"));
    let done = clerk.submit(NEW, CONFIRM, &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let id = broadcast_id(&done.location);

    let sent = app
        .eventually(Duration::from_secs(30), || async {
            app.count("outbox", "state = 'sent'").await == 3
        })
        .await;
    assert!(sent, "every invitation was sent");
    let accepted = stub.accepted();
    let to_es = accepted
        .iter()
        .find(|a| a.to == phones[0])
        .expect("sent to the Spanish speaker");
    assert!(
        to_es.body.ends_with("¿Cuántos años tiene?"),
        "{}",
        to_es.body
    );
    assert_eq!(
        app.count("sessions", "status = 'active' AND flow_id = 'youth-survey'")
            .await,
        3
    );
    let page = clerk.get(&format!("/console/invitations/{id}")).await;
    assert_eq!(count_cell(&page.body, "sent"), 3, "{}", page.body);
    assert_eq!(count_cell(&page.body, "queued"), 0);
    assert!(
        page.body
            .contains(r#"<dd id="broadcast-state">finished</dd>"#)
    );
    assert!(
        page.body
            .contains(r#"<progress id="progress-bar" max="100" value="100">"#),
        "{}",
        page.body
    );
}
