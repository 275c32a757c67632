//! The global compliance vocabulary — opt-out, opt-in and help — recognised before any
//! conversation logic, whatever flow a resident is in.
//!
//! A message is a command only when the whole of it says so: "Stop.", " stop!! ",
//! "STOP TEXTING ME please" and "Please stop" opt out, but "the bus stop on 5th is broken" and
//! "don't stop the survey" do not. Matching ignores case, accents, punctuation, extra spaces,
//! emoji, a repeated word ("stop stop") and polite filler at either end ("please", "por favor").
//!
//! The phrase lists are plain data: to add a phrase, write it in its folded form (lower case,
//! no accents, no punctuation, words separated by one space) in the right list; a unit test
//! rejects a phrase that could never match.

use super::fold::{fold, words};

/// What a recognised message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop texting this number: record the opt-out, end any session, confirm once.
    OptOut,
    /// Texts to this number may resume.
    OptIn,
    /// Send the configured help reply (who is texting, how to opt out).
    Help,
}

/// A message recognised as a global command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recognized {
    /// What the resident asked for.
    pub command: Command,
    /// Language the word belongs to ("en", "es"), so the confirmation can be sent in it.
    pub language: &'static str,
    /// True for words that only mean "opt in" for a number that has opted out (YES, SI):
    /// mid-survey "yes" is an answer, not a command.
    pub only_when_opted_out: bool,
}

/// One list of phrases and what they mean.
#[derive(Debug, Clone, Copy)]
pub struct Phrases {
    /// The command the phrases ask for.
    pub command: Command,
    /// The language they are in.
    pub language: &'static str,
    /// Whether they are a command only for a number that has opted out.
    pub only_when_opted_out: bool,
    /// The phrases, folded: lower case, no accents, no punctuation, one space between words.
    pub phrases: &'static [&'static str],
}

/// English opt-out phrases.
///
/// The single words are Twilio's default opt-out keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL,
/// END, QUIT, REVOKE, OPTOUT), which cover the CTIA Messaging Principles list; the phrases are
/// common ways residents revoke consent in their own words, which must be honoured too.
pub static OPT_OUT_EN: &[&str] = &[
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "revoke consent",
    "optout",
    "opt out",
    "opt me out",
    "unsubscribe me",
    "stop it",
    "stop texting",
    "stop texting me",
    "stop texts",
    "stop messaging",
    "stop messaging me",
    "stop messages",
    "stop sending",
    "stop sending me",
    "stop sending texts",
    "stop sending me texts",
    "stop sending messages",
    "stop sending me messages",
    "stop contacting me",
    "remove me",
    "remove me from list",
    "remove me from the list",
    "remove me from this list",
    "remove me from your list",
    "take me off",
    "take me off the list",
    "take me off this list",
    "take me off your list",
    "dont text me",
    "do not text me",
    "dont message me",
    "do not message me",
    "no more texts",
    "no more messages",
    "leave me alone",
    "wrong number",
];

/// Spanish opt-out phrases: the imperative and infinitive forms residents use for "stop", and
/// the usual ways of asking to be taken off a list.
pub static OPT_OUT_ES: &[&str] = &[
    "alto",
    "parar",
    "para",
    "pare",
    "paren",
    "basta",
    "cancelar",
    "baja",
    "detener",
    "salir",
    "no mas",
    "no mas mensajes",
    "no mas textos",
    "no me escriban",
    "no me escriba",
    "no me escribas",
    "no me manden mensajes",
    "no me envien mensajes",
    "dejen de escribirme",
    "deje de escribirme",
    "deja de escribirme",
    "dejen de enviarme mensajes",
    "dejen de mandarme mensajes",
    "darme de baja",
    "dar de baja",
    "de baja",
    "quiero darme de baja",
    "cancelar suscripcion",
    "desuscribir",
    "desuscribirme",
    "eliminarme",
    "borrarme",
    "quitarme de la lista",
    "sacarme de la lista",
];

/// English opt-in phrases, honoured at any time: Twilio's default opt-in keywords START and
/// UNSTOP, plus SUBSCRIBE and OPT IN.
pub static OPT_IN_EN: &[&str] = &["start", "unstop", "subscribe", "opt in", "optin"];

/// Spanish opt-in phrases, honoured at any time.
pub static OPT_IN_ES: &[&str] = &[
    "comenzar",
    "iniciar",
    "alta",
    "darme de alta",
    "dar de alta",
    "suscribir",
    "suscribirme",
];

/// English words that opt a number back in only if it has opted out (Twilio's YES).
pub static OPT_IN_IF_OPTED_OUT_EN: &[&str] = &["yes", "y"];

/// Spanish words that opt a number back in only if it has opted out ("sí" folds to "si").
pub static OPT_IN_IF_OPTED_OUT_ES: &[&str] = &["si"];

/// English help phrases: the carrier-required HELP and INFO.
pub static HELP_EN: &[&str] = &["help", "help me", "info", "information"];

/// Spanish help phrases.
pub static HELP_ES: &[&str] = &["ayuda", "ayudame", "informacion"];

/// Polite filler ignored at either end of a message ("stop please", "por favor alto").
pub static FILLER: &[&str] = &[
    "please",
    "pls",
    "plz",
    "thanks",
    "thank you",
    "thx",
    "ty",
    "now",
    "ok",
    "okay",
    "por favor",
    "porfavor",
    "porfa",
    "gracias",
    "ya",
    "ahora",
];

/// Every list, in the order they are tried: opt-out first, so that if a phrase were ever listed
/// twice, stopping wins.
pub static VOCABULARY: &[Phrases] = &[
    Phrases {
        command: Command::OptOut,
        language: "en",
        only_when_opted_out: false,
        phrases: OPT_OUT_EN,
    },
    Phrases {
        command: Command::OptOut,
        language: "es",
        only_when_opted_out: false,
        phrases: OPT_OUT_ES,
    },
    Phrases {
        command: Command::OptIn,
        language: "en",
        only_when_opted_out: false,
        phrases: OPT_IN_EN,
    },
    Phrases {
        command: Command::OptIn,
        language: "es",
        only_when_opted_out: false,
        phrases: OPT_IN_ES,
    },
    Phrases {
        command: Command::OptIn,
        language: "en",
        only_when_opted_out: true,
        phrases: OPT_IN_IF_OPTED_OUT_EN,
    },
    Phrases {
        command: Command::OptIn,
        language: "es",
        only_when_opted_out: true,
        phrases: OPT_IN_IF_OPTED_OUT_ES,
    },
    Phrases {
        command: Command::Help,
        language: "en",
        only_when_opted_out: false,
        phrases: HELP_EN,
    },
    Phrases {
        command: Command::Help,
        language: "es",
        only_when_opted_out: false,
        phrases: HELP_ES,
    },
];

/// No phrase is longer than this; longer messages are not commands and are not compared.
const MAX_PHRASE_WORDS: usize = 8;

/// Recognises a message that is, as a whole, an opt-out, opt-in or help command.
///
/// Returns `None` for anything else, including a sentence that merely contains a command word.
/// The caller decides what to do with [`Recognized::only_when_opted_out`] words.
pub fn recognize(text: &str) -> Option<Recognized> {
    let tokens = normalize(text);
    if tokens.is_empty() || tokens.len() > MAX_PHRASE_WORDS {
        return None;
    }
    VOCABULARY.iter().find_map(|list| {
        list.phrases
            .iter()
            .any(|phrase| phrase.split(' ').eq(tokens.iter().map(String::as_str)))
            .then_some(Recognized {
                command: list.command,
                language: list.language,
                only_when_opted_out: list.only_when_opted_out,
            })
    })
}

/// The words of a message as the vocabulary compares them: folded, hyphenated words split
/// ("opt-out" → "opt out"), apostrophes dropped ("don't" → "dont"), a word repeated back to back
/// kept once, and filler removed from both ends.
fn normalize(text: &str) -> Vec<String> {
    let folded = fold(text);
    let mut tokens: Vec<String> = Vec::new();
    for word in words(&folded) {
        for part in word.split('-') {
            let token: String = part.chars().filter(|&c| c != '\'').collect();
            if !token.is_empty() && tokens.last() != Some(&token) {
                tokens.push(token);
            }
        }
        if tokens.len() > 2 * MAX_PHRASE_WORDS {
            break;
        }
    }
    strip_filler(&mut tokens);
    tokens.dedup();
    tokens
}

/// Removes filler phrases from the start and the end of `tokens`, repeatedly.
fn strip_filler(tokens: &mut Vec<String>) {
    loop {
        let leading = FILLER.iter().find_map(|filler| {
            let n = filler.split(' ').count();
            (tokens.len() >= n && filler.split(' ').eq(tokens[..n].iter().map(String::as_str)))
                .then_some(n)
        });
        if let Some(n) = leading {
            tokens.drain(..n);
            continue;
        }
        let trailing = FILLER.iter().find_map(|filler| {
            let n = filler.split(' ').count();
            (tokens.len() >= n
                && filler
                    .split(' ')
                    .eq(tokens[tokens.len() - n..].iter().map(String::as_str)))
            .then_some(n)
        });
        match trailing {
            Some(n) => tokens.truncate(tokens.len() - n),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> Option<Command> {
        recognize(text).map(|r| r.command)
    }

    fn assert_opts_out(texts: &[&str]) {
        for text in texts {
            assert_eq!(
                command(text),
                Some(Command::OptOut),
                "{text:?} should opt out"
            );
        }
    }

    fn assert_not_a_command(texts: &[&str]) {
        for text in texts {
            assert_eq!(recognize(text), None, "{text:?} should not be a command");
        }
    }

    #[test]
    fn twilio_and_ctia_single_words_opt_out_in_english() {
        assert_opts_out(&[
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "REVOKE",
            "OPTOUT",
            "opt out",
            "Opt-Out",
        ]);
        assert_eq!(
            recognize("stop"),
            Some(Recognized {
                command: Command::OptOut,
                language: "en",
                only_when_opted_out: false,
            })
        );
    }

    #[test]
    fn case_edge_punctuation_spacing_and_emoji_do_not_hide_a_stop() {
        assert_opts_out(&[
            "Stop.",
            " stop!! ",
            "sToP",
            "STOP 🛑",
            "🛑 stop 🛑",
            "\"stop\"",
            "stop\n",
            "stop stop stop",
            "STOP! STOP!",
        ]);
    }

    #[test]
    fn plain_english_requests_to_stop_opt_out() {
        assert_opts_out(&[
            "STOP TEXTING ME please",
            "Please stop",
            "please stop texting me",
            "Stop messaging me!",
            "stop sending",
            "Stop sending me messages, thank you",
            "Remove me",
            "remove me from your list",
            "Unsubscribe me",
            "take me off the list please",
            "Stop now",
            "Don't text me",
            "do not text me!!",
            "Opt me out.",
            "STOP ALL",
        ]);
    }

    #[test]
    fn spanish_requests_to_stop_opt_out_in_spanish() {
        for text in [
            "ALTO",
            "Parar",
            "para",
            "CANCELAR",
            "Baja",
            "detener",
            "No más",
            "no mas",
            "NO MÁS MENSAJES",
            "No me escriban",
            "Dejen de escribirme, por favor",
            "por favor no me escriban",
            "¡Alto!",
            "quiero darme de baja",
            "Para ya",
        ] {
            let recognized = recognize(text);
            assert_eq!(
                recognized.map(|r| (r.command, r.language)),
                Some((Command::OptOut, "es")),
                "{text:?} should opt out in Spanish"
            );
        }
    }

    #[test]
    fn a_stop_word_inside_a_longer_sentence_is_not_a_command() {
        assert_not_a_command(&[
            "the bus stop on 5th is broken",
            "don't stop the survey",
            "the end of Main St",
            "Please don't stop",
            "stop sign down at Oak & 3rd",
            "I want to cancel my appointment",
            "quit smoking program info?",
            "Where do I start?",
            "help my neighbor with the pothole",
            "para la calle 5",
            "no más baches por favor en mi calle",
            "stopped",
            "stops",
            "nonstop",
            "Ending soon",
        ]);
    }

    #[test]
    fn empty_filler_only_and_symbol_only_messages_are_not_commands() {
        assert_not_a_command(&[
            "",
            "   ",
            "!!!",
            "😜🎉",
            "please",
            "thanks",
            "por favor",
            "ok",
            "no",
            "No thanks",
        ]);
    }

    #[test]
    fn start_unstop_and_subscribe_always_opt_in() {
        for (text, language) in [
            ("START", "en"),
            ("unstop", "en"),
            ("Subscribe", "en"),
            ("start please", "en"),
            ("Opt in", "en"),
            ("COMENZAR", "es"),
            ("iniciar", "es"),
            ("Alta", "es"),
        ] {
            assert_eq!(
                recognize(text),
                Some(Recognized {
                    command: Command::OptIn,
                    language,
                    only_when_opted_out: false,
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn yes_and_si_opt_in_only_for_a_number_that_opted_out() {
        for (text, language) in [
            ("YES", "en"),
            ("y", "en"),
            ("Yes please", "en"),
            ("Yes!", "en"),
            ("SI", "es"),
            ("Sí", "es"),
            ("¡Sí, por favor!", "es"),
        ] {
            assert_eq!(
                recognize(text),
                Some(Recognized {
                    command: Command::OptIn,
                    language,
                    only_when_opted_out: true,
                }),
                "{text:?}"
            );
        }
        assert_not_a_command(&["yes I visit weekly", "si, cada semana", "yesterday"]);
    }

    #[test]
    fn help_and_info_ask_for_help_in_their_language() {
        for (text, language) in [
            ("HELP", "en"),
            ("help?", "en"),
            ("Info", "en"),
            ("help me please", "en"),
            ("AYUDA", "es"),
            ("¿Ayuda?", "es"),
            ("ayúdame", "es"),
        ] {
            assert_eq!(
                recognize(text),
                Some(Recognized {
                    command: Command::Help,
                    language,
                    only_when_opted_out: false,
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_message_that_is_too_long_to_be_a_command_is_not_one() {
        let long = "stop ".repeat(10_000) + "texting me now or else I will call city hall";
        assert_eq!(recognize(&long), None);
    }

    #[test]
    fn every_listed_phrase_is_written_in_the_form_it_is_matched_in() {
        for list in VOCABULARY {
            for phrase in list.phrases {
                let normalized = normalize(phrase).join(" ");
                assert_eq!(
                    normalized, *phrase,
                    "{phrase:?} can never match: write it as {normalized:?}"
                );
                assert!(
                    phrase.split(' ').count() <= MAX_PHRASE_WORDS,
                    "{phrase:?} is longer than {MAX_PHRASE_WORDS} words"
                );
            }
        }
    }

    #[test]
    fn no_phrase_is_listed_under_two_commands_or_twice() {
        let mut seen: Vec<(&str, Command)> = Vec::new();
        for list in VOCABULARY {
            for phrase in list.phrases {
                assert!(
                    !seen.iter().any(|(p, _)| p == phrase),
                    "{phrase:?} is listed more than once"
                );
                seen.push((phrase, list.command));
            }
        }
    }

    #[test]
    fn every_phrase_is_recognized_as_its_own_command_and_language() {
        for list in VOCABULARY {
            for phrase in list.phrases {
                let recognized = recognize(phrase);
                assert_eq!(
                    recognized,
                    Some(Recognized {
                        command: list.command,
                        language: list.language,
                        only_when_opted_out: list.only_when_opted_out,
                    }),
                    "{phrase:?}"
                );
            }
        }
    }
}
