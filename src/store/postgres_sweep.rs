//! The session sweep on PostgreSQL, run by every replica at once: due sessions are locked with
//! `FOR UPDATE SKIP LOCKED` (two replicas never sweep the same one, and never wait for each
//! other), and each resident's advisory lock, the one inbound texts take, is tried without
//! waiting: a session whose resident is texting right now is left for the next sweep, so the
//! sweep never acts on a session the resident is answering.

use jiff::Timestamp;
use sqlx::{PgConnection, PgPool, Row};

use super::StoreError;
use super::outbox::{OutboxText, fixed_ts};
use super::postgres::{resident_key, ts};
use super::postgres_outbox::{Causes, insert};
use super::sweep::*;

/// See [`super::Store::sweep_sessions`].
pub(super) async fn sweep(
    pool: &PgPool,
    now: Timestamp,
    limit: u32,
    decide: &(dyn Fn(&DueSession) -> SweepAction + Send + Sync),
) -> Result<SweepReport, StoreError> {
    let mut tx = pool.begin().await?;
    // The reminder time is compared as text, the way the index holds it (see migration 0014).
    let rows = sqlx::query(
        "SELECT s.id, s.contact_id, s.state::text AS state, c.phone, c.language,
                c.fields::text AS fields
         FROM sessions s JOIN contacts c ON c.id = s.contact_id
         WHERE s.status = 'active'
           AND (s.expires_at <= $1 OR ((s.state ->> 'remind_at') COLLATE \"C\") <= $2)
         ORDER BY s.id LIMIT $3
         FOR UPDATE OF s SKIP LOCKED",
    )
    .bind(ts(now))
    .bind(fixed_ts(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    let mut report = SweepReport::default();
    for r in &rows {
        let phone: String = r.try_get("phone")?;
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(resident_key(&phone))
            .fetch_one(&mut *tx)
            .await?;
        if !free {
            continue;
        }
        let due = DueSession {
            id: r.try_get("id")?,
            contact_id: r.try_get("contact_id")?,
            phone,
            contact: contact_fields(r.try_get("fields")?, r.try_get("language")?)?,
            state: parse_state(r.try_get("state")?)?,
        };
        report.sessions += 1;
        match decide(&due) {
            SweepAction::Leave => {}
            SweepAction::Update { state, text } => {
                sqlx::query("UPDATE sessions SET state = $1::jsonb WHERE id = $2")
                    .bind(serde_json::to_string(&state).expect("a session serialises"))
                    .bind(due.id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(text) = text
                    && queue(&mut tx, &due, &text, now, &mut report).await?
                {
                    report.reminded += 1;
                }
            }
            SweepAction::Expire { state, closing } => {
                sqlx::query(
                    "UPDATE sessions SET status = 'expired', state = $1::jsonb, ended_at = $2,
                                         updated_at = $2, expires_at = NULL
                     WHERE id = $3",
                )
                .bind(serde_json::to_string(&state).expect("a session serialises"))
                .bind(ts(now))
                .bind(due.id)
                .execute(&mut *tx)
                .await?;
                report.expired += 1;
                if let Some(text) = closing {
                    queue(&mut tx, &due, &text, now, &mut report).await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}

async fn queue(
    conn: &mut PgConnection,
    due: &DueSession,
    text: &OutboxText,
    now: Timestamp,
    report: &mut SweepReport,
) -> Result<bool, StoreError> {
    let causes = Causes {
        session_id: Some(due.id),
        ..Causes::default()
    };
    if insert(conn, due.contact_id, &due.phone, text, causes, now)
        .await?
        .is_none()
    {
        report.duplicates += 1;
        return Ok(false);
    }
    Ok(true)
}
