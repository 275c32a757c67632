//! civictext: an SMS civic-engagement gateway.
//!
//! Residents text a keyword and are walked through a scripted conversation written by staff as a
//! YAML flow file. The [`flow`] module is the pure engine; everything else wraps it.

pub mod auth;
pub mod bench;
pub mod channel;
pub mod cli;
pub mod config;
pub mod console;
pub mod csv_safe;
pub mod export;
pub mod flow;
pub mod flows_dir;
pub mod gateway;
pub mod http;
pub mod outbound;
pub mod privacy;
pub mod sms;
pub mod startup;
pub mod store;
pub mod telemetry;
