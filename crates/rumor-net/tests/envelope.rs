//! The envelope at its boundary: round trips, every rejection with its exact
//! variant and counter, key rotation across nodes, the bounded replay
//! memory under a flood, and hostile bytes (100,000 proptest cases).

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rumor_crdt::{codec, OrSet, ReplicaId};
use rumor_net::{
    Cluster, EnvelopeCodec, Error, Key, KeyId, Keyring, ReplayConfig, Security, Stats,
    FLAG_PLAINTEXT, FLAG_SIGNED, HEADER_LEN, MAX_ENVELOPE_LEN, TAG_LEN,
};

const NOW: u64 = 1_700_000_000_000;
const LIMIT: usize = 1_200;

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn keys(byte: u8) -> Security {
    Security::Keys(Keyring::new(key(byte)))
}

fn node(security: Security, id: u128) -> EnvelopeCodec {
    EnvelopeCodec::new(security, Cluster::new("test"), ReplicaId::from_u128(id))
}

/// A fresh seeded RNG each call, so that no two test envelopes share a
/// nonce (a nonce must never repeat under a key).
fn rng() -> StdRng {
    static SEED: AtomicU64 = AtomicU64::new(0);
    StdRng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed))
}

/// Opens `bytes` with `opener` and checks the outcome is `expected`, and
/// that exactly that outcome's counter moved by one (`accepted` for `Ok`).
fn check(opener: &mut EnvelopeCodec, bytes: &[u8], now_ms: u64, expected: Result<(), Error>) {
    let before = opener.stats();
    let outcome = opener.open(bytes, LIMIT, now_ms).map(|_| ());
    assert_eq!(outcome, expected);
    assert_exactly_one_counter_moved(before, opener.stats(), &expected);
}

fn assert_exactly_one_counter_moved(before: Stats, after: Stats, outcome: &Result<(), Error>) {
    let mut expected = before;
    match outcome {
        Ok(()) => {
            expected.accepted += 1;
            expected.accepted_bytes = after.accepted_bytes;
        }
        Err(error) => {
            let reason = error.reason();
            assert_eq!(
                after.rejected(reason),
                before.rejected(reason) + 1,
                "{reason}"
            );
            assert_eq!(after.rejected_total(), before.rejected_total() + 1);
            assert_eq!(after.accepted, before.accepted);
            return;
        }
    }
    assert_eq!(after, expected);
}

/// An envelope sealed by node 1 with `security` at `now_ms`.
fn sealed(security: Security, payload: &[u8], now_ms: u64) -> Vec<u8> {
    node(security, 1)
        .seal(payload, now_ms, &mut rng())
        .expect("seal")
}

#[test]
fn every_payload_size_from_0_bytes_to_1_mib_round_trips_in_both_modes() {
    let sizes = [
        0,
        1,
        15,
        16,
        17,
        63,
        64,
        65,
        1_139,
        1_200,
        4_096,
        65_536,
        1 << 20,
    ];
    let mut rng = rng();
    for (mode, security) in [("encrypted", keys(1)), ("plaintext", Security::Plaintext)] {
        let mut sender = node(security.clone(), 1).with_incarnation(3);
        let mut receiver = node(security, 2);
        for (i, &size) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..size).map(|j| (j * 31 + i) as u8).collect();
            let now = NOW + i as u64;
            let envelope = sender.seal(&payload, now, &mut rng).expect("seal");
            let overhead = if mode == "encrypted" {
                HEADER_LEN + TAG_LEN
            } else {
                HEADER_LEN
            };
            assert_eq!(envelope.len(), size + overhead, "{mode} {size}");
            if mode == "encrypted" && size >= 16 {
                assert_ne!(
                    &envelope[HEADER_LEN..HEADER_LEN + 16],
                    &payload[..16],
                    "not encrypted"
                );
            }
            let opened = receiver
                .open(&envelope, MAX_ENVELOPE_LEN, now + 1)
                .expect("open");
            assert_eq!(opened.payload, payload, "{mode} {size}");
            assert_eq!(opened.header.sender, ReplicaId::from_u128(1));
            assert_eq!(opened.header.incarnation, 3);
            assert_eq!(opened.header.nonce.sent_ms, now);
            assert_eq!(opened.header.is_plaintext(), mode == "plaintext");
        }
        assert_eq!(sender.stats().sealed, sizes.len() as u64);
        assert_eq!(receiver.stats().accepted, sizes.len() as u64);
        assert_eq!(receiver.stats().rejected_total(), 0);
    }
}

#[test]
fn a_typed_message_decodes_and_a_bad_payload_is_a_decode_error() {
    let mut set = OrSet::new();
    let delta = set.insert(ReplicaId::from_u128(1), 7u64);
    let bytes = codec::encode(&delta).expect("encode");
    let envelope = sealed(keys(1), &bytes, NOW);
    let mut receiver = node(keys(1), 2);
    let (header, back): (_, OrSet<u64>) =
        receiver.open_message(&envelope, LIMIT, NOW).expect("open");
    assert_eq!((header.sender, back), (ReplicaId::from_u128(1), delta));

    // Authentic, but not an OR-Set: one trailing byte.
    let mut bytes = bytes;
    bytes.push(0);
    let envelope = sealed(keys(1), &bytes, NOW + 1);
    let before = receiver.stats();
    let outcome = receiver.open_message::<OrSet<u64>>(&envelope, LIMIT, NOW + 1);
    assert!(
        matches!(
            outcome,
            Err(Error::Decode(codec::DecodeError::TrailingBytes {
                extra: 1
            }))
        ),
        "{outcome:?}"
    );
    let after = receiver.stats();
    assert_eq!(
        (after.decode, after.accepted),
        (before.decode + 1, before.accepted)
    );
    assert_eq!(after.rejected_total(), before.rejected_total() + 1);
    // Its nonce was remembered all the same.
    let again = receiver.open(&envelope, LIMIT, NOW + 1);
    assert_eq!(again, Err(Error::Replay));
}

#[test]
fn each_rejection_has_its_variant_and_its_counter() {
    let good = sealed(keys(1), b"payload", NOW);
    let mut receiver = node(keys(1), 2);

    // Sizes.
    check(
        &mut receiver,
        &[],
        NOW,
        Err(Error::TooShort { len: 0, min: 61 }),
    );
    check(
        &mut receiver,
        &good[..60],
        NOW,
        Err(Error::TooShort { len: 60, min: 61 }),
    );
    let header_and_15 = &good[..HEADER_LEN + 15];
    check(
        &mut receiver,
        header_and_15,
        NOW,
        Err(Error::TooShort { len: 76, min: 77 }),
    );
    let long = vec![0; LIMIT + 1];
    check(
        &mut receiver,
        &long,
        NOW,
        Err(Error::TooLong {
            len: 1_201,
            limit: 1_200,
        }),
    );

    // The header, field by field.
    let with = |offset: usize, byte: u8| {
        let mut bytes = good.clone();
        bytes[offset] = byte;
        bytes
    };
    check(
        &mut receiver,
        &with(0, b'X'),
        NOW,
        Err(Error::BadMagic { found: *b"XMR" }),
    );
    check(
        &mut receiver,
        &with(3, 2),
        NOW,
        Err(Error::UnsupportedVersion { version: 2 }),
    );
    check(
        &mut receiver,
        &with(3, 0),
        NOW,
        Err(Error::UnsupportedVersion { version: 0 }),
    );
    for flags in [FLAG_SIGNED, 0x04, 0x80, FLAG_PLAINTEXT | FLAG_SIGNED] {
        check(
            &mut receiver,
            &with(4, flags),
            NOW,
            Err(Error::UnknownFlags { flags }),
        );
    }
    let other_cluster = EnvelopeCodec::new(keys(1), Cluster::new("other"), ReplicaId::from_u128(1))
        .seal(b"payload", NOW, &mut rng())
        .expect("seal");
    let cluster_id = Cluster::new("other").id();
    check(
        &mut receiver,
        &other_cluster,
        NOW,
        Err(Error::WrongCluster { cluster_id }),
    );
    let key_id = key(9).id();
    check(
        &mut receiver,
        &sealed(keys(9), b"x", NOW),
        NOW,
        Err(Error::UnknownKey { key_id }),
    );

    // Time.
    let old = sealed(keys(1), b"payload", NOW - 60_001);
    let stale = Err(Error::Stale {
        sent_ms: NOW - 60_001,
        now_ms: NOW,
    });
    check(&mut receiver, &old, NOW, stale);
    let ahead = sealed(keys(1), b"payload", NOW + 10_001);
    let future = Err(Error::Future {
        sent_ms: NOW + 10_001,
        now_ms: NOW,
    });
    check(&mut receiver, &ahead, NOW, future);

    // The tag.
    let mut flipped = good.clone();
    flipped[HEADER_LEN] ^= 1;
    check(&mut receiver, &flipped, NOW, Err(Error::BadTag));

    // Accepted once, then a replay.
    check(&mut receiver, &good, NOW, Ok(()));
    check(&mut receiver, &good, NOW + 1, Err(Error::Replay));

    // Plaintext on one side only.
    let plain = sealed(Security::Plaintext, b"payload", NOW);
    check(&mut receiver, &plain, NOW, Err(Error::PlaintextRefused));
    let mut plain_receiver = node(Security::Plaintext, 2);
    check(
        &mut plain_receiver,
        &good,
        NOW,
        Err(Error::EncryptedRefused),
    );
    check(&mut plain_receiver, &plain, NOW, Ok(()));
    // A plaintext envelope names no key.
    let mut named = sealed(Security::Plaintext, b"payload", NOW + 2);
    named[5] = 1;
    let key_id = KeyId::from_bytes([1, 0, 0, 0]);
    check(
        &mut plain_receiver,
        &named,
        NOW,
        Err(Error::UnknownKey { key_id }),
    );

    // Decode: counted under its own reason by `open_message` (above).
    let stats = receiver.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.rejected_total(), 18);
}

/// A flipped bit anywhere in an encrypted envelope is refused, and the
/// error names the field where the header is checked before decryption.
/// Every other bit (the clock's low bits, the nonce's random part, the
/// sender, the incarnation, the ciphertext, the tag) fails authentication.
#[test]
fn every_flipped_bit_of_an_encrypted_envelope_is_refused() {
    let good = sealed(keys(1), b"a short payload", NOW);
    let mut receiver = node(keys(1), 2);
    for bit in 0..good.len() * 8 {
        let mut bytes = good.clone();
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        bytes[byte] ^= mask;
        let before = receiver.stats();
        let outcome = receiver.open(&bytes, LIMIT, NOW).map(|_| ());
        assert_exactly_one_counter_moved(before, receiver.stats(), &outcome);
        let error = outcome.expect_err("a flipped bit was accepted");
        let sent_ms = u64::from_le_bytes(bytes[13..21].try_into().expect("8 bytes"));
        let in_window = (NOW - 60_000..=NOW + 10_000).contains(&sent_ms);
        let expected = match byte {
            0..=2 => matches!(error, Error::BadMagic { .. }),
            3 => matches!(error, Error::UnsupportedVersion { .. }),
            4 if mask == FLAG_PLAINTEXT => error == Error::PlaintextRefused,
            4 => matches!(error, Error::UnknownFlags { .. }),
            5..=8 => matches!(error, Error::UnknownKey { .. }),
            9..=12 => matches!(error, Error::WrongCluster { .. }),
            13..=20 if !in_window => matches!(error, Error::Stale { .. } | Error::Future { .. }),
            _ => error == Error::BadTag,
        };
        assert!(expected, "bit {bit} (byte {byte}): {error:?}");
    }
    // And the original still opens: nothing was remembered from the forgeries.
    check(&mut receiver, &good, NOW, Ok(()));
}

/// memberlist's rotation, across three nodes that each step at their own
/// time, with every envelope delivered one step late: nothing is lost until
/// the old key is removed, and only envelopes sealed under it before every
/// node switched are refused after.
#[test]
fn a_key_rotation_across_nodes_loses_nothing() {
    let mut nodes: Vec<EnvelopeCodec> = (1..=3).map(|id| node(keys(1), id)).collect();
    let mut rng = rng();
    let mut now = NOW;
    let mut in_flight: Vec<(usize, Vec<u8>)> = Vec::new();
    let old = key(1).id();
    let new = key(2).id();
    // One action per step, on one node at a time: install everywhere, then
    // use everywhere, then remove everywhere.
    let mut steps: Vec<(usize, &str)> = Vec::new();
    for action in ["install", "use", "remove"] {
        steps.extend((0..3).map(|n| (n, action)));
    }
    for (n, action) in steps {
        // Deliver what was sent last step, then act, then send.
        now += 10;
        for (to, bytes) in in_flight.drain(..) {
            let outcome = nodes[to].open(&bytes, LIMIT, now).map(|_| ());
            assert_eq!(
                outcome,
                Ok(()),
                "delivery to node {to} before {action} on node {n}"
            );
        }
        let ring = nodes[n].keyring_mut().expect("keys");
        match action {
            "install" => assert_eq!(ring.install(key(2)), Ok(new)),
            "use" => ring.use_key(new).expect("use"),
            _ => ring.remove(old).expect("remove"),
        }
        for (from, sender) in nodes.iter_mut().enumerate() {
            for to in (0..3).filter(|&to| to != from) {
                let bytes = sender.seal(b"hello", now, &mut rng).expect("seal");
                in_flight.push((to, bytes));
            }
        }
    }
    now += 10;
    for (to, bytes) in in_flight.drain(..) {
        assert_eq!(nodes[to].open(&bytes, LIMIT, now).map(|_| ()), Ok(()));
    }
    for node in &nodes {
        assert_eq!(node.stats().rejected_total(), 0);
    }
    // An envelope under the removed key is refused now.
    let late = sealed(keys(1), b"late", now);
    check(
        &mut nodes[0],
        &late,
        now,
        Err(Error::UnknownKey { key_id: old }),
    );
}

/// Many senders flood distinct nonces: the memory stays under its bound,
/// and no envelope accepted before is accepted again, though most were
/// forgotten.
#[test]
fn a_flood_of_distinct_nonces_stays_bounded_and_lets_no_replay_through() {
    let config = ReplayConfig {
        max_per_sender: 64,
        max_total: 2_048,
        ..ReplayConfig::default()
    };
    let mut receiver = node(keys(1), 0).with_replay(config);
    let mut senders: Vec<EnvelopeCodec> = (1..=200).map(|id| node(keys(1), id)).collect();
    let mut rng = rng();
    let mut accepted = Vec::new();
    for round in 0..50u64 {
        let now = NOW + round;
        // Senders at skewed clocks, up to 5 s apart, within the window.
        for (i, sender) in senders.iter_mut().enumerate() {
            let sent = now - (i as u64 * 25);
            let bytes = sender.seal(b"x", sent, &mut rng).expect("seal");
            assert_eq!(receiver.open(&bytes, LIMIT, now).map(|_| ()), Ok(()));
            accepted.push(bytes);
            assert!(receiver.replay().remembered() <= 2_048);
            assert!(receiver.replay().senders() <= 2_048);
        }
    }
    assert_eq!(accepted.len(), 10_000);
    let now = NOW + 50;
    for bytes in &accepted {
        assert_eq!(receiver.open(bytes, LIMIT, now), Err(Error::Replay));
    }
    // Honest senders still get through.
    for sender in &mut senders {
        let bytes = sender.seal(b"x", now, &mut rng).expect("seal");
        assert_eq!(receiver.open(&bytes, LIMIT, now).map(|_| ()), Ok(()));
    }
}

/// What the property test feeds the opener.
#[derive(Clone, Debug)]
enum Hostile {
    Random(Vec<u8>),
    Truncated {
        size: usize,
        keep: usize,
    },
    Flipped {
        size: usize,
        bits: Vec<usize>,
    },
    /// A valid header, then random bytes: reaches decryption.
    RandomBody {
        plaintext: bool,
        body: Vec<u8>,
    },
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Hostile::Random),
        (0..300usize, any::<usize>()).prop_map(|(size, keep)| Hostile::Truncated { size, keep }),
        (0..300usize, prop::collection::vec(any::<usize>(), 1..4))
            .prop_map(|(size, bits)| Hostile::Flipped { size, bits }),
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..120))
            .prop_map(|(plaintext, body)| Hostile::RandomBody { plaintext, body }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100_000, ..ProptestConfig::default() })]

    /// Any bytes: a typed error or, for an untouched or plaintext envelope,
    /// the payload; never a panic; one counter per envelope. An encrypted
    /// envelope that was cut or had bits flipped is always refused.
    #[test]
    fn hostile_bytes_never_panic_and_each_gets_a_typed_error(input in hostile()) {
        let mut encrypted = node(keys(1), 2);
        let mut plain = node(Security::Plaintext, 2);
        let payload = |size: usize| (0..size).map(|i| i as u8).collect::<Vec<u8>>();
        let (bytes, must_fail) = match input {
            Hostile::Random(bytes) => (bytes, false),
            Hostile::Truncated { size, keep } => {
                let mut bytes = sealed(keys(1), &payload(size), NOW);
                bytes.truncate(keep % bytes.len());
                (bytes, true)
            }
            Hostile::Flipped { size, bits } => {
                let mut bytes = sealed(keys(1), &payload(size), NOW);
                let len = bytes.len() * 8;
                let mut distinct: Vec<usize> = bits.iter().map(|b| b % len).collect();
                distinct.sort_unstable();
                distinct.dedup();
                for bit in distinct {
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
                (bytes, true)
            }
            Hostile::RandomBody { plaintext, body } => {
                let security = if plaintext { Security::Plaintext } else { keys(1) };
                let mut bytes = sealed(security, b"", NOW);
                bytes.truncate(HEADER_LEN);
                bytes.extend(body);
                (bytes, !plaintext)
            }
        };
        for opener in [&mut encrypted, &mut plain] {
            let before = opener.stats();
            let outcome = opener.open_message::<OrSet<u64>>(&bytes, LIMIT, NOW).map(|_| ());
            if must_fail && !matches!(opener.security(), Security::Plaintext) {
                prop_assert!(outcome.is_err());
            }
            assert_exactly_one_counter_moved(before, opener.stats(), &outcome);
        }
    }
}
