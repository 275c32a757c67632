//! SQLite: results, summaries, service requests and installation secrets.
//!
//! Pages are ordered by row id. SQLite has one writer and ids are assigned inside its
//! transactions, so rows become visible in id order: a client that has read up to id N can
//! never see a new row with a smaller id.

use jiff::Timestamp;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::StoreError;
use super::results::{
    RequestFilter, RequestPage, RequestRow, ResponsePage, ResponseRow, ResultsFilter, SummaryCounts,
};
use super::sqlite::{SqliteStore, parse_ts, ts};

fn required_ts(r: &SqliteRow, column: &str) -> Result<Timestamp, StoreError> {
    parse_ts(r.try_get(column)?)?.ok_or_else(|| StoreError::Corrupt(format!("{column} missing")))
}

fn request(r: &SqliteRow) -> Result<RequestRow, StoreError> {
    Ok(RequestRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        flow_id: r.try_get("flow_id")?,
        service: r.try_get("service")?,
        description: r.try_get("description")?,
        location: r.try_get("location")?,
        photo: r.try_get("photo")?,
        status: r.try_get("status")?,
        status_notes: r.try_get("status_notes")?,
        created_at: required_ts(r, "created_at")?,
        updated_at: parse_ts(r.try_get("updated_at")?)?,
        channel: r.try_get("channel")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        attributes: r.try_get("attributes")?,
    })
}

const REQUEST_COLUMNS: &str = "id, code, flow_id, service, description, location, photo, status, \
                               status_notes, created_at, updated_at, channel, lat, lon, attributes";

/// A page of sessions with their answers: `?1` the id to start after, `?2`…`?5` the
/// filter (flow, status, since, until), `?6` the page size. Each session's answers come with
/// it as one JSON array built by SQLite, put in order once parsed (see
/// [`super::results::answers_json`]): one row per session instead of one per answer is most of
/// what streaming costs here. Times are compared as instants: stored strings carry varying
/// fractional digits, so their text order is not their order in time.
pub(super) const SQL_RESPONSES_PAGE: &str =
    "SELECT s.id, c.phone, s.flow_id, s.flow_version, s.language, s.status,
            s.started_at, s.updated_at, s.ended_at,
            (SELECT r.code FROM service_requests r WHERE r.session_id = s.id
             ORDER BY r.id LIMIT 1) AS tracking_code,
            (SELECT json_group_array(json_array(a.question, a.raw, a.value, a.category,
                                                a.answered_at, a.id))
             FROM answers a WHERE a.session_id = s.id) AS answers
     FROM sessions s JOIN contacts c ON c.id = s.contact_id
     WHERE s.id > ?1
       AND (?2 IS NULL OR s.flow_id = ?2)
       AND (?3 IS NULL OR s.status = ?3)
       AND (?4 IS NULL OR julianday(s.started_at) >= julianday(?4))
       AND (?5 IS NULL OR julianday(s.started_at) < julianday(?5))
     ORDER BY s.id LIMIT ?6";

/// A row of [`SQL_RESPONSES_PAGE`], its columns in order, as either driver reads it.
pub(super) type PageColumns = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The rows of [`SQL_RESPONSES_PAGE`] as a page of `limit` asked for.
pub(super) fn response_page(
    rows: Vec<PageColumns>,
    limit: i64,
) -> Result<ResponsePage, StoreError> {
    let sessions = rows
        .into_iter()
        .map(
            |(
                id,
                phone,
                flow,
                version,
                language,
                status,
                started,
                updated,
                ended,
                code,
                answers,
            )| {
                Ok(ResponseRow {
                    session_id: id,
                    phone,
                    flow_id: flow,
                    flow_version: version,
                    language,
                    status,
                    started_at: parse_ts(started)?
                        .ok_or_else(|| StoreError::Corrupt("started_at missing".into()))?,
                    updated_at: parse_ts(updated)?
                        .ok_or_else(|| StoreError::Corrupt("updated_at missing".into()))?,
                    ended_at: parse_ts(ended)?,
                    tracking_code: code,
                    answers: super::results::answers_json(answers.as_deref().unwrap_or("[]"))?,
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next = match sessions.last() {
        Some(last) if sessions.len() as i64 == limit => Some(last.session_id.to_string()),
        _ => None,
    };
    Ok(ResponsePage {
        rows: sessions,
        next,
    })
}

impl SqliteStore {
    /// See [`super::Store::responses_page`].
    pub async fn responses_page(
        &self,
        filter: &ResultsFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<ResponsePage, StoreError> {
        if let Some(reader) = self.reader() {
            return reader.responses_page(filter, after, limit).await;
        }
        let rows = sqlx::query_as::<_, PageColumns>(SQL_RESPONSES_PAGE)
            .bind(after.unwrap_or(0))
            .bind(&filter.flow)
            .bind(&filter.status)
            .bind(filter.since.map(ts))
            .bind(filter.until.map(ts))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        response_page(rows, limit)
    }

    /// See [`super::Store::summary_counts`].
    pub async fn summary_counts(&self, flow: &str) -> Result<SummaryCounts, StoreError> {
        let mut counts = SummaryCounts::default();
        for r in sqlx::query(
            "SELECT status, COUNT(*) AS n FROM sessions WHERE flow_id = ? GROUP BY status",
        )
        .bind(flow)
        .fetch_all(self.pool())
        .await?
        {
            counts
                .statuses
                .insert(r.try_get("status")?, r.try_get("n")?);
        }
        for r in sqlx::query(
            "SELECT question, category, COUNT(*) AS n FROM answers WHERE flow_id = ?
             GROUP BY question, category",
        )
        .bind(flow)
        .fetch_all(self.pool())
        .await?
        {
            counts.categories.insert(
                (r.try_get("question")?, r.try_get("category")?),
                r.try_get("n")?,
            );
        }
        for r in sqlx::query(
            "SELECT (SELECT a.question FROM answers a WHERE a.session_id = s.id
                     ORDER BY unixepoch(a.answered_at, 'subsec') DESC, a.id DESC
                     LIMIT 1) AS last_question,
                    COUNT(*) AS n
             FROM sessions s
             WHERE s.flow_id = ? AND s.status IN ('expired', 'opted_out', 'interrupted')
             GROUP BY last_question",
        )
        .bind(flow)
        .fetch_all(self.pool())
        .await?
        {
            counts
                .dropped_after
                .insert(r.try_get("last_question")?, r.try_get("n")?);
        }
        Ok(counts)
    }

    /// See [`super::Store::requests_page`].
    pub async fn requests_page(
        &self,
        filter: &RequestFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<RequestPage, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM service_requests
             WHERE id > ?1
               AND (?2 IS NULL OR service = ?2)
               AND (?3 IS NULL OR status = ?3)
               AND (?4 IS NULL OR julianday(created_at) >= julianday(?4))
               AND (?5 IS NULL OR julianday(created_at) < julianday(?5))
               AND (?7 IS NULL OR (status = 'closed') = ?7)
             ORDER BY id LIMIT ?6"
        ))
        .bind(after.unwrap_or(0))
        .bind(&filter.service)
        .bind(&filter.status)
        .bind(filter.since.map(ts))
        .bind(filter.until.map(ts))
        .bind(limit)
        .bind(filter.closed)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(request)
        .collect::<Result<Vec<_>, _>>()?;
        let next = match rows.last() {
            Some(last) if rows.len() as i64 == limit => Some(last.id.to_string()),
            _ => None,
        };
        Ok(RequestPage { rows, next })
    }

    /// See [`super::Store::request_by_code`].
    pub async fn request_by_code(&self, code: &str) -> Result<Option<RequestRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM service_requests WHERE code = ?"
        ))
        .bind(code)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(request)
        .transpose()
    }

    /// See [`super::Store::installation_secret`].
    pub async fn installation_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO installation_secrets (name, value, created_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .bind(ts(Timestamp::now()))
        .execute(self.pool())
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM installation_secrets WHERE name = ?")
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
