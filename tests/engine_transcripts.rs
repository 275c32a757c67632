//! The conversation tests kept beside the shipped flows (`*.test.yaml`) pass, through the real
//! command line. `CIVICTEXT_FLOWS_DIR` points it at another flows directory.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn every_conversation_test_beside_the_shipped_flows_passes() {
    let dir = std::env::var_os("CIVICTEXT_FLOWS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows"));
    let out = Command::new(env!("CARGO_BIN_EXE_civictext"))
        .args(["flows", "test"])
        .arg(&dir)
        .output()
        .expect("run civictext");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`civictext flows test` failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let passed: usize = summary
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last line is {summary:?}, not `N passed, 0 failed`:\n{stdout}"));
    assert!(passed > 0, "no conversation test ran:\n{stdout}");
    let pass_lines = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    assert_eq!(pass_lines, passed, "{stdout}");
}
