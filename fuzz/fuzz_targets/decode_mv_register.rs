//! Fuzz target: the body is `rumor_fuzz::decode_mv_register`, replayed by `tests/fuzz_corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor_fuzz::decode_mv_register(data));
