//! The fuzz targets' bodies. Each takes the fuzzer's bytes, runs the code under test and panics
//! if a property a resident or operator relies on does not hold. The same functions replay the
//! committed seeds and regressions in the main crate's `tests/fuzz_replay.rs`, so a crash once
//! found stays fixed without a fuzzing toolchain.

pub mod checks;
