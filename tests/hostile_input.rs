//! Whatever arrives at the webhook — markup, floods of emoji, broken encodings, huge bodies,
//! wrong methods — the gateway answers with the right status, well-formed TwiML and no stray
//! rows.

mod common;

use common::{
    FORM, PUBLIC_URL, SMS_PATH, TEST_TOKEN, TestApp, encode_form, messages, new_sid, phone,
    sms_params, spawn_app,
};

fn sign(params: &[(String, String)]) -> String {
    civictext::channel::twilio::signature::compute(
        TEST_TOKEN,
        &format!("{PUBLIC_URL}{SMS_PATH}"),
        params,
    )
}

/// Answers the pothole report's first question with `place`.
async fn echo_location(app: &TestApp, from: &str, place: &str) -> (reqwest::StatusCode, String) {
    app.say(from, "POTHOLE").await;
    app.text(from, place).await
}

#[tokio::test]
async fn markup_in_an_answer_comes_back_escaped_as_text_of_one_message() {
    let app = spawn_app().await;
    let me = phone(1);
    let attack = r#"</Message><Message to="+15551234567">Hi"#;
    let (status, twiml) = echo_location(&app, &me, attack).await;
    assert_eq!(status, 200);
    assert!(!twiml.contains("<Message to="), "unescaped markup: {twiml}");
    assert_eq!(
        messages(&twiml),
        [format!(
            "You said: {attack}. Is that right? Reply YES or NO."
        )]
    );
    // Stored exactly as sent.
    let body: String = app
        .db()
        .scalar(
            "SELECT body FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await;
    assert_eq!(body, attack);
    // And kept verbatim as the answer once confirmed.
    app.say(&me, "yes").await;
    let raw: (String, String) = app
        .db()
        .row(
            "SELECT raw, value FROM answers WHERE question = 'where'",
            &[],
        )
        .await;
    assert_eq!(raw, (attack.to_string(), attack.to_string()));
}

#[tokio::test]
async fn control_characters_in_an_echoed_answer_never_break_the_xml() {
    let app = spawn_app().await;
    let place = "5th \u{1}and\u{0} Main\u{FFFE} & <Oak> \"St\" 'x'";
    let (status, twiml) = echo_location(&app, &phone(2), place).await;
    assert_eq!(status, 200);
    let msgs = messages(&twiml);
    assert_eq!(msgs.len(), 1, "{twiml}");
    assert!(msgs[0].contains("& <Oak> \"St\" 'x'"), "{msgs:?}");
}

#[tokio::test]
async fn sixteen_hundred_emoji_as_a_free_text_answer_are_stored_and_every_reply_fits() {
    let app = spawn_app().await;
    let me = phone(3);
    for step in ["PARKS", "weekly", "5", "no"] {
        app.say(&me, step).await;
    }
    let flood: String = "😀🚌🌳🕳️".chars().cycle().take(1600).collect();
    let (status, twiml) = app.text(&me, &flood).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(messages(&twiml), ["Thanks! Your answers were recorded."]);
    let raw: String = app
        .db()
        .scalar("SELECT raw FROM answers WHERE question = 'comments'", &[])
        .await;
    assert_eq!(raw, flood);
    let stored: (String, i32) = app
        .db()
        .row(
            "SELECT encoding, segments FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await;
    assert_eq!(stored.0.to_lowercase().replace('-', ""), "ucs2");
    assert!(stored.1 > 20, "{stored:?}");
}

#[tokio::test]
async fn a_very_long_answer_echoed_back_is_cut_to_one_message_of_at_most_1600_characters() {
    let app = spawn_app().await;
    let long_place: String = "Corner of 5th and Main ".repeat(70); // 1610 characters
    let (status, twiml) = echo_location(&app, &phone(4), long_place.trim_end()).await;
    assert_eq!(status, 200);
    let msgs = messages(&twiml);
    assert!(!msgs.is_empty());
    for m in &msgs {
        assert!(
            m.chars().count() <= 1600,
            "{} characters",
            m.chars().count()
        );
    }
    let emoji: String = "😀".repeat(1600);
    let (status, twiml) = echo_location(&app, &phone(5), &emoji).await;
    assert_eq!(status, 200);
    for m in messages(&twiml) {
        assert!(
            m.chars().count() <= 1600,
            "{} characters",
            m.chars().count()
        );
    }
}

#[tokio::test]
async fn an_empty_body_gets_a_sensible_reply() {
    let app = spawn_app().await;
    // A stranger's empty text: the default reply.
    let reply = app.say(&phone(6), "").await;
    assert_eq!(reply.len(), 1);
    assert!(reply[0].contains("PARKS"), "{reply:?}");
    // An empty answer to a text question is asked again.
    let me = phone(7);
    for step in ["PARKS", "weekly", "5", "no"] {
        app.say(&me, step).await;
    }
    assert_eq!(
        app.say(&me, "   ").await,
        ["Sorry, we didn't get any text. Please try again."]
    );
    // A picture message without any Body parameter.
    let mut params = sms_params(&phone(8), "", &new_sid());
    params.retain(|(k, _)| k != "Body");
    let (status, twiml) = app.post_signed(&params).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(messages(&twiml).len(), 1);
}

#[tokio::test]
async fn a_body_with_broken_percent_escapes_or_bad_utf8_is_a_bad_request_and_stores_nothing() {
    let app = spawn_app().await;
    for body in [
        "From=%2B15025550009&To=%2B15025550000&MessageSid=SM1&Body=100%zz",
        "From=%2B15025550009&To=%2B15025550000&MessageSid=SM2&Body=trailing%",
        "From=%2B15025550009&To=%2B15025550000&MessageSid=SM3&Body=%E0%A4",
        "From=%2B15025550009&To=%2B15025550000&MessageSid=SM4&Body=%FF",
    ] {
        let (status, _) = app
            .post_raw(SMS_PATH, FORM, body.as_bytes().to_vec(), Some("x"))
            .await;
        assert_eq!(status, 400, "{body}");
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_one_megabyte_body_is_refused_as_too_large() {
    let app = spawn_app().await;
    let mut params = sms_params(&phone(10), &"a".repeat(1024 * 1024), &new_sid());
    params.push(("Extra".into(), "x".into()));
    let sig = sign(&params);
    let (status, _) = app.post_form(SMS_PATH, &params, Some(&sig)).await;
    assert_eq!(status, 413);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_signed_text_without_from_or_sid_is_a_bad_request_and_stores_nothing() {
    let app = spawn_app().await;
    for missing in ["From", "To"] {
        let mut params = sms_params(&phone(11), "PARKS", &new_sid());
        params.retain(|(k, _)| k != missing);
        let (status, body) = app.post_signed(&params).await;
        assert_eq!(status, 400, "without {missing}: {body}");
        assert!(body.contains(missing), "{body}");
    }
    let mut params = sms_params(&phone(11), "PARKS", &new_sid());
    params.retain(|(k, _)| !k.ends_with("Sid") || k == "AccountSid");
    assert_eq!(app.post_signed(&params).await.0, 400);
    let mut params = sms_params(&phone(11), "PARKS", &new_sid());
    params.push(("From".into(), phone(12)));
    assert_eq!(app.post_signed(&params).await.0, 400, "two From parameters");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_body_that_is_not_a_form_is_an_unsupported_media_type() {
    let app = spawn_app().await;
    let params = sms_params(&phone(13), "PARKS", &new_sid());
    let sig = sign(&params);
    let form = encode_form(&params).into_bytes();
    for ct in [Some("application/json"), Some("text/plain"), None] {
        let (status, _) = app.post_raw(SMS_PATH, ct, form.clone(), Some(&sig)).await;
        assert_eq!(status, 415, "{ct:?}");
    }
    let (status, _) = app
        .post_raw(
            SMS_PATH,
            Some("application/json"),
            br#"{"From":"+15025550013","Body":"PARKS"}"#.to_vec(),
            Some(&sig),
        )
        .await;
    assert_eq!(status, 415);
    app.assert_nothing_stored().await;
    // With a charset parameter it is still a form.
    let (status, _) = app
        .post_raw(
            SMS_PATH,
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            form,
            Some(&sig),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn other_methods_on_the_webhook_are_not_allowed_and_unknown_paths_are_not_found() {
    let app = spawn_app().await;
    let (status, _) = app.get(SMS_PATH).await;
    assert_eq!(status, 405);
    let resp = app.client.put(app.url(SMS_PATH)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let (status, _) = app.get("/webhooks/twilio/nope").await;
    assert_eq!(status, 404);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_nul_character_in_an_answer_is_stored_visibly_and_never_fails_the_text() {
    let app = spawn_app().await;
    let me = phone(40);
    app.say(&me, "PARKS").await;
    let (status, twiml) = app.text(&me, "weekly\u{0}").await;
    assert_eq!(status, 200, "{twiml}");
    let raw: String = app
        .db()
        .scalar("SELECT raw FROM answers ORDER BY id DESC LIMIT 1", &[])
        .await;
    assert_eq!(raw, "weekly\u{FFFD}");
}

#[tokio::test]
async fn a_sender_that_is_not_a_phone_number_is_a_bad_request_and_stores_nothing() {
    let app = spawn_app().await;
    // `-d From=+15025550123` with curl: the unencoded `+` arrives as a space.
    let unencoded = format!(
        "From=+15025550123&To=%2B15025550000&MessageSid={}&Body=PARKS",
        new_sid()
    );
    let params = civictext::channel::twilio::inbound::parse_form(unencoded.as_bytes()).unwrap();
    let (status, body) = app
        .post_raw(SMS_PATH, FORM, unencoded.into_bytes(), Some(&sign(&params)))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("From") && body.contains("%2B"), "{body}");
    for bad in [
        "Resident",
        "+1 502 555 0013",
        "502-555-0013",
        "+15025550013<x>",
    ] {
        let mut params = sms_params(bad, "PARKS", &new_sid());
        params.retain(|(k, v)| k != "From" || v == bad);
        let (status, body) = app.post_signed(&params).await;
        assert_eq!(status, 400, "From={bad:?}: {body}");
    }
    let mut to = sms_params(&phone(13), "PARKS", &new_sid());
    for (k, v) in &mut to {
        if k == "To" {
            *v = " 15025550000".into();
        }
    }
    assert_eq!(app.post_signed(&to).await.0, 400, "a To with a space");
    app.assert_nothing_stored().await;
}
