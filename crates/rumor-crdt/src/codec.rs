//! Bounded binary encoding of every type with bincode 2.
//!
//! [`decode`] is for untrusted bytes: it checks the size first, caps every
//! allocation the input can ask for at about twice the input's length,
//! validates each type's invariants, rejects trailing bytes, and returns a
//! [`DecodeError`] instead of panicking.
//!
//! ```
//! use rumor_crdt::{codec, PnCounter, ReplicaId};
//!
//! let mut counter = PnCounter::new();
//! let delta = counter.decrement(ReplicaId::from_u128(1), 7);
//! let bytes = codec::encode(&delta).unwrap();
//! let back: PnCounter = codec::decode(&bytes, 1024).unwrap();
//! assert_eq!((back.value(), back), (-7, delta));
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why bytes could not be decoded.
///
/// ```
/// use rumor_crdt::{codec, codec::DecodeError, GCounter};
///
/// let outcome = match codec::decode::<GCounter>(&[1, 2, 3], 2) {
///     Ok(_) => "decoded",
///     Err(DecodeError::TooLarge { .. }) => "too large",
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
    /// The bytes are not a valid encoding of the type (truncated, corrupted,
    /// or breaking one of its invariants).
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
    bincode::serde::encode_to_vec(value, config()).map_err(|e| EncodeError(e.to_string()))
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
/// ```
/// use rumor_crdt::{codec, codec::DecodeError, OrSet, ReplicaId};
///
/// let mut set = OrSet::new();
/// set.insert(ReplicaId::from_u128(1), "apple".to_string());
/// let bytes = codec::encode(&set).unwrap();
///
/// assert!(codec::decode::<OrSet<String>>(&bytes, 4096).is_ok());
/// assert!(matches!(
///     codec::decode::<OrSet<String>>(&bytes, 4),
///     Err(DecodeError::TooLarge { .. })
/// ));
/// assert!(codec::decode::<OrSet<String>>(&bytes[..bytes.len() - 1], 4096).is_err());
/// ```
///
/// # Errors
/// [`DecodeError`] if the input is too large, malformed, or has trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    // bincode allocates a claimed length up front and checks the claim only
    // against a limit in its configuration, which must be a constant: pick the
    // smallest power of two of at least twice the input (a claim can never be
    // honoured by more bytes than the input has anyway).
    let budget = bytes.len().saturating_mul(2).max(1024);
    macro_rules! decode_within {
        ($($bits:literal)*) => {
            $(
                if budget <= (1usize << $bits) {
                    return finish(bytes, bincode::serde::decode_from_slice::<T, _>(
                        bytes,
                        config().with_limit::<{ 1usize << $bits }>(),
                    ));
                }
            )*
        };
    }
    decode_within!(10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
    Err(DecodeError::TooLarge {
        len: bytes.len(),
        limit: 1 << 30,
    })
}

fn finish<T>(
    bytes: &[u8],
    result: Result<(T, usize), bincode::error::DecodeError>,
) -> Result<T, DecodeError> {
    let (value, read) = result.map_err(|e| DecodeError::Malformed(e.to_string()))?;
    match bytes.len() - read {
        0 => Ok(value),
        extra => Err(DecodeError::TrailingBytes { extra }),
    }
}
