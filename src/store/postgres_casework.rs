//! PostgreSQL: a service request's conversation (see [`super::casework`]).

use sqlx::PgPool;
use sqlx::Row as _;

use super::StoreError;
use super::casework::{ConversationText, RequestConversation};
use super::postgres::Ts;
use super::results::AnswerRow;

pub(super) async fn conversation(
    pool: &PgPool,
    code: &str,
) -> Result<RequestConversation, StoreError> {
    let mut out = RequestConversation::default();
    for r in sqlx::query(
        "SELECT a.question, a.raw, a.value, a.category, a.answered_at FROM answers a
         WHERE a.session_id = (SELECT r.session_id FROM service_requests r WHERE r.code = $1)
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
            answered_at: r.try_get::<Ts, _>("answered_at")?.0,
        });
    }
    for r in sqlx::query(
        // By session through its index, in id order: the first 200 texts without a sort.
        "SELECT m.direction, m.body, m.created_at FROM messages m
         WHERE m.session_id = (SELECT r.session_id FROM service_requests r WHERE r.code = $1)
         ORDER BY m.id LIMIT 200",
    )
    .bind(code)
    .fetch_all(pool)
    .await?
    {
        out.texts.push(ConversationText {
            direction: r.try_get("direction")?,
            body: r.try_get("body")?,
            at: r.try_get::<Ts, _>("created_at")?.0,
        });
    }
    Ok(out)
}
