//! `civictext flows check` and `civictext flows test`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::flow::Severity;
use crate::flow::conversation_test;
use crate::flow::costs::cost_rows;
use crate::flows_dir;

/// Prints every diagnostic and (optionally) the cost table; fails when any flow has errors.
pub fn check(dir: &Path, costs: bool) -> anyhow::Result<ExitCode> {
    let (catalog, checks) = flows_dir::load(dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut errors = 0;
    let mut warnings = 0;
    for file in &checks {
        for d in &file.diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            writeln!(out, "{}\n", d.render(Some(&file.text)))?;
        }
    }
    if costs {
        print_costs(&mut out, &catalog)?;
    }
    writeln!(
        out,
        "{} flow file(s) checked in {}: {} loaded, {errors} error(s), {warnings} warning(s)",
        checks.len(),
        dir.display(),
        catalog.flows().len()
    )?;
    if checks.is_empty() {
        writeln!(out, "no flow files (*.yaml) found in {}", dir.display())?;
        return Ok(ExitCode::FAILURE);
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_costs(
    out: &mut impl Write,
    catalog: &crate::flow::catalog::Catalog,
) -> std::io::Result<()> {
    for flow in catalog.flows() {
        writeln!(out, "Message cost for `{}` ({}):", flow.id, flow.source)?;
        writeln!(
            out,
            "  {:<6} {:<5} {:<6} {:>5} {:>8}  note",
            "line", "lang", "enc", "chars", "segments"
        )?;
        for r in cost_rows(flow) {
            writeln!(
                out,
                "  {:<6} {:<5} {:<6} {:>5} {:>8}  {}",
                r.line, r.language, r.encoding, r.characters, r.segments, r.note
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Runs every `*.test.yaml` in `dir`; fails when any case fails or a file cannot be read.
pub fn test(dir: &Path, verbose: bool) -> anyhow::Result<ExitCode> {
    let (catalog, checks) = flows_dir::load(dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut broken = 0;
    for file in &checks {
        for d in file.diagnostics.iter().filter(|d| d.is_error()) {
            broken += 1;
            writeln!(out, "{}\n", d.render(Some(&file.text)))?;
        }
    }
    let mut passed = 0;
    let mut failed = 0;
    let tests = flows_dir::read_tests(dir)?;
    for (name, text) in &tests {
        let file = match conversation_test::parse(text) {
            Ok(f) => f,
            Err((line, col, msg)) => {
                writeln!(out, "{name}:{line}:{col}: error: {msg}")?;
                failed += 1;
                continue;
            }
        };
        for case in conversation_test::run(&catalog, &file) {
            let ok = case.failures.is_empty();
            writeln!(
                out,
                "{} {name}:{} {}",
                if ok { "PASS" } else { "FAIL" },
                case.line,
                case.name
            )?;
            if ok {
                passed += 1;
            } else {
                failed += 1;
                for f in &case.failures {
                    writeln!(out, "    - {f}")?;
                }
            }
            if verbose || !ok {
                for (who, text) in &case.transcript {
                    let arrow = match *who {
                        "resident" => ">",
                        "wait" => "~",
                        _ => "<",
                    };
                    for (i, line) in text.lines().enumerate() {
                        writeln!(out, "      {} {line}", if i == 0 { arrow } else { " " })?;
                    }
                }
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    if tests.is_empty() {
        writeln!(
            out,
            "no conversation tests (*.test.yaml) found in {}",
            dir.display()
        )?;
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed > 0 || broken > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
