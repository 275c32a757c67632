//! Messaging providers. Only the provider's own module knows its wire format.

pub mod twilio;
