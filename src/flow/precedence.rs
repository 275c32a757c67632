//! What a text sent during a conversation does: answer the waiting question, or start another
//! flow whose keyword it is.
//!
//! The rule, in order:
//! 1. A text the waiting question accepts is its answer, whatever else it might mean ("Main St",
//!    "bike lane!", "Report", "311" or "plan" to "What would make you feel safer?").
//! 2. Otherwise, in an interruptible flow, a text that is a keyword *itself* ("PLAN", "Report!",
//!    not "Main St" for `MAINST`) ends the conversation and starts that keyword's flow.
//! 3. Otherwise the question gets the text and re-prompts as usual.
//!
//! STOP, START and HELP come before all of this and are not decided here. The gateway and
//! `flows test` both decide with this function, so a conversation test shows what a resident
//! would get.

use std::sync::Arc;

use super::catalog::Catalog;
use super::engine::{self, Context, Inbound, Outcome, Session};
use super::model::Flow;

/// Where a text sent during a conversation goes.
#[derive(Debug)]
// Returned once per text and taken apart at once: boxing the outcome would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum During<'c> {
    /// The conversation takes it: an answer, or a re-prompt.
    Session(Outcome),
    /// It is the keyword of `flow`, which it starts (in `language`, when the keyword selects
    /// one); the current conversation ends as interrupted.
    Interrupt {
        flow: &'c Arc<Flow>,
        language: Option<&'c str>,
    },
}

/// Decides what `input` does to `session` (of `flow`), with `keywords` the flows residents can
/// start now.
pub fn during_session<'c>(
    keywords: &'c Catalog,
    flow: &Flow,
    session: Session,
    input: &Inbound,
    ctx: &Context,
) -> During<'c> {
    if flow.interruptible
        && !engine::accepts(flow, &session, input, ctx)
        && let Some((other, language)) = keywords.exact_keyword(input.text)
    {
        return During::Interrupt {
            flow: other,
            language,
        };
    }
    During::Session(engine::step(flow, session, input, ctx))
}
