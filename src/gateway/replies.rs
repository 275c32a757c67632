//! The gateway's own texts: opt-out and opt-in confirmations, the help reply, the default reply.
//! English and Spanish built in; the organisation name and help contact come from configuration,
//! with a text per language where the deployment gives one.

use std::collections::BTreeMap;

/// Which built-in reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    OptedOut,
    OptedIn,
    Help,
    /// After a text that might have meant "stop" but was taken as what it said: how to stop.
    OptOutHint,
}

/// What [`Replies::help_contact`] says when the deployment has not set its own: the same
/// advice worded in each shipped language.
pub const DEFAULT_HELP_CONTACT: &str = "call 311";
const DEFAULT_HELP_CONTACT_ES: &str = "llame al 311";

/// Renders the gateway's replies for one deployment.
#[derive(Debug, Clone)]
pub struct Replies {
    /// Who is texting, e.g. "City of Louisville".
    pub organization: String,
    /// Where to get help besides HELP, e.g. "call 311".
    pub help_contact: String,
    /// The organisation's name in other languages, by language code (`es` → "Ciudad de …").
    pub organization_by_language: BTreeMap<String, String>,
    /// The help contact in other languages, by language code (`es` → "llame al 311").
    pub help_contact_by_language: BTreeMap<String, String>,
}

impl Default for Replies {
    fn default() -> Self {
        Replies {
            organization: "civictext".into(),
            help_contact: DEFAULT_HELP_CONTACT.into(),
            organization_by_language: BTreeMap::new(),
            help_contact_by_language: BTreeMap::new(),
        }
    }
}

fn spanish(lang: Option<&str>) -> bool {
    lang.is_some_and(|l| l == "es" || l.starts_with("es-"))
}

/// The entry for `lang` ("es-MX" falls back to "es").
fn for_language<'a>(table: &'a BTreeMap<String, String>, lang: Option<&str>) -> Option<&'a str> {
    let lang = lang?;
    table
        .get(lang)
        .or_else(|| table.get(lang.split('-').next().unwrap_or(lang)))
        .map(String::as_str)
}

impl Replies {
    /// A built-in reply in `lang` (English unless Spanish).
    pub fn render(&self, reply: Reply, lang: Option<&str>) -> String {
        let org = self.organization(lang);
        let help = self.help_contact(lang);
        match (reply, spanish(lang)) {
            (Reply::OptedOut, false) => format!(
                "You're unsubscribed from {org} texts and won't get any more. Reply START to resubscribe."
            ),
            (Reply::OptedOut, true) => format!(
                "Se dio de baja de los mensajes de {org} y no recibirá más. Responda START para volver."
            ),
            (Reply::OptedIn, false) => format!(
                "You're subscribed to {org} texts again. Reply HELP for help, STOP to opt out."
            ),
            (Reply::OptedIn, true) => format!(
                "Se suscribió de nuevo a los mensajes de {org}. Responda AYUDA para ayuda, STOP para salir."
            ),
            (Reply::Help, false) => format!(
                "{org}: surveys and service requests by text. For help, {help}. Msg & data rates may apply. Reply STOP to opt out."
            ),
            (Reply::OptOutHint, false) => {
                format!("Reply STOP to stop all texts from {org}.")
            }
            (Reply::OptOutHint, true) => {
                format!("Responda STOP para dejar de recibir todos los mensajes de {org}.")
            }
            (Reply::Help, true) => format!(
                "{org}: encuestas y reportes por texto. Para ayuda: {help}. Pueden aplicar tarifas. Responda STOP para salir."
            ),
        }
    }

    /// Who is texting, in `lang`: its entry in `organization_by_language`, else `organization`.
    pub fn organization(&self, lang: Option<&str>) -> &str {
        for_language(&self.organization_by_language, lang).unwrap_or(&self.organization)
    }

    /// Where to get help, in `lang`: its entry in `help_contact_by_language`; else, while
    /// `help_contact` is left at its default, the built-in wording for that language; else
    /// `help_contact` as configured.
    pub fn help_contact(&self, lang: Option<&str>) -> &str {
        if let Some(text) = for_language(&self.help_contact_by_language, lang) {
            return text;
        }
        if self.help_contact == DEFAULT_HELP_CONTACT && spanish(lang) {
            return DEFAULT_HELP_CONTACT_ES;
        }
        &self.help_contact
    }

    /// The reply to a text that matches nothing, listing the keywords that do something.
    pub fn render_default(&self, lang: Option<&str>, keywords: &[String]) -> String {
        let list = keywords.join(", ");
        if spanish(lang) {
            format!(
                "{}: no entendimos su mensaje. Envíe {list} para empezar. AYUDA para ayuda, STOP para salir.",
                self.organization(lang)
            )
        } else {
            format!(
                "{}: sorry, we didn't understand. Text {list} to get started. HELP for help, STOP to opt out.",
                self.organization(lang)
            )
        }
    }
}
