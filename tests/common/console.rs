//! The staff console as a browser without JavaScript sees it: cookies kept per client, no
//! automatic redirects (so tests see each 303), forms posted with the page's CSRF token.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use super::TestApp;

/// The password every test account is given.
pub const PASSWORD: &str = "correct horse battery staple";

/// One answer from the console.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    /// Where a redirect points.
    pub location: Option<String>,
    pub body: String,
    pub content_type: String,
}

/// A cookie-keeping client of one test gateway.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.url(""),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, resp: reqwest::Response) -> Page {
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if val.is_empty() || v.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), val.to_string());
            }
        }
        Page {
            status: resp.status(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_string()),
            content_type: resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .map(|l| l.to_str().unwrap().to_string())
                .unwrap_or_default(),
            body: resp.text().await.unwrap(),
        }
    }

    /// GET `path` (with the query).
    pub async fn get(&self, path: &str) -> Page {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// POSTs `fields` as a form, exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Opens `page_path`, takes the CSRF token of its forms, and posts `fields` with it to
    /// `path`, as submitting the form in a browser would.
    pub async fn submit(&self, page_path: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, StatusCode::OK, "{page_path}: {}", page.body);
        let token = csrf(&page.body);
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Signs in; panics unless the console accepts the password.
    pub async fn sign_in(&self, email: &str, password: &str) {
        let page = self
            .submit(
                "/console/login",
                "/console/login",
                &[("email", email), ("password", password), ("next", "")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
}

/// The value of the first `name="csrf"` field in `html`.
pub fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in {html}"));
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// `civictext staff add EMAIL --role ROLE`; returns the one-time link's path and query.
pub fn add_staff(app: &TestApp, email: &str, role: &str) -> String {
    let out = app.civictext(&["staff", "add", email, "--role", role]);
    let link = out.lines().last().expect("a last line").trim().to_string();
    let at = link.find("/console/").expect("a console link");
    link[at..].to_string()
}

/// A browser signed in as a new account with `role`, made with the command line and its
/// one-time link.
pub async fn signed_in(app: &TestApp, email: &str, role: &str) -> Browser {
    let link = add_staff(app, email, role);
    let browser = Browser::new(app);
    let page = browser
        .submit(
            &link,
            "/console/set-password",
            &[
                ("token", link.split("token=").nth(1).unwrap()),
                ("new", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser.sign_in(email, PASSWORD).await;
    browser
}

impl Browser {
    /// Takes `other`'s cookies (the same person's browser on another address of the gateway).
    pub fn copy_cookies_from(&self, other: &Browser) {
        *self.cookies.lock().unwrap() = other.cookies.lock().unwrap().clone();
    }
}
