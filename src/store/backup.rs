//! Online backups of the SQLite database: a consistent copy taken while the gateway keeps
//! serving. (PostgreSQL has its own tools, `pg_dump` and `pg_restore`; see docs/operations.md.)

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::StoreError;

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The backup file's size in bytes.
    pub bytes: u64,
}

/// Copies the SQLite database at `url` (`sqlite://FILE`) to the new file `dest`, while other
/// processes keep reading and writing it, then checks the copy's integrity.
///
/// `VACUUM INTO` writes a transactionally consistent snapshot (as of the moment it starts)
/// through an ordinary read transaction, so the running gateway's writes are neither blocked for
/// long nor half-copied. The source is opened read-only and never migrated: a newer binary must
/// not change the schema under a running older gateway just by backing it up. `dest` must not
/// exist.
pub async fn sqlite(url: &str, dest: &Path) -> Result<Backup, StoreError> {
    if dest.exists() {
        return Err(StoreError::Invalid(format!(
            "{} already exists: back up to a new file",
            dest.display()
        )));
    }
    let dest_text = dest
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not a UTF-8 path", dest.display())))?;
    let source = SqliteConnectOptions::from_str(url)?;
    if !source.get_filename().exists() {
        return Err(StoreError::Invalid(format!(
            "no database at {}",
            source.get_filename().display()
        )));
    }
    let mut conn = source
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO ?")
        .bind(dest_text)
        .execute(&mut conn)
        .await?;
    conn.close().await?;

    let mut copy = SqliteConnectOptions::new()
        .filename(dest)
        .read_only(true)
        .connect()
        .await?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await?;
    copy.close().await?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt(format!(
            "the backup {} fails its integrity check: {verdict}",
            dest.display()
        )));
    }
    let bytes = std::fs::metadata(dest)
        .map_err(|e| StoreError::Invalid(format!("cannot read {}: {e}", dest.display())))?
        .len();
    Ok(Backup { bytes })
}
