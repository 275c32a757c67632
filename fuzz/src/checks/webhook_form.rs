//! Twilio's webhook body, as anyone on the internet can send it before the signature is checked.

use civictext::channel::twilio::inbound::{InboundError, InboundMessage, parse_form};

/// Parses `data` as a webhook body and checks what the gateway relies on: a refusal points at
/// the offending byte, and an accepted body means exactly the parameters it says, so that the
/// signature checked over them is over what was sent.
pub fn check(data: &[u8]) {
    let params = match parse_form(data) {
        Ok(params) => params,
        Err(InboundError::InvalidPercentEscape { offset }) => {
            assert_eq!(
                data.get(offset),
                Some(&b'%'),
                "an invalid escape reported at byte {offset}, which is not a `%`"
            );
            return;
        }
        Err(InboundError::InvalidUtf8 { offset }) => {
            assert!(
                offset < data.len(),
                "invalid UTF-8 reported at byte {offset} of {}",
                data.len()
            );
            return;
        }
        Err(other) => panic!("parse_form refused with a non-parsing error: {other:?}"),
    };

    // Encoded again and parsed again, the parameters come back unchanged: nothing was guessed.
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let again = parse_form(encoded.as_bytes())
        .unwrap_or_else(|e| panic!("re-encoded parameters {encoded:?} refused: {e}"));
    assert_eq!(again, params, "parameters changed through {encoded:?}");

    // Reading the message out never panics, and agrees with reading the parameters directly.
    let from_form = InboundMessage::from_form(data);
    let from_params = InboundMessage::from_params(params.clone());
    assert_eq!(from_form, from_params);
    if let Ok(message) = from_form {
        assert!(!message.message_sid.is_empty());
        assert!(!message.from.is_empty());
        assert!(!message.to.is_empty());
        assert_eq!(message.params, params);
        assert!(message.media.len() * 2 <= params.len());
        for m in &message.media {
            assert!(!m.url.is_empty() && !m.content_type.is_empty());
        }
    }
}
