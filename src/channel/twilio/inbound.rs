//! Twilio's inbound SMS/MMS webhook: the `application/x-www-form-urlencoded` body it POSTs when a
//! resident texts one of our numbers, parsed strictly.
//!
//! Strictness matters twice over: the signature is computed over the decoded parameters, so a
//! lenient decoder that guesses at a broken escape could validate a body Twilio never sent; and a
//! resident's answer that was mangled in decoding would be stored as if they had typed it.

/// Why an inbound webhook body was refused. Each message is meant for a `400 Bad Request` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent-escape at byte {offset}")]
    InvalidPercentEscape {
        /// Byte offset of the `%` in the body.
        offset: usize,
    },
    /// A name or value whose decoded bytes are not UTF-8.
    #[error("invalid UTF-8 in the form field at byte {offset}")]
    InvalidUtf8 {
        /// Byte offset in the body where the offending field starts.
        offset: usize,
    },
    /// A required parameter is absent.
    #[error("missing {0} parameter")]
    Missing(&'static str),
    /// A required parameter is present but empty.
    #[error("empty {0} parameter")]
    Empty(&'static str),
    /// A parameter that must appear once appears more than once.
    #[error("repeated {0} parameter")]
    Repeated(String),
    /// `From` or `To` is not a phone number, short code or channel address.
    #[error(
        "{name} is not a phone number or short code: {value:?} (a `+` sent unencoded in a form \
         body arrives as a space: encode it as %2B)"
    )]
    InvalidAddress {
        /// `From` or `To`.
        name: &'static str,
        /// The value received.
        value: String,
    },
    /// `NumMedia` is not a non-negative integer.
    #[error("NumMedia is not a count: {0:?}")]
    InvalidNumMedia(String),
    /// `NumMedia` announces more media than the body carries.
    #[error("missing {name} parameter (NumMedia is {num_media})")]
    MissingMedia {
        /// The absent parameter, such as `MediaUrl2`.
        name: String,
        /// The announced number of media.
        num_media: usize,
    },
}

/// Decodes an `application/x-www-form-urlencoded` body into its parameters, in the order sent.
///
/// `+` is a space and `%XX` a byte, as usual; but unlike a lenient decoder, a malformed escape
/// (`%zz`, a `%` at the end) or bytes that do not decode to UTF-8 (`%E0%A4`) are an error, not
/// passed through or replaced. Empty fields (`a=1&&b=2`) are skipped and a field without `=` is a
/// name with an empty value, as the form encoding specifies.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, InboundError> {
    let mut params = Vec::new();
    let mut offset = 0;
    for field in body.split(|&b| b == b'&') {
        let start = offset;
        offset += field.len() + 1;
        if field.is_empty() {
            continue;
        }
        let (name, value, value_start) = match field.iter().position(|&b| b == b'=') {
            Some(eq) => (&field[..eq], &field[eq + 1..], start + eq + 1),
            None => (field, &field[field.len()..], start + field.len()),
        };
        let name = decode(name, start)?;
        let value = decode(value, value_start)?;
        match (String::from_utf8(name), String::from_utf8(value)) {
            (Ok(name), Ok(value)) => params.push((name, value)),
            _ => return Err(InboundError::InvalidUtf8 { offset: start }),
        }
    }
    Ok(params)
}

/// Percent-decodes one name or value that starts at byte `offset` of the body.
fn decode(raw: &[u8], offset: usize) -> Result<Vec<u8>, InboundError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => {
                        return Err(InboundError::InvalidPercentEscape { offset: offset + i });
                    }
                }
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One attachment of an MMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Where Twilio stores the file (`MediaUrl{N}`); fetching it needs the account's credentials.
    pub url: String,
    /// Its MIME type (`MediaContentType{N}`), such as `image/jpeg`.
    pub content_type: String,
}

/// Which of its keywords Twilio matched (`OptOutType`, Advanced Opt-Out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOutType {
    /// An opt-out keyword: Twilio stops delivering to the number.
    Stop,
    /// An opt-in keyword: Twilio delivers again.
    Start,
    /// A help keyword.
    Help,
}

/// An inbound SMS or MMS, as Twilio delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Twilio's id for the message (`MessageSid`, or the older `SmsMessageSid` / `SmsSid`): the
    /// key that makes a repeated delivery recognisable.
    pub message_sid: String,
    /// The account the message arrived on (`AccountSid`), if given.
    pub account_sid: Option<String>,
    /// The resident's address (`From`), normally E.164 such as `+14155551234`.
    pub from: String,
    /// Our number or short code that was texted (`To`).
    pub to: String,
    /// The text (`Body`); empty for an MMS with only a photo.
    pub body: String,
    /// Attachments, in Twilio's order; only those at an https URL (others are dropped).
    pub media: Vec<Media>,
    /// Every parameter as received (FromCity, FromZip, OptOutType, ...)
    pub params: Vec<(String, String)>,
}

impl InboundMessage {
    /// Reads the message out of the webhook's parameters (see [`parse_form`]).
    ///
    /// `MessageSid` (or `SmsMessageSid`, or `SmsSid`), `From` and `To` are required, non-empty and
    /// must appear once; `Body` may be absent. `NumMedia` defaults to 0, and each of its media
    /// must come with its `MediaUrl{N}` and `MediaContentType{N}`.
    pub fn from_params(params: Vec<(String, String)>) -> Result<Self, InboundError> {
        let message_sid = ["MessageSid", "SmsMessageSid", "SmsSid"]
            .into_iter()
            .find_map(|name| single(&params, name).transpose())
            .transpose()?
            .ok_or(InboundError::Missing("MessageSid"))?;
        let message_sid = non_empty(message_sid, "MessageSid")?.to_owned();
        let from = address(&params, "From")?;
        let to = address(&params, "To")?;
        let body = single(&params, "Body")?.unwrap_or_default().to_owned();
        let account_sid = single(&params, "AccountSid")?.map(str::to_owned);
        let media = media(&params)?;
        Ok(Self {
            message_sid,
            account_sid,
            from,
            to,
            body,
            media,
            params,
        })
    }

    /// Parses a whole webhook body: [`parse_form`] then [`from_params`](Self::from_params).
    pub fn from_form(body: &[u8]) -> Result<Self, InboundError> {
        Self::from_params(parse_form(body)?)
    }

    /// Twilio's own reading of the text (`OptOutType`), sent when the number belongs to a
    /// Messaging Service with Advanced Opt-Out: Twilio has matched one of its opt-out, opt-in
    /// or help keywords and already replied. An unknown value is ignored.
    pub fn opt_out_type(&self) -> Option<OptOutType> {
        let value = self.param("OptOutType")?.trim();
        [
            ("STOP", OptOutType::Stop),
            ("START", OptOutType::Start),
            ("HELP", OptOutType::Help),
        ]
        .into_iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name))
        .map(|(_, t)| t)
    }

    /// The first value of the parameter `name`, such as `FromCity` or `OptOutType`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A required address parameter, which must be [`is_address`].
fn address(params: &[(String, String)], name: &'static str) -> Result<String, InboundError> {
    let value = required(params, name)?;
    if is_address(value) {
        Ok(value.to_owned())
    } else {
        Err(InboundError::InvalidAddress {
            name,
            value: value.to_owned(),
        })
    }
}

/// True for the addresses Twilio writes in `From` and `To`: an E.164 number (`+` and up to 15
/// digits), a short code or national number (3 to 15 digits), either optionally behind a
/// channel prefix such as `whatsapp:`. Anything else (a number whose `+` became a space, a
/// name, stray characters) would be stored as a resident who can never be texted back.
pub fn is_address(value: &str) -> bool {
    let number = match value.split_once(':') {
        Some((channel, rest))
            if !channel.is_empty() && channel.bytes().all(|b| b.is_ascii_lowercase()) =>
        {
            rest
        }
        Some(_) => return false,
        None => value,
    };
    let (digits, min) = match number.strip_prefix('+') {
        Some(digits) => (digits, 2),
        None => (number, 3),
    };
    (min..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn media(params: &[(String, String)]) -> Result<Vec<Media>, InboundError> {
    let count = match single(params, "NumMedia")? {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| InboundError::InvalidNumMedia(raw.to_owned()))?,
    };
    // Each medium takes two parameters, so a larger count cannot be satisfied: refusing it here
    // also bounds the work done for a hostile NumMedia.
    if count > params.len() / 2 {
        return Err(InboundError::MissingMedia {
            name: format!("MediaUrl{}", params.len() / 2),
            num_media: count,
        });
    }
    let mut media = Vec::with_capacity(count);
    for n in 0..count {
        let lookup = |name: String| match single(params, &name)? {
            Some(value) if !value.is_empty() => Ok(value.to_owned()),
            _ => Err(InboundError::MissingMedia {
                name,
                num_media: count,
            }),
        };
        let url = lookup(format!("MediaUrl{n}"))?;
        let content_type = lookup(format!("MediaContentType{n}"))?;
        if let Some(url) = https_url(&url) {
            media.push(Media { url, content_type });
        }
    }
    Ok(media)
}

/// `raw` as a normalised absolute https URL with a host, or `None`. Twilio serves media only
/// over https; anything else (`http:`, `javascript:`, `data:`, a relative path) did not come from
/// Twilio and must never reach the store, where staff tools would show it as a link.
fn https_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    (url.scheme() == "https" && url.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| url.to_string())
}

/// The value of a parameter that may appear at most once.
pub(crate) fn single<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, InboundError> {
    let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    let first = values.next();
    if values.next().is_some() {
        return Err(InboundError::Repeated(name.to_owned()));
    }
    Ok(first.map(String::as_str))
}

/// The value of a parameter that must appear exactly once, non-empty.
pub(crate) fn required<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, InboundError> {
    let value = single(params, name)?.ok_or(InboundError::Missing(name))?;
    non_empty(value, name)
}

fn non_empty<'a>(value: &'a str, name: &'static str) -> Result<&'a str, InboundError> {
    if value.is_empty() {
        Err(InboundError::Empty(name))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMS: &[u8] = b"ToCountry=US&ToState=CA&SmsMessageSid=SM11111111111111111111111111111111\
&NumMedia=0&ToCity=&FromZip=94105&SmsSid=SM11111111111111111111111111111111&FromState=CA\
&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Hello+%26+bye+%F0%9F%98%80&FromCountry=US\
&To=%2B15005550006&ToZip=&NumSegments=1&MessageSid=SM11111111111111111111111111111111\
&AccountSid=AC11111111111111111111111111111111&From=%2B14155551234&ApiVersion=2010-04-01";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn advanced_opt_outs_keyword_type_is_read_and_an_unknown_one_ignored() {
        let with = |value: &str| {
            InboundMessage::from_params(pairs(&[
                ("MessageSid", "SM1"),
                ("From", "+1415"),
                ("To", "+1500"),
                ("OptOutType", value),
            ]))
            .expect("valid")
            .opt_out_type()
        };
        assert_eq!(with("STOP"), Some(OptOutType::Stop));
        assert_eq!(with("START"), Some(OptOutType::Start));
        assert_eq!(with("help"), Some(OptOutType::Help));
        assert_eq!(with("UNKNOWN"), None);
        assert_eq!(InboundMessage::from_form(SMS).unwrap().opt_out_type(), None);
    }

    #[test]
    fn a_real_sms_webhook_parses() {
        let msg = InboundMessage::from_form(SMS).expect("valid");
        assert_eq!(msg.message_sid, "SM11111111111111111111111111111111");
        assert_eq!(
            msg.account_sid.as_deref(),
            Some("AC11111111111111111111111111111111")
        );
        assert_eq!(msg.from, "+14155551234");
        assert_eq!(msg.to, "+15005550006");
        assert_eq!(msg.body, "Hello & bye 😀");
        assert!(msg.media.is_empty());
        assert_eq!(msg.param("FromCity"), Some("SAN FRANCISCO"));
        assert_eq!(msg.param("ToCity"), Some(""));
        assert_eq!(msg.params.len(), 19);
        assert_eq!(msg.params[0], ("ToCountry".into(), "US".into()));
    }

    #[test]
    fn parse_form_keeps_order_and_handles_edge_fields() {
        let params = parse_form(b"b=2&&a=1&flag&c=x%3Dy=z&").expect("valid");
        assert_eq!(
            params,
            pairs(&[("b", "2"), ("a", "1"), ("flag", ""), ("c", "x=y=z")])
        );
        assert_eq!(parse_form(b"").expect("valid"), vec![]);
        assert_eq!(
            parse_form(b"k=%e2%82%AC").expect("valid"),
            pairs(&[("k", "€")])
        );
    }

    #[test]
    fn a_bad_percent_escape_is_refused_with_its_position() {
        let err = parse_form(b"From=%2B1415&Body=%zz").unwrap_err();
        assert_eq!(err, InboundError::InvalidPercentEscape { offset: 18 });
        assert_eq!(err.to_string(), "invalid percent-escape at byte 18");
        assert_eq!(
            parse_form(b"Body=abc%").unwrap_err(),
            InboundError::InvalidPercentEscape { offset: 8 }
        );
        assert_eq!(
            parse_form(b"Body=%4").unwrap_err(),
            InboundError::InvalidPercentEscape { offset: 5 }
        );
        assert_eq!(
            parse_form(b"Bo%g0dy=x").unwrap_err(),
            InboundError::InvalidPercentEscape { offset: 2 }
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        let err = parse_form(b"To=1&Body=%E0%A4").unwrap_err();
        assert_eq!(err, InboundError::InvalidUtf8 { offset: 5 });
        assert_eq!(err.to_string(), "invalid UTF-8 in the form field at byte 5");
        assert!(matches!(
            parse_form(b"Body=\xff").unwrap_err(),
            InboundError::InvalidUtf8 { offset: 0 }
        ));
        assert!(matches!(
            parse_form(b"%C3=1").unwrap_err(),
            InboundError::InvalidUtf8 { offset: 0 }
        ));
    }

    #[test]
    fn each_required_parameter_is_named_when_missing() {
        let full = [("MessageSid", "SM1"), ("From", "+1415"), ("To", "+1500")];
        for (i, name) in ["MessageSid", "From", "To"].into_iter().enumerate() {
            let mut list = full.to_vec();
            list.remove(i);
            let err = InboundMessage::from_params(pairs(&list)).unwrap_err();
            assert_eq!(err, InboundError::Missing(name));
            assert_eq!(err.to_string(), format!("missing {name} parameter"));
        }
    }

    #[test]
    fn empty_required_parameters_are_refused() {
        let err = InboundMessage::from_params(pairs(&[
            ("MessageSid", "SM1"),
            ("From", ""),
            ("To", "+1500"),
        ]))
        .unwrap_err();
        assert_eq!(err.to_string(), "empty From parameter");
        let err = InboundMessage::from_params(pairs(&[
            ("MessageSid", ""),
            ("From", "+1415"),
            ("To", "+1500"),
        ]))
        .unwrap_err();
        assert_eq!(err, InboundError::Empty("MessageSid"));
    }

    #[test]
    fn an_address_that_is_not_a_number_is_refused_and_named() {
        for bad in [
            " 15025550123",
            "+1 502 555 0123",
            "Alice",
            "+",
            "+1502555012345678",
            "12",
            "whatsapp:",
            "WhatsApp:+15025550123",
            "+15025550123\n",
        ] {
            let err = InboundMessage::from_params(pairs(&[
                ("MessageSid", "SM1"),
                ("From", bad),
                ("To", "+15005550006"),
            ]))
            .unwrap_err();
            assert_eq!(
                err,
                InboundError::InvalidAddress {
                    name: "From",
                    value: bad.into()
                },
                "{bad:?}"
            );
            assert!(err.to_string().contains("%2B"));
        }
        let err = InboundMessage::from_params(pairs(&[
            ("MessageSid", "SM1"),
            ("From", "+15025550123"),
            ("To", " 15005550006"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            InboundError::InvalidAddress { name: "To", .. }
        ));
        for good in [
            "+15025550123",
            "+447700900123",
            "89898",
            "whatsapp:+15025550123",
            "+1415",
        ] {
            assert!(is_address(good), "{good}");
        }
    }

    #[test]
    fn a_repeated_address_is_refused() {
        let err = InboundMessage::from_params(pairs(&[
            ("MessageSid", "SM1"),
            ("From", "+1415"),
            ("From", "+1666"),
            ("To", "+1500"),
        ]))
        .unwrap_err();
        assert_eq!(err.to_string(), "repeated From parameter");
    }

    #[test]
    fn older_sid_names_are_accepted_in_order_of_preference() {
        let msg = InboundMessage::from_params(pairs(&[
            ("SmsSid", "SM-old"),
            ("SmsMessageSid", "SM-mid"),
            ("From", "+1415"),
            ("To", "+1500"),
        ]))
        .expect("valid");
        assert_eq!(msg.message_sid, "SM-mid");
        assert_eq!(msg.body, "");
        assert_eq!(msg.account_sid, None);
    }

    #[test]
    fn a_photo_without_text_is_an_mms_with_media() {
        let msg = InboundMessage::from_params(pairs(&[
            ("MessageSid", "MM1"),
            ("From", "+1415"),
            ("To", "+1500"),
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/m/0"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaContentType1", "image/png"),
            ("MediaUrl1", "https://api.twilio.com/m/1"),
        ]))
        .expect("valid");
        assert_eq!(msg.body, "");
        assert_eq!(
            msg.media,
            vec![
                Media {
                    url: "https://api.twilio.com/m/0".into(),
                    content_type: "image/jpeg".into()
                },
                Media {
                    url: "https://api.twilio.com/m/1".into(),
                    content_type: "image/png".into()
                },
            ]
        );
    }

    #[test]
    fn media_not_at_an_https_url_is_dropped_and_the_rest_kept() {
        let urls = [
            "http://api.twilio.com/m/0",
            "javascript:alert(1)",
            "data:image/png;base64,iVBORw0KGgo=",
            "/m/3",
            "https://",
            "HTTPS://API.Twilio.com/m/5?x=<b>",
        ];
        let mut params = vec![
            ("MessageSid".to_string(), "MM1".to_string()),
            ("From".into(), "+1415".into()),
            ("To".into(), "+1500".into()),
            ("NumMedia".into(), urls.len().to_string()),
        ];
        for (n, url) in urls.iter().enumerate() {
            params.push((format!("MediaUrl{n}"), (*url).into()));
            params.push((format!("MediaContentType{n}"), "image/jpeg".into()));
        }
        let msg = InboundMessage::from_params(params).expect("valid");
        assert_eq!(
            msg.media,
            vec![Media {
                url: "https://api.twilio.com/m/5?x=%3Cb%3E".into(),
                content_type: "image/jpeg".into()
            }]
        );
    }

    #[test]
    fn media_announced_but_absent_is_refused() {
        let base = [
            ("MessageSid", "MM1"),
            ("From", "+1415"),
            ("To", "+1500"),
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/m/0"),
        ];
        let err = InboundMessage::from_params(pairs(&base)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing MediaContentType0 parameter (NumMedia is 1)"
        );
        let mut huge = base.to_vec();
        huge[3].1 = "4000000000";
        let err = InboundMessage::from_params(pairs(&huge)).unwrap_err();
        assert!(matches!(err, InboundError::MissingMedia { .. }), "{err}");
    }

    #[test]
    fn a_num_media_that_is_not_a_count_is_refused() {
        for bad in ["-1", "one", "1.0", " 1"] {
            let err = InboundMessage::from_params(pairs(&[
                ("MessageSid", "MM1"),
                ("From", "+1415"),
                ("To", "+1500"),
                ("NumMedia", bad),
            ]))
            .unwrap_err();
            assert_eq!(err, InboundError::InvalidNumMedia(bad.into()));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_parsed_or_refused_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_form(&body);
        }

        #[test]
        fn any_encoded_form_decodes_to_what_was_encoded(list in proptest::collection::vec((".+", ".*"), 0..8)) {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&list)
                .finish();
            proptest::prop_assert_eq!(parse_form(encoded.as_bytes()), Ok(list));
        }
    }
}
