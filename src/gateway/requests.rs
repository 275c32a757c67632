//! Service requests after they are filed, as the resident hears about them: the text queued
//! when staff change a request's status, and the answer to a resident who texts its tracking
//! code.

use jiff::Timestamp;

use super::replies::Replies;
use crate::sms::segments;
use crate::store::{
    OutboxKind, OutboxText, RequestInfo, RequestUpdated, StatusChange, Store, StoreError,
};

fn spanish(lang: Option<&str>) -> bool {
    lang.is_some_and(|l| l == "es" || l.starts_with("es-"))
}

/// A status word as a resident reads it in `lang`: the usual ones translated, any other with
/// its underscores as spaces.
pub fn status_words(status: &str, lang: Option<&str>) -> String {
    match (status, spanish(lang)) {
        ("open", false) => "open".into(),
        ("in_progress", false) => "in progress".into(),
        ("closed", false) => "closed".into(),
        ("open", true) => "abierto".into(),
        ("in_progress", true) => "en curso".into(),
        ("closed", true) => "cerrado".into(),
        (other, _) => other.replace('_', " "),
    }
}

impl Replies {
    /// The answer to a resident who texted the tracking code of their request: its status and
    /// latest note, in `lang`.
    pub fn request_status(&self, request: &RequestInfo, lang: Option<&str>) -> String {
        let org = self.organization(lang);
        let status = status_words(&request.status, lang);
        let code = &request.code;
        let mut text = if spanish(lang) {
            format!("{org}: su reporte {code} está {status}.")
        } else {
            format!("{org}: your report {code} is {status}.")
        };
        if let Some(note) = request.status_notes.as_deref().filter(|n| !n.is_empty()) {
            text.push_str(if spanish(lang) {
                " Última nota: "
            } else {
                " Latest note: "
            });
            text.push_str(note);
        }
        text
    }

    /// The text telling a resident their request's status changed, in `lang`. It is sent on
    /// the gateway's own initiative, so it says how to opt out.
    pub fn request_update(&self, request: &RequestInfo, lang: Option<&str>) -> String {
        let org = self.organization(lang);
        let status = status_words(&request.status, lang);
        let code = &request.code;
        let note = request.status_notes.as_deref().filter(|n| !n.is_empty());
        if spanish(lang) {
            let note = note.map_or(String::new(), |n| format!(" Nota: {n}"));
            format!("{org}: su reporte {code} ahora está {status}.{note} Responda STOP para salir.")
        } else {
            let note = note.map_or(String::new(), |n| format!(" Note: {n}"));
            format!("{org}: your report {code} is now {status}.{note} Reply STOP to opt out.")
        }
    }
}

/// Changes the status of request `code` (see [`Store::update_request_status`]) and, when the
/// status or the note changed, queues the text telling the resident, in their language, in
/// the same transaction. The outbound worker sends it: not during the resident's quiet hours,
/// and not at all once they have opted out. None when there is no such request.
///
/// This is what every way of changing a status goes through: the API, the CLI, the console.
pub async fn change_status(
    store: &Store,
    replies: &Replies,
    code: &str,
    change: &StatusChange,
) -> Result<Option<RequestUpdated>, StoreError> {
    store
        .update_request_status(code, change, |request, old_status| {
            let news = request.status != old_status || change.note.is_some();
            news.then(|| follow_up(replies, request, change.at))
        })
        .await
}

/// The text telling the resident about `request` as it is now.
fn follow_up(replies: &Replies, request: &RequestInfo, at: Timestamp) -> OutboxText {
    let body = replies.request_update(request, request.language.as_deref());
    OutboxText {
        kind: OutboxKind::RequestUpdate,
        segments: segments::count(&body).segments,
        body,
        not_before: at,
        dedupe_key: None,
    }
}

/// Words a resident may put before a tracking code when asking about it.
const ASKING_WORDS: [&str; 6] = ["status", "estado", "code", "codigo", "código", "track"];

/// The tracking code a text consists of, if it is one, as the gateway issues codes
/// (`XXXX-XXXX`, upper case): `AB12-CD34`, `ab12cd34`, `#AB12 CD34`, `status AB12-CD34.`
/// Read the Crockford way, as codes are read out on the phone: O is 0, I and L are 1.
/// Only a candidate: whether it names a request (of this resident) is for the store to say.
pub fn tracking_code_in(text: &str) -> Option<String> {
    let mut rest = text.trim().trim_end_matches(['.', '!', '?']).trim();
    let lower = rest.to_lowercase();
    for word in ASKING_WORDS {
        if let Some(after) = lower.strip_prefix(word)
            && after.starts_with([' ', ':', '#'])
        {
            // The prefix is ASCII or `ó` in both `lower` and `rest`, so byte offsets agree.
            rest = rest[rest.len() - after.len()..].trim_start_matches([' ', ':']);
            break;
        }
    }
    let rest = rest.strip_prefix('#').unwrap_or(rest);
    let mut code = String::with_capacity(9);
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => code.push('0'),
            'I' | 'L' => code.push('1'),
            'U' => return None,
            c @ ('0'..='9' | 'A'..='Z') => code.push(c),
            _ => return None,
        }
        if code.len() == 4 {
            code.push('-');
        }
    }
    (code.len() == 9).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_recognised_however_the_resident_types_it() {
        for text in [
            "AB12-CD34",
            "ab12cd34",
            " #AB12 CD34 ",
            "status AB12-CD34.",
            "Estado: ab12-cd34",
            "Código ab12-cd34?",
        ] {
            assert_eq!(
                tracking_code_in(text).as_deref(),
                Some("AB12-CD34"),
                "{text}"
            );
        }
        assert_eq!(tracking_code_in("ABlO-CD34").as_deref(), Some("AB10-CD34"));
    }

    #[test]
    fn ordinary_answers_are_not_codes() {
        for text in [
            "",
            "yes",
            "Main St & 5th",
            "AB12-CD3",
            "AB12-CD345",
            "2 Main St!",
        ] {
            assert_eq!(tracking_code_in(text), None, "{text}");
        }
    }

    fn request(status: &str, note: Option<&str>) -> RequestInfo {
        RequestInfo {
            id: 1,
            code: "AB12-CD34".into(),
            service: "pothole".into(),
            description: None,
            location: None,
            photo: None,
            status: status.into(),
            status_notes: note.map(str::to_string),
            flow_id: "service-request".into(),
            contact_id: Some(1),
            phone: Some("+15025550100".into()),
            language: None,
            channel: "sms".into(),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: None,
        }
    }

    #[test]
    fn the_status_reads_in_the_residents_language_with_the_note() {
        let replies = Replies::default();
        let r = request("in_progress", Some("Crew on site Tuesday."));
        assert_eq!(
            replies.request_status(&r, Some("en")),
            "civictext: your report AB12-CD34 is in progress. Latest note: Crew on site Tuesday."
        );
        assert_eq!(
            replies.request_status(&r, Some("es")),
            "civictext: su reporte AB12-CD34 está en curso. Última nota: Crew on site Tuesday."
        );
        assert_eq!(
            replies.request_update(&request("closed", None), None),
            "civictext: your report AB12-CD34 is now closed. Reply STOP to opt out."
        );
    }
}
