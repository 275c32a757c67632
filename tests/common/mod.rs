//! Black-box harness: a real gateway on a random loopback port, a database of its own, a copy of
//! the fixture flows in a temporary directory, and signed Twilio-style form posts.
//!
//! `CIVICTEXT_TEST_BACKEND` picks the database: `sqlite` (the default; a file in the temporary
//! directory) or `postgres` (a fresh database per gateway, see [`postgres`], dropped with it).
//! Assertions read the database through [`TestDb`], in SQL both backends understand.

#![allow(dead_code)]

pub mod console;
pub mod postgres;
pub mod prism;
pub mod twilio_stub;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use civictext::channel::twilio::signature;
use civictext::config::Settings;
use civictext::startup::Application;
use quick_xml::events::Event;
use reqwest::StatusCode;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, PgPool, Postgres, Sqlite, SqlitePool};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Twilio auth token the test gateway verifies signatures with.
pub const TEST_TOKEN: &str = "test-auth-token-3f9a1c";
/// The public URL Twilio is configured to call.
pub const PUBLIC_URL: &str = "https://sms.example.gov";
/// The webhook path below the public URL.
pub const SMS_PATH: &str = "/webhooks/twilio/sms";
/// The Twilio account the test webhooks are signed for.
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The city's number residents text.
pub const CITY_NUMBER: &str = "+15025550000";

/// The fixture flows shipped with the tests.
pub fn fixture_flows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows")
}

/// The flows shipped with the product.
pub fn shipped_flows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows")
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,sqlx=warn")
                .with_test_writer()
                .try_init();
        }
    });
}

/// A fresh `MessageSid`: `SM` and 32 hex digits, unique within the test run.
pub fn new_sid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u64 = rand::random();
    format!("SM{r:016x}{:08x}{n:08x}", std::process::id())
}

/// The database backend the black-box tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend named by `CIVICTEXT_TEST_BACKEND` (`sqlite` when unset).
pub fn backend() -> Backend {
    match std::env::var("CIVICTEXT_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") | Ok("postgresql") => Backend::Postgres,
        Ok(other) => panic!("CIVICTEXT_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// A value one column of a result row decodes into on both backends (`String`, `i64` for
/// `COUNT(*)` and `BIGINT`, `i32` for `INTEGER`, `bool`, `Option` of these).
pub trait Column:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Send
        + Unpin
{
}

/// A result row both backends decode into (tuples of [`Column`]s).
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// A connection pool on the gateway's own database, for assertions.
///
/// Queries are written once for both backends: `$1`, `$2`… for parameters (SQLite accepts them
/// too), `TRUE` rather than `1` for "every row", and `CAST(… AS TEXT)` for columns PostgreSQL
/// stores as JSONB or TIMESTAMPTZ where SQLite stores text.
pub enum TestDb {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl TestDb {
    /// All rows of `sql`, with `binds` as `$1`, `$2`….
    pub async fn rows<T: Row>(&self, sql: &str, binds: &[&str]) -> Vec<T> {
        match self {
            TestDb::Sqlite(pool) => {
                let mut q = sqlx::query_as::<Sqlite, T>(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(pool).await
            }
            TestDb::Postgres(pool) => {
                let mut q = sqlx::query_as::<Postgres, T>(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(pool).await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first row of `sql`, which must return one.
    pub async fn row<T: Row>(&self, sql: &str, binds: &[&str]) -> T {
        self.rows(sql, binds)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// The first column of every row of `sql`.
    pub async fn scalars<T: Column>(&self, sql: &str, binds: &[&str]) -> Vec<T> {
        self.rows::<(T,)>(sql, binds)
            .await
            .into_iter()
            .map(|(v,)| v)
            .collect()
    }

    /// Runs `sql`, which returns no rows (a change made behind the gateway's back, as an
    /// operator at a database prompt would).
    pub async fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            TestDb::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The first column of the first row of `sql`, which must return one.
    pub async fn scalar<T: Column>(&self, sql: &str, binds: &[&str]) -> T {
        self.row::<(T,)>(sql, binds).await.0
    }
}

/// The content type Twilio posts webhooks with.
pub const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// A gateway under test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub settings: Settings,
    /// Holds the flows directory (and, on SQLite, the database file).
    pub dir: TempDir,
    pub client: reqwest::Client,
    db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// The PostgreSQL database, dropped after the gateway has been told to stop.
    postgres: Option<postgres::TempPostgres>,
}

/// A gateway with a signing token, on the fixture flows.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A gateway on the fixture flows, with `tweak` applied to its settings first.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(&fixture_flows(), tweak).await
}

/// A gateway serving a copy of the flows in `flows`.
pub async fn spawn_app_on(flows: &Path, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir(&flows_dir).unwrap();
    for entry in std::fs::read_dir(flows).expect("the flows directory") {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, flows_dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let postgres = match backend() {
        Backend::Sqlite => None,
        Backend::Postgres => Some(postgres::TempPostgres::create().await),
    };
    let database_url = match &postgres {
        None => format!("sqlite://{}", dir.path().join("civictext.db").display()),
        Some(pg) => pg.url.clone(),
    };
    let mut settings = Settings {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url,
        flows: flows_dir,
        public_url: Some(PUBLIC_URL.into()),
        twilio_auth_token: Some(TEST_TOKEN.into()),
        twilio_account_sid: None,
        organization: "City of Testville".into(),
        help_contact: "call 311".into(),
        organization_by_language: Default::default(),
        help_contact_by_language: Default::default(),
        time_zone: Some("America/Kentucky/Louisville".into()),
        reload_interval: 1,
        log_format: "text".into(),
        ..Settings::default()
    };
    tweak(&mut settings);
    let (addr, shutdown, server) = start(&settings).await;
    let db = if settings.database_url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(&settings.database_url)
            .unwrap()
            .busy_timeout(Duration::from_secs(10));
        TestDb::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .expect("the test database opens"),
        )
    } else {
        TestDb::Postgres(
            PgPoolOptions::new()
                .max_connections(2)
                .connect(&settings.database_url)
                .await
                .expect("the test database opens"),
        )
    };
    TestApp {
        addr,
        settings,
        dir,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        db,
        shutdown: Some(shutdown),
        server: Some(server),
        postgres,
    }
}

async fn start(
    settings: &Settings,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<anyhow::Result<()>>,
) {
    let app = Application::build(settings)
        .await
        .expect("the gateway builds");
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    (addr, tx, server)
}

impl TestApp {
    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The directory of flows this gateway serves (a private copy: edit freely).
    pub fn flows_dir(&self) -> &Path {
        &self.settings.flows
    }

    /// The gateway's own database, for assertions.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// A resident at `from` texts `body`: a signed webhook with a fresh MessageSid. Returns the
    /// status and the response body (TwiML when 200).
    pub async fn text(&self, from: &str, body: &str) -> (StatusCode, String) {
        self.text_with_sid(from, body, &new_sid()).await
    }

    /// Like [`TestApp::text`] with a given MessageSid (repeat deliveries).
    pub async fn text_with_sid(&self, from: &str, body: &str, sid: &str) -> (StatusCode, String) {
        self.post_signed(&sms_params(from, body, sid)).await
    }

    /// A resident sends a picture message (one image) with `body`.
    pub async fn text_photo(&self, from: &str, body: &str, url: &str) -> (StatusCode, String) {
        let mut params = sms_params(from, body, &new_sid());
        params.retain(|(k, _)| k != "NumMedia");
        params.push(("NumMedia".into(), "1".into()));
        params.push(("MediaUrl0".into(), url.into()));
        params.push(("MediaContentType0".into(), "image/jpeg".into()));
        self.post_signed(&params).await
    }

    /// Posts `params` to the webhook, signed for the public URL as Twilio would.
    pub async fn post_signed(&self, params: &[(String, String)]) -> (StatusCode, String) {
        let sig = signature::compute(TEST_TOKEN, &format!("{PUBLIC_URL}{SMS_PATH}"), params);
        self.post_raw(
            SMS_PATH,
            Some("application/x-www-form-urlencoded"),
            encode_form(params).into_bytes(),
            Some(&sig),
        )
        .await
    }

    /// Posts `body` as-is to `path_and_query` with the given content type and
    /// `X-Twilio-Signature` header (each left out when None).
    pub async fn post_raw(
        &self,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        signature: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = self.client.post(self.url(path_and_query)).body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(sig) = signature {
            req = req.header("X-Twilio-Signature", sig);
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    }

    /// POSTs `params` as a form body to `path_and_query` with an optional signature header.
    pub async fn post_form(
        &self,
        path_and_query: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> (StatusCode, String) {
        self.post_raw(
            path_and_query,
            FORM,
            encode_form(params).into_bytes(),
            signature,
        )
        .await
    }

    /// Asserts a refused request left no message and no contact behind.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(
            self.count("messages", "TRUE").await,
            0,
            "a message was stored"
        );
        assert_eq!(
            self.count("contacts", "TRUE").await,
            0,
            "a contact was stored"
        );
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the gateway answers");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    }

    /// A signed text that must succeed; returns the `<Message>` texts of the reply.
    pub async fn say(&self, from: &str, body: &str) -> Vec<String> {
        let (status, twiml) = self.text(from, body).await;
        assert_eq!(status, StatusCode::OK, "texting {body:?} failed: {twiml}");
        messages(&twiml)
    }

    /// Counts rows of `table` matching the SQL condition `where_` (`"TRUE"` for all of them).
    pub async fn count(&self, table: &str, where_: &str) -> i64 {
        self.db
            .scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {where_}"), &[])
            .await
    }

    /// Stops the gateway gracefully and builds it again on the same database and flows.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (addr, shutdown, server) = start(&self.settings).await;
        self.addr = addr;
        self.shutdown = Some(shutdown);
        self.server = Some(server);
    }

    /// Stops the gateway gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
    }

    /// Polls `check` every 100 ms until it returns true or `timeout` passes.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if check().await {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The webhook parameters Twilio sends for a plain SMS.
pub fn sms_params(from: &str, body: &str, sid: &str) -> Vec<(String, String)> {
    vec![
        ("ToCountry".into(), "US".into()),
        ("SmsMessageSid".into(), sid.into()),
        ("NumMedia".into(), "0".into()),
        ("SmsSid".into(), sid.into()),
        ("SmsStatus".into(), "received".into()),
        ("Body".into(), body.into()),
        ("To".into(), CITY_NUMBER.into()),
        ("NumSegments".into(), "1".into()),
        ("MessageSid".into(), sid.into()),
        (
            "AccountSid".into(),
            "AC00000000000000000000000000000000".into(),
        ),
        ("From".into(), from.into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ]
}

/// `application/x-www-form-urlencoded`, as Twilio writes it.
pub fn encode_form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The texts of the `<Message>` elements of a TwiML reply, checking its shape on the way: an
/// XML declaration, one `<Response>` holding only `<Message>` elements without attributes,
/// each holding only text.
pub fn messages(twiml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(twiml);
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut saw_response = false;
    loop {
        match reader.read_event() {
            Err(e) => panic!("the reply is not well-formed XML ({e}): {twiml}"),
            Ok(Event::Eof) => break,
            Ok(Event::Decl(_)) => {}
            Ok(Event::Start(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match (path.len(), name.as_str()) {
                    (0, "Response") => saw_response = true,
                    (1, "Message") => {
                        assert!(
                            e.attributes().next().is_none(),
                            "a <Message> carries attributes: {twiml}"
                        );
                        current = Some(String::new());
                    }
                    _ => panic!("unexpected <{name}> at depth {}: {twiml}", path.len()),
                }
                path.push(name);
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match (path.len(), name.as_str()) {
                    (0, "Response") => saw_response = true,
                    (1, "Message") => out.push(String::new()),
                    _ => panic!("unexpected <{name}/> at depth {}: {twiml}", path.len()),
                }
            }
            Ok(Event::End(_)) => {
                if path.pop().as_deref() == Some("Message") {
                    out.push(current.take().expect("an open message"));
                }
            }
            Ok(Event::Text(t)) => {
                let text = t.unescape().expect("valid entities").into_owned();
                match current.as_mut() {
                    Some(c) => c.push_str(&text),
                    None => assert!(
                        text.trim().is_empty(),
                        "text outside <Message>: {text:?} in {twiml}"
                    ),
                }
            }
            Ok(Event::CData(c)) => match current.as_mut() {
                Some(cur) => cur.push_str(std::str::from_utf8(&c).unwrap()),
                None => panic!("CDATA outside <Message>: {twiml}"),
            },
            Ok(other) => panic!("unexpected XML event {other:?} in {twiml}"),
        }
    }
    assert!(saw_response, "no <Response> in {twiml}");
    out
}

/// The last `<Message>` of a reply joined with the others, for "contains" checks.
pub fn joined(msgs: &[String]) -> String {
    msgs.join("\n")
}

/// A phone number unique to the calling test, so tests sharing a gateway never collide.
pub fn phone(n: u32) -> String {
    format!("+1502555{n:04}")
}

impl TestApp {
    /// Files a pothole report at `address` by text through the shipped `service-request` flow
    /// (the gateway must serve the shipped flows), in English or (`es`) Spanish; returns the
    /// tracking code the resident was given.
    pub async fn report_pothole(&self, from: &str, address: &str, lang: &str) -> String {
        let (keyword, yes, skip) = match lang {
            "es" => ("REPORTE", "sí", "SALTAR"),
            _ => ("REPORT", "yes", "SKIP"),
        };
        for text in [keyword, "1", address, yes, skip] {
            self.say(from, text).await;
        }
        let last = joined(&self.say(from, skip).await);
        let code = last
            .rsplit(' ')
            .next()
            .filter(|c| c.len() == 9 && c.as_bytes()[4] == b'-')
            .unwrap_or_else(|| panic!("no tracking code in {last:?}"));
        code.to_string()
    }

    /// The `civictext` binary, set to run `args` the way staff would on this gateway's machine:
    /// in the gateway's directory, against its database and flows and in its time zone, with
    /// nothing else from the environment (add `.env(…)` for more).
    pub fn civictext_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_civictext"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        if let Some(zone) = &self.settings.time_zone {
            cmd.env("CIVICTEXT_TIME_ZONE", zone);
        }
        cmd.args(args)
            .args(["--database-url", &self.settings.database_url])
            .arg("--flows")
            .arg(self.flows_dir());
        cmd
    }

    /// Runs `civictext ARGS` (see [`TestApp::civictext_command`]) and returns how it went,
    /// success or not.
    pub fn civictext_output(&self, args: &[&str]) -> std::process::Output {
        self.civictext_command(args)
            .output()
            .expect("civictext runs")
    }

    /// Runs `civictext ARGS` (see [`TestApp::civictext_command`]), fails the test with its
    /// output unless it succeeds, and returns what it printed.
    pub fn civictext(&self, args: &[&str]) -> String {
        let out = self.civictext_output(args);
        assert!(
            out.status.success(),
            "civictext {} failed ({})\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// A new API token with `scopes` (comma-separated), made with `civictext tokens create`.
    pub fn token(&self, name: &str, scopes: &str) -> String {
        let out = self.civictext(&["tokens", "create", "--name", name, "--scope", scopes]);
        out.lines()
            .last()
            .expect("the token is printed")
            .to_string()
    }
}

/// Records an opt-in for each of `phones`, as an imported signup list with its source does
/// (keyed for this installation, as `broadcast --csv` keys them).
pub async fn consenting(store: &civictext::store::Store, phones: &[impl AsRef<str>]) {
    let pseudonyms = civictext::startup::pseudonyms(&Settings::default(), store)
        .await
        .expect("the installation's pseudonym key");
    let rows: Vec<_> = phones
        .iter()
        .map(|p| civictext::store::ImportedConsent {
            phone: p.as_ref().to_string(),
            source: "import:fair-signup-sheet".into(),
            given_at: "2026-05-01T15:00:00Z".parse().unwrap(),
            topic: None,
            erased_hash: pseudonyms.erased_number(p.as_ref()),
        })
        .collect();
    store
        .import_consents(&rows, jiff::Timestamp::now())
        .await
        .expect("consents recorded");
}

/// A program from the pinned Python tools in `.ci/venv` (made by `.ci/python.sh`). None, after
/// saying loudly that the calling test did not run, when the venv is missing outside CI; under
/// CI (`CI=true`) a missing venv fails the test.
pub fn ci_venv_program(name: &str, test: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/venv/bin")
        .join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: .ci/test.sh runs .ci/python.sh to create it",
        path.display()
    );
    eprintln!(
        "NOT RUN: {test} needs {} (run `bash .ci/python.sh`)",
        path.display()
    );
    None
}
