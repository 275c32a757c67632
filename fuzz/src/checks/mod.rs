//! One module per fuzz target, each with a `check(&[u8])` that panics when a property fails.
//!
//! Only `civictext`, `arbitrary` and the main crate's own dependencies are used here, so the main
//! crate's tests can include these files as they are.

pub mod engine;
pub mod flow_compiler;
pub mod signature;
pub mod webhook_form;
