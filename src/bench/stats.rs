//! Latency percentiles.

use std::time::Duration;

/// Summary of a set of latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The nearest-rank percentile `p` (0–100) of `sorted` (ascending); zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50 / p90 / p99 / max of `samples` (sorted in place).
pub fn summarize(samples: &mut [Duration]) -> Latency {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Latency {
        p50_ms: ms(percentile(samples, 50.0)),
        p90_ms: ms(percentile(samples, 90.0)),
        p99_ms: ms(percentile(samples, 99.0)),
        max_ms: ms(samples.last().copied().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let l = summarize(&mut samples);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p90_ms, 90.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(percentile(&[ms(7)], 99.0), ms(7));
        assert_eq!(percentile(&[ms(1), ms(2)], 50.0), ms(1));
        assert_eq!(percentile(&[ms(1), ms(2)], 51.0), ms(2));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
