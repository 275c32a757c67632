//! Service-request status on PostgreSQL.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::StoreError;
use super::outbox::OutboxText;
use super::postgres::{Ts, pg_text, ts};
use super::requests::{NewRequest, RequestInfo, RequestUpdated, StatusChange, StatusHistoryEntry};

const SQL_GET: &str = "SELECT r.id, r.code, r.service, r.description, r.location, r.photo,
        r.status, r.status_notes, r.flow_id, r.contact_id, c.phone, c.language, r.channel,
        r.created_at, r.updated_at
     FROM service_requests r LEFT JOIN contacts c ON c.id = r.contact_id
     WHERE r.code = $1";

fn info(r: &PgRow) -> Result<RequestInfo, StoreError> {
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
        created_at: r.get::<Ts, _>("created_at").0,
        updated_at: r.get::<Option<Ts>, _>("updated_at").map(|t| t.0),
    })
}

/// See [`super::Store::service_request`].
pub(super) async fn get(pool: &PgPool, code: &str) -> Result<Option<RequestInfo>, StoreError> {
    sqlx::query(SQL_GET)
        .bind(super::postgres::pg_text(code))
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(info)
        .transpose()
}

/// See [`super::Store::request_history`].
pub(super) async fn history(
    pool: &PgPool,
    code: &str,
) -> Result<Vec<StatusHistoryEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.old_status, u.status, u.note, u.changed_by, u.changed_at
         FROM service_request_updates u JOIN service_requests r ON r.id = u.request_id
         WHERE r.code = $1 ORDER BY u.id",
    )
    .bind(super::postgres::pg_text(code))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StatusHistoryEntry {
                old_status: r.get("old_status"),
                status: r.get("status"),
                note: r.get("note"),
                changed_by: r.get("changed_by"),
                changed_at: r.get::<Ts, _>("changed_at").0,
            })
        })
        .collect()
}

/// See [`super::Store::update_request_status`].
pub(super) async fn update(
    pool: &PgPool,
    code: &str,
    change: &StatusChange,
    follow_up: impl FnOnce(&RequestInfo, &str) -> Option<OutboxText>,
) -> Result<Option<RequestUpdated>, StoreError> {
    let mut tx = pool.begin().await?;
    // FOR UPDATE: two staff changing one request at once are applied one after the other.
    let Some(row) = sqlx::query(&format!("{SQL_GET} FOR UPDATE OF r"))
        .bind(super::postgres::pg_text(code))
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
        "UPDATE service_requests SET status = $1, status_notes = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(&request.status)
    .bind(request.status_notes.as_deref().map(pg_text))
    .bind(ts(change.at))
    .bind(request.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO service_request_updates
             (request_id, old_status, status, note, changed_by, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(request.id)
    .bind(&old_status)
    .bind(&change.status)
    .bind(change.note.as_deref().map(pg_text))
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
            super::postgres_outbox::insert(
                &mut tx,
                contact_id,
                phone,
                &text,
                super::postgres_outbox::Causes {
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
pub(super) async fn file(pool: &PgPool, r: &NewRequest) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO service_requests (code, flow_id, service, description, location, photo,
                                       created_at, channel, lat, lon, attributes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(&r.code)
    .bind(&r.flow_id)
    .bind(&r.service)
    .bind(r.description.as_deref().map(pg_text))
    .bind(r.location.as_deref().map(pg_text))
    .bind(r.photo.as_deref().map(pg_text))
    .bind(ts(r.at))
    .bind(&r.channel)
    .bind(r.lat)
    .bind(r.lon)
    .bind(r.attributes.as_deref().map(pg_text))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
