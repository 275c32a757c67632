//! The global compliance vocabulary — opt-out, opt-in and help — recognised before any
//! conversation logic, whatever flow a resident is in.
//!
//! Residents revoke consent "by any reasonable means" (FCC 24-24), not only with the word STOP
//! on its own. A message opts out when:
//! - the whole of it is an opt-out word or phrase ("Stop.", "stop texting me please", "ALTO");
//! - one of its sentences or clauses is ("STOP!!! I never signed up", "who is this? stop");
//! - it contains a phrase that can only mean "stop texting me" ("do not contact me",
//!   "I revoke consent", "ya no quiero mensajes"), not negated ("don't stop texting me").
//!
//! A STOP-family word anywhere else ("tell them to stop speeding") makes the message
//! [`Reading::MaybeOptOut`]: not a command, but possibly a request to stop. Uses that never ask
//! to stop ("the bus stop is broken", "stop sign") are neither.
//!
//! The words are data, one file per language (`vocabulary/en.toml`, `vocabulary/es.toml`),
//! embedded in the binary; see [`lexicon`] and the notes at the top of `en.toml`.

pub mod lexicon;
pub mod tokens;

use std::sync::LazyLock;

use lexicon::{Language, Lexicon, Phrase};
use tokens::starts_with;

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
    /// Language the words belong to ("en", "es"), so the confirmation can be sent in it.
    pub language: &'static str,
    /// True for words that only mean "opt in" for a number that has opted out (YES, SI):
    /// mid-survey "yes" is an answer, not a command.
    pub only_when_opted_out: bool,
}

/// How a message reads against the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The message is a command.
    Command(Recognized),
    /// Not a command, but it uses a word that may be a request to stop ("I want them to stop
    /// the noise"): it is handled as usual, and the resident is told how to stop.
    MaybeOptOut {
        /// Language of the word, so the clarifying text can be sent in it.
        language: &'static str,
    },
    /// Nothing the vocabulary knows.
    Nothing,
}

impl Reading {
    /// The command, if the message is one.
    pub fn command(self) -> Option<Recognized> {
        match self {
            Reading::Command(r) => Some(r),
            _ => None,
        }
    }
}

/// The built-in vocabulary. The files are part of the binary and checked by its tests, so a
/// file that does not read is a build defect, not a run-time condition.
pub static LEXICON: LazyLock<Lexicon> =
    LazyLock::new(|| lexicon::load().expect("the built-in vocabulary files read"));

/// No whole-message phrase is longer than this; longer messages are only read clause by clause.
const MAX_PHRASE_WORDS: usize = 10;

/// How many words before a request a negation turns it around ("I do not want you to stop" is
/// past it; "please don't stop texting me" is not).
const NEGATION_REACH: usize = 3;

/// Recognises a message that is, or clearly contains, an opt-out, opt-in or help command.
///
/// Returns `None` for anything else, including a sentence that merely uses a command word.
/// The caller decides what to do with [`Recognized::only_when_opted_out`] words.
pub fn recognize(text: &str) -> Option<Recognized> {
    read(text).command()
}

/// Reads a message: a command, a possible request to stop, or nothing.
pub fn read(text: &str) -> Reading {
    read_with(&LEXICON, text)
}

fn recognized(command: Command, language: &Language, only_when_opted_out: bool) -> Reading {
    Reading::Command(Recognized {
        command,
        language: static_code(language),
        only_when_opted_out,
    })
}

/// The language code with the lexicon's lifetime.
fn static_code(language: &Language) -> &'static str {
    LEXICON
        .languages
        .iter()
        .find(|l| l.code == language.code)
        .map_or("en", |l| l.code.as_str())
}

/// [`read`] against a given lexicon.
pub fn read_with(lexicon: &Lexicon, text: &str) -> Reading {
    let clauses = tokens::clauses(text, lexicon);
    let mut whole: Vec<String> = Vec::new();
    for clause in &clauses {
        for w in clause {
            if whole.last() != Some(w) {
                whole.push(w.clone());
            }
        }
    }
    strip_filler(lexicon, &mut whole);
    if whole.is_empty() {
        return Reading::Nothing;
    }

    // 1. The whole message. Opting out is tried first, so that stopping always wins.
    if whole.len() <= MAX_PHRASE_WORDS {
        for l in &lexicon.languages {
            let lists = [&l.opt_out_whole, &l.opt_out_clause, &l.opt_out_anywhere];
            if lists.iter().any(|list| is_one_of(&whole, list)) {
                return recognized(Command::OptOut, l, false);
            }
        }
        for (pick, only_when_opted_out, command) in [
            (
                (|l: &Language| &l.opt_in_whole) as fn(&Language) -> &Vec<Phrase>,
                false,
                Command::OptIn,
            ),
            (|l: &Language| &l.opt_in_if_opted_out, true, Command::OptIn),
            (|l: &Language| &l.help_whole, false, Command::Help),
        ] {
            if let Some(l) = lexicon
                .languages
                .iter()
                .find(|l| is_one_of(&whole, pick(l)))
            {
                return recognized(command, l, only_when_opted_out);
            }
        }
    }

    // 2. A clause of its own.
    for clause in &clauses {
        let mut clause = clause.clone();
        strip_filler(lexicon, &mut clause);
        for l in &lexicon.languages {
            if is_one_of(&clause, &l.opt_out_clause) || is_one_of(&clause, &l.opt_out_anywhere) {
                return recognized(Command::OptOut, l, false);
            }
        }
    }

    // 3. A phrase that only means "stop", anywhere, not negated.
    for clause in &clauses {
        for l in &lexicon.languages {
            if find_unnegated(lexicon, clause, &l.opt_out_anywhere).is_some() {
                return recognized(Command::OptOut, l, false);
            }
        }
    }

    // 4. A STOP-family word in some other use.
    for clause in &clauses {
        let clause = without_non_requests(lexicon, clause);
        for l in &lexicon.languages {
            if find_unnegated(lexicon, &clause, &l.ambiguous).is_some() {
                return Reading::MaybeOptOut {
                    language: static_code(l),
                };
            }
        }
    }
    Reading::Nothing
}

fn is_one_of(words: &[String], phrases: &[Phrase]) -> bool {
    phrases.iter().any(|p| p.as_slice() == words)
}

/// Where in `words` one of `phrases` starts, with no negation in the few words before it.
fn find_unnegated(lexicon: &Lexicon, words: &[String], phrases: &[Phrase]) -> Option<usize> {
    (0..words.len()).find(|&at| {
        phrases.iter().any(|p| starts_with(&words[at..], p)) && !negated(lexicon, words, at)
    })
}

/// True when a negation ends within [`NEGATION_REACH`] words before `at`.
fn negated(lexicon: &Lexicon, words: &[String], at: usize) -> bool {
    let from = at.saturating_sub(NEGATION_REACH);
    (from..at).any(|i| {
        lexicon
            .languages
            .iter()
            .flat_map(|l| &l.negations)
            .any(|n| i + n.len() <= at && starts_with(&words[i..], n))
    })
}

/// `words` with every use that never asks to stop ("bus stop", "stop sign") taken out.
fn without_non_requests(lexicon: &Lexicon, words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    'words: while i < words.len() {
        for p in lexicon.languages.iter().flat_map(|l| &l.not_a_request) {
            if starts_with(&words[i..], p) {
                i += p.len();
                out.push(String::new());
                continue 'words;
            }
        }
        out.push(words[i].clone());
        i += 1;
    }
    out
}

/// Removes filler from the start and the end of `words`, repeatedly.
fn strip_filler(lexicon: &Lexicon, words: &mut Vec<String>) {
    let fillers: Vec<&Phrase> = lexicon.languages.iter().flat_map(|l| &l.filler).collect();
    loop {
        if let Some(f) = fillers.iter().find(|f| starts_with(words, f)) {
            words.drain(..f.len());
            continue;
        }
        let trailing = fillers
            .iter()
            .find(|f| words.len() >= f.len() && words[words.len() - f.len()..] == f[..]);
        match trailing {
            Some(f) => words.truncate(words.len() - f.len()),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests;
