//! Reading a flows directory: flow files (`*.yaml`) and their conversation tests
//! (`*.test.yaml`), in name order so every replica loads them alike.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::flow::catalog::{Catalog, FileCheck, SourceFile};

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

/// Reads every flow file in `dir` (not the tests).
pub fn read_flows(dir: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for path in yaml_files(dir)? {
        let name = display_name(dir, &path);
        if is_test_file(&name) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        files.push(SourceFile { name, text });
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
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        files.push((name, text));
    }
    Ok(files)
}

/// Loads and checks every flow in `dir`.
pub fn load(dir: &Path) -> anyhow::Result<(Catalog, Vec<FileCheck>)> {
    Ok(Catalog::build(read_flows(dir)?))
}
