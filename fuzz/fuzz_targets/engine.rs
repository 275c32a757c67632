#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| civictext_fuzz::checks::engine::check(data));
