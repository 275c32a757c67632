//! `civictext bench console`: how fast the staff console's pages answer on a large database. A
//! database of completed youth-survey conversations (the store's prefill: 7 answers each) gets
//! service requests, consenting residents and broadcasts on top; the real gateway is started on
//! it (the same router `civictext serve` runs), a staff member signs in through the sign-in
//! form, and every console page is requested many times in turn. The baseline, measured in the
//! same run through the same router and its console middleware, is the stylesheet (a static
//! page after the session lookup) and `/healthz`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use serde::Serialize;

use super::stats::percentile;
use crate::config::Settings;
use crate::startup::Application;
use crate::store::{Audience, ImportedConsent, NewBroadcast, NewRequest, Store};

/// The flow the prefill writes.
const FLOW: &str = "youth-survey";
const EMAIL: &str = "bench@console.invalid";
const PASSWORD: &str = "bench console password";

/// How large the database is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Answers (7 per completed conversation).
    pub answers: u64,
    /// Service requests, half of them open.
    pub requests: u64,
    /// Residents with a recorded opt-in (each broadcast goes to all of them).
    pub consenting: u64,
}

/// One page measured.
#[derive(Debug, Clone, Serialize)]
pub struct PageLatency {
    pub name: String,
    pub path: String,
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Bytes of the page.
    pub bytes: usize,
    /// True for the baselines.
    pub baseline: bool,
}

/// Fills `store` with the benchmark's data; returns a request's code and a broadcast's id.
pub async fn fill(store: &Store, size: Size) -> anyhow::Result<(String, i64)> {
    let started = Instant::now();
    store.prefill(size.answers.div_ceil(7) * 16).await?;
    eprintln!(
        "prefilled {} answers in {:.1} s",
        size.answers.div_ceil(7) * 7,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let now = Timestamp::now();
    let mut code = String::new();
    for n in 0..size.requests {
        let c = format!("BENCH{n:06}");
        store
            .file_request(&NewRequest {
                code: c.clone(),
                flow_id: "service-request".into(),
                service: if n % 3 == 0 { "pothole" } else { "streetlight" }.into(),
                description: Some("Deep pothole in the bike lane".into()),
                location: Some(format!("{} W Main St", 100 + n % 900)),
                photo: None,
                lat: None,
                lon: None,
                attributes: None,
                channel: "open311".into(),
                at: now - jiff::SignedDuration::from_mins(i64::try_from(n).unwrap_or(0)),
            })
            .await?;
        if n % 2 == 1 {
            store
                .update_request_status(
                    &c,
                    &crate::store::StatusChange {
                        status: "closed".into(),
                        note: Some("Fixed".into()),
                        changed_by: EMAIL.into(),
                        at: now,
                    },
                    |_, _| None,
                )
                .await?;
        }
        code = c;
    }
    // The prefill's contacts are +1800 numbers from 1 upwards.
    let pseudonyms = crate::privacy::Pseudonyms::new("bench-key");
    let consents: Vec<ImportedConsent> = (1..=size.consenting)
        .map(|n| {
            let phone = format!("+1800{n:07}");
            ImportedConsent {
                erased_hash: pseudonyms.erased_number(&phone),
                phone,
                source: "import:bench".into(),
                given_at: now,
                topic: None,
            }
        })
        .collect();
    if !consents.is_empty() {
        store.import_consents(&consents, now).await?;
    }
    // What the running gateway does hourly: the prefill analyzed the tables before any consent.
    store.refresh_statistics().await?;
    let mut broadcast = 0;
    for (i, text) in [
        "Youth planning meeting Tuesday 6pm at the library.",
        "Pool opens Saturday at 10am.",
        "Budget hearing Thursday 7pm at City Hall.",
    ]
    .into_iter()
    .enumerate()
    {
        let (id, _) = store
            .queue_broadcast(&NewBroadcast {
                texts: vec![("en".into(), text.into())],
                audience_label: "every consenting contact".into(),
                audience: Audience::Everyone,
                topic: None,
                invitation: None,
                send_at: now + jiff::SignedDuration::from_hours(24 * (i as i64 + 1)),
                created_by: EMAIL.into(),
                now,
            })
            .await?;
        if i == 0 {
            store.cancel_broadcast(id, now).await?;
        }
        broadcast = id;
    }
    eprintln!(
        "filed {} requests, recorded {} consents and queued 3 broadcasts in {:.1} s",
        size.requests,
        size.consenting,
        started.elapsed().as_secs_f64()
    );
    Ok((code, broadcast))
}

/// A client of the console holding one signed-in session.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

/// The value of the first `name="csrf"` field of a page.
fn csrf_of(html: &str) -> Option<String> {
    let marker = r#"name="csrf" value=""#;
    let at = html.find(marker)? + marker.len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_string())
}

/// `name=value` of the first `Set-Cookie` naming `name`.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

impl Client {
    /// Signs in through the sign-in form, as a browser does.
    async fn sign_in(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let page = http.get(format!("{base}/console/login")).send().await?;
        let form_cookie = set_cookie(&page, crate::console::session::FORM_COOKIE)
            .context("the sign-in page set no form cookie")?;
        let token = csrf_of(&page.text().await?).context("no form token on the sign-in page")?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &token)
            .append_pair("email", EMAIL)
            .append_pair("password", PASSWORD)
            .append_pair("next", "")
            .finish();
        let resp = http
            .post(format!("{base}/console/login"))
            .header(reqwest::header::COOKIE, &form_cookie)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await?;
        let cookie = set_cookie(&resp, crate::console::session::SESSION_COOKIE)
            .with_context(|| format!("signing in failed: {}", resp.status()))?;
        let mut client = Client {
            http,
            base: base.to_string(),
            cookie,
            csrf: String::new(),
        };
        let (status, home) = client.get("/console").await?;
        if status != 200 {
            bail!("the dashboard answered {status} after signing in");
        }
        client.csrf = csrf_of(&home).context("no form token on the dashboard")?;
        Ok(client)
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<(u16, String)> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &self.csrf)
            .extend_pairs(fields)
            .finish();
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }
}

/// A page to measure: a GET, or a form POST that changes nothing (the invitation preview).
enum Request {
    Get(String),
    Post(String, Vec<(&'static str, String)>),
}

async fn time_page(
    client: &Client,
    name: &str,
    request: &Request,
    samples: usize,
    baseline: bool,
) -> anyhow::Result<PageLatency> {
    let send = async || -> anyhow::Result<(u16, String)> {
        match request {
            Request::Get(path) => client.get(path).await,
            Request::Post(path, fields) => {
                let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                client.post(path, &f).await
            }
        }
    };
    let path = match request {
        Request::Get(p) => p.clone(),
        Request::Post(p, _) => format!("POST {p}"),
    };
    // Warm caches and connections; the first answer must be a page, not an error.
    let (status, body) = send().await?;
    if status != 200 {
        bail!(
            "{path} answered {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    for _ in 0..3 {
        send().await?;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let (status, _) = send().await?;
        times.push(started.elapsed());
        if status != 200 {
            bail!("{path} answered {status} while measured");
        }
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(PageLatency {
        name: name.to_string(),
        path,
        samples,
        p50_ms: ms(percentile(&times, 50.0)),
        p95_ms: ms(percentile(&times, 95.0)),
        p99_ms: ms(percentile(&times, 99.0)),
        max_ms: ms(times.last().copied().unwrap_or_default()),
        bytes: body.len(),
        baseline,
    })
}

/// Fills the database at `database_url`, starts the gateway on it with the flows in `flows`, and
/// measures every console page `samples` times.
pub async fn measure(
    database_url: &str,
    flows: &Path,
    size: Size,
    samples: usize,
) -> anyhow::Result<Vec<PageLatency>> {
    let store = Store::connect(database_url).await?;
    let (code, broadcast) = fill(&store, size).await?;
    let id = store
        .create_staff(EMAIL, "admin", Timestamp::now())
        .await?
        .context("the benchmark's staff account exists already")?;
    let hash = crate::auth::staff::hash_password(PASSWORD)?;
    store.set_staff_password(id, &hash, "").await?;

    let settings = Settings {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.to_string(),
        flows: flows.to_path_buf(),
        time_zone: Some("America/Kentucky/Louisville".into()),
        log_format: "text".into(),
        ..Settings::default()
    };
    let app = Application::build_with_store(&settings, store.clone()).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let result = async {
        let client = Client::sign_in(&base).await?;
        let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let month_ago = today
            .checked_sub(jiff::Span::new().days(31))
            .unwrap_or(today);
        let g = |p: &str| Request::Get(p.to_string());
        let mut pages: Vec<(&str, Request, bool)> = vec![
            ("baseline: /healthz", g("/healthz"), true),
            (
                "baseline: stylesheet (session looked up)",
                g("/console/static/console.css"),
                true,
            ),
            ("dashboard", g("/console"), false),
            ("flow results", g(&format!("/console/flows/{FLOW}")), false),
            (
                "responses",
                g(&format!("/console/flows/{FLOW}/responses")),
                false,
            ),
            (
                "responses, status filter",
                g(&format!("/console/flows/{FLOW}/responses?status=completed")),
                false,
            ),
            (
                "responses, day filter",
                g(&format!(
                    "/console/flows/{FLOW}/responses?since={month_ago}&until={today}"
                )),
                false,
            ),
            ("requests queue", g("/console/requests"), false),
            ("requests, open", g("/console/requests?status=open"), false),
            (
                "requests, older than 1 day",
                g("/console/requests?older_than=1"),
                false,
            ),
            ("a request", g(&format!("/console/requests/{code}")), false),
            ("invitations", g("/console/invitations"), false),
            (
                "an invitation's progress",
                g(&format!("/console/invitations/{broadcast}")),
                false,
            ),
            ("new invitation", g("/console/invitations/new"), false),
            (
                "invitation preview",
                Request::Post(
                    "/console/invitations/preview".into(),
                    vec![
                        ("kind", "text".into()),
                        ("text_en", "Library hours change on Monday.".into()),
                        ("when", "now".into()),
                    ],
                ),
                false,
            ),
            ("simulator", g("/console/simulator"), false),
            ("staff", g("/console/staff"), false),
            ("audit log", g("/console/audit"), false),
        ];
        // The flows pages, where this build has them.
        if client.get("/console/flows").await?.0 == 200 {
            pages.push(("flows", g("/console/flows"), false));
        }
        let mut measured = Vec::new();
        for (name, request, baseline) in &pages {
            measured.push(time_page(&client, name, request, samples, *baseline).await?);
        }
        anyhow::Ok(measured)
    }
    .await;
    let _ = stop.send(());
    let _ = server.await;
    store.close().await;
    result
}
