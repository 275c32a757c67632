//! Texts the gateway starts: the worker that sends the outbox, and the pure policy it applies
//! (consent, quiet hours, pacing, retries), each in its own file and tested with an injected
//! clock.

pub mod compose;
pub mod consent;
pub mod pacing;
pub mod quiet_hours;
pub mod retry;
pub mod worker;
pub mod zones;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::channel::twilio::sender::{SendFrom, TwilioSender};
use crate::config::Settings;
use crate::store::Store;

/// The path Twilio posts delivery statuses to.
pub const STATUS_PATH: &str = "/webhooks/twilio/status";

/// A running outbox worker.
pub struct OutboundHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OutboundHandle {
    /// Stops claiming, and waits for the texts already handed out to be sent and recorded.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Whether the settings allow sending: an account SID, an auth token, and a number or a
/// Messaging Service to send from. Without them the outbox worker does not run and texts the
/// gateway starts stay queued.
pub fn sending_configured(settings: &Settings) -> bool {
    settings.twilio_account_sid.is_some()
        && settings.twilio_auth_token.is_some()
        && (settings.twilio_from.is_some() || settings.twilio_messaging_service_sid.is_some())
}

/// Starts the outbox worker if the settings allow sending (account SID, auth token, and a
/// number or Messaging Service); otherwise says once why outbound texting is off.
pub fn start(
    settings: &Settings,
    store: &Store,
    gateway_zone: jiff::tz::TimeZone,
) -> anyhow::Result<Option<OutboundHandle>> {
    start_with_clock(settings, store, gateway_zone, Arc::new(worker::SystemClock))
}

/// Like [`start`], reading the time from `clock`.
pub fn start_with_clock(
    settings: &Settings,
    store: &Store,
    gateway_zone: jiff::tz::TimeZone,
    clock: Arc<dyn worker::Clock>,
) -> anyhow::Result<Option<OutboundHandle>> {
    let from = match (
        &settings.twilio_from,
        &settings.twilio_messaging_service_sid,
    ) {
        (Some(n), _) => Some(SendFrom::Number(n.clone())),
        (None, Some(s)) => Some(SendFrom::MessagingService(s.clone())),
        (None, None) => None,
    };
    let (Some(account), Some(token), Some(from)) = (
        &settings.twilio_account_sid,
        &settings.twilio_auth_token,
        from,
    ) else {
        tracing::warn!(
            "outbound texting is off (broadcasts, reminders and follow-ups stay queued): set \
             TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"
        );
        return Ok(None);
    };
    let sender = TwilioSender::new(&settings.twilio_api_base, account.clone(), token.clone())
        .context("TWILIO_API_BASE / TWILIO_ACCOUNT_SID")?;
    let quiet_hours = quiet_hours::parse_setting(&settings.quiet_hours)?;
    let worker_settings = worker::OutboundSettings {
        from,
        per_second: settings.outbound_mps,
        quiet_hours,
        gateway_zone,
        status_callback: settings
            .public_url
            .as_ref()
            .map(|u| format!("{}{STATUS_PATH}", u.trim_end_matches('/'))),
        worker: format!("{}-{}", hostname(), std::process::id()),
        poll: Duration::from_millis(200),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = worker::Worker {
        store: store.clone(),
        sender,
        settings: Arc::new(worker_settings),
        clock,
    };
    let task = tokio::spawn(worker.run(stopped));
    Ok(Some(OutboundHandle { stop, task }))
}

/// This machine's name, to tell replicas apart in the outbox.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".into())
}
