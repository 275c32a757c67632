//! Retention: a background job in every replica that blanks message bodies older than the
//! configured number of days (see [`crate::store::Store::redact_before`] for what it keeps).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::store::Store;

/// How often the job runs after its first run at start-up.
pub const EVERY: Duration = Duration::from_secs(3600);

/// The instant before which texts are redacted, `days` before `now`.
pub fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    now - SignedDuration::from_hours(24 * i64::from(days))
}

/// Redacts what is older than `days`, now and then every `every`, until the task is aborted.
/// Several replicas running it at once is safe: each run only touches rows not yet redacted.
pub async fn run(store: Store, days: u32, every: Duration) {
    loop {
        let now = Timestamp::now();
        match store.redact_before(cutoff(now, days), now).await {
            Ok(done) if done.total() > 0 => tracing::info!(
                messages = done.messages,
                answers = done.answers,
                outbox = done.outbox,
                retention_days = days,
                "retention: redacted old message bodies"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention: redaction failed; retrying later"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_whole_days_before_now() {
        let now: Timestamp = "2026-03-31T12:00:00Z".parse().unwrap();
        assert_eq!(
            cutoff(now, 30),
            "2026-03-01T12:00:00Z".parse::<Timestamp>().unwrap()
        );
    }
}
