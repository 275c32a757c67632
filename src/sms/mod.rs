//! Facts about SMS text: encodings and segments, keyword folding, the opt-out / opt-in / help
//! vocabulary.

/// Decimal digits of every script read as ASCII digits.
pub mod digits;
pub mod fold;
/// GSM-7 / UCS-2 encoding and segment counting, as Twilio counts them.
pub mod segments;
/// The global opt-out / opt-in / help vocabulary, recognised before any conversation logic.
pub mod vocabulary;
