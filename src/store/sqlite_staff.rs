//! SQLite: staff accounts, sessions, password links, failed sign-ins and the staff audit log.

use jiff::Timestamp;
use sqlx::Row as _;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

use super::StoreError;
use super::sqlite::{parse_ts, ts};
use super::staff::{NewStaffAudit, StaffAuditEntry, StaffRecord};

const COLUMNS: &str = "s.id, s.email, s.role, s.password_hash, s.created_at, s.disabled_at";

fn staff(r: &SqliteRow) -> Result<StaffRecord, StoreError> {
    Ok(StaffRecord {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        role: r.try_get("role")?,
        password_hash: r.try_get("password_hash")?,
        created_at: parse_ts(r.try_get("created_at")?)?
            .ok_or_else(|| StoreError::Corrupt("staff without created_at".into()))?,
        disabled_at: parse_ts(r.try_get("disabled_at")?)?,
    })
}

pub(super) async fn create_staff(
    pool: &SqlitePool,
    email: &str,
    role: &str,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO staff (email, role, created_at) VALUES (?, ?, ?)
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email)
    .bind(role)
    .bind(ts(now))
    .fetch_optional(pool)
    .await?)
}

pub(super) async fn staff_by_email(
    pool: &SqlitePool,
    email: &str,
) -> Result<Option<StaffRecord>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM staff s WHERE s.email = ?"))
        .bind(email)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(staff)
        .transpose()
}

pub(super) async fn list_staff(pool: &SqlitePool) -> Result<Vec<StaffRecord>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM staff s ORDER BY s.id"))
        .fetch_all(pool)
        .await?
        .iter()
        .map(staff)
        .collect()
}

pub(super) async fn set_staff_role(
    pool: &SqlitePool,
    id: i64,
    role: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE staff SET role = ? WHERE id = ?")
        .bind(role)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn set_staff_disabled(
    pool: &SqlitePool,
    id: i64,
    disabled_at: Option<Timestamp>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let done = sqlx::query("UPDATE staff SET disabled_at = ? WHERE id = ?")
        .bind(disabled_at.map(ts))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if disabled_at.is_some() {
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn create_password_link(
    pool: &SqlitePool,
    staff_id: i64,
    token_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO staff_password_links (token_hash, staff_id, created_at, expires_at)
         VALUES (?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(staff_id)
    .bind(ts(now))
    .bind(ts(expires_at))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn password_link(
    pool: &SqlitePool,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<StaffRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM staff_password_links l JOIN staff s ON s.id = l.staff_id
         WHERE l.token_hash = ? AND l.used_at IS NULL
           AND julianday(l.expires_at) > julianday(?) AND s.disabled_at IS NULL"
    ))
    .bind(token_hash)
    .bind(ts(now))
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(staff)
    .transpose()
}

pub(super) async fn use_password_link(
    pool: &SqlitePool,
    token_hash: &str,
    password_hash: &str,
    now: Timestamp,
) -> Result<Option<StaffRecord>, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE staff_password_links SET used_at = ?1
         WHERE token_hash = ?2 AND used_at IS NULL AND julianday(expires_at) > julianday(?1)
           AND staff_id IN (SELECT id FROM staff WHERE disabled_at IS NULL)
         RETURNING staff_id",
    )
    .bind(ts(now))
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    sqlx::query("UPDATE staff SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM staff_sessions WHERE staff_id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let record = sqlx::query(&format!("SELECT {COLUMNS} FROM staff s WHERE s.id = ?"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let record = staff(&record)?;
    tx.commit().await?;
    Ok(Some(record))
}

pub(super) async fn set_staff_password(
    pool: &SqlitePool,
    id: i64,
    password_hash: &str,
    keep_session: &str,
) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("UPDATE staff SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM staff_sessions WHERE staff_id = ? AND token_hash <> ?")
        .bind(id)
        .bind(keep_session)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn create_staff_session(
    pool: &SqlitePool,
    token_hash: &str,
    staff_id: i64,
    csrf: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // Expired sessions are swept as new ones are made, so the table stays small.
    sqlx::query("DELETE FROM staff_sessions WHERE julianday(expires_at) <= julianday(?)")
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(staff_id)
    .bind(csrf)
    .bind(ts(now))
    .bind(ts(expires_at))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn staff_session(
    pool: &SqlitePool,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<(StaffRecord, String)>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, x.csrf FROM staff_sessions x JOIN staff s ON s.id = x.staff_id
         WHERE x.token_hash = ? AND julianday(x.expires_at) > julianday(?)
           AND s.disabled_at IS NULL"
    ))
    .bind(token_hash)
    .bind(ts(now))
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((staff(&r)?, r.try_get("csrf")?)))
        .transpose()
}

pub(super) async fn delete_staff_session(
    pool: &SqlitePool,
    token_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM staff_sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn record_login_failure(
    pool: &SqlitePool,
    email: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO staff_login_failures (email, at) VALUES (?, ?)")
        .bind(email)
        .bind(ts(at))
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn login_failures_since(
    pool: &SqlitePool,
    email: &str,
    since: Timestamp,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM staff_login_failures
         WHERE email = ? AND julianday(at) >= julianday(?)",
    )
    .bind(email)
    .bind(ts(since))
    .fetch_one(pool)
    .await?)
}

pub(super) async fn clear_login_failures(pool: &SqlitePool, email: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM staff_login_failures WHERE email = ?")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn record_staff_audit(
    pool: &SqlitePool,
    e: &NewStaffAudit<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO staff_audit (staff_id, actor, action, detail, at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(e.staff_id)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.detail)
    .bind(ts(e.at))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn staff_audit_log(
    pool: &SqlitePool,
    limit: i64,
) -> Result<Vec<StaffAuditEntry>, StoreError> {
    sqlx::query(
        "SELECT id, staff_id, actor, action, detail, at FROM staff_audit ORDER BY id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(StaffAuditEntry {
            id: r.try_get("id")?,
            staff_id: r.try_get("staff_id")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            detail: r.try_get("detail")?,
            at: parse_ts(r.try_get("at")?)?
                .ok_or_else(|| StoreError::Corrupt("audit entry without time".into()))?,
        })
    })
    .collect()
}
