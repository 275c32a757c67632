//! `POST /webhooks/twilio/sms`: Twilio's inbound-message webhook.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::channel::twilio::{inbound, signature, twiml};
use crate::flow::engine::Media;
use crate::gateway::Gateway;
use crate::sms::vocabulary::Command;
use crate::store::InboundText;
use crate::telemetry;

/// The path Twilio posts to, below the public URL.
pub const SMS_PATH: &str = "/webhooks/twilio/sms";

/// Shows enough of a phone number to tell residents apart in logs, never the whole number.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "***".into();
    }
    let head: String = chars[..chars.len().min(5) - 2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}***{tail}")
}

/// U+0000 cannot be stored in PostgreSQL text or JSON; it is replaced once, here, so that a
/// resident's stray NUL is kept visibly (U+FFFD) the same way on every backend.
fn without_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s
    }
}

/// Whether a Content-Type header names a form, as HTTP defines media types: type and subtype
/// compared without regard to case, any parameters after them (`; charset=UTF-8`), nothing else.
fn is_form(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // HTTP allows whitespace before each `;` (RFC 9110, 5.6.6); `mime` does not.
    let value = match value.split_once(';') {
        Some((essence, parameters)) => format!("{};{parameters}", essence.trim_end()),
        None => value.to_string(),
    };
    value.trim().parse::<mime::Mime>().is_ok_and(|m| {
        m.type_() == mime::APPLICATION
            && m.subtype() == mime::WWW_FORM_URLENCODED
            && m.suffix().is_none()
    })
}

/// Refuses a webhook to `path` whose `X-Twilio-Signature` does not match the public URL and
/// its parameters (when an auth token is configured).
pub fn check_signature(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    path: &str,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    if let Some(token) = &state.webhook.auth_token {
        let base = state.webhook.public_url.as_deref().unwrap_or_default();
        let url = match uri.query() {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        };
        let header = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Forbidden("missing X-Twilio-Signature"))?;
        if !signature::verify(token, &url, params, header) {
            tracing::warn!(url = %url, "rejected a webhook with an invalid signature");
            return Err(ApiError::Forbidden("invalid X-Twilio-Signature"));
        }
    }
    Ok(())
}

/// Verifies, parses, handles and answers one inbound text, and counts it.
pub async fn sms(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let result = handle_sms(&state, &headers, &uri, &body).await;
    let (route, outcome) = match &result {
        Ok((_, handled)) if handled.duplicate => (handled.route, "duplicate"),
        Ok((_, handled)) => {
            match handled.route {
                "opt_out" => telemetry::record_opt_out("resident"),
                "provider_opt_out" => telemetry::record_opt_out("provider"),
                _ => {}
            }
            (handled.route, "answered")
        }
        Err(ApiError::Unavailable(_) | ApiError::Internal(_)) => ("none", "unavailable"),
        Err(_) => ("none", "rejected"),
    };
    telemetry::record_inbound(route, outcome, started.elapsed());
    result.map(|(response, _)| response)
}

async fn handle_sms(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Result<(Response, crate::store::Handled), ApiError> {
    if !is_form(headers.get(header::CONTENT_TYPE)) {
        return Err(ApiError::UnsupportedMediaType(
            "expected an application/x-www-form-urlencoded body",
        ));
    }
    let params = inbound::parse_form(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    check_signature(state, headers, uri, SMS_PATH, &params)?;
    let msg = inbound::InboundMessage::from_params(params)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // With an account configured, a webhook that does not name it (missing AccountSid
    // included) is not from that account.
    if let Some(expected) = &state.webhook.account_sid
        && msg.account_sid.as_ref() != Some(expected)
    {
        return Err(ApiError::Forbidden(
            "AccountSid is missing or does not match this gateway's account",
        ));
    }
    let opt_out_type = msg.opt_out_type();
    let erased_hash = Some(state.pseudonyms.erased_number(&msg.from));
    let text = InboundText {
        sid: without_nul(msg.message_sid),
        from: without_nul(msg.from),
        to: without_nul(msg.to),
        body: without_nul(msg.body),
        media: msg
            .media
            .into_iter()
            .map(|m| Media {
                url: without_nul(m.url),
                content_type: without_nul(m.content_type),
            })
            .collect(),
        received_at: Gateway::now(),
        provider_command: opt_out_type.map(|t| match t {
            inbound::OptOutType::Stop => Command::OptOut,
            inbound::OptOutType::Start => Command::OptIn,
            inbound::OptOutType::Help => Command::Help,
        }),
        erased_hash,
    };
    // Past the deadline Twilio may have stopped listening: answer rather than keep it waiting.
    // The writers skip a text whose caller has gone, so a text is either stored (and Twilio's
    // retry gets the stored replies) or not stored at all (and the retry handles it).
    let handled = tokio::time::timeout(state.webhook_deadline, state.gateway.handle(&text))
        .await
        .map_err(|_| ApiError::Unavailable("the text could not be stored in time"))??;
    if handled.route == crate::gateway::dispatch::FLOW_ERROR {
        tracing::error!(
            from = %mask_phone(&text.from),
            sid = %text.sid,
            "the flow ran away (more than {} steps or {} texts for one text) and was stopped; run `flows check`",
            crate::flow::engine::MAX_STEPS_PER_TURN,
            crate::flow::engine::MAX_TEXTS_PER_REPLY,
        );
    }
    tracing::info!(
        from = %mask_phone(&text.from),
        sid = %text.sid,
        route = handled.route,
        replies = handled.replies.len(),
        duplicate = handled.duplicate,
        "inbound text handled"
    );
    let response = (
        [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
        twiml::reply(&handled.replies),
    )
        .into_response();
    Ok((response, handled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(value: &str) -> bool {
        is_form(Some(&header::HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn the_form_media_type_is_matched_without_case_and_with_parameters() {
        for ok in [
            "application/x-www-form-urlencoded",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "Application/X-Www-Form-Urlencoded; Charset=UTF-8",
            "application/x-www-form-urlencoded;charset=utf-8",
            "application/x-www-form-urlencoded ; charset=\"UTF-8\"",
        ] {
            assert!(form(ok), "{ok}");
        }
        for refused in [
            "application/x-www-form-urlencodedX",
            "application/x-www-form-urlencoded-evil",
            "application/x-www-form-urlencoded+json",
            "application/x-www-form-urlencoded/more",
            "application/x-www-form-urlencoded, text/plain",
            "text/x-www-form-urlencoded",
            "application/json",
            "",
        ] {
            assert!(!form(refused), "{refused}");
        }
        assert!(!is_form(None));
    }

    #[test]
    fn a_masked_phone_keeps_only_the_country_code_and_last_digits() {
        assert_eq!(mask_phone("+15025550123"), "+15***23");
        assert_eq!(mask_phone("12345"), "***");
    }
}
