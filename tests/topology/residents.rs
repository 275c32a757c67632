//! Residents texting through the proxy, as Twilio delivers their texts: signed form posts, and
//! the same MessageSid again when a delivery got no 200.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use civictext::channel::twilio::signature;

use super::cluster::{ACCOUNT_SID, AUTH_TOKEN};

pub const GATEWAY_NUMBER: &str = "+15025550000";

/// The youth survey, the way `civictext simulate youth-survey --show-data` walks it: a text and
/// the answer it should store, if any.
pub fn survey_script(resident: u32) -> Vec<(String, Option<(&'static str, String)>)> {
    let age = 12 + resident % 18;
    let zip = 40200 + resident % 100;
    vec![
        ("PLAN".into(), None),
        (age.to_string(), Some(("age", age.to_string()))),
        (zip.to_string(), Some(("zip", zip.to_string()))),
        ("1".into(), Some(("getting-around", "bus".into()))),
        ("yes".into(), Some(("safe-walking", "yes".into()))),
        ("2".into(), Some(("priority", "transit".into()))),
        ("4".into(), Some(("rating", "4".into()))),
        ("no".into(), Some(("follow-up", "no".into()))),
    ]
}

pub fn phone(resident: u32) -> String {
    format!("+1502555{:04}", 1000 + resident)
}

pub fn message_sid(run: u32, resident: u32, step: usize) -> String {
    format!("SM{run:08x}{resident:08x}{step:016x}")
}

/// What the driver saw: for every acknowledged MessageSid, the texts the 200 reply carried.
#[derive(Default)]
pub struct Ledger {
    pub acknowledged: Mutex<BTreeMap<String, Vec<String>>>,
    pub acknowledged_count: AtomicUsize,
    /// Deliveries that got an error or no answer and were sent again.
    pub redeliveries: AtomicUsize,
}

/// Delivers one text until it is acknowledged with a 200, as Twilio retries a failed webhook.
pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    ledger: &Arc<Ledger>,
    from: &str,
    sid: &str,
    body: &str,
) {
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("From", from),
        ("To", GATEWAY_NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signed = signature::compute(AUTH_TOKEN, url, &params);
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let mut last_error = String::new();
    for attempt in 0..60 {
        if attempt > 0 {
            ledger.redeliveries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let response = client
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signed)
            .body(form.clone())
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 200 => {
                let xml = r.text().await.expect("a reply body");
                ledger
                    .acknowledged
                    .lock()
                    .unwrap()
                    .insert(sid.to_string(), messages_in(&xml));
                ledger.acknowledged_count.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(r) => last_error = format!("HTTP {}", r.status()),
            Err(e) => last_error = e.to_string(),
        }
    }
    panic!("{sid} was never acknowledged; last error: {last_error}");
}

/// The bodies of the `<Message>` elements of a TwiML reply.
fn messages_in(xml: &str) -> Vec<String> {
    xml.split("<Message>")
        .skip(1)
        .map(|m| {
            let raw = m.split("</Message>").next().expect("a closed element");
            quick_xml::escape::unescape(raw)
                .expect("escaped XML text")
                .into_owned()
        })
        .collect()
}
