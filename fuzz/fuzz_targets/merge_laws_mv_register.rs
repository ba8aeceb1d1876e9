//! Fuzz target: the body is `rumor_fuzz::merge_laws_mv_register`, replayed by `tests/fuzz_corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor_fuzz::merge_laws_mv_register(data));
