//! Sending messages through Twilio's REST API (`POST /2010-04-01/Accounts/{sid}/Messages.json`).
//!
//! Replies to an inbound text ride on the TwiML response; this client is for everything else
//! (broadcasts, reminders), sent from the outbox. Its errors are classified by what the caller
//! must do next, because that differs sharply: an opted-out number must be recorded and never
//! texted again, a rate limit waits, a transient failure retries, a rejection does not.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::status::MessageStatus;

/// Twilio's production API.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Twilio's error code for a recipient who has replied STOP to the sending number.
pub const ERROR_OPTED_OUT: u32 = 21610;
/// Twilio's error code for a `To` that is not a valid phone number.
pub const ERROR_INVALID_TO: u32 = 21211;
/// Twilio's error code for a `To` that is not a mobile number (cannot receive SMS).
pub const ERROR_NOT_MOBILE: u32 = 21614;
/// Twilio's error code for too many requests.
pub const ERROR_TOO_MANY_REQUESTS: u32 = 20429;

/// How long one API call may take, connection included, before it counts as transient failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a [`TwilioSender`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderConfigError {
    /// The API base is not an absolute `http` or `https` URL.
    #[error("invalid Twilio API base URL {url:?}: {reason}")]
    InvalidApiBase {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The account SID is empty or has characters no SID has.
    #[error("invalid Twilio account SID {0:?}")]
    InvalidAccountSid(String),
    /// The HTTP client could not be set up (TLS initialisation).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A message Twilio accepted for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Twilio's id for the message (`SM…` or `MM…`); status callbacks refer to it.
    pub sid: String,
    /// Where it stands, normally `queued` (`accepted` through a Messaging Service); `None` if
    /// Twilio reported a status this version does not know, which is no reason to resend.
    pub status: Option<MessageStatus>,
    /// How many SMS segments it was billed as, when Twilio says (`0` or absent until a
    /// Messaging Service has picked a sender).
    pub num_segments: Option<u32>,
}

/// Why a message was not sent, by what the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The recipient has replied STOP to this sender (Twilio error 21610). The carrier will not
    /// deliver to it: record the opt-out and do not try again.
    #[error(
        "the recipient has opted out of messages from this sender (Twilio error {code}): {message}"
    )]
    OptedOut {
        /// Twilio's error code.
        code: u32,
        /// Twilio's explanation.
        message: String,
    },
    /// The recipient is not a number that can receive SMS (Twilio errors 21211, 21614); retrying
    /// will not help.
    #[error("the recipient cannot receive SMS (Twilio error {code}): {message}")]
    InvalidNumber {
        /// Twilio's error code.
        code: u32,
        /// Twilio's explanation.
        message: String,
    },
    /// Too many requests (HTTP 429 or Twilio error 20429): try again later.
    #[error("rate limited by Twilio{}", retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long Twilio asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// A 5xx, or a connection that could not be made: the message was not accepted, and
    /// retrying later is appropriate.
    #[error("transient failure talking to Twilio{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Transient {
        /// The HTTP status, if a response arrived.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// Twilio refused the request for another reason (bad credentials, bad sender, ...): it will
    /// be refused again until something is fixed.
    #[error("Twilio rejected the message (HTTP {status}{}): {message}", code.map(|c| format!(", error {c}")).unwrap_or_default())]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Twilio's error code, if the body carried one.
        code: Option<u32>,
        /// Twilio's explanation, or a description of the response.
        message: String,
    },
    /// The request may have reached Twilio but no answer came (a timeout, a connection lost
    /// after sending): the message may or may not exist. Look it up before sending it again.
    #[error("no answer from Twilio after sending: {message}")]
    Unanswered {
        /// What went wrong.
        message: String,
    },
    /// Twilio answered with success but the body could not be read. The message was probably
    /// accepted: do not resend it blindly.
    #[error("unreadable success response from Twilio: {0}")]
    InvalidResponse(String),
}

impl SendError {
    /// True if the same request may succeed later without anything being changed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }
}

/// Who a message is sent from: a number (`From`) or a Messaging Service
/// (`MessagingServiceSid`), which picks a number from its pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFrom {
    /// An E.164 number or short code on the account.
    Number(String),
    /// A Messaging Service SID (`MG…`).
    MessagingService(String),
}

impl SendFrom {
    /// The number or service SID, which also names the sender for pacing.
    pub fn as_str(&self) -> &str {
        match self {
            SendFrom::Number(s) | SendFrom::MessagingService(s) => s,
        }
    }
}

/// A message as Twilio's Messages list reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMessage {
    pub sid: String,
    pub to: String,
    pub body: String,
    /// When Twilio created it (`date_created`), if it could be read.
    pub date_created: Option<jiff::Timestamp>,
    pub status: Option<MessageStatus>,
    pub num_segments: Option<u32>,
}

/// A client for Twilio's Messages API, pointed at any base URL so tests can use a double.
#[derive(Clone)]
pub struct TwilioSender {
    client: reqwest::Client,
    messages_url: Url,
    account_sid: String,
    auth_token: String,
}

impl fmt::Debug for TwilioSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSender")
            .field("messages_url", &self.messages_url.as_str())
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

impl TwilioSender {
    /// A sender for `account_sid`, authenticating with `auth_token`, talking to `api_base`
    /// ([`DEFAULT_API_BASE`] in production; a path prefix on the base is kept).
    pub fn new(
        api_base: &str,
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
    ) -> Result<Self, SenderConfigError> {
        let account_sid = account_sid.into();
        if account_sid.is_empty() || !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SenderConfigError::InvalidAccountSid(account_sid));
        }
        let invalid = |reason: &str| SenderConfigError::InvalidApiBase {
            url: api_base.to_owned(),
            reason: reason.to_owned(),
        };
        let mut messages_url = Url::parse(api_base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(messages_url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if messages_url.query().is_some() || messages_url.fragment().is_some() {
            return Err(invalid("a base URL has no query or fragment"));
        }
        messages_url
            .path_segments_mut()
            .map_err(|()| invalid("the URL cannot have a path"))?
            .pop_if_empty()
            .extend(["2010-04-01", "Accounts", &account_sid, "Messages.json"]);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would turn the POST into a GET and send credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SenderConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            messages_url,
            account_sid,
            auth_token: auth_token.into(),
        })
    }

    /// The URL messages are POSTed to.
    pub fn messages_url(&self) -> &str {
        self.messages_url.as_str()
    }

    /// Asks Twilio to text `body` from `from` to `to`, with delivery statuses POSTed to
    /// `status_callback` if given.
    ///
    /// This does not check opt-outs or quiet hours: the caller must, immediately before calling.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        body: &str,
        status_callback: Option<&str>,
    ) -> Result<SentMessage, SendError> {
        self.send_from(
            &SendFrom::Number(from.to_owned()),
            to,
            body,
            status_callback,
        )
        .await
    }

    /// Like [`TwilioSender::send`], from a number or a Messaging Service.
    pub async fn send_from(
        &self,
        from: &SendFrom,
        to: &str,
        body: &str,
        status_callback: Option<&str>,
    ) -> Result<SentMessage, SendError> {
        let from = match from {
            SendFrom::Number(n) => ("From", n.as_str()),
            SendFrom::MessagingService(s) => ("MessagingServiceSid", s.as_str()),
        };
        let mut form = vec![("To", to), from, ("Body", body)];
        if let Some(url) = status_callback {
            form.push(("StatusCallback", url));
        }
        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            parse_sent(&bytes)
        } else {
            Err(classify(status, retry_after, &bytes))
        }
    }
}

impl TwilioSender {
    /// The most recent messages to `to` (newest first, one page of up to 50), from Twilio's
    /// Messages list (`GET …/Messages.json?To=…`): what reconciliation looks for an in-doubt
    /// message in. `from` narrows it to one sending number.
    pub async fn recent_messages(
        &self,
        to: &str,
        from: Option<&str>,
    ) -> Result<Vec<ListedMessage>, SendError> {
        let mut query = vec![("To", to), ("PageSize", "50")];
        if let Some(from) = from {
            query.push(("From", from));
        }
        let response = self
            .client
            .get(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .query(&query)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(classify(status, retry_after, &bytes));
        }
        parse_list(&bytes)
    }
}

fn parse_list(bytes: &[u8]) -> Result<Vec<ListedMessage>, SendError> {
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| SendError::InvalidResponse(format!("not JSON: {e}")))?;
    let messages = json
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| SendError::InvalidResponse("no messages list".into()))?;
    Ok(messages
        .iter()
        .filter_map(|m| {
            let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(ListedMessage {
                sid: text("sid")?,
                to: text("to").unwrap_or_default(),
                body: text("body").unwrap_or_default(),
                // RFC 2822, as Twilio writes dates: `Wed, 18 Aug 2010 20:01:40 +0000`.
                date_created: text("date_created")
                    .and_then(|d| jiff::fmt::rfc2822::parse(&d).ok())
                    .map(|z| z.timestamp()),
                status: text("status").as_deref().and_then(MessageStatus::parse),
                num_segments: m.get("num_segments").and_then(as_u32),
            })
        })
        .collect())
}

fn transport_error(e: reqwest::Error) -> SendError {
    if e.is_connect() || e.is_builder() {
        // Nothing reached Twilio.
        SendError::Transient {
            status: e.status().map(|s| s.as_u16()),
            message: e.to_string(),
        }
    } else {
        SendError::Unanswered {
            message: e.to_string(),
        }
    }
}

/// `Retry-After` in seconds; the HTTP-date form is not used by Twilio and is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn parse_sent(bytes: &[u8]) -> Result<SentMessage, SendError> {
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| SendError::InvalidResponse(format!("not JSON: {e}")))?;
    let sid = match json.get("sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => sid.to_owned(),
        _ => return Err(SendError::InvalidResponse("no message sid".into())),
    };
    let status = json
        .get("status")
        .and_then(Value::as_str)
        .and_then(MessageStatus::parse);
    let num_segments = json.get("num_segments").and_then(as_u32);
    Ok(SentMessage {
        sid,
        status,
        num_segments,
    })
}

/// Twilio writes counts as strings (`"num_segments": "1"`) and codes as numbers; accept both.
fn as_u32(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn classify(status: StatusCode, retry_after: Option<Duration>, bytes: &[u8]) -> SendError {
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    let code = json.as_ref().and_then(|j| j.get("code")).and_then(as_u32);
    let message = json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| describe(status, bytes));
    match code {
        Some(code @ ERROR_OPTED_OUT) => SendError::OptedOut { code, message },
        Some(code @ (ERROR_INVALID_TO | ERROR_NOT_MOBILE)) => {
            SendError::InvalidNumber { code, message }
        }
        Some(ERROR_TOO_MANY_REQUESTS) => SendError::RateLimited { retry_after },
        _ if status == StatusCode::TOO_MANY_REQUESTS => SendError::RateLimited { retry_after },
        _ if status.is_server_error() => SendError::Transient {
            status: Some(status.as_u16()),
            message,
        },
        _ => SendError::Rejected {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

/// A short description of a response that carried no Twilio error body.
fn describe(status: StatusCode, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let snippet: String = text.trim().chars().take(200).collect();
    if snippet.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {snippet}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn the_messages_url_is_built_under_the_base() {
        let sender = TwilioSender::new(DEFAULT_API_BASE, SID, "token").expect("valid");
        assert_eq!(
            sender.messages_url(),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
        );
        let sender = TwilioSender::new("http://127.0.0.1:4010/twilio/", SID, "t").expect("valid");
        assert_eq!(
            sender.messages_url(),
            format!("http://127.0.0.1:4010/twilio/2010-04-01/Accounts/{SID}/Messages.json")
        );
    }

    #[test]
    fn bad_configuration_is_refused() {
        for base in [
            "api.twilio.com",
            "ftp://api.twilio.com",
            "https://x/?a=1",
            "",
        ] {
            assert!(
                matches!(
                    TwilioSender::new(base, SID, "t"),
                    Err(SenderConfigError::InvalidApiBase { .. })
                ),
                "{base}"
            );
        }
        for sid in ["", "AC/../x", "AC 1"] {
            assert_eq!(
                TwilioSender::new(DEFAULT_API_BASE, sid, "t").unwrap_err(),
                SenderConfigError::InvalidAccountSid(sid.into())
            );
        }
    }

    #[test]
    fn the_auth_token_never_appears_in_debug_output() {
        let sender = TwilioSender::new(DEFAULT_API_BASE, SID, "s3cr3t-token").expect("valid");
        assert!(!format!("{sender:?}").contains("s3cr3t"));
    }

    #[test]
    fn error_bodies_are_classified_by_code_then_status() {
        let body = |code: u32| format!(r#"{{"code":{code},"message":"m","status":400}}"#);
        let bad = StatusCode::BAD_REQUEST;
        assert!(matches!(
            classify(bad, None, body(21610).as_bytes()),
            SendError::OptedOut { code: 21610, .. }
        ));
        assert!(matches!(
            classify(bad, None, body(21614).as_bytes()),
            SendError::InvalidNumber { code: 21614, .. }
        ));
        assert_eq!(
            classify(bad, None, body(21606).as_bytes()),
            SendError::Rejected {
                status: 400,
                code: Some(21606),
                message: "m".into()
            }
        );
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, None, b"<html>oops</html>"),
            SendError::Transient {
                status: Some(502),
                message: "HTTP 502 Bad Gateway: <html>oops</html>".into()
            }
        );
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, None, b""),
            SendError::Rejected {
                status: 401,
                code: None,
                message: "HTTP 401 Unauthorized".into()
            }
        );
    }

    #[test]
    fn message_lists_are_read_with_their_rfc2822_dates() {
        let list = parse_list(
            br#"{"messages":[{"sid":"SM1","to":"+15025550123","body":"Hi",
                "date_created":"Wed, 02 Dec 2026 06:00:01 +0000","status":"delivered",
                "num_segments":"1"},{"sid":"SM2","date_created":null}],"page":0}"#,
        )
        .expect("valid");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].body, "Hi");
        assert_eq!(
            list[0].date_created,
            Some("2026-12-02T06:00:01Z".parse().unwrap())
        );
        assert_eq!(list[0].status, Some(MessageStatus::Delivered));
        assert_eq!(list[1].date_created, None);
        assert!(parse_list(b"{}").is_err());
    }

    #[test]
    fn success_bodies_accept_counts_as_strings_or_numbers() {
        let sent =
            parse_sent(br#"{"sid":"SM1","status":"accepted","num_segments":"0"}"#).expect("valid");
        assert_eq!(sent.status, Some(MessageStatus::Accepted));
        assert_eq!(sent.num_segments, Some(0));
        let sent =
            parse_sent(br#"{"sid":"SM1","status":"new-thing","num_segments":3}"#).expect("valid");
        assert_eq!(sent.status, None);
        assert_eq!(sent.num_segments, Some(3));
        assert!(matches!(
            parse_sent(br#"{"status":"queued"}"#),
            Err(SendError::InvalidResponse(_))
        ));
    }
}
