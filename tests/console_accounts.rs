//! The staff console's accounts over real HTTP: one-time links from `civictext staff add`,
//! Argon2id sign-in, sessions in the database, CSRF, throttling, roles and the audit log.

mod common;

use common::console::{Browser, PASSWORD, add_staff, signed_in};
use common::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn staff_add_prints_a_one_time_link_that_sets_the_password_and_then_stops_working() {
    let app = spawn_app().await;
    let out = app.civictext(&[
        "staff",
        "add",
        "Clerk@City.gov",
        "--role",
        "admin",
        "--public-url",
        common::PUBLIC_URL,
    ]);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("https://sms.example.gov/console/set-password?token="),
        "{out}"
    );
    let link = add_staff(&app, "second@city.gov", "analyst");
    let browser = Browser::new(&app);
    let form = browser.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("second@city.gov"));
    let token = link.split("token=").nth(1).unwrap();
    let set = browser
        .submit(
            &link,
            "/console/set-password",
            &[("token", token), ("new", PASSWORD), ("confirm", PASSWORD)],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get(&link).await.status, StatusCode::NOT_FOUND);
    let stored: String = app
        .db()
        .scalar(
            "SELECT password_hash FROM staff WHERE email = $1",
            &["second@city.gov"],
        )
        .await;
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
    browser.sign_in("SECOND@city.gov", PASSWORD).await;
    let home = browser.get("/console").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("second@city.gov"));
}

#[tokio::test]
async fn a_signed_out_browser_is_sent_to_sign_in_and_back_afterwards() {
    let app = spawn_app().await;
    add_staff(&app, "x@city.gov", "admin");
    let browser = Browser::new(&app);
    let page = browser.get("/console/audit").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/console/login?next=%2Fconsole%2Faudit")
    );
    let wrong = browser
        .submit(
            "/console/login?next=%2Fconsole%2Faudit",
            "/console/login",
            &[
                ("email", "x@city.gov"),
                ("password", "not the password"),
                ("next", "/console/audit"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"));
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "clerk@city.gov", "admin").await;
    let fields = [
        ("current", PASSWORD),
        ("new", "an entirely new password"),
        ("confirm", "an entirely new password"),
    ];
    let none = browser.post_raw("/console/password", &fields).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let mut forged = vec![("csrf", "forged-token-forged-token-forged-token")];
    forged.extend_from_slice(&fields);
    assert_eq!(
        browser.post_raw("/console/password", &forged).await.status,
        StatusCode::FORBIDDEN
    );
    let added = browser
        .post_raw(
            "/console/staff",
            &[("email", "mallory@evil.example"), ("role", "admin")],
        )
        .await;
    assert_eq!(added.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("staff", "email = 'mallory@evil.example'").await,
        0
    );
    // The password is unchanged: a fresh browser signs in with the old one.
    Browser::new(&app).sign_in("clerk@city.gov", PASSWORD).await;
    // With the token, the same change goes through.
    let ok = browser
        .submit("/console/password", "/console/password", &fields)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("Your password is changed"));
}

#[tokio::test]
async fn sign_in_is_refused_after_five_wrong_passwords_even_with_the_right_one() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "clerk@city.gov", "analyst").await;
    drop(browser);
    let guesser = Browser::new(&app);
    for _ in 0..5 {
        let page = guesser
            .submit(
                "/console/login",
                "/console/login",
                &[
                    ("email", "clerk@city.gov"),
                    ("password", "guess guess guess"),
                    ("next", ""),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let right = guesser
        .submit(
            "/console/login",
            "/console/login",
            &[
                ("email", "clerk@city.gov"),
                ("password", PASSWORD),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(right.body.contains("Too many failed sign-ins"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_secure_behind_https() {
    let app = spawn_app().await;
    add_staff(&app, "clerk@city.gov", "admin");
    let link = add_staff(&app, "other@city.gov", "admin");
    let browser = Browser::new(&app);
    let token = link.split("token=").nth(1).unwrap();
    browser
        .submit(
            &link,
            "/console/set-password",
            &[("token", token), ("new", PASSWORD), ("confirm", PASSWORD)],
        )
        .await;
    let page = browser.get("/console/login").await;
    let form = common::console::csrf(&page.body);
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/console/login"))
        .header("Cookie", format!("civictext_form={form}"))
        .form(&[
            ("csrf", form.as_str()),
            ("email", "other@city.gov"),
            ("password", PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("civictext_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/console"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    let secret = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let stored: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM staff_sessions WHERE token_hash = $1",
            &[secret],
        )
        .await;
    assert_eq!(stored, 0, "the session secret itself is not stored");
}

#[tokio::test]
async fn a_clerk_stays_signed_in_across_a_restart_and_signing_out_ends_the_session() {
    let mut app = spawn_app().await;
    let browser = signed_in(&app, "clerk@city.gov", "admin").await;
    app.restart().await;
    let browser = {
        // The restarted gateway listens on a new port: carry the cookies over.
        let moved = Browser::new(&app);
        moved.copy_cookies_from(&browser);
        moved
    };
    assert_eq!(browser.get("/console/audit").await.status, StatusCode::OK);
    let stolen = Browser::new(&app);
    stolen.copy_cookies_from(&browser);
    let out = browser.submit("/console", "/console/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/console").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        stolen.get("/console").await.status,
        StatusCode::SEE_OTHER,
        "a copy of the signed-out cookie no longer works"
    );
}

#[tokio::test]
async fn roles_gate_pages_and_the_admin_reads_every_staff_change_in_the_audit_log() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin@city.gov", "admin").await;
    let analyst = signed_in(&app, "analyst@city.gov", "analyst").await;
    assert_eq!(
        analyst.get("/console/staff").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        analyst.get("/console/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let added = admin
        .submit(
            "/console/staff",
            "/console/staff",
            &[("email", "worker@city.gov"), ("role", "caseworker")],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK);
    assert!(added.body.contains("/console/set-password?token="));
    let id: i64 = app
        .db()
        .scalar(
            "SELECT id FROM staff WHERE email = $1",
            &["analyst@city.gov"],
        )
        .await;
    let changed = admin
        .submit(
            "/console/staff",
            &format!("/console/staff/{id}"),
            &[("action", "disable")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        analyst.get("/console").await.status,
        StatusCode::SEE_OTHER,
        "a disabled account's session stops working"
    );
    let log = admin.get("/console/audit").await.body;
    for line in [
        "added admin@city.gov as admin",
        "added worker@city.gov as caseworker",
        "disabled analyst@city.gov",
        "set their password from a one-time link",
        "signed in",
    ] {
        assert!(log.contains(line), "{line:?} missing from the audit log");
    }
}
