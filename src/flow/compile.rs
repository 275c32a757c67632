//! From a flow file's text to a checked [`Flow`], reporting every problem with its line, column
//! and a fix. Pure: the caller reads the file.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use sha2::{Digest, Sha256};

use super::answers::choice::{ChoiceOption, ChoiceSet};
use super::answers::date::DateOrder;
use super::answers::number::Range;
use super::condition::{Condition, Operand, Test};
use super::diagnostics::{Pos, Report};
use super::messages;
use super::model::*;
use super::raw::*;
use super::render::{self, MAX_MESSAGE_CHARS};
use super::template::{Template, Var};
use crate::sms::fold;
use crate::sms::segments;
use crate::sms::vocabulary;

/// The result of compiling one file: the flow if it has no errors, and every problem found.
#[derive(Debug)]
pub struct Compiled {
    pub flow: Option<Flow>,
    pub report: Report,
}

/// Compiles the flow file `file` whose contents are `source`.
pub fn compile(file: &str, source: &str) -> Compiled {
    let mut report = Report::new(file);
    let mut opts = serde_saphyr::Options::default();
    // `Yes`/`No`/`On` are labels in a survey, not booleans.
    opts.strict_booleans = true;
    let raw: RawFlow = match serde_saphyr::from_str_with_options(source, opts) {
        Ok(raw) => raw,
        Err(e) => {
            let mut pos = e.location().map(Pos::from).unwrap_or_default();
            let mut message = yaml_message(&e);
            let mut hint = yaml_hint(&message);
            // The parser blames the scalar before a tab-indented line, or the column after the
            // tab; point at the tab itself.
            if message.contains("tab")
                && let Some(tab) = indenting_tab(source, pos.line)
            {
                pos = tab;
                message = "this line is indented with a tab".into();
                hint = Some(
                    "YAML indents with spaces only: replace the tab with spaces, lined up with \
                     the lines above"
                        .into(),
                );
            }
            report.error(pos, message, hint);
            return Compiled { flow: None, report };
        }
    };
    let version = {
        let digest = Sha256::digest(source.as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut c = Compiler {
        report,
        languages: Vec::new(),
        ids: HashMap::new(),
        question_kinds: HashMap::new(),
        templates: Vec::new(),
        conditions: Vec::new(),
        expires_after: None,
        flow_remind_after: None,
        flow_reminder_text: None,
        flow_reminder_used: false,
    };
    let flow = c.flow(file, raw, version);
    let report = c.report;
    Compiled {
        flow: if report.has_errors() { None } else { flow },
        report,
    }
}

/// The first tab in the indentation of a line, from line `from` on.
fn indenting_tab(source: &str, from: u32) -> Option<Pos> {
    super::diagnostics::source_lines(source)
        .enumerate()
        .skip((from as usize).saturating_sub(1))
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            let column = line[..indent].find('\t')?;
            Some(Pos {
                line: u32::try_from(i + 1).ok()?,
                column: u32::try_from(column + 1).ok()?,
            })
        })
}

fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    // The parser prefixes its own position; ours is printed in front already.
    let msg = full.lines().next().unwrap_or(&full).to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    // "duplicate mapping key: range, set DuplicateKeyPolicy in Options if acceptable" speaks to
    // programmers; staff need the key.
    match msg.strip_prefix("duplicate mapping key: ") {
        Some(rest) => {
            let key = rest
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(rest);
            format!("`{key}` is written twice in the same block")
        }
        None => msg,
    }
}

fn yaml_hint(message: &str) -> Option<String> {
    let m = message.to_lowercase();
    if m.contains("unknown field") {
        let fields = || {
            message
                .split_once("expected one of ")
                .map(|(_, l)| l.split(", "))
        };
        let field = message.split('`').nth(1).unwrap_or_default();
        let nearest = fields().and_then(|f| {
            let f: Vec<String> = f.map(|s| s.trim_matches('`').to_string()).collect();
            closest(field, f.iter()).cloned()
        });
        Some(match nearest {
            Some(c) => format!(
                "did you mean `{c}`? Check the spelling of this field; docs/flows.md lists every \
                 field a step can have"
            ),
            None => {
                "check the spelling of this field; docs/flows.md lists every field a step can have"
                    .into()
            }
        })
    } else if m.contains("written twice") {
        Some("each key may appear once in the same block: remove or rename one of them".into())
    } else if m.contains("missing field `steps`") {
        Some("a flow needs a `steps:` list with at least one step".into())
    } else if m.contains("missing field `flow`") {
        Some("start the file with `flow: <id>`, e.g. `flow: parks-survey`".into())
    } else if m.contains("invalid type") {
        Some(
            "this value has the wrong shape here; compare it with the examples in docs/flows.md"
                .into(),
        )
    } else {
        Some(
            "check indentation (spaces, not tabs) and that every `key:` is followed by a space"
                .into(),
        )
    }
}

fn pos<T>(s: &S<T>) -> Pos {
    s.referenced.into()
}

/// The kinds of answer a question may produce, used to check `next:` and conditions.
#[derive(Debug, Clone)]
enum Shape {
    Keys(Vec<String>),
    Number,
    Other,
}

struct Compiler {
    report: Report,
    languages: Vec<String>,
    /// step id → (index, where it was defined)
    ids: HashMap<String, (usize, Pos)>,
    question_kinds: HashMap<String, Shape>,
    /// Every template and condition read, with where it was written, for the checks that need
    /// the whole flow (placeholders and conditions naming questions).
    templates: Vec<(Pos, Template)>,
    conditions: Vec<(Pos, Condition)>,
    /// The flow's `expires_after`, with where it is written.
    expires_after: Option<(jiff::SignedDuration, Pos)>,
    /// The flow-wide `remind_after` and `reminder:` text, for questions without their own.
    flow_remind_after: Option<(jiff::SignedDuration, Pos)>,
    flow_reminder_text: Option<(Text, Pos)>,
    /// Whether some question sends the flow-wide reminder text.
    flow_reminder_used: bool,
}

/// The answer types staff can write in `type:`.
const ANSWER_TYPES: &[&str] = &[
    "choice", "yes_no", "number", "integer", "text", "pattern", "date", "phone", "email", "photo",
    "location", "language",
];

const STEP_KINDS: &[&str] = &["say", "ask", "goto", "branch", "end", "file_request"];

fn valid_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn valid_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Parses `30m`, `24h`, `2d`, `1w`, `1h30m`.
pub fn parse_duration(s: &str) -> Option<jiff::SignedDuration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(secs)?)?;
        rest = rest[unit_len..].trim_start();
    }
    (total > 0).then(|| jiff::SignedDuration::from_secs(total))
}

/// A duration as staff would write it: `24h`, `1h30m`, `90s`.
pub fn format_duration(d: jiff::SignedDuration) -> String {
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= n {
            out.push_str(&format!("{}{unit}", secs / n));
            secs %= n;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (strsim_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        // Ties go to the alphabetically first name, so the hint does not depend on the order
        // the candidates happen to be stored in (a hash map's, for step ids).
        .min_by(|(da, a), (db, b)| da.cmp(db).then_with(|| a.cmp(b)))
        .map(|(_, c)| c)
}

/// Levenshtein distance, for "did you mean" hints on short ids.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Compiler {
    fn flow(&mut self, file: &str, raw: RawFlow, version: String) -> Option<Flow> {
        if !valid_id(&raw.flow.value) {
            self.report.error(
                pos(&raw.flow),
                format!("`{}` is not a valid flow id", raw.flow.value),
                Some("use lower-case letters, digits and hyphens, e.g. `parks-survey`".into()),
            );
        }
        self.languages = match &raw.languages {
            None => vec!["en".to_string()],
            Some(list) => {
                let mut langs = Vec::new();
                for l in &list.value {
                    if !valid_language(&l.value) {
                        self.report.error(
                            pos(l),
                            format!("`{}` is not a language code", l.value),
                            Some("use a lower-case ISO 639 code such as `en`, `es` or `vi`".into()),
                        );
                    } else if langs.contains(&l.value) {
                        self.report.error(
                            pos(l),
                            format!("language `{}` is listed twice", l.value),
                            None,
                        );
                    } else {
                        if !messages::KNOWN.contains(&l.value.split('-').next().unwrap_or_default())
                        {
                            self.report.warning(
                                pos(l),
                                format!("civictext has no built-in re-prompts in `{}`; residents will get English ones", l.value),
                                Some("give every question a `retry:` text in this language".into()),
                            );
                        }
                        langs.push(l.value.clone());
                    }
                }
                if langs.is_empty() {
                    self.report.error(
                        pos(list),
                        "`languages` is empty",
                        Some("list at least one language, e.g. `languages: [en]`".into()),
                    );
                    langs.push("en".into());
                }
                langs
            }
        };
        let keywords = self.keywords(&raw);
        let expires_after = raw.expires_after.as_ref().and_then(|e| {
            let d = parse_duration(&e.value);
            if d.is_none() {
                self.report.error(
                    pos(e),
                    format!("`{}` is not a duration", e.value),
                    Some("write a number and a unit: `30m`, `24h`, `2d` or `1w`".into()),
                );
            }
            d
        });
        self.expires_after = expires_after.zip(raw.expires_after.as_ref().map(pos));
        self.flow_remind_after = raw
            .remind_after
            .as_ref()
            .and_then(|r| self.remind_after(r, false).flatten().map(|d| (d, pos(r))));
        self.flow_reminder_text = raw
            .reminder
            .as_ref()
            .and_then(|t| self.text(t, "the reminder").map(|x| (x, pos(t))));
        if let (Some(r), None) = (&raw.remind_after, &raw.reminder) {
            self.report.error(
                pos(r),
                "`remind_after` needs a `reminder:` text to send",
                Some("add `reminder:` with a short nudge, e.g. `Still there? Reply to our last question, or STOP to opt out.`".into()),
            );
        }
        let on_expire = raw.on_expire.as_ref().and_then(|t| {
            if raw.expires_after.is_none() {
                self.report.error(
                    pos(t),
                    "`on_expire` never runs: this flow has no `expires_after`",
                    Some("add `expires_after: 24h` (or how long a session may wait)".into()),
                );
            }
            self.text(t, "the `on_expire` closing text")
        });
        let on_expire_pos = raw.on_expire.as_ref().map_or_else(Pos::default, pos);
        let region = match &raw.region {
            Some(r) if r.value.len() == 2 && r.value.chars().all(|c| c.is_ascii_uppercase()) => {
                r.value.clone()
            }
            Some(r) => {
                self.report.error(
                    pos(r),
                    format!("`{}` is not a region code", r.value),
                    Some("use a two-letter upper-case country code such as `US`".into()),
                );
                "US".into()
            }
            None => "US".into(),
        };
        let date_order = match raw.date_order.as_ref().map(|d| (d.value.as_str(), pos(d))) {
            None | Some(("month_first", _)) => DateOrder::MonthFirst,
            Some(("day_first", _)) => DateOrder::DayFirst,
            Some((other, p)) => {
                self.report.error(
                    p,
                    format!("`{other}` is not a date order"),
                    Some(
                        "use `month_first` (12/5 is December 5) or `day_first` (12/5 is 12 May)"
                            .into(),
                    ),
                );
                DateOrder::MonthFirst
            }
        };

        let raw_steps = &raw.steps.value;
        if raw_steps.is_empty() {
            self.report.error(
                pos(&raw.steps),
                "the flow has no steps",
                Some("add at least one `- say:` or `- ask:` step".into()),
            );
            return None;
        }
        self.collect_ids(raw_steps);
        let mut steps = Vec::with_capacity(raw_steps.len());
        for (i, s) in raw_steps.iter().enumerate() {
            if let Some(step) = self.step(i, s) {
                steps.push(step);
            }
        }
        if steps.len() != raw_steps.len() {
            return None;
        }
        let questions: HashMap<String, usize> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.kind {
                StepKind::Ask(q) => Some((q.id.clone(), i)),
                _ => None,
            })
            .collect();
        self.check_references(&steps, &questions);
        self.check_reachability(&steps);
        self.check_lengths(&steps);
        if let Some((_, at)) = &self.flow_reminder_text
            && !self.flow_reminder_used
            && raw.remind_after.is_none()
        {
            self.report.error(
                *at,
                "this reminder is never sent: no question has a `remind_after`",
                Some(
                    "add `remind_after: 4h` at the top of the flow, or on the questions to remind"
                        .into(),
                ),
            );
        }
        let reminder = match (self.flow_remind_after, self.flow_reminder_text.clone()) {
            (Some((after, _)), Some((text, at))) => Some(Reminder {
                after,
                text,
                pos: at,
            }),
            _ => None,
        };
        let flow_texts: Vec<(Pos, String, String)> = reminder
            .iter()
            .flat_map(|r| {
                r.text
                    .by_language
                    .iter()
                    .map(|(l, t)| (r.pos, l.clone(), t.source()))
            })
            .chain(on_expire.iter().flat_map(|t| {
                t.by_language
                    .iter()
                    .map(|(l, tpl)| (on_expire_pos, l.clone(), tpl.source()))
            }))
            .collect();
        for (at, lang, text) in flow_texts {
            self.check_length(at, &lang, &text);
        }

        Some(Flow {
            id: raw.flow.value.clone(),
            title: raw
                .title
                .as_ref()
                .map_or_else(|| raw.flow.value.clone(), |t| t.value.clone()),
            version,
            source: file.to_string(),
            languages: self.languages.clone(),
            keywords,
            expires_after,
            reminder,
            on_expire,
            on_expire_pos,
            interruptible: raw.interruptible.as_ref().is_none_or(|b| b.value),
            region,
            date_order,
            steps,
            questions,
        })
    }

    fn keyword(&mut self, k: &S<String>, language: Option<String>, out: &mut Vec<Keyword>) {
        let word = fold::keyword(&k.value);
        if word.is_empty() {
            self.report.error(
                pos(k),
                format!("`{}` cannot be texted as a keyword", k.value),
                Some("use letters or digits, e.g. `PARKS`".into()),
            );
            return;
        }
        if let Some(r) = vocabulary::recognize(&k.value) {
            self.report.error(
                pos(k),
                format!(
                    "`{}` is reserved: residents text it to {}",
                    k.value,
                    match r.command {
                        vocabulary::Command::OptOut => "opt out",
                        vocabulary::Command::OptIn => "opt back in",
                        vocabulary::Command::Help => "ask for help",
                    }
                ),
                Some("choose another keyword".into()),
            );
            return;
        }
        if out.iter().any(|x| x.word == word) {
            self.report.error(
                pos(k),
                format!("keyword `{}` is listed twice", k.value),
                None,
            );
            return;
        }
        out.push(Keyword {
            word,
            spelled: fold::spelling(&k.value),
            language,
            pos: pos(k),
        });
    }

    fn keywords(&mut self, raw: &RawFlow) -> Vec<Keyword> {
        let mut out = Vec::new();
        match raw.keywords.as_ref().map(|k| &k.value) {
            None => {
                self.report.error(
                    Pos { line: 1, column: 1 },
                    "the flow has no `keywords`",
                    Some(
                        "add `keywords: [WORD]`: residents text a keyword to start the flow".into(),
                    ),
                );
            }
            Some(RawKeywords::Plain(list)) => {
                for k in list {
                    self.keyword(k, None, &mut out);
                }
            }
            Some(RawKeywords::ByLanguage(map)) => {
                for (lang, list) in map {
                    if !self.declared_language(lang) {
                        continue;
                    }
                    for k in list {
                        self.keyword(k, Some(lang.value.clone()), &mut out);
                    }
                }
            }
        }
        if out.is_empty() && raw.keywords.is_some() {
            self.report.error(
                raw.keywords.as_ref().map(pos).unwrap_or_default(),
                "the flow has no usable keywords",
                Some("add at least one keyword, e.g. `keywords: [PARKS]`".into()),
            );
        }
        out
    }

    /// True if `lang` is one of the flow's languages; reports it otherwise.
    fn declared_language(&mut self, lang: &S<String>) -> bool {
        if self.languages.contains(&lang.value) {
            return true;
        }
        self.report.error(
            pos(lang),
            format!(
                "`{}` is not one of this flow's languages ({})",
                lang.value,
                self.languages.join(", ")
            ),
            Some("add it to `languages:` or fix the code".into()),
        );
        false
    }

    fn collect_ids(&mut self, raw_steps: &[S<RawStep>]) {
        for (i, s) in raw_steps.iter().enumerate() {
            let names: Vec<&S<String>> = [s.value.ask.as_ref(), s.value.id.as_ref()]
                .into_iter()
                .flatten()
                .collect();
            if let (Some(a), Some(id)) = (&s.value.ask, &s.value.id)
                && a.value != id.value
            {
                self.report.error(
                    pos(id),
                    format!(
                        "this question is `{}` but its `id` says `{}`",
                        a.value, id.value
                    ),
                    Some("a question's id is the name after `ask:`; remove `id:`".into()),
                );
            }
            if let Some(name) = names.first() {
                if !valid_id(&name.value) {
                    self.report.error(
                        pos(name),
                        format!("`{}` is not a valid step id", name.value),
                        Some("use lower-case letters, digits, `-` and `_`, e.g. `why-not`".into()),
                    );
                }
                if let Some((_, first)) = self.ids.get(&name.value) {
                    self.report.error(
                        pos(name),
                        format!(
                            "step id `{}` is used twice (first on line {})",
                            name.value, first.line
                        ),
                        Some("give each step a different id".into()),
                    );
                } else {
                    self.ids.insert(name.value.clone(), (i, pos(name)));
                }
            }
        }
    }

    fn target(&mut self, name: &S<String>) -> Option<usize> {
        if let Some((i, _)) = self.ids.get(&name.value) {
            return Some(*i);
        }
        let hint = match closest(&name.value, self.ids.keys()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => "point it at the `ask:` name or `id:` of a step in this flow".into(),
        };
        self.report.error(
            pos(name),
            format!("there is no step `{}`", name.value),
            Some(hint),
        );
        None
    }

    fn text(&mut self, raw: &S<RawText>, what: &str) -> Option<Text> {
        self.text_at(&raw.value, pos(raw), what)
    }

    /// A text the resident must be able to answer (a question or its re-prompt): as [`text`],
    /// and each translation must have words of its own. Made only of placeholders, it would
    /// render as nothing before those values are known, leaving the resident waiting for a
    /// question that never arrives.
    fn prompt(&mut self, raw: &S<RawText>, what: &str) -> Option<Text> {
        let text = self.text(raw, what)?;
        let several = self.languages.len() > 1;
        let mut ok = true;
        for (lang, template) in &text.by_language {
            if template.has_words() {
                continue;
            }
            let at = match &raw.value {
                RawText::ByLanguage(pairs) => pairs
                    .iter()
                    .find(|(l, _)| &l.value == lang)
                    .map_or(pos(raw), |(_, s)| pos(s)),
                RawText::Plain(_) => pos(raw),
            };
            let place = if several {
                format!(" in `{lang}`")
            } else {
                String::new()
            };
            self.report.error(
                at,
                format!(
                    "{what} is only placeholders{place}: until they have values it is empty, \
                     and the resident gets no question to answer"
                ),
                Some(format!(
                    "add words of your own, e.g. `{}, what is your answer?`",
                    template.source().trim()
                )),
            );
            ok = false;
        }
        ok.then_some(text)
    }

    fn text_at(&mut self, raw: &RawText, at: Pos, what: &str) -> Option<Text> {
        let mut by_language = Vec::new();
        let mut ok = true;
        match raw {
            RawText::Plain(s) => {
                if self.languages.len() > 1 {
                    self.report.error(
                        at,
                        format!(
                            "{what} has no translations; this flow speaks {}",
                            self.languages.join(", ")
                        ),
                        Some(format!(
                            "write it once per language: {}",
                            self.languages
                                .iter()
                                .map(|l| format!("`{l}: …`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    return None;
                }
                by_language.push((self.languages[0].clone(), self.template(s, at, what)?));
            }
            RawText::ByLanguage(pairs) => {
                for (lang, s) in pairs {
                    if !self.declared_language(lang) {
                        ok = false;
                        continue;
                    }
                    match self.template(&s.value, pos(s), what) {
                        Some(t) => by_language.push((lang.value.clone(), t)),
                        None => ok = false,
                    }
                }
                for l in &self.languages.clone() {
                    if !pairs.iter().any(|(k, _)| &k.value == l) {
                        self.report.error(
                            at,
                            format!("{what} is missing its `{l}` translation"),
                            Some(format!(
                                "add a line `{l}: …` with the text in that language"
                            )),
                        );
                        ok = false;
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        by_language.sort_by_key(|(l, _)| self.languages.iter().position(|x| x == l));
        Some(Text { by_language })
    }

    fn template(&mut self, s: &str, at: Pos, what: &str) -> Option<Template> {
        if s.trim().is_empty() {
            self.report.error(
                at,
                format!("{what} is empty"),
                Some("write the words the resident should receive".into()),
            );
            return None;
        }
        match Template::parse(s) {
            Ok(t) => {
                self.templates.push((at, t.clone()));
                Some(t)
            }
            Err(e) => {
                self.report.error(at, format!("{what}: {}", e.message), Some("placeholders look like `{{visits}}`, `{{contact.zip}}` or `{{tracking_code}}`".into()));
                None
            }
        }
    }

    fn step(&mut self, index: usize, raw: &S<RawStep>) -> Option<Step> {
        let r = &raw.value;
        let at = pos(raw);
        let present: Vec<&str> = [
            r.say.is_some(),
            r.ask.is_some(),
            r.goto.is_some(),
            r.branch.is_some(),
            r.end.is_some(),
            r.file_request.is_some(),
        ]
        .iter()
        .zip(STEP_KINDS)
        .filter_map(|(p, k)| p.then_some(*k))
        .collect();
        if present.len() != 1 {
            let message = if present.is_empty() {
                format!("step {} does not say what it does", index + 1)
            } else {
                format!("step {} mixes {}", index + 1, present.join(" and "))
            };
            self.report.error(at, message, Some("each step has exactly one of `say`, `ask`, `goto`, `branch`, `end`, `file_request`; split it into separate steps".into()));
            return None;
        }
        let when = r.when.as_ref().and_then(|w| self.condition(w));
        if r.ask.is_none() {
            self.only_for_questions(r);
        }
        let kind = if let Some(say) = &r.say {
            StepKind::Say(self.text(say, "this message")?)
        } else if let Some(ask) = &r.ask {
            StepKind::Ask(Box::new(self.question(ask, r, at)?))
        } else if let Some(goto) = &r.goto {
            StepKind::Goto(self.target(goto)?)
        } else if let Some(branch) = &r.branch {
            let mut arms = Vec::new();
            for arm in &branch.value {
                let cond = self.condition(&arm.value.condition);
                let target = self.target(&arm.value.goto);
                arms.push((cond?, target?));
            }
            if arms.is_empty() {
                self.report.error(
                    pos(branch),
                    "this branch has no arms",
                    Some("add `- if: <condition>` / `goto: <step>` pairs".into()),
                );
                return None;
            }
            StepKind::Branch(arms)
        } else if let Some(end) = &r.end {
            match &end.value {
                RawEnd::Quietly => StepKind::End(None),
                RawEnd::With(t) => {
                    StepKind::End(Some(self.text_at(t, pos(end), "this closing message")?))
                }
            }
        } else {
            let fr = r.file_request.as_ref()?;
            let f = &fr.value;
            let mut field = |s: &Option<S<String>>, what: &str| -> Option<Option<Template>> {
                match s {
                    None => Some(None),
                    Some(s) => self.template(&s.value, pos(s), what).map(Some),
                }
            };
            let description = field(&f.description, "the request description")?;
            let location = field(&f.location, "the request location")?;
            let photo = field(&f.photo, "the request photo")?;
            StepKind::FileRequest(RequestSpec {
                service: self.template(&f.service.value, pos(&f.service), "the request service")?,
                description,
                location,
                photo,
            })
        };
        Some(Step {
            id: r.ask.as_ref().or(r.id.as_ref()).map(|s| s.value.clone()),
            when: if r.when.is_some() { Some(when?) } else { None },
            kind,
            pos: at,
        })
    }

    fn only_for_questions(&mut self, r: &RawStep) {
        let stray: [(&str, Option<Pos>); 16] = [
            ("type", r.kind.as_ref().map(pos)),
            ("text", r.text.as_ref().map(pos)),
            ("choices", r.choices.as_ref().map(pos)),
            ("range", r.range.as_ref().map(pos)),
            ("min_length", r.min_length.as_ref().map(pos)),
            ("max_length", r.max_length.as_ref().map(pos)),
            ("pattern", r.pattern.as_ref().map(pos)),
            ("retry", r.retry.as_ref().map(pos)),
            ("attempts", r.attempts.as_ref().map(pos)),
            ("optional", r.optional.as_ref().map(pos)),
            ("save_as", r.save_as.as_ref().map(pos)),
            ("consent", r.consent.as_ref().map(pos)),
            ("anonymous", r.anonymous.as_ref().map(pos)),
            ("next", r.next.as_ref().map(pos)),
            ("remind_after", r.remind_after.as_ref().map(pos)),
            ("reminder", r.reminder.as_ref().map(pos)),
        ];
        for (name, p) in stray {
            if let Some(p) = p {
                self.report.error(
                    p,
                    format!("`{name}` only belongs on an `ask:` step"),
                    Some("move it to the question it is meant for, or remove it".into()),
                );
            }
        }
    }

    fn condition(&mut self, raw: &S<String>) -> Option<Condition> {
        match Condition::parse(&raw.value) {
            Ok(c) => {
                self.conditions.push((pos(raw), c.clone()));
                Some(c)
            }
            Err(e) => {
                let mut p = pos(raw);
                p.column += u32::try_from(e.offset).unwrap_or(0);
                self.report.error(p, format!("cannot read this condition: {}", e.message), Some("conditions look like `visits == never`, `age < 18 and contact.zip is set`, `zip in [40202, 40203]`".into()));
                None
            }
        }
    }

    fn question(&mut self, ask: &S<String>, r: &RawStep, at: Pos) -> Option<Question> {
        let id = ask.value.clone();
        let Some(text_raw) = &r.text else {
            self.report.error(
                at,
                format!("question `{id}` has no `text`"),
                Some("add `text:` with the question the resident will read".into()),
            );
            return None;
        };
        let text = self.prompt(text_raw, "the question text");
        let kind_name = match &r.kind {
            Some(k) => k.value.clone(),
            None if r.choices.is_some() => "choice".into(),
            None => "text".into(),
        };
        let kind_pos = r.kind.as_ref().map_or(at, pos);
        let kind = self.answer_kind(&id, &kind_name, kind_pos, r);
        let retry = match &r.retry {
            Some(t) => Some(self.prompt(t, "the retry text")?),
            None => None,
        };
        let attempts = match &r.attempts {
            Some(a) if a.value == 0 => {
                self.report.error(
                    pos(a),
                    "`attempts` must be at least 1",
                    Some("use 3 to give residents a few tries".into()),
                );
                return None;
            }
            Some(a) => a.value,
            None => 3,
        };
        let on_fail = match &r.on_fail {
            None => OnFail::Skip,
            Some(s) if s.value == "skip" => OnFail::Skip,
            Some(s) if s.value == "end" => OnFail::End,
            Some(s) => OnFail::Goto(self.target(s)?),
        };
        let save_as = match &r.save_as {
            Some(s) if valid_id(&s.value) => Some(s.value.replace('-', "_")),
            Some(s) => {
                self.report.error(
                    pos(s),
                    format!("`{}` is not a valid contact field name", s.value),
                    Some("use lower-case letters, digits and `_`, e.g. `zip_code`".into()),
                );
                return None;
            }
            None => None,
        };
        let reminder = self.question_reminder(&id, r, at);
        let kind = kind?;
        let reminder = reminder?;
        let optional = r.optional.as_ref().is_some_and(|o| o.value);
        let shape = match &kind {
            AnswerKind::Choice(c) | AnswerKind::Language(c) => Shape::Keys(c.keys.clone()),
            AnswerKind::YesNo => Shape::Keys(vec!["yes".into(), "no".into()]),
            AnswerKind::Number { .. } => Shape::Number,
            _ => Shape::Other,
        };
        self.question_kinds.insert(id.clone(), shape.clone());
        let consent = match &r.consent {
            None => None,
            Some(c) => Some(self.consent(&id, c, &shape)?),
        };
        let next = match &r.next {
            None => Next::default(),
            Some(n) => self.next(&id, n, &shape, optional)?,
        };
        Some(Question {
            id,
            text: text?,
            kind,
            retry,
            attempts,
            on_fail,
            optional,
            save_as,
            consent,
            anonymous: r.anonymous.as_ref().is_some_and(|a| a.value),
            next,
            reminder,
            own_reminder_text: r.reminder.is_some(),
        })
    }

    /// `consent:` on question `id`: a topic name, and an answer the question can give.
    fn consent(&mut self, id: &str, c: &S<RawConsent>, shape: &Shape) -> Option<Consent> {
        let topic = &c.value.topic;
        if !valid_id(&topic.value) {
            self.report.error(
                pos(topic),
                format!("`{}` is not a valid consent topic", topic.value),
                Some("use lower-case letters, digits, `-` and `_`, e.g. `youth-events`".into()),
            );
            return None;
        }
        let Shape::Keys(keys) = shape else {
            self.report.error(
                pos(c),
                format!(
                    "question `{id}` cannot record a consent: its answers are not yes/no or choices"
                ),
                Some("put `consent:` on a `type: yesno` or `choices:` question".into()),
            );
            return None;
        };
        let when = c.value.when.as_ref();
        let answer = when.map_or("yes", |w| w.value.as_str());
        if !keys.iter().any(|k| k == answer) {
            self.report.error(
                when.map_or_else(|| pos(c), pos),
                format!("question `{id}` has no answer `{answer}` to take as consent"),
                Some(format!(
                    "`when:` names one of its answers: {}",
                    keys.join(", ")
                )),
            );
            return None;
        }
        Some(Consent {
            topic: topic.value.clone(),
            when: answer.to_string(),
        })
    }

    fn next(&mut self, id: &str, n: &S<RawNext>, shape: &Shape, optional: bool) -> Option<Next> {
        match &n.value {
            RawNext::Always(target) => {
                let t = S::new(target.clone(), n.referenced, n.defined);
                Some(Next {
                    by_answer: vec![],
                    otherwise: Some(self.target(&t)?),
                })
            }
            RawNext::ByAnswer(pairs) => {
                let mut next = Next::default();
                let mut ok = true;
                for (answer, target) in pairs {
                    let t = self.target(target);
                    let valid = match (answer.value.as_str(), shape) {
                        ("else", _) => true,
                        ("skipped", _) => {
                            if !optional {
                                self.report.error(
                                    pos(answer),
                                    format!(
                                        "question `{id}` is not optional, so it is never skipped"
                                    ),
                                    Some("add `optional: true` or remove this line".into()),
                                );
                            }
                            optional
                        }
                        (a, Shape::Keys(keys)) => {
                            let found = keys.iter().any(|k| k == a);
                            if !found {
                                let hint = match closest(a, keys.iter()) {
                                    Some(c) => format!(
                                        "did you mean `{c}`? The answers are: {}",
                                        keys.join(", ")
                                    ),
                                    None => {
                                        format!("the answers are: {}, plus `else`", keys.join(", "))
                                    }
                                };
                                self.report.error(
                                    pos(answer),
                                    format!("`{a}` is not an answer to `{id}`"),
                                    Some(hint),
                                );
                            }
                            found
                        }
                        (a, _) => {
                            self.report.error(pos(answer), format!("`{id}` has no fixed answers to branch on, so `{a}` never matches"), Some("use `else:` here, or a `branch:` step with a condition such as `safety <= 2`".into()));
                            false
                        }
                    };
                    match (t, valid) {
                        (Some(t), true) if answer.value == "else" => next.otherwise = Some(t),
                        (Some(t), true) => next.by_answer.push((answer.value.clone(), t)),
                        _ => ok = false,
                    }
                }
                ok.then_some(next)
            }
        }
    }

    fn choices(&mut self, raw: &S<RawChoices>) -> Option<Choices> {
        let mut keys = Vec::new();
        let mut labels = Vec::new();
        let mut options = Vec::new();
        let mut ok = true;
        for (key, choice) in &raw.value.0 {
            if !valid_id(&key.value) {
                self.report.error(pos(key), format!("`{}` is not a valid choice key", key.value), Some("keys are what analysts see: lower-case letters, digits, `-` and `_`, e.g. `weekly`".into()));
                ok = false;
                continue;
            }
            let Some(label) = self.text_at(
                &choice.value.label,
                pos(choice),
                &format!("choice `{}`", key.value),
            ) else {
                ok = false;
                continue;
            };
            let mut phrases: Vec<String> =
                label.by_language.iter().map(|(_, t)| t.source()).collect();
            phrases.extend(choice.value.also.iter().map(|s| s.value.clone()));
            phrases.push(key.value.replace(['-', '_'], " "));
            options.push(ChoiceOption {
                key: key.value.clone(),
                phrases,
            });
            keys.push(key.value.clone());
            labels.push(label);
        }
        if raw.value.0.is_empty() {
            self.report.error(
                pos(raw),
                "`choices` is empty",
                Some("list at least two choices".into()),
            );
            return None;
        }
        ok.then(|| Choices {
            keys,
            labels,
            matcher: ChoiceSet::new(options),
        })
    }

    fn answer_kind(&mut self, id: &str, kind: &str, at: Pos, r: &RawStep) -> Option<AnswerKind> {
        // An unknown type is the only problem worth reporting: the fields that do not fit it
        // would be reported as misplaced, and blame the wrong line.
        if !ANSWER_TYPES.contains(&kind) {
            let known: Vec<String> = ANSWER_TYPES.iter().map(|s| s.to_string()).collect();
            let hint = match closest(kind, known.iter()) {
                Some(c) => format!(
                    "did you mean `{c}`? The types are: {}",
                    ANSWER_TYPES.join(", ")
                ),
                None => format!("the types are: {}", ANSWER_TYPES.join(", ")),
            };
            self.report
                .error(at, format!("`{kind}` is not an answer type"), Some(hint));
            return None;
        }
        let misplaced = |this: &mut Self, field: &str, p: Option<Pos>, wants: &str| {
            if let Some(p) = p {
                this.report.error(
                    p,
                    format!("`{field}` does not apply to a `{kind}` question"),
                    Some(format!(
                        "`{field}` is for {wants}; remove it or change `type:`"
                    )),
                );
            }
        };
        let only_for: [(&str, Option<Pos>, &[&str], &str); 6] = [
            (
                "choices",
                r.choices.as_ref().map(pos),
                &["choice"],
                "`choice` questions",
            ),
            (
                "range",
                r.range.as_ref().map(pos),
                &["number", "integer"],
                "`number` and `integer` questions",
            ),
            (
                "min_length",
                r.min_length.as_ref().map(pos),
                &["text"],
                "`text` questions",
            ),
            (
                "max_length",
                r.max_length.as_ref().map(pos),
                &["text"],
                "`text` questions",
            ),
            (
                "pattern",
                r.pattern.as_ref().map(pos),
                &["pattern"],
                "`pattern` questions",
            ),
            (
                "confirm",
                r.confirm.as_ref().map(pos),
                &["location"],
                "`location` questions",
            ),
        ];
        for (field, p, types, wants) in only_for {
            if !types.contains(&kind) {
                misplaced(self, field, p, wants);
            }
        }
        Some(match kind {
            "choice" => match &r.choices {
                Some(c) => AnswerKind::Choice(self.choices(c)?),
                None => {
                    self.report.error(
                        at,
                        format!("choice question `{id}` has no `choices`"),
                        Some("add `choices:` with one `key: label` line per option".into()),
                    );
                    return None;
                }
            },
            "yes_no" => AnswerKind::YesNo,
            "number" | "integer" => {
                let range = match &r.range {
                    None => Range {
                        min: None,
                        max: None,
                    },
                    Some(s) => match Range::parse(&s.value) {
                        Ok(range) => range,
                        Err(hint) => {
                            self.report.error(
                                pos(s),
                                format!("`{}` is not a range", s.value),
                                Some(hint),
                            );
                            return None;
                        }
                    },
                };
                AnswerKind::Number {
                    range,
                    integer: kind == "integer",
                }
            }
            "text" => {
                let min = r.min_length.as_ref().map(|s| s.value);
                let max = r.max_length.as_ref().map(|s| s.value);
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    self.report.error(
                        r.min_length.as_ref().map(pos).unwrap_or(at),
                        format!("`min_length` {lo} is more than `max_length` {hi}"),
                        Some("swap them or fix one".into()),
                    );
                    return None;
                }
                if let Some(m) = r
                    .max_length
                    .as_ref()
                    .filter(|m| m.value as usize > MAX_MESSAGE_CHARS)
                {
                    self.report.error(
                        pos(m),
                        format!(
                            "`max_length` {} is more than one text can hold ({MAX_MESSAGE_CHARS})",
                            m.value
                        ),
                        Some(format!("use at most {MAX_MESSAGE_CHARS}")),
                    );
                    return None;
                }
                AnswerKind::Text { min, max }
            }
            "pattern" => match &r.pattern {
                None => {
                    self.report.error(at, format!("pattern question `{id}` has no `pattern`"), Some("add `pattern:` with a regular expression, e.g. `'\\d{5}'` for a ZIP code".into()));
                    return None;
                }
                Some(p) => match Regex::new(&format!("(?i)^(?:{})$", p.value)) {
                    Ok(re) => AnswerKind::Pattern(re),
                    Err(e) => {
                        let detail = e.to_string();
                        let last = detail
                            .lines()
                            .rfind(|l| !l.trim().is_empty())
                            .unwrap_or("invalid")
                            .trim()
                            .trim_start_matches("error: ")
                            .to_string();
                        self.report.error(pos(p), format!("`{}` is not a valid pattern: {last}", p.value), Some("check brackets and backslashes; in YAML, put the pattern in single quotes".into()));
                        return None;
                    }
                },
            },
            "date" => AnswerKind::Date,
            "phone" => AnswerKind::Phone,
            "email" => AnswerKind::Email,
            "photo" => AnswerKind::Photo,
            "location" => AnswerKind::Location {
                confirm: r.confirm.as_ref().is_none_or(|c| c.value),
            },
            "language" => {
                let options: Vec<ChoiceOption> = self
                    .languages
                    .iter()
                    .map(|l| ChoiceOption {
                        key: l.clone(),
                        phrases: vec![messages::language_name(l).to_string(), l.clone()],
                    })
                    .collect();
                let labels = self
                    .languages
                    .iter()
                    .map(|l| Text {
                        by_language: self
                            .languages
                            .iter()
                            .map(|x| (x.clone(), Template::literal(messages::language_name(l))))
                            .collect(),
                    })
                    .collect();
                AnswerKind::Language(Choices {
                    keys: self.languages.clone(),
                    labels,
                    matcher: ChoiceSet::new(options),
                })
            }
            // Unknown types returned early above.
            _ => return None,
        })
    }

    fn check_references(&mut self, steps: &[Step], questions: &HashMap<String, usize>) {
        let has_request = steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::FileRequest(_)));
        let qids: Vec<String> = questions.keys().cloned().collect();
        let mut reported = HashSet::new();
        for (at, template) in std::mem::take(&mut self.templates) {
            for v in template.vars() {
                let problem = match v {
                    Var::Answer(id) | Var::AnswerValue(id) if !questions.contains_key(id) => Some((
                        format!("`{v}` names no question in this flow"),
                        match closest(id, qids.iter()) {
                            Some(c) if matches!(v, Var::AnswerValue(_)) => {
                                format!("did you mean `{{{{{c}.value}}}}`?")
                            }
                            Some(c) => format!("did you mean `{{{{{c}}}}}`?"),
                            None => "use the name after `ask:` of an earlier question, `{{contact.<field>}}` or `{{tracking_code}}`".into(),
                        },
                    )),
                    Var::TrackingCode if !has_request => Some((
                        "`{{tracking_code}}` is used but this flow never files a request".into(),
                        "add a `file_request:` step before this text".into(),
                    )),
                    _ => None,
                };
                if let Some((m, h)) = problem
                    && reported.insert((at, m.clone()))
                {
                    self.report.error(at, m, Some(h));
                }
            }
        }
        for (at, condition) in std::mem::take(&mut self.conditions) {
            for test in condition.tests() {
                self.check_test(at, test, &qids);
            }
        }
    }

    fn check_test(&mut self, at: Pos, test: &Test, qids: &[String]) {
        let Operand::Answer(id) = test.operand() else {
            return;
        };
        let Some(shape) = self.question_kinds.get(id).cloned() else {
            let hint = match closest(id, qids.iter()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "name an earlier question, or a contact field as `contact.<field>`".into(),
            };
            self.report.error(
                at,
                format!("the condition reads `{id}`, which is no question in this flow"),
                Some(hint),
            );
            return;
        };
        for v in test.values() {
            let bad = match &shape {
                Shape::Keys(keys) => !keys.iter().any(|k| k.eq_ignore_ascii_case(v)),
                Shape::Number => v.parse::<f64>().is_err(),
                Shape::Other => false,
            };
            if bad {
                let hint = match &shape {
                    Shape::Keys(keys) => format!("`{id}` is one of: {}", keys.join(", ")),
                    _ => format!("`{id}` is a number"),
                };
                self.report.error(
                    at,
                    format!("the condition compares `{id}` with `{v}`, which it can never be"),
                    Some(hint),
                );
            }
        }
    }

    fn check_reachability(&mut self, steps: &[Step]) {
        let n = steps.len();
        let successors = |i: usize| -> Vec<usize> {
            let step = &steps[i];
            let mut out = Vec::new();
            let follow = i + 1;
            if step.when.is_some() && follow < n {
                out.push(follow);
            }
            match &step.kind {
                StepKind::Say(_) | StepKind::FileRequest(_) => out.push(follow),
                StepKind::Ask(q) => {
                    out.extend(q.next.by_answer.iter().map(|(_, t)| *t));
                    out.push(q.next.otherwise.unwrap_or(follow));
                    if q.next.otherwise.is_some() && q.next.by_answer.is_empty() {
                        // fine: always jumps
                    }
                    match q.on_fail {
                        OnFail::Goto(t) => out.push(t),
                        OnFail::Skip => out.push(q.next.otherwise.unwrap_or(follow)),
                        OnFail::End => {}
                    }
                }
                StepKind::Goto(t) => out.push(*t),
                StepKind::Branch(arms) => {
                    out.extend(arms.iter().map(|(_, t)| *t));
                    out.push(follow);
                }
                StepKind::End(_) => {}
            }
            out.retain(|&t| t < n);
            out
        };
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(successors(i));
        }
        for (i, step) in steps.iter().enumerate() {
            if !seen[i] {
                let what = step
                    .id
                    .as_ref()
                    .map_or_else(|| format!("step {}", i + 1), |id| format!("step `{id}`"));
                self.report.error(step.pos, format!("{what} can never be reached"), Some("every path before it ends or jumps past it: point a `next:`, `goto:` or `branch:` at it, or remove it".into()));
            }
        }
        // A loop that can run without waiting for the resident would spin until the engine
        // stops it. A question waits only when it is asked: one with a `when:` is passed over
        // when its condition is false, so it does not break a loop.
        let loops_back = |start: usize, waits: &dyn Fn(usize) -> bool| {
            if waits(start) {
                return false;
            }
            let mut visited = vec![false; n];
            let mut stack = successors(start);
            while let Some(i) = stack.pop() {
                if i == start {
                    return true;
                }
                if std::mem::replace(&mut visited[i], true) || waits(i) {
                    continue;
                }
                stack.extend(successors(i));
            }
            false
        };
        let any_ask = |i: usize| matches!(steps[i].kind, StepKind::Ask(_));
        let unconditional_ask = |i: usize| any_ask(i) && steps[i].when.is_none();
        for start in (0..n).filter(|&i| seen[i]) {
            if loops_back(start, &any_ask) {
                self.report.error(steps[start].pos, "these steps loop back here without asking anything, so the conversation would never stop", Some("make the loop pass through an `ask:` step, or break it with an `end:`".into()));
            } else if loops_back(start, &unconditional_ask) {
                self.report.error(steps[start].pos, "these steps can loop back here without waiting for the resident: a question with `when:` is passed over when its condition is false", Some("make the loop pass through an `ask:` without `when:`, or break it with an `end:`".into()));
            }
        }
    }

    fn check_lengths(&mut self, steps: &[Step]) {
        for step in steps {
            for (lang, text) in step_texts(step) {
                self.check_length(step.pos, &lang, &text);
            }
        }
    }

    fn check_length(&mut self, at: Pos, lang: &str, text: &str) {
        let n = text.chars().count();
        if n > MAX_MESSAGE_CHARS {
            self.report.error(at, format!("the `{lang}` text is {n} characters; one SMS conversation message can be at most {MAX_MESSAGE_CHARS}"), Some("shorten it, or split it into two `say:` steps".into()));
        }
        self.check_lookalikes(at, lang, text);
    }

    /// Reads a `remind_after:` value: Some(None) for `never` (where allowed), None when it is
    /// not a duration or not shorter than the flow's `expires_after` (both reported).
    fn remind_after(
        &mut self,
        raw: &S<String>,
        never_allowed: bool,
    ) -> Option<Option<jiff::SignedDuration>> {
        if never_allowed && raw.value.trim() == "never" {
            return Some(None);
        }
        let Some(d) = parse_duration(&raw.value) else {
            self.report.error(
                pos(raw),
                format!("`{}` is not a duration", raw.value),
                Some(if never_allowed {
                    "write a number and a unit (`30m`, `4h`, `1d`), or `never` for no reminder on this question".into()
                } else {
                    "write a number and a unit: `30m`, `4h` or `1d`".into()
                }),
            );
            return None;
        };
        if let Some((expires, _)) = self.expires_after
            && d >= expires
        {
            self.report.error(
                pos(raw),
                format!(
                    "a reminder after `{}` would come when the session has already expired (`expires_after` is {})",
                    raw.value,
                    format_duration(expires)
                ),
                Some("remind sooner than the session expires, e.g. half of `expires_after`".into()),
            );
            return None;
        }
        Some(Some(d))
    }

    /// A question's reminder: its own delay and text, else the flow's.
    fn question_reminder(&mut self, id: &str, r: &RawStep, at: Pos) -> Option<Option<Reminder>> {
        let own_after = match &r.remind_after {
            Some(raw) => Some(self.remind_after(raw, true)?),
            None => None,
        };
        let own_text = match &r.reminder {
            Some(t) => Some((self.text(t, "the reminder")?, pos(t))),
            None => None,
        };
        let after = match own_after {
            Some(None) => {
                if let Some((_, p)) = own_text {
                    self.report.error(
                        p,
                        format!("question `{id}` says `remind_after: never`, so this reminder is never sent"),
                        Some("remove the `reminder:` text, or give `remind_after` a duration".into()),
                    );
                    return None;
                }
                return Some(None);
            }
            Some(Some(d)) => Some(d),
            None => self.flow_remind_after.map(|(d, _)| d),
        };
        let Some(after) = after else {
            if let Some((_, p)) = own_text {
                self.report.error(
                    p,
                    format!("this reminder is never sent: question `{id}` has no `remind_after`"),
                    Some(
                        "add `remind_after: 4h` to the question (or at the top of the flow)".into(),
                    ),
                );
                return None;
            }
            return Some(None);
        };
        let (text, text_pos) = match own_text {
            Some(t) => t,
            None => match self.flow_reminder_text.clone() {
                Some(t) => {
                    self.flow_reminder_used = true;
                    t
                }
                None => {
                    // A flow-wide `remind_after` without a text is reported once, at the top.
                    if self.flow_remind_after.is_none() || r.remind_after.is_some() {
                        self.report.error(
                            r.remind_after.as_ref().map_or(at, pos),
                            format!("question `{id}` has a `remind_after` but no `reminder:` text to send"),
                            Some("add `reminder:` to the question, or at the top of the flow for every question".into()),
                        );
                    }
                    return None;
                }
            },
        };
        Some(Some(Reminder {
            after,
            text,
            pos: text_pos,
        }))
    }
}

/// Typographic characters that force UCS-2 but have a plain GSM-7 twin (word processors put them
/// in when staff paste text).
const LOOKALIKES: &[(char, &str, &str)] = &[
    ('\u{2018}', "'", "left single quote"),
    ('\u{2019}', "'", "curly apostrophe"),
    ('\u{201C}', "\"", "left double quote"),
    ('\u{201D}', "\"", "right double quote"),
    ('\u{2013}', "-", "en dash"),
    ('\u{2014}', "-", "em dash"),
    ('\u{2026}', "...", "ellipsis"),
    ('\u{00A0}', " ", "non-breaking space"),
];

impl Compiler {
    /// Warns when a curly quote or similar is all that makes a text UCS-2, with the saving.
    fn check_lookalikes(&mut self, at: Pos, lang: &str, text: &str) {
        let cost = segments::count(text);
        if cost.encoding != segments::Encoding::Ucs2 {
            return;
        }
        let culprits: Vec<&(char, &str, &str)> = LOOKALIKES
            .iter()
            .filter(|(c, _, _)| cost.non_gsm.contains(c))
            .collect();
        if culprits.is_empty() {
            return;
        }
        let mut plain = text.to_string();
        for (c, twin, _) in &culprits {
            plain = plain.replace(*c, twin);
        }
        let better = segments::count(&plain);
        if better.segments >= cost.segments && better.encoding == cost.encoding {
            return;
        }
        let names: Vec<String> = culprits
            .iter()
            .map(|(c, _, name)| format!("{c} ({name}, U+{:04X})", *c as u32))
            .collect();
        let twins: Vec<String> = culprits
            .iter()
            .map(|(c, twin, _)| format!("{c} → {twin}"))
            .collect();
        self.report.warning(
            at,
            format!(
                "{} make{} this `{lang}` text UCS-2: {} segment(s) instead of {} ({})",
                names.join(", "),
                if culprits.len() == 1 { "s" } else { "" },
                cost.segments,
                better.segments,
                better.encoding.as_str()
            ),
            Some(format!(
                "type plain characters instead: {}",
                twins.join(", ")
            )),
        );
    }
}

/// Every text a step can send, per language, as written (placeholders left in), questions
/// rendered with their choices.
pub fn step_texts(step: &Step) -> Vec<(String, String)> {
    step_texts_with_role(step)
        .into_iter()
        .map(|t| (t.language, t.text))
        .collect()
}

/// One text a step can send, for the cost table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepText {
    pub language: String,
    pub text: String,
    /// A question's `retry:` text (sent only after an answer that was not understood).
    pub retry: bool,
    /// A reminder (sent on its own when the question goes unanswered).
    pub reminder: bool,
}

/// The texts a flow sends on its own rather than in a step: its flow-wide reminder and its
/// `on_expire` closing text, each with where it is written, for the cost table.
pub fn flow_texts(flow: &Flow) -> Vec<(Pos, StepText)> {
    let mut out = Vec::new();
    let sources = flow
        .reminder
        .iter()
        .map(|r| (r.pos, &r.text))
        .chain(flow.on_expire.iter().map(|t| (flow.on_expire_pos, t)));
    for (at, text) in sources {
        for (l, tpl) in &text.by_language {
            out.push((
                at,
                StepText {
                    language: l.clone(),
                    text: tpl.source(),
                    retry: false,
                    reminder: true,
                },
            ));
        }
    }
    out
}

/// Like [`step_texts`], saying which texts are a question's retry text.
pub fn step_texts_with_role(step: &Step) -> Vec<StepText> {
    let mut out = Vec::new();
    let add = |t: &Text, retry: bool, reminder: bool, out: &mut Vec<StepText>| {
        for (l, tpl) in &t.by_language {
            out.push(StepText {
                language: l.clone(),
                text: tpl.source(),
                retry,
                reminder,
            });
        }
    };
    match &step.kind {
        StepKind::Say(t) | StepKind::End(Some(t)) => add(t, false, false, &mut out),
        StepKind::Ask(q) => {
            for (l, _) in &q.text.by_language {
                let lookup = |v: &Var| Some(v.to_string());
                out.push(StepText {
                    language: l.clone(),
                    text: render::question(q, l, lookup),
                    retry: false,
                    reminder: false,
                });
            }
            if let Some(r) = &q.retry {
                add(r, true, false, &mut out);
            }
            // A reminder shared by the whole flow is listed once, where it is written.
            if let (Some(r), true) = (&q.reminder, q.own_reminder_text) {
                add(&r.text, false, true, &mut out);
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_staff_write_them() {
        assert_eq!(
            parse_duration("24h"),
            Some(jiff::SignedDuration::from_hours(24))
        );
        assert_eq!(
            parse_duration("1h30m"),
            Some(jiff::SignedDuration::from_mins(90))
        );
        assert_eq!(
            parse_duration("2 days"),
            Some(jiff::SignedDuration::from_hours(48))
        );
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn edit_distance_suggests_near_misses() {
        assert_eq!(strsim_distance("vists", "visits"), 1);
        let ids = ["visits".to_string(), "safety".to_string()];
        assert_eq!(
            closest("vists", ids.iter()).map(String::as_str),
            Some("visits")
        );
        assert_eq!(closest("zzzzzzzz", ids.iter()), None);
    }

    #[test]
    fn a_hint_between_equally_near_names_is_the_same_whatever_their_order() {
        // "cat" is one edit from both "bat" and "car".
        let forward = ["bat".to_string(), "car".to_string()];
        let backward = ["car".to_string(), "bat".to_string()];
        assert_eq!(
            closest("cat", forward.iter()).map(String::as_str),
            Some("bat")
        );
        assert_eq!(
            closest("cat", backward.iter()).map(String::as_str),
            Some("bat")
        );
    }

    #[test]
    fn compiling_the_same_broken_flow_twice_gives_the_same_hints() {
        // Step ids live in a hash map; a misspelt `next:` equally near two of them must not
        // get a different suggestion from one run to the next.
        let src = "flow: t\nkeywords: [T]\nsteps:\n  - ask: pick\n    text: Pick one\n    \
                   choices:\n      a: A\n      b: B\n    next: { a: cat }\n  - ask: bat\n    \
                   text: Bat?\n  - ask: car\n    text: Car?\n";
        let hints = || {
            let report = compile("t.yaml", src).report;
            assert!(report.has_errors(), "{report:?}");
            format!("{report:?}")
        };
        let first = hints();
        for _ in 0..20 {
            assert_eq!(hints(), first);
        }
    }

    #[test]
    fn a_service_named_by_a_choice_value_lists_every_choice_as_a_service() {
        let shipped = include_str!("../../conversation-flows/service-request.yaml");
        let flow = compile("service-request.yaml", shipped)
            .flow
            .expect("the shipped flow compiles");
        let codes: Vec<(String, Option<String>)> = flow.services();
        assert_eq!(
            codes.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            [
                "pothole",
                "streetlight",
                "graffiti",
                "missed-trash",
                "other"
            ]
        );
        assert_eq!(codes[0].1.as_deref(), Some("Pothole"));

        let literal = "flow: t\nkeywords: [T]\nsteps:\n  - file_request:\n      service: bench\n  - end: ok\n";
        let flow = compile("t.yaml", literal).flow.expect("compiles");
        assert_eq!(flow.services(), [("bench".to_string(), None)]);
    }

    #[test]
    fn a_value_placeholder_naming_no_question_is_an_error_with_a_value_hint() {
        let src = "flow: t\nkeywords: [T]\nsteps:\n  - ask: issue\n    text: What?\n    choices: { a: A, b: B }\n  - file_request:\n      service: \"{{isue.value}}\"\n  - end: ok\n";
        let report = format!("{:?}", compile("t.yaml", src).report);
        assert!(
            report.contains("did you mean `{{issue.value}}`?"),
            "{report}"
        );
    }
}
