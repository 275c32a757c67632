//! Understanding a resident's reply to a question, one answer type per module.
//!
//! Every parser takes the resident's raw text and returns `None` (or `false`) when it cannot
//! understand it, so the engine can re-prompt. None of them panics, whatever the text, and each
//! builds its tables and patterns once.

pub mod choice;
pub mod date;
pub mod email;
pub mod location;
pub mod number;
pub mod phone;
pub mod skip;
pub mod text;
pub mod yesno;
