//! The opt-out recogniser measured on a labelled corpus (tests/fixtures/opt-out-corpus.tsv):
//! every clear revocation must opt out, and no ordinary answer may. The figures are printed
//! (`cargo test --test opt_out_corpus -- --nocapture`).

use std::collections::BTreeMap;

use civictext::sms::vocabulary::{self, Command, Reading};

const CORPUS: &str = include_str!("fixtures/opt-out-corpus.tsv");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Revoke,
    Answer,
}

struct Example {
    line: usize,
    label: Label,
    language: String,
    text: String,
}

fn corpus() -> Vec<Example> {
    CORPUS
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let mut parts = l.splitn(3, '\t');
            let (label, language, text) = match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => panic!("line {}: expected label, language and text", i + 1),
            };
            let label = match label {
                "revoke" => Label::Revoke,
                "answer" => Label::Answer,
                other => panic!("line {}: unknown label {other:?}", i + 1),
            };
            Example {
                line: i + 1,
                label,
                language: language.to_string(),
                text: text.replace("\\n", "\n"),
            }
        })
        .collect()
}

#[derive(Default)]
struct Counts {
    /// Revocations that opted out, revocations missed, answers opted out, answers kept.
    revoke_hit: u32,
    revoke_missed: u32,
    answer_opted_out: u32,
    answer_kept: u32,
    /// Answers kept that get the once-a-day "Reply STOP to stop" text.
    answer_clarified: u32,
}

fn ratio(num: u32, den: u32) -> String {
    if den == 0 {
        "   -  ".into()
    } else {
        format!("{:.4}", f64::from(num) / f64::from(den))
    }
}

#[test]
fn every_clear_revocation_in_the_corpus_opts_out_and_no_ordinary_answer_does() {
    let examples = corpus();
    let mut by_language: BTreeMap<String, Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    for e in &examples {
        let reading = vocabulary::read(&e.text);
        let opts_out = matches!(reading, Reading::Command(r) if r.command == Command::OptOut);
        let c = by_language.entry(e.language.clone()).or_default();
        match (e.label, opts_out) {
            (Label::Revoke, true) => c.revoke_hit += 1,
            (Label::Revoke, false) => {
                c.revoke_missed += 1;
                misses.push(format!(
                    "line {}: revocation missed: {:?} ({reading:?})",
                    e.line, e.text
                ));
            }
            (Label::Answer, true) => {
                c.answer_opted_out += 1;
                misses.push(format!("line {}: answer opted out: {:?}", e.line, e.text));
            }
            (Label::Answer, false) => {
                c.answer_kept += 1;
                if matches!(reading, Reading::MaybeOptOut { .. }) {
                    c.answer_clarified += 1;
                }
            }
        }
    }
    let mut total = Counts::default();
    println!(
        "{:<6} {:>8} {:>8} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10}",
        "lang",
        "revokes",
        "answers",
        "rev.prec",
        "rev.recall",
        "missed",
        "ans.prec",
        "ans.recall",
        "clarified"
    );
    let row = |name: &str, c: &Counts| {
        println!(
            "{:<6} {:>8} {:>8} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10}",
            name,
            c.revoke_hit + c.revoke_missed,
            c.answer_kept + c.answer_opted_out,
            ratio(c.revoke_hit, c.revoke_hit + c.answer_opted_out),
            ratio(c.revoke_hit, c.revoke_hit + c.revoke_missed),
            c.revoke_missed + c.answer_opted_out,
            ratio(c.answer_kept, c.answer_kept + c.revoke_missed),
            ratio(c.answer_kept, c.answer_kept + c.answer_opted_out),
            c.answer_clarified,
        );
    };
    for (language, c) in &by_language {
        row(language, c);
        total.revoke_hit += c.revoke_hit;
        total.revoke_missed += c.revoke_missed;
        total.answer_opted_out += c.answer_opted_out;
        total.answer_kept += c.answer_kept;
        total.answer_clarified += c.answer_clarified;
    }
    row("all", &total);
    assert!(
        examples.len() >= 200,
        "the corpus must hold at least 200 texts, it holds {}",
        examples.len()
    );
    assert!(
        by_language.len() >= 2,
        "the corpus must cover English and Spanish"
    );
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
