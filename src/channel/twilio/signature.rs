//! `X-Twilio-Signature`: Twilio signs every webhook request with HMAC-SHA1, keyed by the account's
//! auth token, over the full URL it called followed by the POST parameters, sorted by name, each
//! name immediately followed by its value. The MAC is sent base64-encoded.
//!
//! The URL must be the public URL configured at Twilio, never one rebuilt from the `Host` header:
//! behind a proxy the two differ, and the header is the caller's to choose.
//!
//! # Which forms of the URL are tried
//!
//! Twilio signs the URL in whichever form the account configured it, so [`verify`] accepts a
//! signature over any of these forms of the configured URL, and no others:
//!
//! - as given, with the port removed if it has one (any port, as every SDK does), or with the
//!   scheme's default port (`:443`, `:80`) added if it has none;
//! - each of those with every apostrophe written as `%27`, or every `%27` written as an
//!   apostrophe: Twilio has been seen signing a query's apostrophe in either form.
//!
//! The host is signed exactly as written: `https://MyCompany.com/…` and `https://mycompany.com/…`
//! are different URLs to sign. This is what the C#, Python, Go, Java, Ruby and PHP SDKs do
//! (twilio-node alone lower-cases the host first, because it re-serialises the URL), and it keeps
//! the rule simple: configure the URL here exactly as it is configured at Twilio. Scheme and user
//! information are likewise taken as written.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type HmacSha1 = Hmac<Sha1>;

/// The name of the query parameter that carries the SHA-256 of a JSON request body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// The exact text Twilio signs for `params` posted to `url`: the URL, then for each parameter
/// name in byte order, and for each distinct value of that name in byte order, the name followed
/// by the value.
///
/// A repeated name with a repeated value contributes once (as twilio-python, twilio-node and
/// twilio-php build it). For a GET request, or a JSON body, pass no parameters: the signature is
/// over the URL alone.
pub fn string_to_sign(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let len = url.len() + sorted.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let mut s = String::with_capacity(len);
    s.push_str(url);
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// The base64 `X-Twilio-Signature` Twilio sends for `params` posted to `url`, exactly as given.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, &string_to_sign(url, params)))
}

fn mac(auth_token: &str, text: &str) -> [u8; 20] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha1::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return [0; 20],
    };
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().into()
}

/// True if `header` is the signature of `params` posted to `url`, trying the URL as configured
/// and with its port removed or the scheme's default port added (Twilio signs whichever the
/// caller configured), compared in constant time (subtle).
///
/// See the [module documentation](self) for every form of the URL that is tried. An empty header
/// is never valid. For a GET request pass no parameters (Twilio's are in the URL's query); for a
/// JSON body use [`verify_body`].
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Some(given) = decode_header(header) else {
        return false;
    };
    let mut valid = Choice::from(0);
    for candidate in url_candidates(url) {
        valid |= mac(auth_token, &string_to_sign(&candidate, params))[..].ct_eq(&given[..]);
    }
    valid.into()
}

/// True if a request with a raw (JSON) `body`, posted to `url`, is authentic: the URL's
/// `bodySHA256` query parameter must be the lower-case hex SHA-256 of `body`, and `header` the
/// signature of the URL alone (any form [`verify`] accepts).
///
/// A URL without `bodySHA256` is never valid here: the body would not be covered by the
/// signature at all.
pub fn verify_body(auth_token: &str, url: &str, body: &[u8], header: &str) -> bool {
    let Some(claimed) = body_sha256_param(url) else {
        return false;
    };
    let actual = hex_lower(&Sha256::digest(body));
    let body_ok = actual.as_bytes().ct_eq(claimed.as_bytes());
    let signature_ok = Choice::from(u8::from(verify(auth_token, url, &[], header)));
    (body_ok & signature_ok).into()
}

/// The raw MAC bytes of a header, or `None` if it cannot be a signature at all. Comparing MAC
/// bytes rather than base64 text means only the 20 secret bytes are ever compared.
fn decode_header(header: &str) -> Option<[u8; 20]> {
    if header.is_empty() {
        return None;
    }
    STANDARD.decode(header).ok()?.try_into().ok()
}

/// The value of the single `bodySHA256` query parameter, if there is exactly one.
fn body_sha256_param(url: &str) -> Option<String> {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let (_, query) = without_fragment.split_once('?')?;
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == BODY_SHA256_PARAM)
        .map(|(_, v)| v.into_owned());
    let first = values.next()?;
    match values.next() {
        None => Some(first),
        Some(_) => None,
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Every form of `url` that Twilio may have signed (see the module documentation), without
/// repeats, the URL as given first.
fn url_candidates(url: &str) -> Vec<String> {
    let mut spellings = vec![url.to_owned()];
    if url.contains('\'') {
        spellings.push(url.replace('\'', "%27"));
    }
    if url.contains("%27") {
        spellings.push(url.replace("%27", "'"));
    }
    let mut out: Vec<String> = Vec::with_capacity(spellings.len() * 2);
    for spelling in spellings {
        let alternate = UrlParts::split(&spelling).and_then(|parts| parts.port_variant());
        for candidate in std::iter::once(spelling).chain(alternate) {
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// The pieces of an absolute URL that the port variants touch, borrowed from the original text so
/// that everything else is reproduced byte for byte.
struct UrlParts<'a> {
    /// `https://` or `http://user:pass@`, up to the host.
    prefix: &'a str,
    scheme: &'a str,
    host: &'a str,
    /// Digits after the colon, if the authority has a port.
    port: Option<&'a str>,
    /// Path, query and fragment.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let scheme_end = url.find("://")?;
        let scheme = &url[..scheme_end];
        let valid_scheme = scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if scheme.is_empty() || !valid_scheme {
            return None;
        }
        let authority_start = scheme_end + 3;
        let after = &url[authority_start..];
        let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..authority_len];
        let rest = &after[authority_len..];
        let host_start = authority.rfind('@').map_or(0, |at| at + 1);
        let prefix = &url[..authority_start + host_start];
        let host_port = &authority[host_start..];
        // An IPv6 literal has colons of its own; the port can only follow the closing bracket.
        let host_end = if host_port.starts_with('[') {
            host_port.find(']')? + 1
        } else {
            host_port.find(':').unwrap_or(host_port.len())
        };
        let host = &host_port[..host_end];
        let port = match &host_port[host_end..] {
            "" => None,
            tail => {
                let digits = tail.strip_prefix(':')?;
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(digits)
            }
        };
        Some(Self {
            prefix,
            scheme,
            host,
            port,
            rest,
        })
    }

    /// The URL without its port if it has one, else with the scheme's default port added.
    fn port_variant(&self) -> Option<String> {
        let port = match self.port {
            Some(_) => String::new(),
            None => {
                let default = if self.scheme.eq_ignore_ascii_case("https") {
                    "443"
                } else if self.scheme.eq_ignore_ascii_case("http") {
                    "80"
                } else {
                    return None;
                };
                format!(":{default}")
            }
        };
        Some(format!("{}{}{}{}", self.prefix, self.host, port, self.rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn the_documented_example_signs_to_twilios_value() {
        assert_eq!(
            compute(TOKEN, URL, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn a_tampered_parameter_fails() {
        let mut tampered = params();
        tampered[2].1 = "9999".into();
        assert!(!verify(
            TOKEN,
            URL,
            &tampered,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let mut added = params();
        added.push(("Body".into(), "extra".into()));
        assert!(!verify(TOKEN, URL, &added, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn another_url_fails() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        for url in [
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            "https://evil.example/myapp.php?foo=1&bar=2",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php",
        ] {
            assert!(!verify(TOKEN, url, &params(), sig), "{url}");
        }
    }

    #[test]
    fn an_empty_or_malformed_header_fails() {
        for header in [
            "",
            " ",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",
            "not base64!",
            "AAAA",
        ] {
            assert!(!verify(TOKEN, URL, &params(), header), "{header:?}");
        }
    }

    #[test]
    fn another_auth_token_fails() {
        assert!(!verify(
            "54321",
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn port_variants_are_tried_but_other_ports_are_not_invented() {
        let with_443 = compute(
            TOKEN,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &[],
        );
        assert!(verify(TOKEN, URL, &[], &with_443));
        let with_8443 = compute(
            TOKEN,
            "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
            &[],
        );
        assert!(!verify(TOKEN, URL, &[], &with_8443));
    }

    #[test]
    fn urls_that_are_not_absolute_are_still_signed_as_given() {
        let sig = compute(TOKEN, "/relative?x=1", &[]);
        assert!(verify(TOKEN, "/relative?x=1", &[], &sig));
        assert!(UrlParts::split("https://host:port/").is_none());
        assert!(UrlParts::split("https://[::1/").is_none());
    }

    #[test]
    fn an_ipv6_host_keeps_its_colons() {
        let parts = UrlParts::split("http://[::1]:8080/x").expect("splits");
        assert_eq!(parts.host, "[::1]");
        assert_eq!(parts.port, Some("8080"));
        assert_eq!(parts.port_variant().as_deref(), Some("http://[::1]/x"));
    }

    #[test]
    fn a_json_body_must_match_its_bodysha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let sig = compute(TOKEN, url, &[]);
        assert!(verify_body(TOKEN, url, body, &sig));
        assert!(!verify_body(TOKEN, url, b"{}", &sig));
        let twice = format!("{url}&bodySHA256=0a1f");
        assert!(!verify_body(
            TOKEN,
            &twice,
            body,
            &compute(TOKEN, &twice, &[])
        ));
    }
}
