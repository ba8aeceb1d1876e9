//! Deltas signed by their author: a node's [`Identity`] (an ed25519 key),
//! the replica id and the eager-path epochs bound to its public key
//! ([`AuthorKey`]), and the [`Seal`] a fresh delta carries along the tree
//! or in anti-entropy intervals.
//!
//! The cluster envelope keeps strangers out; a seal keeps members honest
//! about who wrote what. A member that holds the cluster key but not your
//! signing key cannot:
//! - write as you: a sealed delta's writes must all name the replica id of
//!   the key that signed it ([`Crdt::authored_only_by`](rumor_crdt::Crdt::authored_only_by)),
//!   and that id is a hash of the key;
//! - change what you wrote, or put its writes under your eager-path ids:
//!   the signature covers the delta's bytes, the id's sequence number, and
//!   the life its epoch is derived from, and the epoch is a hash of your key
//!   and that life, so it cannot name ids in your lives.
//!
//! What a seal does not cover (catch-up answers, which join many authors'
//! writes, and membership claims) is listed in `docs/PROTOCOL.md`.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rumor_crdt::{codec, ReplicaId};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::swim::{MemberUpdate, Status};

/// Domain separation: a signature over a delta is never valid as anything
/// else, and hashes of keys for ids and epochs never collide.
const DELTA_DOMAIN: &[u8] = b"rumor/delta/v1\0";
const REPLICA_DOMAIN: &[u8] = b"rumor/replica/v1\0";
const EPOCH_DOMAIN: &[u8] = b"rumor/epoch/v1\0";
const MEMBER_DOMAIN: &[u8] = b"rumor/member/v1\0";

/// A [`Seal`]'s size on the wire.
pub(crate) const SEAL_BYTES: usize = 104;

/// A node's signing key: the private half of its authorship.
///
/// Sans-io, like the rest of the core: the secret comes from outside (the
/// operating system's RNG in a real agent, a seed in the simulator).
///
/// ```
/// use rumor_gossip::Identity;
///
/// let me = Identity::from_secret([7; 32]);
/// assert_eq!(me.replica_id(), me.author().replica_id());
/// assert_ne!(me.replica_id(), Identity::from_secret([8; 32]).replica_id());
/// // Debug never prints the secret.
/// assert!(!format!("{me:?}").contains("07"));
/// ```
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    author: AuthorKey,
}

impl Identity {
    /// The identity whose ed25519 secret key is `secret` (32 random bytes).
    #[must_use]
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&secret);
        let author = AuthorKey(key.verifying_key().to_bytes());
        Self { key, author }
    }

    /// The public key, as sealed deltas carry it.
    #[must_use]
    pub const fn author(&self) -> AuthorKey {
        self.author
    }

    /// The replica id this identity writes as: every write of a delta it
    /// seals must name it, or receivers refuse the delta.
    #[must_use]
    pub fn replica_id(&self) -> ReplicaId {
        self.author.replica_id()
    }

    /// Seals the delta whose encoding ([`rumor_crdt::codec::encode`]) is
    /// `delta`, as the `seq`-th eager broadcast of the life `life`, whose
    /// epoch is [`AuthorKey::epoch`]`(life)`. A node does it for each of its
    /// writes ([`Node::with_identity`](crate::Node::with_identity)); it is
    /// public for peers written by hand, and for tests that forge.
    ///
    /// ```
    /// use rumor_gossip::Identity;
    ///
    /// let me = Identity::from_secret([5; 32]);
    /// let seal = me.seal(1, 0, b"a delta's bytes");
    /// let epoch = me.author().epoch(1);
    /// assert!(seal.verify(epoch, 0, b"a delta's bytes").is_ok());
    /// assert!(seal.verify(epoch, 0, b"other bytes").is_err());
    /// ```
    #[must_use]
    pub fn seal(&self, life: u64, seq: u64, delta: &[u8]) -> Seal {
        let signature = self.key.sign(&signed_bytes(&self.author, life, seq, delta));
        Seal {
            author: self.author,
            life,
            signature: signature.to_bytes(),
        }
    }

    /// Signs a membership claim this node makes: about itself (alive at an
    /// incarnation, left), or a suspicion or death it declares (`by` is
    /// this node). The proof covers the member, the incarnation, the status
    /// and `by`, not the proof field itself. A node with an identity signs
    /// its claims itself ([`Node::with_identity`](crate::Node::with_identity));
    /// this is public for peers written by hand, and for tests that forge.
    ///
    /// `None` if the member's address cannot be encoded.
    ///
    /// ```
    /// use rumor_gossip::{Identity, MemberUpdate, Status};
    ///
    /// let me = Identity::from_secret([5; 32]);
    /// let mut claim = MemberUpdate { peer: 1u32, incarnation: 3, status: Status::Alive, by: 1, proof: None };
    /// claim.proof = me.sign_claim(&claim);
    /// assert!(claim.proof.unwrap().verify(&claim).is_ok());
    /// // Any other claim, a death at the same incarnation say, does not verify.
    /// let forged = MemberUpdate { status: Status::Dead, ..claim };
    /// assert!(claim.proof.unwrap().verify(&forged).is_err());
    /// ```
    #[must_use]
    pub fn sign_claim<P: Serialize>(&self, claim: &MemberUpdate<P>) -> Option<Proof> {
        let bytes = claim_bytes(&self.author, claim)?;
        Some(Proof {
            key: self.author,
            signature: self.key.sign(&bytes).to_bytes(),
        })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("replica_id", &self.replica_id())
            .finish_non_exhaustive()
    }
}

/// An author's public key (ed25519, 32 bytes): the replica id it writes
/// as, and the epochs of its lives, are hashes of it.
///
/// ```
/// use rumor_gossip::Identity;
///
/// let author = Identity::from_secret([1; 32]).author();
/// assert_ne!(author.epoch(1), author.epoch(2));
/// assert_ne!(author.epoch(1), Identity::from_secret([2; 32]).author().epoch(1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuthorKey([u8; 32]);

impl AuthorKey {
    /// The key's bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The replica id bound to this key: the first 16 bytes of a SHA-256
    /// of it, as a version-4 UUID.
    #[must_use]
    pub fn replica_id(&self) -> ReplicaId {
        let hash = Sha256::new()
            .chain_update(REPLICA_DOMAIN)
            .chain_update(self.0)
            .finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&hash[..16]);
        ReplicaId::from_random_bytes(bytes)
    }

    /// The eager-path epoch ([`DeltaId::epoch`](crate::DeltaId::epoch)) of
    /// this author's life `life`: 64 bits of a SHA-256 of the key and the
    /// life. Another key finds a life giving the same epoch only by trying
    /// about 2⁶⁴ of them.
    #[must_use]
    pub fn epoch(&self, life: u64) -> u64 {
        let hash = Sha256::new()
            .chain_update(EPOCH_DOMAIN)
            .chain_update(self.0)
            .chain_update(life.to_le_bytes())
            .finalize();
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&hash[..8]);
        u64::from_le_bytes(bytes)
    }
}

impl fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AuthorKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// An author's signature over one eager-path delta: 104 bytes on the wire
/// (the key, the life, the signature). Forwarders pass it on unchanged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// Who wrote the delta.
    pub author: AuthorKey,
    /// The author's life whose epoch names the delta.
    pub life: u64,
    signature: [u8; 64],
}

/// Why a sealed delta was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The delta carries no seal, and this node accepts only sealed deltas.
    #[error("the delta is not sealed")]
    Missing,
    /// The id's epoch is not the author's epoch for the sealed life.
    #[error("the delta's epoch is not its author's")]
    Epoch,
    /// The author's key is not a valid ed25519 point, or the signature does
    /// not verify (strictly).
    #[error("the delta's signature does not verify")]
    Signature,
    /// The delta's writes name a replica other than the author's.
    #[error("the delta's writes name a replica other than its author")]
    Writer,
    /// The delta could not be encoded to check its signature.
    #[error("the delta could not be encoded")]
    Encode,
}

impl Seal {
    /// Checks that this seal signs the delta encoded as `delta`, named by
    /// `epoch` and `seq` (a receiver also checks that the delta's writes
    /// name [`AuthorKey::replica_id`]).
    ///
    /// # Errors
    /// [`SealError::Epoch`] if `epoch` is not the author's for the sealed
    /// life, [`SealError::Signature`] if the signature does not verify.
    pub fn verify(&self, epoch: u64, seq: u64, delta: &[u8]) -> Result<(), SealError> {
        if self.author.epoch(self.life) != epoch {
            return Err(SealError::Epoch);
        }
        let key = VerifyingKey::from_bytes(&self.author.0).map_err(|_| SealError::Signature)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(
            &signed_bytes(&self.author, self.life, seq, delta),
            &signature,
        )
        .map_err(|_| SealError::Signature)
    }

    /// The signature's bytes.
    #[must_use]
    pub const fn signature(&self) -> [u8; 64] {
        self.signature
    }
}

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seal")
            .field("author", &self.author)
            .field("life", &self.life)
            .finish_non_exhaustive()
    }
}

/// A membership claim's signature by its maker: the member itself for
/// "alive" and "left", the suspecter for "suspect" and "dead". 96 bytes on
/// the wire (the key, the signature); relays pass it on unchanged.
///
/// A receiver with an identity binds a member's address to the key of
/// the first valid self-claim that comes directly from that address, and
/// then takes claims made in that member's name only under that key
/// (`docs/PROTOCOL.md`, "What a member can forge").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proof {
    /// The maker's public key.
    pub key: AuthorKey,
    signature: [u8; 64],
}

impl Proof {
    /// Checks that this proof signs `claim` under [`Proof::key`] (the
    /// caller checks that the key is the maker's).
    ///
    /// # Errors
    /// [`SealError::Encode`] if the member cannot be encoded,
    /// [`SealError::Signature`] if the key is not a valid point or the
    /// signature does not verify (strictly).
    pub fn verify<P: Serialize>(&self, claim: &MemberUpdate<P>) -> Result<(), SealError> {
        let bytes = claim_bytes(&self.key, claim).ok_or(SealError::Encode)?;
        let key = VerifyingKey::from_bytes(&self.key.0).map_err(|_| SealError::Signature)?;
        key.verify_strict(&bytes, &Signature::from_bytes(&self.signature))
            .map_err(|_| SealError::Signature)
    }

    /// The signature's bytes.
    #[must_use]
    pub const fn signature(&self) -> [u8; 64] {
        self.signature
    }
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proof")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What a claim's maker signs: the domain, its key, the member's encoding,
/// the incarnation, the status, the maker's encoding.
fn claim_bytes<P: Serialize>(key: &AuthorKey, claim: &MemberUpdate<P>) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(MEMBER_DOMAIN.len() + 64);
    bytes.extend_from_slice(MEMBER_DOMAIN);
    bytes.extend_from_slice(&key.0);
    bytes.extend_from_slice(&codec::encode(&claim.peer).ok()?);
    bytes.extend_from_slice(&claim.incarnation.to_le_bytes());
    bytes.push(match claim.status {
        Status::Alive => 0,
        Status::Suspect => 1,
        Status::Dead => 2,
        Status::Left => 3,
    });
    bytes.extend_from_slice(&codec::encode(&claim.by).ok()?);
    Some(bytes)
}

/// What an author signs: the domain, its key, the life, the id's sequence
/// number, then the delta's encoding.
fn signed_bytes(author: &AuthorKey, life: u64, seq: u64, delta: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(DELTA_DOMAIN.len() + 48 + delta.len());
    bytes.extend_from_slice(DELTA_DOMAIN);
    bytes.extend_from_slice(&author.0);
    bytes.extend_from_slice(&life.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(delta);
    bytes
}

/// 104 bytes, no length prefix: key, life (8 bytes, little-endian, not a
/// varint), signature.
impl Serialize for Seal {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut tuple = serializer.serialize_tuple(3)?;
        tuple.serialize_element(&self.author)?;
        tuple.serialize_element(&self.life.to_le_bytes())?;
        tuple.serialize_element(&SignatureBytes(self.signature))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Seal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SealVisitor;
        impl<'de> Visitor<'de> for SealVisitor {
            type Value = Seal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a seal: key, life, signature")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seal, A::Error> {
                let author = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let life: [u8; 8] = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let life = u64::from_le_bytes(life);
                let SignatureBytes(signature) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                Ok(Seal {
                    author,
                    life,
                    signature,
                })
            }
        }
        deserializer.deserialize_tuple(3, SealVisitor)
    }
}

/// 96 bytes, no length prefix: key, signature.
impl Serialize for Proof {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.key)?;
        tuple.serialize_element(&SignatureBytes(self.signature))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Proof {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProofVisitor;
        impl<'de> Visitor<'de> for ProofVisitor {
            type Value = Proof;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim's proof: key, signature")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Proof, A::Error> {
                let key = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let SignatureBytes(signature) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(Proof { key, signature })
            }
        }
        deserializer.deserialize_tuple(2, ProofVisitor)
    }
}

/// 64 bytes as a fixed-size tuple (serde derives arrays up to 32 only).
struct SignatureBytes([u8; 64]);

impl Serialize for SignatureBytes {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut tuple = serializer.serialize_tuple(64)?;
        for byte in &self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = SignatureBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SignatureBytes, A::Error> {
                let mut bytes = [0; 64];
                for (i, byte) in bytes.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(SignatureBytes(bytes))
            }
        }
        deserializer.deserialize_tuple(64, BytesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_is_104_bytes_and_round_trips_through_the_codec() {
        let me = Identity::from_secret([3; 32]);
        let seal = me.seal(9, 4, b"delta");
        let bytes = rumor_crdt::codec::encode(&seal).expect("encode");
        assert_eq!(bytes.len(), 32 + 8 + 64);
        assert_eq!(bytes.len(), SEAL_BYTES);
        let back: Seal = rumor_crdt::codec::decode(&bytes, 1_000).expect("decode");
        assert_eq!(back, seal);
        assert_eq!(back.verify(me.author().epoch(9), 4, b"delta"), Ok(()));
    }

    #[test]
    fn a_seal_verifies_only_its_own_delta_sequence_number_and_epoch() {
        let me = Identity::from_secret([3; 32]);
        let epoch = me.author().epoch(9);
        let seal = me.seal(9, 4, b"delta");
        assert_eq!(seal.verify(epoch, 4, b"delta"), Ok(()));
        assert_eq!(seal.verify(epoch, 4, b"delte"), Err(SealError::Signature));
        assert_eq!(seal.verify(epoch, 5, b"delta"), Err(SealError::Signature));
        assert_eq!(seal.verify(epoch ^ 1, 4, b"delta"), Err(SealError::Epoch));
        // Another key claiming the same life: its epoch differs, and a
        // signature moved under the other key does not verify.
        let other = Identity::from_secret([4; 32]);
        let moved = Seal {
            author: other.author(),
            ..seal
        };
        assert_eq!(moved.verify(epoch, 4, b"delta"), Err(SealError::Epoch));
        assert_eq!(
            moved.verify(other.author().epoch(9), 4, b"delta"),
            Err(SealError::Signature)
        );
    }

    #[test]
    fn a_truncated_seal_is_a_decode_error_not_a_panic() {
        let seal = Identity::from_secret([3; 32]).seal(1, 2, b"x");
        let bytes = rumor_crdt::codec::encode(&seal).expect("encode");
        for cut in 0..bytes.len() {
            assert!(rumor_crdt::codec::decode::<Seal>(&bytes[..cut], 1_000).is_err());
        }
    }

    #[test]
    fn a_claim_proof_is_96_bytes_round_trips_and_verifies_only_its_own_claim() {
        let me = Identity::from_secret([3; 32]);
        let claim = MemberUpdate {
            peer: 7u32,
            incarnation: 2,
            status: Status::Suspect,
            by: 9,
            proof: None,
        };
        let proof = me.sign_claim(&claim).expect("a u32 encodes");
        let bytes = codec::encode(&proof).expect("encode");
        assert_eq!(bytes.len(), 96);
        let back: Proof = codec::decode(&bytes, 1_000).expect("decode");
        assert_eq!(back, proof);
        assert_eq!(back.verify(&claim), Ok(()));
        for other in [
            MemberUpdate { peer: 8, ..claim },
            MemberUpdate {
                incarnation: 3,
                ..claim
            },
            MemberUpdate {
                status: Status::Dead,
                ..claim
            },
            MemberUpdate { by: 10, ..claim },
        ] {
            assert_eq!(proof.verify(&other), Err(SealError::Signature), "{other:?}");
        }
        // The signature under another key: refused.
        let moved = Proof {
            key: Identity::from_secret([4; 32]).author(),
            ..proof
        };
        assert_eq!(moved.verify(&claim), Err(SealError::Signature));
        for cut in 0..bytes.len() {
            assert!(codec::decode::<Proof>(&bytes[..cut], 1_000).is_err());
        }
    }

    #[test]
    fn a_key_that_is_not_a_curve_point_is_refused_not_a_panic() {
        let seal = Seal {
            author: AuthorKey([0xff; 32]),
            life: 1,
            signature: [0; 64],
        };
        let epoch = seal.author.epoch(1);
        assert_eq!(seal.verify(epoch, 0, b""), Err(SealError::Signature));
    }
}
