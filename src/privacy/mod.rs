//! Residents' privacy: keyed pseudonyms instead of phone numbers.

pub mod pseudonym;

pub use pseudonym::Pseudonyms;
