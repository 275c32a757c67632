//! `civictext backup FILE`: a consistent copy of the SQLite database, taken while the gateway
//! runs.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Overrides, Settings};

/// Backs up the configured database to `file`.
pub fn run(flags: &Overrides, file: &Path) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    let url = settings.database_url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "the database is PostgreSQL: back it up with its own tool, which also works while \
             the gateway runs:\n  pg_dump --format=custom --file {} '{}'\nand restore with \
             pg_restore (see docs/operations.md, \"Backups\")",
            file.display(),
            redact_password(url)
        );
    }
    if !url.starts_with("sqlite:") {
        anyhow::bail!("unsupported DATABASE_URL {url:?}: backups are for sqlite://FILE");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let backup = runtime
        .block_on(crate::store::backup::sqlite(url, file))
        .with_context(|| format!("backing up {url} to {}", file.display()))?;
    println!(
        "backed up {url} to {} ({} bytes, integrity check ok)",
        file.display(),
        backup.bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// The URL with any password replaced by `***`, for printing.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn a_password_in_the_url_is_never_printed() {
        assert_eq!(
            redact_password("postgres://app:s3cret@db.internal:5432/civictext"),
            "postgres://app:***@db.internal:5432/civictext"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1/civictext"),
            "postgres://postgres@127.0.0.1/civictext"
        );
        assert_eq!(
            redact_password("postgres://h/db?x=@"),
            "postgres://h/db?x=@"
        );
    }
}
