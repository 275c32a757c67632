//! `{{name}}` placeholders in flow texts: earlier answers, contact fields, the tracking code.

use std::fmt;

/// What a placeholder refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Var {
    /// `{{visits}}`: the answer to the question with that id, as the resident reads it (a
    /// choice's label in their language).
    Answer(String),
    /// `{{visits.value}}`: the answer as stored — a choice's key (`weekly`), a number, a
    /// date — whatever the resident's language, e.g. for a service code.
    AnswerValue(String),
    /// `{{contact.zip}}`: a field of the resident's profile.
    Contact(String),
    /// `{{tracking_code}}`: the code of the service request this conversation filed.
    TrackingCode,
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Answer(id) => write!(f, "{{{{{id}}}}}"),
            Var::AnswerValue(id) => write!(f, "{{{{{id}.value}}}}"),
            Var::Contact(field) => write!(f, "{{{{contact.{field}}}}}"),
            Var::TrackingCode => f.write_str("{{tracking_code}}"),
        }
    }
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Var(Var),
}

/// A text with placeholders, parsed once when the flow loads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

/// A malformed placeholder, with the character offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    /// Parses `text`. `{{` opens a placeholder and `}}` closes it; names are letters, digits,
    /// `_` and `-`, optionally prefixed by `contact.` or followed by `.value`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut consumed = 0usize;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    offset: consumed + open,
                    message: "a `{{` is never closed with `}}`".into(),
                });
            };
            let name = after[..close].trim();
            parts.push(Part::Var(parse_var(name).ok_or_else(|| TemplateError {
                offset: consumed + open,
                message: format!("`{{{{{name}}}}}` is not a valid placeholder name"),
            })?));
            let used = open + 2 + close + 2;
            consumed += used;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// True if the template has text of its own besides placeholders, so it can never render
    /// as nothing (a placeholder renders as nothing until its value is known).
    pub fn has_words(&self) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Lit(s) => !s.trim().is_empty(),
            Part::Var(_) => false,
        })
    }

    /// A template with no placeholders.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            parts: vec![Part::Lit(text.into())],
        }
    }

    /// The one placeholder the template consists of (blanks around it aside), if it is that.
    pub fn only_var(&self) -> Option<&Var> {
        let mut vars = self.parts.iter().filter(|p| match p {
            Part::Lit(s) => !s.trim().is_empty(),
            Part::Var(_) => true,
        });
        match (vars.next(), vars.next()) {
            (Some(Part::Var(v)), None) => Some(v),
            _ => None,
        }
    }

    /// The placeholders used, in order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// Fills the placeholders; `lookup` returns None for a value that is not known yet, which
    /// renders as nothing.
    pub fn render(&self, mut lookup: impl FnMut(&Var) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    if let Some(s) = lookup(v) {
                        out.push_str(&s);
                    }
                }
            }
        }
        out
    }

    /// The text as written, placeholders included (for cost estimates and listings).
    pub fn source(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.clone(),
                Part::Var(v) => v.to_string(),
            })
            .collect()
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_var(name: &str) -> Option<Var> {
    if name == "tracking_code" {
        return Some(Var::TrackingCode);
    }
    if let Some(field) = name.strip_prefix("contact.") {
        return valid_name(field).then(|| Var::Contact(field.to_string()));
    }
    if let Some(id) = name.strip_suffix(".value") {
        return valid_name(id).then(|| Var::AnswerValue(id.to_string()));
    }
    valid_name(name).then(|| Var::Answer(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_render_empty() {
        let t = Template::parse("Thanks {{name}}! Code {{tracking_code}} for {{contact.zip}}.")
            .unwrap();
        let out = t.render(|v| match v {
            Var::Answer(a) if a == "name" => Some("Ana".into()),
            Var::TrackingCode => Some("7K2M-9QX4".into()),
            _ => None,
        });
        assert_eq!(out, "Thanks Ana! Code 7K2M-9QX4 for .");
    }

    #[test]
    fn an_unclosed_placeholder_is_reported_where_it_opens() {
        let err = Template::parse("Hi {{name").unwrap_err();
        assert_eq!(err.offset, 3);
    }

    #[test]
    fn a_placeholder_with_spaces_inside_the_name_is_rejected() {
        assert!(Template::parse("{{ first name }}").is_err());
        assert!(Template::parse("{{ name }}").is_ok());
    }

    #[test]
    fn a_value_placeholder_names_the_stored_answer() {
        let t = Template::parse("{{issue.value}} / {{issue}}").unwrap();
        assert_eq!(
            t.vars().cloned().collect::<Vec<_>>(),
            [
                Var::AnswerValue("issue".into()),
                Var::Answer("issue".into())
            ]
        );
        assert!(Template::parse("{{.value}}").is_err());
        assert!(Template::parse("{{issue.label}}").is_err());
    }

    #[test]
    fn source_round_trips_the_written_text() {
        let text = "Code {{tracking_code}}, zip {{contact.zip}}, {{visits}}, {{visits.value}}";
        assert_eq!(Template::parse(text).unwrap().source(), text);
    }
}
