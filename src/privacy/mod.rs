//! Residents' privacy: keyed pseudonyms instead of phone numbers, and retention of texts.

pub mod pseudonym;
pub mod retention;

pub use pseudonym::Pseudonyms;
