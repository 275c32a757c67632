//! Results for agencies (and, later, the staff console): sessions with their answers, paged
//! in a stable order; per-flow summaries; service requests. Library functions, so every
//! surface that shows results reads them the same way.

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};

/// Which sessions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultsFilter {
    /// Only this flow's sessions.
    pub flow: Option<String>,
    /// Only sessions in this status (`active`, `completed`, `expired`, `opted_out`,
    /// `interrupted`).
    pub status: Option<String>,
    /// Only sessions started at or after this time.
    pub since: Option<Timestamp>,
    /// Only sessions started before this time.
    pub until: Option<Timestamp>,
}

/// The session statuses, as stored.
pub const SESSION_STATUSES: [&str; 5] =
    ["active", "completed", "expired", "opted_out", "interrupted"];

/// One answer in a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRow {
    pub question: String,
    /// What the resident texted.
    pub raw: String,
    /// The normalised value.
    pub value: String,
    /// The answer's category (choice key, `yes`, `no`, `skipped`, the answer type…).
    pub category: String,
    pub answered_at: Timestamp,
}

/// One session with its answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRow {
    pub session_id: i64,
    /// The resident's number (shown only to those entitled; otherwise a pseudonym stands in).
    pub phone: String,
    pub flow_id: String,
    pub flow_version: String,
    pub language: String,
    pub status: String,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// The tracking code of the service request the session filed, if any.
    pub tracking_code: Option<String>,
    /// In the order they were given.
    pub answers: Vec<AnswerRow>,
}

/// A page of sessions, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePage {
    pub rows: Vec<ResponseRow>,
    /// Pass back to get the following page; None when there were fewer rows than asked for.
    /// A position in a stable order: sessions that appear later always sort after it.
    pub next: Option<String>,
}

/// Session counts of one flow, and how its questions were answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryCounts {
    /// Sessions per status.
    pub statuses: BTreeMap<String, i64>,
    /// (question, category) → answers.
    pub categories: BTreeMap<(String, String), i64>,
    /// Sessions that ended unfinished (expired, opted out, interrupted), by the last question
    /// they answered (None: none).
    pub dropped_after: BTreeMap<Option<String>, i64>,
}

/// A service request as agencies see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow {
    pub id: i64,
    /// The tracking code the resident was given.
    pub code: String,
    pub flow_id: String,
    pub service: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub photo: Option<String>,
    pub status: String,
    /// The latest note given with a status change.
    pub status_notes: Option<String>,
    pub created_at: Timestamp,
    /// When the status last changed; None while it never has.
    pub updated_at: Option<Timestamp>,
    /// `sms`, or `open311` for a request posted by another system.
    pub channel: String,
    /// WGS84 latitude and longitude, when the filer gave them.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Answers to the service's attributes (a JSON object), when the filer gave any.
    pub attributes: Option<String>,
}

/// Which service requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub service: Option<String>,
    pub status: Option<String>,
    /// Only closed requests (`Some(true)`) or only those not closed yet (`Some(false)`): the
    /// two states Open311 knows.
    pub closed: Option<bool>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// A page of service requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPage {
    pub rows: Vec<RequestRow>,
    pub next: Option<String>,
}

/// A position in a list that the backend could not have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this cursor was not issued by this list")]
pub struct BadCursor;

/// The (transaction, id) key PostgreSQL pages by, or SQLite's id, as text: `xid.id` or `id`.
pub(super) fn split_cursor(cursor: &str) -> Result<(Option<u64>, i64), BadCursor> {
    match cursor.split_once('.') {
        Some((xid, id)) => Ok((
            Some(xid.parse().map_err(|_| BadCursor)?),
            id.parse().map_err(|_| BadCursor)?,
        )),
        None => Ok((None, cursor.parse().map_err(|_| BadCursor)?)),
    }
}

/// Rows fetched per page when a whole result set is streamed.
const STREAM_PAGE: i64 = 1000;

impl Store {
    /// Up to `limit` sessions matching `filter`, after position `after` (None: from the
    /// start). Walking every page returns each session exactly once even while residents
    /// keep texting: sessions created later always sort after positions already handed out.
    pub async fn responses_page(
        &self,
        filter: &ResultsFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Result<ResponsePage, BadCursor>, StoreError> {
        let after = match after.map(split_cursor).transpose() {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let page = match self {
            // A cursor of the other backend's shape (which the API's published pattern allows)
            // still names a position: the rows after that id.
            Store::Sqlite(s) => {
                s.responses_page(filter, after.map(|(_, id)| id), limit)
                    .await?
            }
            Store::Postgres(s) => {
                s.responses_page(filter, after.map(|(x, id)| (x.unwrap_or(0), id)), limit)
                    .await?
            }
        };
        Ok(Ok(page))
    }

    /// Every session matching `filter`, streamed page by page through a small channel, so a
    /// result set of any size is sent with flat memory.
    ///
    /// Two pages are read at once: the next is started as soon as its position is known, while
    /// this process is still taking in the one before, so the database and this process work
    /// side by side. No connection or thread is held between pages, however slowly the client
    /// takes the rows.
    pub fn responses_stream(
        &self,
        filter: ResultsFilter,
    ) -> mpsc::Receiver<Result<ResponseRow, StoreError>> {
        self.responses_stream_paged(filter, STREAM_PAGE)
    }

    /// [`Store::responses_stream`] in pages of `page` sessions (tests use small pages to
    /// stream many pages from few sessions).
    #[doc(hidden)]
    pub fn responses_stream_paged(
        &self,
        filter: ResultsFilter,
        page_size: i64,
    ) -> mpsc::Receiver<Result<ResponseRow, StoreError>> {
        // One page of rows waits in the channel while the next is read.
        let (tx, rx) = mpsc::channel(page_size.clamp(1, STREAM_PAGE) as usize);
        let store = self.clone();
        tokio::spawn(async move {
            let start = |after: Option<String>| {
                let (store, filter) = (store.clone(), filter.clone());
                let (tell, told) = oneshot::channel();
                let page = tokio::spawn(async move {
                    store
                        .responses_page_telling(&filter, after.as_deref(), page_size, tell)
                        .await
                });
                (page, told)
            };
            let (first, told) = start(None);
            let mut pages = VecDeque::from([first]);
            let mut next = Some(told);
            'pages: while let Some(page) = pages.pop_front() {
                if let Some(told) = next.take()
                    && let Ok(Some(after)) = told.await
                {
                    let (following, told) = start(Some(after));
                    pages.push_back(following);
                    next = Some(told);
                }
                let page = page.await.unwrap_or_else(|failed| {
                    Err(StoreError::Corrupt(format!(
                        "reading a page failed: {failed}"
                    )))
                });
                let rows = match page {
                    Ok(page) => page.rows,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                };
                for row in rows {
                    if tx.send(Ok(row)).await.is_err() {
                        break 'pages; // the client went away
                    }
                }
            }
            // After a failure or a client gone, the page still being read is not wanted.
            pages.iter().for_each(|p| p.abort());
        });
        rx
    }

    /// [`Store::responses_page`] from a position of the store's own, which tells `tell` where
    /// the following page starts (None: this is the last) as soon as that is known: on
    /// PostgreSQL, once the page's sessions are read and before their answers are.
    async fn responses_page_telling(
        &self,
        filter: &ResultsFilter,
        after: Option<&str>,
        limit: i64,
        tell: oneshot::Sender<Option<String>>,
    ) -> Result<ResponsePage, StoreError> {
        let after = after
            .map(split_cursor)
            .transpose()
            .expect("the store's own cursor");
        match self {
            Store::Sqlite(s) => {
                let page = s
                    .responses_page(filter, after.map(|(_, id)| id), limit)
                    .await?;
                let _ = tell.send(page.next.clone());
                Ok(page)
            }
            Store::Postgres(s) => {
                let after = after.map(|(x, id)| (x.unwrap_or(0), id));
                s.responses_page_telling(filter, after, limit, Some(tell))
                    .await
            }
        }
    }

    /// Session and answer counts of `flow`.
    pub async fn summary_counts(&self, flow: &str) -> Result<SummaryCounts, StoreError> {
        match self {
            Store::Sqlite(s) => s.summary_counts(flow).await,
            Store::Postgres(s) => s.summary_counts(flow).await,
        }
    }

    /// Up to `limit` service requests matching `filter`, after position `after`, in the same
    /// stable order as [`Store::responses_page`].
    pub async fn requests_page(
        &self,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Result<RequestPage, BadCursor>, StoreError> {
        let after = match after.map(split_cursor).transpose() {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let page = match self {
            Store::Sqlite(s) => {
                s.requests_page(filter, after.map(|(_, id)| id), limit)
                    .await?
            }
            Store::Postgres(s) => {
                s.requests_page(filter, after.map(|(x, id)| (x.unwrap_or(0), id)), limit)
                    .await?
            }
        };
        Ok(Ok(page))
    }

    /// The service request with tracking code `code` (in either case).
    pub async fn request_by_code(&self, code: &str) -> Result<Option<RequestRow>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        match self {
            Store::Sqlite(s) => s.request_by_code(&code).await,
            Store::Postgres(s) => s.request_by_code(&code).await,
        }
    }

    /// The installation's secret `name`: the stored one, or `fresh` stored now if there is
    /// none yet. Every replica ends up with the same value (the first one stored wins).
    pub async fn installation_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        match self {
            Store::Sqlite(s) => s.installation_secret(name, fresh).await,
            Store::Postgres(s) => s.installation_secret(name, fresh).await,
        }
    }
}

/// A session's answers as SQLite aggregates them (one row per session rather than one per
/// answer is most of what streaming costs): `[[question, raw, value, category, answered_at,
/// answer id], …]` in any order, returned in the order they were given (by time, then id). They
/// are ordered here, once their times are parsed: stored times carry varying numbers of
/// fraction digits, so the database would have to parse every one of them to sort.
pub(super) fn answers_json(json: &str) -> Result<Vec<AnswerRow>, StoreError> {
    let answers: Vec<(String, String, String, String, String, i64)> = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("a session's answers: {e}")))?;
    let given = answers
        .into_iter()
        .map(|(question, raw, value, category, at, id)| {
            let answered_at = at
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("bad answer time {at:?}: {e}")))?;
            let answer = AnswerRow {
                question,
                raw,
                value,
                category,
                answered_at,
            };
            Ok((id, answer))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(in_order_given(given))
}

/// A session's answers, each with its id, in the order they were given: by time, then by id
/// (answers stored in one transaction share their time).
pub(super) fn in_order_given(mut given: Vec<(i64, AnswerRow)>) -> Vec<AnswerRow> {
    given.sort_unstable_by_key(|(id, a)| (a.answered_at, *id));
    given.into_iter().map(|(_, a)| a).collect()
}

impl Store {
    /// Reads every answer of `flow` with one plain query and nothing else, counting rows and
    /// text bytes: the floor that streaming results is measured against (`civictext
    /// bench-results`), through the driver the results are read with.
    pub async fn scan_answers(&self, flow: &str) -> Result<(u64, u64), StoreError> {
        use futures_util::TryStreamExt as _;
        use sqlx::Row as _;
        const SQL: &str = "SELECT a.session_id, a.question, a.raw, a.value, a.category
                           FROM answers a WHERE a.flow_id = $1 ORDER BY a.session_id, a.id";
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut count = |r: &dyn Fn(usize) -> Result<String, sqlx::Error>| {
            rows += 1;
            for i in 1..5 {
                bytes += r(i).map(|s| s.len() as u64).unwrap_or(0);
            }
        };
        if let Store::Sqlite(s) = self
            && let Some(reader) = s.reader().cloned()
        {
            let flow = flow.to_string();
            return tokio::task::spawn_blocking(move || {
                super::sqlite_reader::scan_answers(&reader, SQL, &flow)
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("reading answers failed: {e}")))?;
        }
        match self {
            Store::Sqlite(s) => {
                let mut stream = sqlx::query(SQL).bind(flow).fetch(s.pool());
                while let Some(row) = stream.try_next().await? {
                    count(&|i| row.try_get::<String, _>(i));
                }
            }
            Store::Postgres(s) => {
                let mut stream = sqlx::query(SQL).bind(flow).fetch(s.pool());
                while let Some(row) = stream.try_next().await? {
                    count(&|i| row.try_get::<String, _>(i));
                }
            }
        }
        Ok((rows, bytes))
    }
}
