//! The database the replicas share, a fresh PostgreSQL database for each test, and read back by
//! the checks.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::postgres::PgPool;

// Shared with the other suites; not every helper there is used here.
#[allow(dead_code)]
#[path = "../common/postgres.rs"]
mod temp;

/// A fresh, empty database on the server at `CIVICTEXT_TEST_POSTGRES`, dropped afterwards.
pub struct TestDatabase(temp::TempPostgres);

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        TestDatabase(temp::TempPostgres::create().await)
    }

    /// The `DATABASE_URL` the replicas get.
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Whether the replicas may run their start-up migrations at the same time (PostgreSQL
    /// serialises them with the migrator's lock, and that is worth exercising).
    pub fn concurrent_migrations(&self) -> bool {
        true
    }

    pub async fn reader(&self) -> Reader {
        Reader(
            PgPool::connect(&self.0.url)
                .await
                .expect("open the database"),
        )
    }
}

/// Read access for the checks. Every query casts its columns to text so one code path reads
/// either database.
pub struct Reader(PgPool);

impl Reader {
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.0)
            .await
            .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"));
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    }

    /// For every inbound MessageSid: how many rows it has.
    pub async fn inbound_counts(&self) -> BTreeMap<String, u32> {
        self.rows(
            "SELECT sid, CAST(COUNT(*) AS TEXT) FROM messages WHERE direction = 'in' GROUP BY sid",
        )
        .await
        .into_iter()
        .map(|r| (text(&r[0]), text(&r[1]).parse().expect("a count")))
        .collect()
    }

    /// For every inbound MessageSid: the bodies of the replies stored with it, in order.
    pub async fn replies(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self
            .rows(
                "SELECT i.sid, o.body FROM messages o JOIN messages i ON i.id = o.reply_to \
                 WHERE o.direction = 'out' ORDER BY o.id",
            )
            .await
        {
            out.entry(text(&r[0])).or_default().push(text(&r[1]));
        }
        out
    }

    /// Every session of the contact with this phone number: (flow, status).
    pub async fn sessions(&self, phone: &str) -> Vec<(String, String)> {
        self.rows(&format!(
            "SELECT s.flow_id, s.status FROM sessions s JOIN contacts c ON c.id = s.contact_id \
             WHERE c.phone = '{phone}' ORDER BY s.id"
        ))
        .await
        .into_iter()
        .map(|r| (text(&r[0]), text(&r[1])))
        .collect()
    }

    /// Every stored answer of the contact with this phone number: (question, value), by question.
    pub async fn answers(&self, phone: &str) -> Vec<(String, String)> {
        self.rows(&format!(
            "SELECT a.question, a.value FROM answers a JOIN contacts c ON c.id = a.contact_id \
             WHERE c.phone = '{phone}' ORDER BY a.question, a.id"
        ))
        .await
        .into_iter()
        .map(|r| (text(&r[0]), text(&r[1])))
        .collect()
    }
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}
