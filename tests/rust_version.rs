//! The `rust-version` in Cargo.toml is a promise to whoever builds civictext: it must be at least
//! the `rust-version` every locked dependency declares. Checked from Cargo.lock through
//! `cargo metadata`, so no second toolchain is needed.

use std::process::Command;

/// A version such as `1.88` or `1.88.0`, as comparable numbers.
fn parse(version: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = version
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a version: {version:?}"))
        })
        .collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn the_declared_rust_version_covers_every_locked_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo} metadata: {e}"));
    assert!(
        output.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");

    let ours = env!("CARGO_PKG_RUST_VERSION");
    assert!(!ours.is_empty(), "Cargo.toml declares no rust-version");
    let packages = metadata["packages"].as_array().expect("a package list");
    let mut offenders = Vec::new();
    for package in packages {
        let Some(needed) = package["rust_version"].as_str() else {
            continue;
        };
        if parse(needed) > parse(ours) {
            offenders.push(format!(
                "{} {} needs Rust {needed}",
                package["name"].as_str().unwrap_or("?"),
                package["version"].as_str().unwrap_or("?")
            ));
        }
    }
    assert!(
        packages.len() > 100,
        "cargo metadata listed only {} packages",
        packages.len()
    );
    assert!(
        offenders.is_empty(),
        "Cargo.toml says rust-version = {ours:?}, but locked dependencies need more:\n  {}\n\
         raise rust-version, or pin those dependencies to releases that support {ours}",
        offenders.join("\n  ")
    );
}
