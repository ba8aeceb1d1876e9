//! Replica identity ([`ReplicaId`]) and single write events ([`Dot`]).

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The identity of one replica: a UUID, unique per agent (and per restart that
/// lost its state).
///
/// `ReplicaId` is `Copy`, totally ordered and hashable. The order is used to
/// break ties between equal clock readings, so it must be the same on every
/// replica, which the UUID's byte order guarantees.
///
/// ```
/// use rumor_crdt::ReplicaId;
///
/// let a = ReplicaId::from_u128(1);
/// let b = ReplicaId::from_random_bytes([7; 16]);
/// assert_ne!(a, b);
/// assert_eq!(a, ReplicaId::from_u128(1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReplicaId(Uuid);

impl ReplicaId {
    /// A fresh random (v4) id from the operating system's RNG.
    ///
    /// Core logic that must be reproducible should take its id from outside
    /// (see [`ReplicaId::from_random_bytes`]) instead.
    ///
    /// ```
    /// let id = rumor_crdt::ReplicaId::random();
    /// assert_ne!(id, rumor_crdt::ReplicaId::random());
    /// ```
    #[cfg(feature = "std")]
    #[must_use]
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// A v4 id built from 16 random bytes supplied by the caller (a seeded RNG
    /// in a simulator, a hardware RNG on a microcontroller).
    ///
    /// ```
    /// let id = rumor_crdt::ReplicaId::from_random_bytes([42; 16]);
    /// assert_eq!(id.as_uuid().get_version_num(), 4);
    /// ```
    #[must_use]
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// An id from a plain number; handy for tests and dense simulator ids.
    ///
    /// ```
    /// let id = rumor_crdt::ReplicaId::from_u128(3);
    /// assert_eq!(id.as_u128(), 3);
    /// ```
    #[must_use]
    pub const fn from_u128(value: u128) -> Self {
        Self(Uuid::from_u128(value))
    }

    /// Wraps an existing UUID.
    ///
    /// ```
    /// let uuid = uuid::Uuid::from_u128(9);
    /// assert_eq!(rumor_crdt::ReplicaId::from_uuid(uuid).as_uuid(), &uuid);
    /// ```
    #[must_use]
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The underlying UUID.
    ///
    /// ```
    /// let id = rumor_crdt::ReplicaId::from_u128(7);
    /// assert_eq!(id.as_uuid(), &uuid::Uuid::from_u128(7));
    /// assert_eq!(id.to_string(), id.as_uuid().to_string());
    /// ```
    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The id as a number.
    ///
    /// ```
    /// use rumor_crdt::ReplicaId;
    ///
    /// let id = ReplicaId::from_random_bytes([1; 16]);
    /// assert_eq!(ReplicaId::from_u128(id.as_u128()), id);
    /// assert_eq!(ReplicaId::from_u128(42).as_u128(), 42);
    /// ```
    #[must_use]
    pub const fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }
}

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form: ids are printed constantly in test failures and traces.
        let n = self.0.as_u128();
        if n < 1 << 32 {
            write!(f, "R{n}")
        } else {
            let bytes = self.0.as_bytes();
            write!(
                f,
                "R{:02x}{:02x}{:02x}{:02x}",
                bytes[0], bytes[1], bytes[2], bytes[3]
            )
        }
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A UUID string in human-readable formats (JSON), 16 raw bytes in binary
/// ones (bincode: no length prefix).
impl Serialize for ReplicaId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            self.0.serialize(serializer)
        } else {
            self.0.as_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ReplicaId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            Uuid::deserialize(deserializer).map(Self)
        } else {
            <[u8; 16]>::deserialize(deserializer).map(|b| Self(Uuid::from_bytes(b)))
        }
    }
}

impl From<Uuid> for ReplicaId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

/// One write event: the `counter`-th event of `replica`. Counters start at 1.
///
/// Every write of every dot-based type is named by a dot, so that a
/// [`CausalContext`](crate::CausalContext) can say exactly which writes a
/// state has seen.
///
/// ```
/// use rumor_crdt::{Dot, ReplicaId};
///
/// let dot = Dot::new(ReplicaId::from_u128(1), 5);
/// assert_eq!(dot.counter, 5);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Dot {
    /// The replica that made the write.
    pub replica: ReplicaId,
    /// Its sequence number at that replica, from 1.
    pub counter: u64,
}

impl Dot {
    /// The `counter`-th event of `replica`.
    ///
    /// ```
    /// use rumor_crdt::{Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let dot = Dot::new(r, 2);
    /// assert_eq!((dot.replica, dot.counter), (r, 2));
    /// assert!(Dot::new(r, 1) < dot);
    /// ```
    #[must_use]
    pub const fn new(replica: ReplicaId, counter: u64) -> Self {
        Self { replica, counter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_id_is_a_uuid_string_in_json_and_16_raw_bytes_in_bincode() {
        let id = ReplicaId::from_u128(0x0102_0304);
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"00000000-0000-0000-0000-000001020304\"");
        assert_eq!(
            serde_json::from_str::<ReplicaId>(&json).expect("json back"),
            id
        );

        let bytes = crate::codec::encode(&id).expect("bincode");
        assert_eq!(bytes.len(), 16);
        assert_eq!(crate::codec::decode::<ReplicaId>(&bytes, 16), Ok(id));
    }
}
