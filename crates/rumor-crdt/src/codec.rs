//! Bounded binary encoding of every type with bincode 2.
//!
//! [`decode`] is for untrusted bytes: it checks the size first, keeps every
//! allocation the input can ask for proportional to the input's length,
//! validates each type's invariants, rejects trailing bytes, and returns a
//! [`DecodeError`] instead of panicking.
//!
//! ```
//! use rumor_crdt::{codec, PnCounter, ReplicaId};
//!
//! let mut counter = PnCounter::new();
//! let delta = counter.decrement(ReplicaId::from_u128(1), 7);
//! let bytes = codec::encode(&delta).unwrap();
//! let back: PnCounter = codec::decode(&bytes, codec::DEFAULT_LIMIT).unwrap();
//! assert_eq!((back.value(), back), (-7, delta));
//! ```
//!
//! # What a decode may allocate
//!
//! The caller's `limit` caps the input's length and nothing else: every value
//! [`encode`] produces decodes under any limit at least as long as its
//! encoding (the property `every_encoded_state_decodes_back_equal` in
//! `tests/codec_roundtrip.rs`). Allocation is bounded by the input itself:
//!
//! - A string's or byte string's length prefix is checked against the bytes
//!   left *before* anything is allocated for it ([`DecodeError::Truncated`]
//!   if it runs past them). Together, strings take at most the input's length.
//! - A sequence's or map's length prefix never reaches the collection that
//!   decodes it as a size hint (what `Vec`, `SmallVec` and the like
//!   preallocate from): a collection grows only with the elements actually
//!   decoded, each of which consumed input (every element of every wire
//!   type takes at least one byte, so the claim cannot make the decode spin
//!   either). Growing by doubling costs nothing measurable against decoding
//!   the elements.
//!
//! So what a decode holds at its peak is what the decoded value and its wire
//! form take in memory, whatever the length prefixes claim: a small constant
//! times the input's length, the constant being how much larger the types
//! are in memory than on the wire. `tests/bad_input.rs` measures it with a
//! counting allocator: at most 48 bytes per input byte (plus 4 KiB), honest
//! or hostile; the most, 44, for an honest OR-Set of small numbers from one
//! writer (3 bytes an element on the wire, a B-tree slot with inline dots in
//! memory). This holds as long as no `Deserialize` impl preallocates from a
//! number it decoded, which the types of this crate follow.
//!
//! bincode's own `with_limit` budget is not used: it charges each value at
//! its width in memory (8 bytes for a `u64` whose varint is one byte), so a
//! budget tied to the input's length refused honest messages made of small
//! numbers, while it never bounded what serde visitors preallocate (serde's
//! `Vec` up to 1 MiB per length prefix, `SmallVec` the whole claim).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::de::DeserializeOwned;
use serde::Serialize;

mod bounded;

/// Why bytes could not be decoded.
///
/// ```
/// use rumor_crdt::{codec, codec::DecodeError, GCounter};
///
/// let outcome = match codec::decode::<GCounter>(&[1, 2, 3], 2) {
///     Ok(_) => "decoded",
///     Err(DecodeError::TooLarge { .. }) => "too large",
///     Err(DecodeError::Truncated) => "truncated",
///     Err(DecodeError::Malformed(_)) => "malformed",
///     Err(DecodeError::TrailingBytes { .. }) => "trailing bytes",
/// };
/// assert_eq!(outcome, "too large");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than the limit the caller allowed; nothing was read.
    ///
    /// ```
    /// use rumor_crdt::{codec, codec::DecodeError, GCounter};
    ///
    /// let err = codec::decode::<GCounter>(&[0; 2048], 1024).unwrap_err();
    /// assert_eq!(err, DecodeError::TooLarge { len: 2048, limit: 1024 });
    /// assert_eq!(err.to_string(), "input of 2048 bytes exceeds the limit of 1024 bytes");
    /// ```
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The caller's limit.
        limit: usize,
    },
    /// The input ends before the value does: it was cut short, or a length
    /// prefix claims more bytes or elements than are left. Nothing was
    /// allocated for what the prefix claims beyond the input.
    ///
    /// ```
    /// use rumor_crdt::{codec, codec::DecodeError, LwwRegister};
    ///
    /// // A string that claims 2^32 - 1 bytes, followed by three.
    /// let bytes = [&[0xFC, 0xFF, 0xFF, 0xFF, 0xFF][..], b"abc"].concat();
    /// assert_eq!(codec::decode::<String>(&bytes, 1024), Err(DecodeError::Truncated));
    /// let bytes = codec::encode(&"abc").unwrap();
    /// assert_eq!(codec::decode::<String>(&bytes[..2], 1024), Err(DecodeError::Truncated));
    /// ```
    #[error("input ends before the value does")]
    Truncated,
    /// The bytes are not a valid encoding of the type (corrupted, or breaking
    /// one of its invariants).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use rumor_crdt::{codec, codec::DecodeError, GCounter, ReplicaId};
    ///
    /// let zero_entry = BTreeMap::from([(ReplicaId::from_u128(1), 0u64)]); // never valid
    /// let bytes = codec::encode(&zero_entry).unwrap();
    /// let err = codec::decode::<GCounter>(&bytes, 1024).unwrap_err();
    /// assert!(matches!(err, DecodeError::Malformed(ref why) if why.contains("zero entry")));
    /// ```
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A value was decoded but bytes were left over.
    ///
    /// ```
    /// use rumor_crdt::{codec, codec::DecodeError, GCounter};
    ///
    /// let mut bytes = codec::encode(&GCounter::new()).unwrap();
    /// bytes.extend([7, 7]);
    /// let err = codec::decode::<GCounter>(&bytes, 1024).unwrap_err();
    /// assert_eq!(err, DecodeError::TrailingBytes { extra: 2 });
    /// ```
    #[error("{extra} trailing bytes after the value")]
    TrailingBytes {
        /// How many bytes were left.
        extra: usize,
    },
}

/// Why a value could not be encoded.
///
/// ```
/// use rumor_crdt::codec;
///
/// struct Refuses;
/// impl serde::Serialize for Refuses {
///     fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
///         Err(serde::ser::Error::custom("not today"))
///     }
/// }
/// let err: codec::EncodeError = codec::encode(&Refuses).unwrap_err();
/// assert!(err.to_string().starts_with("cannot encode: ") && err.to_string().contains("not today"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode: {0}")]
pub struct EncodeError(String);

/// A decode limit for one message where the transport sets none tighter
/// (a stream frame): 16 MiB. Every value [`encode`] produces that is no
/// longer than this decodes under it.
///
/// ```
/// use rumor_crdt::{codec, GCounter, ReplicaId};
///
/// let mut counter = GCounter::new();
/// for r in 1..=10_000 {
///     counter.increment(ReplicaId::from_u128(r), u64::MAX - r as u64);
/// }
/// let bytes = codec::encode(&counter).unwrap();
/// assert!(bytes.len() > 200_000);
/// assert_eq!(codec::decode::<GCounter>(&bytes, codec::DEFAULT_LIMIT), Ok(counter));
/// ```
pub const DEFAULT_LIMIT: usize = 16 << 20;

/// The bincode configuration used on the wire: little-endian, varint integers.
fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` with bincode 2 (standard configuration).
///
/// ```
/// use rumor_crdt::{codec, GCounter, ReplicaId};
///
/// let mut counter = GCounter::new();
/// let delta = counter.increment(ReplicaId::from_u128(1), 1);
/// let bytes = codec::encode(&delta).unwrap();
/// assert!(bytes.len() <= 48);
/// let back: GCounter = codec::decode(&bytes, 1024).unwrap();
/// assert_eq!(back, delta);
/// ```
///
/// # Errors
/// Only if a user-supplied element type refuses to serialize.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    // bincode's `encode_to_vec` starts empty and grows 8, 16, 32, 64, 128:
    // five reallocations for a gossip message of about 100 bytes, 3 % of a
    // 1,000-agent swarm's CPU.
    let mut out = VecWriter(Vec::with_capacity(ENCODE_CAPACITY));
    bincode::serde::encode_into_writer(value, &mut out, config())
        .map_err(|e| EncodeError(e.to_string()))?;
    Ok(out.0)
}

/// The buffer [`encode`] starts with: most gossip messages fit.
const ENCODE_CAPACITY: usize = 256;

/// Appends what bincode writes.
struct VecWriter(Vec<u8>);

impl bincode::enc::write::Writer for &mut VecWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// The number of bytes [`encode`] would produce, computed without
/// allocating the output.
///
/// ```
/// use rumor_crdt::{codec, GCounter, ReplicaId};
///
/// let mut counter = GCounter::new();
/// counter.increment(ReplicaId::from_u128(1), 300);
/// assert_eq!(codec::encoded_len(&counter).unwrap(), codec::encode(&counter).unwrap().len());
/// ```
///
/// # Errors
/// Only if a user-supplied element type refuses to serialize.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, EncodeError> {
    let mut counter = ByteCounter(0);
    bincode::serde::encode_into_writer(value, &mut counter, config())
        .map_err(|e| EncodeError(e.to_string()))?;
    Ok(counter.0)
}

/// A 64-bit FNV-1a hash of the bytes [`encode`] would produce, computed
/// without allocating them. The encoding is the wire format, so equal values
/// hash equally on every platform and build: a cheap digest to compare two
/// replicas' causal contexts before exchanging them.
///
/// ```
/// use rumor_crdt::{codec, Crdt, GCounter, ReplicaId};
///
/// let (mut a, mut b) = (GCounter::new(), GCounter::new());
/// a.increment(ReplicaId::from_u128(1), 2);
/// b.increment(ReplicaId::from_u128(1), 2);
/// assert_eq!(codec::fingerprint(&a.context()).unwrap(), codec::fingerprint(&b.context()).unwrap());
/// b.increment(ReplicaId::from_u128(2), 1);
/// assert_ne!(codec::fingerprint(&a.context()).unwrap(), codec::fingerprint(&b.context()).unwrap());
/// ```
///
/// # Errors
/// Only if a user-supplied element type refuses to serialize.
pub fn fingerprint<T: Serialize + ?Sized>(value: &T) -> Result<u64, EncodeError> {
    let mut hasher = Fnv1a(0xcbf2_9ce4_8422_2325);
    bincode::serde::encode_into_writer(value, &mut hasher, config())
        .map_err(|e| EncodeError(e.to_string()))?;
    Ok(hasher.0)
}

/// A bincode writer that hashes (FNV-1a, 64 bits).
struct Fnv1a(u64);

impl bincode::enc::write::Writer for &mut Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(())
    }
}

/// A bincode writer that only counts.
struct ByteCounter(usize);

impl bincode::enc::write::Writer for &mut ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0 += bytes.len();
        Ok(())
    }
}

/// Decodes one `T` from exactly `bytes`, refusing inputs over `limit` bytes.
///
/// What the decode allocates stays proportional to the input (see the
/// [module docs](self)); `limit` only caps the input's length, so every
/// value [`encode`] produces decodes under any `limit` at least as long as
/// its encoding, such as [`DEFAULT_LIMIT`].
///
/// ```
/// use rumor_crdt::{codec, codec::DecodeError, OrSet, ReplicaId};
///
/// let mut set = OrSet::new();
/// set.insert(ReplicaId::from_u128(1), "apple".to_string());
/// let bytes = codec::encode(&set).unwrap();
///
/// assert_eq!(codec::decode::<OrSet<String>>(&bytes, codec::DEFAULT_LIMIT), Ok(set));
/// assert!(matches!(
///     codec::decode::<OrSet<String>>(&bytes, 4),
///     Err(DecodeError::TooLarge { .. })
/// ));
/// assert_eq!(
///     codec::decode::<OrSet<String>>(&bytes[..bytes.len() - 1], 4096),
///     Err(DecodeError::Truncated)
/// );
/// ```
///
/// # Errors
/// [`DecodeError`] if the input is too large, cut short, malformed, or has
/// trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let cursor = bounded::Cursor::default();
    let result = bounded::deserialize::<T, _>(bounded::Input::new(bytes, &cursor), config());
    let value = result.map_err(|e| match e {
        _ if cursor.past_end() => DecodeError::Truncated,
        bincode::error::DecodeError::UnexpectedEnd { .. } => DecodeError::Truncated,
        other => DecodeError::Malformed(other.to_string()),
    })?;
    match bytes.len().saturating_sub(cursor.read()) {
        0 => Ok(value),
        extra => Err(DecodeError::TrailingBytes { extra }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrSet, ReplicaId};

    /// Issue 14, item 4: bincode charged 8 bytes of its budget for every
    /// one-byte varint `u64`, and the budget was tied to the input's length,
    /// so 100 small numbers (324 bytes) were refused as `LimitExceeded`.
    #[test]
    fn a_set_of_a_hundred_small_numbers_decodes() {
        let mut set = OrSet::new();
        for i in 0..100u64 {
            set.insert(ReplicaId::from_u128(1), i);
        }
        let bytes = encode(&set).expect("encode");
        assert_eq!(decode::<OrSet<u64>>(&bytes, 1 << 24), Ok(set));
    }
}
