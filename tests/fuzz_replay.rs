//! The fuzz targets' checks (fuzz/src/checks), run as ordinary tests: every committed seed and
//! every input that once crashed a target (fuzz/regressions/TARGET/) must pass, plus a short run of
//! pseudo-random inputs, so the properties are checked on every test run without a fuzzing
//! toolchain. Fuzzing itself: `bash .ci/fuzz.sh` (docs/fuzzing.md).

#[allow(dead_code)]
#[path = "../fuzz/src/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("webhook_form", checks::webhook_form::check),
    ("signature", checks::signature::check),
    ("flow_compiler", checks::flow_compiler::check),
    ("engine", checks::engine::check),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on one input, naming the file if it panics.
fn run(target: &str, check: Check, name: &str, input: &[u8]) {
    if std::panic::catch_unwind(|| check(input)).is_err() {
        panic!("fuzz target {target} fails on {name}");
    }
}

#[test]
fn every_committed_seed_and_regression_passes_its_fuzz_target() {
    let mut replayed = 0;
    for (target, check) in TARGETS {
        let seeds = files_in(&fuzz_dir().join("seeds").join(target));
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ holds no seeds");
        let regressions = files_in(&fuzz_dir().join("regressions").join(target));
        for file in seeds.iter().chain(&regressions) {
            let input = std::fs::read(file).expect("a readable input");
            run(target, *check, &file.display().to_string(), &input);
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}

#[test]
fn the_shipped_flows_pass_the_compiler_and_engine_checks() {
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows");
    let mut checked = 0;
    for file in files_in(&flows) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        let source = std::fs::read(&file).expect("a readable flow");
        run(
            "flow_compiler",
            checks::flow_compiler::check,
            &name,
            &source,
        );
        checked += 1;
    }
    assert!(checked > 0, "no shipped flows found");
}

/// A small, fixed-seed generator (xorshift64*): the same inputs on every run.
struct Inputs(u64);

impl Inputs {
    fn next_input(&mut self) -> Vec<u8> {
        let len = (self.next_u64() % 512) as usize;
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            bytes.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        // Biased towards the bytes the parsers care about, so runs get past the first check.
        for b in &mut bytes {
            *b = match *b % 8 {
                0 => b"&=%+"[usize::from(*b / 8 % 4)],
                1 => b"0123456789abcdefF"[usize::from(*b / 8 % 17)],
                _ => *b,
            };
        }
        bytes
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn every_fuzz_target_holds_for_a_thousand_fixed_pseudo_random_inputs() {
    for (target, check) in TARGETS {
        let mut inputs = Inputs(0x9e37_79b9_7f4a_7c15);
        for n in 0..1000 {
            let input = inputs.next_input();
            run(
                target,
                *check,
                &format!("pseudo-random input #{n} {input:?}"),
                &input,
            );
        }
    }
}

#[test]
fn most_generated_flows_compile_so_the_engine_target_runs_conversations() {
    let mut inputs = Inputs(0x9e37_79b9_7f4a_7c15);
    let total = 1000;
    let compiled = (0..total)
        .filter(|_| checks::engine::flow(&inputs.next_input()).is_some())
        .count();
    assert!(
        compiled * 4 >= total,
        "only {compiled} of {total} generated flows compile"
    );
}
