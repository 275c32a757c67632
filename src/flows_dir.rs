//! Reading a flows directory: flow files (`*.yaml`) and their conversation tests
//! (`*.test.yaml`), in name order so every replica loads them alike.
//!
//! A flow file that cannot be used as text (not UTF-8, too large, unreadable) is one broken
//! flow, reported like any other error in it; it never stops the other files from loading.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::flow::catalog::{Catalog, FileCheck, SourceFile};
use crate::flow::diagnostics::{Diagnostic, Pos, Severity};

/// Largest flow file read. The shipped flows are a few KiB; a file far larger is a mistake (a
/// data export saved into the directory), and every version of a flow is kept in the database.
pub const MAX_FLOW_FILE_BYTES: u64 = 256 * 1024;

/// True for a conversation-test file name.
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read flows directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn display_name(dir: &Path, path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(name).display().to_string()
}

/// The flow files of a directory: those read as text, and those that could not be, each with
/// the problem that says why and how to fix it.
#[derive(Debug, Default)]
pub struct FlowFiles {
    /// Files read as UTF-8 text, in name order.
    pub readable: Vec<SourceFile>,
    /// Files that could not be read as text, in name order. `text` holds what could be shown
    /// of the file (invalid bytes replaced), for pointing at the line.
    pub unreadable: Vec<FileCheck>,
}

/// Why a file could not be used, as a diagnostic at the place it went wrong.
fn unreadable(name: &str, shown: String, pos: Pos, message: String, hint: &str) -> FileCheck {
    FileCheck {
        name: name.to_string(),
        text: shown,
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: name.to_string(),
            pos,
            message,
            hint: Some(hint.to_string()),
        }],
        flow: None,
    }
}

/// Line and column (1-based, in characters) just after `text`.
fn end_position(text: &str) -> Pos {
    let line = text.matches('\n').count() + 1;
    let last = text.rsplit('\n').next().unwrap_or_default();
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(last.chars().count() + 1).unwrap_or(u32::MAX),
    }
}

/// Reads one flow file as text, or says why it cannot be used.
pub fn read_flow_file(path: &Path, name: &str) -> Result<SourceFile, FileCheck> {
    let io_problem = |e: std::io::Error| {
        unreadable(
            name,
            String::new(),
            Pos::default(),
            format!("the file cannot be read: {e}"),
            "check that the file exists and that the gateway's user may read it",
        )
    };
    let file = std::fs::File::open(path).map_err(io_problem)?;
    let mut bytes = Vec::new();
    file.take(MAX_FLOW_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_problem)?;
    if bytes.len() as u64 > MAX_FLOW_FILE_BYTES {
        return Err(unreadable(
            name,
            String::new(),
            Pos::default(),
            format!(
                "the file is larger than {} KiB, the limit for a flow file",
                MAX_FLOW_FILE_BYTES / 1024
            ),
            "a flow file holds one conversation: split it into several flows, and keep data \
             exports out of the flows directory",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile {
            name: name.to_string(),
            text,
        }),
        Err(e) => {
            let bytes = e.into_bytes();
            let valid = std::str::from_utf8(&bytes)
                .err()
                .map_or(bytes.len(), |e| e.valid_up_to());
            let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let byte = bytes.get(valid).copied().unwrap_or_default();
            Err(unreadable(
                name,
                String::from_utf8_lossy(&bytes).into_owned(),
                end_position(prefix),
                format!(
                    "the file is not UTF-8 text (byte 0x{byte:02X} here); it was probably saved \
                     as Windows-1252 or Latin-1"
                ),
                "save as UTF-8: in your editor choose \"Save As\" and pick the UTF-8 encoding, \
                 then save over this file",
            ))
        }
    }
}

/// Reads every flow file in `dir` (not the tests). Only a directory that cannot be listed is
/// an error; a file that cannot be read is reported in [`FlowFiles::unreadable`].
pub fn read_flows(dir: &Path) -> anyhow::Result<FlowFiles> {
    let mut files = FlowFiles::default();
    for path in yaml_files(dir)? {
        let name = display_name(dir, &path);
        if is_test_file(&name) {
            continue;
        }
        match read_flow_file(&path, &name) {
            Ok(source) => files.readable.push(source),
            // Deleted between listing and reading: it is simply no longer there.
            Err(_) if !path.exists() => {}
            Err(check) => files.unreadable.push(check),
        }
    }
    Ok(files)
}

/// Reads every conversation-test file in `dir`: (name, text).
pub fn read_tests(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for path in yaml_files(dir)? {
        let name = display_name(dir, &path);
        if !is_test_file(&name) {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (conversation tests are UTF-8 text)",
                path.display()
            )
        })?;
        files.push((name, text));
    }
    Ok(files)
}

/// Loads and checks every flow in `dir`; files that could not be read are among the checks,
/// with their error, in name order.
pub fn load(dir: &Path) -> anyhow::Result<(Catalog, Vec<FileCheck>)> {
    let files = read_flows(dir)?;
    let (catalog, mut checks) = Catalog::build(files.readable);
    checks.extend(files.unreadable);
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((catalog, checks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_of_a_bad_byte_counts_lines_and_characters() {
        assert_eq!(end_position(""), Pos { line: 1, column: 1 });
        assert_eq!(end_position("ab\ncd é"), Pos { line: 2, column: 5 });
    }

    #[test]
    fn a_windows_1252_file_is_reported_at_its_first_accented_letter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encuesta.yaml");
        // "¿Con qué frecuencia?" in Windows-1252: ¿ is 0xBF, é is 0xE9.
        std::fs::write(&path, b"flow: encuesta\nsteps:\n  - say: \xBFCon qu\xE9?\n").unwrap();
        let check = read_flow_file(&path, "encuesta.yaml").unwrap_err();
        let d = &check.diagnostics[0];
        assert!(d.is_error());
        assert_eq!(
            d.pos,
            Pos {
                line: 3,
                column: 10
            }
        );
        assert!(d.message.contains("0xBF"), "{}", d.message);
        assert!(d.hint.as_deref().unwrap().contains("save as UTF-8"));
        assert!(check.text.contains("Con qu"));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_without_reading_all_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.yaml");
        std::fs::write(&path, "#".repeat(MAX_FLOW_FILE_BYTES as usize + 1)).unwrap();
        let check = read_flow_file(&path, "huge.yaml").unwrap_err();
        assert!(check.diagnostics[0].message.contains("256 KiB"));
        let exact = dir.path().join("exact.yaml");
        std::fs::write(&exact, "#".repeat(MAX_FLOW_FILE_BYTES as usize)).unwrap();
        assert!(read_flow_file(&exact, "exact.yaml").is_ok());
    }
}
