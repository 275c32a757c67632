//! What an inbound text carries to a batching writer (SQLite's writer thread, PostgreSQL's
//! batcher): the text, the decision to take on its snapshot, and where to send the outcome.

use tokio::sync::oneshot;

use super::model::{Decision, InboundText, Snapshot};
use super::{Handled, StoreError};

/// A decision that can travel to a writer. It may be asked more than once: a PostgreSQL batch
/// that fails is retried text by text, on snapshots read again.
pub type Decide = Box<dyn Fn(&Snapshot) -> Decision + Send + Sync>;

/// One inbound text waiting for a writer.
pub struct Job {
    pub msg: InboundText,
    pub decide: Decide,
    pub done: oneshot::Sender<Result<Handled, StoreError>>,
}

/// Asks `decide` on `snapshot`; a decision that panics fails its own text, never the writer
/// or the batch it is in.
pub fn decide_safely(decide: &Decide, snapshot: &Snapshot) -> Result<Decision, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(snapshot)))
        .map_err(|_| StoreError::Writer("deciding on this text panicked".into()))
}
