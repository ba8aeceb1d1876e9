//! Fuzz target: the body is `rumor_fuzz::merge_laws_or_map`, replayed by `tests/fuzz_corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor_fuzz::merge_laws_or_map(data));
