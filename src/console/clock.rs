//! Times and days as staff read them: in the gateway's time zone (`time_zone`), with its
//! abbreviation, never in UTC. A clerk in Louisville filtering "responses from 2026-03-01"
//! means their own March 1st, and a chart of conversations per day counts their days.

use std::borrow::Borrow;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The zone's IANA name (`America/New_York`), as chart titles and column headers name it.
pub fn zone_name(zone: &TimeZone) -> &str {
    zone.iana_name().unwrap_or("the gateway's time zone")
}

/// `2026-03-01 14:05 EST`.
pub fn minute(zone: &TimeZone, t: impl Borrow<Timestamp>) -> String {
    t.borrow()
        .to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `2026-03-01 14:05:09 EST`.
pub fn second(zone: &TimeZone, t: impl Borrow<Timestamp>) -> String {
    t.borrow()
        .to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `14:05:09 EST`.
pub fn time_of_day(zone: &TimeZone, t: Timestamp) -> String {
    t.to_zoned(zone.clone()).strftime("%H:%M:%S %Z").to_string()
}

/// The local day `t` falls on.
pub fn day(zone: &TimeZone, t: Timestamp) -> Date {
    t.to_zoned(zone.clone()).date()
}

/// When local day `d` begins (its first instant: midnight, or later where a transition skips
/// midnight). None when out of range.
pub fn start_of(zone: &TimeZone, d: Date) -> Option<Timestamp> {
    d.to_zoned(zone.clone())
        .ok()
        .and_then(|z| z.start_of_day().ok())
        .map(|z| z.timestamp())
}

/// Counts per period start (any periods that do not straddle a local midnight, such as the
/// store's quarter hours) added up per local day, oldest first.
pub fn per_day(zone: &TimeZone, counts: &[(Timestamp, i64)]) -> Vec<(Date, i64)> {
    let mut days: std::collections::BTreeMap<Date, i64> = std::collections::BTreeMap::new();
    for (t, n) in counts {
        *days.entry(day(zone, *t)).or_default() += n;
    }
    days.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn an_evening_conversation_counts_on_the_clerks_day_not_greenwichs() {
        let louisville = TimeZone::get("America/New_York").unwrap();
        let counts = [
            // 23:45 on March 1st in Louisville, already March 2nd in UTC.
            (at("2026-03-02T04:45:00Z"), 3),
            (at("2026-03-02T05:00:00Z"), 2),
            (at("2026-03-02T16:15:00Z"), 1),
        ];
        assert_eq!(
            per_day(&louisville, &counts),
            [
                ("2026-03-01".parse().unwrap(), 3),
                ("2026-03-02".parse().unwrap(), 3)
            ]
        );
    }

    #[test]
    fn quarter_hours_add_up_to_days_in_a_zone_half_an_hour_off_the_hour() {
        let st_johns = TimeZone::get("America/St_Johns").unwrap();
        // Newfoundland is UTC-03:30 in summer: 02:15 UTC is 22:45 the day before, 03:30 UTC is
        // midnight.
        let counts = [
            (at("2026-07-02T02:15:00Z"), 1),
            (at("2026-07-02T03:30:00Z"), 1),
        ];
        assert_eq!(
            per_day(&st_johns, &counts),
            [
                ("2026-07-01".parse().unwrap(), 1),
                ("2026-07-02".parse().unwrap(), 1)
            ]
        );
    }

    #[test]
    fn a_day_starts_at_local_midnight_and_times_carry_the_zone() {
        let louisville = TimeZone::get("America/New_York").unwrap();
        let d: Date = "2026-03-01".parse().unwrap();
        assert_eq!(start_of(&louisville, d), Some(at("2026-03-01T05:00:00Z")));
        // The spring-forward day is 23 hours long.
        let spring: Date = "2026-03-08".parse().unwrap();
        let next = start_of(&louisville, spring.tomorrow().unwrap()).unwrap();
        assert_eq!(
            next.duration_since(start_of(&louisville, spring).unwrap()),
            jiff::SignedDuration::from_hours(23)
        );
        assert_eq!(
            minute(&louisville, at("2026-03-02T04:45:00Z")),
            "2026-03-01 23:45 EST"
        );
        assert_eq!(
            time_of_day(&louisville, at("2026-07-02T16:00:09Z")),
            "12:00:09 EDT"
        );
    }
}
