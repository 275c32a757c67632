//! The session sweep on SQLite: one `BEGIN IMMEDIATE` transaction, so it is serialised with
//! the writer that stores inbound texts (a resident's text and the sweep never both act on a
//! session as they found it).

use jiff::Timestamp;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::StoreError;
use super::outbox::{OutboxText, fixed_ts};
use super::sqlite::ts;
use super::sqlite_outbox::{Causes, insert};
use super::sweep::*;

/// See [`super::Store::sweep_sessions`].
pub(super) async fn sweep(
    pool: &SqlitePool,
    now: Timestamp,
    limit: u32,
    decide: &(dyn Fn(&DueSession) -> SweepAction + Send + Sync),
) -> Result<SweepReport, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let at = fixed_ts(now);
    let stamp = ts(now);
    let rows = sqlx::query(
        "SELECT s.id, s.contact_id, s.state, c.phone, c.language, c.fields
         FROM sessions s JOIN contacts c ON c.id = s.contact_id
         WHERE s.status = 'active'
           AND (s.expires_at <= ?1 OR json_extract(s.state, '$.remind_at') <= ?1)
         ORDER BY s.id LIMIT ?2",
    )
    .bind(&at)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    let mut report = SweepReport::default();
    for r in &rows {
        let due = DueSession {
            id: r.get("id"),
            contact_id: r.get("contact_id"),
            phone: r.get("phone"),
            contact: contact_fields(r.get("fields"), r.get("language"))?,
            state: parse_state(r.get("state"))?,
        };
        report.sessions += 1;
        match decide(&due) {
            SweepAction::Leave => {}
            SweepAction::Update { state, text } => {
                sqlx::query("UPDATE sessions SET state = ? WHERE id = ?")
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
                    "UPDATE sessions SET status = 'expired', state = ?, ended_at = ?,
                                         updated_at = ?, expires_at = NULL
                     WHERE id = ?",
                )
                .bind(serde_json::to_string(&state).expect("a session serialises"))
                .bind(&stamp)
                .bind(&stamp)
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
    conn: &mut SqliteConnection,
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
