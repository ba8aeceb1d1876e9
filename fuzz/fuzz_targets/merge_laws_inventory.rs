//! Fuzz target: the law kit's template (`rumor::laws` crate docs) on a `#[derive(Crdt)]` struct; replayed by `tests/fuzz_corpus.rs`.
#![no_main]
use rumor_fuzz::Inventory; // #[derive(Crdt)], and `impl rumor::laws::Model for Inventory`
libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor::laws::fuzz::<Inventory>(data));
