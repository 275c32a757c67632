//! Service-request status on SQLite.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::StoreError;
use super::outbox::OutboxText;
use super::requests::{NewRequest, RequestInfo, RequestUpdated, StatusChange, StatusHistoryEntry};
use super::sqlite::{parse_ts, ts};

const SQL_GET: &str = "SELECT r.id, r.code, r.service, r.description, r.location, r.photo,
        r.status, r.status_notes, r.flow_id, r.contact_id, c.phone, c.language, r.channel,
        r.created_at, r.updated_at
     FROM service_requests r LEFT JOIN contacts c ON c.id = r.contact_id
     WHERE r.code = ?";

fn info(r: &SqliteRow) -> Result<RequestInfo, StoreError> {
    Ok(RequestInfo {
        id: r.get("id"),
        code: r.get("code"),
        service: r.get("service"),
        description: r.get("description"),
        location: r.get("location"),
        photo: r.get("photo"),
        status: r.get("status"),
        status_notes: r.get("status_notes"),
        flow_id: r.get("flow_id"),
        contact_id: r.get("contact_id"),
        phone: r.get("phone"),
        language: r.get("language"),
        channel: r.get("channel"),
        created_at: parse_ts(Some(r.get("created_at")))?.expect("given"),
        updated_at: parse_ts(r.get("updated_at"))?,
    })
}

/// See [`super::Store::service_request`].
pub(super) async fn get(pool: &SqlitePool, code: &str) -> Result<Option<RequestInfo>, StoreError> {
    sqlx::query(SQL_GET)
        .bind(code)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(info)
        .transpose()
}

/// See [`super::Store::request_history`].
pub(super) async fn history(
    pool: &SqlitePool,
    code: &str,
) -> Result<Vec<StatusHistoryEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.old_status, u.status, u.note, u.changed_by, u.changed_at
         FROM service_request_updates u JOIN service_requests r ON r.id = u.request_id
         WHERE r.code = ? ORDER BY u.id",
    )
    .bind(code)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StatusHistoryEntry {
                old_status: r.get("old_status"),
                status: r.get("status"),
                note: r.get("note"),
                changed_by: r.get("changed_by"),
                changed_at: parse_ts(Some(r.get("changed_at")))?.expect("given"),
            })
        })
        .collect()
}

/// See [`super::Store::update_request_status`].
pub(super) async fn update(
    pool: &SqlitePool,
    code: &str,
    change: &StatusChange,
    follow_up: impl FnOnce(&RequestInfo, &str) -> Option<OutboxText>,
) -> Result<Option<RequestUpdated>, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let Some(row) = sqlx::query(SQL_GET)
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let mut request = info(&row)?;
    let old_status = std::mem::replace(&mut request.status, change.status.clone());
    if change.note.is_some() {
        request.status_notes = change.note.clone();
    }
    request.updated_at = Some(change.at);
    sqlx::query(
        "UPDATE service_requests SET status = ?, status_notes = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&request.status)
    .bind(&request.status_notes)
    .bind(ts(change.at))
    .bind(request.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO service_request_updates
             (request_id, old_status, status, note, changed_by, changed_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(request.id)
    .bind(&old_status)
    .bind(&change.status)
    .bind(&change.note)
    .bind(&change.changed_by)
    .bind(ts(change.at))
    .execute(&mut *tx)
    .await?;
    let follow_up = match (
        request.contact_id,
        &request.phone,
        follow_up(&request, &old_status),
    ) {
        (Some(contact_id), Some(phone), Some(text)) => {
            super::sqlite_outbox::insert(
                &mut tx,
                contact_id,
                phone,
                &text,
                super::sqlite_outbox::Causes {
                    request_id: Some(request.id),
                    ..Default::default()
                },
                change.at,
            )
            .await?
        }
        _ => None,
    };
    tx.commit().await?;
    Ok(Some(RequestUpdated {
        request,
        old_status,
        follow_up,
    }))
}

/// See [`super::Store::file_request`].
pub(super) async fn file(pool: &SqlitePool, r: &NewRequest) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO service_requests (code, flow_id, service, description, location, photo,
                                       created_at, channel, lat, lon, attributes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(&r.code)
    .bind(&r.flow_id)
    .bind(&r.service)
    .bind(&r.description)
    .bind(&r.location)
    .bind(&r.photo)
    .bind(ts(r.at))
    .bind(&r.channel)
    .bind(r.lat)
    .bind(r.lon)
    .bind(&r.attributes)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
