//! Quiet hours: no unsolicited text between, say, 21:00 and 08:00 in the resident's time zone.
//! Pure: the time and the zones are inputs.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A daily window (local time) in which unsolicited texts wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Local time quiet begins (inclusive).
    pub start: Time,
    /// Local time quiet ends (exclusive); before `start` when the window spans midnight.
    pub end: Time,
}

/// Why a quiet-hours setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quiet hours {0:?}: write HH:MM-HH:MM (e.g. 21:00-08:00) or off")]
pub struct QuietHoursError(pub String);

/// Parses `21:00-08:00`, or `off` for no quiet hours (None).
pub fn parse_setting(s: &str) -> Result<Option<QuietHours>, QuietHoursError> {
    if s.trim().eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        s.parse().map(Some)
    }
}

impl FromStr for QuietHours {
    type Err = QuietHoursError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || QuietHoursError(s.to_string());
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let time = |t: &str| -> Result<Time, QuietHoursError> {
            let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
            let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            Time::new(h, m, 0, 0).map_err(|_| bad())
        };
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(bad());
        }
        Ok(QuietHours { start, end })
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start.hour(),
            self.start.minute(),
            self.end.hour(),
            self.end.minute()
        )
    }
}

impl QuietHours {
    /// True when local time `t` is inside the window.
    pub fn contains(&self, t: Time) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// None when an unsolicited text may go at `now` to a resident who may be in any of
    /// `zones`; otherwise the first instant at which it is quiet in none of them (the
    /// morning). A number whose area code spans two zones waits for the later morning.
    pub fn wait_until(&self, now: Timestamp, zones: &[TimeZone]) -> Option<Timestamp> {
        let mut at = now;
        // Each pass moves past the window in at least one zone; zones are few.
        for _ in 0..=zones.len() * 2 {
            let mut later = None;
            for tz in zones {
                let local = at.to_zoned(tz.clone());
                if self.contains(local.time()) {
                    let mut date = local.date();
                    if self.start > self.end && local.time() >= self.start {
                        date = date.tomorrow().unwrap_or(date);
                    }
                    let morning = date
                        .to_datetime(self.end)
                        .to_zoned(tz.clone())
                        .map(|z| z.timestamp())
                        .unwrap_or(at + 1.hour());
                    later = Some(later.map_or(morning, |l: Timestamp| l.max(morning)));
                }
            }
            match later {
                None => return (at != now).then_some(at),
                Some(t) if t > at => at = t,
                Some(_) => return Some(at + 1.minute()),
            }
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn settings_parse_and_print_back() {
        let q = parse_setting("21:00-08:00").unwrap().unwrap();
        assert_eq!(q.to_string(), "21:00-08:00");
        assert_eq!(parse_setting("off").unwrap(), None);
        assert_eq!(parse_setting(" OFF ").unwrap(), None);
        for bad in [
            "",
            "21-08",
            "25:00-08:00",
            "21:00-21:00",
            "21:00",
            "nine-five",
        ] {
            assert!(parse_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_window_over_midnight_holds_evening_and_night_but_not_day() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        for (t, quiet) in [
            ("20:59", false),
            ("21:00", true),
            ("23:59", true),
            ("00:00", true),
            ("07:59", true),
            ("08:00", false),
            ("12:00", false),
        ] {
            assert_eq!(q.contains(t.parse().unwrap()), quiet, "{t}");
        }
        let day: QuietHours = "12:00-13:00".parse().unwrap();
        assert!(day.contains("12:30".parse().unwrap()));
        assert!(!day.contains("13:00".parse().unwrap()));
    }

    #[test]
    fn a_text_due_at_night_waits_for_eight_in_the_residents_morning() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        // 22:30 in New York (EST, UTC-5) waits until 08:00 the next day.
        assert_eq!(
            q.wait_until(at("2026-01-16T03:30:00Z"), &[ny()]),
            Some(at("2026-01-16T13:00:00Z"))
        );
        // 03:00 in New York waits until 08:00 the same day.
        assert_eq!(
            q.wait_until(at("2026-01-16T08:00:00Z"), &[ny()]),
            Some(at("2026-01-16T13:00:00Z"))
        );
        // Noon goes now.
        assert_eq!(q.wait_until(at("2026-01-16T17:00:00Z"), &[ny()]), None);
    }

    #[test]
    fn the_morning_is_found_across_a_daylight_saving_change() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        // 22:00 EST on Saturday 7 March 2026; clocks spring forward that night, so 08:00 on
        // Sunday is EDT (UTC-4).
        assert_eq!(
            q.wait_until(at("2026-03-08T03:00:00Z"), &[ny()]),
            Some(at("2026-03-08T12:00:00Z"))
        );
    }

    #[test]
    fn a_number_spanning_two_zones_waits_until_it_is_morning_in_both() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        let both = [ny(), TimeZone::get("America/Chicago").unwrap()];
        // 07:30 New York is 06:30 Chicago: wait for 08:00 Chicago = 09:00 New York.
        assert_eq!(
            q.wait_until(at("2026-01-16T12:30:00Z"), &both),
            Some(at("2026-01-16T14:00:00Z"))
        );
        // 20:30 Chicago is 21:30 New York: quiet already in New York.
        assert!(q.wait_until(at("2026-01-17T02:30:00Z"), &both).is_some());
    }
}
