//! What to do after a send attempt: the retry schedule for transient failures, and what a
//! permanent failure means for the resident. Pure.

use std::time::Duration;

/// Attempts (the first included) before a transiently failing text is given up.
pub const MAX_ATTEMPTS: u32 = 8;

/// Carrier failures (Twilio 30003–30006) in a row after which a number counts as unreachable
/// and unsolicited texts skip it.
pub const UNREACHABLE_AFTER: u32 = 3;

/// How long to wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed
/// transiently: 5 s, 15 s, 45 s … tripling, at most 15 minutes, and never sooner than the
/// provider's `Retry-After`. None once [`MAX_ATTEMPTS`] attempts have been made.
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let base =
        Duration::from_secs(5).saturating_mul(3u32.saturating_pow(attempt.saturating_sub(1)));
    let wait = base.min(Duration::from_secs(15 * 60));
    Some(retry_after.map_or(wait, |r| wait.max(r)))
}

/// True for Twilio's delivery error codes that say the handset could not be reached (unknown
/// destination, landline, carrier violation, unreachable), which count towards
/// [`UNREACHABLE_AFTER`].
pub fn is_unreachable_code(code: u32) -> bool {
    (30003..=30006).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_then_stop() {
        let secs: Vec<_> = (1..MAX_ATTEMPTS)
            .map(|a| backoff(a, None).unwrap().as_secs())
            .collect();
        assert_eq!(secs, [5, 15, 45, 135, 405, 900, 900]);
        assert_eq!(backoff(MAX_ATTEMPTS, None), None);
    }

    #[test]
    fn retry_after_is_never_undercut() {
        assert_eq!(
            backoff(1, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            backoff(3, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(45))
        );
    }

    #[test]
    fn only_carrier_reachability_codes_count() {
        assert!(is_unreachable_code(30003));
        assert!(is_unreachable_code(30006));
        assert!(!is_unreachable_code(30007));
        assert!(!is_unreachable_code(21610));
    }
}
