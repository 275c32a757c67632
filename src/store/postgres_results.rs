//! PostgreSQL: results, summaries, service requests and installation secrets.
//!
//! Pages are ordered by (id of the creating transaction, row id), and a page only holds rows
//! created by transactions older than every transaction of this database still running. With
//! several replicas a row numbered 100 can commit after one numbered 101; ordered this way,
//! anything that commits after a page was read sorts after that page (see migration 0009).

use std::collections::HashMap;

use futures_util::TryStreamExt as _;
use jiff::Timestamp;
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::StoreError;
use super::postgres::{PgStore, Ts, ts};
use super::results::{
    AnswerRow, RequestFilter, RequestPage, RequestRow, ResponsePage, ResponseRow, ResultsFilter,
    SummaryCounts,
};

fn request(r: &PgRow) -> Result<RequestRow, StoreError> {
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
        created_at: r.try_get::<Ts, _>("created_at")?.0,
        updated_at: r.try_get::<Option<Ts>, _>("updated_at")?.map(|t| t.0),
        channel: r.try_get("channel")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        attributes: r.try_get("attributes")?,
    })
}

const REQUEST_COLUMNS: &str = "id, code, flow_id, service, description, location, photo, \
                               status, status_notes, created_at, updated_at, channel, lat, lon, \
                               attributes, created_xid::text AS xid";

/// The oldest transaction that might still commit rows into this database: the oldest one
/// running in this statement's snapshot, leaving out those `pg_stat_activity` shows running in
/// another database (transaction ids are shared by the whole server, and a long transaction
/// elsewhere must not hide new rows here). A transaction that ended between the snapshot and
/// the look at `pg_stat_activity` is counted as this database's: the safe side.
const WRITABLE_FROM: &str = "COALESCE(
        (SELECT MIN(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
         WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                           WHERE a.backend_xid = x::xid
                             AND a.datname IS DISTINCT FROM current_database())),
        pg_snapshot_xmax(pg_current_snapshot()))";

fn position(xid: &str, id: i64) -> String {
    format!("{xid}.{id}")
}

/// The answers of the sessions whose ids lie in `$1..=$2` (a page's sessions are read first,
/// then their answers in one range scan: about half the server's work of aggregating each
/// session's answers in a subquery, measured with EXPLAIN ANALYZE on 1,000,000 answers).
///
/// Neither statement sorts: the answers are put in order per session here, which spares the
/// server a sort of every answer it sends.
const ANSWERS_IN_SPAN: &str = "SELECT a.session_id, a.question, a.raw, a.value, a.category,
            a.answered_at, a.id
     FROM answers a WHERE a.session_id BETWEEN $1 AND $2";

/// The answers of the sessions in `$1`: for a page whose ids are spread out (other flows'
/// sessions in between, or one created by a long transaction), where a range would read far
/// more than the page.
const ANSWERS_OF: &str = "SELECT a.session_id, a.question, a.raw, a.value, a.category,
            a.answered_at, a.id
     FROM answers a WHERE a.session_id = ANY($1)";

/// Most ids a page's range may span per session in it before its answers are looked up by id.
const SPAN_PER_SESSION: i64 = 2;

impl PgStore {
    /// See [`super::Store::responses_page`].
    pub async fn responses_page(
        &self,
        filter: &ResultsFilter,
        after: Option<(u64, i64)>,
        limit: i64,
    ) -> Result<ResponsePage, StoreError> {
        self.responses_page_telling(filter, after, limit, None)
            .await
    }

    /// [`Self::responses_page`], telling `tell` where the following page starts as soon as
    /// the page's sessions are read, before their answers are.
    pub async fn responses_page_telling(
        &self,
        filter: &ResultsFilter,
        after: Option<(u64, i64)>,
        limit: i64,
        tell: Option<tokio::sync::oneshot::Sender<Option<String>>>,
    ) -> Result<ResponsePage, StoreError> {
        let (xid, id) = after.unwrap_or((0, 0));
        let _turn = self
            .result_pages
            .acquire()
            .await
            .expect("the semaphore is never closed");
        // The sessions and their answers are read in one snapshot.
        let mut tx = self
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT s.id, c.phone, s.flow_id, s.flow_version, s.language, s.status,
                    s.started_at, s.updated_at, s.ended_at, s.created_xid::text AS xid,
                    (SELECT r.code FROM service_requests r WHERE r.session_id = s.id
                     ORDER BY r.id LIMIT 1) AS tracking_code
             FROM sessions s JOIN contacts c ON c.id = s.contact_id
             WHERE (s.created_xid, s.id) > ($1::text::xid8, $2)
               AND s.created_xid < {WRITABLE_FROM}
               AND ($3::text IS NULL OR s.flow_id = $3)
               AND ($4::text IS NULL OR s.status = $4)
               AND ($5::timestamptz IS NULL OR s.started_at >= $5)
               AND ($6::timestamptz IS NULL OR s.started_at < $6)
             ORDER BY s.created_xid, s.id LIMIT $7"
        ))
        .bind(xid.to_string())
        .bind(id)
        .bind(filter.flow.as_deref().map(super::postgres::pg_text))
        .bind(filter.status.as_deref().map(super::postgres::pg_text))
        .bind(filter.since.map(ts))
        .bind(filter.until.map(ts))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        let mut last_xid = String::new();
        for r in &rows {
            last_xid = r.try_get("xid")?;
            sessions.push(ResponseRow {
                session_id: r.try_get("id")?,
                phone: r.try_get("phone")?,
                flow_id: r.try_get("flow_id")?,
                flow_version: r.try_get("flow_version")?,
                language: r.try_get("language")?,
                status: r.try_get("status")?,
                started_at: r.try_get::<Ts, _>("started_at")?.0,
                updated_at: r.try_get::<Ts, _>("updated_at")?.0,
                ended_at: r.try_get::<Option<Ts>, _>("ended_at")?.map(|t| t.0),
                tracking_code: r.try_get("tracking_code")?,
                answers: Vec::new(),
            });
        }
        let next = match sessions.last() {
            Some(last) if sessions.len() as i64 == limit => {
                Some(position(&last_xid, last.session_id))
            }
            _ => None,
        };
        if let Some(tell) = tell {
            let _ = tell.send(next.clone());
        }
        let ids: Vec<i64> = sessions.iter().map(|s| s.session_id).collect();
        let (lo, hi) = (ids.iter().min(), ids.iter().max());
        if let (Some(&lo), Some(&hi)) = (lo, hi) {
            let query = if hi - lo < SPAN_PER_SESSION * ids.len() as i64 {
                sqlx::query(ANSWERS_IN_SPAN).bind(lo).bind(hi)
            } else {
                sqlx::query(ANSWERS_OF).bind(&ids)
            };
            let at: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            // (answer id, answer) per session, to be put in the order they were given.
            let mut given: Vec<Vec<(i64, AnswerRow)>> = vec![Vec::new(); ids.len()];
            // Taken as they arrive, while the server is still sending the rest.
            let mut answers = query.fetch(&mut *tx);
            while let Some(a) = answers.try_next().await? {
                // A range also holds sessions of other flows or statuses, not on this page.
                let Some(&i) = at.get(&a.try_get_unchecked::<i64, _>(0)?) else {
                    continue;
                };
                given[i].push((
                    a.try_get_unchecked(6)?,
                    AnswerRow {
                        question: a.try_get_unchecked(1)?,
                        raw: a.try_get_unchecked(2)?,
                        value: a.try_get_unchecked(3)?,
                        category: a.try_get_unchecked(4)?,
                        answered_at: a.try_get_unchecked::<Ts, _>(5)?.0,
                    },
                ));
            }
            drop(answers);
            for (session, answers) in sessions.iter_mut().zip(given) {
                session.answers = super::results::in_order_given(answers);
            }
        }
        tx.commit().await?;
        Ok(ResponsePage {
            rows: sessions,
            next,
        })
    }

    /// See [`super::Store::summary_counts`].
    pub async fn summary_counts(&self, flow: &str) -> Result<SummaryCounts, StoreError> {
        let mut counts = SummaryCounts::default();
        for r in sqlx::query(
            "SELECT status, COUNT(*) AS n FROM sessions WHERE flow_id = $1 GROUP BY status",
        )
        .bind(super::postgres::pg_text(flow))
        .fetch_all(self.pool())
        .await?
        {
            counts
                .statuses
                .insert(r.try_get("status")?, r.try_get("n")?);
        }
        for r in sqlx::query(
            "SELECT question, category, COUNT(*) AS n FROM answers WHERE flow_id = $1
             GROUP BY question, category",
        )
        .bind(super::postgres::pg_text(flow))
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
                     ORDER BY a.answered_at DESC, a.id DESC LIMIT 1) AS last_question,
                    COUNT(*) AS n
             FROM sessions s
             WHERE s.flow_id = $1 AND s.status IN ('expired', 'opted_out', 'interrupted')
             GROUP BY last_question",
        )
        .bind(super::postgres::pg_text(flow))
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
        after: Option<(u64, i64)>,
        limit: i64,
    ) -> Result<RequestPage, StoreError> {
        let (xid, id) = after.unwrap_or((0, 0));
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM service_requests
             WHERE (created_xid, id) > ($1::text::xid8, $2)
               AND created_xid < {WRITABLE_FROM}
               AND ($3::text IS NULL OR service = $3)
               AND ($4::text IS NULL OR status = $4)
               AND ($5::timestamptz IS NULL OR created_at >= $5)
               AND ($6::timestamptz IS NULL OR created_at < $6)
               AND ($8::boolean IS NULL OR (status = 'closed') = $8)
             ORDER BY created_xid, id LIMIT $7"
        ))
        .bind(xid.to_string())
        .bind(id)
        .bind(filter.service.as_deref().map(super::postgres::pg_text))
        .bind(filter.status.as_deref().map(super::postgres::pg_text))
        .bind(filter.since.map(ts))
        .bind(filter.until.map(ts))
        .bind(limit)
        .bind(filter.closed)
        .fetch_all(self.pool())
        .await?;
        let next = match rows.last() {
            Some(last) if rows.len() as i64 == limit => Some(position(
                &last.try_get::<String, _>("xid")?,
                last.try_get("id")?,
            )),
            _ => None,
        };
        Ok(RequestPage {
            rows: rows.iter().map(request).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// See [`super::Store::request_by_code`].
    pub async fn request_by_code(&self, code: &str) -> Result<Option<RequestRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM service_requests WHERE code = $1"
        ))
        .bind(super::postgres::pg_text(code))
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(request)
        .transpose()
    }

    /// See [`super::Store::installation_secret`].
    pub async fn installation_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "WITH added AS (
                 INSERT INTO installation_secrets (name, value, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING RETURNING value)
             SELECT value FROM added
             UNION ALL SELECT value FROM installation_secrets WHERE name = $1
             LIMIT 1",
        )
        .bind(name)
        .bind(fresh)
        .bind(ts(Timestamp::now()))
        .fetch_optional(self.pool())
        .await?;
        if let Some(value) = found {
            return Ok(value);
        }
        // Another replica inserted it while this statement ran: the insert waited for that
        // commit and did nothing, but the statement's snapshot predates the row. A new
        // statement sees it.
        Ok(
            sqlx::query_scalar("SELECT value FROM installation_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
