//! Fresh PostgreSQL databases for tests: one per test, created on the server named by
//! `CIVICTEXT_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped
//! when the test is done. Tests fail when that server cannot be reached: start it with
//! `.ci/postgres.sh`.

use std::time::Duration;

use rand::Rng;
use sqlx::Connection;

/// The server tests create their databases on unless `CIVICTEXT_TEST_POSTGRES` says otherwise.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A PostgreSQL database of its own, dropped (with any connections still open to it) when this
/// value is dropped.
pub struct TempPostgres {
    /// The database's URL, for `Settings::database_url` or `Store::connect`.
    pub url: String,
    admin: String,
    name: String,
}

impl TempPostgres {
    /// Creates an empty database named `civictext_test_<pid>_<random>`.
    pub async fn create() -> TempPostgres {
        let admin =
            std::env::var("CIVICTEXT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
        let mut conn = match tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(&admin),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "PostgreSQL is not reachable at {admin}: {e}\n\
                 Start it with .ci/postgres.sh, or set CIVICTEXT_TEST_POSTGRES to a server's URL."
            ),
            Err(_) => panic!(
                "PostgreSQL at {admin} did not answer within 10s.\n\
                 Start it with .ci/postgres.sh, or set CIVICTEXT_TEST_POSTGRES to a server's URL."
            ),
        };
        let name = format!(
            "civictext_test_{}_{:016x}",
            std::process::id(),
            rand::thread_rng().r#gen::<u64>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name} at {admin}: {e}"));
        let _ = conn.close().await;
        TempPostgres {
            url: with_database(&admin, &name),
            admin,
            name,
        }
    }

    /// The database's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Dropping happens inside the test's runtime, which cannot be blocked on: use another.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

/// `admin` with its database replaced by `name`, keeping any query string.
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}
