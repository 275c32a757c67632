//! `civictext contacts show | forget`: a resident's subject-access printout, and erasure on
//! request.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::{Overrides, Settings};
use crate::store::Store;
use crate::store::privacy::{ContactRecord, ForgetRequest};

/// One resident's data.
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Print everything held about one resident (a subject-access request).
    Show {
        /// The resident's number in E.164, e.g. +15025550123.
        number: String,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: Overrides,
    },
    /// Erase one resident on request: number, profile, messages, requests and answers. Only
    /// the values of answers their flows mark `anonymous` stay, detached from them; if they had
    /// opted out, a keyed hash of the number keeps them opted out.
    Forget {
        /// The resident's number in E.164, e.g. +15025550123.
        number: String,
        #[command(flatten)]
        settings: Overrides,
    },
}

/// The number as stored: E.164 without the spaces, dashes, dots and brackets people write.
fn normalise(number: &str) -> anyhow::Result<String> {
    let n: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = n.strip_prefix('+').unwrap_or("");
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!(
            "{number:?} is not a number in E.164 form: give it with + and the country code, \
             e.g. +15025550123"
        );
    }
    Ok(n)
}

/// Runs one `contacts` command.
pub fn run(command: ContactsCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match command {
        ContactsCommand::Show {
            number,
            json,
            settings,
        } => runtime.block_on(show(&settings, &number, json)),
        ContactsCommand::Forget { number, settings } => {
            runtime.block_on(forget(&settings, &number))
        }
    }
}

async fn open(flags: &Overrides) -> anyhow::Result<(Settings, Store)> {
    let settings = Settings::load(flags)?;
    let store = Store::connect(&settings.database_url)
        .await
        .context("cannot open the database")?;
    Ok((settings, store))
}

async fn show(flags: &Overrides, number: &str, json: bool) -> anyhow::Result<ExitCode> {
    let phone = normalise(number)?;
    let (settings, store) = open(flags).await?;
    let record = store.contact_record(&phone).await?;
    let remembered = match &record {
        Some(_) => false,
        None => {
            let pseudonyms = crate::startup::pseudonyms(&settings, &store).await?;
            store
                .is_forgotten_opt_out(&pseudonyms.erased_number(&phone))
                .await?
        }
    };
    store.close().await;
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "number": phone,
            "held": record.is_some(),
            "forgotten_opt_out": remembered,
            "contact": record,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        match &record {
            Some(r) => out.write_all(printout(r).as_bytes())?,
            None if remembered => writeln!(
                out,
                "Nothing is held about {phone}, except that a resident with this number was \
                 forgotten while opted out: only a keyed hash of the number is kept, so it is \
                 never texted."
            )?,
            None => writeln!(out, "Nothing is held about {phone}.")?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn forget(flags: &Overrides, number: &str) -> anyhow::Result<ExitCode> {
    let phone = normalise(number)?;
    let (settings, store) = open(flags).await?;
    let pseudonyms = crate::startup::pseudonyms(&settings, &store).await?;
    // Which questions are anonymous is a property of the flow version each answer was given to.
    let flows = crate::gateway::reload::offline_set(&store, &settings.flows).await?;
    let mut anonymous = BTreeSet::new();
    for (id, version) in flows.known_versions() {
        if let Some(flow) = flows.version(&id, &version) {
            for q in flow.questions().filter(|q| q.anonymous) {
                anonymous.insert((id.clone(), version.clone(), q.id.clone()));
            }
        }
    }
    let done = store
        .forget_contact(&ForgetRequest {
            erased_hash: pseudonyms.erased_number(&phone),
            phone: phone.clone(),
            anonymous,
            now: jiff::Timestamp::now(),
        })
        .await
        .context("the resident could not be forgotten; nothing was changed")?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    if !done.found {
        writeln!(out, "Nothing is held about {phone}: nothing to forget.")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Forgot {phone}: {} messages, {} conversations, {} answers, {} service requests, \
         {} queued texts and {} consent records deleted.",
        done.messages,
        done.sessions,
        done.answers_removed,
        done.service_requests,
        done.outbox,
        done.consent_events
    )?;
    if done.answers_kept > 0 {
        writeln!(
            out,
            "Kept {} anonymous answers (value only), no longer linked to the number.",
            done.answers_kept
        )?;
    }
    if done.opt_out_kept {
        writeln!(
            out,
            "They had opted out: a keyed hash of the number stays on the opt-out list, so they \
             are never texted again."
        )?;
    }
    if !done.scrubbed {
        writeln!(
            out,
            "Warning: the database's log could not be emptied (another process kept reading it): \
             deleted bytes may remain on disk until the next checkpoint. Run the same command \
             again to finish."
        )?;
        out.flush()?;
        return Ok(ExitCode::from(1));
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The subject-access printout, for a person to read.
fn printout(r: &ContactRecord) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Resident {}", r.phone);
    let _ = writeln!(s, "  first seen:   {}", r.created_at);
    let _ = writeln!(s, "  last change:  {}", r.updated_at);
    let _ = writeln!(
        s,
        "  language:     {}",
        r.language.as_deref().unwrap_or("(not set)")
    );
    let _ = writeln!(
        s,
        "  time zone:    {}",
        r.time_zone.as_deref().unwrap_or("(not set)")
    );
    let _ = writeln!(
        s,
        "  texts:        {}",
        if r.opted_out {
            "opted out (never texted)"
        } else {
            "not opted out"
        }
    );
    let _ = writeln!(s, "\nProfile ({} fields)", r.fields.len());
    for (k, v) in &r.fields {
        let _ = writeln!(s, "  {k}: {v}");
    }
    let _ = writeln!(s, "\nConsent history ({})", r.consent.len());
    for c in &r.consent {
        let whence: Vec<String> = c
            .source
            .iter()
            .cloned()
            .chain(c.message_sid.iter().map(|sid| format!("MessageSid {sid}")))
            .collect();
        let _ = writeln!(
            s,
            "  {}  {}  {:?}{}",
            c.at,
            c.describe(),
            c.text,
            if whence.is_empty() {
                String::new()
            } else {
                format!(" ({})", whence.join(", "))
            }
        );
    }
    let _ = writeln!(s, "\nConversations ({})", r.sessions.len());
    for c in &r.sessions {
        let _ = writeln!(
            s,
            "  #{} {} (version {}), {}, {}: started {}{}",
            c.id,
            c.flow,
            c.flow_version,
            c.language,
            c.status,
            c.started_at,
            c.ended_at
                .map(|t| format!(", ended {t}"))
                .unwrap_or_default()
        );
        for a in &c.answers {
            let _ = writeln!(
                s,
                "    {}: {} [{}] texted {:?} at {}",
                a.question, a.value, a.category, a.raw, a.answered_at
            );
        }
    }
    let _ = writeln!(s, "\nMessages ({})", r.messages.len());
    for m in &r.messages {
        let arrow = if m.direction == "in" { "from" } else { "to" };
        let body = match m.redacted_at {
            Some(t) => format!("(text removed by retention on {t})"),
            None => format!("{:?}", m.body),
        };
        let _ = writeln!(s, "  {}  {arrow} them  {body}  [{}]", m.at, m.status);
        for url in &m.media {
            let _ = writeln!(s, "      picture: {url}");
        }
    }
    let _ = writeln!(s, "\nService requests ({})", r.service_requests.len());
    for q in &r.service_requests {
        let _ = writeln!(
            s,
            "  {} {} ({}) filed {}",
            q.code, q.service, q.status, q.created_at
        );
        for (label, v) in [
            ("description", &q.description),
            ("location", &q.location),
            ("photo", &q.photo),
            ("status notes", &q.status_notes),
        ] {
            if let Some(v) = v {
                let _ = writeln!(s, "      {label}: {v}");
            }
        }
    }
    let _ = writeln!(
        s,
        "\nTexts queued or sent by the gateway ({})",
        r.outbox.len()
    );
    for o in &r.outbox {
        let _ = writeln!(
            s,
            "  {}  {} ({})  {:?}",
            o.created_at, o.kind, o.state, o.body
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_written_with_spaces_and_dashes_is_read_as_stored() {
        assert_eq!(normalise("+1 (502) 555-0123").unwrap(), "+15025550123");
        assert!(normalise("5025550123").is_err());
        assert!(normalise("+1502abc").is_err());
    }
}
