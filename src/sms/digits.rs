//! Digits in every script, read as the ASCII digits they mean.
//!
//! Phones offer Arabic-Indic (٤٠٢٠٢), Persian (۴۰۲۰۲), Devanagari (४०२०२), fullwidth (４０２０２)
//! and other decimal digits. A resident who types them means the same number, and an analyst
//! expects `40202` in the data, so answers are read with these digits made ASCII.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// The Unicode decimal digits (general category Nd) as ranges of code points. Unicode encodes
/// each script's decimal digits as one contiguous run from 0 to 9 (a stability guarantee), and
/// adjacent runs merge into one range, so every range starts at a zero and a digit's value is
/// its distance from the start, modulo 10.
static DECIMAL_DIGITS: LazyLock<Vec<(char, char)>> = LazyLock::new(|| {
    let hir = regex_syntax::parse(r"\p{Nd}").expect("\\p{Nd} is a valid class");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start(), r.end()))
            .collect(),
        other => unreachable!("\\p{{Nd}} parses to a Unicode class, not {other:?}"),
    }
});

/// The ASCII digit a decimal digit of any script stands for: `'٤'` → `'4'`; other characters
/// (letters, ASCII digits, superscripts, circled numbers) are returned unchanged.
pub fn ascii_digit(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    let ranges = &*DECIMAL_DIGITS;
    let at = ranges.partition_point(|&(_, end)| end < c);
    match ranges.get(at) {
        Some(&(start, end)) if start <= c && c <= end => {
            let value = (c as u32 - start as u32) % 10;
            char::from(b'0' + value as u8)
        }
        _ => c,
    }
}

/// `text` with every decimal digit made ASCII: "٤٠٢٠٢" → "40202", "４０２０２" → "40202".
/// Borrows when there is nothing to change (the common case).
///
/// ```
/// use civictext::sms::digits::ascii_digits;
/// assert_eq!(ascii_digits("ZIP ४०२०२"), "ZIP 40202");
/// assert_eq!(ascii_digits("40202"), "40202");
/// ```
pub fn ascii_digits(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(ascii_digit).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_s_digits_read_as_ascii() {
        for (written, ascii) in [
            ("٤٠٢٠٢", "40202"),      // Arabic-Indic
            ("۴۰۲۰۲", "40202"),      // Extended Arabic-Indic (Persian, Urdu)
            ("४०२०२", "40202"),      // Devanagari
            ("৪০২০২", "40202"),      // Bengali
            ("４０２０２", "40202"), // fullwidth
            ("๔๐๒๐๒", "40202"),      // Thai
            ("𝟒𝟎𝟐𝟎𝟐", "40202"),      // mathematical bold
            ("1٢3۴5", "12345"),      // mixed
            ("0123456789", "0123456789"),
        ] {
            assert_eq!(ascii_digits(written), ascii, "{written}");
        }
    }

    #[test]
    fn numbers_that_are_not_decimal_digits_stay_as_written() {
        // Superscripts, circled numbers and Roman numerals are not decimal digits.
        assert_eq!(ascii_digits("x² ① Ⅻ"), "x² ① Ⅻ");
        assert_eq!(ascii_digits("Niño ٤"), "Niño 4");
    }

    #[test]
    fn every_decimal_digit_range_is_made_of_whole_runs_from_zero_to_nine() {
        for &(start, end) in DECIMAL_DIGITS.iter() {
            let len = end as u32 - start as u32 + 1;
            assert_eq!(len % 10, 0, "range {start:?}..={end:?}");
        }
        // Every character the range table calls a digit reads as one, and round-trips through
        // the regex engine's own idea of a digit.
        let digit = regex::Regex::new(r"^\d$").unwrap();
        for &(start, end) in DECIMAL_DIGITS.iter() {
            for c in start..=end {
                assert!(digit.is_match(&c.to_string()));
                assert!(ascii_digit(c).is_ascii_digit());
            }
        }
    }
}
