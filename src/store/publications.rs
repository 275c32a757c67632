//! Published flow versions: which version of each flow every replica serves, and the history
//! of how each came to be (imported from the flows directory, or published by a person).

use jiff::Timestamp;
use sqlx::Row;

use super::{RecordedFlow, Store, StoreError};
use crate::flow::catalog::SourceFile;

/// Where a publication came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A file of the flows directory, imported when it changed.
    File,
    /// Published by a person with `civictext flows publish`.
    Publish,
    /// Published by a staff member in the console.
    Console,
}

impl Origin {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::File => "file",
            Origin::Publish => "publish",
            Origin::Console => "console",
        }
    }

    /// As people read it in a history: where the version came from.
    pub fn label(self) -> &'static str {
        match self {
            Origin::File => "flows directory",
            Origin::Publish => "command line",
            Origin::Console => "console",
        }
    }

    fn parse(s: &str) -> Origin {
        match s {
            "file" => Origin::File,
            "console" => Origin::Console,
            _ => Origin::Publish,
        }
    }
}

/// One entry of a flow's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub id: i64,
    pub flow_id: String,
    /// None: the flow was withdrawn.
    pub version: Option<String>,
    pub origin: Origin,
    /// The file's name for an import; who published it otherwise.
    pub published_by: String,
    pub published_at: Timestamp,
    pub note: Option<String>,
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct NewPublication<'a> {
    pub flow_id: &'a str,
    pub version: &'a str,
    /// The text of the version and the file name it is known by.
    pub source: &'a SourceFile,
    pub origin: Origin,
    pub by: &'a str,
    pub note: Option<&'a str>,
    pub at: Timestamp,
}

/// The name a version published by a person is recorded under: never the name of a file in
/// the flows directory, so the directory's own record of its files is not confused with it.
pub fn published_name(file: &str) -> String {
    format!("published/{}", file.trim_start_matches("published/"))
}

impl Store {
    /// Records `p`'s version (if new) and makes it the one served. Returns the publication's
    /// id, or None when that version is already the one served (nothing is written then, so
    /// several replicas importing the same file record it once).
    pub async fn publish_flow(&self, p: &NewPublication<'_>) -> Result<Option<i64>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                let at = super::sqlite::ts(p.at);
                let name = recorded_name(p);
                let mut tx = s.pool().begin().await?;
                sqlx::query(
                    "INSERT INTO flow_versions (flow_id, version, file, source, loaded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (flow_id, version) DO NOTHING",
                )
                .bind(p.flow_id)
                .bind(p.version)
                .bind(&name)
                .bind(&p.source.text)
                .bind(&at)
                .execute(&mut *tx)
                .await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO flow_publications
                         (flow_id, version, origin, published_by, published_at, note)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6
                     WHERE (SELECT version FROM flow_publications WHERE flow_id = ?1
                            ORDER BY id DESC LIMIT 1) IS NOT ?2
                     RETURNING id",
                )
                .bind(p.flow_id)
                .bind(p.version)
                .bind(p.origin.as_str())
                .bind(p.by)
                .bind(&at)
                .bind(p.note)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }
            Store::Postgres(s) => {
                let at = super::postgres::ts(p.at);
                let name = recorded_name(p);
                let mut tx = s.pool().begin().await?;
                // One publisher per flow at a time, so two replicas importing the same edit
                // record it once.
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtext('flow_publications'), hashtext($1))",
                )
                .bind(p.flow_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO flow_versions (flow_id, version, file, source, loaded_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (flow_id, version) DO NOTHING",
                )
                .bind(p.flow_id)
                .bind(p.version)
                .bind(&name)
                .bind(super::postgres::pg_text(&p.source.text).as_ref())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO flow_publications
                         (flow_id, version, origin, published_by, published_at, note)
                     SELECT $1, $2, $3, $4, $5, $6
                     WHERE (SELECT version FROM flow_publications WHERE flow_id = $1
                            ORDER BY id DESC LIMIT 1) IS DISTINCT FROM $2
                     RETURNING id",
                )
                .bind(p.flow_id)
                .bind(p.version)
                .bind(p.origin.as_str())
                .bind(p.by)
                .bind(at)
                .bind(p.note)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }
        }
    }

    /// Stops serving `flow_id` (its file was removed). Returns false when it was not served.
    pub async fn withdraw_flow(
        &self,
        flow_id: &str,
        by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let sql_sqlite = "INSERT INTO flow_publications
                 (flow_id, version, origin, published_by, published_at)
             SELECT ?1, NULL, 'file', ?2, ?3
             WHERE (SELECT version FROM flow_publications WHERE flow_id = ?1
                    ORDER BY id DESC LIMIT 1) IS NOT NULL";
        let done = match self {
            Store::Sqlite(s) => sqlx::query(sql_sqlite)
                .bind(flow_id)
                .bind(by)
                .bind(super::sqlite::ts(at))
                .execute(s.pool())
                .await?
                .rows_affected(),
            Store::Postgres(s) => sqlx::query(
                "INSERT INTO flow_publications
                     (flow_id, version, origin, published_by, published_at)
                 SELECT $1, NULL, 'file', $2, $3
                 WHERE (SELECT version FROM flow_publications WHERE flow_id = $1
                        ORDER BY id DESC LIMIT 1) IS NOT NULL",
            )
            .bind(flow_id)
            .bind(by)
            .bind(super::postgres::ts(at))
            .execute(s.pool())
            .await?
            .rows_affected(),
        };
        Ok(done > 0)
    }

    /// The newest publication's id (0 before any): a replica that saw this id serves what
    /// is published.
    pub async fn publication_head(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM flow_publications";
        Ok(match self {
            Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await?,
            Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await?,
        })
    }

    /// Every flow being served: the version of its latest publication, with its text, in
    /// the order they were published.
    pub async fn published_flows(&self) -> Result<Vec<(RecordedFlow, Publication)>, StoreError> {
        let sql = "SELECT p.id, p.flow_id, p.version, p.origin, p.published_by, p.published_at,
                          p.note, v.file, v.source
                   FROM flow_publications p
                   JOIN flow_versions v ON v.flow_id = p.flow_id AND v.version = p.version
                   WHERE p.id IN (SELECT MAX(id) FROM flow_publications GROUP BY flow_id)
                   ORDER BY p.id";
        let mut out = Vec::new();
        match self {
            Store::Sqlite(s) => {
                for r in sqlx::query(sql).fetch_all(s.pool()).await? {
                    let publication = sqlite_publication(&r)?;
                    out.push((
                        recorded(&publication, r.get("file"), r.get("source")),
                        publication,
                    ));
                }
            }
            Store::Postgres(s) => {
                for r in sqlx::query(sql).fetch_all(s.pool()).await? {
                    let publication = pg_publication(&r)?;
                    out.push((
                        recorded(&publication, r.try_get("file")?, r.try_get("source")?),
                        publication,
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Every publication of `flow_id`, oldest first.
    pub async fn flow_history(&self, flow_id: &str) -> Result<Vec<Publication>, StoreError> {
        match self {
            Store::Sqlite(s) => sqlx::query(
                "SELECT id, flow_id, version, origin, published_by, published_at, note
                 FROM flow_publications WHERE flow_id = ? ORDER BY id",
            )
            .bind(flow_id)
            .fetch_all(s.pool())
            .await?
            .iter()
            .map(sqlite_publication)
            .collect(),
            Store::Postgres(s) => sqlx::query(
                "SELECT id, flow_id, version, origin, published_by, published_at, note
                 FROM flow_publications WHERE flow_id = $1 ORDER BY id",
            )
            .bind(flow_id)
            .fetch_all(s.pool())
            .await?
            .iter()
            .map(pg_publication)
            .collect(),
        }
    }

    /// The text of one recorded version of `flow_id`.
    pub async fn flow_version(
        &self,
        flow_id: &str,
        version: &str,
    ) -> Result<Option<SourceFile>, StoreError> {
        let row: Option<(String, String)> =
            match self {
                Store::Sqlite(s) => {
                    sqlx::query_as(
                        "SELECT file, source FROM flow_versions WHERE flow_id = ? AND version = ?",
                    )
                    .bind(flow_id)
                    .bind(version)
                    .fetch_optional(s.pool())
                    .await?
                }
                Store::Postgres(s) => sqlx::query_as(
                    "SELECT file, source FROM flow_versions WHERE flow_id = $1 AND version = $2",
                )
                .bind(flow_id)
                .bind(version)
                .fetch_optional(s.pool())
                .await?,
            };
        Ok(row.map(|(name, text)| SourceFile { name, text }))
    }
}

fn recorded_name(p: &NewPublication<'_>) -> String {
    match p.origin {
        Origin::File => p.source.name.clone(),
        Origin::Publish | Origin::Console => published_name(&p.source.name),
    }
}

fn recorded(p: &Publication, file: String, source: String) -> RecordedFlow {
    RecordedFlow {
        flow_id: p.flow_id.clone(),
        version: p.version.clone().unwrap_or_default(),
        source: SourceFile {
            name: file,
            text: source,
        },
    }
}

fn sqlite_publication(r: &sqlx::sqlite::SqliteRow) -> Result<Publication, StoreError> {
    Ok(Publication {
        id: r.get("id"),
        flow_id: r.get("flow_id"),
        version: r.get("version"),
        origin: Origin::parse(r.get("origin")),
        published_by: r.get("published_by"),
        published_at: super::sqlite::parse_ts(Some(r.get("published_at")))?.unwrap_or_default(),
        note: r.get("note"),
    })
}

fn pg_publication(r: &sqlx::postgres::PgRow) -> Result<Publication, StoreError> {
    let at: super::postgres::Ts = r.try_get("published_at")?;
    Ok(Publication {
        id: r.try_get("id")?,
        flow_id: r.try_get("flow_id")?,
        version: r.try_get("version")?,
        origin: Origin::parse(r.try_get("origin")?),
        published_by: r.try_get("published_by")?,
        published_at: at.0,
        note: r.try_get("note")?,
    })
}
