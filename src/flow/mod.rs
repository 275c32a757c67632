//! Conversation flows: the staff-facing YAML language and the pure engine that runs it.
//!
//! Nothing in this module does IO or reads the clock: files arrive as text, time and randomness
//! arrive as arguments. See docs/flows.md for the language itself.

pub mod answers;
pub mod catalog;
pub mod compile;
pub mod condition;
pub mod conversation_test;
pub mod costs;
pub mod diagnostics;
pub mod engine;
pub mod messages;
pub mod model;
pub mod precedence;
pub mod raw;
pub mod render;
pub mod template;

pub use compile::{Compiled, compile};
pub use diagnostics::{Diagnostic, Severity};
pub use engine::{Context, Effect, Inbound, Outcome, Session, Status};
pub use model::Flow;
