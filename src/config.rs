//! Settings: built-in defaults, then an optional TOML file, then environment variables, then
//! command-line flags, each overriding the one before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use figment::Figment;
use figment::Source;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The file read when `--config` / `CIVICTEXT_CONFIG` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "civictext.toml";

/// Everything `civictext serve` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (`CIVICTEXT_BIND`).
    pub bind: SocketAddr,
    /// `sqlite://FILE` (embedded) or `postgres://USER@HOST/DB` (shared by replicas) (`DATABASE_URL`).
    pub database_url: String,
    /// The flows directory (`CIVICTEXT_FLOWS`).
    pub flows: PathBuf,
    /// Public base URL Twilio calls, e.g. `https://sms.example.gov` (`CIVICTEXT_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// Twilio auth token: webhooks are verified with it (`TWILIO_AUTH_TOKEN`).
    pub twilio_auth_token: Option<String>,
    /// Twilio account SID; webhooks for other accounts are refused (`TWILIO_ACCOUNT_SID`).
    pub twilio_account_sid: Option<String>,
    /// Who is texting, named in the help and opt-out replies (`CIVICTEXT_ORGANIZATION`).
    pub organization: String,
    /// How residents get human help, named in the HELP reply (`CIVICTEXT_HELP_CONTACT`).
    pub help_contact: String,
    /// `organization` in other languages, by language code (`[organization_by_language]` in
    /// the file, `CIVICTEXT_ORGANIZATION_ES` and so on in the environment).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub organization_by_language: BTreeMap<String, String>,
    /// `help_contact` in other languages, by language code (`[help_contact_by_language]`,
    /// `CIVICTEXT_HELP_CONTACT_ES`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub help_contact_by_language: BTreeMap<String, String>,
    /// IANA time zone of the residents, e.g. `America/Kentucky/Louisville`; default: the
    /// system's (`CIVICTEXT_TIME_ZONE`).
    pub time_zone: Option<String>,
    /// Seconds between checks of the flows directory for edits (`CIVICTEXT_RELOAD_INTERVAL`).
    pub reload_interval: u64,
    /// `text` or `json` logs (`CIVICTEXT_LOG_FORMAT`).
    pub log_format: String,
    /// Secret key of residents' pseudonyms in results; generated and stored in the database on
    /// first start when not set (`CIVICTEXT_PSEUDONYM_KEY`).
    pub pseudonym_key: Option<String>,
    /// Seconds a client has to send a request's headers, on a new connection or an idle
    /// kept-alive one, before it is closed (`CIVICTEXT_HEADER_READ_TIMEOUT`).
    pub header_read_timeout: u64,
    /// Seconds to receive a request's body and answer it; slower requests get 408
    /// (`CIVICTEXT_REQUEST_TIMEOUT`).
    pub request_timeout: u64,
    /// Most client connections open at once; further clients wait to be accepted
    /// (`CIVICTEXT_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Seconds within which a webhook is answered: a text that cannot be stored in time is
    /// answered 503 and not stored (`CIVICTEXT_WEBHOOK_DEADLINE`). Twilio waits 15 s at most;
    /// a longer deadline is allowed (with a warning) for a caller that waits longer.
    pub webhook_deadline: u64,
    /// The number outbound texts are sent from (`TWILIO_FROM`).
    pub twilio_from: Option<String>,
    /// The Messaging Service outbound texts are sent through, instead of one number
    /// (`TWILIO_MESSAGING_SERVICE_SID`).
    pub twilio_messaging_service_sid: Option<String>,
    /// Twilio's REST API base URL; tests and staging point it at a double (`TWILIO_API_BASE`).
    pub twilio_api_base: String,
    /// Segments per second the sender may send, across every replica
    /// (`CIVICTEXT_OUTBOUND_MPS`): 1 for a US long code, 100+ for a short code.
    pub outbound_mps: f64,
    /// Local hours in which unsolicited texts wait, `21:00-08:00`, or `off`
    /// (`CIVICTEXT_QUIET_HOURS`).
    pub quiet_hours: String,
    /// Address of a listener serving only `GET /metrics` (`CIVICTEXT_METRICS_BIND`). Unset,
    /// metrics are served on `bind` while that is loopback, and nowhere otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<SocketAddr>,
    /// Days message bodies are kept: older texts in and out, and the raw text of older answers,
    /// are blanked by a background job (answers' values and every count stay). Unset: kept
    /// until erased (`CIVICTEXT_RETENTION_DAYS`).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Seconds between looks for conversations whose reminder or expiry is due
    /// (`CIVICTEXT_SWEEP_INTERVAL`): a reminder goes at most this late.
    pub sweep_interval: u64,
}

/// The highest `max_connections` accepted.
pub const MAX_CONNECTIONS_CEILING: usize = 1_000_000;

/// How long Twilio waits for a webhook's answer before it gives up on it.
pub const TWILIO_WEBHOOK_TIMEOUT_SECS: u64 = 15;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://civictext.db".into(),
            flows: PathBuf::from("conversation-flows"),
            public_url: None,
            twilio_auth_token: None,
            twilio_account_sid: None,
            organization: "civictext".into(),
            help_contact: crate::gateway::replies::DEFAULT_HELP_CONTACT.into(),
            organization_by_language: BTreeMap::new(),
            help_contact_by_language: BTreeMap::new(),
            time_zone: None,
            reload_interval: 2,
            log_format: "text".into(),
            pseudonym_key: None,
            header_read_timeout: 10,
            request_timeout: 15,
            max_connections: 1024,
            webhook_deadline: 10,
            twilio_from: None,
            twilio_messaging_service_sid: None,
            twilio_api_base: crate::channel::twilio::sender::DEFAULT_API_BASE.into(),
            outbound_mps: 1.0,
            quiet_hours: "21:00-08:00".into(),
            metrics_bind: None,
            retention_days: None,
            sweep_interval: 15,
        }
    }
}

/// Command-line overrides (only the ones given are applied).
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// Config file (TOML) [env: CIVICTEXT_CONFIG; default: ./civictext.toml if present]
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// Database URL, e.g. sqlite://civictext.db
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The flows directory
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<PathBuf>,
    /// Public base URL Twilio calls
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// A setting whose value cannot work: the key it is set under and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The setting's file key (`time_zone`), to say where the value came from.
    pub key: &'static str,
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> Result<(), Invalid> {
    Err(Invalid {
        key,
        message: message.into(),
    })
}

/// The configuration file `flags` and the environment select: `--config`, then
/// `CIVICTEXT_CONFIG`, then `./civictext.toml` when it exists; None when there is none.
pub fn config_file(flags: &Overrides) -> anyhow::Result<Option<PathBuf>> {
    let named = flags
        .config
        .clone()
        .or_else(|| std::env::var_os("CIVICTEXT_CONFIG").map(PathBuf::from));
    match named {
        Some(path) if !path.exists() => bail!("config file {} does not exist", path.display()),
        Some(path) => Ok(Some(path)),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => Ok(Some(DEFAULT_CONFIG_FILE.into())),
        None => Ok(None),
    }
}

/// Where the value of `key` came from, for an error message: the file, the environment
/// variable or the flag.
fn source_of(figment: &Figment, flags: &Overrides, key: &str) -> Option<String> {
    let flag_set = match key {
        "bind" => flags.bind.is_some(),
        "database_url" => flags.database_url.is_some(),
        "flows" => flags.flows.is_some(),
        "public_url" => flags.public_url.is_some(),
        _ => false,
    };
    if flag_set {
        return Some(format!("given with --{}", key.replace('_', "-")));
    }
    let md = figment.find_metadata(key)?;
    match &md.source {
        Some(Source::File(path)) => Some(format!("set as `{key}` in {}", path.display())),
        _ if md.name.contains("environment") => {
            Some(format!("set by the environment variable {}", env_var(key)))
        }
        _ => None,
    }
}

/// Settings read from an environment variable without the `CIVICTEXT_` prefix (the names
/// their own tools use).
const UNPREFIXED: [&str; 6] = [
    "database_url",
    "twilio_auth_token",
    "twilio_account_sid",
    "twilio_from",
    "twilio_messaging_service_sid",
    "twilio_api_base",
];

/// The unprefixed variables that are set, read as text: figment's own `Env` would read
/// `TWILIO_FROM=+15025550000` as a number (and refuse it), and these settings are all strings.
struct UnprefixedEnv;

impl figment::Provider for UnprefixedEnv {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable(s)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let set: BTreeMap<&str, String> = UNPREFIXED
            .iter()
            .filter_map(|key| Some((*key, std::env::var(key.to_uppercase()).ok()?)))
            .collect();
        Serialized::defaults(set).data()
    }
}

/// The environment variable that sets `key`.
fn env_var(key: &str) -> String {
    if UNPREFIXED.contains(&key) {
        key.to_uppercase()
    } else {
        format!("CIVICTEXT_{}", key.to_uppercase())
    }
}

impl Settings {
    /// Merges defaults, the config file, the environment and `flags`, and validates the
    /// result; an error names where the bad value came from.
    pub fn load(flags: &Overrides) -> anyhow::Result<Settings> {
        let file = config_file(flags)?;
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment
            .merge(Env::prefixed("CIVICTEXT_").only(&[
                "bind",
                "flows",
                "public_url",
                "organization",
                "help_contact",
                "time_zone",
                "reload_interval",
                "log_format",
                "pseudonym_key",
                "header_read_timeout",
                "request_timeout",
                "max_connections",
                "webhook_deadline",
                "outbound_mps",
                "quiet_hours",
                "metrics_bind",
                "retention_days",
                "sweep_interval",
            ]))
            .merge(per_language_env(
                "CIVICTEXT_ORGANIZATION_",
                "organization_by_language",
            ))
            .merge(per_language_env(
                "CIVICTEXT_HELP_CONTACT_",
                "help_contact_by_language",
            ))
            .merge(UnprefixedEnv)
            .merge(Serialized::defaults(flags));
        let mut settings: Settings = figment.extract().context("invalid configuration")?;
        // `TWILIO_AUTH_TOKEN=` in an env file means "not set", never "sign with an empty key".
        for value in [
            &mut settings.twilio_auth_token,
            &mut settings.public_url,
            &mut settings.twilio_account_sid,
            &mut settings.time_zone,
            &mut settings.pseudonym_key,
            &mut settings.twilio_from,
            &mut settings.twilio_messaging_service_sid,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        if let Err(bad) = settings.check() {
            match source_of(&figment, flags, bad.key) {
                Some(source) => bail!("invalid configuration: {bad} ({source})"),
                None => bail!("invalid configuration: {bad}"),
            }
        }
        Ok(settings)
    }

    /// Refuses settings that would be unsafe or cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        Ok(self.check()?)
    }

    /// Like [`Settings::validate`], naming the setting at fault.
    pub fn check(&self) -> Result<(), Invalid> {
        if self
            .twilio_auth_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            invalid(
                "twilio_auth_token",
                "TWILIO_AUTH_TOKEN is empty: set the account's auth token, or leave it unset",
            )?;
        }
        if let Some(url) = &self.public_url {
            check_public_url(url)?;
        }
        match (&self.twilio_auth_token, &self.public_url) {
            (Some(_), None) => invalid(
                "twilio_auth_token",
                "TWILIO_AUTH_TOKEN is set but CIVICTEXT_PUBLIC_URL is not: signatures are checked \
                 against the public URL Twilio calls, e.g. https://sms.example.gov",
            )?,
            (None, _) if !self.bind.ip().is_loopback() => invalid(
                "bind",
                format!(
                    "refusing to listen on {} without TWILIO_AUTH_TOKEN: anyone could post fake \
                     texts. Set TWILIO_AUTH_TOKEN (and CIVICTEXT_PUBLIC_URL), or bind to 127.0.0.1",
                    self.bind
                ),
            )?,
            _ => {}
        }
        if let Some(name) = &self.time_zone
            && jiff::tz::TimeZone::get(name).is_err()
        {
            invalid(
                "time_zone",
                format!(
                    "unknown time zone {name:?}: use an IANA zone name such as \
                     America/Kentucky/Louisville or America/New_York"
                ),
            )?;
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            invalid(
                "log_format",
                format!(
                    "log format must be `text` or `json` (got {:?})",
                    self.log_format
                ),
            )?;
        }
        if self.reload_interval == 0 {
            invalid(
                "reload_interval",
                "the reload interval must be at least 1 second",
            )?;
        }
        if self.sweep_interval == 0 {
            invalid(
                "sweep_interval",
                "the sweep interval must be at least 1 second",
            )?;
        }
        if self.header_read_timeout == 0 {
            invalid(
                "header_read_timeout",
                "the header read timeout must be at least 1 second",
            )?;
        }
        if self.request_timeout == 0 {
            invalid(
                "request_timeout",
                "the request timeout must be at least 1 second",
            )?;
        }
        if !(1..=MAX_CONNECTIONS_CEILING).contains(&self.max_connections) {
            invalid(
                "max_connections",
                format!("max_connections must be between 1 and {MAX_CONNECTIONS_CEILING}"),
            )?;
        }
        if self.webhook_deadline == 0 {
            invalid(
                "webhook_deadline",
                "the webhook deadline must be at least 1 second",
            )?;
        }
        if self.webhook_deadline >= self.request_timeout {
            invalid(
                "webhook_deadline",
                format!(
                    "the webhook deadline ({} s) must be shorter than the request timeout ({} s), \
                     or texts are cut off before they are answered",
                    self.webhook_deadline, self.request_timeout
                ),
            )?;
        }
        if !(self.outbound_mps.is_finite() && self.outbound_mps > 0.0) {
            invalid(
                "outbound_mps",
                "the outbound rate must be a positive number of segments per second",
            )?;
        }
        if let Err(e) = crate::outbound::quiet_hours::parse_setting(&self.quiet_hours) {
            invalid("quiet_hours", e.to_string())?;
        }
        if self.retention_days == Some(0) {
            invalid(
                "retention_days",
                "retention_days must be at least 1 (leave it unset to keep message bodies)",
            )?;
        }
        if self.twilio_from.is_some() && self.twilio_messaging_service_sid.is_some() {
            invalid(
                "twilio_messaging_service_sid",
                "set twilio_from or twilio_messaging_service_sid, not both: Twilio takes one sender",
            )?;
        }
        Ok(())
    }

    /// Checks that the flows directory exists, before anything is created: a gateway started in
    /// the wrong directory should say how to point at the flows, not leave a database behind.
    pub fn check_flows_dir(&self) -> anyhow::Result<()> {
        if self.flows.is_dir() {
            return Ok(());
        }
        let shown = if self.flows.is_relative() {
            match std::env::current_dir() {
                Ok(cwd) => format!("{} (in {})", self.flows.display(), cwd.display()),
                Err(_) => self.flows.display().to_string(),
            }
        } else {
            self.flows.display().to_string()
        };
        bail!(
            "flows directory {shown} not found. Run `civictext init` to create a working \
             starter here, or point at your flows with --flows DIR, the environment variable \
             CIVICTEXT_FLOWS=DIR, or `flows = \"DIR\"` in civictext.toml"
        )
    }

    /// The settings as TOML with secrets replaced, for `civictext config`.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        if shown.twilio_auth_token.is_some() {
            shown.twilio_auth_token = Some("(set, hidden)".into());
        }
        if shown.pseudonym_key.is_some() {
            shown.pseudonym_key = Some("(set, hidden)".into());
        }
        if let Some(url) = &shown
            .database_url
            .split_once('@')
            .map(|(_, host)| host.to_string())
        {
            // postgres://user:password@host/db → hide the credentials.
            let scheme = shown
                .database_url
                .split("://")
                .next()
                .unwrap_or("db")
                .to_string();
            shown.database_url = format!("{scheme}://(hidden)@{url}");
        }
        let mut out = toml_lines(&shown);
        if shown.twilio_auth_token.is_none() {
            out.push_str("# twilio_auth_token is not set: webhook signatures are NOT checked\n");
        }
        out
    }
}

/// `PREFIX<LANG>=text` variables (`CIVICTEXT_HELP_CONTACT_ES`) as entries of the table `key`,
/// by lower-case language code.
fn per_language_env(prefix: &'static str, key: &'static str) -> Env {
    Env::prefixed(prefix)
        .filter(|lang| !lang.as_str().is_empty())
        .map(move |lang| format!("{key}.{}", lang.as_str().replace('_', "-")).into())
        .lowercase(true)
}

/// A public URL Twilio can call: `https://` (or `http://`) and a host, no query or fragment.
fn check_public_url(url: &str) -> Result<(), Invalid> {
    let hint = "the public URL is the address Twilio calls, e.g. https://sms.example.gov";
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            return invalid(
                "public_url",
                format!("public URL {url:?} is not a URL ({e}): {hint}"),
            );
        }
    };
    if !matches!(parsed.scheme(), "https" | "http") {
        return invalid(
            "public_url",
            format!("public URL {url:?} must start with https://: {hint}"),
        );
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return invalid(
            "public_url",
            format!("public URL {url:?} has no host: {hint}"),
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return invalid(
            "public_url",
            format!(
                "public URL {url:?} must be a plain base URL, without user, query or fragment: {hint}"
            ),
        );
    }
    Ok(())
}

fn toml_lines(s: &Settings) -> String {
    let value = serde_json::to_value(s).expect("settings serialise");
    let mut out = String::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            match v {
                serde_json::Value::Null => out.push_str(&format!("# {k} = (not set)\n")),
                // A per-language table as an inline TOML table: `{ es = "llame al 311" }`.
                serde_json::Value::Object(table) => {
                    let entries: Vec<String> = table
                        .iter()
                        .map(|(lang, text)| format!("{lang:?} = {text}"))
                        .collect();
                    out.push_str(&format!("{k} = {{ {} }}\n", entries.join(", ")));
                }
                v => out.push_str(&format!("{k} = {v}\n")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_with_sqlite_and_the_shipped_flows() {
        let s = Settings::default();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://civictext.db");
        assert!(s.validate().is_ok());
    }

    #[test]
    fn an_auth_token_without_a_public_url_is_refused() {
        let s = Settings {
            twilio_auth_token: Some("x".into()),
            ..Settings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("CIVICTEXT_PUBLIC_URL")
        );
    }

    #[test]
    fn listening_beyond_loopback_without_a_token_is_refused() {
        let s = Settings {
            bind: "0.0.0.0:8080".parse().unwrap(),
            ..Settings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("TWILIO_AUTH_TOKEN")
        );
    }

    #[test]
    fn an_empty_auth_token_is_refused_rather_than_used_as_a_signing_key() {
        let s = Settings {
            twilio_auth_token: Some("  ".into()),
            public_url: Some("https://sms.example.gov".into()),
            ..Settings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn a_public_url_without_a_host_is_refused() {
        for url in [
            "https://",
            "https://?x=1",
            "sms.example.gov",
            "ftp://sms.example.gov",
            "https://sms.example.gov/?x=1",
        ] {
            let s = Settings {
                public_url: Some(url.into()),
                ..Settings::default()
            };
            let err = s.check().unwrap_err();
            assert_eq!(err.key, "public_url", "{url}: {err}");
        }
        for url in [
            "https://sms.example.gov",
            "https://sms.example.gov/",
            "http://127.0.0.1:8080",
            "https://example.gov/civictext",
        ] {
            let s = Settings {
                public_url: Some(url.into()),
                ..Settings::default()
            };
            assert!(s.check().is_ok(), "{url}");
        }
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        let s = Settings {
            time_zone: Some("America/Louisvile".into()),
            ..Settings::default()
        };
        let err = s.check().unwrap_err();
        assert_eq!(err.key, "time_zone");
        assert!(err.message.contains("IANA"), "{err}");
    }

    #[test]
    fn a_webhook_deadline_must_fit_inside_the_request_timeout() {
        let s = Settings {
            webhook_deadline: 12,
            request_timeout: 10,
            ..Settings::default()
        };
        let err = s.check().unwrap_err();
        assert_eq!(err.key, "webhook_deadline");
        assert!(err.message.contains("request timeout"), "{err}");
        assert!(Settings::default().webhook_deadline < TWILIO_WEBHOOK_TIMEOUT_SECS);
    }

    #[test]
    fn zero_timeouts_or_connections_are_refused() {
        for (s, key) in [
            (
                Settings {
                    header_read_timeout: 0,
                    ..Settings::default()
                },
                "header_read_timeout",
            ),
            (
                Settings {
                    request_timeout: 0,
                    webhook_deadline: 0,
                    ..Settings::default()
                },
                "request_timeout",
            ),
            (
                Settings {
                    max_connections: 0,
                    ..Settings::default()
                },
                "max_connections",
            ),
            (
                Settings {
                    webhook_deadline: 0,
                    ..Settings::default()
                },
                "webhook_deadline",
            ),
        ] {
            assert_eq!(s.check().unwrap_err().key, key, "{s:?}");
        }
    }

    #[test]
    fn redaction_hides_the_token_and_database_password() {
        let s = Settings {
            twilio_auth_token: Some("supersecret".into()),
            public_url: Some("https://sms.example.gov".into()),
            database_url: "postgres://app:hunter2@db:5432/civictext".into(),
            ..Settings::default()
        };
        let s = Settings {
            pseudonym_key: Some("keyofpseudonyms".into()),
            ..s
        };
        let shown = s.redacted();
        assert!(!shown.contains("keyofpseudonyms"));
        assert!(!shown.contains("supersecret"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("db:5432/civictext"));
    }
}
