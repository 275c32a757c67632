//! Free-text answers, stored as the resident wrote them, minus transport noise.

use unicode_normalization::UnicodeNormalization;

/// The free-text answer to store: line endings made `\n`, tabs made spaces, control characters
/// and byte-order marks dropped, canonically composed (NFC) so "é" is one character however the
/// phone sent it, and trimmed. Emoji (including joined sequences) and inner newlines are kept.
///
/// ```
/// use civictext::flow::answers::text::clean_text;
/// assert_eq!(clean_text("  The swings are broken\r\nplease fix 🙏 "), "The swings are broken\nplease fix 🙏");
/// ```
pub fn clean_text(reply: &str) -> String {
    let mut out = String::with_capacity(reply.len());
    let mut chars = reply.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            '\u{FEFF}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    let composed: String = out.trim().nfc().collect();
    composed
}

/// Length in Unicode scalar values (what a resident would call characters, near enough), for
/// free-text length limits: `char_len("Niño")` is 4, not 5 bytes.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn line_endings_become_newlines_and_edges_are_trimmed() {
        assert_eq!(clean_text("\r\n a\r\nb\rc\n "), "a\nb\nc");
    }

    #[test]
    fn control_characters_go_but_emoji_and_newlines_stay() {
        assert_eq!(
            clean_text("fix\u{0}\u{7} it\u{1b}[31m 👍🏽\nnow"),
            "fix it[31m 👍🏽\nnow"
        );
        let family = "👨\u{200D}👩\u{200D}👧";
        assert_eq!(clean_text(family), family);
    }

    #[test]
    fn tabs_become_spaces_and_byte_order_marks_vanish() {
        assert_eq!(clean_text("\u{FEFF}a\tb"), "a b");
    }

    #[test]
    fn decomposed_accents_are_composed_so_lengths_match_what_residents_see() {
        let cleaned = clean_text("Nin\u{303}o");
        assert_eq!(cleaned, "Niño");
        assert_eq!(char_len(&cleaned), 4);
    }

    #[test]
    fn right_to_left_text_is_kept_as_written() {
        assert_eq!(clean_text(" مرحبا بكم "), "مرحبا بكم");
    }

    #[test]
    fn empty_and_blank_replies_clean_to_nothing() {
        assert_eq!(clean_text(""), "");
        assert_eq!(clean_text(" \r\n\t "), "");
        assert_eq!(char_len(""), 0);
    }

    proptest! {
        #[test]
        fn cleaned_text_has_no_control_characters_but_newlines(s in "\\PC*|(?s).{0,2000}") {
            let cleaned = clean_text(&s);
            prop_assert!(cleaned.chars().all(|c| c == '\n' || !c.is_control()));
            prop_assert!(!cleaned.contains('\r'));
        }
    }
}
