//! Turning a flow's texts into the words a resident receives.

use std::fmt::Write;

use super::messages::{self, Msg};
use super::model::{AnswerKind, Question};
use super::template::Var;

/// Twilio's limit on one message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// A question as sent: its text, then its numbered choices, then the SKIP hint if it is optional.
pub fn question(
    q: &Question,
    lang: &str,
    mut lookup: impl FnMut(&Var) -> Option<String>,
) -> String {
    let mut out = q.text.get(lang).render(&mut lookup);
    if let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind {
        for (i, label) in c.labels.iter().enumerate() {
            let _ = write!(out, "\n{}. {}", i + 1, label.get(lang).render(&mut lookup));
        }
    }
    if q.optional {
        out.push('\n');
        out.push_str(messages::text(lang, Msg::SkipHint));
    }
    out
}

/// Cuts a message to [`MAX_MESSAGE_CHARS`], ending with "…" when it had to cut. Long free-text
/// answers echoed into a template are the usual cause.
pub fn limit(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_MESSAGE_CHARS) {
        let keep = text[..cut]
            .char_indices()
            .nth(MAX_MESSAGE_CHARS - 1)
            .map_or(cut, |(i, _)| i);
        text.truncate(keep);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_keeps_short_texts_and_cuts_long_ones_to_exactly_1600_chars() {
        assert_eq!(limit("hi".into()), "hi");
        let exact = "é".repeat(1600);
        assert_eq!(limit(exact.clone()), exact);
        let cut = limit("😜".repeat(2000));
        assert_eq!(cut.chars().count(), 1600);
        assert!(cut.ends_with('…'));
    }
}
