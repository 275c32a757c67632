//! `civictext flows check` and the checker behind it, from the outside: every deliberate mistake a
//! clerk might make is reported at its exact `file:line:column` with a message and a fix.
//!
//! Most cases start from one small, valid flow (`PARKS`) and change one line of it. The line
//! numbers below refer to that flow:
//!
//! ```text
//!  1 flow: parks-survey
//!  2 keywords: [PARKS]
//!  3 steps:
//!  4   - say: Thanks for texting Parks!
//!  5   - ask: visits
//!  6     text: How often do you visit?
//!  7     choices:
//!  8       weekly: Weekly
//!  9       monthly: Monthly
//! 10       never: Never
//! 11     next: { never: why-not }
//! 12   - ask: safety
//! 13     type: number
//! 14     range: 1..5
//! 15     text: How safe do you feel, 1 to 5?
//! 16   - ask: why-not
//! 17     type: text
//! 18     text: What keeps you away?
//! 19   - say: Thanks!
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use civictext::flow::catalog::{Catalog, SourceFile};
use civictext::flow::{Diagnostic, compile};

const FILE: &str = "parks.yaml";

const PARKS: &str = "flow: parks-survey
keywords: [PARKS]
steps:
  - say: Thanks for texting Parks!
  - ask: visits
    text: How often do you visit?
    choices:
      weekly: Weekly
      monthly: Monthly
      never: Never
    next: { never: why-not }
  - ask: safety
    type: number
    range: 1..5
    text: How safe do you feel, 1 to 5?
  - ask: why-not
    type: text
    text: What keeps you away?
  - say: Thanks!
";

/// The PARKS flow with `from` replaced by `to`; `from` must be there, so a test can never pass
/// by checking the unchanged, valid flow.
fn parks_with(from: &str, to: &str) -> String {
    assert!(PARKS.contains(from), "{from:?} is not in the PARKS flow");
    PARKS.replacen(from, to, 1)
}

/// The PARKS flow in English and Spanish, every text translated.
fn bilingual_parks() -> String {
    "flow: parks-survey
keywords: { en: [PARKS], es: [PARQUES] }
languages: [en, es]
steps:
  - say: { en: Thanks for texting Parks!, es: ¡Gracias por escribir a Parques! }
  - ask: visits
    text:
      en: How often do you visit?
      es: ¿Con qué frecuencia visita?
    choices:
      weekly: { en: Weekly, es: Cada semana }
      never: { en: Never, es: Nunca }
  - say:
      en: Thanks!
      es: ¡Gracias!
"
    .to_string()
}

/// Every diagnostic for `source`, as printed: `parks.yaml:L:C: error: message`.
fn diagnostics(source: &str) -> Vec<Diagnostic> {
    compile(FILE, source).report.items
}

fn listing(items: &[Diagnostic]) -> String {
    items
        .iter()
        .map(|d| format!("  {d}\n    help: {}", d.hint.as_deref().unwrap_or("-")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that `source` does not load and that its only error is at `at` (`file:line:col`),
/// with a message containing `message` and a hint containing `hint`.
#[track_caller]
fn assert_only_error(source: &str, at: &str, message: &str, hint: &str) {
    let compiled = compile(FILE, source);
    assert!(compiled.flow.is_none(), "a broken flow loaded");
    let errors: Vec<Diagnostic> = compiled
        .report
        .items
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error, got:\n{}",
        listing(&errors)
    );
    assert_error(&errors, at, message, hint);
}

/// Asserts that one of `items` is an error at `at` with `message` and `hint` fragments.
#[track_caller]
fn assert_error(items: &[Diagnostic], at: &str, message: &str, hint: &str) {
    let found = items.iter().any(|d| {
        d.is_error()
            && d.to_string().starts_with(&format!("{at}: error: "))
            && d.message.contains(message)
            && d.hint.as_deref().is_some_and(|h| h.contains(hint))
    });
    assert!(
        found,
        "no error at {at} saying {message:?} with help {hint:?}; got:\n{}",
        listing(items)
    );
}

#[test]
fn the_example_flow_used_by_these_tests_is_valid() {
    let compiled = compile(FILE, PARKS);
    assert_eq!(compiled.report.items, vec![]);
    let flow = compiled.flow.expect("PARKS compiles");
    assert_eq!(flow.id, "parks-survey");
    assert_eq!(flow.steps.len(), 5);
    let bilingual = compile(FILE, &bilingual_parks());
    assert_eq!(bilingual.report.items, vec![]);
    assert!(bilingual.flow.is_some());
}

#[test]
fn a_question_field_indented_too_far_is_a_yaml_error_at_the_colon_that_cannot_be_there() {
    let source = parks_with(
        "    text: How often do you visit?",
        "      text: How often do you visit?",
    );
    assert_only_error(
        &source,
        "parks.yaml:6:11",
        "mapping values are not allowed",
        "check indentation",
    );
}

#[test]
fn a_tab_indenting_a_field_is_reported_at_the_tab_not_at_the_line_above() {
    let source = parks_with("    text: How safe", "\ttext: How safe");
    assert_only_error(
        &source,
        "parks.yaml:15:1",
        "this line is indented with a tab",
        "YAML indents with spaces only",
    );
}

#[test]
fn a_tab_indenting_a_choice_is_reported_at_the_tab() {
    let source = parks_with("      weekly: Weekly", "\tweekly: Weekly");
    assert_only_error(
        &source,
        "parks.yaml:8:1",
        "this line is indented with a tab",
        "replace the tab with spaces",
    );
}

#[test]
fn a_tab_inside_a_block_text_is_part_of_the_text_and_not_an_error() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - say: |\n      Thanks!\n      \tSee you.\n",
    );
    let compiled = compile(FILE, &source);
    assert_eq!(compiled.report.items, vec![]);
}

#[test]
fn a_key_written_twice_in_one_step_is_reported_on_its_second_line() {
    let source = parks_with("    range: 1..5\n", "    range: 1..5\n    range: 1..10\n");
    assert_only_error(
        &source,
        "parks.yaml:15:5",
        "`range` is written twice in the same block",
        "each key may appear once in the same block",
    );
}

#[test]
fn with_any_line_ending_a_problem_is_shown_on_the_line_an_editor_shows() {
    // YAML, like editors, ends a line at CR LF, at LF, and at a lone CR (old Mac files, or a
    // stray CR pasted in): the reported line and the quoted text must agree on that.
    let broken = parks_with("    type: number", "    tpye: number");
    for ending in ["\n", "\r\n", "\r"] {
        let source = broken.replace('\n', ending);
        let items = diagnostics(&source);
        let error = items
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("no error with {ending:?} line endings"));
        assert_eq!(
            error.to_string().split(": error").next(),
            Some("parks.yaml:13:5"),
            "with {ending:?}"
        );
        let shown = error.render(Some(&source));
        assert!(
            shown.contains("13 |     tpye: number\n"),
            "with {ending:?} the wrong line is quoted:\n{shown}"
        );
    }
}

#[test]
fn a_misspelt_field_name_is_reported_where_it_is_written() {
    let source = parks_with("    type: number", "    tpye: number");
    assert_only_error(
        &source,
        "parks.yaml:13:5",
        "unknown field `tpye`",
        "did you mean `type`?",
    );
}

#[test]
fn a_duplicate_key_message_does_not_mention_parser_settings() {
    let source = parks_with("    range: 1..5\n", "    range: 1..5\n    range: 1..10\n");
    let items = diagnostics(&source);
    assert!(
        items
            .iter()
            .all(|d| !d.message.contains("DuplicateKeyPolicy")),
        "{}",
        listing(&items)
    );
}

#[test]
fn a_misspelt_top_level_field_suggests_the_real_one() {
    let source = parks_with(
        "keywords: [PARKS]\n",
        "keywords: [PARKS]\nexpire_after: 24h\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:3:1",
        "unknown field `expire_after`",
        "did you mean `expires_after`?",
    );
}

#[test]
fn two_steps_with_the_same_id_are_reported_at_the_second_with_the_line_of_the_first() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - ask: safety\n    type: yes_no\n    text: Do you feel safe?\n  - say: Thanks!\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:19:10",
        "step id `safety` is used twice (first on line 12)",
        "give each step a different id",
    );
}

#[test]
fn a_reference_to_a_missing_step_in_next_is_reported_at_its_line_with_a_suggestion() {
    let source = parks_with("never: why-not", "never: why-nto");
    assert_only_error(
        &source,
        "parks.yaml:11:20",
        "there is no step `why-nto`",
        "did you mean `why-not`?",
    );
}

#[test]
fn a_goto_to_a_missing_step_is_reported_at_the_name_with_a_suggestion() {
    let source = parks_with("  - say: Thanks!\n", "  - goto: vists\n");
    assert_only_error(
        &source,
        "parks.yaml:19:11",
        "there is no step `vists`",
        "did you mean `visits`?",
    );
}

#[test]
fn an_on_fail_naming_no_step_is_reported_at_the_name_and_says_what_it_can_name() {
    let source = parks_with(
        "    range: 1..5\n",
        "    range: 1..5\n    on_fail: the-end\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:15:14",
        "there is no step `the-end`",
        "point it at the `ask:` name or `id:` of a step",
    );
}

#[test]
fn a_step_after_an_end_that_nothing_jumps_to_is_reported_as_unreachable() {
    let source = parks_with("  - say: Thanks!\n", "  - end: Thanks!\n  - say: Bye\n");
    assert_only_error(
        &source,
        "parks.yaml:20:5",
        "step 6 can never be reached",
        "point a `next:`, `goto:` or `branch:` at it, or remove it",
    );
}

#[test]
fn a_question_whose_text_is_only_a_placeholder_is_refused_because_it_could_reach_the_resident_empty()
 {
    // Without an answer to `visits` (or a ZIP on file) the question would render as nothing, and
    // the resident would be left waiting for a question that never came.
    for placeholder in ["{{visits}}", "{{contact.zip}}", " {{tracking_code}} "] {
        assert_only_error(
            &parks_with(
                "    text: What keeps you away?",
                &format!("    text: \"{placeholder}\""),
            ),
            "parks.yaml:18:11",
            "the question text is only placeholders",
            "add words of your own",
        );
    }
}

#[test]
fn a_retry_text_that_is_only_a_placeholder_is_refused_in_the_language_it_is_written_in() {
    let source = bilingual_parks().replace(
        "      es: ¿Con qué frecuencia visita?\n",
        "      es: ¿Con qué frecuencia visita?\n    retry: { en: \"Sorry, {{contact.zip}}?\", es: \"{{contact.zip}}\" }\n",
    );
    assert_ne!(source, bilingual_parks(), "the example flow changed");
    assert_only_error(
        &source,
        "parks.yaml:10:49",
        "the retry text is only placeholders in `es`",
        "add words of your own",
    );
}

#[test]
fn a_question_with_words_around_its_placeholder_is_accepted() {
    let source = parks_with(
        "    text: What keeps you away?",
        "    text: \"You said {{visits}}. What keeps you away?\"",
    );
    let compiled = compile(FILE, &source);
    assert!(
        compiled.flow.is_some(),
        "{}",
        listing(&compiled.report.items)
    );
}

#[test]
fn a_text_missing_one_of_the_flows_languages_is_reported_at_the_text() {
    let source = bilingual_parks().replace("      es: ¡Gracias!\n", "");
    assert_only_error(
        &source,
        "parks.yaml:14:7",
        "this message is missing its `es` translation",
        "add a line `es: …`",
    );
}

#[test]
fn a_plain_text_in_a_bilingual_flow_is_reported_as_having_no_translations() {
    let source = bilingual_parks().replace(
        "  - say: { en: Thanks for texting Parks!, es: ¡Gracias por escribir a Parques! }",
        "  - say: Thanks for texting Parks!",
    );
    assert_only_error(
        &source,
        "parks.yaml:5:10",
        "this message has no translations; this flow speaks en, es",
        "write it once per language: `en: …`, `es: …`",
    );
}

#[test]
fn a_text_in_a_language_the_flow_does_not_declare_is_reported_at_the_language_code() {
    let source = parks_with("  - say: Thanks!", "  - say: { en: Thanks!, fr: Merci! }");
    assert_only_error(
        &source,
        "parks.yaml:19:25",
        "`fr` is not one of this flow's languages (en)",
        "add it to `languages:`",
    );
}

#[test]
fn an_invalid_regular_expression_is_reported_at_the_pattern_with_the_reason() {
    let source = parks_with(
        "    type: text\n",
        "    type: pattern\n    pattern: '[0-9{5}'\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:18:14",
        "`[0-9{5}` is not a valid pattern: unclosed character class",
        "check brackets and backslashes",
    );
}

#[test]
fn a_message_over_1600_characters_is_reported_with_its_length() {
    let long = "Thanks for taking part in the Waterfront Park survey. ".repeat(32);
    let source = parks_with("  - say: Thanks!\n", &format!("  - say: {}\n", long.trim()));
    let n = long.trim().chars().count();
    assert!(n > 1600);
    assert_only_error(
        &source,
        "parks.yaml:19:5",
        &format!(
            "the `en` text is {n} characters; one SMS conversation message can be at most 1600"
        ),
        "shorten it, or split it into two `say:` steps",
    );
}

#[test]
fn a_message_of_exactly_1600_characters_is_accepted() {
    let source = parks_with(
        "  - say: Thanks!\n",
        &format!("  - say: {}\n", "a".repeat(1600)),
    );
    let compiled = compile(FILE, &source);
    assert_eq!(compiled.report.items, vec![]);
    assert!(compiled.flow.is_some());
}

#[test]
fn the_same_keyword_in_two_flows_is_reported_in_the_second_file_naming_the_first() {
    let poll = "flow: bike-poll
keywords: [BIKE, parks]
steps:
  - ask: lane
    type: yes_no
    text: Should Main St get a bike lane?
";
    let (catalog, checks) = Catalog::build(vec![
        SourceFile {
            name: "parks.yaml".into(),
            text: PARKS.into(),
        },
        SourceFile {
            name: "poll.yaml".into(),
            text: poll.into(),
        },
    ]);
    assert_eq!(checks[0].diagnostics, vec![]);
    assert_only_error_in(
        &checks[1].diagnostics,
        "poll.yaml:2:18",
        "keyword `PARKS` already starts flow `parks-survey` (parks.yaml:2)",
        "a keyword can start only one flow",
    );
    // The first flow still loads and keeps its keyword; the second is left out.
    assert_eq!(catalog.flows().len(), 1);
    let (flow, _) = catalog.by_keyword("Parks!").expect("PARKS starts a flow");
    assert_eq!(flow.id, "parks-survey");
    assert!(catalog.by_keyword("BIKE").is_none());
}

#[track_caller]
fn assert_only_error_in(items: &[Diagnostic], at: &str, message: &str, hint: &str) {
    assert_eq!(
        items.iter().filter(|d| d.is_error()).count(),
        1,
        "expected exactly one error, got:\n{}",
        listing(items)
    );
    assert_error(items, at, message, hint);
}

#[test]
fn stop_as_a_keyword_is_refused_because_residents_text_it_to_opt_out() {
    let source = parks_with("keywords: [PARKS]", "keywords: [PARKS, STOP]");
    assert_only_error(
        &source,
        "parks.yaml:2:19",
        "`STOP` is reserved: residents text it to opt out",
        "choose another keyword",
    );
}

#[test]
fn a_spanish_opt_out_word_as_a_keyword_is_refused_too() {
    let source = parks_with("keywords: [PARKS]", "keywords: [PARKS, Alto]");
    assert_only_error(
        &source,
        "parks.yaml:2:19",
        "`Alto` is reserved",
        "choose another keyword",
    );
}

#[test]
fn an_unknown_answer_type_asks_did_you_mean_and_does_not_blame_the_range() {
    let source = parks_with("type: number", "type: numbr");
    assert_only_error(
        &source,
        "parks.yaml:13:11",
        "`numbr` is not an answer type",
        "did you mean `number`? The types are: choice, yes_no, number, integer",
    );
}

#[test]
fn a_field_that_does_not_fit_a_known_answer_type_is_reported_at_the_field() {
    let source = parks_with("type: number", "type: yes_no");
    assert_only_error(
        &source,
        "parks.yaml:14:12",
        "`range` does not apply to a `yes_no` question",
        "`range` is for `number` and `integer` questions",
    );
}

#[test]
fn a_misspelt_range_is_reported_with_what_a_range_looks_like() {
    let source = parks_with("range: 1..5", "range: 1-5");
    assert_only_error(
        &source,
        "parks.yaml:14:12",
        "`1-5` is not a range",
        "two dots between them, like 1..5",
    );
}

#[test]
fn a_range_written_backwards_suggests_the_right_order() {
    let source = parks_with("range: 1..5", "range: 5..1");
    assert_only_error(
        &source,
        "parks.yaml:14:12",
        "`5..1` is not a range",
        "did you mean 1..5?",
    );
}

#[test]
fn an_unknown_placeholder_is_reported_at_the_text_with_the_nearest_question() {
    let source = parks_with("  - say: Thanks!", "  - say: You said {{vists}}. Thanks!");
    assert_only_error(
        &source,
        "parks.yaml:19:10",
        "`{{vists}}` names no question in this flow",
        "did you mean `{{visits}}`?",
    );
}

#[test]
fn an_unknown_placeholder_in_each_translation_is_reported_on_each_line() {
    let source = bilingual_parks().replace(
        "      en: Thanks!\n      es: ¡Gracias!\n",
        "      en: Thanks, {{vists}}!\n      es: ¡Gracias, {{vists}}!\n",
    );
    let items = diagnostics(&source);
    assert_eq!(items.len(), 2, "{}", listing(&items));
    for at in ["parks.yaml:14:11", "parks.yaml:15:11"] {
        assert_error(
            &items,
            at,
            "`{{vists}}` names no question in this flow",
            "did you mean `{{visits}}`?",
        );
    }
}

#[test]
fn a_tracking_code_in_a_flow_that_files_no_request_is_reported_at_the_text() {
    let source = parks_with(
        "  - say: Thanks!",
        "  - say: Your code is {{tracking_code}}",
    );
    assert_only_error(
        &source,
        "parks.yaml:19:10",
        "`{{tracking_code}}` is used but this flow never files a request",
        "add a `file_request:` step",
    );
}

#[test]
fn a_condition_comparing_a_choice_with_a_value_it_can_never_be_is_reported_at_the_condition() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - say: Thanks!\n    when: visits == daily\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:20:11",
        "the condition compares `visits` with `daily`, which it can never be",
        "`visits` is one of: weekly, monthly, never",
    );
}

#[test]
fn an_impossible_branch_condition_is_reported_at_its_own_arm() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - branch:\n      - if: visits == weekly\n        goto: safety\n      - if: visits in [monthly, daily]\n        goto: why-not\n  - say: Thanks!\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:22:13",
        "the condition compares `visits` with `daily`, which it can never be",
        "`visits` is one of: weekly, monthly, never",
    );
}

#[test]
fn a_condition_comparing_a_number_question_with_a_word_is_reported() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - say: Sorry to hear that.\n    when: safety <= low\n  - say: Thanks!\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:20:11",
        "the condition compares `safety` with `low`, which it can never be",
        "`safety` is a number",
    );
}

#[test]
fn a_loop_of_steps_that_never_asks_anything_is_reported() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - say: Thanks!\n    id: thanks\n  - goto: thanks\n",
    );
    let items = diagnostics(&source);
    assert!(compile(FILE, &source).flow.is_none());
    for at in ["parks.yaml:19:5", "parks.yaml:21:5"] {
        assert_error(
            &items,
            at,
            "these steps loop back here without asking anything",
            "make the loop pass through an `ask:` step",
        );
    }
}

#[test]
fn a_loop_through_a_question_is_allowed() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - ask: again\n    type: yes_no\n    text: Again?\n    next: { yes: visits }\n  - say: Thanks!\n",
    );
    let compiled = compile(FILE, &source);
    assert_eq!(compiled.report.items, vec![]);
}

#[test]
fn a_step_that_both_says_and_asks_is_reported_at_the_step() {
    let source = parks_with(
        "  - say: Thanks for texting Parks!\n",
        "  - say: Thanks for texting Parks!\n    ask: name\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:4:5",
        "step 1 mixes say and ask",
        "split it into separate steps",
    );
}

#[test]
fn next_keyed_on_a_choice_that_does_not_exist_suggests_the_nearest_one() {
    let source = parks_with("never: why-not", "nevr: why-not");
    assert_only_error(
        &source,
        "parks.yaml:11:13",
        "`nevr` is not an answer to `visits`",
        "did you mean `never`? The answers are: weekly, monthly, never",
    );
}

#[test]
fn next_keyed_on_skipped_for_a_question_that_is_not_optional_is_reported() {
    let source = parks_with("never: why-not", "skipped: why-not");
    assert_only_error(
        &source,
        "parks.yaml:11:13",
        "question `visits` is not optional, so it is never skipped",
        "add `optional: true`",
    );
}

#[test]
fn an_expiry_that_is_not_a_duration_is_reported_with_examples() {
    let source = parks_with(
        "keywords: [PARKS]\n",
        "keywords: [PARKS]\nexpires_after: 24 hrs or so\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:3:16",
        "`24 hrs or so` is not a duration",
        "`30m`, `24h`, `2d` or `1w`",
    );
}

#[test]
fn an_expiry_of_zero_is_refused() {
    let source = parks_with(
        "keywords: [PARKS]\n",
        "keywords: [PARKS]\nexpires_after: 0h\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:3:16",
        "`0h` is not a duration",
        "`24h`",
    );
}

// The command line, on real files.

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_civictext"))
}

fn shipped_flows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows")
}

#[test]
fn flows_check_passes_on_the_shipped_flows() {
    let out = binary()
        .args(["flows", "check", "--no-costs"])
        .arg(shipped_flows_dir())
        .output()
        .expect("run civictext");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "flows check failed on the shipped flows:\n{stdout}"
    );
    assert!(stdout.contains(" 0 error(s)"), "{stdout}");
}

#[test]
fn the_cost_table_marks_a_question_s_retry_text_as_such() {
    let out = binary()
        .args(["flows", "check"])
        .arg(shipped_flows_dir())
        .output()
        .expect("run civictext");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let table: Vec<&str> = stdout
        .split("Message cost for `youth-survey`")
        .nth(1)
        .expect("a youth-survey cost table")
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    // The ZIP question (line 38 of the flow) has its text and its retry text, in two languages.
    let zip_rows: Vec<&str> = table
        .iter()
        .copied()
        .filter(|l| l.trim_start().starts_with("38 "))
        .collect();
    assert_eq!(zip_rows.len(), 4, "{table:#?}");
    let retries: Vec<&str> = zip_rows
        .iter()
        .copied()
        .filter(|l| l.contains("retry text"))
        .collect();
    assert_eq!(retries.len(), 2, "{zip_rows:#?}");
    assert!(retries.iter().any(|l| l.contains(" en ")), "{retries:#?}");
    assert!(
        retries
            .iter()
            .any(|l| l.contains(" es ") && l.contains("retry text; UCS-2 because of")),
        "{retries:#?}"
    );
    // Questions and messages are not marked.
    assert!(
        table
            .iter()
            .filter(|l| l.contains("retry text"))
            .all(|l| l.trim_start().starts_with("38 ")),
        "{table:#?}"
    );
}

#[test]
fn flows_check_fails_on_a_broken_copy_of_a_shipped_flow_and_prints_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shipped = 0;
    for entry in std::fs::read_dir(shipped_flows_dir()).expect("read conversation-flows") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && !name.ends_with(".test.yaml") {
            std::fs::copy(&path, dir.path().join(&name)).expect("copy flow");
            shipped += 1;
        }
    }
    assert!(shipped > 0, "no shipped flows");
    // Break youth-survey.yaml: a last step that jumps to a step that does not exist.
    let target = dir.path().join("youth-survey.yaml");
    let mut text = std::fs::read_to_string(&target).expect("youth-survey.yaml is shipped");
    let indent = text
        .lines()
        .find_map(|l| {
            let t = l.trim_start();
            (t.starts_with("- say:") || t.starts_with("- ask:")).then(|| l.len() - t.len())
        })
        .expect("the flow has steps");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let line = text.lines().count() + 1;
    text.push_str(&format!("{}- goto: nowhere-at-all\n", " ".repeat(indent)));
    std::fs::write(&target, &text).expect("write broken flow");

    let out = binary()
        .args(["flows", "check"])
        .arg(dir.path())
        .output()
        .expect("run civictext");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let column = indent + 2 + "goto: ".len() + 1;
    let expected = format!(
        "{}:{line}:{column}: error: there is no step `nowhere-at-all`",
        target.display()
    );
    assert!(
        stdout.contains(&expected),
        "expected {expected:?} in:\n{stdout}"
    );
    assert!(stdout.contains(" 1 error(s)"), "{stdout}");
    assert!(
        stdout.contains(&format!("{} loaded", shipped - 1)),
        "the other flows still load:\n{stdout}"
    );
}

#[test]
fn flows_check_fails_on_a_directory_without_flows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = binary()
        .args(["flows", "check"])
        .arg(dir.path())
        .output()
        .expect("run civictext");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no flow files (*.yaml) found"), "{stdout}");
}

/// The PARKS flow (its `visits` choice made to take "bike", and `interruptible` as given) beside
/// a poll whose keywords are BIKE and PARKING: the checks of (parks, poll).
fn parks_beside_a_bike_poll(interruptible: &str) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let parks = parks_with(
        "      weekly: Weekly\n",
        "      weekly: { en: Weekly, also: [bike] }\n",
    )
    .replace(
        "keywords: [PARKS]\n",
        &format!("keywords: [PARKS]\n{interruptible}"),
    );
    let poll = "flow: bike-poll
keywords: [BIKE, Parking]
steps:
  - ask: lane
    type: yes_no
    text: Should Main St get a bike lane?
";
    let (catalog, checks) = Catalog::build(vec![
        SourceFile {
            name: "parks.yaml".into(),
            text: parks,
        },
        SourceFile {
            name: "poll.yaml".into(),
            text: poll.into(),
        },
    ]);
    assert_eq!(catalog.flows().len(), 2, "both flows load");
    (checks[0].diagnostics.clone(), checks[1].diagnostics.clone())
}

#[track_caller]
fn assert_warning(items: &[Diagnostic], at: &str, message: &str, hint: &str) {
    let found = items.iter().any(|d| {
        !d.is_error()
            && d.to_string().starts_with(&format!("{at}: warning: "))
            && d.message.contains(message)
            && d.hint.as_deref().is_some_and(|h| h.contains(hint))
    });
    assert!(
        found,
        "no warning at {at} saying {message:?} with help {hint:?}; got:\n{}",
        listing(items)
    );
}

#[test]
fn a_keyword_that_a_choice_of_an_interruptible_flow_takes_is_warned_about_at_the_question() {
    let (parks, poll) = parks_beside_a_bike_poll("");
    assert_warning(
        &parks,
        "parks.yaml:5:5",
        "`visits` takes `BIKE` (flow `bike-poll`) as an answer: a resident who texts one while this question waits is answering it",
        "rename the choice or synonym",
    );
    assert_eq!(poll, vec![], "the poll's yes/no question takes no PARKS");
}

#[test]
fn every_keyword_is_warned_about_at_a_free_text_question_of_an_interruptible_flow() {
    let (parks, _) = parks_beside_a_bike_poll("");
    assert_warning(
        &parks,
        "parks.yaml:16:5",
        "`why-not` takes `BIKE`, `PARKING` (flow `bike-poll`) as an answer",
        "expected for a question that takes any text",
    );
    // A number question takes neither keyword.
    assert!(
        parks
            .iter()
            .all(|d| !d.to_string().starts_with("parks.yaml:12:5")),
        "{}",
        listing(&parks)
    );
    assert_eq!(parks.len(), 2, "{}", listing(&parks));
}

#[test]
fn a_flow_that_cannot_be_interrupted_gets_no_keyword_warning() {
    let (parks, _) = parks_beside_a_bike_poll("interruptible: false\n");
    assert_eq!(parks, vec![], "{}", listing(&parks));
}

#[test]
fn a_loop_through_a_question_guarded_by_when_is_reported_because_it_can_run_without_waiting() {
    // With no ZIP on file the question is passed over, and the loop sends "Thanks!" until the
    // engine stops it.
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - say: Thanks!\n    id: thanks\n  - ask: again\n    when: contact.zip is set\n    type: yes_no\n    text: Again?\n  - goto: thanks\n",
    );
    let items = diagnostics(&source);
    assert!(compile(FILE, &source).flow.is_none(), "{}", listing(&items));
    for at in ["parks.yaml:19:5", "parks.yaml:21:5", "parks.yaml:25:5"] {
        assert_error(
            &items,
            at,
            "these steps can loop back here without waiting for the resident: a question with `when:` is passed over when its condition is false",
            "make the loop pass through an `ask:` without `when:`",
        );
    }
}

#[test]
fn a_loop_through_a_question_without_when_is_still_allowed_beside_a_guarded_one() {
    let source = parks_with(
        "  - say: Thanks!\n",
        "  - ask: zip\n    when: contact.zip is not set\n    type: text\n    text: ZIP?\n  - ask: again\n    type: yes_no\n    text: Again?\n    next: { yes: visits }\n  - say: Thanks!\n",
    );
    let compiled = compile(FILE, &source);
    assert_eq!(compiled.report.items, vec![]);
}

#[test]
fn a_consent_on_a_choice_the_question_does_not_offer_is_reported_with_the_choices() {
    assert_only_error(
        &parks_with(
            "    next: { never: why-not }\n",
            "    next: { never: why-not }\n    consent: { topic: park-news, when: daily }\n",
        ),
        "parks.yaml:12:40",
        "question `visits` has no answer `daily` to take as consent",
        "weekly, monthly, never",
    );
}

#[test]
fn a_consent_on_a_number_question_is_reported() {
    assert_only_error(
        &parks_with(
            "    range: 1..5\n",
            "    range: 1..5\n    consent: { topic: park-news }\n",
        ),
        "parks.yaml:15:14",
        "question `safety` cannot record a consent",
        "`type: yesno` or `choices:`",
    );
}

#[test]
fn a_consent_topic_with_capitals_or_spaces_is_reported() {
    assert_only_error(
        &parks_with(
            "    next: { never: why-not }\n",
            "    next: { never: why-not }\n    consent: { topic: Park News, when: weekly }\n",
        ),
        "parks.yaml:12:23",
        "`Park News` is not a valid consent topic",
        "lower-case letters",
    );
}

#[test]
fn a_consent_on_a_valid_choice_loads() {
    let compiled = compile(
        FILE,
        &parks_with(
            "    next: { never: why-not }\n",
            "    next: { never: why-not }\n    consent: { topic: park-news, when: weekly }\n",
        ),
    );
    assert!(
        compiled.flow.is_some(),
        "{}",
        listing(&compiled.report.items)
    );
}

// Reminders and expiry.

/// The PARKS flow with these lines added at the top (after `keywords:`, from line 3 on).
fn parks_with_top(lines: &str) -> String {
    parks_with(
        "keywords: [PARKS]\n",
        &format!("keywords: [PARKS]\n{lines}"),
    )
}

#[test]
fn a_flow_with_a_reminder_and_a_closing_text_gives_every_question_the_reminder() {
    let source = parks_with_top(
        "expires_after: 1d\nremind_after: 4h\nreminder: Still there?\non_expire: Survey closed.\n",
    );
    let compiled = compile(FILE, &source);
    assert_eq!(compiled.report.items, vec![]);
    let flow = compiled.flow.expect("it compiles");
    for q in flow.questions() {
        let r = q
            .reminder
            .as_ref()
            .expect("every question is reminded about");
        assert_eq!(r.after, jiff::SignedDuration::from_hours(4));
        assert_eq!(r.text.get("en").source(), "Still there?");
    }
    assert_eq!(
        flow.on_expire.as_ref().map(|t| t.get("en").source()),
        Some("Survey closed.".to_string())
    );
}

#[test]
fn a_reminder_due_after_the_session_expires_is_reported_at_remind_after() {
    assert_only_error(
        &parks_with_top("expires_after: 2h\nremind_after: 4h\nreminder: Still there?\n"),
        "parks.yaml:4:15",
        "a reminder after `4h` would come when the session has already expired (`expires_after` is 2h)",
        "remind sooner than the session expires",
    );
}

#[test]
fn a_question_reminding_later_than_the_session_lasts_is_reported_on_the_question() {
    let source = parks_with_top("expires_after: 1h30m\nreminder: Still there?\n").replacen(
        "    type: text\n",
        "    type: text\n    remind_after: 2h\n",
        1,
    );
    assert_only_error(
        &source,
        "parks.yaml:20:19",
        "a reminder after `2h` would come when the session has already expired (`expires_after` is 1h30m)",
        "remind sooner",
    );
}

#[test]
fn remind_after_that_is_not_a_duration_is_reported_with_the_units_to_use() {
    assert_only_error(
        &parks_with_top("remind_after: soon\nreminder: Still there?\n"),
        "parks.yaml:3:15",
        "`soon` is not a duration",
        "`30m`, `4h` or `1d`",
    );
}

#[test]
fn remind_after_without_a_reminder_text_is_reported() {
    assert_only_error(
        &parks_with_top("remind_after: 4h\n"),
        "parks.yaml:3:15",
        "`remind_after` needs a `reminder:` text to send",
        "add `reminder:`",
    );
}

#[test]
fn a_reminder_text_nothing_ever_sends_is_reported() {
    assert_only_error(
        &parks_with_top("reminder: Still there?\n"),
        "parks.yaml:3:11",
        "this reminder is never sent: no question has a `remind_after`",
        "add `remind_after: 4h`",
    );
}

#[test]
fn a_question_s_own_reminder_without_a_delay_is_reported_on_the_question() {
    let source = parks_with(
        "    type: text\n",
        "    type: text\n    reminder: Take your time.\n",
    );
    assert_only_error(
        &source,
        "parks.yaml:18:15",
        "this reminder is never sent: question `why-not` has no `remind_after`",
        "add `remind_after: 4h`",
    );
}

#[test]
fn on_expire_without_expires_after_is_reported() {
    assert_only_error(
        &parks_with_top("on_expire: Survey closed.\n"),
        "parks.yaml:3:12",
        "`on_expire` never runs: this flow has no `expires_after`",
        "add `expires_after: 24h`",
    );
}

#[test]
fn remind_after_on_a_step_that_asks_nothing_is_reported_as_belonging_on_a_question() {
    assert_only_error(
        &parks_with(
            "  - say: Thanks!\n",
            "  - say: Thanks!\n    remind_after: 4h\n",
        ),
        "parks.yaml:20:19",
        "`remind_after` only belongs on an `ask:` step",
        "move it to the question",
    );
}

#[test]
fn a_question_can_do_without_the_flows_reminder_or_have_its_own() {
    let source = parks_with_top("remind_after: 4h\nreminder: Still there?\n")
        .replacen(
            "    type: number\n",
            "    type: number\n    remind_after: never\n",
            1,
        )
        .replacen(
            "    type: text\n",
            "    type: text\n    remind_after: 30m\n    reminder: Take your time.\n",
            1,
        );
    let compiled = compile(FILE, &source);
    assert_eq!(compiled.report.items, vec![]);
    let flow = compiled.flow.expect("it compiles");
    let reminder = |id: &str| {
        flow.question(id)
            .unwrap()
            .reminder
            .as_ref()
            .map(|r| (r.after.as_secs(), r.text.get("en").source()))
    };
    assert_eq!(
        reminder("visits"),
        Some((4 * 3600, "Still there?".to_string()))
    );
    assert_eq!(reminder("safety"), None);
    assert_eq!(
        reminder("why-not"),
        Some((1800, "Take your time.".to_string()))
    );
}

#[test]
fn a_reminder_over_1600_characters_is_reported() {
    let long = "a".repeat(1601);
    let compiled = compile(
        FILE,
        &parks_with_top(&format!("remind_after: 4h\nreminder: {long}\n")),
    );
    assert!(compiled.flow.is_none());
    assert_error(
        &compiled.report.items,
        "parks.yaml:4:11",
        "the `en` text is 1601 characters",
        "shorten it",
    );
}

#[test]
fn the_cost_table_lists_reminders_and_closing_texts_as_sent_on_their_own() {
    let out = binary()
        .args(["flows", "check"])
        .arg(shipped_flows_dir())
        .output()
        .expect("run civictext");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let table: Vec<&str> = stdout
        .split("Message cost for `youth-survey`")
        .nth(1)
        .expect("a youth-survey cost table")
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    let own: Vec<&str> = table
        .iter()
        .copied()
        .filter(|l| l.contains("sent on its own"))
        .collect();
    // The reminder (line 18) and the closing text (line 22), each in English and Spanish, one
    // segment each.
    assert_eq!(own.len(), 4, "{table:#?}");
    for (line, lang) in [("18", "en"), ("18", "es"), ("22", "en"), ("22", "es")] {
        assert!(
            own.iter().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols[0] == line && cols[1] == lang && cols[4] == "1"
            }),
            "no one-segment row for line {line} in {lang}: {own:#?}"
        );
    }
}
