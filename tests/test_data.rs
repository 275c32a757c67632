//! The tests' data lives in the repository, with its origin recorded: a fresh clone's test
//! command must pass with nothing beside the checkout, and whoever refreshes a copied file must
//! know where it came from and under which licence it may be kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README's sections: `## FILE` heading → its body.
fn readme_sections(readme: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in readme.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            if let Some((name, body)) = current.take() {
                sections.insert(name, body);
            }
            current = Some((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((name, body)) = current {
        sections.insert(name, body);
    }
    sections
}

fn sha256_hex(path: &Path) -> String {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn every_copied_twilio_file_is_listed_with_its_hash_source_and_licence() {
    let dir = root().join("tests/data/twilio");
    let readme_path = dir.join("README.md");
    let readme = std::fs::read_to_string(&readme_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme_path.display()));
    let sections = readme_sections(&readme);

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no data files", dir.display());

    let mut problems = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Some(body) = sections.get(&name) else {
            problems.push(format!("{name}: no `## {name}` section in the README"));
            continue;
        };
        let hash = sha256_hex(file);
        if !body.contains(&format!("SHA-256: `{hash}`")) {
            problems.push(format!(
                "{name}: the README's SHA-256 is not the file's ({hash})"
            ));
        }
        for field in ["- Source:", "- Licence:", "- Used by:"] {
            if !body.contains(field) {
                problems.push(format!("{name}: the README section has no `{field}` line"));
            }
        }
    }
    for listed in sections.keys() {
        if !dir.join(listed).is_file() {
            problems.push(format!(
                "the README lists {listed}, which is not in the directory"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}:\n  {}",
        readme_path.display(),
        problems.join("\n  ")
    );
}

#[test]
fn no_test_reads_data_from_beside_the_checkout() {
    // A path climbing out of the manifest directory works only on the machine it was written on.
    let mut offenders = Vec::new();
    let mut pending = vec![root().join("tests"), root().join("benches")];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests/test_data.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (number, line) in text.lines().enumerate() {
                let trimmed = line.trim_start();
                if trimmed.starts_with("//") || trimmed.starts_with("#[path") {
                    continue;
                }
                if line.contains("\"../") || line.contains("/../") {
                    offenders.push(format!(
                        "{}:{}: {}",
                        path.strip_prefix(root()).unwrap_or(&path).display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests read files outside the repository (copy them under tests/data/ instead):\n  {}",
        offenders.join("\n  ")
    );
}
