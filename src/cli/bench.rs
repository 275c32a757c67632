//! `civictext bench`: residents served per second by the gateway, against two baselines
//! measured in the same run on the same load: `hello` (the HTTP ceiling: a fixed reply) and
//! `naive` (one transaction per text with the database driver's defaults).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::bench::audit::{self, Verdict};
use crate::bench::child::{self, Server};
use crate::bench::load::{self, Load, Outcome};
use crate::bench::{check_loopback, plan};
use crate::store::Store;

/// Most residents one run may simulate (8 or 9 texts each).
const MAX_RESIDENTS: u64 = 1_000_000;
/// Longest a run may send for.
const MAX_DURATION: u64 = 3600;

/// Which database the gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
    All,
}

/// The PostgreSQL server benchmarks create their scratch databases on.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `civictext bench` options.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub what: Option<What>,
    /// Database behind the gateway (`all`: every backend, one JSON line each).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// Simulated residents, each texting the whole youth survey (8 or 9 texts).
    #[arg(long, default_value_t = 5000)]
    pub residents: u64,
    /// Residents in conversation at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Offered load in texts per second (default: as fast as the server answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop sending after this many seconds, per server measured.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Store this many messages (with their contacts, sessions and answers) before measuring.
    #[arg(long, default_value_t = 0)]
    pub prefill: u64,
    /// Measure a gateway that is already running (loopback only) instead of starting one;
    /// needs --auth-token, --public-url and --database-url (for the storage check).
    #[arg(long)]
    pub url: Option<String>,
    /// The running gateway's TWILIO_AUTH_TOKEN (with --url).
    #[arg(long)]
    pub auth_token: Option<String>,
    /// The running gateway's CIVICTEXT_PUBLIC_URL (with --url; default: --url).
    #[arg(long)]
    pub public_url: Option<String>,
    /// The running gateway's DATABASE_URL (with --url).
    #[arg(long)]
    pub database_url: Option<String>,
    /// The flows directory holding youth-survey.yaml (the servers under test load that flow
    /// alone).
    #[arg(long, default_value = "conversation-flows")]
    pub flows: PathBuf,
    /// Measure the gateway only, without the hello and naive baselines.
    #[arg(long)]
    pub no_baselines: bool,
    /// Also measure one transaction per text with the gateway's WAL settings (how the gateway
    /// stored texts before group commit).
    #[arg(long)]
    pub per_text_wal: bool,
    /// Keep the temporary databases.
    #[arg(long)]
    pub keep: bool,
}

/// Other things `civictext bench` measures.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum What {
    /// Outbox rows claimed and handed to a sender per second (the gateway's own worker, no
    /// pacing limit, to a loopback stub of Twilio), beside the stub's own ceiling measured in
    /// the same run.
    Outbox {
        /// Database behind the outbox (`all`: each in turn).
        #[arg(long, value_enum, default_value = "all")]
        backend: Backend,
        /// Rows in the broadcast sent.
        #[arg(long, default_value_t = 20_000)]
        rows: u64,
    },
    /// Latency of every staff console page (p50, p95, p99) on a database of many answers,
    /// through the real router with a signed-in admin, beside the stylesheet and /healthz
    /// served by the same router in the same run. Target: p99 under 200 ms per page.
    Console {
        /// Database behind the gateway (`all`: each in turn).
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        /// Answers in the database (7 per completed youth-survey conversation).
        #[arg(long, default_value_t = 1_000_000)]
        answers: u64,
        /// Service requests filed (half of them closed).
        #[arg(long, default_value_t = 5_000)]
        requests: u64,
        /// Residents with a recorded opt-in; three broadcasts go to all of them.
        #[arg(long, default_value_t = 20_000)]
        consenting: u64,
        /// Requests per page measured.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// The flows directory holding youth-survey.yaml.
        #[arg(long, default_value = "conversation-flows")]
        flows: PathBuf,
    },
}

/// Runs `civictext bench console`.
fn console(
    backend: Backend,
    size: crate::bench::console::Size,
    samples: usize,
    flows: &Path,
) -> anyhow::Result<ExitCode> {
    if size.answers == 0 || size.answers > 50_000_000 {
        bail!("--answers must be between 1 and 50000000");
    }
    if size.consenting > size.answers.div_ceil(7) {
        bail!("--consenting can be at most the number of conversations (answers / 7)");
    }
    if samples < 100 {
        bail!("--samples must be at least 100, for a 99th percentile");
    }
    if !flows.join("youth-survey.yaml").exists() {
        bail!(
            "{} has no youth-survey.yaml: run from the repository root or pass --flows",
            flows.display()
        );
    }
    let backends = match backend {
        Backend::Sqlite => vec!["sqlite"],
        Backend::Postgres => vec!["postgres"],
        Backend::All => vec!["sqlite", "postgres"],
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let dir = scratch_dir()?;
    let result = runtime.block_on(async {
        let mut out = std::io::stdout().lock();
        for backend in backends {
            let db = ScratchDb::create(backend, &dir, "console").await?;
            let measured = crate::bench::console::measure(&db.url, flows, size, samples).await;
            db.drop().await;
            let pages = measured?;
            writeln!(
                out,
                "console pages on {backend}, {} answers, {} requests, {} consenting residents; \
                 {samples} requests per page, one at a time",
                size.answers, size.requests, size.consenting
            )?;
            writeln!(
                out,
                "  {:<42} {:>9} {:>9} {:>9} {:>9} {:>8}",
                "page", "p50 ms", "p95 ms", "p99 ms", "max ms", "bytes"
            )?;
            for p in &pages {
                writeln!(
                    out,
                    "  {:<42} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8}{}",
                    p.name,
                    p.p50_ms,
                    p.p95_ms,
                    p.p99_ms,
                    p.max_ms,
                    p.bytes,
                    if !p.baseline && p.p99_ms >= 200.0 {
                        "  OVER 200 ms"
                    } else {
                        ""
                    }
                )?;
            }
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "backend": backend,
                    "answers": size.answers,
                    "requests": size.requests,
                    "consenting": size.consenting,
                    "samples": samples,
                    "pages": pages,
                })
            )?;
        }
        anyhow::Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `civictext bench outbox`.
fn outbox(backend: Backend, rows: u64) -> anyhow::Result<ExitCode> {
    if rows == 0 || rows > 1_000_000 {
        bail!("--rows must be between 1 and 1000000");
    }
    let backends = match backend {
        Backend::Sqlite => vec!["sqlite"],
        Backend::Postgres => vec!["postgres"],
        Backend::All => vec!["sqlite", "postgres"],
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let dir = scratch_dir()?;
    let result = runtime.block_on(async {
        let stub = crate::bench::outbox::Stub::start().await?;
        // Warm the connections and the stub before timing anything.
        crate::bench::outbox::stub_ceiling(&stub, 1_000).await?;
        let ceiling = crate::bench::outbox::stub_ceiling(&stub, rows).await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "stub ceiling: {:>8.0} sends/s ({} sends in {:.2} s, 256 at a time, no database)",
            ceiling.per_second(),
            ceiling.texts,
            ceiling.seconds
        )?;
        for backend in backends {
            let db = ScratchDb::create(backend, &dir, "outbox").await?;
            let measured = crate::bench::outbox::outbox(&stub, &db.url, rows).await;
            db.drop().await;
            let m = measured?;
            writeln!(
                out,
                "outbox {backend:<8}: {:>8.0} rows/s claimed, sent and recorded ({} rows in {:.2} s; {:.0}% of the stub's ceiling)",
                m.per_second(),
                m.texts,
                m.seconds,
                100.0 * m.per_second() / ceiling.per_second()
            )?;
        }
        anyhow::Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// One server measured.
struct Measured {
    outcome: Outcome,
    verdict: Option<Verdict>,
    rss_mb: Option<f64>,
}

/// Runs the benchmark; the last line(s) on stdout are the JSON results.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        Some(What::Outbox { backend, rows }) => return outbox(backend, rows),
        Some(What::Console {
            backend,
            answers,
            requests,
            consenting,
            samples,
            flows,
        }) => {
            let size = crate::bench::console::Size {
                answers,
                requests,
                consenting,
            };
            return console(backend, size, samples, &flows);
        }
        None => {}
    }
    if args.residents == 0 || args.residents > MAX_RESIDENTS {
        bail!("--residents must be between 1 and {MAX_RESIDENTS}");
    }
    if args.duration == 0 || args.duration > MAX_DURATION {
        bail!("--duration must be between 1 and {MAX_DURATION} seconds");
    }
    if args.concurrency == 0 || args.concurrency > 4096 {
        bail!("--concurrency must be between 1 and 4096");
    }
    if let Some(url) = &args.url {
        check_loopback(url)?;
    }
    if !args.flows.join("youth-survey.yaml").exists() {
        bail!(
            "{} has no youth-survey.yaml: run from the repository root or pass --flows",
            args.flows.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let backends = match (&args.database_url, args.backend) {
        // A running gateway: its database decides what the result is labelled.
        (Some(url), _) if args.url.is_some() => {
            if url.starts_with("postgres") {
                vec!["postgres"]
            } else {
                vec!["sqlite"]
            }
        }
        (_, Backend::Sqlite) => vec!["sqlite"],
        (_, Backend::Postgres) => vec!["postgres"],
        (_, Backend::All) => vec!["sqlite", "postgres"],
    };
    let mut lines = Vec::new();
    for backend in backends {
        lines.push(runtime.block_on(bench_backend(&args, backend))?);
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn random_hex(bits: u32) -> u64 {
    rand::random::<u64>() >> (64 - bits)
}

fn scratch_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "civictext-bench-{}-{:x}",
        std::process::id(),
        random_hex(32)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn load_of(args: &Args) -> Load {
    Load {
        concurrency: args.concurrency,
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
    }
}

fn report(name: &str, m: &Measured) {
    let o = &m.outcome;
    eprintln!(
        "{name:>8}: {:>8.0} texts/s  {:>7.1} surveys/s  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  \
         max {:.1} ms  ok {} errors {} in {:.1} s{}{}",
        o.steps_per_sec(),
        o.surveys_per_sec(),
        o.latency.p50_ms,
        o.latency.p90_ms,
        o.latency.p99_ms,
        o.latency.max_ms,
        o.steps_ok,
        o.errors,
        o.elapsed.as_secs_f64(),
        m.rss_mb
            .map(|r| format!("  peak RSS {r:.1} MiB"))
            .unwrap_or_default(),
        m.verdict
            .map(|v| format!(
                "  stored answers {}/{} lost {} duplicated {}",
                v.answers_found, v.answers_acked, v.lost, v.duplicated
            ))
            .unwrap_or_default(),
    );
    for e in &o.first_errors {
        eprintln!("          error: {e}");
    }
}

/// Drives a fresh plan against `base`, signed for `public_url`.
async fn measure(
    args: &Args,
    base: &str,
    token: &str,
    public_url: &str,
) -> anyhow::Result<(Arc<plan::Plan>, Outcome)> {
    let plan = Arc::new(plan::build(
        random_hex(48),
        args.residents,
        token,
        public_url,
    ));
    let client = load::client(args.concurrency)?;
    let outcome = load::drive(&client, base, plan.clone(), &load_of(args)).await;
    Ok((plan, outcome))
}

async fn audit_db(url: &str, plan: &plan::Plan, outcome: &Outcome) -> anyhow::Result<Verdict> {
    let store = Store::connect(url).await?;
    let rows = store.audit(&plan.sid_prefix).await?;
    store.close().await;
    Ok(audit::check(plan, outcome, &rows))
}

/// A fresh database for one server: a file in the scratch directory, or a new database on the
/// PostgreSQL server named by CIVICTEXT_BENCH_POSTGRES (dropped afterwards).
struct ScratchDb {
    url: String,
    postgres: Option<(String, String)>,
}

impl ScratchDb {
    async fn create(backend: &str, dir: &Path, name: &str) -> anyhow::Result<ScratchDb> {
        if backend == "sqlite" {
            return Ok(ScratchDb {
                url: format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
                postgres: None,
            });
        }
        let admin =
            std::env::var("CIVICTEXT_BENCH_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        let db = format!("civictext_bench_{name}_{:08x}", random_hex(32));
        let url = Store::create_scratch_database(&admin, &db)
            .await
            .context("cannot create a PostgreSQL database (set CIVICTEXT_BENCH_POSTGRES)")?;
        Ok(ScratchDb {
            url,
            postgres: Some((admin, db)),
        })
    }

    async fn drop(self) {
        if let Some((admin, db)) = self.postgres
            && let Err(e) = Store::drop_scratch_database(&admin, &db).await
        {
            eprintln!("warning: could not drop database {db}: {e}");
        }
    }
}

/// Starts `civictext <command>` as a gateway on a fresh database and measures it.
async fn measure_gateway(
    args: &Args,
    command: &[&str],
    dir: &Path,
    database_url: &str,
    prefill: u64,
) -> anyhow::Result<Measured> {
    if prefill > 0 {
        eprintln!("prefilling {prefill} messages into {database_url} …");
        let started = std::time::Instant::now();
        let store = match command {
            ["serve"] => Store::connect(database_url).await?,
            _ => Store::connect_per_text(database_url, command.contains(&"--wal")).await?,
        };
        store.prefill(prefill).await?;
        store.close().await;
        eprintln!("prefilled in {:.1} s", started.elapsed().as_secs_f64());
    }
    let addr = child::free_port()?;
    let public_url = format!("http://{addr}");
    let token = format!("{:016x}{:016x}", random_hex(64), random_hex(64));
    // The survey alone: another flow's keyword among the answers would interrupt it.
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows)?;
    std::fs::copy(
        args.flows.join("youth-survey.yaml"),
        flows.join("youth-survey.yaml"),
    )?;
    let env = [
        ("DATABASE_URL", database_url.to_string()),
        ("CIVICTEXT_BIND", addr.to_string()),
        ("CIVICTEXT_FLOWS", flows.display().to_string()),
        ("CIVICTEXT_PUBLIC_URL", public_url.clone()),
        ("TWILIO_AUTH_TOKEN", token.clone()),
        (
            "RUST_LOG",
            std::env::var("CIVICTEXT_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ];
    let server = Server::start(command, &env, dir, addr).await?;
    let (plan, outcome) = measure(args, &public_url, &token, &public_url).await?;
    let rss_mb = server.peak_rss_mb();
    server.stop();
    let verdict = audit_db(database_url, &plan, &outcome).await?;
    Ok(Measured {
        outcome,
        verdict: Some(verdict),
        rss_mb,
    })
}

async fn measure_hello(args: &Args, dir: &Path) -> anyhow::Result<Measured> {
    let addr = child::free_port()?;
    let server = Server::start(
        &["bench-hello", "--bind", &addr.to_string()],
        &[],
        dir,
        addr,
    )
    .await?;
    let base = format!("http://{addr}");
    let (_, outcome) = measure(args, &base, "hello", &base).await?;
    let rss_mb = server.peak_rss_mb();
    server.stop();
    Ok(Measured {
        outcome,
        verdict: None,
        rss_mb,
    })
}

fn json_number(v: Option<f64>) -> serde_json::Value {
    v.filter(|v| v.is_finite())
        .map(|v| serde_json::json!((v * 100.0).round() / 100.0))
        .unwrap_or(serde_json::Value::Null)
}

async fn bench_backend(args: &Args, backend: &str) -> anyhow::Result<String> {
    let dir = scratch_dir()?;
    eprintln!(
        "civictext bench: backend {backend}, {} residents (8-9 texts each), concurrency {}, {}, at most {} s each; scratch {}",
        args.residents,
        args.concurrency,
        args.rate
            .map_or("unpaced".to_string(), |r| format!("offered {r} texts/s")),
        args.duration,
        dir.display()
    );
    let result = async {
        let hello = if args.no_baselines {
            None
        } else {
            let m = measure_hello(args, &dir).await?;
            report("hello", &m);
            Some(m)
        };
        let naive = if args.no_baselines {
            None
        } else {
            let db = ScratchDb::create(backend, &dir, "naive").await?;
            let m = measure_gateway(args, &["bench-naive"], &dir, &db.url, args.prefill).await;
            db.drop().await;
            let m = m?;
            report("naive", &m);
            Some(m)
        };
        if args.per_text_wal && backend == "sqlite" {
            let url = format!("sqlite://{}", dir.join("per-text-wal.db").display());
            let m =
                measure_gateway(args, &["bench-naive", "--wal"], &dir, &url, args.prefill).await?;
            report("txn+wal", &m);
        }
        let gateway = match &args.url {
            None => {
                let db = ScratchDb::create(backend, &dir, "gateway").await?;
                let m = measure_gateway(args, &["serve"], &dir, &db.url, args.prefill).await;
                db.drop().await;
                m?
            }
            Some(base) => {
                let token = args
                    .auth_token
                    .clone()
                    .context("--url needs --auth-token (the gateway's TWILIO_AUTH_TOKEN)")?;
                let db = args
                    .database_url
                    .clone()
                    .context("--url needs --database-url to check what was stored")?;
                let public = args.public_url.clone().unwrap_or_else(|| base.clone());
                let (plan, outcome) = measure(args, base, &token, &public).await?;
                let verdict = audit_db(&db, &plan, &outcome).await?;
                Measured {
                    outcome,
                    verdict: Some(verdict),
                    rss_mb: None,
                }
            }
        };
        report("gateway", &gateway);
        let g = gateway.outcome.steps_per_sec();
        let hello_sps = hello.as_ref().map(|m| m.outcome.steps_per_sec());
        let naive_sps = naive.as_ref().map(|m| m.outcome.steps_per_sec());
        if let (Some(h), Some(n)) = (hello_sps, naive_sps) {
            eprintln!(
                "   ratio: gateway/hello {:.2}  gateway/naive {:.2}",
                g / h.max(1e-9),
                g / n.max(1e-9)
            );
        }
        let v = gateway.verdict.unwrap_or_default();
        // Fields in a fixed order, for people reading and diffing the line.
        let line = format!(
            "{{\"backend\":{},\"steps_per_sec\":{},\"p50_ms\":{},\"p99_ms\":{},\"hello_steps_per_sec\":{},\"naive_steps_per_sec\":{},\"lost\":{},\"duplicated\":{},\"rss_mb\":{}}}",
            serde_json::json!(backend),
            json_number(Some(g)),
            json_number(Some(gateway.outcome.latency.p50_ms)),
            json_number(Some(gateway.outcome.latency.p99_ms)),
            json_number(hello_sps),
            json_number(naive_sps),
            v.lost,
            v.duplicated,
            json_number(gateway.rss_mb),
        );
        Ok::<_, anyhow::Error>(line)
    }
    .await;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// `civictext bench-hello`: the fixed-reply server.
pub fn hello(bind: std::net::SocketAddr) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(crate::bench::hello::serve(bind))?;
    Ok(ExitCode::SUCCESS)
}

/// `civictext bench-naive`: the gateway on the per-text store, configured like `serve`.
pub fn naive(flags: &crate::config::Overrides, wal: bool) -> anyhow::Result<ExitCode> {
    let settings = crate::config::Settings::load(flags)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = Store::connect_per_text(&settings.database_url, wal).await?;
        let app = crate::startup::Application::build_with_store(&settings, store).await?;
        app.run_until_stopped().await
    })?;
    Ok(ExitCode::SUCCESS)
}
