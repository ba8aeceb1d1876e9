//! The `open_envelope` target: untrusted bytes through
//! [`EnvelopeCodec::open`] and [`EnvelopeCodec::open_message`].
//!
//! The first byte picks what the rest is:
//!
//! - bit 1 clear: an envelope, opened as it is by a node with the target's
//!   key (bit 0 clear) or in plaintext (bit 0 set), which decodes the
//!   payload as a gossip `Message<OrSet<u64>, u32>`. A fuzzer cannot forge a
//!   tag, so with the key it explores the header checks; in plaintext it
//!   reaches the payload decoder.
//! - bit 1 set: a payload (from byte 3), sealed under the target's key (or
//!   in plaintext, bit 0), then one bit flipped, the bit given by bytes 1–2
//!   (`u16`, little-endian, modulo the envelope's bits; 0 flips none), and
//!   opened: the cipher path.
//!
//! Must hold: no panic; exactly one counter moves per envelope; an accepted
//! envelope's header re-encodes to its first 61 bytes, and the same bytes a
//! second time are refused as a replay; an encrypted envelope with a bit
//! flipped is always refused, and one without opens to the payload sealed.

use rand::SeedableRng;
use rumor_crdt::{OrSet, ReplicaId};
use rumor_gossip::Message;
use rumor_net::{Cluster, EnvelopeCodec, Error, Key, Keyring, Security, Stats, HEADER_LEN};

/// The receiver's clock. Seeds are sealed at this time.
const NOW_MS: u64 = 1_700_000_000_000;
/// The target's key: `[0x42; 32]`.
const KEY: [u8; 32] = [0x42; 32];
/// The target's cluster label.
const CLUSTER: &str = "fuzz";
/// The limit on an envelope: one datagram.
const LIMIT: usize = 1_200;

/// A node of the target's cluster: with the target's key, or in plaintext.
fn envelope_node(plaintext: bool, id: u128) -> EnvelopeCodec {
    let security = if plaintext {
        Security::Plaintext
    } else {
        Security::Keys(Keyring::new(Key::from_bytes(KEY)))
    };
    EnvelopeCodec::new(security, Cluster::new(CLUSTER), ReplicaId::from_u128(id))
}

/// Untrusted bytes as an envelope (see the module docs).
///
/// ```
/// rumor_fuzz::open_envelope(b"\x00RMR\x01");
/// rumor_fuzz::open_envelope(b"\x02\x00\x00a payload to seal");
/// rumor_fuzz::open_envelope(b"\x02\x07\x00a payload to seal, then flip bit 7");
/// ```
pub fn open_envelope(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let plaintext = mode & 1 != 0;
    let mut receiver = envelope_node(plaintext, 2);
    if mode & 2 == 0 {
        let before = receiver.stats();
        let outcome = receiver.open_message::<Message<OrSet<u64>, u32>>(rest, LIMIT, NOW_MS);
        one_counter_moved(before, receiver.stats(), outcome.as_ref().err());
        if let Ok((header, _)) = outcome {
            check_accepted(&mut receiver, rest, &header.to_bytes());
        }
        return;
    }
    let Some((flip, payload)) = rest.split_at_checked(2) else {
        return;
    };
    let mut sender = envelope_node(plaintext, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let Ok(mut envelope) = sender.seal(payload, NOW_MS, &mut rng) else {
        panic!("a {}-byte payload could not be sealed", payload.len());
    };
    let bit = usize::from(u16::from_le_bytes([flip[0], flip[1]])) % (envelope.len() * 8);
    if bit != 0 {
        envelope[bit / 8] ^= 1 << (bit % 8);
    }
    let before = receiver.stats();
    let outcome = receiver.open(&envelope, usize::MAX, NOW_MS);
    one_counter_moved(before, receiver.stats(), outcome.as_ref().err());
    match outcome {
        Ok(opened) => {
            assert!(
                bit == 0 || plaintext,
                "bit {bit} flipped in an encrypted envelope, and it was accepted"
            );
            if bit == 0 {
                assert_eq!(opened.payload, payload, "the payload changed on the way");
            }
            check_accepted(&mut receiver, &envelope, &opened.header.to_bytes());
        }
        Err(error) => assert!(
            bit != 0,
            "an untouched envelope was refused: {error} ({} byte payload)",
            payload.len()
        ),
    }
}

/// An accepted envelope's header is its first bytes, and it is not
/// accepted twice.
fn check_accepted(receiver: &mut EnvelopeCodec, bytes: &[u8], header: &[u8; HEADER_LEN]) {
    assert_eq!(
        &bytes[..HEADER_LEN],
        header,
        "the header does not re-encode to its bytes"
    );
    let again = receiver.open(bytes, usize::MAX, NOW_MS);
    assert_eq!(
        again,
        Err(Error::Replay),
        "an accepted envelope was accepted again"
    );
}

/// Exactly one counter moved by one: `accepted`, or the error's own.
fn one_counter_moved(before: Stats, after: Stats, error: Option<&Error>) {
    match error {
        None => {
            assert_eq!(after.accepted, before.accepted + 1);
            assert_eq!(after.rejected_total(), before.rejected_total());
        }
        Some(error) => {
            let reason = error.reason();
            assert_eq!(
                after.rejected(reason),
                before.rejected(reason) + 1,
                "{reason}"
            );
            assert_eq!(
                after.rejected_total(),
                before.rejected_total() + 1,
                "{reason}"
            );
            assert_eq!(after.accepted, before.accepted, "{reason}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds open: the fuzzer starts from envelopes that reach the
    /// message decoder and the cipher, not only from header noise.
    #[test]
    fn the_envelope_seeds_reach_the_decoder_and_the_cipher() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/open_envelope");
        let seeds = [
            ("plaintext-ping", true),
            ("plaintext-sync", true),
            ("encrypted-ping", true),
            ("not-an-envelope", false),
        ];
        for (name, accepted) in seeds {
            let data = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let Some((&mode, envelope)) = data.split_first() else {
                panic!("{name} is empty");
            };
            let mut node = envelope_node(mode & 1 != 0, 2);
            let outcome = node.open_message::<Message<OrSet<u64>, u32>>(envelope, LIMIT, NOW_MS);
            assert_eq!(outcome.is_ok(), accepted, "{name}: {:?}", outcome.err());
        }
    }
}
