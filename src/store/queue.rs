//! What an inbound text carries to a batching writer (SQLite's writer thread, PostgreSQL's
//! batcher): the text, the decision to take on its snapshot, and where to send the outcome.

use tokio::sync::{mpsc, oneshot};

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

/// Hands `msg` to the writer behind `queue` and waits for its outcome (`writer` names it in
/// errors). A caller that stops waiting (a dropped future) withdraws the text: a writer that
/// has not begun storing it skips it.
pub async fn submit<W: From<Job>>(
    queue: &mpsc::Sender<W>,
    writer: &str,
    msg: &InboundText,
    decide: Decide,
) -> Result<Handled, StoreError> {
    let (done, answer) = oneshot::channel();
    let job = Job {
        msg: msg.clone(),
        decide,
        done,
    };
    queue
        .send(W::from(job))
        .await
        .map_err(|_| StoreError::Writer(format!("the database {writer} has stopped")))?;
    answer.await.map_err(|_| {
        StoreError::Writer(format!("the database {writer} stopped before answering"))
    })?
}
