//! `civictext simulate FLOW`: a conversation in the terminal with the real engine.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::flow::engine::{self, Context, Effect, Status};
use crate::flows_dir;
use crate::gateway::dispatch::{self, ThrottleRules};
use crate::gateway::{FlowSet, Replies};
use crate::store::{ActiveSession, Contact, Snapshot};

/// Options of `civictext simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow's id (e.g. `parks-survey`).
    pub flow: String,
    /// The flows directory.
    #[arg(long, default_value = "conversation-flows", env = "CIVICTEXT_FLOWS")]
    pub flows: PathBuf,
    /// Conversation language (default: the flow's first language).
    #[arg(long)]
    pub lang: Option<String>,
    /// The resident's phone number, shown in the transcript.
    #[arg(long, default_value = "+15025550100")]
    pub phone: String,
    /// Also show what would be stored: answers, contact fields, service requests.
    #[arg(long)]
    pub show_data: bool,
}

fn print_replies(out: &mut impl Write, effects: &[Effect], data: bool) -> std::io::Result<()> {
    for e in effects {
        match e {
            Effect::Send { .. } => {}
            _ if !data => continue,
            _ => {}
        }
        match e {
            Effect::Send { text } => {
                for (i, line) in text.lines().enumerate() {
                    writeln!(out, "{} {line}", if i == 0 { "<" } else { " " })?;
                }
            }
            Effect::Answer(a) => writeln!(
                out,
                "  [answer {} = {:?} ({})]",
                a.question, a.value, a.category
            )?,
            Effect::SetContact { field, value } => {
                writeln!(out, "  [contact {field} = {value:?}]")?
            }
            Effect::FileRequest(r) => {
                writeln!(out, "  [service request {} filed: {}]", r.code, r.service)?
            }
        }
    }
    Ok(())
}

/// Runs the simulator until the flow ends or input runs out.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (catalog, checks) = flows_dir::load(&args.flows)?;
    let Some(flow) = catalog.get(&args.flow).cloned() else {
        for d in checks
            .iter()
            .flat_map(|c| c.diagnostics.iter())
            .filter(|d| d.is_error())
        {
            eprintln!("{d}");
        }
        let ids: Vec<&str> = catalog.flows().iter().map(|f| f.id.as_str()).collect();
        bail!(
            "no flow `{}` in {} (flows: {})",
            args.flow,
            args.flows.display(),
            ids.join(", ")
        );
    };
    if let Some(l) = &args.lang
        && !flow.languages.contains(l)
    {
        bail!(
            "`{}` speaks {}, not `{l}`",
            flow.id,
            flow.languages.join(", ")
        );
    }
    let interactive = std::io::stdin().is_terminal();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut entropy = 1u64;
    let clock = || {
        let now = jiff::Timestamp::now();
        (now, now.to_zoned(jiff::tz::TimeZone::system()).date())
    };
    writeln!(
        out,
        "Simulating `{}` ({}) for {}. Type a reply per line; Ctrl-D ends.",
        flow.id, flow.title, args.phone
    )?;
    let (now, today) = clock();
    let no_fields = BTreeMap::new();
    let first = engine::start(
        &flow,
        args.lang.as_deref(),
        &Context {
            now,
            today,
            contact: &no_fields,
            entropy,
        },
    );
    print_replies(&mut out, &first.effects, args.show_data)?;
    // After the first message, every text goes through the gateway's own decision (STOP, HELP,
    // other flows' keywords, the default reply), so the exchange is the one a resident has.
    let flows = FlowSet::new(catalog.clone(), []);
    let replies = Replies::default();
    let rules = ThrottleRules::default();
    let mut contact = Contact {
        id: 1,
        phone: args.phone.clone(),
        language: args.lang.clone(),
        fields: BTreeMap::new(),
        opted_out: false,
        unmatched_count: 0,
        unmatched_since: None,
        last_default_reply_at: None,
        muted_until: None,
        opt_out_hint_at: None,
    };
    for e in &first.effects {
        if let Effect::SetContact { field, value } = e {
            contact.fields.insert(field.clone(), value.clone());
        }
    }
    let mut session = (first.status == Status::Waiting).then_some(ActiveSession {
        id: 1,
        state: first.session,
    });
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    while session.is_some() {
        if interactive {
            write!(out, "> ")?;
            out.flush()?;
        }
        let Some(line) = lines.next() else {
            writeln!(
                out,
                "(input ended; the conversation is still waiting for an answer)"
            )?;
            return Ok(ExitCode::SUCCESS);
        };
        let line = line.context("reading input")?;
        if !interactive {
            writeln!(out, "> {line}")?;
        }
        entropy += 1;
        let (now, today) = clock();
        let snapshot = Snapshot {
            contact: Some(contact.clone()),
            session: session.clone(),
        };
        let input = dispatch::Input {
            text: &line,
            media: &[],
            now,
            today,
            entropy,
            provider_command: None,
            request: None,
        };
        let d = dispatch::decide(&flows, &replies, &rules, &snapshot, &input);
        let mut shown: Vec<Effect> = d
            .replies
            .iter()
            .map(|t| Effect::Send { text: t.clone() })
            .collect();
        shown.extend(d.answers.iter().cloned().map(Effect::Answer));
        shown.extend(d.fields.iter().map(|(f, v)| Effect::SetContact {
            field: f.clone(),
            value: v.clone(),
        }));
        shown.extend(d.requests.iter().cloned().map(Effect::FileRequest));
        print_replies(&mut out, &shown, args.show_data)?;
        crate::console::simulator::apply(&mut contact, &mut session, d);
    }
    writeln!(out, "(conversation ended)")?;
    Ok(ExitCode::SUCCESS)
}
