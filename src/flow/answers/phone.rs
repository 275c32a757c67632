//! Phone-number answers, normalised to E.164 with the `phonenumber` crate.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use phonenumber::{Mode, country};
use regex::Regex;

/// A run that could be a written phone number: an optional `+`, then digits with the usual
/// separators between them ("(502) 555-0123", "502.555.0123", "+1 502 555 0123").
static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+?\(?[0-9][0-9 ().\-]{4,24}[0-9]").expect("phone candidate pattern compiles")
});

/// More candidates than this in one reply is not a phone number answer, and parsing each costs.
const MAX_CANDIDATES: usize = 3;

/// The one valid phone number in the reply, as E.164 ("+15025550123"). Numbers without a
/// country code are read in `default_region` (an ISO 3166 code such as "US"). `None` when there
/// is no valid number, or two different ones.
///
/// ```
/// use civictext::flow::answers::phone::parse_phone;
/// assert_eq!(parse_phone("my number is (502) 555-0123", "US").as_deref(), Some("+15025550123"));
/// assert_eq!(parse_phone("555-0123", "US"), None);
/// ```
pub fn parse_phone(reply: &str, default_region: &str) -> Option<String> {
    let region: Option<country::Id> = default_region.trim().to_ascii_uppercase().parse().ok();
    let mut found: Option<String> = None;
    for (n, m) in CANDIDATE.find_iter(reply).enumerate() {
        if n == MAX_CANDIDATES {
            return None;
        }
        let text = m.as_str();
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        if !(7..=17).contains(&digits) || (region.is_none() && !text.starts_with('+')) {
            continue;
        }
        // The parser has panicked on odd input in past releases; a reply must never take the
        // engine down, so a panic there counts as "not a phone number".
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            phonenumber::parse(region, text)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|number| number.format().mode(Mode::E164).to_string())
        }))
        .ok()
        .flatten();
        match (&found, parsed) {
            (_, None) => {}
            (None, Some(e164)) => found = Some(e164),
            (Some(seen), Some(e164)) if *seen == e164 => {}
            (Some(_), Some(_)) => return None,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn us_numbers_in_everyday_spellings_become_e164() {
        for reply in [
            "(502) 555-0123",
            "502.555.0123",
            "502-555-0123",
            "5025550123",
            "+1 502 555 0123",
            "1-502-555-0123",
            "my number is 502-555-0123",
            "call me at (502) 555-0123, thanks!",
            "502-555-0123 or 502 555 0123",
        ] {
            assert_eq!(
                parse_phone(reply, "US").as_deref(),
                Some("+15025550123"),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn the_region_reads_numbers_without_a_country_code() {
        assert_eq!(
            parse_phone("55 1234 5678", "MX").as_deref(),
            Some("+525512345678")
        );
        assert_eq!(
            parse_phone("+52 55 1234 5678", "us").as_deref(),
            Some("+525512345678")
        );
        assert_eq!(
            parse_phone("+1 502 555 0123", "nowhere").as_deref(),
            Some("+15025550123")
        );
        assert_eq!(parse_phone("502 555 0123", "nowhere"), None);
    }

    #[test]
    fn invalid_or_partial_numbers_are_not_understood() {
        for reply in [
            "",
            "555-0123",
            "123",
            "000-000-0000",
            "call me",
            "12/5/2026",
            "🎉",
        ] {
            assert_eq!(parse_phone(reply, "US"), None, "{reply:?}");
        }
    }

    #[test]
    fn two_different_numbers_are_not_guessed() {
        assert_eq!(parse_phone("502-555-0123 or 502-555-0199", "US"), None);
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(
            s in "\\PC*|(?s).{0,1600}|[+0-9 ().#:x-]{0,30}",
            region in "US|MX|GB|ZZ|[A-Za-z]{0,3}",
        ) {
            if let Some(e164) = parse_phone(&s, &region) {
                prop_assert!(e164.starts_with('+'));
            }
        }
    }
}
