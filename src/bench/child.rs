//! The servers under test run as child processes, so the generator never shares their runtime
//! or their cores' scheduler queue; their peak memory is read from /proc.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A server process on a loopback port.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

/// A free loopback port (the kernel's pick; released for the child to bind).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

impl Server {
    /// Starts this program with `args` and `env` in `dir` and waits until `GET /healthz` answers.
    pub async fn start(
        args: &[&str],
        env: &[(&str, String)],
        dir: &Path,
        addr: SocketAddr,
    ) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("cannot find this program")?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .env_remove("CIVICTEXT_CONFIG")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("cannot start the server")?;
        let mut server = Server { child, addr };
        let client = reqwest::Client::builder().no_proxy().build()?;
        let url = format!("http://{addr}/healthz");
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited during start-up ({status})");
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the server did not answer {url} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory so far, in MiB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        peak_rss_mb(&format!("/proc/{}/status", self.pid()))
    }

    /// SIGTERM (graceful: requests in flight finish), then SIGKILL after 10 s.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `VmHWM` (peak resident set) from a /proc status file, in MiB.
pub fn peak_rss_mb(status_file: &str) -> Option<f64> {
    parse_vm_hwm(&std::fs::read_to_string(status_file).ok()?)
}

fn parse_vm_hwm(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_mib() {
        let status =
            "Name:\tcivictext\nVmPeak:\t  300000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(50.0));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }
}
