//! A local stand-in for Twilio's Messages API: it records every request it receives and answers
//! the way Twilio does, including Twilio's error bodies (which the Prism contract mock does not
//! model). Each number can be given a behaviour: opted out (21610), invalid (21211), rate
//! limited once (429 / 20429), or slow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// The number the gateway's own texts are sent from in tests.
pub const SENDER: &str = "+15025550000";

/// How the stub answers texts to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 400 with Twilio error 21610: the recipient replied STOP to this sender.
    OptedOut,
    /// 400 with Twilio error 21211: not a valid phone number.
    Invalid,
    /// 429 with Twilio error 20429 and `Retry-After: 1` the first time, then accepted.
    RateLimitedOnce,
}

/// A message the stub accepted (as Twilio would have created it).
#[derive(Debug, Clone)]
pub struct Accepted {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
    pub at: Instant,
    pub created: jiff::Timestamp,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<Accepted>,
    /// Every POST, accepted or not: (to, HTTP status).
    attempts: Vec<(String, u16)>,
    behaviour: HashMap<String, Behaviour>,
    limited: HashMap<String, u32>,
    delay: Duration,
    reply_delay: Duration,
}

/// A running stub; its server stops with the test's runtime.
#[derive(Clone)]
pub struct TwilioStub {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl TwilioStub {
    pub async fn start() -> TwilioStub {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create).get(list),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TwilioStub { addr, inner }
    }

    /// The API base URL to configure (`twilio_api_base`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Settings that send the gateway's own texts through this stub from [`SENDER`], at
    /// `mps` segments per second, quiet hours `quiet_hours` (`off` for none).
    pub fn sending(
        &self,
        mps: f64,
        quiet_hours: &str,
    ) -> impl FnOnce(&mut civictext::config::Settings) + use<> {
        let base = self.base();
        let quiet_hours = quiet_hours.to_string();
        move |s| {
            s.twilio_account_sid = Some(super::ACCOUNT_SID.into());
            s.twilio_from = Some(SENDER.into());
            s.twilio_api_base = base;
            s.outbound_mps = mps;
            s.quiet_hours = quiet_hours;
        }
    }

    /// The texts accepted for `to`, in the order they arrived.
    pub fn bodies_to(&self, to: &str) -> Vec<String> {
        self.accepted()
            .into_iter()
            .filter(|a| a.to == to)
            .map(|a| a.body)
            .collect()
    }

    pub fn set(&self, to: &str, behaviour: Behaviour) {
        self.inner
            .lock()
            .unwrap()
            .behaviour
            .insert(to.to_string(), behaviour);
    }

    /// Every answer is delayed this long (a slow provider, to catch a process mid-call).
    pub fn set_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// Every accepted message is recorded at once but answered this much later: a sender that
    /// dies meanwhile has had its message taken by "Twilio" without learning its sid.
    pub fn set_reply_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().reply_delay = delay;
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.inner.lock().unwrap().accepted.clone()
    }

    pub fn attempts_to(&self, to: &str) -> Vec<u16> {
        self.inner
            .lock()
            .unwrap()
            .attempts
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, s)| *s)
            .collect()
    }

    /// How many messages each number was sent.
    pub fn per_number(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for a in self.accepted() {
            *out.entry(a.to).or_default() += 1;
        }
        out
    }
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

async fn create(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !headers.contains_key("authorization") {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let to = form.get("To").cloned().unwrap_or_default();
    let delay = inner.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (response, reply_delay) = answer(&inner, &form, to);
    if !reply_delay.is_zero() {
        tokio::time::sleep(reply_delay).await;
    }
    response
}

/// What the stub answers to a message for `to`, and how long to wait before answering.
fn answer(
    inner: &Mutex<Inner>,
    form: &HashMap<String, String>,
    to: String,
) -> (Response, Duration) {
    let mut g = inner.lock().unwrap();
    let answer = match g.behaviour.get(&to).copied() {
        Some(Behaviour::OptedOut) => Some((
            StatusCode::BAD_REQUEST,
            21610,
            "Attempt to send to unsubscribed recipient",
        )),
        Some(Behaviour::Invalid) => Some((
            StatusCode::BAD_REQUEST,
            21211,
            "The 'To' number is not a valid phone number.",
        )),
        Some(Behaviour::RateLimitedOnce) => {
            let n = g.limited.entry(to.clone()).or_default();
            *n += 1;
            (*n == 1).then_some((StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"))
        }
        None => None,
    };
    if let Some((status, code, message)) = answer {
        g.attempts.push((to, status.as_u16()));
        let mut response = twilio_error(status, code, message);
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", "1".parse().unwrap());
        }
        return (response, Duration::ZERO);
    }
    let sid = format!("SM{:032x}", g.accepted.len() + 1);
    g.attempts.push((to.clone(), 201));
    let created = jiff::Timestamp::now();
    g.accepted.push(Accepted {
        sid: sid.clone(),
        to: to.clone(),
        from: form.get("From").cloned(),
        messaging_service: form.get("MessagingServiceSid").cloned(),
        body: form.get("Body").cloned().unwrap_or_default(),
        status_callback: form.get("StatusCallback").cloned(),
        at: Instant::now(),
        created,
    });
    let json = serde_json::json!({
        "sid": sid,
        "to": to,
        "from": form.get("From"),
        "body": form.get("Body"),
        "status": "queued",
        "num_segments": "1",
        "date_created": rfc2822(created),
    });
    (
        (StatusCode::CREATED, axum::Json(json)).into_response(),
        g.reply_delay,
    )
}

fn rfc2822(t: jiff::Timestamp) -> String {
    jiff::fmt::rfc2822::to_string(&t.to_zoned(jiff::tz::TimeZone::UTC)).unwrap()
}

async fn list(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let g = inner.lock().unwrap();
    let to = q.get("To");
    let messages: Vec<_> = g
        .accepted
        .iter()
        .rev()
        .filter(|a| to.is_none_or(|t| *t == a.to))
        .take(50)
        .map(|a| {
            serde_json::json!({
                "sid": a.sid, "to": a.to, "from": a.from, "body": a.body,
                "status": "sent", "num_segments": "1", "date_created": rfc2822(a.created),
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "messages": messages, "page": 0 })).into_response()
}
