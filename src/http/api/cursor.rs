//! Page cursors: the store's position in a list, versioned so the format can change.
//!
//! A cursor is `v1.` and the position: a row id, or on PostgreSQL a transaction id and a row id
//! (`v1.748213.1042`). Clients pass back the `next_cursor` they were given; the OpenAPI document
//! states the exact shape ([`PATTERN`]), so every cursor it allows is one the store can page
//! from (at worst an empty page), and anything else is refused before the store sees it.

use super::problem::Problem;

const PREFIX: &str = "v1.";

/// The shape of a cursor, as the OpenAPI document publishes it. Up to 18 digits a number, so
/// each fits the store's 64-bit ids.
pub const PATTERN: &str = r"^v1\.[0-9]{1,18}(\.[0-9]{1,18})?$";

/// The cursor handed to clients for store position `position`.
pub fn encode(position: &str) -> String {
    format!("{PREFIX}{position}")
}

/// The store position inside a cursor.
pub fn decode(cursor: &str) -> Result<String, Problem> {
    let position = cursor.strip_prefix(PREFIX).ok_or_else(invalid)?;
    let parts: Vec<&str> = position.split('.').collect();
    let number = |p: &&str| (1..=18).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    if (1..=2).contains(&parts.len()) && parts.iter().all(number) {
        Ok(position.to_string())
    } else {
        Err(invalid())
    }
}

/// The problem answered for a cursor this API did not issue.
pub fn invalid() -> Problem {
    Problem::bad_request("`cursor` must be a `next_cursor` value returned by this list.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_only_the_published_shape_is_accepted() {
        let pattern = regex::Regex::new(PATTERN).unwrap();
        for position in ["1", "42", "748213.1042", "999999999999999999"] {
            let cursor = encode(position);
            assert!(pattern.is_match(&cursor), "{cursor}");
            assert_eq!(decode(&cursor).unwrap(), position);
        }
        for bad in [
            "",
            "v1.",
            "v1.x",
            "v1.1.2.3",
            "v2.1",
            "1",
            "v1.-1",
            "v1.1234567890123456789",
            "djE6MQ",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
            assert!(!pattern.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_openapi_document_publishes_the_pattern_the_api_checks() {
        // The param attributes spell the pattern out (attributes cannot name a constant).
        let doc = super::super::openapi::document().to_string();
        let published = serde_json::to_string(PATTERN).unwrap();
        assert_eq!(
            doc.matches(published.as_str()).count(),
            2,
            "both paged lists publish {PATTERN}"
        );
    }
}
