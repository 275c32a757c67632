//! `civictext init [DIR]`: a directory `civictext serve` runs in as it is.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// The shipped example flows and their conversation tests, built into the binary so `init`
/// works wherever the binary was copied to.
const STARTER_FLOWS: &[(&str, &str)] = &[
    (
        "poll.yaml",
        include_str!("../../conversation-flows/poll.yaml"),
    ),
    (
        "poll.test.yaml",
        include_str!("../../conversation-flows/poll.test.yaml"),
    ),
    (
        "service-request.yaml",
        include_str!("../../conversation-flows/service-request.yaml"),
    ),
    (
        "service-request.test.yaml",
        include_str!("../../conversation-flows/service-request.test.yaml"),
    ),
    (
        "youth-survey.yaml",
        include_str!("../../conversation-flows/youth-survey.yaml"),
    ),
    (
        "youth-survey.test.yaml",
        include_str!("../../conversation-flows/youth-survey.test.yaml"),
    ),
];

/// Every setting, commented out at its default, so the file documents itself.
const STARTER_CONFIG: &str = r#"# civictext configuration. Every line below is commented out at its built-in default:
# uncomment and change what you need. Environment variables override this file
# (CIVICTEXT_BIND, DATABASE_URL, ...), and `civictext serve` flags override both.
# `civictext config` prints the effective settings and checks them.

# Address to listen on. Without twilio_auth_token only loopback (127.0.0.1) is allowed.
# bind = "127.0.0.1:8080"

# sqlite://FILE (one process) or postgres://USER@HOST/DB (several replicas share it).
# database_url = "sqlite://civictext.db"

# The directory of conversation flows (*.yaml) and their tests (*.test.yaml).
# flows = "conversation-flows"

# The public base URL Twilio calls; required with twilio_auth_token.
# public_url = "https://sms.example.gov"

# Keep secrets out of this file: set TWILIO_AUTH_TOKEN (and TWILIO_ACCOUNT_SID) in the
# environment, e.g. an env file only the service can read.

# Who is texting, named in HELP and opt-out replies, and where residents get human help.
# organization = "civictext"
# help_contact = "call 311"

# The same in other languages, by language code; languages not listed use the above.
# organization_by_language = { es = "Ciudad de Louisville" }
# help_contact_by_language = { es = "llame al 311" }

# The residents' IANA time zone (default: the system's), e.g. for answers like "tomorrow".
# time_zone = "America/Kentucky/Louisville"

# Seconds between checks of the flows directory for edits.
# reload_interval = 2

# "text" or "json" logs.
# log_format = "text"

# Secret key of residents' pseudonyms in exports and the API. Leave unset: one is generated on
# first start and kept in the database. Better set it through CIVICTEXT_PSEUDONYM_KEY than here.
# pseudonym_key = "…"

# Limits on clients (seconds, connections): time to send a request's headers, to send its body
# and be answered (408 after), connections served at once, and time to store and answer a text
# (503 after; keep it below Twilio's 15 s).
# header_read_timeout = 10
# request_timeout = 15
# max_connections = 1024
# webhook_deadline = 10

# Texts the gateway starts (broadcasts, reminders, follow-ups) go out only when
# TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set and one sender is given: a number or a
# Messaging Service.
# twilio_from = "+15025550000"
# twilio_messaging_service_sid = "MG0123456789abcdef0123456789abcdef"

# Twilio's REST API; point it at a test double in staging.
# twilio_api_base = "https://api.twilio.com"

# Segments per second the sender may send, shared by every replica: 1 for a US long code,
# 100 or more for a short code.
# outbound_mps = 1.0

# Seconds between looks for conversations whose reminder (`remind_after`) or expiry
# (`expires_after`) is due; every replica looks, and each conversation is handled once.
# sweep_interval = 15

# Local hours in the resident's time zone in which texts they did not just ask for wait
# until morning; "off" disables.
# quiet_hours = "21:00-08:00"

# Days message bodies are kept: older texts, and the raw text of older answers, are blanked by
# a background job; answers' values and every count stay. Unset: kept until erased.
# retention_days = 365
"#;

/// Keeps the database (and SQLite's journal files) out of version control.
const STARTER_GITIGNORE: &str = "# The gateway's SQLite database and its journal files\n\
civictext.db\ncivictext.db-*\n";

/// Writes the starter into `dir`, refusing to overwrite anything already there.
pub fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    let flows = dir.join("conversation-flows");
    let mut files = vec![
        (dir.join(crate::config::DEFAULT_CONFIG_FILE), STARTER_CONFIG),
        (dir.join(".gitignore"), STARTER_GITIGNORE),
    ];
    files.extend(
        STARTER_FLOWS
            .iter()
            .map(|(name, text)| (flows.join(name), *text)),
    );
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "nothing was written: these files already exist: {}. Move them away, or run \
             `civictext init` in another directory",
            existing.join(", ")
        );
    }
    let mut report = String::new();
    std::fs::create_dir_all(&flows)
        .with_context(|| format!("cannot create {}", flows.display()))?;
    for (path, text) in &files {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        report.push_str(&format!("created {}\n", path.display()));
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    report.push_str(&format!(
        "\nNext:\n  {cd}civictext flows test conversation-flows   # the example conversations pass\n  \
         {cd}civictext serve                              # listens on 127.0.0.1:8080\n\
         then text a keyword (PLAN, MAINST, REPORT) as the README's tour shows, and edit\n\
         civictext.toml and the flows to make them yours.\n"
    ));
    let mut out = std::io::stdout().lock();
    out.write_all(report.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_holds_every_shipped_flow_and_test() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows");
        let mut names: Vec<String> = std::fs::read_dir(shipped)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        names.sort();
        let mut starter: Vec<&str> = STARTER_FLOWS.iter().map(|(n, _)| *n).collect();
        starter.sort();
        assert_eq!(names, starter);
    }

    #[test]
    fn the_starter_configuration_is_valid_toml_with_every_setting_mentioned() {
        use figment::providers::{Format, Serialized, Toml};
        let loaded: crate::config::Settings =
            figment::Figment::from(Serialized::defaults(crate::config::Settings::default()))
                .merge(Toml::string(STARTER_CONFIG))
                .extract()
                .unwrap();
        assert_eq!(
            loaded,
            crate::config::Settings::default(),
            "every setting is commented out"
        );
        let defaults = serde_json::to_value(crate::config::Settings::default()).unwrap();
        for key in defaults.as_object().unwrap().keys() {
            let mentioned =
                STARTER_CONFIG.contains(&format!("# {key} =")) || key.starts_with("twilio_");
            assert!(mentioned, "{key} is not in the starter civictext.toml");
        }
    }
}
