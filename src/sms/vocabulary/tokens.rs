//! A resident's text cut into clauses of words, cleaned up the way the vocabulary is matched:
//! "STOP!!! I never signed up" is the clauses `stop` and `i never signed up`.
//!
//! Sentence punctuation, line breaks and emoji end a clause; quotes, brackets and other symbols
//! only separate words. Words are folded (case, accents), hyphenated words split ("opt-out"),
//! apostrophes dropped ("don't" → "dont"), stretched letters squeezed ("stooop" → "stop"),
//! spaced-out letters joined ("S T O P", "S.T.O.P" → "stop"), listed misspellings read as
//! the word they stand for, and a phone's signature ("Sent from my iPhone") cut off with
//! everything after it.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::lexicon::{Lexicon, Phrase};

/// At most this many words of a message are read: a request to stop comes early, and a hostile
/// 1,600-character text stays cheap.
pub const MAX_WORDS: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Word(String),
    Break,
}

/// True for characters that end a clause.
fn ends_clause(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | ',' | ':' | '…' | '¡' | '¿' | '\n' | '\r' | '\u{2028}' | '\u{2029}'
    ) || (!c.is_ascii()
        && !c.is_alphanumeric()
        && !c.is_whitespace()
        && !matches!(c, '\u{2018}'..='\u{201F}' | '\u{00AB}' | '\u{00BB}'))
}

/// The text as words and clause breaks, before any cleaning.
fn items(text: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut words = 0usize;
    let flush = |word: &mut String, out: &mut Vec<Item>, words: &mut usize| {
        if !word.is_empty() {
            for part in word.split('-') {
                let token: String = part.chars().filter(|&c| c != '\'').collect();
                if !token.is_empty() {
                    out.push(Item::Word(token));
                    *words += 1;
                }
            }
            word.clear();
        }
    };
    for c in text.nfkd() {
        if words >= MAX_WORDS {
            break;
        }
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' | '´' => '\'',
            _ => c,
        };
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out, &mut words);
            if ends_clause(c) {
                out.push(Item::Break);
            }
        }
    }
    flush(&mut word, &mut out, &mut words);
    out
}

/// Joins a run of three or more single letters, with nothing or one clause break between each
/// two, into one word: "s t o p", "s.t.o.p." → "stop".
fn join_spelled_out(items: Vec<Item>) -> Vec<Item> {
    let single = |i: &Item| matches!(i, Item::Word(w) if w.chars().count() == 1 && w.chars().all(char::is_alphabetic));
    let mut out = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        if single(&items[i]) {
            let mut letters = Vec::new();
            let mut j = i;
            let mut end = i;
            while j < items.len() && single(&items[j]) {
                if let Item::Word(w) = &items[j] {
                    letters.push(w.clone());
                }
                end = j + 1;
                j += 1;
                if j < items.len() && items[j] == Item::Break {
                    j += 1;
                }
            }
            if letters.len() >= 3 {
                out.push(Item::Word(letters.concat()));
                i = end;
                continue;
            }
        }
        out.push(items[i].clone());
        i += 1;
    }
    out
}

/// "stooop" → "stop", "pleeease" → "please": a letter written three or more times in a row is
/// read once. Digits are left alone ("1000").
fn squeeze(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let keep = if run >= 3 && c.is_alphabetic() {
            1
        } else {
            run
        };
        out.extend(std::iter::repeat_n(c, keep));
        i += run;
    }
    out
}

/// True when `a` and `b` differ by one letter changed, added or removed, or two neighbours
/// swapped (optimal string alignment distance 1).
fn one_edit_apart(a: &str, b: &str) -> bool {
    a.chars().count().abs_diff(b.chars().count()) <= 1 && strsim::osa_distance(a, b) <= 1
}

/// A word as the vocabulary reads it: squeezed, then a listed misspelling or a near miss of a
/// long word replaced by the word meant.
fn clean(word: &str, lexicon: &Lexicon) -> String {
    let word = squeeze(word);
    if let Some(meant) = lexicon.spellings.get(&word) {
        return meant.clone();
    }
    if word.chars().count() >= 6
        && let Some(meant) = lexicon
            .fuzzy
            .iter()
            .find(|f| f.as_str() != word && one_edit_apart(f, &word))
    {
        return meant.clone();
    }
    word
}

/// True when `words` starts with `phrase`.
pub fn starts_with(words: &[String], phrase: &Phrase) -> bool {
    words.len() >= phrase.len() && words.iter().zip(phrase).all(|(w, p)| w == p)
}

/// The message's clauses, each a list of cleaned words with repeats back to back kept once
/// ("stop stop" → "stop"); empty clauses are dropped.
pub fn clauses(text: &str, lexicon: &Lexicon) -> Vec<Vec<String>> {
    let mut items = join_spelled_out(items(text));
    for item in &mut items {
        if let Item::Word(w) = item {
            *w = clean(w, lexicon);
        }
    }
    // The signature and everything after it go; it is found across the whole text.
    let words: Vec<(usize, String)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Item::Word(w) => Some((i, w.clone())),
            Item::Break => None,
        })
        .collect();
    let only_words: Vec<String> = words.iter().map(|(_, w)| w.clone()).collect();
    let signatures = lexicon.languages.iter().flat_map(|l| &l.signatures);
    let cut = (0..only_words.len())
        .find(|&k| signatures.clone().any(|s| starts_with(&only_words[k..], s)))
        .map(|k| words[k].0);
    if let Some(at) = cut {
        items.truncate(at);
    }
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for item in items {
        match item {
            Item::Break => {
                if out.last().is_some_and(|c| !c.is_empty()) {
                    out.push(Vec::new());
                }
            }
            Item::Word(w) => {
                let clause = out.last_mut().expect("there is always a clause");
                if clause.last() != Some(&w) {
                    clause.push(w);
                }
            }
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::super::lexicon;
    use super::*;

    fn read(text: &str) -> Vec<String> {
        let lexicon = lexicon::load().unwrap();
        clauses(text, &lexicon)
            .into_iter()
            .map(|c| c.join(" "))
            .collect()
    }

    #[test]
    fn punctuation_line_breaks_and_emoji_end_clauses_but_quotes_do_not() {
        assert_eq!(
            read("STOP!!! I never signed up"),
            ["stop", "i never signed up"]
        );
        assert_eq!(read("who is this? stop"), ["who is this", "stop"]);
        assert_eq!(read("Stop 🛑 now\nthanks"), ["stop", "now", "thanks"]);
        assert_eq!(
            read("the \"stop\" sign (by the school)"),
            ["the stop sign by the school"]
        );
    }

    #[test]
    fn spaced_out_stretched_and_misspelled_words_are_read_as_meant() {
        assert_eq!(read("S T O P"), ["stop"]);
        assert_eq!(read("s.t.o.p."), ["stop"]);
        assert_eq!(read("S-T-O-P"), ["stop"]);
        assert_eq!(read("STOOOOP"), ["stop"]);
        assert_eq!(read("stopppp"), ["stop"]);
        assert_eq!(read("stpo"), ["stop"]);
        assert_eq!(read("unsubscirbe"), ["unsubscribe"]);
        assert_eq!(read("Don’t text me"), ["dont text me"]);
        assert_eq!(read("opt-out"), ["opt out"]);
        assert_eq!(
            read("a b"),
            ["a b"],
            "two letters are not a spelled-out word"
        );
        assert_eq!(read("1000 trees"), ["1000 trees"]);
    }

    #[test]
    fn a_signature_and_everything_after_it_are_cut_off() {
        assert_eq!(read("Stop\n\nSent from my iPhone"), ["stop"]);
        assert_eq!(read("Stop Sent from my iPhone"), ["stop"]);
        assert_eq!(read("Alto\nEnviado desde mi iPhone\nJuan"), ["alto"]);
    }

    #[test]
    fn one_edit_apart_counts_one_change_insertion_deletion_or_swap() {
        assert!(one_edit_apart("unsubscribe", "unsubscribe"));
        assert!(one_edit_apart("unsubscribe", "unsubscrbe"));
        assert!(one_edit_apart("unsubscribe", "unsubscribes"));
        assert!(one_edit_apart("unsubscribe", "unsbuscribe"));
        assert!(!one_edit_apart("unsubscribe", "subscribe"));
    }

    #[test]
    fn a_huge_message_is_read_only_up_to_the_word_limit() {
        let text: String = (0..50_000).map(|i| format!("w{i} ")).collect();
        let lexicon = lexicon::load().unwrap();
        let words: usize = clauses(&text, &lexicon).iter().map(Vec::len).sum();
        assert!(words <= MAX_WORDS);
    }
}
