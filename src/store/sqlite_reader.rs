//! Results read out of SQLite straight through SQLite (rusqlite), on blocking threads.
//!
//! Through the async driver every row is handed from the driver's worker thread to the caller
//! with a copy of each value and a wake-up; streaming a million answers spent more time in
//! those hand-offs and thread switches than in SQLite (docs/benchmarks.md). Here a page is
//! read on a blocking thread into memory, and only then handed on: no thread, connection or
//! read transaction is held while a slow client takes the rows. The SQL is the async
//! path's ([`SQL_RESPONSES_PAGE`]), kept for databases held in memory, which a second
//! connection cannot open.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::StoreError;
use super::results::{ResponsePage, ResultsFilter};
use super::sqlite::ts;
use super::sqlite_results::{PageColumns, SQL_RESPONSES_PAGE, response_page};

/// Idle connections kept for the next reader.
const IDLE: usize = 4;

/// Reads results from the database file at one path, reusing its connections.
#[derive(Debug, Clone)]
pub struct Reader {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Reader {
    /// A reader of the database file at `path` (opened when first needed).
    pub fn new(path: PathBuf) -> Self {
        Reader {
            path,
            idle: Arc::default(),
        }
    }

    fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().expect("reader pool poisoned").pop() {
            return Ok(conn);
        }
        // Read-write without create, but refusing writes: a read-only open of a WAL database
        // fails when its shared-memory file has to be made.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.pragma_update(None, "cache_size", -16 * 1024)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("reader pool poisoned");
        if idle.len() < IDLE {
            idle.push(conn);
        }
    }

    /// See [`super::Store::responses_page`].
    pub async fn responses_page(
        &self,
        filter: &ResultsFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<ResponsePage, StoreError> {
        let (reader, filter) = (self.clone(), filter.clone());
        tokio::task::spawn_blocking(move || {
            let conn = reader.connection()?;
            let page = page(&conn, &filter, after, limit)?;
            // A connection that failed is dropped rather than kept.
            reader.give_back(conn);
            Ok(page)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reading results failed: {e}")))?
    }
}

/// Reads every answer of `flow` with one plain query, counting rows and text bytes: the floor
/// `civictext bench-results` compares streaming with, through the same driver.
pub(super) fn scan_answers(
    reader: &Reader,
    sql: &str,
    flow: &str,
) -> Result<(u64, u64), StoreError> {
    let conn = reader.connection()?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    {
        let mut statement = conn.prepare(sql)?;
        let mut found = statement.query([flow])?;
        while let Some(r) = found.next()? {
            rows += 1;
            for i in 1..5 {
                bytes += r.get_ref(i)?.as_str().map(|s| s.len() as u64).unwrap_or(0);
            }
        }
    }
    reader.give_back(conn);
    Ok((rows, bytes))
}

/// One page, read whole before it is returned.
fn page(
    conn: &Connection,
    filter: &ResultsFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<ResponsePage, StoreError> {
    let mut statement = conn.prepare_cached(SQL_RESPONSES_PAGE)?;
    let mut rows = statement.query(params![
        after.unwrap_or(0),
        filter.flow,
        filter.status,
        filter.since.map(ts),
        filter.until.map(ts),
        limit
    ])?;
    let mut page = Vec::with_capacity(limit.clamp(0, 1000) as usize);
    while let Some(r) = rows.next()? {
        page.push(PageColumns::try_from(r)?);
    }
    response_page(page, limit)
}
