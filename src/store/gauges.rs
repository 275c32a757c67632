//! Figures about the database that operators watch (see `crate::telemetry`): read at scrape
//! time, so every replica sharing a database reports the same ones.

use jiff::Timestamp;
use sqlx::Row;

use super::{Store, StoreError};

/// What a metrics scrape reads from the database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperationalGauges {
    /// Sessions waiting for an answer that have not expired.
    pub active_sessions: i64,
    /// Outbox rows not yet finished (queued, being sent, or in doubt).
    pub outbox_depth: i64,
    /// Seconds the longest-overdue queued row has been due (0 when none is).
    pub outbox_oldest_seconds: f64,
}

impl Store {
    /// Connections the pool holds open, and how many of them are idle.
    pub fn pool_connections(&self) -> (u32, usize) {
        match self {
            Store::Sqlite(s) => (s.pool().size(), s.pool().num_idle()),
            Store::Postgres(s) => (s.pool().size(), s.pool().num_idle()),
        }
    }

    /// Active sessions and the outbox's backlog at `now`.
    pub async fn operational_gauges(
        &self,
        now: Timestamp,
    ) -> Result<OperationalGauges, StoreError> {
        let (active_sessions, outbox_depth, oldest_due) = match self {
            Store::Sqlite(s) => {
                let now = super::sqlite::ts(now);
                // Timestamps are RFC 3339 text of varying precision: compared as instants, not
                // as strings.
                let row = sqlx::query(
                    "SELECT
                       (SELECT COUNT(*) FROM sessions WHERE status = 'active'
                          AND (expires_at IS NULL OR julianday(expires_at) > julianday(?1))),
                       (SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending', 'in_doubt')),
                       (SELECT not_before FROM outbox WHERE state = 'queued'
                          AND julianday(not_before) <= julianday(?1)
                        ORDER BY julianday(not_before) LIMIT 1)",
                )
                .bind(&now)
                .fetch_one(s.pool())
                .await?;
                let oldest: Option<String> = row.get(2);
                (
                    row.get::<i64, _>(0),
                    row.get::<i64, _>(1),
                    super::sqlite::parse_ts(oldest)?,
                )
            }
            Store::Postgres(s) => {
                let row = sqlx::query(
                    "SELECT
                       (SELECT COUNT(*) FROM sessions WHERE status = 'active'
                          AND (expires_at IS NULL OR expires_at > $1)),
                       (SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending', 'in_doubt')),
                       (SELECT MIN(not_before) FROM outbox WHERE state = 'queued' AND not_before <= $1)",
                )
                .bind(super::postgres::ts(now))
                .fetch_one(s.pool())
                .await?;
                let oldest: Option<super::postgres::Ts> = row.try_get(2)?;
                (
                    row.try_get::<i64, _>(0)?,
                    row.try_get::<i64, _>(1)?,
                    oldest.map(|t| t.0),
                )
            }
        };
        let outbox_oldest_seconds = oldest_due
            .map(|due| (now.as_millisecond() - due.as_millisecond()).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        Ok(OperationalGauges {
            active_sessions,
            outbox_depth,
            outbox_oldest_seconds,
        })
    }
}
