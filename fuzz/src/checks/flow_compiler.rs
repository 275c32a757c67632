//! The flow compiler, fed any text a staff member's editor could save.

use civictext::flow::compile;
use civictext::flow::diagnostics::source_lines;

/// Compiles `data` (as UTF-8, invalid bytes replaced) and checks that every problem points inside
/// the file, that a flow comes back only without errors, that compiling is deterministic, and
/// that a flow that compiles runs without breaking the engine's promises.
pub fn check(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let compiled = compile("fuzz.yaml", &source);
    let lines = source_lines(&source).count() as u32;
    let mut rendered = Vec::new();
    for d in &compiled.report.items {
        assert!(
            d.pos.line <= lines + 1,
            "a problem at line {} of a {lines}-line file: {}",
            d.pos.line,
            d.message
        );
        assert!(!d.message.trim().is_empty(), "a problem with no message");
        let shown = d.render(Some(&source));
        if (1..=lines).contains(&d.pos.line) {
            // The line the position names is quoted, as `flows check` shows it.
            assert!(
                shown.contains(&format!("\n {} | ", d.pos.line)),
                "line {} is not quoted:\n{shown}",
                d.pos.line
            );
        }
        rendered.push(shown);
    }
    assert_eq!(
        compiled.flow.is_some(),
        !compiled.report.has_errors(),
        "a flow must come back exactly when there are no errors"
    );

    let again = compile("fuzz.yaml", &source);
    let rendered_again: Vec<String> = again
        .report
        .items
        .iter()
        .map(|d| d.render(Some(&source)))
        .collect();
    assert_eq!(
        rendered, rendered_again,
        "compiling twice reported differently"
    );

    if let Some(flow) = &compiled.flow {
        let replies = ["1", "yes", "no", "SKIP", "40202", "", "tomorrow", "x"];
        super::engine::converse(flow, None, &Default::default(), replies.iter().copied());
    }
}
