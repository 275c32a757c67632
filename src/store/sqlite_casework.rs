//! SQLite: a service request's conversation (see [`super::casework`]).

use sqlx::Row as _;
use sqlx::SqlitePool;

use super::StoreError;
use super::casework::{ConversationText, RequestConversation};
use super::results::AnswerRow;
use super::sqlite::parse_ts;

fn at(v: Option<String>) -> Result<jiff::Timestamp, StoreError> {
    parse_ts(v)?.ok_or_else(|| StoreError::Corrupt("row without time".into()))
}

pub(super) async fn conversation(
    pool: &SqlitePool,
    code: &str,
) -> Result<RequestConversation, StoreError> {
    let mut out = RequestConversation::default();
    for r in sqlx::query(
        "SELECT a.question, a.raw, a.value, a.category, a.answered_at FROM answers a
         WHERE a.session_id = (SELECT r.session_id FROM service_requests r WHERE r.code = ?)
         ORDER BY a.id",
    )
    .bind(code)
    .fetch_all(pool)
    .await?
    {
        out.answers.push(AnswerRow {
            question: r.try_get("question")?,
            raw: r.try_get("raw")?,
            value: r.try_get("value")?,
            category: r.try_get("category")?,
            answered_at: at(r.try_get("answered_at")?)?,
        });
    }
    for r in sqlx::query(
        // By session through its index, in id order: the first 200 texts without a sort.
        "SELECT m.direction, m.body, m.created_at FROM messages m
         WHERE m.session_id = (SELECT r.session_id FROM service_requests r WHERE r.code = ?)
         ORDER BY m.id LIMIT 200",
    )
    .bind(code)
    .fetch_all(pool)
    .await?
    {
        out.texts.push(ConversationText {
            direction: r.try_get("direction")?,
            body: r.try_get("body")?,
            at: at(r.try_get("created_at")?)?,
        });
    }
    Ok(out)
}
