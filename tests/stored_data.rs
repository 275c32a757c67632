//! What the gateway stores is what it says it is: a confirmed location is the address the
//! resident typed, and only https media addresses are kept.

mod common;

use common::{TestApp, phone, spawn_app};

/// Runs the pothole report to the end with `where_texts` answering the location question.
async fn report_pothole(app: &TestApp, from: &str, where_texts: &[&str]) -> Vec<String> {
    app.say(from, "POTHOLE").await;
    let mut last = Vec::new();
    for text in where_texts {
        last = app.say(from, text).await;
    }
    assert_eq!(
        last,
        ["Send a photo of it, or reply SKIP.\n(Reply SKIP to skip.)"]
    );
    app.say(from, "skip").await;
    app.say(from, "Deep hole in the right lane").await
}

async fn stored_location(app: &TestApp, from: &str) -> (String, String, String) {
    let location: String = app
        .db()
        .scalar(
            "SELECT r.location FROM service_requests r JOIN contacts c ON c.id = r.contact_id
             WHERE c.phone = $1",
            &[from],
        )
        .await;
    let (value, raw): (String, String) = app
        .db()
        .row(
            "SELECT a.value, a.raw FROM answers a JOIN sessions s ON s.id = a.session_id
             JOIN contacts c ON c.id = s.contact_id WHERE c.phone = $1 AND a.question = 'where'",
            &[from],
        )
        .await;
    (location, value, raw)
}

#[tokio::test]
async fn a_confirmed_location_is_stored_as_the_address_typed_not_the_yes_that_confirmed_it() {
    let app = spawn_app().await;
    let me = phone(1);
    report_pothole(&app, &me, &["1200  S 4th St\n", "yes"]).await;
    assert_eq!(
        stored_location(&app, &me).await,
        (
            "1200 S 4th St".to_string(),
            "1200 S 4th St".to_string(),
            "1200  S 4th St\n".to_string()
        )
    );
}

#[tokio::test]
async fn a_corrected_location_confirmed_in_spanish_is_stored_as_the_corrected_address() {
    let app = spawn_app().await;
    let me = phone(2);
    app.say(&me, "POTHOLE").await;
    assert_eq!(
        app.say(&me, "5th and Mian").await,
        ["You said: 5th and Mian. Is that right? Reply YES or NO."]
    );
    assert_eq!(
        app.say(&me, "5th and Main").await,
        ["You said: 5th and Main. Is that right? Reply YES or NO."]
    );
    app.say(&me, "Sí").await;
    app.say(&me, "skip").await;
    app.say(&me, "Deep hole").await;
    let (location, value, raw) = stored_location(&app, &me).await;
    assert_eq!(
        (location.as_str(), value.as_str()),
        ("5th and Main", "5th and Main")
    );
    assert_eq!(raw, "5th and Main");
}

#[tokio::test]
async fn a_location_refused_with_no_and_given_again_is_stored_as_the_second_address() {
    let app = spawn_app().await;
    let me = phone(3);
    report_pothole(
        &app,
        &me,
        &["Oak and Elm", "no", "Oak St and Elm Ave", "yep"],
    )
    .await;
    let (location, _, raw) = stored_location(&app, &me).await;
    assert_eq!(location, "Oak St and Elm Ave");
    assert_eq!(raw, "Oak St and Elm Ave");
}

/// Sends a picture message whose one medium is at `url` as the answer to the photo question.
async fn send_photo_at(app: &TestApp, from: &str, url: &str) -> Vec<String> {
    let (status, twiml) = app.text_photo(from, "", url).await;
    assert_eq!(status, 200, "{url}: {twiml}");
    common::messages(&twiml)
}

#[tokio::test]
async fn a_photo_whose_address_is_not_https_is_neither_taken_as_the_answer_nor_stored() {
    let app = spawn_app().await;
    for (n, url) in [
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "javascript:alert(1)",
        "JAVASCRIPT:alert(document.cookie)",
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://files.example.com/p.jpg",
        "file:///etc/passwd",
        "//api.twilio.com/media/ME1",
        "/media/ME1",
        "https://",
        "not a url at all",
    ]
    .into_iter()
    .enumerate()
    {
        let me = phone(100 + n as u32);
        app.say(&me, "POTHOLE").await;
        app.say(&me, "5th and Main").await;
        app.say(&me, "yes").await;
        assert_eq!(
            send_photo_at(&app, &me, url).await,
            ["Please send a photo as a picture message. (Reply SKIP to skip.)"],
            "{url} was taken as a photo"
        );
    }
    let stored: Vec<String> = app
        .db()
        .scalars(
            "SELECT CAST(media AS TEXT) FROM messages WHERE direction = 'in' AND media <> '[]'",
            &[],
        )
        .await;
    assert_eq!(
        stored,
        Vec::<String>::new(),
        "a non-https medium was stored"
    );
}

#[tokio::test]
async fn an_https_photo_is_stored_on_the_message_and_the_service_request() {
    let app = spawn_app().await;
    let me = phone(5);
    app.say(&me, "POTHOLE").await;
    app.say(&me, "5th and Main").await;
    app.say(&me, "yes").await;
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1";
    assert_eq!(
        send_photo_at(&app, &me, url).await,
        ["Describe the problem in a few words."]
    );
    app.say(&me, "Deep hole").await;
    let photo: String = app
        .db()
        .scalar("SELECT photo FROM service_requests", &[])
        .await;
    assert_eq!(photo, url);
    let media: Vec<String> = app
        .db()
        .scalars(
            "SELECT CAST(media AS TEXT) FROM messages WHERE direction = 'in' AND media <> '[]'",
            &[],
        )
        .await;
    assert_eq!(media.len(), 1);
    assert!(media[0].contains(url), "{media:?}");
}
