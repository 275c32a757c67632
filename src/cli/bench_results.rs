//! `civictext bench-results`: responses streamed per second from a large database, as CSV and
//! JSON, with peak memory, against a plain query over the same rows measured in the same run.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::bench::results::{self, Measured, Shape};
use crate::store::Store;

/// `civictext bench-results` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Answers in the database (7 per completed session).
    #[arg(long, default_value_t = 1_000_000)]
    pub answers: u64,
    /// `sqlite` (a temporary file) or `postgres` (a scratch database on --postgres).
    #[arg(long, default_value = "sqlite")]
    pub backend: String,
    /// The PostgreSQL server scratch databases are created on.
    #[arg(long, default_value = super::bench::DEFAULT_POSTGRES)]
    pub postgres: String,
    /// Measure this database instead of a fresh one, filling it only if it holds no
    /// youth-survey answers yet, and keep it (to measure a change again without refilling).
    #[arg(long)]
    pub database: Option<String>,
}

/// Runs the benchmark and prints one line per measurement, then the figures as JSON.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let file = std::env::temp_dir().join(format!(
            "civictext-bench-results-{}.db",
            std::process::id()
        ));
        let scratch = format!("civictext_bench_results_{}", std::process::id());
        let url = match (&args.database, args.backend.as_str()) {
            (Some(url), _) => url.clone(),
            (None, "sqlite") => format!("sqlite://{}", file.display()),
            (None, "postgres") => Store::create_scratch_database(&args.postgres, &scratch).await?,
            (None, other) => anyhow::bail!("--backend must be sqlite or postgres (got {other:?})"),
        };
        let outcome = measure(&url, args.answers).await;
        if args.database.is_none() && args.backend == "postgres" {
            Store::drop_scratch_database(&args.postgres, &scratch).await?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
        let measured = outcome?;
        let mut out = std::io::stdout().lock();
        for m in &measured {
            writeln!(
                out,
                "{:<42} {:>9} rows {:>9} answers {:>7.2} s {:>10.0} rows/s {:>10.0} answers/s  peak RSS {}",
                m.name,
                m.rows,
                m.answers,
                m.seconds,
                m.rows_per_second(),
                m.answers_per_second(),
                m.peak_rss_mb
                    .map_or_else(|| "?".to_string(), |r| format!("{r:.1} MiB"))
            )?;
        }
        writeln!(
            out,
            "{}",
            serde_json::json!({"backend": args.backend, "measured": measured})
        )?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn measure(url: &str, answers: u64) -> anyhow::Result<Vec<Measured>> {
    let store = Store::connect(url).await?;
    if store.scan_answers(results::FLOW).await?.0 == 0 {
        // The prefill writes 7 answers per 16 messages.
        let started = std::time::Instant::now();
        store.prefill(answers.div_ceil(7) * 16).await?;
        eprintln!(
            "prefilled {} answers in {:.1} s",
            answers.div_ceil(7) * 7,
            started.elapsed().as_secs_f64()
        );
    }
    let mut measured = vec![results::baseline(&store).await?];
    measured.push(results::stream(&store, Shape::Csv).await?);
    measured.push(results::stream(&store, Shape::Json).await?);
    measured.push(results::walk_pages(&store).await?);
    store.close().await;
    Ok(measured)
}
