//! Fuzz target: the body is `rumor_fuzz::open_envelope`, replayed by `tests/fuzz_corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor_fuzz::open_envelope(data));
