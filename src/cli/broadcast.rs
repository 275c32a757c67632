//! `civictext broadcast`: queue a text or a survey invitation for consenting residents (the
//! running gateway sends it), see how far it has got, or cancel what has not gone.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::{Overrides, Settings};
use crate::gateway::reload::Loader;
use crate::outbound::compose;
use crate::privacy::Pseudonyms;
use crate::sms::segments::{self, Encoding};
use crate::store::{
    Audience, AudienceGroup, BroadcastProgress, ImportedConsent, Invitation, NewBroadcast, Store,
};

/// What `broadcast` was asked to do.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BroadcastArgs {
    #[command(subcommand)]
    pub command: Option<BroadcastCommand>,
    #[command(flatten)]
    pub send: SendArgs,
}

/// `broadcast status` and `broadcast cancel`.
#[derive(Debug, Subcommand)]
pub enum BroadcastCommand {
    /// Progress of broadcast ID (default: the latest ones): a live progress bar on a terminal,
    /// one plain line per broadcast otherwise.
    Status {
        id: Option<i64>,
        #[command(flatten)]
        settings: Overrides,
    },
    /// Stop broadcast ID: its texts not yet sent are cancelled (those already handed to Twilio
    /// have gone).
    Cancel {
        id: i64,
        #[command(flatten)]
        settings: Overrides,
    },
}

/// Queue a broadcast or a survey invitation.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The text, in the language of `--language`. Checked like flow text (length, GSM-7 or
    /// UCS-2, segments).
    #[arg(long, conflicts_with = "flow")]
    pub text: Option<String>,
    /// The text in another language, as LANG=TEXT (repeatable); also written `--text-es TEXT`.
    /// Residents whose language has no text get the `--text` one.
    #[arg(long = "text-in", value_name = "LANG=TEXT", requires = "text")]
    pub text_in: Vec<String>,
    /// The language of `--text`.
    #[arg(long, default_value = "en")]
    pub language: String,
    /// Invite to flow ID instead: its first question is the text (in each resident's language)
    /// and the resident's reply is the first answer.
    #[arg(long)]
    pub flow: Option<String>,
    /// Only contacts whose profile field FIELD equals VALUE, as FIELD=VALUE (e.g. zip=40202).
    #[arg(long = "where", value_name = "FIELD=VALUE", conflicts_with = "csv")]
    pub filter: Option<String>,
    /// Only the numbers in this CSV file, whose consents it records first. Columns: `phone`,
    /// `source` (where consent was given), `consented_at` (when: RFC 3339, or a date and time
    /// in the gateway's time zone).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Only contacts who consented to this topic (an answer a flow records as consent to it),
    /// or to everything (START, a list imported without a topic). Consents imported with
    /// `--csv` are recorded for this topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// When to send: RFC 3339 (`2026-12-05T09:00:00-05:00`) or a date and time in the
    /// gateway's time zone (`2026-12-05 09:00`). Default: now. Quiet hours still apply.
    #[arg(long)]
    pub at: Option<String>,
    /// Print the recipients, segments and estimated cost per language; queue nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The price of one SMS segment, for the estimate (USD; Twilio's US list price).
    #[arg(long, default_value_t = compose::DEFAULT_PRICE_PER_SEGMENT)]
    pub price_per_segment: f64,
    #[command(flatten)]
    pub settings: Overrides,
}

/// Rewrites `--text-es TEXT` (and `--text-es=TEXT`) into `--text-in es=TEXT`: per-language
/// options cannot be declared ahead for every language a city may use.
pub fn rewrite_language_texts(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.get(1).and_then(|a| a.to_str()) != Some("broadcast") {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(rest) = arg.to_str().and_then(|a| a.strip_prefix("--text-")) else {
            out.push(arg);
            continue;
        };
        let (lang, inline) = match rest.split_once('=') {
            Some((l, v)) => (l.to_string(), Some(v.to_string())),
            None => (rest.to_string(), None),
        };
        let is_lang = (2..=8).contains(&lang.len())
            && lang.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
            && lang != "in";
        if !is_lang {
            out.push(arg);
            continue;
        }
        let value = match inline {
            Some(v) => Some(v),
            None => it.next().and_then(|v| v.into_string().ok()),
        };
        out.push("--text-in".into());
        out.push(format!("{lang}={}", value.unwrap_or_default()).into());
    }
    out
}

/// Runs `broadcast`, `broadcast status` or `broadcast cancel`.
pub fn run(args: BroadcastArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(BroadcastCommand::Status { id, settings }) => {
            with_store(&settings, async |store, _| status(&store, id).await)
        }
        Some(BroadcastCommand::Cancel { id, settings }) => {
            with_store(&settings, async |store, _| cancel(&store, id).await)
        }
        None => {
            let send = args.send;
            with_store(&send.settings.clone(), async |store, settings| {
                queue(&store, &settings, send).await
            })
        }
    }
}

fn with_store<T>(
    flags: &Overrides,
    work: impl AsyncFnOnce(Store, Settings) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let settings = Settings::load(flags)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect(&settings.database_url)
            .await
            .context("cannot open the database")?;
        let result = work(store.clone(), settings).await;
        store.close().await;
        result
    })
}

fn gateway_zone(settings: &Settings) -> anyhow::Result<TimeZone> {
    Ok(match &settings.time_zone {
        Some(name) => TimeZone::get(name).with_context(|| format!("unknown time zone {name:?}"))?,
        None => TimeZone::system(),
    })
}

/// A time as RFC 3339, or as a date and time in `zone`.
fn parse_time(s: &str, zone: &TimeZone) -> anyhow::Result<Timestamp> {
    Ok(compose::parse_time(s, zone)?)
}

/// One line saying what a text costs, and why it is UCS-2 when it is.
fn describe(lang: &str, text: &str) -> String {
    let c = segments::count(text);
    let mut line = format!(
        "  {lang:<5} {:<6} {:>5} chars {:>3} segment(s)",
        c.encoding.as_str(),
        c.characters,
        c.segments
    );
    if c.encoding == Encoding::Ucs2 {
        let shown: Vec<String> = c
            .non_gsm
            .iter()
            .take(5)
            .map(|ch| format!("{ch:?} U+{:04X}", *ch as u32))
            .collect();
        line.push_str(&format!("  UCS-2 because of {}", shown.join(", ")));
    }
    line
}

/// Reads `--csv`: (phone, source, consented at) rows; every row must say where and when, and
/// when must not be after `now`.
///
/// Consent is decided by the latest of a resident's consent events by when each was given
/// (a "no" to a consent question withdraws it), so a consent dated in the future would outrank
/// every withdrawal until that date: such a row is refused, not recorded.
fn read_consents(
    path: &Path,
    zone: &TimeZone,
    topic: Option<&str>,
    pseudonyms: &Pseudonyms,
    now: Timestamp,
) -> anyhow::Result<Vec<ImportedConsent>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .with_context(|| {
                format!(
                    "{}: no `{name}` column (the columns are phone, source, consented_at)",
                    path.display()
                )
            })
    };
    let (phone, source, at) = (col("phone")?, col("source")?, col("consented_at")?);
    let list = path
        .file_stem()
        .map_or("list".into(), |s| s.to_string_lossy().to_string());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record?;
        let line = i + 2;
        let field = |n: usize| record.get(n).unwrap_or("").to_string();
        let number =
            crate::flow::answers::phone::parse_phone(&field(phone), "US").with_context(|| {
                format!(
                    "{}:{line}: {:?} is not a phone number",
                    path.display(),
                    field(phone)
                )
            })?;
        let where_ = field(source);
        if where_.is_empty() {
            bail!(
                "{}:{line}: no source: say where {number} gave consent (e.g. \"youth fair signup sheet\")",
                path.display()
            );
        }
        let given_at = parse_time(&field(at), zone)
            .with_context(|| format!("{}:{line}: consented_at", path.display()))?;
        if given_at > now {
            bail!(
                "{}:{line}: consented_at {:?} is in the future ({given_at}, now {}): \
                 say when {number} gave consent, which cannot be later than now",
                path.display(),
                field(at),
                now.round(jiff::Unit::Second).unwrap_or(now)
            );
        }
        rows.push(ImportedConsent {
            erased_hash: pseudonyms.erased_number(&number),
            phone: number,
            source: format!("import:{list}: {where_}"),
            given_at,
            topic: topic.map(str::to_string),
        });
    }
    if rows.is_empty() {
        bail!("{}: no numbers", path.display());
    }
    Ok(rows)
}

/// Says which rows of the list `path` (indexes into what [`read_consents`] read) were (or
/// `would be`) left out because their residents were forgotten while opted out, by line.
fn say_forgotten(
    out: &mut impl std::io::Write,
    path: &Path,
    rows: &[usize],
    were: &str,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // The header is line 1 (as in read_consents' errors).
    let lines: Vec<String> = rows.iter().map(|i| (i + 2).to_string()).collect();
    writeln!(
        out,
        "{} number(s) of {} {were} left out (line {}): each was forgotten \
         (`civictext contacts forget`) after opting out, so the opt-out stays in force and the \
         number is never texted. Take them off the list.",
        rows.len(),
        path.display(),
        lines.join(", ")
    )?;
    Ok(())
}

/// The invitation texts (the flow's first question, per language) and the sessions waiting on it.
async fn invitation(
    store: &Store,
    settings: &Settings,
    flow_id: &str,
    zone: &TimeZone,
) -> anyhow::Result<(Vec<(String, String)>, Invitation)> {
    // The version the replicas serve (its latest publication), so any of them continues the
    // session; the flows directory only for a flow never published.
    let published = store.published_flows().await?;
    let flow = match published.iter().find(|(r, _)| r.flow_id == flow_id) {
        Some((r, _)) => Arc::new(
            crate::flow::compile::compile(&r.source.name, &r.source.text)
                .flow
                .with_context(|| format!("the published flow `{flow_id}` does not compile"))?,
        ),
        None => from_directory(store, settings, flow_id).await?,
    };
    Ok(compose::invitation(&flow, Timestamp::now(), zone)?)
}

/// Flow `flow_id` as the flows directory holds it, recorded so any replica can continue it.
async fn from_directory(
    store: &Store,
    settings: &Settings,
    flow_id: &str,
) -> anyhow::Result<Arc<crate::flow::model::Flow>> {
    let mut loader = Loader::new(&settings.flows);
    let recorded = store.load_flow_versions().await?;
    loader.remember(&recorded);
    let loaded = loader
        .load()?
        .with_context(|| format!("cannot read the flows in {}", settings.flows.display()))?;
    let flow = loaded.catalog.get(flow_id).cloned().with_context(|| {
        let known: Vec<&str> = loaded
            .catalog
            .flows()
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        format!(
            "no flow `{flow_id}` in {} (flows: {})",
            settings.flows.display(),
            known.join(", ")
        )
    })?;
    store
        .save_flow_sources(&loaded.catalog, &loaded.unrecorded)
        .await?;
    Ok(flow)
}

async fn queue(store: &Store, settings: &Settings, a: SendArgs) -> anyhow::Result<ExitCode> {
    let zone = gateway_zone(settings)?;
    let now = Timestamp::now();
    let send_at = match &a.at {
        Some(t) => parse_time(t, &zone).context("--at")?,
        None => now,
    };
    if let Some(t) = &a.topic
        && !t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        bail!("--topic {t:?}: use lower-case letters, digits, - and _ (as flows name topics)");
    }
    let (texts, invitation) = match (&a.text, &a.flow) {
        (Some(text), None) => {
            let mut texts = vec![(a.language.clone(), text.clone())];
            for t in &a.text_in {
                let (lang, text) = t
                    .split_once('=')
                    .with_context(|| format!("--text-in {t:?}: write LANG=TEXT"))?;
                if texts.iter().any(|(l, _)| l == lang) {
                    bail!("two texts for language `{lang}`");
                }
                texts.push((lang.to_string(), text.to_string()));
            }
            (texts, None)
        }
        (None, Some(flow)) => {
            let (texts, inv) = invitation(store, settings, flow, &zone).await?;
            (texts, Some(inv))
        }
        _ => bail!("say what to send: --text TEXT (with --text-es TEXT …) or --flow ID"),
    };
    for (lang, text) in &texts {
        compose::check_text(lang, text)?;
    }

    let consents = match &a.csv {
        Some(path) => {
            let pseudonyms = crate::startup::pseudonyms(settings, store).await?;
            Some(read_consents(
                path,
                &zone,
                a.topic.as_deref(),
                &pseudonyms,
                now,
            )?)
        }
        None => None,
    };
    let (audience, label) = match (&a.filter, &consents) {
        (Some(f), _) => {
            let (name, value) = f
                .split_once('=')
                .with_context(|| format!("--where {f:?}: write FIELD=VALUE, e.g. zip=40202"))?;
            (
                Audience::Field {
                    name: name.trim().to_string(),
                    value: value.trim().to_string(),
                },
                format!("where {}={}", name.trim(), value.trim()),
            )
        }
        (None, Some(rows)) => (
            Audience::Phones(rows.iter().map(|r| r.phone.clone()).collect()),
            format!(
                "list {} ({} numbers)",
                a.csv
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                rows.len()
            ),
        ),
        (None, None) => (Audience::Everyone, "every consenting contact".to_string()),
    };
    let label = match &a.topic {
        Some(t) => format!("{label}, consenting to {t}"),
        None => label,
    };

    let mut out = std::io::stdout().lock();
    if a.dry_run {
        let members = store.audience(&audience, a.topic.as_deref()).await?;
        // Counted once for the forecast and the costs (the list itself is printed below).
        let counted = compose::groups(&members);
        writeln!(out, "Dry run: nothing is queued.")?;
        writeln!(out, "Audience: {label}")?;
        writeln!(
            out,
            "Send at: {}",
            send_at.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M %Z")
        )?;
        let quiet = crate::outbound::quiet_hours::parse_setting(&settings.quiet_hours)?;
        if let Some(f) = compose::quiet_forecast(quiet, send_at, &counted, &zone) {
            writeln!(out, "{}", quiet_line(&f, &zone))?;
        }
        if let Some(rows) = &consents {
            let forgotten = store.forgotten_opt_outs_among(rows).await?;
            let known: std::collections::HashSet<&str> =
                members.iter().map(|m| m.phone.as_str()).collect();
            let new = rows
                .iter()
                .filter(|r| !known.contains(r.phone.as_str()))
                .count()
                .saturating_sub(forgotten.len());
            writeln!(
                out,
                "The list has {} number(s): {} already consenting, {new} whose consent the list \
                 would record (those who opted out stay out, and are not counted below)",
                rows.len(),
                members.len()
            )?;
            if let Some(path) = &a.csv {
                say_forgotten(&mut out, path, &forgotten, "would be")?;
            }
        }
        writeln!(out, "Recipients ({}):", members.len())?;
        for m in &members {
            writeln!(
                out,
                "  {} {}",
                m.phone,
                m.language.as_deref().unwrap_or("-")
            )?;
        }
        print_costs(&mut out, &texts, &counted, a.price_per_segment)?;
        return Ok(ExitCode::SUCCESS);
    }

    if let Some(rows) = &consents {
        let imported = store.import_consents(rows, now).await?;
        if let Some(path) = &a.csv {
            say_forgotten(&mut out, path, &imported.forgotten_opt_outs, "were")?;
        }
    }
    let (id, queued) = store
        .queue_broadcast(&NewBroadcast {
            texts: texts.clone(),
            audience_label: label.clone(),
            audience,
            topic: a.topic.clone(),
            invitation,
            send_at,
            created_by: whoami(),
            now,
        })
        .await?;
    writeln!(
        out,
        "Broadcast {id} queued: {queued} text(s) to {label}, from {}.",
        send_at.to_zoned(zone).strftime("%Y-%m-%d %H:%M %Z")
    )?;
    for (lang, text) in &texts {
        writeln!(out, "{}", describe(lang, text))?;
    }
    writeln!(
        out,
        "The running gateway sends it (quiet hours and opt-outs apply at sending). \
         Follow it with `civictext broadcast status {id}`; stop it with `civictext broadcast cancel {id}`."
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Recipients, segments and estimated cost per language.
fn print_costs(
    out: &mut impl std::io::Write,
    texts: &[(String, String)],
    audience: &[AudienceGroup],
    price: f64,
) -> std::io::Result<()> {
    let e = compose::estimate(texts, audience, price);
    writeln!(out, "Cost:")?;
    writeln!(
        out,
        "  {:<5} {:<6} {:>5} {:>8} {:>10} {:>9} {:>10}",
        "lang", "enc", "chars", "segments", "recipients", "total", "est. cost"
    )?;
    for (l, (lang, text)) in e.languages.iter().zip(texts) {
        writeln!(
            out,
            "  {lang:<5} {:<6} {:>5} {:>8} {:>10} {:>9} {:>10}",
            l.encoding.as_str(),
            l.characters,
            l.segments,
            l.recipients,
            l.total_segments,
            format!("${:.2}", l.cost)
        )?;
        if l.encoding == Encoding::Ucs2 {
            writeln!(out, "{}", describe(lang, text))?;
        }
    }
    writeln!(
        out,
        "  total: {} recipient(s), {} segment(s), about ${:.2} at ${price} a segment",
        e.recipients, e.total_segments, e.cost
    )
}

/// What quiet hours will do to the broadcast, in one line.
fn quiet_line(f: &compose::QuietForecast, zone: &TimeZone) -> String {
    match f.until {
        Some(until) => format!(
            "Quiet hours {}: {} recipient(s) are in their quiet window at that time; their texts \
             wait until the window ends in their time zone (the last at {})",
            f.window,
            f.held,
            until.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M %Z")
        ),
        None => format!(
            "Quiet hours {}: no recipient is in their quiet window at that time",
            f.window
        ),
    }
}

/// Who queued it, for the record.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "cli".into())
}

fn progress_line(p: &BroadcastProgress) -> String {
    let done = p.sent + p.failed + p.skipped + p.cancelled;
    format!(
        "broadcast {}: {} — {done}/{} done: {} sent, {} failed, {} skipped, {} cancelled; \
         {} queued, {} sending, {} in doubt",
        p.id,
        p.status,
        p.recipients,
        p.sent,
        p.failed,
        p.skipped,
        p.cancelled,
        p.queued,
        p.sending,
        p.in_doubt
    )
}

fn unfinished(p: &BroadcastProgress) -> i64 {
    p.queued + p.sending + p.in_doubt
}

async fn status(store: &Store, id: Option<i64>) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let Some(id) = id else {
        let ids = store.recent_broadcasts(10).await?;
        if ids.is_empty() {
            writeln!(out, "no broadcasts yet")?;
        }
        for id in ids {
            if let Some(p) = store.broadcast_progress(id).await? {
                writeln!(out, "{}", progress_line(&p))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let Some(mut p) = store.broadcast_progress(id).await? else {
        bail!("no broadcast {id} (see `civictext broadcast status`)");
    };
    if !std::io::stdout().is_terminal() {
        writeln!(out, "{}", progress_line(&p))?;
        return Ok(ExitCode::SUCCESS);
    }
    drop(out);
    // On a terminal: a bar that follows the gateway's sending until nothing is left to send.
    let bar = indicatif::ProgressBar::new(u64::try_from(p.recipients.max(1)).unwrap_or(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "broadcast {prefix} [{bar:40}] {pos}/{len} {msg} ({eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(id.to_string());
    loop {
        let done = p.sent + p.failed + p.skipped + p.cancelled;
        bar.set_position(u64::try_from(done).unwrap_or(0));
        bar.set_message(format!(
            "{} sent, {} failed, {} skipped, {} cancelled",
            p.sent, p.failed, p.skipped, p.cancelled
        ));
        if unfinished(&p) == 0 || p.status == "cancelled" && p.sending + p.in_doubt == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        p = store
            .broadcast_progress(id)
            .await?
            .context("the broadcast disappeared")?;
    }
    bar.finish();
    println!("{}", progress_line(&p));
    Ok(ExitCode::SUCCESS)
}

async fn cancel(store: &Store, id: i64) -> anyhow::Result<ExitCode> {
    if store.broadcast_progress(id).await?.is_none() {
        bail!("no broadcast {id} (see `civictext broadcast status`)");
    }
    let n = store.cancel_broadcast(id, Timestamp::now()).await?;
    let p = store
        .broadcast_progress(id)
        .await?
        .context("the broadcast disappeared")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "broadcast {id} cancelled: {n} text(s) that had not gone will not be sent; {} already sent",
        p.sent
    )?;
    if p.sending + p.in_doubt > 0 {
        writeln!(
            out,
            "{} text(s) were being handed to Twilio and may still arrive",
            p.sending + p.in_doubt
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
