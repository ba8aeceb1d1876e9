//! Why an envelope was refused: one [`Error`] variant per reason, and the
//! closed set of [`Reason`]s that the stats count and the logs name.
//!
//! Each variant says who is at fault when it happens: a peer that is
//! **misbehaving** (forging, replaying, corrupting, or running broken code),
//! a peer or a node that is **misconfigured** (another cluster, a key not
//! installed here, plaintext on one side only, a clock off), or the network
//! (datagrams cut, duplicated or delayed). None of them is a panic, and none
//! touched any state except [`Replay`](Error::Replay) bookkeeping for the
//! envelope that was accepted before it.

use core::fmt;

use rumor_crdt::codec::DecodeError;

use crate::keyring::KeyId;
use crate::ClusterId;

/// Why an envelope could not be opened (or, for [`Error::TooLong`] only,
/// sealed).
///
/// The checks run in the order of the variants below (except that the
/// length of an encrypted envelope's tag is checked once its flags are
/// read), and an envelope is refused with the first that fails
/// (`docs/PROTOCOL.md`, "Checks on receipt"). Everything up to
/// [`Error::Future`] is decided from the header alone, before any
/// decryption.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is longer than the caller's limit (the datagram or frame
    /// limit); nothing else was looked at. When sealing: the envelope would
    /// be longer than [`MAX_ENVELOPE_LEN`](crate::MAX_ENVELOPE_LEN).
    ///
    /// Misconfigured (a peer with a larger limit) or misbehaving (a flood).
    #[error("envelope of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// Length of the input.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The input is shorter than a header, or than a header and a tag for
    /// an encrypted envelope.
    ///
    /// The network (a cut datagram) or misbehaving.
    #[error("envelope of {len} bytes is shorter than the minimum of {min} bytes")]
    TooShort {
        /// Length of the input.
        len: usize,
        /// The least an envelope of this kind takes.
        min: usize,
    },
    /// The first three bytes are not `RMR`.
    ///
    /// Not a rumor peer at all (another protocol on this port), or noise.
    #[error("bad magic {found:02x?}")]
    BadMagic {
        /// The three bytes found.
        found: [u8; 3],
    },
    /// A protocol version this node does not speak.
    ///
    /// Misconfigured: a peer running a newer or older release.
    #[error("unsupported protocol version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// Flag bits this version does not know or does not support. Bit 1
    /// (`signed`) is reserved for author signatures and refused until they
    /// exist.
    ///
    /// Misconfigured (a newer peer) or misbehaving.
    #[error("unsupported flags {flags:#04x}")]
    UnknownFlags {
        /// The flags byte found.
        flags: u8,
    },
    /// A plaintext envelope reached a node that requires encryption.
    ///
    /// Misconfigured: the peer was started with `Security::Plaintext`.
    #[error("plaintext envelope refused: this node requires encryption")]
    PlaintextRefused,
    /// An encrypted envelope reached a node that runs in plaintext.
    ///
    /// Misconfigured: this node was started with `Security::Plaintext`
    /// and the peer with keys.
    #[error("encrypted envelope refused: this node runs in plaintext")]
    EncryptedRefused,
    /// The envelope names another cluster (its cluster id is not the hash
    /// of this node's cluster label).
    ///
    /// Misconfigured: a node of another cluster talks to this one.
    #[error("envelope of cluster {cluster_id}, not of this cluster")]
    WrongCluster {
        /// The cluster id found.
        cluster_id: ClusterId,
    },
    /// The envelope was sealed under a key this node has not installed (in
    /// plaintext: a key id other than zero).
    ///
    /// Misconfigured: a key rotation in which this node missed an
    /// `install`, or the peer `use`d a key before every node had it.
    #[error("unknown key id {key_id}")]
    UnknownKey {
        /// The key id found.
        key_id: KeyId,
    },
    /// The envelope was sent more than the replay window ago, by the
    /// sender's clock against this node's.
    ///
    /// Misbehaving (a replay of an old recording), the network (a very late
    /// datagram), or misconfigured (the sender's clock is behind).
    #[error("stale envelope: sent at {sent_ms} ms, now is {now_ms} ms")]
    Stale {
        /// The sender's clock in the nonce.
        sent_ms: u64,
        /// This node's clock.
        now_ms: u64,
    },
    /// The envelope was sent further in the future than the allowed skew.
    ///
    /// Misconfigured: the sender's clock is ahead (or this node's behind).
    /// Refused because a nonce from the future would have to be remembered
    /// for longer than the window.
    #[error("envelope from the future: sent at {sent_ms} ms, now is {now_ms} ms")]
    Future {
        /// The sender's clock in the nonce.
        sent_ms: u64,
        /// This node's clock.
        now_ms: u64,
    },
    /// The authentication tag does not match: the header, the ciphertext or
    /// the tag was changed, or the sealer used another cluster label or key
    /// with the same short ids.
    ///
    /// Misbehaving (forgery), or the network (corruption that the UDP
    /// checksum missed).
    #[error("authentication failed")]
    BadTag,
    /// This sender's nonce was already accepted inside the window (or is
    /// at or below what the replay memory forgot, see
    /// [`ReplayGuard`](crate::ReplayGuard)).
    ///
    /// Misbehaving (a replay), or the network (a duplicated datagram).
    #[error("replayed envelope")]
    Replay,
    /// The envelope was authentic but its payload does not decode as the
    /// expected type.
    ///
    /// Misbehaving, or misconfigured: a member that holds the key and runs
    /// incompatible code.
    #[error("payload does not decode: {0}")]
    Decode(#[source] DecodeError),
}

impl Error {
    /// The reason this error is counted and logged under.
    ///
    /// ```
    /// use rumor_net::{Error, Reason};
    ///
    /// assert_eq!(Error::Replay.reason(), Reason::Replay);
    /// assert_eq!(Error::Replay.reason().as_str(), "replay");
    /// ```
    #[must_use]
    pub const fn reason(&self) -> Reason {
        match self {
            Self::TooLong { .. } => Reason::TooLong,
            Self::TooShort { .. } => Reason::TooShort,
            Self::BadMagic { .. } => Reason::BadMagic,
            Self::UnsupportedVersion { .. } => Reason::UnsupportedVersion,
            Self::UnknownFlags { .. } => Reason::UnknownFlags,
            Self::PlaintextRefused => Reason::PlaintextRefused,
            Self::EncryptedRefused => Reason::EncryptedRefused,
            Self::WrongCluster { .. } => Reason::WrongCluster,
            Self::UnknownKey { .. } => Reason::UnknownKey,
            Self::Stale { .. } => Reason::Stale,
            Self::Future { .. } => Reason::Future,
            Self::BadTag => Reason::BadTag,
            Self::Replay => Reason::Replay,
            Self::Decode(_) => Reason::Decode,
        }
    }
}

/// The closed set of rejection reasons: one per [`Error`] variant. Small
/// and fixed, so it can label a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// [`Error::TooLong`].
    TooLong,
    /// [`Error::TooShort`].
    TooShort,
    /// [`Error::BadMagic`].
    BadMagic,
    /// [`Error::UnsupportedVersion`].
    UnsupportedVersion,
    /// [`Error::UnknownFlags`].
    UnknownFlags,
    /// [`Error::PlaintextRefused`].
    PlaintextRefused,
    /// [`Error::EncryptedRefused`].
    EncryptedRefused,
    /// [`Error::WrongCluster`].
    WrongCluster,
    /// [`Error::UnknownKey`].
    UnknownKey,
    /// [`Error::Stale`].
    Stale,
    /// [`Error::Future`].
    Future,
    /// [`Error::BadTag`].
    BadTag,
    /// [`Error::Replay`].
    Replay,
    /// [`Error::Decode`].
    Decode,
}

impl Reason {
    /// Every reason, in the order the checks run.
    pub const ALL: [Self; 14] = [
        Self::TooLong,
        Self::TooShort,
        Self::BadMagic,
        Self::UnsupportedVersion,
        Self::UnknownFlags,
        Self::PlaintextRefused,
        Self::EncryptedRefused,
        Self::WrongCluster,
        Self::UnknownKey,
        Self::Stale,
        Self::Future,
        Self::BadTag,
        Self::Replay,
        Self::Decode,
    ];

    /// The reason's position in [`Reason::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake-case name, for logs and metric labels.
    ///
    /// ```
    /// use rumor_net::Reason;
    ///
    /// let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    /// assert_eq!(names[0], "too_long");
    /// assert_eq!(names.last(), Some(&"decode"));
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::TooShort => "too_short",
            Self::BadMagic => "bad_magic",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownFlags => "unknown_flags",
            Self::PlaintextRefused => "plaintext_refused",
            Self::EncryptedRefused => "encrypted_refused",
            Self::WrongCluster => "wrong_cluster",
            Self::UnknownKey => "unknown_key",
            Self::Stale => "stale",
            Self::Future => "future",
            Self::BadTag => "bad_tag",
            Self::Replay => "replay",
            Self::Decode => "decode",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_in_declaration_order_with_distinct_names() {
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let mut names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
