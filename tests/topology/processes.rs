//! Child processes that never outlive the test: gateway replicas and nginx.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Free loopback ports, all distinct. The listeners are closed on return, so another process
/// could take one in between; on a test machine that is rare enough.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// A child process that is stopped when dropped: SIGTERM first (nginx's master must stop its
/// workers itself), SIGKILL if it has not exited shortly after.
pub struct Guard {
    child: Option<Child>,
}

impl Guard {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Guard {
        let out = File::create(log).expect("create a log file");
        let err = out.try_clone().expect("clone the log file");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Guard { child: Some(child) }
    }

    /// Whether the process is still running (and its exit status if not).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("poll a child"))
    }

    /// SIGKILL, as an out-of-memory kill or a lost machine would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, as an orchestrator stops a process; returns its exit status, or None if it did
    /// not exit within `grace` (it is then killed).
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// The last `lines` lines of a log file, for failure messages.
pub fn tail(path: &PathBuf, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
