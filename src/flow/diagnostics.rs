//! Problems found in a flow file, each pointing at a line and column with a plain-English fix.

use std::fmt;

use serde_saphyr::Location;

/// How bad a problem is: errors stop a flow from loading, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A 1-based line and column in a flow file (0 when the place is not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl From<Location> for Pos {
    fn from(l: Location) -> Self {
        Pos {
            line: u32::try_from(l.line()).unwrap_or(u32::MAX),
            column: u32::try_from(l.column()).unwrap_or(u32::MAX),
        }
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub pos: Pos,
    pub message: String,
    /// What to do about it, for someone who is not a programmer.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// True for problems that stop the flow from loading.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The report as `flows check` prints it: `file:line:col: error: message`, the offending
    /// line of `source` with a caret under the column, then the hint.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = self.to_string();
        if let Some(line) = source.and_then(|s| {
            (self.pos.line > 0)
                .then(|| source_lines(s).nth(self.pos.line as usize - 1))
                .flatten()
        }) {
            let gutter = self.pos.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret_at: String = line
                .chars()
                .take(self.pos.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!(
                "\n {pad} |\n {gutter} | {line}\n {pad} | {caret_at}^"
            ));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n  = help: {hint}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.pos.line > 0 {
            write!(
                f,
                "{}:{}:{}: {level}: {}",
                self.file, self.pos.line, self.pos.column, self.message
            )
        } else {
            write!(f, "{}: {level}: {}", self.file, self.message)
        }
    }
}

/// The lines of a flow file as YAML (and editors) count them: a line ends at CR LF, LF, or a lone
/// CR. `str::lines` does not split at a lone CR, so positions the parser reports would point past
/// the line they name.
pub fn source_lines(source: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(source);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(end) => {
                let after = if text[end..].starts_with("\r\n") {
                    end + 2
                } else {
                    end + 1
                };
                rest = (after < text.len()).then(|| &text[after..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                (!text.is_empty()).then_some(text)
            }
        }
    })
}

/// Collects the problems of one file while it is compiled.
#[derive(Debug, Default)]
pub struct Report {
    pub file: String,
    pub items: Vec<Diagnostic>,
}

impl Report {
    pub fn new(file: impl Into<String>) -> Self {
        Report {
            file: file.into(),
            items: Vec::new(),
        }
    }

    pub fn error(
        &mut self,
        pos: impl Into<Pos>,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        self.push(Severity::Error, pos.into(), message.into(), hint.into());
    }

    pub fn warning(
        &mut self,
        pos: impl Into<Pos>,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        self.push(Severity::Warning, pos.into(), message.into(), hint.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, message: String, hint: Option<String>) {
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            pos,
            message,
            hint,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
}

#[cfg(test)]
mod tests {
    use super::source_lines;

    #[test]
    fn lines_end_at_crlf_lf_and_a_lone_cr() {
        let lines = |s| source_lines(s).collect::<Vec<_>>();
        assert_eq!(lines("a\r\nb\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(lines("a\n\nb\n"), ["a", "", "b"]);
        assert_eq!(lines("a\r\r\nb"), ["a", "", "b"]);
        assert_eq!(lines("\n"), [""]);
        assert!(lines("").is_empty());
    }
}
