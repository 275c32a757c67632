//! SQLite: API tokens and the audit log.

use jiff::Timestamp;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::StoreError;
use super::auth::{AuditEntry, NewAuditEntry, TokenRecord};
use super::sqlite::{SqliteStore, parse_ts, ts};

const TOKEN_COLUMNS: &str = "id, name, scopes, hint, created_at, last_used_at, revoked_at";

fn token(r: &SqliteRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: r.try_get("scopes")?,
        hint: r.try_get("hint")?,
        created_at: parse_ts(r.try_get("created_at")?)?
            .ok_or_else(|| StoreError::Corrupt("token without created_at".into()))?,
        last_used_at: parse_ts(r.try_get("last_used_at")?)?,
        revoked_at: parse_ts(r.try_get("revoked_at")?)?,
    })
}

impl SqliteStore {
    /// See [`super::Store::create_token`].
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &str,
        hash: &str,
        hint: &str,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO api_tokens (name, scopes, token_hash, hint, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(scopes)
        .bind(hash)
        .bind(hint)
        .bind(ts(now))
        .fetch_one(self.pool())
        .await?)
    }

    /// See [`super::Store::list_tokens`].
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(token)
        .collect()
    }

    /// See [`super::Store::revoke_token`].
    pub async fn revoke_token(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(ts(now))
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// See [`super::Store::find_token`].
    pub async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?"
        ))
        .bind(hash)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(token)
        .transpose()
    }

    /// See [`super::Store::record_use`].
    pub async fn record_use(&self, e: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO api_audit (token_id, method, route, status, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(e.token_id)
        .bind(e.method)
        .bind(e.route)
        .bind(i64::from(e.status))
        .bind(ts(e.at))
        .execute(&mut *tx)
        .await?;
        if let Some(id) = e.token_id {
            sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
                .bind(ts(e.at))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// See [`super::Store::audit_log`].
    pub async fn audit_log(
        &self,
        token_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, token_id, method, route, status, at FROM api_audit
             WHERE (?1 IS NULL OR token_id = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(token_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    token_id: r.try_get("token_id")?,
                    method: r.try_get("method")?,
                    route: r.try_get("route")?,
                    status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
                    at: parse_ts(r.try_get("at")?)?
                        .ok_or_else(|| StoreError::Corrupt("audit entry without time".into()))?,
                })
            })
            .collect()
    }
}
