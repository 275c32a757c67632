//! The outbound sender, on loopback only: against Twilio's published OpenAPI contract served by
//! Prism, and against a local stub that answers with Twilio's error bodies (which Prism does not
//! model).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine as _;
use civictext::channel::twilio::sender::{SendError, SentMessage, TwilioSender};
use civictext::channel::twilio::status::MessageStatus;
use common::prism::{Prism, free_loopback_port};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "test-auth-token";
const FROM: &str = "+14155552345";
const TO: &str = "+14155552346";
/// Only a parameter: nothing is ever called back in these tests.
const STATUS_CALLBACK: &str = "http://127.0.0.1:9/twilio/status";

#[tokio::test]
async fn a_message_sent_to_twilios_published_contract_comes_back_queued() {
    let prism = Prism::start();
    let sender = TwilioSender::new(&prism.base(), ACCOUNT_SID, AUTH_TOKEN).expect("sender");

    let sent = sender
        .send(
            FROM,
            TO,
            "Your pothole report is #A12. Reply STOP to opt out.",
            Some(STATUS_CALLBACK),
        )
        .await
        .unwrap_or_else(|e| panic!("Prism refused the request: {e}\n{}", prism.log_text()));
    assert!(
        (sent.sid.starts_with("SM") || sent.sid.starts_with("MM")) && sent.sid.len() == 34,
        "{sent:?}"
    );
    assert_eq!(sent.status, Some(MessageStatus::Queued), "{sent:?}");
    assert_eq!(sent.num_segments, Some(1), "{sent:?}");

    // The contract is checked in both directions: a request that breaks it is refused.
    let bad_sid = TwilioSender::new(&prism.base(), "AC123", AUTH_TOKEN).expect("sender");
    let err = bad_sid
        .send(FROM, TO, "hello", None)
        .await
        .expect_err("an account SID that breaks the contract");
    assert!(
        matches!(err, SendError::Rejected { status: 422, .. }),
        "{err:?}"
    );
}

/// What the stub saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
}

#[derive(Clone)]
struct Stub {
    status: StatusCode,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn answer(
    State(stub): State<Stub>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: form_urlencoded::parse(&body).into_owned().collect(),
    };
    if let Ok(mut all) = stub.seen.lock() {
        all.push(seen);
    }
    let mut response_headers = HeaderMap::new();
    response_headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in &stub.headers {
        response_headers.insert(*name, HeaderValue::from_static(value));
    }
    (stub.status, response_headers, stub.body)
}

/// Serves one fixed Twilio-shaped answer on 127.0.0.1, returning its base URL and what it saw.
async fn stub(
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Stub {
        status: StatusCode::from_u16(status).expect("a status code"),
        headers,
        body,
        seen: seen.clone(),
    };
    let app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(answer))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

async fn send_through_stub(
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
) -> Result<SentMessage, SendError> {
    let (base, _) = stub(status, headers, body).await;
    TwilioSender::new(&base, ACCOUNT_SID, AUTH_TOKEN)
        .expect("sender")
        .send(FROM, TO, "hello", None)
        .await
}

#[tokio::test]
async fn the_request_carries_basic_auth_and_the_message_as_a_form() {
    let (base, seen) = stub(
        201,
        vec![],
        r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","num_segments":"2"}"#,
    )
    .await;
    let sender = TwilioSender::new(&base, ACCOUNT_SID, AUTH_TOKEN).expect("sender");
    let body = "Café & 5 > 4 ✓ — two segments because of the accent? No: the ✓";
    let sent = sender
        .send(FROM, TO, body, Some(STATUS_CALLBACK))
        .await
        .expect("sent");
    assert_eq!(
        sent,
        SentMessage {
            sid: "SM0123456789abcdef0123456789abcdef".into(),
            status: Some(MessageStatus::Queued),
            num_segments: Some(2),
        }
    );

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    );
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {credentials}").as_str())
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let field = |name: &str| {
        request
            .form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("To"), Some(TO));
    assert_eq!(field("From"), Some(FROM));
    assert_eq!(field("Body"), Some(body));
    assert_eq!(field("StatusCallback"), Some(STATUS_CALLBACK));
}

#[tokio::test]
async fn an_opted_out_recipient_is_reported_as_opted_out() {
    let err = send_through_stub(
        400,
        vec![],
        r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#,
    )
    .await
    .expect_err("opted out");
    assert_eq!(
        err,
        SendError::OptedOut {
            code: 21610,
            message: "Attempt to send to unsubscribed recipient".into()
        }
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_rate_limit_carries_twilios_retry_after() {
    let err = send_through_stub(
        429,
        vec![("retry-after", "7")],
        r#"{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#,
    )
    .await
    .expect_err("rate limited");
    assert_eq!(
        err,
        SendError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(err.is_retryable());

    let err = send_through_stub(429, vec![], "slow down")
        .await
        .expect_err("rate limited without a Twilio body");
    assert_eq!(err, SendError::RateLimited { retry_after: None });
}

#[tokio::test]
async fn an_invalid_or_landline_number_is_reported_as_invalid() {
    for (body, code) in [
        (
            r#"{"code": 21211, "message": "Invalid 'To' Phone Number: +1555", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
            21211,
        ),
        (
            r#"{"code": 21614, "message": "'To' number is not a valid mobile number", "more_info": "https://www.twilio.com/docs/errors/21614", "status": 400}"#,
            21614,
        ),
    ] {
        let err = send_through_stub(400, vec![], body)
            .await
            .expect_err("invalid number");
        assert!(
            matches!(err, SendError::InvalidNumber { code: c, .. } if c == code),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let err = send_through_stub(
        500,
        vec![],
        r#"{"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}"#,
    )
    .await
    .expect_err("server error");
    assert_eq!(
        err,
        SendError::Transient {
            status: Some(500),
            message: "Internal Server Error".into()
        }
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn any_other_refusal_is_rejected_with_its_code() {
    let err = send_through_stub(
        400,
        vec![],
        r#"{"code": 21606, "message": "The From phone number is not a valid, SMS-capable inbound phone number", "status": 400}"#,
    )
    .await
    .expect_err("rejected");
    assert!(
        matches!(
            err,
            SendError::Rejected {
                status: 400,
                code: Some(21606),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_success_without_a_sid_is_an_invalid_response() {
    let err = send_through_stub(201, vec![], "<html>ok</html>")
        .await
        .expect_err("unreadable");
    assert!(matches!(err, SendError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = free_loopback_port();
    let sender = TwilioSender::new(&format!("http://127.0.0.1:{port}"), ACCOUNT_SID, AUTH_TOKEN)
        .expect("sender");
    let err = sender
        .send(FROM, TO, "hello", None)
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(err, SendError::Transient { status: None, .. }),
        "{err:?}"
    );
}
