//! Twilio adapter.
//!
//! The only code that knows Twilio's wire format: everything else in civictext sees inbound
//! messages, replies, delivery statuses and send results as plain Rust values.

/// Parsing the inbound SMS/MMS webhook's form body.
pub mod inbound;
/// Sending messages through Twilio's REST API.
pub mod sender;
/// Verifying `X-Twilio-Signature` on webhook requests.
pub mod signature;
/// Parsing delivery status callbacks.
pub mod status;
/// Writing TwiML replies.
pub mod twiml;
