//! docs/flow.schema.json is what editors use to complete and check flow files. These tests keep
//! it in step with the flows we ship, and make sure it actually rejects broken files.

use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads YAML the way the flow compiler does: `Yes` and `No` stay words, only `true` and
/// `false` are booleans.
fn yaml(text: &str) -> Value {
    let mut opts = serde_saphyr::Options::default();
    opts.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, opts).expect("valid YAML")
}

fn validator(name: &str) -> Validator {
    let schema = load_json(&root().join("docs").join(name));
    assert!(
        jsonschema::meta::is_valid(&schema),
        "{name} is not a valid JSON Schema"
    );
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn errors(v: &Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("at {}: {e}", e.instance_path))
        .collect()
}

fn shipped(test_files: bool) -> Vec<PathBuf> {
    let dir = root().join("conversation-flows");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("conversation-flows exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let is_test = name.ends_with(".test.yaml") || name.ends_with(".test.yml");
            (name.ends_with(".yaml") || name.ends_with(".yml")) && is_test == test_files
        })
        .collect();
    out.sort();
    out
}

/// A small valid flow, for the rejection tests to break one thing at a time.
const GOOD: &str = r#"
flow: parks-survey
keywords: [PARKS]
steps:
  - say: Thanks for texting Louisville Parks!
  - ask: visits
    text: How often do you visit?
    choices:
      weekly: Weekly
      never: { en: Never, also: [nope] }
    next: { never: bye }
  - ask: safety
    type: number
    range: 1..5
    text: How safe do you feel, 1 to 5?
  - id: bye
    end: Thanks!
"#;

#[test]
fn every_shipped_flow_matches_the_schema() {
    let v = validator("flow.schema.json");
    let flows = shipped(false);
    assert!(
        flows.len() >= 3,
        "expected the shipped flows, found {flows:?}"
    );
    for path in flows {
        let text = std::fs::read_to_string(&path).expect("readable flow");
        let errs = errors(&v, &yaml(&text));
        assert!(errs.is_empty(), "{}:\n{}", path.display(), errs.join("\n"));
    }
}

#[test]
fn every_shipped_conversation_test_matches_the_test_schema() {
    let v = validator("flow-test.schema.json");
    let files = shipped(true);
    assert!(!files.is_empty(), "expected conversation tests");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable test file");
        let errs = errors(&v, &yaml(&text));
        assert!(errs.is_empty(), "{}:\n{}", path.display(), errs.join("\n"));
    }
}

#[test]
fn the_sample_flow_used_by_the_rejection_tests_is_itself_valid() {
    let v = validator("flow.schema.json");
    let errs = errors(&v, &yaml(GOOD));
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

fn rejects(change: (&str, &str), why: &str) {
    let v = validator("flow.schema.json");
    assert!(
        GOOD.contains(change.0),
        "the sample no longer contains {:?}",
        change.0
    );
    let broken = GOOD.replacen(change.0, change.1, 1);
    assert!(
        !v.is_valid(&yaml(&broken)),
        "the schema accepted a flow with {why}:\n{broken}"
    );
}

#[test]
fn a_misspelled_step_field_is_rejected() {
    rejects(
        ("    range: 1..5\n", "    range: 1..5\n    atempts: 2\n"),
        "an unknown step field `atempts`",
    );
}

#[test]
fn a_step_that_both_says_and_asks_is_rejected() {
    rejects(
        (
            "  - ask: safety\n",
            "  - say: One more question.\n    ask: safety\n",
        ),
        "a step that has both `say` and `ask`",
    );
}

#[test]
fn an_answer_type_that_does_not_exist_is_rejected() {
    rejects(
        ("    type: number\n", "    type: numbers\n"),
        "the answer type `numbers`",
    );
}

#[test]
fn an_unknown_top_level_field_is_rejected() {
    rejects(
        ("keywords: [PARKS]\n", "keywords: [PARKS]\nkeyword: PARK\n"),
        "the top-level field `keyword`",
    );
}

#[test]
fn a_question_without_text_is_rejected() {
    rejects(
        ("    text: How often do you visit?\n", ""),
        "a question without `text`",
    );
}

#[test]
fn a_range_on_a_yes_no_question_is_rejected() {
    rejects(
        ("    type: number\n", "    type: yes_no\n"),
        "`range` on a yes/no question",
    );
}

#[test]
fn a_badly_written_duration_is_rejected() {
    rejects(
        (
            "keywords: [PARKS]\n",
            "keywords: [PARKS]\nexpires_after: one day\n",
        ),
        "`expires_after: one day`",
    );
}
