//! Composing a broadcast or a survey invitation, shared by `civictext broadcast` and the
//! console's invitations page: the checks flow text gets, the invitation texts a flow opens
//! with, what the texts cost per language, and how many residents quiet hours will hold.
//! Pure: the audience, the clock and the zones are inputs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::quiet_hours::QuietHours;
use super::zones::{area_code, zones_of};
use crate::flow::engine::{self, Status};
use crate::flow::model::Flow;
use crate::flow::render::MAX_MESSAGE_CHARS;
use crate::sms::segments::{self, Encoding};
use crate::store::{AudienceGroup, AudienceMember, Invitation};

/// The price of one SMS segment used for estimates unless told otherwise (USD; Twilio's US
/// list price).
pub const DEFAULT_PRICE_PER_SEGMENT: f64 = 0.0083;

/// Why a broadcast text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the `{lang}` text is empty")]
    Empty { lang: String },
    #[error(
        "the `{lang}` text is {chars} characters; one SMS conversation message can be at most \
         {MAX_MESSAGE_CHARS}: shorten it"
    )]
    TooLong { lang: String, chars: usize },
    #[error(
        "the `{lang}` text has a `{{{{…}}}}` placeholder: broadcast texts are sent as written, so \
         write the words out"
    )]
    Placeholder { lang: String },
}

/// A broadcast text's problems, as `flows check` reports them for flow text.
pub fn check_text(lang: &str, text: &str) -> Result<(), TextError> {
    let lang = lang.to_string();
    let chars = text.chars().count();
    if text.trim().is_empty() {
        Err(TextError::Empty { lang })
    } else if chars > MAX_MESSAGE_CHARS {
        Err(TextError::TooLong { lang, chars })
    } else if text.contains("{{") {
        Err(TextError::Placeholder { lang })
    } else {
        Ok(())
    }
}

/// Why a flow cannot be sent as a survey invitation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    #[error("flow `{0}` asks no question before it ends: send its text as a plain broadcast")]
    NoQuestion(String),
    #[error(
        "flow `{0}` records answers or files a request before its first question; an \
         invitation can only start a flow that begins by asking"
    )]
    ActsFirst(String),
}

/// The texts of a survey invitation to `flow` (everything it says up to its first question, per
/// language, the flow's default language first) and the session to open per language.
pub fn invitation(
    flow: &Flow,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<(Vec<(String, String)>, Invitation), InvitationError> {
    let contact = BTreeMap::new();
    let ctx = engine::Context {
        now,
        today: now.to_zoned(zone.clone()).date(),
        contact: &contact,
        entropy: rand::random(),
    };
    let first = flow.default_language().to_string();
    let mut languages = vec![first.clone()];
    languages.extend(flow.languages.iter().filter(|l| **l != first).cloned());
    let mut texts = Vec::new();
    let mut sessions = Vec::new();
    for lang in languages {
        let outcome = engine::start(flow, Some(&lang), &ctx);
        if outcome.status != Status::Waiting {
            return Err(InvitationError::NoQuestion(flow.id.clone()));
        }
        if outcome
            .effects
            .iter()
            .any(|e| !matches!(e, engine::Effect::Send { .. }))
        {
            return Err(InvitationError::ActsFirst(flow.id.clone()));
        }
        texts.push((
            lang.clone(),
            outcome.texts().collect::<Vec<_>>().join("\n\n"),
        ));
        sessions.push((lang, outcome.session));
    }
    Ok((
        texts,
        Invitation {
            flow_id: flow.id.clone(),
            sessions,
        },
    ))
}

/// What one language's text costs for the residents who get it.
#[derive(Debug, Clone, PartialEq)]
pub struct LanguageCost {
    pub language: String,
    pub encoding: Encoding,
    pub characters: usize,
    /// Segments of one text.
    pub segments: u32,
    /// Residents who get this text.
    pub recipients: u64,
    /// Segments of all of them.
    pub total_segments: u64,
    pub cost: f64,
    /// The first few characters that make the text UCS-2 (empty for GSM-7).
    pub ucs2_because: Vec<char>,
}

/// The estimate of a broadcast: per language, and in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub languages: Vec<LanguageCost>,
    pub recipients: u64,
    pub total_segments: u64,
    pub cost: f64,
    pub price_per_segment: f64,
}

/// The text a resident whose language is `language` gets: theirs if there is one, else the
/// first. `texts` must not be empty.
pub fn text_for<'a>(texts: &'a [(String, String)], language: Option<&str>) -> &'a (String, String) {
    texts
        .iter()
        .find(|(l, _)| Some(l.as_str()) == language)
        .unwrap_or(&texts[0])
}

/// What an audience is counted by: language, own time zone, area code.
type GroupKey<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// `members` counted as the store counts an audience (see [`AudienceGroup`]), for a list of
/// recipients already at hand (a dry run prints them).
pub fn groups(members: &[AudienceMember]) -> Vec<AudienceGroup> {
    let mut counts: BTreeMap<GroupKey, u64> = BTreeMap::new();
    for m in members {
        *counts
            .entry((
                m.language.as_deref(),
                m.time_zone.as_deref(),
                area_code(&m.phone),
            ))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(
            |((language, time_zone, area_code), members)| AudienceGroup {
                language: language.map(str::to_string),
                time_zone: time_zone.map(str::to_string),
                area_code: area_code.map(str::to_string),
                members,
            },
        )
        .collect()
}

/// Recipients, segments and cost per language of sending `texts` to an audience.
pub fn estimate(texts: &[(String, String)], audience: &[AudienceGroup], price: f64) -> Estimate {
    let mut per_lang: BTreeMap<&str, u64> = BTreeMap::new();
    if !texts.is_empty() {
        for g in audience {
            *per_lang
                .entry(text_for(texts, g.language.as_deref()).0.as_str())
                .or_default() += g.members;
        }
    }
    let languages: Vec<LanguageCost> = texts
        .iter()
        .map(|(lang, text)| {
            let c = segments::count(text);
            let recipients = per_lang.get(lang.as_str()).copied().unwrap_or(0);
            let total_segments = recipients * u64::from(c.segments);
            LanguageCost {
                language: lang.clone(),
                encoding: c.encoding,
                characters: c.characters,
                segments: c.segments,
                recipients,
                total_segments,
                cost: total_segments as f64 * price,
                ucs2_because: if c.encoding == Encoding::Ucs2 {
                    c.non_gsm.iter().take(5).copied().collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let total_segments = languages.iter().map(|l| l.total_segments).sum();
    Estimate {
        recipients: audience.iter().map(|g| g.members).sum(),
        total_segments,
        cost: total_segments as f64 * price,
        price_per_segment: price,
        languages,
    }
}

/// How quiet hours will treat a broadcast sent at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietForecast {
    pub window: QuietHours,
    /// Residents for whom it is quiet at the send time: their texts wait.
    pub held: u64,
    /// When the last of the held texts may go (the latest morning among them).
    pub until: Option<Timestamp>,
}

/// Which of an audience quiet hours will hold if the broadcast goes at `send_at` (each resident
/// in their own zone, else their area code's, else `gateway_zone`); None without quiet hours.
pub fn quiet_forecast(
    quiet: Option<QuietHours>,
    send_at: Timestamp,
    audience: &[AudienceGroup],
    gateway_zone: &TimeZone,
) -> Option<QuietForecast> {
    let window = quiet?;
    let mut held = 0;
    let mut until: Option<Timestamp> = None;
    for g in audience {
        let zones = zones_of(g.time_zone.as_deref(), g.area_code.as_deref(), gateway_zone);
        if let Some(t) = window.wait_until(send_at, &zones) {
            held += g.members;
            until = Some(until.map_or(t, |u| u.max(t)));
        }
    }
    Some(QuietForecast {
        window,
        held,
        until,
    })
}

/// Why a send time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time: write 2026-12-05T09:00:00-05:00 or 2026-12-05 09:00")]
pub struct TimeError(pub String);

/// A time as RFC 3339, or as a civil date and time (`2026-12-05 09:00`, `2026-12-05T09:00` as a
/// browser's date-time field sends it, or a date) in `zone`.
pub fn parse_time(s: &str, zone: &TimeZone) -> Result<Timestamp, TimeError> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = s
        .parse()
        .or_else(|_| s.parse::<jiff::civil::Date>().map(|d| d.at(0, 0, 0, 0)))
        .map_err(|_| TimeError(s.to_string()))?;
    civil
        .to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|_| TimeError(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: i64, phone: &str, language: Option<&str>) -> AudienceMember {
        AudienceMember {
            contact_id: id,
            phone: phone.into(),
            language: language.map(str::to_string),
            time_zone: None,
        }
    }

    #[test]
    fn texts_are_checked_like_flow_text() {
        assert!(check_text("en", "Meeting Tuesday 6pm.").is_ok());
        assert_eq!(
            check_text("es", "  "),
            Err(TextError::Empty { lang: "es".into() })
        );
        let long = "a".repeat(MAX_MESSAGE_CHARS + 1);
        let e = check_text("en", &long).unwrap_err();
        assert!(e.to_string().contains("1601 characters"), "{e}");
        assert!(matches!(
            check_text("en", "Hi {{name}}"),
            Err(TextError::Placeholder { .. })
        ));
    }

    #[test]
    fn residents_without_a_text_in_their_language_are_costed_in_the_first() {
        let texts = vec![
            ("en".to_string(), "Meeting Tuesday.".to_string()),
            ("es".to_string(), "Reunión el martes “hoy”.".to_string()),
        ];
        let members = [
            member(1, "+15025550001", Some("es")),
            member(2, "+15025550002", Some("en")),
            member(3, "+15025550003", Some("fr")),
        ];
        let e = estimate(&texts, &groups(&members), 0.01);
        assert_eq!(e.recipients, 3);
        assert_eq!(e.languages[0].recipients, 2);
        assert_eq!(e.languages[1].recipients, 1);
        assert_eq!(e.languages[1].encoding, Encoding::Ucs2);
        assert_eq!(e.languages[1].ucs2_because, vec!['ó', '“', '”']);
        assert_eq!(e.total_segments, 3);
        assert!((e.cost - 0.03).abs() < 1e-9);
    }

    #[test]
    fn quiet_hours_hold_residents_whose_evening_it_is() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        let gateway = TimeZone::get("America/New_York").unwrap();
        // 02:30 UTC: 21:30 in Louisville (502, Eastern), 18:30 in Seattle (206).
        let at: Timestamp = "2026-01-16T02:30:00Z".parse().unwrap();
        let members = [
            member(1, "+15025550001", None),
            member(2, "+12065550002", None),
        ];
        let f = quiet_forecast(Some(q), at, &groups(&members), &gateway).unwrap();
        assert_eq!(f.held, 1);
        assert_eq!(f.until, Some("2026-01-16T13:00:00Z".parse().unwrap()));
        assert!(quiet_forecast(None, at, &groups(&members), &gateway).is_none());
    }

    #[test]
    fn residents_are_counted_by_language_own_zone_and_area_code() {
        let mut members = vec![
            member(1, "+15025550001", Some("es")),
            member(2, "+15025550002", Some("es")),
            member(3, "+15027770003", Some("es")),
            member(4, "+12065550004", Some("es")),
            member(5, "+15025550005", None),
            member(6, "+442071838750", None),
            member(7, "+1502555", None),
        ];
        members[1].time_zone = Some("America/Denver".into());
        let g = groups(&members);
        let counted: Vec<(GroupKey, u64)> = g
            .iter()
            .map(|g| {
                (
                    (
                        g.language.as_deref(),
                        g.time_zone.as_deref(),
                        g.area_code.as_deref(),
                    ),
                    g.members,
                )
            })
            .collect();
        assert_eq!(
            counted,
            [
                ((None, None, None), 2),
                ((None, None, Some("502")), 1),
                ((Some("es"), None, Some("206")), 1),
                ((Some("es"), None, Some("502")), 2),
                ((Some("es"), Some("America/Denver"), Some("502")), 1),
            ]
        );
        assert_eq!(g.iter().map(|g| g.members).sum::<u64>(), 7);
    }

    #[test]
    fn a_large_group_is_held_as_a_whole_and_counted_as_its_members() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        let gateway = TimeZone::get("America/Chicago").unwrap();
        let at: Timestamp = "2026-01-16T02:30:00Z".parse().unwrap();
        let audience = [
            AudienceGroup {
                language: None,
                time_zone: None,
                area_code: Some("502".into()),
                members: 40_000,
            },
            AudienceGroup {
                language: Some("es".into()),
                time_zone: Some("America/Los_Angeles".into()),
                area_code: Some("502".into()),
                members: 7,
            },
        ];
        let f = quiet_forecast(Some(q), at, &audience, &gateway).unwrap();
        assert_eq!(f.held, 40_000);
        let texts = vec![
            ("en".to_string(), "Meeting Tuesday.".to_string()),
            ("es".to_string(), "Reunión el martes.".to_string()),
        ];
        let e = estimate(&texts, &audience, 0.01);
        assert_eq!(e.recipients, 40_007);
        assert_eq!(e.languages[0].recipients, 40_000);
        assert_eq!(e.languages[1].recipients, 7);
    }

    #[test]
    fn send_times_are_read_in_the_gateways_zone_unless_they_carry_an_offset() {
        let zone = TimeZone::get("America/New_York").unwrap();
        let want: Timestamp = "2026-12-05T14:00:00Z".parse().unwrap();
        assert_eq!(parse_time("2026-12-05 09:00", &zone).unwrap(), want);
        assert_eq!(parse_time("2026-12-05T09:00", &zone).unwrap(), want);
        assert_eq!(
            parse_time("2026-12-05T09:00:00-05:00", &zone).unwrap(),
            want
        );
        assert!(parse_time("tomorrow", &zone).is_err());
    }
}
