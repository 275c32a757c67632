//! Which time zone a resident is in: their own if known, else the one their North American
//! area code names (data/nanp_time_zones.tsv, derived from libphonenumber), else the gateway's.

use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::tz::TimeZone;

/// The shipped area-code table: `NPA<TAB>Zone[,Zone…]`, `#` comments.
const TABLE: &str = include_str!("../../data/nanp_time_zones.tsv");

fn table() -> &'static HashMap<&'static str, Vec<TimeZone>> {
    static TABLE_ZONES: OnceLock<HashMap<&'static str, Vec<TimeZone>>> = OnceLock::new();
    TABLE_ZONES.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once('\t'))
            .map(|(npa, zones)| {
                let zones = zones
                    .split(',')
                    .filter_map(|z| TimeZone::get(z.trim()).ok())
                    .collect();
                (npa, zones)
            })
            .collect()
    })
}

/// The area code (NPA) of a `+1NPANXXXXXX` number; None for any other number. The store's
/// audience counts (`AudienceGroup::area_code`) apply the same rule in SQL.
pub fn area_code(phone: &str) -> Option<&str> {
    match phone.strip_prefix("+1") {
        Some(rest) if rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            Some(&rest[..3])
        }
        _ => None,
    }
}

/// The zones an area code covers (empty when unknown), for `+1NPANXXXXXX` numbers.
pub fn area_code_zones(phone: &str) -> Vec<TimeZone> {
    zones_of_area_code(area_code(phone))
}

fn zones_of_area_code(npa: Option<&str>) -> Vec<TimeZone> {
    npa.and_then(|npa| table().get(npa).cloned())
        .unwrap_or_default()
}

/// The zones a resident may be in: `own` (an IANA name stored on the contact) if valid, else
/// the number's area code zones, else `fallback` (the gateway's zone).
pub fn resident_zones(own: Option<&str>, phone: &str, fallback: &TimeZone) -> Vec<TimeZone> {
    zones_of(own, area_code(phone), fallback)
}

/// [`resident_zones`] for a resident known by their area code (`npa`) rather than their number.
pub fn zones_of(own: Option<&str>, npa: Option<&str>, fallback: &TimeZone) -> Vec<TimeZone> {
    if let Some(tz) = own.and_then(|z| TimeZone::get(z).ok()) {
        return vec![tz];
    }
    let zones = zones_of_area_code(npa);
    if zones.is_empty() {
        vec![fallback.clone()]
    } else {
        zones
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(zones: &[TimeZone]) -> Vec<&str> {
        zones.iter().filter_map(TimeZone::iana_name).collect()
    }

    #[test]
    fn area_codes_name_their_zones() {
        assert_eq!(
            names(&area_code_zones("+15025550123")),
            ["America/New_York"]
        );
        assert_eq!(
            names(&area_code_zones("+12065550123")),
            ["America/Los_Angeles"]
        );
        assert_eq!(
            names(&area_code_zones("+18085550123")),
            ["Pacific/Honolulu"]
        );
        assert!(area_code_zones("+15025550123").len() == 1);
        assert!(
            area_code_zones("+19075550123").len() >= 2,
            "Alaska spans zones"
        );
        assert!(area_code_zones("+442071838750").is_empty());
        assert!(area_code_zones("+1502555").is_empty());
    }

    #[test]
    fn the_table_covers_every_line_it_ships() {
        let lines = TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert!(lines > 400);
        assert_eq!(table().len(), lines);
        assert!(
            table().values().all(|z| !z.is_empty()),
            "every zone name resolves"
        );
    }

    #[test]
    fn a_residents_own_zone_wins_then_the_area_code_then_the_gateways() {
        let gateway = TimeZone::get("America/Chicago").unwrap();
        assert_eq!(
            names(&resident_zones(
                Some("America/Denver"),
                "+15025550123",
                &gateway
            )),
            ["America/Denver"]
        );
        assert_eq!(
            names(&resident_zones(Some("Not/AZone"), "+15025550123", &gateway)),
            ["America/New_York"]
        );
        assert_eq!(
            names(&resident_zones(None, "+442071838750", &gateway)),
            ["America/Chicago"]
        );
    }
}
