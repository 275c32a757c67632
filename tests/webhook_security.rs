//! Only Twilio may post texts: X-Twilio-Signature is checked against the configured public URL,
//! and a refused request leaves no trace in the database.

mod common;

use civictext::channel::twilio::signature;
use civictext::config::Settings;
use civictext::startup::Application;
use common::{
    FORM, PUBLIC_URL, SMS_PATH, TEST_TOKEN, encode_form, new_sid, phone, sms_params, spawn_app,
    spawn_app_with,
};

fn signed_for(url: &str, params: &[(String, String)]) -> String {
    signature::compute(TEST_TOKEN, url, params)
}

#[tokio::test]
async fn a_correctly_signed_text_is_answered() {
    let app = spawn_app().await;
    let params = sms_params(&phone(1), "PARKS", &new_sid());
    let sig = signed_for(&format!("{PUBLIC_URL}{SMS_PATH}"), &params);
    let (status, twiml) = app.post_form(SMS_PATH, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(
        common::messages(&twiml)[0],
        "Welcome to the Riverside Park survey."
    );
    assert_eq!(app.count("messages", "direction = 'in'").await, 1);
}

#[tokio::test]
async fn a_text_with_a_tampered_parameter_is_refused_and_not_stored() {
    let app = spawn_app().await;
    let mut params = sms_params(&phone(2), "PARKS", &new_sid());
    let sig = signed_for(&format!("{PUBLIC_URL}{SMS_PATH}"), &params);
    for p in params.iter_mut().filter(|(k, _)| k == "Body") {
        p.1 = "POTHOLE".into();
    }
    let (status, _) = app.post_form(SMS_PATH, &params, Some(&sig)).await;
    assert_eq!(status, 403);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_text_with_an_added_parameter_is_refused() {
    let app = spawn_app().await;
    let mut params = sms_params(&phone(3), "PARKS", &new_sid());
    let sig = signed_for(&format!("{PUBLIC_URL}{SMS_PATH}"), &params);
    params.push(("FromCity".into(), "LOUISVILLE".into()));
    let (status, _) = app.post_form(SMS_PATH, &params, Some(&sig)).await;
    assert_eq!(status, 403);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_signature_made_for_another_host_or_path_is_refused() {
    let app = spawn_app().await;
    let params = sms_params(&phone(4), "PARKS", &new_sid());
    for url in [
        format!("https://attacker.example.com{SMS_PATH}"),
        format!("http://127.0.0.1:{}{SMS_PATH}", app.addr.port()),
        format!("http://sms.example.gov{SMS_PATH}"),
        format!("{PUBLIC_URL}/webhooks/twilio/status"),
        PUBLIC_URL.to_string(),
    ] {
        let sig = signed_for(&url, &params);
        let (status, _) = app.post_form(SMS_PATH, &params, Some(&sig)).await;
        assert_eq!(status, 403, "signed for {url}");
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_signature_made_with_another_token_is_refused() {
    let app = spawn_app().await;
    let params = sms_params(&phone(5), "PARKS", &new_sid());
    let sig = signature::compute("another-token", &format!("{PUBLIC_URL}{SMS_PATH}"), &params);
    let (status, _) = app.post_form(SMS_PATH, &params, Some(&sig)).await;
    assert_eq!(status, 403);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn the_query_string_is_part_of_what_is_signed() {
    let app = spawn_app().await;
    let params = sms_params(&phone(6), "PARKS", &new_sid());
    let body = || encode_form(&params).into_bytes();
    let path = format!("{SMS_PATH}?tenant=parks");

    // Signed without the query, posted with it.
    let sig = signed_for(&format!("{PUBLIC_URL}{SMS_PATH}"), &params);
    assert_eq!(app.post_raw(&path, FORM, body(), Some(&sig)).await.0, 403);
    // Signed with another query.
    let sig = signed_for(&format!("{PUBLIC_URL}{SMS_PATH}?tenant=roads"), &params);
    assert_eq!(app.post_raw(&path, FORM, body(), Some(&sig)).await.0, 403);
    // Signed with the query, posted without it.
    let sig = signed_for(&format!("{PUBLIC_URL}{path}"), &params);
    assert_eq!(
        app.post_raw(SMS_PATH, FORM, body(), Some(&sig)).await.0,
        403
    );
    app.assert_nothing_stored().await;

    // Signed with exactly the query it is posted with.
    let (status, twiml) = app.post_raw(&path, FORM, body(), Some(&sig)).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(app.count("messages", "direction = 'in'").await, 1);
}

#[tokio::test]
async fn an_empty_or_missing_signature_header_is_refused() {
    let app = spawn_app().await;
    let params = sms_params(&phone(7), "PARKS", &new_sid());
    let body = || encode_form(&params).into_bytes();
    assert_eq!(app.post_raw(SMS_PATH, FORM, body(), Some("")).await.0, 403);
    assert_eq!(app.post_raw(SMS_PATH, FORM, body(), None).await.0, 403);
    assert_eq!(
        app.post_raw(SMS_PATH, FORM, body(), Some("not base64 at all!"))
            .await
            .0,
        403
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_text_for_another_twilio_account_is_refused_when_the_account_is_configured() {
    let app = spawn_app_with(|s| {
        s.twilio_account_sid = Some("AC11111111111111111111111111111111".into());
    })
    .await;
    // Correctly signed, but for AccountSid AC000… (what sms_params sends).
    let (status, _) = app.text(&phone(8), "PARKS").await;
    assert_eq!(status, 403);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_gateway_without_a_token_on_loopback_accepts_unsigned_texts() {
    let app = spawn_app_with(|s| {
        s.twilio_auth_token = None;
        s.public_url = None;
    })
    .await;
    let params = sms_params(&phone(9), "PARKS", &new_sid());
    let (status, twiml) = app.post_form(SMS_PATH, &params, None).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(
        common::messages(&twiml)[0],
        "Welcome to the Riverside Park survey."
    );
}

#[tokio::test]
async fn a_gateway_without_a_token_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        bind: "0.0.0.0:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        flows: common::fixture_flows(),
        twilio_auth_token: None,
        ..Settings::default()
    };
    let refused = settings.validate().unwrap_err().to_string();
    assert!(refused.contains("TWILIO_AUTH_TOKEN"), "{refused}");
    let err = Application::build(&settings)
        .await
        .err()
        .expect("the gateway must not start");
    assert!(err.to_string().contains("TWILIO_AUTH_TOKEN"), "{err}");

    let with_token = Settings {
        twilio_auth_token: Some(TEST_TOKEN.into()),
        public_url: Some(PUBLIC_URL.into()),
        ..settings
    };
    assert!(with_token.validate().is_ok());
}

#[tokio::test]
async fn a_public_url_written_with_a_trailing_slash_still_verifies_twilios_signature() {
    let app = spawn_app_with(|s| s.public_url = Some(format!("{PUBLIC_URL}/"))).await;
    let (status, twiml) = app.text(&phone(10), "PARKS").await;
    assert_eq!(status, 200, "{twiml}");
}

#[tokio::test]
async fn a_signed_text_without_an_account_sid_is_refused_when_the_account_is_configured() {
    let account = "AC00000000000000000000000000000000";
    let app = spawn_app_with(|s| s.twilio_account_sid = Some(account.into())).await;
    let mut params = sms_params(&phone(40), "PARKS", &new_sid());
    params.retain(|(k, _)| k != "AccountSid");
    let (status, body) = app.post_signed(&params).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccountSid"), "{body}");
    let mut empty = sms_params(&phone(40), "PARKS", &new_sid());
    empty.retain(|(k, _)| k != "AccountSid");
    empty.push(("AccountSid".into(), String::new()));
    assert_eq!(app.post_signed(&empty).await.0, 403, "an empty AccountSid");
    app.assert_nothing_stored().await;
    // The configured account's own texts still go through.
    assert_eq!(app.text(&phone(40), "PARKS").await.0, 200);
}
