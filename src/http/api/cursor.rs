//! Opaque page cursors: the store's position, wrapped so clients do not build their own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::problem::Problem;

const PREFIX: &str = "v1:";

/// The cursor handed to clients for store position `position`.
pub fn encode(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{position}"))
}

/// The store position inside a cursor from [`encode`].
pub fn decode(cursor: &str) -> Result<String, Problem> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(PREFIX).map(str::to_string))
        .ok_or_else(invalid)
}

/// The problem answered for a cursor this API did not issue.
pub fn invalid() -> Problem {
    Problem::bad_request("`cursor` must be a `next_cursor` value returned by this list.")
}
