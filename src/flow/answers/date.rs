//! Date answers: "12/5", "Dec 5", "5 de diciembre", "tomorrow", "el viernes", "in 3 days".
//!
//! The reply is searched for date mentions; it is understood when they all name the same day.
//! A weekday next to an explicit date only checks it ("Friday Dec 11" must be a Friday).
//!
//! Decisions worth knowing:
//! - Without a year, the date is in today's year (even if already past). A two-digit year is
//!   the one within 20 years ahead of today or the century before ("26" → 2026, "99" → 1999).
//! - Numeric dates follow the question's [`DateOrder`]; "25/12" asked month-first is not
//!   swapped, it is not understood. A four-digit first part is year-month-day ("2026-12-05").
//! - A bare weekday ("friday", "el viernes") and "next friday" mean the first such day after
//!   today, 1 to 7 days ahead. "this friday" / "este viernes" is today when today is Friday,
//!   otherwise the coming one. "last friday" / "el viernes pasado" is 1 to 7 days back.
//! - "mañana" after "la" is "the morning", not tomorrow ("hoy por la mañana" is today).
//! - "next week" / "la semana que viene" is seven days from today, "next month" / "el mes
//!   próximo" the same day next month; "last week" / "la semana pasada" seven days back.
//!   Counts may be words ("in two weeks", "in twenty-one days", "dentro de veintiún días"),
//!   and so may days of the month ("May twenty-first", "the fifth of June",
//!   "primero de mayo").
//! - An impossible date ("2/30") makes the whole reply not understood.

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::Span;
use jiff::civil::{Date, Weekday};
use regex::Regex;

use crate::flow::answers::number::{join_number_words, number_word};
use crate::sms::fold::fold;

/// How the question reads all-number dates such as "12/5".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// "12/5" is December 5 (United States).
    MonthFirst,
    /// "12/5" is 12 May (most of Latin America and Europe).
    DayFirst,
}

/// Digit groups joined by `/`, `-` or `.` with an optional letter suffix ("5th", "5o"), or
/// words.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]+(?:[/.\-][0-9]+)*[a-z]*|[a-z]+(?:'[a-z]+)?")
        .expect("date token pattern compiles")
});

const MONTHS: &[(&str, i8)] = &[
    ("january", 1),
    ("jan", 1),
    ("february", 2),
    ("feb", 2),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("june", 6),
    ("jun", 6),
    ("july", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oct", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dec", 12),
    ("enero", 1),
    ("ene", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("abr", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("ago", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("set", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    ("dic", 12),
];

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Monday),
    ("mon", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("tue", Weekday::Tuesday),
    ("tues", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("wed", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("thu", Weekday::Thursday),
    ("thur", Weekday::Thursday),
    ("thurs", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("fri", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sat", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
    ("sun", Weekday::Sunday),
    ("lunes", Weekday::Monday),
    ("martes", Weekday::Tuesday),
    ("miercoles", Weekday::Wednesday),
    ("jueves", Weekday::Thursday),
    ("viernes", Weekday::Friday),
    ("sabado", Weekday::Saturday),
    ("domingo", Weekday::Sunday),
];

static MONTH_BY_NAME: LazyLock<HashMap<&'static str, i8>> =
    LazyLock::new(|| MONTHS.iter().copied().collect());

static WEEKDAY_BY_NAME: LazyLock<HashMap<&'static str, Weekday>> =
    LazyLock::new(|| WEEKDAYS.iter().copied().collect());

const ORDINAL_SUFFIXES: &[&str] = &["", "st", "nd", "rd", "th", "o", "a", "ro", "er", "ero"];

#[derive(Debug)]
enum Token<'a> {
    /// Digit groups; `ordinal` when the suffix is empty or an ordinal ending.
    Digits {
        parts: Vec<&'a str>,
        plain: bool,
        ordinal: bool,
    },
    Word(&'a str),
}

impl Token<'_> {
    fn is(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if *w == word)
    }

    /// A day of the month, 1..=31, written alone ("5", "5th", "5o").
    fn day(&self) -> Option<i8> {
        match self {
            Token::Digits {
                parts,
                ordinal: true,
                ..
            } if parts.len() == 1 && parts[0].len() <= 2 => {
                let d: i8 = parts[0].parse().ok()?;
                (1..=31).contains(&d).then_some(d)
            }
            _ => None,
        }
    }

    /// A four-digit year written alone.
    fn year(&self) -> Option<i16> {
        match self {
            Token::Digits {
                parts, plain: true, ..
            } if parts.len() == 1 && parts[0].len() == 4 => parts[0].parse().ok(),
            _ => None,
        }
    }

    /// A count before a unit ("3 days", "three days", "a week", "una semana").
    fn count(&self) -> Option<i64> {
        match self {
            Token::Digits {
                parts, plain: true, ..
            } if parts.len() == 1 && parts[0].len() <= 5 => parts[0].parse().ok(),
            Token::Word("a" | "an" | "un") => Some(1),
            Token::Word(w) => number_word(w).map(i64::from),
            Token::Digits { .. } => None,
        }
    }
}

/// Ordinal words for days of the month, with the value they stand for.
const ORDINAL_WORDS: &[(&str, u32)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
    ("twentieth", 20),
    ("thirtieth", 30),
    ("primero", 1),
];

/// Ordinal words ("fifth", "twenty-first", "primero") and numbers in words ("veintiuno",
/// "twenty one") as digits, so "May twenty-first" reads like "May 21st". Only a day beside a
/// month name, or a count before a unit, is ever read from them.
static SPELLED_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:(twenty|thirty)[ -]?)?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth|primero)\b",
    )
    .expect("ordinal pattern compiles")
});

fn spelled_numbers_as_digits(folded: &str) -> String {
    let ordinals = SPELLED_DAY.replace_all(folded, |c: &regex::Captures<'_>| {
        let unit = ORDINAL_WORDS
            .iter()
            .find(|(w, _)| *w == &c[2])
            .map_or(0, |(_, n)| *n);
        let tens = c.get(1).and_then(|m| number_word(m.as_str())).unwrap_or(0);
        format!("{}th", tens + unit)
    });
    let joined = join_number_words(&ordinals);
    // Spanish names days with cardinals ("cinco de mayo", "veintiuno de mayo").
    WORD.replace_all(&joined, |c: &regex::Captures<'_>| {
        let w = &c[0];
        match number_word(w) {
            Some(n) if !matches!(w, "none" | "ninguno" | "ninguna" | "twice") => n.to_string(),
            _ => w.to_string(),
        }
    })
    .into_owned()
}

static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[a-z]+\b").expect("word pattern compiles"));

fn tokens(folded: &str) -> Vec<Token<'_>> {
    TOKEN
        .find_iter(folded)
        .map(|m| {
            let text = m.as_str();
            if text.starts_with(|c: char| c.is_ascii_digit()) {
                let digits_end = text
                    .find(|c: char| c.is_ascii_lowercase())
                    .unwrap_or(text.len());
                let suffix = &text[digits_end..];
                Token::Digits {
                    parts: text[..digits_end].split(['/', '.', '-']).collect(),
                    plain: suffix.is_empty(),
                    ordinal: ORDINAL_SUFFIXES.contains(&suffix),
                }
            } else {
                Token::Word(text)
            }
        })
        .collect()
}

/// A two-digit year within 20 years ahead of today, else in the century before.
fn full_year(two_digits: i32, today: Date) -> i32 {
    let this_year = i32::from(today.year());
    let candidate = this_year - this_year.rem_euclid(100) + two_digits;
    if candidate > this_year + 20 {
        candidate - 100
    } else {
        candidate
    }
}

fn ymd(year: i32, month: i32, day: i32) -> Option<Date> {
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

/// "12/5", "12/5/26", "12-5-2026", "2026-12-05". `Err` for a date that cannot exist.
fn numeric_date(parts: &[&str], today: Date, order: DateOrder) -> Result<Option<Date>, ()> {
    let num = |s: &str| s.parse::<i32>().map_err(|_| ());
    let small = |s: &str| s.len() <= 2;
    let (year, first, second) = match parts {
        [y, m, d] if y.len() == 4 && small(m) && small(d) => {
            return ymd(num(y)?, num(m)?, num(d)?).map(Some).ok_or(());
        }
        [a, b] if small(a) && small(b) => (i32::from(today.year()), *a, *b),
        [a, b, y] if small(a) && small(b) && y.len() == 2 => (full_year(num(y)?, today), *a, *b),
        [a, b, y] if small(a) && small(b) && y.len() == 4 => (num(y)?, *a, *b),
        _ => return Ok(None),
    };
    let (month, day) = match order {
        DateOrder::MonthFirst => (num(first)?, num(second)?),
        DateOrder::DayFirst => (num(second)?, num(first)?),
    };
    ymd(year, month, day).map(Some).ok_or(())
}

/// The month named at `i` with a day beside it: "Dec 5", "December 5th, 2026", "5 Dec",
/// "the 5th of December", "5 de diciembre de 2026".
fn named_month_date(
    toks: &[Token<'_>],
    i: usize,
    month: i8,
    today: Date,
) -> Result<Option<Date>, ()> {
    let at = |j: usize| toks.get(j);
    let mut after = i + 1;
    if at(after).is_some_and(|t| t.is("the")) {
        after += 1;
    }
    let day_after = at(after).and_then(Token::day);
    let mut before = i.checked_sub(1);
    if let Some(b) = before
        && (toks[b].is("de") || toks[b].is("of"))
    {
        before = b.checked_sub(1);
    }
    let day_before = before.and_then(at).and_then(Token::day);
    let (day, year_at) = match (day_before, day_after) {
        (Some(_), Some(_)) => return Err(()),
        (Some(d), None) => (d, i + 1),
        (None, Some(d)) => (d, after + 1),
        (None, None) => return Ok(None),
    };
    let mut year_at = year_at;
    if at(year_at).is_some_and(|t| t.is("de") || t.is("del") || t.is("of")) {
        year_at += 1;
    }
    let year = at(year_at).and_then(Token::year).unwrap_or(today.year());
    Date::new(year, month, day).map(Some).map_err(|_| ())
}

/// "in 3 days", "3 weeks ago", "en 2 semanas", "hace 3 días", "dentro de un mes", with the
/// unit at `i`.
fn relative_date(toks: &[Token<'_>], i: usize, today: Date) -> Result<Option<Date>, ()> {
    let Token::Word(unit) = toks[i] else {
        return Ok(None);
    };
    let is = |j: Option<usize>, w: &str| j.and_then(|j| toks.get(j)).is_some_and(|t| t.is(w));
    let Some(n) = i.checked_sub(1).and_then(|j| toks[j].count()) else {
        return next_or_last(toks, i, today);
    };
    let ahead = is(i.checked_sub(2), "in")
        || is(i.checked_sub(2), "en")
        || (is(i.checked_sub(2), "de") && is(i.checked_sub(3), "dentro"))
        || is(Some(i + 1), "later")
        || (is(Some(i + 1), "from") && is(Some(i + 2), "now"));
    let back = is(Some(i + 1), "ago") || is(i.checked_sub(2), "hace");
    let sign = match (ahead, back) {
        (true, false) => 1,
        (false, true) => -1,
        _ => return Ok(None),
    };
    let span = match unit {
        "day" | "days" | "dia" | "dias" => Span::new().try_days(sign * n),
        "week" | "weeks" | "semana" | "semanas" => Span::new().try_weeks(sign * n),
        "month" | "months" | "mes" | "meses" => Span::new().try_months(sign * n),
        _ => return Ok(None),
    };
    let span = span.map_err(|_| ())?;
    today.checked_add(span).map(Some).map_err(|_| ())
}

/// "next week", "last month", "la semana que viene", "el próximo mes", "la semana pasada",
/// with the unit at `i`: one unit ahead or back.
fn next_or_last(toks: &[Token<'_>], i: usize, today: Date) -> Result<Option<Date>, ()> {
    let Token::Word(unit) = toks[i] else {
        return Ok(None);
    };
    let before = |ws: &[&str]| {
        i.checked_sub(1)
            .is_some_and(|j| ws.iter().any(|w| toks[j].is(w)))
    };
    let after = |k: usize, w: &str| toks.get(i + k).is_some_and(|t| t.is(w));
    let ahead = before(&["next", "coming", "proxima", "proximo"])
        || after(1, "proxima")
        || after(1, "proximo")
        || after(1, "entrante")
        || (after(1, "que") && after(2, "viene"));
    let back = before(&["last", "past", "previous"]) || after(1, "pasada") || after(1, "pasado");
    let sign = match (ahead, back) {
        (true, false) => 1,
        (false, true) => -1,
        _ => return Ok(None),
    };
    let span = match unit {
        "week" | "semana" => Span::new().try_weeks(sign),
        "month" | "mes" => Span::new().try_months(sign),
        _ => return Ok(None),
    };
    today
        .checked_add(span.map_err(|_| ())?)
        .map(Some)
        .map_err(|_| ())
}

/// "today", "tomorrow", "yesterday", "hoy", "mañana", "ayer", "pasado mañana", "anteayer",
/// "the day after tomorrow", with the word at `i`.
fn named_day(toks: &[Token<'_>], i: usize) -> Option<i64> {
    let Token::Word(word) = toks[i] else {
        return None;
    };
    let prev = |back: usize| i.checked_sub(back).map(|j| &toks[j]);
    let prev_is = |back: usize, w: &str| prev(back).is_some_and(|t| t.is(w));
    match word {
        "today" | "hoy" | "tonight" => Some(0),
        "tomorrow" | "tmrw" | "tmr" | "tomorow" | "tommorow" | "tommorrow" => {
            Some(if prev_is(1, "after") && prev_is(2, "day") {
                2
            } else {
                1
            })
        }
        "manana" if prev_is(1, "pasado") => Some(2),
        // "por la mañana" is "in the morning".
        "manana" if prev_is(1, "la") => None,
        "manana" => Some(1),
        "yesterday" => Some(if prev_is(1, "before") && prev_is(2, "day") {
            -2
        } else {
            -1
        }),
        "ayer" if prev_is(1, "de") && prev_is(2, "antes") => Some(-2),
        "ayer" => Some(-1),
        "anteayer" | "antier" => Some(-2),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Which {
    Next,
    This,
    Last,
}

fn weekday_date(today: Date, target: Weekday, which: Which) -> Option<Date> {
    let ahead = i64::from(
        (target.to_monday_zero_offset() - today.weekday().to_monday_zero_offset()).rem_euclid(7),
    );
    let offset = match which {
        Which::This => ahead,
        Which::Next if ahead == 0 => 7,
        Which::Next => ahead,
        Which::Last => {
            let back = (7 - ahead) % 7;
            -(if back == 0 { 7 } else { back })
        }
    };
    today.checked_add(Span::new().try_days(offset).ok()?).ok()
}

fn which_weekday(toks: &[Token<'_>], i: usize) -> Which {
    let before = i.checked_sub(1).map(|j| &toks[j]);
    let after = toks.get(i + 1);
    let before_is = |ws: &[&str]| before.is_some_and(|t| ws.iter().any(|w| t.is(w)));
    if before_is(&["last", "past", "previous"]) || after.is_some_and(|t| t.is("pasado")) {
        Which::Last
    } else if before_is(&["this", "este", "esta"]) {
        Which::This
    } else {
        Which::Next
    }
}

/// The date a reply names, relative to `today` where it needs to be. `None` when it names no
/// date, an impossible one ("2/30"), or two different ones.
///
/// ```
/// use civictext::flow::answers::date::{parse_date, DateOrder};
/// use jiff::civil::date;
/// let today = date(2026, 3, 10); // a Tuesday
/// assert_eq!(parse_date("12/5", today, DateOrder::MonthFirst), Some(date(2026, 12, 5)));
/// assert_eq!(parse_date("5 de diciembre", today, DateOrder::DayFirst), Some(date(2026, 12, 5)));
/// assert_eq!(parse_date("el viernes", today, DateOrder::DayFirst), Some(date(2026, 3, 13)));
/// assert_eq!(parse_date("in 3 days", today, DateOrder::MonthFirst), Some(date(2026, 3, 13)));
/// ```
pub fn parse_date(reply: &str, today: Date, order: DateOrder) -> Option<Date> {
    let folded = spelled_numbers_as_digits(&fold(reply));
    let toks = tokens(&folded);
    let mut explicit: Vec<Date> = Vec::new();
    let mut weekdays: Vec<(Weekday, Which)> = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        let found = match tok {
            Token::Digits {
                parts, plain: true, ..
            } if parts.len() > 1 => numeric_date(parts, today, order),
            Token::Digits { .. } => Ok(None),
            Token::Word(word) => {
                if let Some(&month) = MONTH_BY_NAME.get(word) {
                    named_month_date(&toks, i, month, today)
                } else if let Some(&wd) = WEEKDAY_BY_NAME.get(word) {
                    weekdays.push((wd, which_weekday(&toks, i)));
                    Ok(None)
                } else if let Some(offset) = named_day(&toks, i) {
                    Span::new()
                        .try_days(offset)
                        .and_then(|span| today.checked_add(span))
                        .map(Some)
                        .map_err(|_| ())
                } else {
                    relative_date(&toks, i, today)
                }
            }
        };
        match found {
            Ok(Some(d)) => explicit.push(d),
            Ok(None) => {}
            Err(()) => return None,
        }
    }
    if let Some((&first, rest)) = explicit.split_first() {
        let agreed = rest.iter().all(|&d| d == first)
            && weekdays.iter().all(|&(wd, _)| wd == first.weekday());
        return agreed.then_some(first);
    }
    let mut dates = weekdays
        .iter()
        .map(|&(wd, which)| weekday_date(today, wd, which));
    let first = dates.next()??;
    dates.all(|d| d == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    /// Tuesday 10 March 2026.
    fn today() -> Date {
        date(2026, 3, 10)
    }

    fn us(reply: &str) -> Option<Date> {
        parse_date(reply, today(), DateOrder::MonthFirst)
    }

    fn es(reply: &str) -> Option<Date> {
        parse_date(reply, today(), DateOrder::DayFirst)
    }

    #[test]
    fn numeric_dates_follow_the_question_order() {
        let dec5 = Some(date(2026, 12, 5));
        for reply in [
            "12/5",
            "12/5/2026",
            "12/5/26",
            "12-5",
            "12.5",
            "2026-12-05",
            "on 12/5!",
        ] {
            assert_eq!(us(reply), dec5, "{reply:?}");
        }
        for reply in ["5/12", "5/12/2026", "05-12-26", "2026-12-05"] {
            assert_eq!(es(reply), dec5, "{reply:?}");
        }
        assert_eq!(us("1/2/99"), Some(date(1999, 1, 2)));
        assert_eq!(us("1/2/46"), Some(date(2046, 1, 2)));
    }

    #[test]
    fn month_names_in_english_and_spanish() {
        let dec5 = Some(date(2026, 12, 5));
        for reply in [
            "Dec 5",
            "Dec. 5",
            "December 5th",
            "december 5, 2026",
            "5 Dec",
            "the 5th of December",
            "5 de diciembre",
            "5 de diciembre de 2026",
            "dic 5",
            "Diciembre 5",
            "el 5 de dic",
            "5º de diciembre",
        ] {
            assert_eq!(us(reply), dec5, "{reply:?}");
        }
        assert_eq!(us("May 1st 2027"), Some(date(2027, 5, 1)));
    }

    #[test]
    fn named_days_count_from_today() {
        let cases: &[(&str, Date)] = &[
            ("today", date(2026, 3, 10)),
            ("Hoy", date(2026, 3, 10)),
            ("tomorrow", date(2026, 3, 11)),
            ("mañana", date(2026, 3, 11)),
            ("yesterday", date(2026, 3, 9)),
            ("ayer", date(2026, 3, 9)),
            ("pasado mañana", date(2026, 3, 12)),
            ("the day after tomorrow", date(2026, 3, 12)),
            ("anteayer", date(2026, 3, 8)),
            ("antes de ayer", date(2026, 3, 8)),
            ("hoy por la mañana", date(2026, 3, 10)),
            ("mañana por la mañana", date(2026, 3, 11)),
        ];
        for &(reply, want) in cases {
            assert_eq!(us(reply), Some(want), "{reply:?}");
        }
    }

    #[test]
    fn days_of_the_month_may_be_written_in_words() {
        let cases: &[(&str, Date)] = &[
            ("May twenty-first", date(2026, 5, 21)),
            ("may twenty first", date(2026, 5, 21)),
            ("the fifth of June", date(2026, 6, 5)),
            ("June thirtieth", date(2026, 6, 30)),
            ("July thirty first", date(2026, 7, 31)),
            ("primero de mayo", date(2026, 5, 1)),
            ("veintiuno de mayo", date(2026, 5, 21)),
            ("el treinta y uno de julio", date(2026, 7, 31)),
            ("cinco de mayo", date(2026, 5, 5)),
        ];
        for &(reply, want) in cases {
            assert_eq!(us(reply), Some(want), "{reply:?}");
        }
        assert_eq!(us("February thirtieth"), None, "no such day");
        assert_eq!(
            us("the first one"),
            None,
            "an ordinal without a month names no day"
        );
    }

    #[test]
    fn counted_days_and_weeks_move_from_today() {
        let cases: &[(&str, Date)] = &[
            ("in 3 days", date(2026, 3, 13)),
            ("en 3 días", date(2026, 3, 13)),
            ("3 days ago", date(2026, 3, 7)),
            ("hace 3 dias", date(2026, 3, 7)),
            ("in three days", date(2026, 3, 13)),
            ("in a week", date(2026, 3, 17)),
            ("2 weeks ago", date(2026, 2, 24)),
            ("dentro de un mes", date(2026, 4, 10)),
            ("3 days from now", date(2026, 3, 13)),
            ("in two weeks", date(2026, 3, 24)),
            ("in twenty one days", date(2026, 3, 31)),
            ("in twenty-one days", date(2026, 3, 31)),
            ("dentro de veintiún días", date(2026, 3, 31)),
            ("en dos semanas", date(2026, 3, 24)),
            ("next week", date(2026, 3, 17)),
            ("Next week!", date(2026, 3, 17)),
            ("sometime next week", date(2026, 3, 17)),
            ("the coming week", date(2026, 3, 17)),
            ("la semana que viene", date(2026, 3, 17)),
            ("la próxima semana", date(2026, 3, 17)),
            ("la semana próxima", date(2026, 3, 17)),
            ("next month", date(2026, 4, 10)),
            ("el mes que viene", date(2026, 4, 10)),
            ("el próximo mes", date(2026, 4, 10)),
            ("last week", date(2026, 3, 3)),
            ("la semana pasada", date(2026, 3, 3)),
            ("last month", date(2026, 2, 10)),
            ("el mes pasado", date(2026, 2, 10)),
        ];
        for &(reply, want) in cases {
            assert_eq!(us(reply), Some(want), "{reply:?}");
        }
        assert_eq!(us("3 days"), None);
        assert_eq!(us("week"), None);
        assert_eq!(us("this week"), None, "a whole week is not a day");
        assert_eq!(us("next week or next month"), None);
        assert_eq!(us("next week and last week"), None);
    }

    #[test]
    fn weekdays_are_the_next_such_day_after_today() {
        // Today is a Tuesday.
        let cases: &[(&str, Date)] = &[
            ("friday", date(2026, 3, 13)),
            ("next friday", date(2026, 3, 13)),
            ("el viernes", date(2026, 3, 13)),
            ("Fri", date(2026, 3, 13)),
            ("tuesday", date(2026, 3, 17)),
            ("this tuesday", date(2026, 3, 10)),
            ("este martes", date(2026, 3, 10)),
            ("this friday", date(2026, 3, 13)),
            ("monday", date(2026, 3, 16)),
            ("last friday", date(2026, 3, 6)),
            ("el viernes pasado", date(2026, 3, 6)),
            ("last tuesday", date(2026, 3, 3)),
        ];
        for &(reply, want) in cases {
            assert_eq!(us(reply), Some(want), "{reply:?}");
        }
    }

    #[test]
    fn a_weekday_beside_a_date_must_agree_with_it() {
        assert_eq!(us("Friday, Dec 11"), Some(date(2026, 12, 11)));
        assert_eq!(us("Monday, Dec 11"), None);
    }

    #[test]
    fn impossible_dates_are_not_understood() {
        for reply in [
            "2/30",
            "13/1",
            "2/29",
            "feb 30",
            "2026-02-30",
            "0/5",
            "31 de junio",
        ] {
            assert_eq!(us(reply), None, "{reply:?}");
        }
        assert_eq!(us("2/29/2028"), Some(date(2028, 2, 29)));
        assert_eq!(es("25/12"), Some(date(2026, 12, 25)));
        assert_eq!(us("25/12"), None);
    }

    #[test]
    fn two_different_dates_are_not_guessed() {
        for reply in [
            "today or tomorrow",
            "12/5 or 12/6",
            "friday or saturday",
            "5 may 6",
        ] {
            assert_eq!(us(reply), None, "{reply:?}");
        }
        assert_eq!(us("tomorrow, 3/11"), Some(date(2026, 3, 11)));
    }

    #[test]
    fn replies_without_a_date_are_not_understood() {
        for reply in [
            "", "  ", "🎉", "soon", "5", "the 5th", "may be", "december", "3pm",
        ] {
            assert_eq!(us(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn dates_at_the_edge_of_the_calendar_do_not_overflow() {
        let end = date(9999, 12, 31);
        assert_eq!(parse_date("tomorrow", end, DateOrder::MonthFirst), None);
        assert_eq!(
            parse_date("in 99999 months", end, DateOrder::MonthFirst),
            None
        );
        assert_eq!(
            parse_date("in 99999999999 days", today(), DateOrder::MonthFirst),
            None
        );
        assert_eq!(
            parse_date("1/2/26", end, DateOrder::MonthFirst),
            Some(date(9926, 1, 2))
        );
        let start = date(-9999, 1, 1);
        assert_eq!(parse_date("yesterday", start, DateOrder::MonthFirst), None);
        assert_eq!(
            parse_date("last friday", start, DateOrder::MonthFirst),
            None
        );
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(
            s in "\\PC*|(?s).{0,1600}|([0-9]{1,5}[/.-]?|[a-z]{1,9} ){0,12}",
            y in -9999i16..=9999, doy in 0i64..366,
        ) {
            let today = date(y, 1, 1).checked_add(Span::new().days(doy)).unwrap_or(date(y, 1, 1));
            let _ = parse_date(&s, today, DateOrder::MonthFirst);
            let _ = parse_date(&s, today, DateOrder::DayFirst);
        }
    }
}
