//! Location answers for service requests: a street address or cross streets, kept as written.
//!
//! Addresses are too varied to parse from a text ("123 Main St", "4th and Broadway", "corner of
//! 4th & Broadway", "Main St / Oak Ave", "en la calle 5 y Broadway", "behind the library on
//! Elm"), and the engine reads the location back for the resident to confirm, so this errs on
//! accepting. It refuses only what cannot be a location:
//! - nothing but white space, emoji or punctuation;
//! - a whole reply that is small talk or a non-answer ("ok", "yes", "idk", "not sure", "here",
//!   "gracias");
//! - a single word of three characters or fewer ("Elm", "ok", "12");
//! - more than 300 characters (a story, not a place).
//!
//! The accepted text has its white space collapsed to single spaces and control characters
//! removed, and is cut to 200 characters (at a word break when there is one near the end).

use crate::sms::fold::{fold, words};

/// Whole replies (folded) that answer "where?" without a place.
const NOT_A_PLACE: &[&str] = &[
    "ok",
    "okay",
    "yes",
    "yeah",
    "yep",
    "no",
    "nope",
    "si",
    "idk",
    "dunno",
    "i don't know",
    "i dont know",
    "don't know",
    "dont know",
    "not sure",
    "i'm not sure",
    "no se",
    "no lo se",
    "no estoy seguro",
    "no estoy segura",
    "hi",
    "hello",
    "hey",
    "hola",
    "thanks",
    "thank you",
    "gracias",
    "help",
    "ayuda",
    "what",
    "que",
    "why",
    "huh",
    "lol",
    "test",
    "testing",
    "here",
    "right here",
    "there",
    "over there",
    "aqui",
    "aca",
    "alli",
    "ahi",
    "nowhere",
    "anywhere",
    "everywhere",
    "somewhere",
    "none",
    "nothing",
    "nada",
    "n/a",
    "na",
];

const MAX_INPUT_CHARS: usize = 300;
const MAX_OUTPUT_CHARS: usize = 200;

/// The location a resident gave, tidied for storage and read-back: "123  Main St\n" →
/// "123 Main St". `None` when the reply cannot be a location (see the module documentation).
///
/// ```
/// use civictext::flow::answers::location::parse_location;
/// assert_eq!(parse_location(" corner of 4th &\nBroadway ").as_deref(), Some("corner of 4th & Broadway"));
/// assert_eq!(parse_location("idk"), None);
/// ```
pub fn parse_location(reply: &str) -> Option<String> {
    let mut tidy = String::with_capacity(reply.len().min(4 * MAX_INPUT_CHARS));
    let mut chars = 0;
    for part in reply.split(|c: char| c.is_whitespace() || c.is_control()) {
        if part.is_empty() {
            continue;
        }
        if !tidy.is_empty() {
            tidy.push(' ');
            chars += 1;
        }
        tidy.push_str(part);
        chars += part.chars().count();
        if chars > MAX_INPUT_CHARS {
            return None;
        }
    }
    let folded = fold(&tidy);
    let ws = words(&folded);
    match ws.as_slice() {
        [] => return None,
        [only] if only.chars().count() <= 3 => return None,
        _ if NOT_A_PLACE.contains(&folded.as_str()) => return None,
        _ => {}
    }
    if chars > MAX_OUTPUT_CHARS {
        let cut = tidy
            .char_indices()
            .nth(MAX_OUTPUT_CHARS)
            .map_or(tidy.len(), |(i, _)| i);
        tidy.truncate(cut);
        // Prefer to end on a whole word if one ends in the last few characters.
        if let Some(space) = tidy.rfind(' ')
            && tidy.len() - space < 30
        {
            tidy.truncate(space);
        }
        let kept = tidy.trim_end_matches(|c: char| c.is_whitespace() || ",;:-/&".contains(c));
        tidy.truncate(kept.len());
    }
    Some(tidy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_and_cross_streets_are_accepted_as_written() {
        for reply in [
            "123 Main St",
            "4th and Broadway",
            "corner of 4th & Broadway",
            "Main St / Oak Ave",
            "en la calle 5 y Broadway",
            "Broadway",
            "I-65",
            "behind the library on Elm",
            "Calle Ñandú 12",
            "شارع الملك 12",
        ] {
            assert_eq!(parse_location(reply).as_deref(), Some(reply), "{reply:?}");
        }
    }

    #[test]
    fn white_space_is_collapsed_and_control_characters_dropped() {
        assert_eq!(
            parse_location("  123\tMain   St\r\nnear the\u{7} park ").as_deref(),
            Some("123 Main St near the park")
        );
    }

    #[test]
    fn replies_that_cannot_be_a_place_are_refused() {
        for reply in [
            "",
            "   ",
            "🎉🎉",
            "?!",
            "ok",
            "OK!",
            "yes",
            "idk",
            "not sure",
            "No sé",
            "here",
            "Elm",
            "12",
            "gracias",
            "Thank you!",
        ] {
            assert_eq!(parse_location(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn long_descriptions_are_cut_and_stories_refused() {
        let long = format!("123 Main St {}", "by the big oak tree ".repeat(11));
        let cut = parse_location(&long).expect("under 300 characters");
        assert!(cut.chars().count() <= 200);
        assert!(cut.starts_with("123 Main St by the big oak tree"));
        assert!(!cut.ends_with(' '));
        assert_eq!(parse_location(&"a".repeat(301)), None);
        assert_eq!(parse_location(&"word ".repeat(100)), None);
        let wide = "ñ".repeat(250);
        assert_eq!(parse_location(&wide).map(|s| s.chars().count()), Some(200));
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*|(?s).{0,1600}|([a-z0-9&/]{1,8} ){0,70}") {
            if let Some(place) = parse_location(&s) {
                prop_assert!(place.chars().count() <= MAX_OUTPUT_CHARS);
                prop_assert!(!place.is_empty());
                prop_assert!(!place.chars().any(char::is_control));
            }
        }
    }
}
