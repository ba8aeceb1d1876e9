//! The wire form pinned: the exact bytes of small states of every type that
//! writes a replica table (`LwwMap`, `OrSet`, `MvRegister`, `OrMap`), and the
//! fingerprint (the anti-entropy digest) of states of many writers. Nodes of
//! different builds compare these bytes and digests; a change in how they
//! are produced must not change them.
//!
//! The states mix replicas added in an order other than their ids', a
//! tombstone and a counter the writes no longer show (`LwwMap`), removals,
//! concurrent adds of one element and re-adds (`OrSet`), concurrent values
//! (`MvRegister`) and a removed key (`OrMap`).
#![allow(clippy::unwrap_used)]

use rumor_crdt::{codec, Crdt, HlcTimestamp, LwwMap, MvRegister, OrMap, OrSet, ReplicaId};

fn r(n: u128) -> ReplicaId {
    ReplicaId::from_u128(n)
}

fn ts(wall_ms: u64, replica: u128) -> HlcTimestamp {
    HlcTimestamp::new(wall_ms, 0, r(replica))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn lww_map() -> LwwMap<u32, u32> {
    let mut map = LwwMap::new();
    map.insert(1, 10, ts(1_000, 9)).unwrap();
    map.insert(2, 20, ts(1_001, 3)).unwrap();
    map.insert(3, 30, ts(1_002, 7)).unwrap();
    // Replica 9's only write is superseded: its counter is hidden.
    map.insert(1, 11, ts(1_003, 3)).unwrap();
    map.remove(&3, ts(1_004, 5)).unwrap();
    map
}

fn or_set() -> OrSet<u32> {
    let mut a = OrSet::new();
    let mut b = OrSet::new();
    a.insert(r(9), 1);
    a.insert(r(9), 2);
    b.insert(r(3), 2);
    b.insert(r(3), 4);
    a.join(&b);
    a.remove(&4);
    // A re-add of an element held: its second dot comes from a later
    // counter of the same replica.
    a.insert(r(7), 5);
    a.insert(r(9), 1);
    a
}

fn mv_register() -> MvRegister<u32> {
    let mut a = MvRegister::new();
    let mut b = MvRegister::new();
    a.set(r(9), 1);
    b.set(r(3), 2);
    a.join(&b);
    a
}

fn or_map() -> OrMap<u32, OrSet<u32>> {
    let mut map = OrMap::new();
    map.update(r(9), 1, |set: &mut OrSet<u32>| set.insert(r(9), 10));
    map.update(r(3), 2, |set: &mut OrSet<u32>| set.insert(r(3), 20));
    map.update(r(7), 3, |set: &mut OrSet<u32>| set.insert(r(7), 30));
    map.remove(&2);
    map
}

/// A state of `writers` replicas with one write each (and, for the OR-Set,
/// one element each), ids in a scrambled order.
fn many(writers: u128) -> (LwwMap<u64, u64>, OrSet<u64>) {
    let mut map = LwwMap::new();
    let mut set = OrSet::new();
    for n in 0..writers {
        let id = (n * 7_919) % writers + 1;
        let key = u64::try_from(n).unwrap();
        map.insert(key, key * 3, ts(5_000 + key, id)).unwrap();
        set.insert(r(id), key);
    }
    (map, set)
}

#[test]
fn small_states_encode_to_the_pinned_bytes() {
    let cases = [
        ("lww_map", hex(&codec::encode(&lww_map()).unwrap()), LWW_MAP),
        ("or_set", hex(&codec::encode(&or_set()).unwrap()), OR_SET),
        (
            "mv_register",
            hex(&codec::encode(&mv_register()).unwrap()),
            MV_REGISTER,
        ),
        ("or_map", hex(&codec::encode(&or_map()).unwrap()), OR_MAP),
    ];
    let changed: Vec<String> = cases
        .iter()
        .filter(|(_, actual, pinned)| actual != pinned)
        .map(|(name, actual, pinned)| format!("{name}: {actual}, pinned {pinned}"))
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
}

#[test]
fn states_of_many_writers_keep_their_pinned_fingerprints() {
    let (map, set) = many(1_000);
    let actual = [
        codec::fingerprint(&map).unwrap(),
        codec::fingerprint(&set).unwrap(),
    ];
    assert_eq!(actual, MANY_FINGERPRINTS);
    // And they decode to the same states.
    let bytes = codec::encode(&map).unwrap();
    assert_eq!(
        codec::decode::<LwwMap<u64, u64>>(&bytes, bytes.len()).unwrap(),
        map
    );
    let bytes = codec::encode(&set).unwrap();
    assert_eq!(
        codec::decode::<OrSet<u64>>(&bytes, bytes.len()).unwrap(),
        set
    );
}

const LWW_MAP: &str = "040000000000000000000000000000000300000000000000000000000000000005000000000000000000000000000000070000000000000000000000000000000902020103010301fbeb03000002010b02fbe903000001011403fbec0300010100";
const OR_SET: &str = "03000000000000000000000000000000030000000000000000000000000000000700000000000000000000000000000009030001010101010100020101020301020302000105010101010202010203";
const MV_REGISTER: &str = "02000000000000000000000000000000030000000000000000000000000000000902000101000101010002000102010101";
const OR_MAP: &str = "030000000000000000000000000000000300000000000000000000000000000007000000000000000000000000000000090100010100020101020001000000000000000000000000000000090100010100010a000100000301010001000000000000000000000000000000070100010100011e0001000000";
const MANY_FINGERPRINTS: [u64; 2] = [6_884_901_004_764_177_986, 12_321_177_565_132_996_897];
