//! Email-address answers.

use std::sync::LazyLock;

use regex::Regex;

/// A conventional address: dot-separated atoms before the `@`, dot-separated DNS labels after,
/// ending in an alphabetic top-level domain (or an internationalised `xn--` one).
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        [A-Za-z0-9!\#$%&'*+/=?^_`{|}~-]+ (?:\.[A-Za-z0-9!\#$%&'*+/=?^_`{|}~-]+)*
        @
        (?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+
        (?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})
        ",
    )
    .expect("email pattern compiles")
});

/// Characters that may not touch an address on either side without being part of it.
fn joins_address(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-@.".contains(c)
}

/// The one email address in the reply, with its domain lower-cased ("it's Ana@Example.org
/// thanks" → "Ana@example.org"). `None` for no address, a malformed one ("ana@example",
/// "ana..b@x.org", "ana @ example.org"), or two different ones.
///
/// ```
/// use civictext::flow::answers::email::parse_email;
/// assert_eq!(parse_email("it's Ana@Example.org thanks").as_deref(), Some("Ana@example.org"));
/// assert_eq!(parse_email("a@x.org or b@x.org"), None);
/// ```
pub fn parse_email(reply: &str) -> Option<String> {
    if !reply.contains('@') {
        return None;
    }
    let mut found: Option<String> = None;
    for m in ADDRESS.find_iter(reply) {
        let before = reply[..m.start()].chars().next_back();
        let mut after = reply[m.end()..].chars();
        let next = after.next();
        // A dot that ends a sentence is fine; one that starts another label means the pattern
        // stopped early on something it does not accept.
        let touching = before.is_some_and(joins_address)
            || next.is_some_and(|c| c != '.' && joins_address(c))
            || (next == Some('.') && after.next().is_some_and(joins_address));
        let (local, domain) = m.as_str().split_once('@')?;
        if touching || local.len() > 64 || m.as_str().len() > 254 {
            return None;
        }
        let address = format!("{local}@{}", domain.to_ascii_lowercase());
        match &found {
            None => found = Some(address),
            Some(seen) if *seen == address => {}
            Some(_) => return None,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_address_in_a_sentence_is_found_with_its_domain_lower_cased() {
        let cases: &[(&str, &str)] = &[
            ("ana@example.org", "ana@example.org"),
            ("it's Ana@Example.org thanks", "Ana@example.org"),
            (
                "Email: ana.lopez+parks@Mail.Example.CO.uk.",
                "ana.lopez+parks@mail.example.co.uk",
            ),
            ("<ana@example.org>", "ana@example.org"),
            ("mailto:ana@example.org", "ana@example.org"),
            ("(ana_1@example-city.gov)", "ana_1@example-city.gov"),
            ("ana@example.org, ana@EXAMPLE.org", "ana@example.org"),
        ];
        for &(reply, want) in cases {
            assert_eq!(parse_email(reply).as_deref(), Some(want), "{reply:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_not_understood() {
        for reply in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "ana@example",
            "ana @ example.org",
            "ana..b@example.org",
            ".ana@example.org",
            "ana@-example.org",
            "ana@example..org",
            "ana@example.123",
            "josé@example.org",
            "ana@exámple.org",
            "ana@example.org_x",
            "ana at example dot org",
        ] {
            assert_eq!(parse_email(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn two_different_addresses_are_not_guessed() {
        assert_eq!(parse_email("ana@example.org or bo@example.org"), None);
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*|(?s).{0,1600}|[a-zA-Z0-9@._+ -]{0,60}") {
            if let Some(address) = parse_email(&s) {
                prop_assert_eq!(address.matches('@').count(), 1);
            }
        }
    }
}
