//! Number and integer answers, and the ranges staff put on them.
//!
//! A reply is understood when it holds exactly one number, written in digits or in words up to
//! a hundred in English or Spanish ("twenty-one", "treinta y dos", "veintiuno"); other words
//! around it are ignored ("about 4",
//! "maybe 3", "3 times", "cuatro veces"). Two different numbers ("3 or 4", "3-4", "3 to 4") are
//! not guessed between, except "N of M" / "N out of M" / "N de M" / "N sobre M" with N ≤ M,
//! which answers N ("4 out of 5" → 4). "4/5" is left unanswered: it is as often a date or a
//! fraction as a rating.
//!
//! Separators: a comma followed by exactly three digits groups thousands ("1,000", "1,000.5");
//! any other single comma is a decimal comma ("4,5" → 4.5). A single dot is always a decimal
//! point ("1.000" → 1); several dots group thousands only with a decimal comma or in groups of
//! three ("1.000.000", "1.000,5"). Anything else ("1.2.3") is not understood.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::sms::fold::fold;

/// Number words from zero to twenty in English and Spanish (folded), plus a few everyday
/// stand-ins. English "once" is left out: it is 11 in Spanish.
const NUMBER_WORDS: &[(&str, u32)] = &[
    ("zero", 0),
    ("none", 0),
    ("one", 1),
    ("two", 2),
    ("twice", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
    ("hundred", 100),
    ("cero", 0),
    ("ninguno", 0),
    ("ninguna", 0),
    ("uno", 1),
    ("una", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("diez", 10),
    ("doce", 12),
    ("trece", 13),
    ("catorce", 14),
    ("quince", 15),
    ("dieciseis", 16),
    ("diecisiete", 17),
    ("dieciocho", 18),
    ("diecinueve", 19),
    ("veinte", 20),
    ("veintiuno", 21),
    ("veintiun", 21),
    ("veintiuna", 21),
    ("veintidos", 22),
    ("veintitres", 23),
    ("veinticuatro", 24),
    ("veinticinco", 25),
    ("veintiseis", 26),
    ("veintisiete", 27),
    ("veintiocho", 28),
    ("veintinueve", 29),
    ("treinta", 30),
    ("cuarenta", 40),
    ("cincuenta", 50),
    ("sesenta", 60),
    ("setenta", 70),
    ("ochenta", 80),
    ("noventa", 90),
    ("cien", 100),
];

/// Tens and units written as two words ("twenty one", "twenty-one", "treinta y uno"), and "a
/// hundred": read as one number, not two.
static COMPOUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[ -]?(one|two|three|four|five|six|seven|eight|nine)|(treinta|cuarenta|cincuenta|sesenta|setenta|ochenta|noventa) y (uno|una|un|dos|tres|cuatro|cinco|seis|siete|ocho|nueve)|(?:a|one) hundred)\b",
    )
    .expect("compound number pattern compiles")
});

/// `folded` with every number written in two or more words ("twenty one", "treinta y dos",
/// "a hundred") replaced by its digits, so it counts as one number.
pub(crate) fn join_number_words(folded: &str) -> std::borrow::Cow<'_, str> {
    COMPOUND.replace_all(folded, |c: &regex::Captures<'_>| {
        let word = |i: usize| c.get(i).and_then(|m| number_word(m.as_str()));
        let n = match (word(1).or(word(3)), word(2).or(word(4))) {
            (Some(tens), Some(units)) => tens + units,
            _ => 100,
        };
        n.to_string()
    })
}

/// The value of a folded number word ("four", "cuatro", "dieciseis"), if it is one.
pub(crate) fn number_word(word: &str) -> Option<u32> {
    static BY_WORD: LazyLock<HashMap<&'static str, u32>> =
        LazyLock::new(|| NUMBER_WORDS.iter().copied().collect());
    BY_WORD.get(word).copied()
}

/// Digit runs with inner `.`/`,` separators (an optional sign before), or ASCII words.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[-−+]?(?:[0-9]+(?:[.,][0-9]+)*|[.,][0-9]+)|[a-z]+(?:'[a-z]+)?")
        .expect("number token pattern compiles")
});

/// An exact decimal as written: sign, integer digits without leading zeros ("0" for none),
/// fraction digits without trailing zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

impl Decimal {
    fn new(negative: bool, int: &str, frac: &str) -> Decimal {
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let frac = frac.trim_end_matches('0');
        Decimal {
            negative: negative && !(int == "0" && frac.is_empty()),
            int: int.to_string(),
            frac: frac.to_string(),
        }
    }

    fn from_u32(n: u32) -> Decimal {
        Decimal::new(false, &n.to_string(), "")
    }

    fn to_f64(&self) -> Option<f64> {
        let sign = if self.negative { "-" } else { "" };
        let v: f64 = format!("{sign}{}.{}0", self.int, self.frac).parse().ok()?;
        v.is_finite().then_some(v)
    }

    fn to_i64(&self) -> Option<i64> {
        if !self.frac.is_empty() {
            return None;
        }
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}", self.int).parse().ok()
    }

    /// Compares magnitudes of two non-negative decimals (for "N of M").
    fn le(&self, other: &Decimal) -> bool {
        match (self.to_f64(), other.to_f64()) {
            (Some(a), Some(b)) => a <= b,
            _ => false,
        }
    }
}

/// Reads the digits-and-separators part of a token; `Err` when the grouping makes no sense.
fn read_digits(body: &str, negative: bool) -> Result<Decimal, ()> {
    let parts: Vec<&str> = body.split(['.', ',']).collect();
    let seps: Vec<char> = body.chars().filter(|c| matches!(c, '.' | ',')).collect();
    let grouped = |groups: &[&str]| {
        let first = groups[0];
        (1..=3).contains(&first.len())
            && !first.starts_with('0')
            && groups[1..].iter().all(|g| g.len() == 3)
    };
    match seps.as_slice() {
        [] => Ok(Decimal::new(negative, body, "")),
        ['.'] => Ok(Decimal::new(negative, parts[0], parts[1])),
        [','] if parts[1].len() == 3 && grouped(&parts) => {
            Ok(Decimal::new(negative, &parts.concat(), ""))
        }
        [','] => Ok(Decimal::new(negative, parts[0], parts[1])),
        [.., last] => {
            let n = parts.len();
            let group_sep = seps[0];
            let all_same = seps.iter().all(|&c| c == group_sep);
            if all_same && grouped(&parts) {
                Ok(Decimal::new(negative, &parts.concat(), ""))
            } else if *last != group_sep
                && seps[..seps.len() - 1].iter().all(|&c| c == group_sep)
                && grouped(&parts[..n - 1])
            {
                Ok(Decimal::new(
                    negative,
                    &parts[..n - 1].concat(),
                    parts[n - 1],
                ))
            } else {
                Err(())
            }
        }
    }
}

enum Token<'a> {
    Number(Decimal),
    Word(&'a str),
}

/// Folds the reply, putting back a leading sign or decimal point that folding trims
/// ("-3", ".5", "-.5").
fn fold_keeping_sign(reply: &str) -> String {
    let folded = fold(reply);
    if !folded.starts_with(|c: char| c.is_ascii_digit()) {
        return folded;
    }
    let prefix_end = reply.find(char::is_alphanumeric).unwrap_or(0);
    let prefix = reply[..prefix_end].trim_end();
    let point = prefix.ends_with(['.', ',']);
    let before_point = if point {
        &prefix[..prefix.len() - 1]
    } else {
        prefix
    };
    let mut restored = String::with_capacity(folded.len() + 2);
    if before_point.ends_with(['-', '−']) {
        restored.push('-');
    }
    if point {
        restored.push('.');
    }
    restored.push_str(&folded);
    restored
}

/// The one number a reply gives, following the rules in the module documentation.
fn the_number(reply: &str) -> Option<Decimal> {
    let folded = fold_keeping_sign(reply);
    let folded = join_number_words(&folded);
    let mut tokens = Vec::new();
    for m in TOKEN.find_iter(&folded) {
        let text = m.as_str();
        let prev = folded[..m.start()].chars().next_back();
        let after_word = prev.is_some_and(char::is_alphanumeric);
        if text.starts_with(|c: char| c.is_ascii_lowercase()) {
            tokens.push(match number_word(text) {
                Some(n) => Token::Number(Decimal::from_u32(n)),
                None => Token::Word(text),
            });
            continue;
        }
        let unsigned = text.trim_start_matches(['-', '−', '+']);
        // A dash right after a word or digit is a hyphen or a range ("3-4"), not a sign.
        let negative = text.len() != unsigned.len() && !after_word && !text.starts_with('+');
        let body = if after_word && text.len() == unsigned.len() {
            unsigned.trim_start_matches(['.', ','])
        } else {
            unsigned
        };
        let body = if body.starts_with(['.', ',']) {
            format!("0{body}")
        } else {
            body.to_string()
        };
        tokens.push(Token::Number(read_digits(&body, negative).ok()?));
    }

    let numbers: Vec<(usize, &Decimal)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Token::Number(d) => Some((i, d)),
            Token::Word(_) => None,
        })
        .collect();
    let (&(first_at, first), rest) = numbers.split_first()?;
    if rest.iter().all(|(_, d)| *d == first) {
        return Some(first.clone());
    }
    if let [(second_at, second)] = rest {
        let between: Vec<&str> = tokens[first_at + 1..*second_at]
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(*w),
                Token::Number(_) => None,
            })
            .collect();
        let out_of = matches!(
            between.as_slice(),
            ["of"] | ["out", "of"] | ["outta"] | ["de"] | ["sobre"]
        );
        if out_of && !first.negative && !second.negative && first.le(second) {
            return Some(first.clone());
        }
    }
    None
}

/// The number a reply gives: "4", " 4 ", "4.5", "4,5" (decimal comma), "1,000", "-3",
/// "about 4", "3 times", "four", "cuatro", "4 out of 5" (→ 4). `None` for no number, two
/// different numbers ("3 or 4", "3-4"), or one too large to hold.
///
/// ```
/// use civictext::flow::answers::number::parse_number;
/// assert_eq!(parse_number("about 4,5"), Some(4.5));
/// assert_eq!(parse_number("3 or 4"), None);
/// ```
pub fn parse_number(reply: &str) -> Option<f64> {
    the_number(reply)?.to_f64()
}

/// A whole number: as [`parse_number`], but "4.0" is 4 and "4.5" is not understood.
///
/// ```
/// use civictext::flow::answers::number::parse_integer;
/// assert_eq!(parse_integer("twice"), Some(2));
/// assert_eq!(parse_integer("4.5"), None);
/// ```
pub fn parse_integer(reply: &str) -> Option<i64> {
    the_number(reply)?.to_i64()
}

/// The bounds staff put on a number question, both inclusive, either one open: `1..5`, `0..`,
/// `..100`, `1.5..2.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Range {
    /// Reads a range as written in a flow file. The error is a plain-English hint for staff.
    ///
    /// ```
    /// use civictext::flow::answers::number::Range;
    /// let r = Range::parse("1..5").unwrap();
    /// assert!(r.contains(5.0) && !r.contains(6.0));
    /// assert!(Range::parse("5..1").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<Range, String> {
        let spec = spec.trim();
        if spec.contains("...") {
            return Err(format!(
                "`{spec}` has three dots; use exactly two between the ends, like 1..5"
            ));
        }
        let Some((low, high)) = spec.split_once("..") else {
            return Err(format!(
                "`{spec}` is not a range; write the lowest and highest allowed numbers with two \
                 dots between them, like 1..5 (or 0.. for no maximum, ..100 for no minimum)"
            ));
        };
        let min = range_end(low)?;
        let max = range_end(high)?;
        match (min, max) {
            (None, None) => Err(
                "a range needs at least one end, like 1..5, 0.. (no maximum) or ..100 (no minimum)"
                    .to_string(),
            ),
            (Some(lo), Some(hi)) if lo > hi => Err(format!(
                "the lowest number ({lo}) is above the highest ({hi}); did you mean {hi}..{lo}?"
            )),
            _ => Ok(Range { min, max }),
        }
    }

    /// Whether `v` lies within the range, ends included. Not-a-number lies in no range.
    pub fn contains(&self, v: f64) -> bool {
        !v.is_nan() && self.min.is_none_or(|lo| v >= lo) && self.max.is_none_or(|hi| v <= hi)
    }
}

fn range_end(text: &str) -> Result<Option<f64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.contains(',') {
        return Err(format!(
            "`{text}` uses a comma; write decimals with a dot (1.5) and no thousands separators"
        ));
    }
    let plain = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
    match text.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(Some(v)),
        _ => Err(format!(
            "`{text}` is not a number; a range looks like 1..5 or 1.5..2.5"
        )),
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(lo) = self.min {
            write!(f, "{lo}")?;
        }
        f.write_str("..")?;
        if let Some(hi) = self.max {
            write!(f, "{hi}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_and_decorated_numbers_are_understood() {
        let cases: &[(&str, f64)] = &[
            ("4", 4.0),
            (" 4 ", 4.0),
            ("4.5", 4.5),
            ("4,5", 4.5),
            ("1,000", 1000.0),
            ("1,000,000", 1_000_000.0),
            ("1,000.5", 1000.5),
            ("1.000,5", 1000.5),
            ("1.000.000", 1_000_000.0),
            ("0,500", 0.5),
            ("-3", -3.0),
            ("−3", -3.0),
            ("about -3", -3.0),
            ("+3", 3.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("about 4", 4.0),
            ("maybe 3", 3.0),
            ("3 times", 3.0),
            ("4!", 4.0),
            ("I'd say 4.", 4.0),
            ("$20", 20.0),
            ("50%", 50.0),
            ("４", 4.0),
            ("4️⃣", 4.0),
            ("0", 0.0),
        ];
        for &(reply, want) in cases {
            assert_eq!(parse_number(reply), Some(want), "{reply:?}");
        }
    }

    #[test]
    fn number_words_count_in_english_and_spanish() {
        let cases: &[(&str, f64)] = &[
            ("four", 4.0),
            ("Cuatro", 4.0),
            ("zero", 0.0),
            ("twenty", 20.0),
            ("veinte", 20.0),
            ("dieciséis", 16.0),
            ("una vez", 1.0),
            ("twice", 2.0),
            ("four (4)", 4.0),
            ("none", 0.0),
            ("twenty one", 21.0),
            ("Twenty-one", 21.0),
            ("twentyone", 21.0),
            ("about forty five minutes", 45.0),
            ("ninety-nine", 99.0),
            ("thirty", 30.0),
            ("a hundred", 100.0),
            ("one hundred", 100.0),
            ("veintiuno", 21.0),
            ("veintidós", 22.0),
            ("treinta y uno", 31.0),
            ("noventa y nueve", 99.0),
            ("cien", 100.0),
            ("twenty one out of a hundred", 21.0),
        ];
        for &(reply, want) in cases {
            assert_eq!(parse_number(reply), Some(want), "{reply:?}");
        }
        for two_numbers in [
            "twenty one or twenty two",
            "twenty, one",
            "treinta y uno y dos",
        ] {
            assert_eq!(parse_number(two_numbers), None, "{two_numbers:?}");
        }
    }

    #[test]
    fn n_out_of_m_answers_n() {
        assert_eq!(parse_number("4 of 5"), Some(4.0));
        assert_eq!(parse_number("4 out of 5"), Some(4.0));
        assert_eq!(parse_number("four out of five"), Some(4.0));
        assert_eq!(parse_number("4 de 5"), Some(4.0));
        assert_eq!(parse_number("8 sobre 10"), Some(8.0));
        assert_eq!(parse_number("6 of 5"), None);
        assert_eq!(parse_number("4/5"), None);
    }

    #[test]
    fn two_numbers_are_ambiguous_and_not_guessed() {
        for reply in [
            "3 or 4",
            "3-4",
            "3 - 4",
            "3 to 4",
            "between 3 and 4",
            "3, 4",
            "3:30",
            "4 4.5",
        ] {
            assert_eq!(parse_number(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn the_same_number_twice_is_still_one_answer() {
        assert_eq!(parse_number("4... yes 4"), Some(4.0));
    }

    #[test]
    fn replies_without_a_number_are_not_understood() {
        for reply in [
            "", "  ", "lots", "no", "once", "🎉", "1.2.3", "1,2,3", "inf", "NaN", "1e5x",
        ] {
            assert_eq!(parse_number(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn numbers_too_large_to_hold_are_not_understood() {
        let huge = format!("1{}", "0".repeat(400));
        assert_eq!(parse_number(&huge), None);
        assert_eq!(parse_integer("9223372036854775808"), None);
        assert_eq!(parse_integer("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_integer("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn integers_accept_a_zero_fraction_but_not_a_real_one() {
        assert_eq!(parse_integer("4"), Some(4));
        assert_eq!(parse_integer("4.0"), Some(4));
        assert_eq!(parse_integer("4,00"), Some(4));
        assert_eq!(parse_integer("4.5"), None);
        assert_eq!(parse_integer("-0"), Some(0));
        assert_eq!(parse_integer("cuatro veces"), Some(4));
        assert_eq!(parse_integer("1,000"), Some(1000));
    }

    #[test]
    fn ranges_read_as_staff_write_them() {
        let cases: &[(&str, Option<f64>, Option<f64>)] = &[
            ("1..5", Some(1.0), Some(5.0)),
            ("0..", Some(0.0), None),
            ("..100", None, Some(100.0)),
            ("1.5..2.5", Some(1.5), Some(2.5)),
            (" -5 .. 5 ", Some(-5.0), Some(5.0)),
            ("3..3", Some(3.0), Some(3.0)),
        ];
        for &(spec, min, max) in cases {
            assert_eq!(Range::parse(spec), Ok(Range { min, max }), "{spec:?}");
        }
        assert_eq!(Range::parse("1..5").unwrap().to_string(), "1..5");
        assert_eq!(Range::parse("..1.5").unwrap().to_string(), "..1.5");
    }

    #[test]
    fn bad_ranges_explain_themselves() {
        for spec in [
            "", "5", "..", "5..1", "1...5", "a..b", "1,5..2", "inf..", "1..NaN", "1-5",
        ] {
            let err = Range::parse(spec).expect_err(spec);
            assert!(err.len() > 20, "{spec:?}: {err}");
        }
        assert!(Range::parse("5..1").unwrap_err().contains("1..5"));
    }

    #[test]
    fn ranges_include_both_ends_and_reject_nan() {
        let r = Range::parse("1..5").unwrap();
        assert!(r.contains(1.0) && r.contains(5.0) && r.contains(3.3));
        assert!(!r.contains(0.99) && !r.contains(5.01) && !r.contains(f64::NAN));
        let open = Range::parse("0..").unwrap();
        assert!(open.contains(f64::MAX) && !open.contains(-1.0));
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*|(?s).{0,1600}|[-−+0-9., a-z]{0,60}") {
            if let Some(v) = parse_number(&s) {
                prop_assert!(v.is_finite());
            }
            let _ = parse_integer(&s);
            let _ = Range::parse(&s);
        }

        #[test]
        fn written_numbers_read_back(n in -1_000_000i64..1_000_000) {
            prop_assert_eq!(parse_integer(&n.to_string()), Some(n));
            prop_assert_eq!(parse_number(&format!("about {n} times")), Some(n as f64));
        }
    }
}
