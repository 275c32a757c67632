//! Drives a [`Plan`] against a gateway: each resident's texts in order (the next only after the
//! reply to the previous, as a phone would), many residents at once, optionally paced to an
//! offered rate, bounded by the plan's size and a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::plan::{Plan, SMS_PATH};
use super::stats::{self, Latency};

/// How hard to push.
#[derive(Debug, Clone)]
pub struct Load {
    /// Residents in conversation at once (each waits for its reply before its next text).
    pub concurrency: usize,
    /// Offered load in texts per second; None: as fast as replies come back.
    pub rate: Option<f64>,
    /// No text is sent after this long.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Texts answered with 200 and a TwiML reply.
    pub steps_ok: u64,
    pub errors: u64,
    /// Residents whose whole survey was acknowledged.
    pub surveys_completed: u64,
    pub elapsed: Duration,
    pub latency: Latency,
    /// Per resident, the number of `<Message>`s in the reply to each acknowledged text, in order
    /// (the length is how many of its texts were acknowledged).
    pub acked: Vec<Vec<u8>>,
    /// The first few failures, for the report.
    pub first_errors: Vec<String>,
}

impl Outcome {
    pub fn steps_per_sec(&self) -> f64 {
        self.steps_ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn surveys_per_sec(&self) -> f64 {
        self.surveys_completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Hands out send times `1/rate` apart.
struct Pacer {
    next: Mutex<Instant>,
    interval: Duration,
}

impl Pacer {
    async fn slot(&self) -> Instant {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now() - self.interval * 4);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
        at
    }
}

/// An HTTP client for the run: keep-alive, one idle connection per concurrent resident, no
/// proxy.
pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency)
        .pool_idle_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(30))
        .build()?)
}

struct Worker {
    latencies: Vec<Duration>,
    acked: Vec<(usize, Vec<u8>)>,
    ok: u64,
    errors: u64,
    completed: u64,
    first_errors: Vec<String>,
}

/// Sends the plan to `base` (`http://127.0.0.1:PORT`) and measures.
pub async fn drive(client: &reqwest::Client, base: &str, plan: Arc<Plan>, load: &Load) -> Outcome {
    let url: Arc<str> = format!("{}{SMS_PATH}", base.trim_end_matches('/')).into();
    let next = Arc::new(AtomicUsize::new(0));
    let pacer = load.rate.filter(|r| *r > 0.0).map(|r| {
        Arc::new(Pacer {
            next: Mutex::new(Instant::now()),
            interval: Duration::from_secs_f64(1.0 / r),
        })
    });
    let start = Instant::now();
    let deadline = start + load.duration;
    let mut tasks = Vec::new();
    for _ in 0..load.concurrency.max(1) {
        let (client, url, plan, next, pacer) = (
            client.clone(),
            url.clone(),
            plan.clone(),
            next.clone(),
            pacer.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut w = Worker {
                latencies: Vec::new(),
                acked: Vec::new(),
                ok: 0,
                errors: 0,
                completed: 0,
                first_errors: Vec::new(),
            };
            'residents: loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(resident) = plan.residents.get(i) else {
                    break;
                };
                let mut replies = Vec::with_capacity(resident.steps.len());
                for step in &resident.steps {
                    if Instant::now() >= deadline {
                        w.acked.push((i, replies));
                        break 'residents;
                    }
                    // Paced: latency counts from the intended send time, so a slow server is
                    // not hidden by the generator waiting for it.
                    let t0 = match &pacer {
                        Some(p) => p.slot().await,
                        None => Instant::now(),
                    };
                    let result = client
                        .post(&*url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-twilio-signature", &step.signature)
                        .body(step.body.clone())
                        .send()
                        .await;
                    let failure = match result {
                        Ok(resp) => {
                            let status = resp.status();
                            match resp.text().await {
                                Ok(text) if status.is_success() && text.contains("<Message>") => {
                                    w.latencies.push(t0.elapsed());
                                    w.ok += 1;
                                    replies.push(text.matches("<Message>").count() as u8);
                                    None
                                }
                                Ok(text) => Some(format!("{status}: {}", text.trim())),
                                Err(e) => Some(format!("reading the reply: {e}")),
                            }
                        }
                        Err(e) => Some(format!("{e}")),
                    };
                    if let Some(f) = failure {
                        w.errors += 1;
                        if w.first_errors.len() < 3 {
                            w.first_errors.push(format!("{}: {f}", step.sid));
                        }
                        // The conversation cannot go on sensibly after a failed text.
                        w.acked.push((i, replies));
                        continue 'residents;
                    }
                }
                w.completed += 1;
                w.acked.push((i, replies));
            }
            w
        }));
    }
    let mut out = Outcome {
        acked: vec![Vec::new(); plan.residents.len()],
        ..Outcome::default()
    };
    let mut latencies = Vec::new();
    for t in tasks {
        let Ok(w) = t.await else {
            out.errors += 1;
            continue;
        };
        latencies.extend(w.latencies);
        out.steps_ok += w.ok;
        out.errors += w.errors;
        out.surveys_completed += w.completed;
        for (i, r) in w.acked {
            out.acked[i] = r;
        }
        for e in w.first_errors {
            if out.first_errors.len() < 5 {
                out.first_errors.push(e);
            }
        }
    }
    out.elapsed = start.elapsed();
    out.latency = stats::summarize(&mut latencies);
    out
}
