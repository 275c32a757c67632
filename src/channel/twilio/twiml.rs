//! TwiML replies to an inbound message: the XML document Twilio reads from our webhook response
//! and turns into reply texts.
//!
//! Every body is XML-escaped. Reply text often quotes the resident's own words, and an unescaped
//! `</Message><Message to="+1…">` in it would make Twilio text a stranger on the city's bill.

use quick_xml::escape::escape;

/// The `Content-Type` of a TwiML response.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The most characters Twilio accepts in one message body.
pub const MAX_BODY_CHARS: usize = 1600;

/// `<?xml version="1.0" encoding="UTF-8"?><Response><Message>…</Message>…</Response>`;
/// `<Response/>` when `messages` is empty; each body cut to at most 1600 characters (chars, not
/// bytes, never splitting a char).
///
/// Characters that XML 1.0 cannot carry at all, even escaped (control characters other than tab,
/// line feed and carriage return; U+FFFE and U+FFFF), are dropped: one of them would make the
/// whole reply unreadable to Twilio.
pub fn reply(messages: &[String]) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    if messages.is_empty() {
        xml.push_str("<Response/>");
        return xml;
    }
    xml.push_str("<Response>");
    for body in messages {
        let body: String = body
            .chars()
            .filter(|&c| allowed_in_xml(c))
            .take(MAX_BODY_CHARS)
            .collect();
        xml.push_str("<Message>");
        xml.push_str(&escape(body.as_str()));
        xml.push_str("</Message>");
    }
    xml.push_str("</Response>");
    xml
}

/// XML 1.0's `Char` production (Rust's `char` already excludes surrogates).
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    /// The text of every `<Message>` element, and the names of every element in the document.
    fn parse(xml: &str) -> (Vec<String>, Vec<String>) {
        let mut reader = Reader::from_str(xml);
        let mut messages = Vec::new();
        let mut elements = Vec::new();
        let mut inside_message = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).expect("utf-8");
                    assert!(e.attributes().next().is_none(), "no attributes expected");
                    inside_message = name == "Message";
                    if inside_message {
                        messages.push(String::new());
                    }
                    elements.push(name);
                }
                Event::Empty(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).expect("utf-8");
                    assert!(e.attributes().next().is_none(), "no attributes expected");
                    if name == "Message" {
                        messages.push(String::new());
                    }
                    elements.push(name);
                }
                Event::Text(t) if inside_message => {
                    let text = t.unescape().expect("valid escapes");
                    messages.last_mut().expect("open message").push_str(&text);
                }
                Event::End(_) => inside_message = false,
                Event::Eof => break,
                _ => {}
            }
        }
        (messages, elements)
    }

    #[test]
    fn an_empty_reply_is_an_empty_response() {
        assert_eq!(
            reply(&[]),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
        let (messages, elements) = parse(&reply(&[]));
        assert!(messages.is_empty());
        assert_eq!(elements, ["Response"]);
    }

    #[test]
    fn a_residents_markup_comes_back_as_text() {
        let input = r#"</Message><Message to="+15551234567">Hi"#.to_string();
        let xml = reply(std::slice::from_ref(&input));
        let (messages, elements) = parse(&xml);
        assert_eq!(messages, [input]);
        assert_eq!(elements, ["Response", "Message"]);
    }

    #[test]
    fn ampersands_quotes_and_emoji_survive() {
        let bodies = vec![
            "Tom & Jerry's \"cafe\" <3".to_string(),
            "¡Gracias! 😀👍🏽 — 1 < 2 && 3 > 2".to_string(),
            "line one\nline two".to_string(),
            String::new(),
        ];
        let (messages, elements) = parse(&reply(&bodies));
        assert_eq!(messages, bodies);
        assert_eq!(elements.len(), 5);
    }

    #[test]
    fn a_long_body_is_cut_at_1600_characters_not_bytes() {
        let long = "é😀".repeat(1000);
        let (messages, _) = parse(&reply(&[long]));
        assert_eq!(messages[0].chars().count(), MAX_BODY_CHARS);
        assert!(messages[0].starts_with("é😀é😀"));
        let exact = "a".repeat(MAX_BODY_CHARS);
        let (messages, _) = parse(&reply(std::slice::from_ref(&exact)));
        assert_eq!(messages[0], exact);
    }

    #[test]
    fn characters_xml_cannot_carry_are_dropped() {
        let (messages, _) = parse(&reply(&["a\u{0}b\u{1b}c\u{FFFF}d\te".to_string()]));
        assert_eq!(messages, ["abcd\te"]);
    }

    proptest::proptest! {
        #[test]
        fn any_text_comes_back_as_exactly_one_message(text in ".{0,40}") {
            let (messages, elements) = parse(&reply(std::slice::from_ref(&text)));
            let expected: String = text.chars().filter(|&c| allowed_in_xml(c)).collect();
            proptest::prop_assert_eq!(messages, vec![expected]);
            proptest::prop_assert_eq!(elements, vec!["Response".to_string(), "Message".to_string()]);
        }
    }
}
