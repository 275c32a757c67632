//! The database failing under a running gateway: a SQLite file that cannot be written for a
//! while, a PostgreSQL server that stops answering, a lock held by someone else. The gateway
//! must say it is not ready while it cannot store texts, answer every webhook within its
//! deadline, store each text once or not at all, and recover without a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::postgres::TempPostgres;
use common::{Backend, TestApp, new_sid, phone, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WELCOME: &str = "Welcome to the Riverside Park survey.";

/// GET /readyz, timed.
async fn readyz(app: &TestApp) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = app.get("/readyz").await;
    (status.as_u16(), started.elapsed())
}

/// Polls /readyz (each answer within a second) until it answers `want`, for up to `limit`.
async fn readyz_becomes(app: &TestApp, want: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let (status, took) = readyz(app).await;
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
        if status == want {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The immutable attribute on a set of files while this value lives.
///
/// This is how the tests make the SQLite database unwritable, as a backup or snapshot tool can:
/// `chattr +i` on the database file and its `-wal` file. `chmod` would not do it,
/// because these tests run as root and root writes through any mode bits; a full disk would
/// need a mount (a small tmpfs), which a CI container rarely may make. With the flag set, the
/// gateway's open connection fails its next write with a disk I/O error and any connection
/// opened meanwhile is read-only, which is exactly the state that used to outlive the fault.
/// ext4, xfs, btrfs and tmpfs (Linux 6.0+) support the flag; the test fails loudly where it is
/// refused rather than pass without the fault. The `-shm` file is left alone: SQLite maps it into
/// memory, and a frozen mapping ends the process with SIGBUS instead of failing a write.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: &[PathBuf]) -> Immutable {
        let out = Command::new("chattr")
            .arg("+i")
            .args(files)
            .output()
            .expect("chattr runs (package e2fsprogs)");
        assert!(
            out.status.success(),
            "chattr +i failed (needs root and a filesystem with the immutable flag): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Immutable(files.to_vec())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").args(&self.0).status();
    }
}

/// A gateway on a SQLite file whatever `CIVICTEXT_TEST_BACKEND` says, and the file's path.
async fn sqlite_app(tweak: impl FnOnce(&mut civictext::config::Settings)) -> (TestApp, PathBuf) {
    let app = spawn_app_with(|s| {
        let dir = s.flows.parent().expect("flows live in the test directory");
        s.database_url = format!("sqlite://{}", dir.join("faults.db").display());
        tweak(s);
    })
    .await;
    let file = app.dir.path().join("faults.db");
    (app, file)
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", file.display()))
}

#[tokio::test]
async fn a_sqlite_file_that_cannot_be_written_for_a_while_makes_the_gateway_unready_then_serves_again()
 {
    let (app, file) = sqlite_app(|_| {}).await;
    assert_eq!(app.say(&phone(1), "PARKS").await[0], WELCOME);
    assert_eq!(readyz(&app).await.0, 200);

    let files = [file.clone(), with_suffix(&file, "-wal")];
    let lost_sid = new_sid();
    {
        let _frozen = Immutable::set(&files);
        // Texts arriving meanwhile fail, promptly: Twilio keeps them for a retry.
        for (i, sid) in [new_sid(), new_sid(), lost_sid.clone()].iter().enumerate() {
            let started = Instant::now();
            let (status, body) = app.text_with_sid(&phone(10 + i as u32), "PARKS", sid).await;
            assert!(
                status.is_server_error(),
                "stored on a read-only file? {status} {body}"
            );
            assert!(started.elapsed() < Duration::from_secs(3));
        }
        assert!(
            readyz_becomes(&app, 503, Duration::from_secs(5)).await,
            "/readyz stayed 200 while no text could be stored"
        );
        // Still unready while the fault lasts, not just once.
        assert_eq!(readyz(&app).await.0, 503);
    }

    assert!(
        readyz_becomes(&app, 200, Duration::from_secs(5)).await,
        "/readyz did not recover once the file could be written again"
    );
    assert_eq!(app.say(&phone(20), "PARKS").await[0], WELCOME);
    // Twilio's retry of a text refused during the fault is stored now, once.
    let (status, twiml) = app.text_with_sid(&phone(12), "PARKS", &lost_sid).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(common::messages(&twiml)[0], WELCOME);
    let stored = app
        .count(
            "messages",
            &format!("sid = '{lost_sid}' AND direction = 'in'"),
        )
        .await;
    assert_eq!(stored, 1);
    // The conversation goes on from there.
    assert!(!app.say(&phone(20), "1").await.is_empty());
}

#[tokio::test]
async fn texts_are_stored_again_without_a_restart_once_the_sqlite_file_is_writable_again() {
    let (app, file) = sqlite_app(|_| {}).await;
    assert_eq!(app.say(&phone(1), "PARKS").await[0], WELCOME);
    {
        let _frozen = Immutable::set(&[file.clone(), with_suffix(&file, "-wal")]);
        // The first failure makes the writer start over on a new connection, while the file
        // still cannot be written; later texts find it the same.
        for i in 0..3 {
            let (status, _) = app.text(&phone(2 + i), "PARKS").await;
            assert!(status.is_server_error());
        }
    }
    let mut stored = 0;
    for i in 0..5 {
        let (status, twiml) = app.text(&phone(10 + i), "PARKS").await;
        if status == 200 {
            assert_eq!(common::messages(&twiml)[0], WELCOME);
            stored += 1;
        }
    }
    assert_eq!(
        stored, 5,
        "texts kept failing after the file could be written again"
    );
}

/// A TCP relay to PostgreSQL that can be cut: while cut, nothing passes in either direction
/// and new connections are accepted but never answered — a server behind a dead network
/// path, which is harder on a client than a refused connection.
struct Relay {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, flag.clone()));
                    pump(sr, cw, flag).await;
                });
            }
        });
        Relay { addr, cut }
    }

    fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding every chunk back while the relay is cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn an_unreachable_postgres_makes_readiness_fail_within_a_second_and_webhooks_answer_in_time()
{
    let pg = TempPostgres::create().await;
    let mut url = reqwest::Url::parse(&pg.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let upstream = tokio::net::lookup_host(upstream)
        .await
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::start(upstream).await;
    url.set_port(Some(relay.addr.port())).unwrap();
    let app = spawn_app_with(|s| {
        s.database_url = url.to_string();
        s.webhook_deadline = 3;
    })
    .await;
    assert_eq!(app.say(&phone(1), "PARKS").await[0], WELCOME);
    assert_eq!(readyz(&app).await.0, 200);

    relay.cut(true);
    for _ in 0..3 {
        let (status, took) = readyz(&app).await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
    }
    let sid = new_sid();
    let started = Instant::now();
    let (status, _) = app.text_with_sid(&phone(2), "PARKS", &sid).await;
    let took = started.elapsed();
    assert_eq!(status, 503);
    assert!(
        took < Duration::from_secs(4),
        "answered after {took:?} with a 3 s deadline"
    );
    // /healthz is liveness: the process is fine.
    assert_eq!(app.get("/healthz").await.0, 200);

    relay.cut(false);
    assert!(
        readyz_becomes(&app, 200, Duration::from_secs(20)).await,
        "/readyz did not recover with the database back"
    );
    let (status, twiml) = app.text_with_sid(&phone(2), "PARKS", &sid).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(common::messages(&twiml)[0], WELCOME);
    let direct = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE sid = $1 AND direction = 'in'")
            .bind(&sid)
            .fetch_one(&direct)
            .await
            .unwrap();
    assert_eq!(stored, 1);
    direct.close().await;
}

/// Holds the database's write lock (SQLite) or a lock on the contacts table (PostgreSQL) from
/// another connection, as a maintenance job or a stuck client would, until dropped.
enum Blocker {
    Sqlite(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

async fn block_writes(app: &TestApp) -> Blocker {
    let url = &app.settings.database_url;
    match common::backend() {
        Backend::Sqlite => {
            let file = PathBuf::from(url.trim_start_matches("sqlite://"));
            let (release, released) = std::sync::mpsc::channel::<()>();
            let (locked, is_locked) = std::sync::mpsc::channel::<()>();
            let holder = std::thread::spawn(move || {
                let conn = rusqlite::Connection::open(file).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                locked.send(()).unwrap();
                let _ = released.recv();
                conn.execute_batch("ROLLBACK").unwrap();
            });
            is_locked.recv().unwrap();
            Blocker::Sqlite(release, holder)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            Blocker::Postgres(tx)
        }
    }
}

impl Blocker {
    async fn release(self) {
        match self {
            Blocker::Sqlite(release, holder) => {
                release.send(()).unwrap();
                holder.join().unwrap();
            }
            Blocker::Postgres(tx) => tx.rollback().await.unwrap(),
        }
    }
}

#[tokio::test]
async fn a_text_waiting_on_a_held_lock_is_answered_at_the_deadline_and_stored_once_on_retry() {
    let app = spawn_app_with(|s| s.webhook_deadline = 2).await;
    assert_eq!(app.say(&phone(1), "PARKS").await[0], WELCOME);

    let blocker = block_writes(&app).await;
    let sid = new_sid();
    let started = Instant::now();
    let (status, _) = app.text_with_sid(&phone(2), "PARKS", &sid).await;
    let took = started.elapsed();
    assert_eq!(status, 503);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
        "answered after {took:?} with a 2 s deadline"
    );
    blocker.release().await;

    // Nobody was told it was stored, so it is not: not even once the lock is free.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let where_sid = format!("sid = '{sid}' AND direction = 'in'");
    assert_eq!(app.count("messages", &where_sid).await, 0);
    // Twilio's retry stores it, once.
    let (status, twiml) = app.text_with_sid(&phone(2), "PARKS", &sid).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(common::messages(&twiml)[0], WELCOME);
    assert_eq!(app.count("messages", &where_sid).await, 1);
}
