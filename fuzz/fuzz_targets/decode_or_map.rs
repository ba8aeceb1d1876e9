//! Fuzz target: the body is `rumor_fuzz::decode_or_map`, replayed by `tests/fuzz_corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor_fuzz::decode_or_map(data));
