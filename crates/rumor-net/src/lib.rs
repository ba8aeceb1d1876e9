//! The runtime layer of rumor: the authenticated envelope every packet
//! travels in, the keyring and the replay protection (pure code: time
//! (`now_ms`) and randomness come in as arguments), the transports that
//! carry envelopes between nodes (UDP and TCP on one port, or in memory for
//! tests), and the tokio runtime that drives a gossip node over them. The
//! transports and the runtime are the only parts that open sockets, spawn
//! tasks and read the clock.
//!
//! ```
//! use rand::SeedableRng;
//! use rumor_crdt::{codec, OrSet, ReplicaId};
//! use rumor_net::{Cluster, EnvelopeCodec, Error, Key, Keyring, Security};
//!
//! let key = Key::from_bytes([7; 32]); // in production: Key::generate(&mut os_rng)
//! let node = |id| {
//!     let security = Security::Keys(Keyring::new(key.clone()));
//!     EnvelopeCodec::new(security, Cluster::new("prod-eu"), ReplicaId::from_u128(id))
//! };
//! let (mut alice, mut bob) = (node(1), node(2));
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0); // in production: the OS RNG
//!
//! // Alice sends a delta.
//! let mut set = OrSet::new();
//! let delta = set.insert(alice.sender(), "apple".to_string());
//! let now_ms = 1_700_000_000_000;
//! let datagram = alice.seal(&codec::encode(&delta)?, now_ms, &mut rng)?;
//!
//! // Bob opens it, authenticated and decoded under the datagram limit.
//! let (header, received): (_, OrSet<String>) = bob.open_message(&datagram, 1_200, now_ms + 3)?;
//! assert_eq!((header.sender, received), (alice.sender(), delta));
//!
//! // The same datagram again is a replay: refused, counted, never a panic.
//! assert_eq!(bob.open(&datagram, 1_200, now_ms + 5), Err(Error::Replay));
//! assert_eq!((bob.stats().accepted, bob.stats().replay), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | [`envelope`] | the header layout, [`Cluster`], [`Security`], [`EnvelopeCodec`] (seal, open) |
//! | [`keyring`] | [`Key`] (wiped on drop, never printed), [`Keyring`] (install, use, remove, list), key text and key files |
//! | [`replay`] | [`ReplayGuard`]: the time window, and the bounded memory of accepted nonces |
//! | [`error`] | [`Error`]: one variant per rejection; [`Reason`], their closed set |
//! | [`stats`] | [`Stats`]: a counter per reason; [`LogLimiter`]: one log line per reason per interval |
//! | [`runtime`] | [`Gossip`]: the tokio runtime that drives a gossip node, and its [`GossipHandle`] (update, read, subscribe, members, stats, leave, shutdown) |
//! | [`transport`] | the [`Transport`] trait, [`NetTransport`] (UDP + TCP on one port), [`MemoryTransport`] and its [`MemoryNetwork`], [`Inbox`], [`TransportStats`] |
//!
//! # Runtime
//!
//! [`Gossip::builder`] binds a [`NetTransport`] and starts one task that owns
//! a `rumor_gossip::Node` (peers are socket addresses, the membership a full
//! view, [`Strategy::Eager`](rumor_gossip::Strategy::Eager) by default): it
//! reads the clock, seeds from the OS, ticks every `interval_ms` and at
//! `poll_timeout`, seals what the node sends (membership before data) and
//! opens what arrives, counting every refusal. The [`GossipHandle`] it
//! returns updates, reads, subscribes to changes, lists members, reports
//! [`GossipStats`], changes the keyring, leaves and shuts down; see the
//! [`runtime`] module for an example.
//!
//! Every item is also at the crate root. `docs/PROTOCOL.md` ("Envelope", "Transport")
//! specifies the wire format byte by byte.

/// The methods and formatting of a 4-byte id that travels in the envelope
/// header (`KeyId`, `ClusterId`): its wire bytes, and hex for people.
macro_rules! wire_id {
    ($name:ident) => {
        impl $name {
            /// The id from its 4 wire bytes.
            #[must_use]
            pub const fn from_bytes(bytes: [u8; 4]) -> Self {
                Self(bytes)
            }

            /// The 4 wire bytes.
            #[must_use]
            pub const fn to_bytes(self) -> [u8; 4] {
                self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

pub mod envelope;
pub mod error;
pub mod keyring;
pub mod replay;
pub mod runtime;
pub mod stats;
pub mod transport;

pub use envelope::{
    Cluster, ClusterId, EnvelopeCodec, Header, Nonce, Opened, Security, DEFAULT_LOG_INTERVAL_MS,
    FLAG_PLAINTEXT, FLAG_SIGNED, HEADER_LEN, MAGIC, MAX_ENVELOPE_LEN, TAG_LEN, VERSION,
};
pub use error::{Error, Reason};
pub use keyring::{Key, KeyError, KeyId, KeyInfo, Keyring, KEY_LEN};
pub use replay::{ReplayConfig, ReplayGuard};
pub use runtime::{
    ByKind, Change, Gossip, GossipBuilder, GossipError, GossipHandle, GossipStats, MemberCounts,
    State, Subscription, Traffic, CHANGE_CAPACITY, COMMAND_CAPACITY, DEFAULT_CLUSTER,
    SEED_RESOLVE_INTERVAL,
};
pub use stats::{LogLimiter, Stats};
pub use transport::memory::{MemoryConfig, MemoryError, MemoryNetwork, MemoryTransport};
pub use transport::net::{BindError, NetTransport, TransportConfig};
pub use transport::{
    canonical, Authenticate, Class, CloseReason, ConfigError, DropReason, Inbox, Incoming, Latency,
    SendError, Transport, TransportStats, Via,
};
