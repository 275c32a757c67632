//! The gateway's own texts: opt-out and opt-in confirmations, the help reply, the default reply.
//! English and Spanish built in; the organisation name and help contact come from configuration.

/// Which built-in reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    OptedOut,
    OptedIn,
    Help,
}

/// Renders the gateway's replies for one deployment.
#[derive(Debug, Clone)]
pub struct Replies {
    /// Who is texting, e.g. "City of Louisville".
    pub organization: String,
    /// Where to get help besides HELP, e.g. "call 311".
    pub help_contact: String,
}

impl Default for Replies {
    fn default() -> Self {
        Replies {
            organization: "civictext".into(),
            help_contact: "call 311".into(),
        }
    }
}

fn spanish(lang: Option<&str>) -> bool {
    lang.is_some_and(|l| l == "es" || l.starts_with("es-"))
}

impl Replies {
    /// A built-in reply in `lang` (English unless Spanish).
    pub fn render(&self, reply: Reply, lang: Option<&str>) -> String {
        let org = &self.organization;
        let help = &self.help_contact;
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
            (Reply::Help, true) => format!(
                "{org}: encuestas y reportes por texto. Para ayuda: {help}. Pueden aplicar tarifas. Responda STOP para salir."
            ),
        }
    }

    /// The reply to a text that matches nothing, listing the keywords that do something.
    pub fn render_default(&self, lang: Option<&str>, keywords: &[String]) -> String {
        let list = keywords.join(", ");
        if spanish(lang) {
            format!(
                "{}: no entendimos su mensaje. Envíe {list} para empezar. AYUDA para ayuda, STOP para salir.",
                self.organization
            )
        } else {
            format!(
                "{}: sorry, we didn't understand. Text {list} to get started. HELP for help, STOP to opt out.",
                self.organization
            )
        }
    }
}
