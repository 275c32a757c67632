//! The outbox on PostgreSQL.

use jiff::Timestamp;
use sqlx::PgConnection;

use super::StoreError;
use super::outbox::OutboxText;
use super::postgres::{pg_text, ts};

/// What caused an outbox row, kept with it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Causes {
    pub broadcast_id: Option<i64>,
    pub session_id: Option<i64>,
    pub request_id: Option<i64>,
}

/// Queues `text` for contact `contact_id` at `to` inside the caller's transaction. None when a
/// row with the same dedupe key already exists (nothing is added).
pub(super) async fn insert(
    conn: &mut PgConnection,
    contact_id: i64,
    to: &str,
    text: &OutboxText,
    causes: Causes,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let kind = text.kind;
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (contact_id, to_addr, body, segments, kind, priority, needs_consent,
                             quiet_hours, broadcast_id, session_id, request_id, dedupe_key,
                             not_before, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', $14, $15)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING id",
    )
    .bind(contact_id)
    .bind(to)
    .bind(pg_text(&text.body))
    .bind(i32::try_from(text.segments.max(1)).unwrap_or(i32::MAX))
    .bind(kind.as_str())
    .bind(kind.priority())
    .bind(kind.needs_consent())
    .bind(kind.respects_quiet_hours())
    .bind(causes.broadcast_id)
    .bind(causes.session_id)
    .bind(causes.request_id)
    .bind(&text.dedupe_key)
    .bind(ts(text.not_before))
    .bind(ts(now))
    .bind(ts(now))
    .fetch_optional(conn)
    .await?)
}
