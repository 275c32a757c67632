//! Skipping an optional question.

use crate::sms::fold::fold;

/// Whole replies (folded) that ask to skip the question.
const SKIP_REPLIES: &[&str] = &[
    "skip",
    "skip it",
    "skip this",
    "skip this one",
    "skip question",
    "skip this question",
    "pass",
    "next",
    "next question",
    "saltar",
    "salta",
    "saltala",
    "saltar esta",
    "saltar pregunta",
    "omitir",
    "omite",
    "omitir pregunta",
    "paso",
    "pasar",
    "siguiente",
    "siguiente pregunta",
];

/// Whether the whole reply asks to skip an optional question: "skip", "SKIP!", "pass", "next",
/// "saltar", "omitir", "paso", "siguiente". A reply that merely contains one of these words
/// ("I'll pass by tomorrow") is not a skip.
pub fn is_skip(reply: &str) -> bool {
    let folded = fold(reply);
    !folded.is_empty() && SKIP_REPLIES.contains(&folded.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn skip_words_in_english_and_spanish_skip() {
        for reply in [
            "skip",
            "SKIP",
            "Skip!",
            " pass ",
            "next",
            "skip it",
            "saltar",
            "omitir",
            "paso",
            "Siguiente.",
            "Omitir",
        ] {
            assert!(is_skip(reply), "{reply:?}");
        }
    }

    #[test]
    fn a_reply_that_only_mentions_skipping_is_an_answer() {
        for reply in [
            "",
            "  ",
            "I'll pass by tomorrow",
            "next week",
            "skipping stones",
            "no",
        ] {
            assert!(!is_skip(reply), "{reply:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*") {
            let _ = is_skip(&s);
        }
    }
}
