//! Prism serving Twilio's published OpenAPI contract on loopback: it answers with the contract's
//! examples and, started with `--errors`, refuses a request that breaks the contract (422) and
//! reports an answer of its own that breaks it (500). Installed by `.ci/test.sh` with
//! `npm ci --prefix .ci/prism`.

use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Twilio's OpenAPI description, copied into the repository (source and licence in the README
/// beside it).
pub fn twilio_api_description() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/twilio/twilio_api_v2010.json")
}

/// A loopback port nobody listens on at the moment.
pub fn free_loopback_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running Prism mock server, killed when dropped.
pub struct Prism {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Prism {
    /// Starts Prism with `--errors` on a free loopback port and waits until it listens.
    pub fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = root.join(".ci/prism/node_modules/.bin/prism");
        assert!(
            bin.exists(),
            "{} is missing: run `npm ci --prefix .ci/prism` in the repository root",
            bin.display()
        );
        let spec = twilio_api_description();
        assert!(spec.exists(), "{} is missing", spec.display());
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let port = free_loopback_port();
        let child = Command::new(&bin)
            .args([
                "mock",
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .arg(&spec)
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log file"))
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut prism = Self { child, port, log };
        prism.wait_until_listening(Duration::from_secs(90));
        prism
    }

    fn wait_until_listening(&mut self, limit: Duration) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Prism exited with {status}:\n{}", self.log_text());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "Prism did not listen on {addr} within {limit:?}:\n{}",
            self.log_text()
        );
    }

    /// What Prism has logged so far (each request, and each contract violation it found).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The API base URL to configure (`twilio_api_base`).
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
