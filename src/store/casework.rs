//! What a caseworker reads beside a service request: the answers of the conversation that filed
//! it and the texts exchanged in it.

use jiff::Timestamp;

use super::results::AnswerRow;
use super::{Store, StoreError};

/// One text of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationText {
    /// `in` (from the resident) or `out`.
    pub direction: String,
    pub body: String,
    pub at: Timestamp,
}

/// The conversation that filed a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestConversation {
    pub answers: Vec<AnswerRow>,
    /// Oldest first.
    pub texts: Vec<ConversationText>,
}

impl Store {
    /// The answers and texts of the session that filed request `code` (empty for a request from
    /// another channel).
    pub async fn request_conversation(
        &self,
        code: &str,
    ) -> Result<RequestConversation, StoreError> {
        match self {
            Store::Sqlite(s) => super::sqlite_casework::conversation(s.pool(), code).await,
            Store::Postgres(s) => super::postgres_casework::conversation(s.pool(), code).await,
        }
    }

    /// How many service requests have status `status` (counted on the status index, so a
    /// large queue is counted as fast as a small one).
    pub async fn count_requests(&self, status: &str) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM service_requests WHERE status = ?",
            )
            .bind(status)
            .fetch_one(s.pool())
            .await?),
            Store::Postgres(s) => Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM service_requests WHERE status = $1",
            )
            .bind(status)
            .fetch_one(s.pool())
            .await?),
        }
    }
}
