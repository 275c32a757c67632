//! Folding a resident's text for matching: "Mensual!", "  MENSUAL " and "mensual" are one word.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds text for comparison: compatibility-decomposes it, drops accents, lower-cases it, reads
/// decimal digits of every script as ASCII ("٤" → "4"), turns curly quotes into straight ones, collapses runs of white space into one space, and trims
/// punctuation, symbols and white space from both ends ("¡Sí!" → "si", "  Weekly. " → "weekly").
///
/// Inner punctuation is kept ("o'brien st & 4th" stays as it is) so callers can still tell
/// words apart.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '`' | '´' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => '"',
            _ => super::digits::ascii_digit(c),
        };
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    trim_edges(&out).to_string()
}

/// Trims everything that is not a letter or a digit from both ends of `text`.
pub fn trim_edges(text: &str) -> &str {
    text.trim_matches(|c: char| !c.is_alphanumeric())
}

/// The words of already-folded text: runs of letters and digits, keeping an apostrophe or a
/// hyphen that sits between two of them ("i'd", "cross-town").
pub fn words(folded: &str) -> Vec<&str> {
    folded
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c: char| c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// A keyword's canonical form: folded, with inner spaces and punctuation removed, upper-cased
/// ("Parques!" → "PARQUES", "opt-out" → "OPTOUT").
pub fn keyword(text: &str) -> String {
    fold(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// A text as a resident spelled it, for telling a keyword typed on its own from a phrase that
/// only folds into one: folded, upper-cased, inner spaces and punctuation kept ("Report!" →
/// "REPORT", "Main St" → "MAIN ST", where [`keyword`] gives "MAINST").
pub fn spelling(text: &str) -> String {
    fold(text).chars().flat_map(char::to_uppercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_drops_case_accents_and_surrounding_punctuation() {
        assert_eq!(fold("¡Sí!"), "si");
        assert_eq!(fold("  Monthly!!  "), "monthly");
        assert_eq!(fold("MENSUAL."), "mensual");
        assert_eq!(fold("Niño"), "nino");
    }

    #[test]
    fn fold_collapses_inner_white_space_and_straightens_quotes() {
        assert_eq!(fold("I\u{2019}d   say\n2"), "i'd say 2");
    }

    #[test]
    fn fold_of_only_symbols_is_empty() {
        assert_eq!(fold("😜🎉 !!"), "");
        assert_eq!(fold(""), "");
    }

    #[test]
    fn words_keep_inner_apostrophes_and_hyphens() {
        assert_eq!(
            words("i'd say 2, maybe 3"),
            vec!["i'd", "say", "2", "maybe", "3"]
        );
        assert_eq!(words("'quoted' cross-town"), vec!["quoted", "cross-town"]);
    }

    #[test]
    fn keyword_ignores_spacing_case_and_punctuation() {
        assert_eq!(keyword(" Parques! "), "PARQUES");
        assert_eq!(keyword("opt-out"), "OPTOUT");
        assert_eq!(keyword("Opt Out"), "OPTOUT");
    }

    #[test]
    fn spelling_keeps_inner_spaces_and_punctuation() {
        assert_eq!(spelling(" Report! "), "REPORT");
        assert_eq!(spelling("¡Plánea!"), "PLANEA");
        assert_eq!(spelling("Main St"), "MAIN ST");
        assert_eq!(spelling("bike lane!"), "BIKE LANE");
        assert_eq!(spelling("opt-out"), "OPT-OUT");
    }
}
