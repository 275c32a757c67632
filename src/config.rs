//! Settings: built-in defaults, then an optional TOML file, then environment variables, then
//! command-line flags, each overriding the one before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use figment::Figment;
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
}

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

impl Settings {
    /// Merges defaults, the config file, the environment and `flags`.
    pub fn load(flags: &Overrides) -> anyhow::Result<Settings> {
        let file = flags
            .config
            .clone()
            .or_else(|| std::env::var_os("CIVICTEXT_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match &file {
            Some(path) if !path.exists() => bail!("config file {} does not exist", path.display()),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        let settings: Settings = figment
            .merge(Env::prefixed("CIVICTEXT_").only(&[
                "bind",
                "flows",
                "public_url",
                "organization",
                "help_contact",
                "time_zone",
                "reload_interval",
                "log_format",
            ]))
            .merge(per_language_env(
                "CIVICTEXT_ORGANIZATION_",
                "organization_by_language",
            ))
            .merge(per_language_env(
                "CIVICTEXT_HELP_CONTACT_",
                "help_contact_by_language",
            ))
            .merge(Env::raw().only(&["database_url", "twilio_auth_token", "twilio_account_sid"]))
            .merge(Serialized::defaults(flags))
            .extract()
            .context("invalid configuration")?;
        let mut settings = settings;
        // `TWILIO_AUTH_TOKEN=` in an env file means "not set", never "sign with an empty key".
        for value in [
            &mut settings.twilio_auth_token,
            &mut settings.public_url,
            &mut settings.twilio_account_sid,
            &mut settings.time_zone,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses settings that would be unsafe or cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self
            .twilio_auth_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            bail!("TWILIO_AUTH_TOKEN is empty: set the account's auth token, or leave it unset");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!("CIVICTEXT_PUBLIC_URL must start with https:// (got {url:?})");
        }
        match (&self.twilio_auth_token, &self.public_url) {
            (Some(_), None) => bail!(
                "TWILIO_AUTH_TOKEN is set but CIVICTEXT_PUBLIC_URL is not: signatures are checked \
                 against the public URL Twilio calls, e.g. https://sms.example.gov"
            ),
            (None, _) if !self.bind.ip().is_loopback() => bail!(
                "refusing to listen on {} without TWILIO_AUTH_TOKEN: anyone could post fake texts. \
                 Set TWILIO_AUTH_TOKEN (and CIVICTEXT_PUBLIC_URL), or bind to 127.0.0.1",
                self.bind
            ),
            _ => {}
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("CIVICTEXT_LOG_FORMAT must be `text` or `json`");
        }
        if self.reload_interval == 0 {
            bail!("CIVICTEXT_RELOAD_INTERVAL must be at least 1 second");
        }
        Ok(())
    }

    /// The settings as TOML with secrets replaced, for `civictext config`.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        if shown.twilio_auth_token.is_some() {
            shown.twilio_auth_token = Some("(set, hidden)".into());
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
    fn redaction_hides_the_token_and_database_password() {
        let s = Settings {
            twilio_auth_token: Some("supersecret".into()),
            public_url: Some("https://sms.example.gov".into()),
            database_url: "postgres://app:hunter2@db:5432/civictext".into(),
            ..Settings::default()
        };
        let shown = s.redacted();
        assert!(!shown.contains("supersecret"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("db:5432/civictext"));
    }
}
