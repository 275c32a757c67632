//! Precomputed requests: every simulated resident's full survey path as signed Twilio webhooks,
//! built before the clock starts so the generator only sends.

use axum::body::Bytes;

use crate::channel::twilio::signature;

/// The webhook path below the gateway's public URL.
pub const SMS_PATH: &str = crate::http::webhook::SMS_PATH;

/// The number residents text.
pub const SHORT_CODE: &str = "+15025550000";

/// One text of one resident, ready to send.
#[derive(Debug, Clone)]
pub struct Step {
    pub sid: String,
    /// The `application/x-www-form-urlencoded` body.
    pub body: Bytes,
    /// `X-Twilio-Signature`.
    pub signature: String,
    /// The question this text answers, if any (the keyword answers none).
    pub question: Option<&'static str>,
}

/// One resident and the texts they send, in order.
#[derive(Debug, Clone)]
pub struct Resident {
    pub phone: String,
    pub steps: Vec<Step>,
}

/// Everything a run sends.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every MessageSid of the run starts with it.
    pub sid_prefix: String,
    pub residents: Vec<Resident>,
}

impl Plan {
    /// Texts in the plan.
    pub fn steps(&self) -> usize {
        self.residents.iter().map(|r| r.steps.len()).sum()
    }
}

/// The texts of resident `i` through the youth survey, varied by `i` but always a complete,
/// valid path: (text, question it answers). Residents who feel safe send 8 texts (PLAN and
/// seven answers); one in three does not and is also asked why (9 texts).
pub fn survey_path(i: u64) -> Vec<(String, Option<&'static str>)> {
    let age = 10 + i % 21;
    let zip = format!("40{:03}", 200 + i % 100);
    let around = 1 + i % 4;
    let safe = !i.is_multiple_of(3);
    let rating = 1 + i % 5;
    let mut path = vec![
        ("PLAN".to_string(), None),
        (age.to_string(), Some("age")),
        (zip, Some("zip")),
        (around.to_string(), Some("getting-around")),
        (
            if safe { "yes" } else { "no" }.to_string(),
            Some("safe-walking"),
        ),
    ];
    if !safe {
        path.push(("better street lights".to_string(), Some("why-unsafe")));
    }
    path.push(((1 + i % 4).to_string(), Some("priority")));
    path.push((rating.to_string(), Some("rating")));
    path.push((
        if i.is_multiple_of(2) { "yes" } else { "no" }.to_string(),
        Some("follow-up"),
    ));
    path
}

/// Builds the run: `residents` residents with distinct phone numbers and unique MessageSids
/// (prefixed by `run`), signed with `auth_token` for `{public_url}/webhooks/twilio/sms`.
pub fn build(run: u64, residents: u64, auth_token: &str, public_url: &str) -> Plan {
    let url = format!("{}{SMS_PATH}", public_url.trim_end_matches('/'));
    let sid_prefix = format!("SM{run:012x}");
    let account = "AC00000000000000000000000000000000";
    let mut seq = 0u64;
    let residents = (0..residents)
        .map(|i| {
            let phone = format!("+1502{:07}", i % 10_000_000);
            let steps = survey_path(i)
                .into_iter()
                .map(|(text, question)| {
                    let sid = format!("{sid_prefix}{seq:020}");
                    seq += 1;
                    let params: Vec<(String, String)> = [
                        ("ToCountry", "US"),
                        ("ToState", "KY"),
                        ("SmsMessageSid", sid.as_str()),
                        ("NumMedia", "0"),
                        ("ToCity", "LOUISVILLE"),
                        ("FromZip", "40202"),
                        ("SmsSid", sid.as_str()),
                        ("FromState", "KY"),
                        ("SmsStatus", "received"),
                        ("FromCity", "LOUISVILLE"),
                        ("Body", text.as_str()),
                        ("FromCountry", "US"),
                        ("To", SHORT_CODE),
                        ("ToZip", "40202"),
                        ("NumSegments", "1"),
                        ("MessageSid", sid.as_str()),
                        ("AccountSid", account),
                        ("From", phone.as_str()),
                        ("ApiVersion", "2010-04-01"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                    let signature = signature::compute(auth_token, &url, &params);
                    let body = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&params)
                        .finish();
                    Step {
                        sid,
                        body: Bytes::from(body),
                        signature,
                        question,
                    }
                })
                .collect();
            Resident { phone, steps }
        })
        .collect();
    Plan {
        sid_prefix,
        residents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::twilio::inbound;

    #[test]
    fn every_request_is_signed_unique_and_parses_as_a_twilio_webhook() {
        let plan = build(7, 30, "token", "http://127.0.0.1:9/");
        assert_eq!(plan.residents.len(), 30);
        assert_eq!(plan.steps(), 20 * 8 + 10 * 9);
        let url = "http://127.0.0.1:9/webhooks/twilio/sms";
        let mut sids = std::collections::HashSet::new();
        let mut phones = std::collections::HashSet::new();
        for r in &plan.residents {
            assert!(phones.insert(r.phone.clone()));
            let answers = r.steps.iter().filter(|s| s.question.is_some()).count();
            assert_eq!(answers, r.steps.len() - 1);
            for s in &r.steps {
                assert!(s.sid.starts_with(&plan.sid_prefix));
                assert!(sids.insert(s.sid.clone()));
                let params = inbound::parse_form(&s.body).unwrap();
                assert!(signature::verify("token", url, &params, &s.signature));
                let msg = inbound::InboundMessage::from_params(params).unwrap();
                assert_eq!(msg.message_sid, s.sid);
                assert_eq!(msg.from, r.phone);
            }
            assert_eq!(
                inbound::InboundMessage::from_form(&r.steps[0].body)
                    .unwrap()
                    .body,
                "PLAN"
            );
        }
    }

    #[test]
    fn the_survey_path_answers_each_question_once() {
        for i in 0..12 {
            let path = survey_path(i);
            assert_eq!(path.len(), if i.is_multiple_of(3) { 9 } else { 8 });
            let qs: std::collections::HashSet<_> = path.iter().filter_map(|(_, q)| *q).collect();
            assert_eq!(qs.len(), path.len() - 1);
        }
    }
}
