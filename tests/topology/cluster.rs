//! Two `civictext serve` replicas on one database, behind nginx running the shipped
//! deploy/nginx.conf.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::database::TestDatabase;
use super::processes::{Guard, free_ports, tail};

pub const AUTH_TOKEN: &str = "topology-test-auth-token";
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const NGINX: &str = "/usr/sbin/nginx";

/// One gateway process and what it takes to start it again.
pub struct Replica {
    pub name: String,
    pub port: u16,
    log: PathBuf,
    command: Box<dyn Fn() -> Command + Send + Sync>,
    guard: Option<Guard>,
    starts: u32,
}

impl Replica {
    fn start(&mut self) {
        self.starts += 1;
        let log = self.log.with_extension(format!("{}.log", self.starts));
        self.guard = Some(Guard::spawn(&self.name, (self.command)(), &log));
    }

    fn current_log(&self) -> PathBuf {
        self.log.with_extension(format!("{}.log", self.starts))
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no chance to finish anything in flight.
    pub fn kill(&mut self) {
        if let Some(g) = self.guard.as_mut() {
            g.kill();
        }
        self.guard = None;
    }

    /// Starts the replica again on the same port and waits until it is ready.
    pub async fn restart(&mut self, client: &reqwest::Client) {
        self.kill();
        self.start();
        self.wait_ready(client).await;
    }

    /// SIGTERM; the exit status if it stopped within `grace`.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.guard.take().and_then(|mut g| g.terminate(grace))
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let url = format!("http://{}/readyz", self.address());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.guard.as_mut().and_then(Guard::exited) {
                panic!(
                    "{} exited during start-up ({status}):\n{}",
                    self.name,
                    tail(&self.current_log(), 40)
                );
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} was not ready within 60 s:\n{}",
                self.name,
                tail(&self.current_log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The running system. Dropping it stops every process and deletes the temporary directory.
pub struct Topology {
    pub replicas: Vec<Replica>,
    pub nginx_port: u16,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    nginx: Option<Guard>,
    dir: tempfile::TempDir,
}

/// True if nginx is installed. Without it the tests cannot run: under CI (`CI=true`) that is a
/// failure; elsewhere the test says plainly, past the test harness's output capture, that it did
/// not run, and passes.
fn nginx_available(test: &str) -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{NGINX} is missing, and under CI the topology tests must run: run .ci/nginx.sh");
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "NOT RUN: {test}: {NGINX} is missing (install nginx, or run `bash .ci/test.sh --install`)"
    );
    false
}

impl Topology {
    /// Starts the system for `test`, or returns None if nginx is not installed (see
    /// [`nginx_available`]).
    pub async fn start(test: &str) -> Option<Topology> {
        if !nginx_available(test) {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        // nginx's workers drop root privileges and must still reach their temp directories.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the temporary directory");
        let db = TestDatabase::create().await;
        let ports = free_ports(3);
        let nginx_port = ports[2];
        let public_url = format!("http://127.0.0.1:{nginx_port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");

        let mut replicas: Vec<Replica> = ["replica-a", "replica-b"]
            .iter()
            .zip(&ports[..2])
            .map(|(name, &port)| {
                let database_url = db.url().to_string();
                let public_url = public_url.clone();
                let cwd = dir.path().to_path_buf();
                Replica {
                    name: name.to_string(),
                    port,
                    log: dir.path().join(name),
                    command: Box::new(move || {
                        replica_command(port, &database_url, &public_url, &cwd)
                    }),
                    guard: None,
                    starts: 0,
                }
            })
            .collect();
        if db.concurrent_migrations() {
            for r in &mut replicas {
                r.start();
            }
            for r in &mut replicas {
                r.wait_ready(&client).await;
            }
        } else {
            for r in &mut replicas {
                r.start();
                r.wait_ready(&client).await;
            }
        }

        let nginx = start_nginx(dir.path(), nginx_port, &replicas);
        let mut topology = Topology {
            replicas,
            nginx_port,
            client,
            db,
            nginx: Some(nginx),
            dir,
        };
        topology.wait_ready_through_nginx().await;
        Some(topology)
    }

    /// The URL Twilio would post to, which is also the URL signatures are computed over.
    pub fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/twilio/sms", self.nginx_port)
    }

    /// nginx's access log: one line per request with the upstream(s) that served it.
    pub fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    pub fn access_log(&self) -> Vec<String> {
        lines(&self.access_log_path())
    }

    async fn wait_ready_through_nginx(&mut self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.nginx_port);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Two answers in a row: round-robin has then asked both replicas.
        let mut ready_in_a_row = 0;
        while ready_in_a_row < 2 {
            if let Some(status) = self.nginx.as_mut().and_then(Guard::exited) {
                panic!(
                    "nginx exited ({status}):\n{}",
                    tail(&self.dir.path().join("error.log"), 40)
                );
            }
            match self.client.get(&url).send().await {
                Ok(r) if r.status() == 200 => ready_in_a_row += 1,
                _ => {
                    ready_in_a_row = 0;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not ready through nginx within 30 s:\n{}",
                tail(&self.dir.path().join("error.log"), 40)
            );
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for r in &self.replicas {
                eprintln!(
                    "---- {} (last lines)\n{}",
                    r.name,
                    tail(&r.current_log(), 30)
                );
            }
            eprintln!(
                "---- nginx error.log (last lines)\n{}",
                tail(&self.dir.path().join("error.log"), 30)
            );
        }
        self.nginx.take();
        for r in &mut self.replicas {
            r.guard.take();
        }
    }
}

/// The lines of a text file, none if it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn replica_command(port: u16, database_url: &str, public_url: &str, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_civictext"));
    c.arg("serve").current_dir(cwd);
    // Nothing from the surrounding environment may change what is being tested.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("CIVICTEXT_") || key.starts_with("TWILIO_") || key == "DATABASE_URL" {
            c.env_remove(key);
        }
    }
    c.env("CIVICTEXT_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env(
            "CIVICTEXT_FLOWS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows"),
        )
        .env("CIVICTEXT_PUBLIC_URL", public_url)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("CIVICTEXT_TIME_ZONE", "UTC")
        .env("CIVICTEXT_RELOAD_INTERVAL", "1")
        .env("RUST_LOG", "info,sqlx=warn,tower_http=warn");
    c
}

/// The shipped deploy/nginx.conf with only its addresses changed, inside a main config that
/// keeps every nginx file in `dir`.
fn start_nginx(dir: &Path, port: u16, replicas: &[Replica]) -> Guard {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"))
            .expect("read deploy/nginx.conf");
    let site = replace_once(
        &shipped,
        "server gateway-1:8080",
        &format!("server {}", replicas[0].address()),
    );
    let site = replace_once(
        &site,
        "server gateway-2:8080",
        &format!("server {}", replicas[1].address()),
    );
    let site = replace_once(&site, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    std::fs::write(dir.join("civictext.conf"), site).expect("write the site config");

    let d = dir.display();
    let main = format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n\
         \x20   log_format topology '$msec $status $request_method $request_uri upstream=$upstream_addr upstream_status=$upstream_status';\n\
         \x20   access_log {d}/access.log topology;\n\
         \x20   client_body_temp_path {d}/client_body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   include {d}/civictext.conf;\n\
         }}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).expect("write nginx.conf");
    let args = |c: &mut Command| {
        c.arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"));
    };
    let mut check = Command::new(NGINX);
    args(&mut check);
    let checked = check.arg("-t").output().expect("run nginx -t");
    assert!(
        checked.status.success(),
        "nginx refuses the config:\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let mut run = Command::new(NGINX);
    args(&mut run);
    Guard::spawn("nginx", run, &dir.join("nginx.out"))
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "deploy/nginx.conf should contain `{from}` exactly once"
    );
    text.replacen(from, to, 1)
}
