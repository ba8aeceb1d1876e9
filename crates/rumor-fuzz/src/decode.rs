//! The `decode_<type>` and `decode_message` targets: untrusted bytes through
//! [`codec::decode`].
//!
//! Decoding may fail, but never panics, and never allocates much more than
//! the input (libFuzzer's `-malloc_limit_mb` in `fuzz/run.sh` catches that).
//! A value it accepts is canonical and lawful: it re-encodes in at most the
//! input's length, the re-encoding decodes to the same value, and the value
//! behaves as a state (joins with itself and with bottom change nothing, and
//! extraction from it is exact).

use core::fmt::Debug;

use rumor_crdt::{codec, Crdt, GCounter, LwwMap, LwwRegister, MvRegister, OrMap, OrSet, PnCounter};
use rumor_gossip::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The decode limit a peer would use for one message.
const LIMIT: usize = 64 * 1024;

/// Decodes `data` as a `T`; if it is accepted, checks that it re-encodes in
/// at most `data.len()` bytes that decode to the same value.
fn decode_canonical<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let value = codec::decode::<T>(data, LIMIT).ok()?;
    let again = codec::encode(&value)
        .unwrap_or_else(|e| panic!("accepted {data:02x?}, but cannot re-encode {value:?}: {e}"));
    assert!(
        again.len() <= data.len(),
        "accepted {} bytes {data:02x?}, which re-encode in {} bytes {again:02x?}\nvalue = {value:?}",
        data.len(),
        again.len()
    );
    let back = codec::decode::<T>(&again, LIMIT);
    assert!(
        back.as_ref() == Ok(&value),
        "accepted {data:02x?}, but its re-encoding {again:02x?} decodes to {back:?}\nvalue = {value:?}"
    );
    Some(value)
}

/// A decoded state is a lawful state: `v ⊔ v == v`, `⊥ ⊔ v == v`,
/// `v.includes(v)`, everything of it is missing from bottom, and
/// `v ⊔ v.delta_since(&v.context()) == v`.
fn check_state<S: Crdt>(value: &S) {
    let mut twice = value.clone();
    twice.join(value);
    assert!(
        twice == *value,
        "v ⊔ v != v\nv = {value:?}\nv ⊔ v = {twice:?}"
    );
    let mut from_bottom = S::default();
    from_bottom.join(value);
    assert!(
        from_bottom == *value,
        "⊥ ⊔ v != v\nv = {value:?}\n⊥ ⊔ v = {from_bottom:?}"
    );
    assert!(value.includes(value), "!v.includes(v)\nv = {value:?}");
    let everything = value.delta_since(&S::Context::default());
    assert!(
        everything == *value,
        "v.delta_since(⊥'s context) != v\nv = {value:?}\ndelta = {everything:?}"
    );
    let mut caught_up = value.clone();
    caught_up.join(&value.delta_since(&value.context()));
    assert!(
        caught_up == *value,
        "v ⊔ v.delta_since(v.context()) != v\nv = {value:?}\nresult = {caught_up:?}"
    );
}

fn decode_state<S: Crdt + Serialize + DeserializeOwned>(data: &[u8]) {
    if let Some(value) = decode_canonical::<S>(data) {
        check_state(&value);
    }
}

/// Arbitrary bytes as a [`GCounter`].
///
/// ```
/// rumor_fuzz::decode_gcounter(&[1, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11]);
/// ```
pub fn decode_gcounter(data: &[u8]) {
    decode_state::<GCounter>(data);
}

/// Arbitrary bytes as a [`PnCounter`].
///
/// ```
/// rumor_fuzz::decode_pncounter(&[0, 0]);
/// ```
pub fn decode_pncounter(data: &[u8]) {
    decode_state::<PnCounter>(data);
}

/// Arbitrary bytes as an [`LwwRegister<String>`].
///
/// ```
/// rumor_fuzz::decode_lww_register(&[1, 2, 3]);
/// ```
pub fn decode_lww_register(data: &[u8]) {
    decode_state::<LwwRegister<String>>(data);
}

/// Arbitrary bytes as an [`LwwMap<u16, String>`].
///
/// ```
/// rumor_fuzz::decode_lww_map(&[0, 0, 0]);
/// ```
pub fn decode_lww_map(data: &[u8]) {
    decode_state::<LwwMap<u16, String>>(data);
}

/// Arbitrary bytes as an [`MvRegister<String>`].
///
/// ```
/// rumor_fuzz::decode_mv_register(&[0, 0, 0]);
/// ```
pub fn decode_mv_register(data: &[u8]) {
    decode_state::<MvRegister<String>>(data);
}

/// Arbitrary bytes as an [`OrMap<u16, OrSet<String>>`]: the map's own
/// checks, and each nested value's.
///
/// ```
/// rumor_fuzz::decode_or_map(&[0, 0, 0, 0]);
/// ```
pub fn decode_or_map(data: &[u8]) {
    decode_state::<OrMap<u16, OrSet<String>>>(data);
}

/// Arbitrary bytes as an [`OrSet<String>`].
///
/// ```
/// rumor_fuzz::decode_orset(&[0, 0, 0]);
/// ```
pub fn decode_orset(data: &[u8]) {
    decode_state::<OrSet<String>>(data);
}

/// Arbitrary bytes as a gossip [`Message<OrSet<u64>, u32>`]; the payload a
/// message carries (a `Sync` delta or an eager-path `Gossip` delta) must be a
/// lawful state.
///
/// ```
/// rumor_fuzz::decode_message(&[0, 1, 0, 0]);
/// ```
pub fn decode_message(data: &[u8]) {
    if let Some(message) = decode_canonical::<Message<OrSet<u64>, u32>>(data) {
        if let Some(payload) = message.payload() {
            check_state(payload);
        }
    }
}
