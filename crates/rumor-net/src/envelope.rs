//! The envelope: a fixed 61-byte header, then the payload sealed with
//! XChaCha20-Poly1305 and its 16-byte tag (`docs/PROTOCOL.md`, "Envelope",
//! specifies every byte).
//!
//! ```text
//! offset  size  field
//!      0     3  magic "RMR"
//!      3     1  version (1)
//!      4     1  flags: bit 0 plaintext, bit 1 signed (reserved), others 0
//!      5     4  key id
//!      9     4  cluster id
//!     13    24  nonce: sender's clock (u64 ms, little-endian) ‖ 16 random bytes
//!     37    16  sender replica id (UUID bytes)
//!     53     8  incarnation (u64, little-endian)
//!     61     n  ciphertext of the payload (the payload itself in plaintext)
//!   61+n    16  tag (absent in plaintext)
//! ```
//!
//! The associated data is the 61 header bytes followed by the cluster
//! label, so the header cannot be changed and an envelope of another
//! cluster cannot be opened even if the clusters share a key.

use core::fmt;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Tag, XNonce};
use rand::CryptoRng;
use rumor_crdt::{codec, ReplicaId};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::keyring::{KeyId, Keyring};
use crate::replay::{ReplayConfig, ReplayGuard};
use crate::stats::{LogLimiter, Stats};
use crate::{Error, Reason};

/// The first three bytes of every envelope.
pub const MAGIC: [u8; 3] = *b"RMR";
/// The protocol version this crate seals and opens.
pub const VERSION: u8 = 1;
/// Flag bit 0: the payload is in plaintext, with no tag.
pub const FLAG_PLAINTEXT: u8 = 0b0000_0001;
/// Flag bit 1, reserved: the payload will carry its author's signatures
/// (ed25519). Refused by this version ([`Error::UnknownFlags`]).
pub const FLAG_SIGNED: u8 = 0b0000_0010;
/// The flag bits this version accepts.
const KNOWN_FLAGS: u8 = FLAG_PLAINTEXT;
/// The length of the header.
pub const HEADER_LEN: usize = 61;
/// The length of the authentication tag after the ciphertext.
pub const TAG_LEN: usize = 16;
/// The most an envelope can take: a stream frame's length is a `u32`.
pub const MAX_ENVELOPE_LEN: usize = u32::MAX as usize;
/// How often each rejection reason may be logged, by default: 10 s.
pub const DEFAULT_LOG_INTERVAL_MS: u64 = 10_000;

/// Where each header field starts (`docs/PROTOCOL.md`).
mod offset {
    pub(super) const MAGIC: usize = 0;
    pub(super) const VERSION: usize = 3;
    pub(super) const FLAGS: usize = 4;
    pub(super) const KEY_ID: usize = 5;
    pub(super) const CLUSTER_ID: usize = 9;
    pub(super) const NONCE: usize = 13;
    pub(super) const SENDER: usize = 37;
    pub(super) const INCARNATION: usize = 53;
}

/// What SHA-256 hashes, before the label, to name a cluster.
const CLUSTER_ID_DOMAIN: &[u8] = b"rumor-net cluster id\0";

/// The short public name of a cluster: the first 4 bytes of
/// `SHA-256("rumor-net cluster id\0" ‖ label)`. It travels in every
/// envelope, so a node of another cluster is told apart (and counted as
/// [`Error::WrongCluster`]) before any decryption.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClusterId([u8; 4]);

wire_id!(ClusterId);

/// A cluster's label (any bytes, e.g. `"prod-eu"`), which every envelope
/// authenticates, and its [`ClusterId`].
///
/// ```
/// use rumor_net::Cluster;
///
/// let cluster = Cluster::new("example");
/// assert_eq!(cluster.label(), b"example");
/// assert_eq!(cluster.id().to_string(), "d504abde");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Cluster {
    label: Box<[u8]>,
    id: ClusterId,
}

impl Cluster {
    /// The cluster of this label.
    #[must_use]
    pub fn new(label: impl AsRef<[u8]>) -> Self {
        let label: Box<[u8]> = label.as_ref().into();
        let digest = Sha256::new()
            .chain_update(CLUSTER_ID_DOMAIN)
            .chain_update(&label)
            .finalize();
        let mut id = [0; 4];
        id.copy_from_slice(&digest[..4]);
        Self {
            label,
            id: ClusterId(id),
        }
    }

    /// The label.
    #[must_use]
    pub fn label(&self) -> &[u8] {
        &self.label
    }

    /// The label's short id.
    #[must_use]
    pub const fn id(&self) -> ClusterId {
        self.id
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("label", &String::from_utf8_lossy(&self.label))
            .field("id", &self.id)
            .finish()
    }
}

/// The 24-byte XChaCha20 nonce: the sender's wall clock in milliseconds,
/// then 16 random bytes. The clock is what the replay window is checked
/// against; the random part makes the nonce unique under a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce {
    /// The sender's wall clock when it sealed, in ms (bytes 0..8, LE).
    pub sent_ms: u64,
    /// Random bytes (bytes 8..24).
    pub random: [u8; 16],
}

impl Nonce {
    /// The 24 wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut bytes = [0; 24];
        bytes[..8].copy_from_slice(&self.sent_ms.to_le_bytes());
        bytes[8..].copy_from_slice(&self.random);
        bytes
    }

    /// The nonce of 24 wire bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 24]) -> Self {
        let (clock, random) = bytes.split_at(8);
        Self {
            sent_ms: u64::from_le_bytes(array(clock)),
            random: array(random),
        }
    }
}

/// Copies a slice of the right length into an array (callers slice it at
/// fixed offsets, so the fallback, zeros, is never taken).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or([0; N])
}

/// An envelope's header, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The protocol version ([`VERSION`]).
    pub version: u8,
    /// The flags ([`FLAG_PLAINTEXT`]; [`FLAG_SIGNED`] is reserved).
    pub flags: u8,
    /// The key the payload was sealed under ([`KeyId::PLAINTEXT`] in
    /// plaintext).
    pub key_id: KeyId,
    /// The sender's cluster.
    pub cluster_id: ClusterId,
    /// The nonce: the sender's clock and 16 random bytes.
    pub nonce: Nonce,
    /// The sender.
    pub sender: ReplicaId,
    /// The sender's incarnation (it rises at each restart or refutation).
    pub incarnation: u64,
}

impl Header {
    /// Whether the payload is in plaintext.
    #[must_use]
    pub const fn is_plaintext(&self) -> bool {
        self.flags & FLAG_PLAINTEXT != 0
    }

    /// The 61 wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[offset::MAGIC..offset::VERSION].copy_from_slice(&MAGIC);
        bytes[offset::VERSION] = self.version;
        bytes[offset::FLAGS] = self.flags;
        bytes[offset::KEY_ID..offset::CLUSTER_ID].copy_from_slice(&self.key_id.to_bytes());
        bytes[offset::CLUSTER_ID..offset::NONCE].copy_from_slice(&self.cluster_id.to_bytes());
        bytes[offset::NONCE..offset::SENDER].copy_from_slice(&self.nonce.to_bytes());
        bytes[offset::SENDER..offset::INCARNATION]
            .copy_from_slice(&self.sender.as_u128().to_be_bytes());
        bytes[offset::INCARNATION..].copy_from_slice(&self.incarnation.to_le_bytes());
        bytes
    }

    /// Parses the header at the start of `bytes` and checks what needs no
    /// configuration: the length, the magic, the version, the flags.
    ///
    /// ```
    /// use rumor_net::{Error, Header};
    ///
    /// assert_eq!(Header::parse(b"RMR"), Err(Error::TooShort { len: 3, min: 61 }));
    /// assert_eq!(Header::parse(&[0; 61]), Err(Error::BadMagic { found: [0; 3] }));
    /// ```
    ///
    /// # Errors
    /// [`Error::TooShort`], [`Error::BadMagic`],
    /// [`Error::UnsupportedVersion`], [`Error::UnknownFlags`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(Error::TooShort {
                len: bytes.len(),
                min: HEADER_LEN,
            });
        };
        let magic: [u8; 3] = array(&bytes[offset::MAGIC..offset::VERSION]);
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = bytes[offset::VERSION];
        if version != VERSION {
            return Err(Error::UnsupportedVersion { version });
        }
        let flags = bytes[offset::FLAGS];
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Error::UnknownFlags { flags });
        }
        Ok(Self {
            version,
            flags,
            key_id: KeyId::from_bytes(array(&bytes[offset::KEY_ID..offset::CLUSTER_ID])),
            cluster_id: ClusterId(array(&bytes[offset::CLUSTER_ID..offset::NONCE])),
            nonce: Nonce::from_bytes(array(&bytes[offset::NONCE..offset::SENDER])),
            sender: ReplicaId::from_u128(u128::from_be_bytes(array(
                &bytes[offset::SENDER..offset::INCARNATION],
            ))),
            incarnation: u64::from_le_bytes(array(&bytes[offset::INCARNATION..])),
        })
    }
}

/// How a node protects its envelopes. Plaintext exists only by this name.
#[derive(Clone, Debug)]
pub enum Security {
    /// No encryption and no authentication: for loopback experiments only.
    /// Such a node refuses encrypted envelopes
    /// ([`Error::EncryptedRefused`]), and encrypted nodes refuse its
    /// envelopes ([`Error::PlaintextRefused`]), so a cluster configured
    /// half one way and half the other fails loudly.
    Plaintext,
    /// XChaCha20-Poly1305 under the keyring's keys: seal with the primary,
    /// open with any.
    Keys(Keyring),
}

/// An opened envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Its header.
    pub header: Header,
    /// The payload, decrypted.
    pub payload: Vec<u8>,
}

/// One node's side of the envelope: seals what it sends, opens what it
/// receives, remembers nonces against replays, counts and logs rejections.
///
/// Pure: time (`now_ms`, wall clock in ms) and randomness come in as
/// arguments. See the [crate docs](crate) for an example.
pub struct EnvelopeCodec {
    security: Security,
    cluster: Cluster,
    sender: ReplicaId,
    incarnation: u64,
    replay: ReplayGuard,
    stats: Stats,
    log: LogLimiter,
    /// Reused for the associated data of each envelope.
    associated_data: Vec<u8>,
}

impl EnvelopeCodec {
    /// A codec for `sender` in `cluster`, at incarnation 0, with the default
    /// replay window and bounds.
    #[must_use]
    pub fn new(security: Security, cluster: Cluster, sender: ReplicaId) -> Self {
        Self {
            security,
            cluster,
            sender,
            incarnation: 0,
            replay: ReplayGuard::new(ReplayConfig::default()),
            stats: Stats::default(),
            log: LogLimiter::new(DEFAULT_LOG_INTERVAL_MS),
            associated_data: Vec::new(),
        }
    }

    /// Seals with this incarnation.
    #[must_use]
    pub const fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = incarnation;
        self
    }

    /// Uses this replay window and these bounds (forgetting what was
    /// remembered).
    #[must_use]
    pub fn with_replay(mut self, config: ReplayConfig) -> Self {
        self.replay = ReplayGuard::new(config);
        self
    }

    /// Logs each rejection reason at most once per `interval_ms`.
    #[must_use]
    pub fn with_log_interval_ms(mut self, interval_ms: u64) -> Self {
        self.log = LogLimiter::new(interval_ms);
        self
    }

    /// Seals with this incarnation from now on (the node's incarnation
    /// rises when it restarts or refutes a suspicion).
    pub fn set_incarnation(&mut self, incarnation: u64) {
        self.incarnation = incarnation;
    }

    /// The incarnation envelopes are sealed with.
    #[must_use]
    pub const fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The replica id envelopes are sealed with.
    #[must_use]
    pub const fn sender(&self) -> ReplicaId {
        self.sender
    }

    /// The cluster.
    #[must_use]
    pub const fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// How envelopes are protected.
    #[must_use]
    pub const fn security(&self) -> &Security {
        &self.security
    }

    /// The keyring, to install, use and remove keys while running; `None`
    /// in plaintext.
    pub fn keyring_mut(&mut self) -> Option<&mut Keyring> {
        match &mut self.security {
            Security::Plaintext => None,
            Security::Keys(ring) => Some(ring),
        }
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> Stats {
        self.stats
    }

    /// The replay memory.
    #[must_use]
    pub const fn replay(&self) -> &ReplayGuard {
        &self.replay
    }

    /// Seals `payload` (bytes from `rumor_crdt::codec::encode`) at `now_ms`
    /// (this node's wall clock), under the primary key, with 16 bytes of
    /// `rng` in the nonce. The runtime passes the operating system's RNG;
    /// a seeded one is for tests.
    ///
    /// # Errors
    /// [`Error::TooLong`] if the envelope would exceed
    /// [`MAX_ENVELOPE_LEN`].
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        payload: &[u8],
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let mut random = [0; 16];
        rng.fill_bytes(&mut random);
        self.seal_with_nonce(
            payload,
            Nonce {
                sent_ms: now_ms,
                random,
            },
        )
    }

    /// [`seal`](Self::seal) with a given nonce. Reusing a nonce under a key
    /// breaks the cipher, so this stays inside the crate (tests pin bytes).
    pub(crate) fn seal_with_nonce(
        &mut self,
        payload: &[u8],
        nonce: Nonce,
    ) -> Result<Vec<u8>, Error> {
        let (flags, key_id, tag_len) = match &self.security {
            Security::Plaintext => (FLAG_PLAINTEXT, KeyId::PLAINTEXT, 0),
            Security::Keys(ring) => (0, ring.primary().id(), TAG_LEN),
        };
        let len = payload.len().saturating_add(HEADER_LEN + tag_len);
        if len > MAX_ENVELOPE_LEN {
            return Err(Error::TooLong {
                len,
                limit: MAX_ENVELOPE_LEN,
            });
        }
        let header = Header {
            version: VERSION,
            flags,
            key_id,
            cluster_id: self.cluster.id(),
            nonce,
            sender: self.sender,
            incarnation: self.incarnation,
        }
        .to_bytes();
        let mut envelope = Vec::with_capacity(len);
        envelope.extend_from_slice(&header);
        envelope.extend_from_slice(payload);
        if let Security::Keys(ring) = &self.security {
            let ad = associated_data(&mut self.associated_data, &header, self.cluster.label());
            let tag = ring
                .primary()
                .cipher()
                .encrypt_inout_detached(
                    &XNonce::from(nonce.to_bytes()),
                    ad,
                    (&mut envelope[HEADER_LEN..]).into(),
                )
                // Unreachable below MAX_ENVELOPE_LEN (the cipher allows 256 GiB).
                .map_err(|_| Error::TooLong {
                    len,
                    limit: MAX_ENVELOPE_LEN,
                })?;
            envelope.extend_from_slice(&tag);
        }
        self.stats.count_sealed(envelope.len());
        Ok(envelope)
    }

    /// Opens an envelope received at `now_ms` (this node's wall clock),
    /// refusing inputs longer than `limit` (the datagram or frame limit)
    /// before anything else. Counts the outcome in [`stats`](Self::stats)
    /// and logs a rejection at the rate limit.
    ///
    /// # Errors
    /// Every reason an envelope is refused, as the [`Error`] variant of the
    /// first check that failed; never a panic.
    pub fn open(&mut self, bytes: &[u8], limit: usize, now_ms: u64) -> Result<Opened, Error> {
        let outcome = self.open_uncounted(bytes, limit, now_ms);
        match &outcome {
            Ok(_) => self.stats.count_accepted(bytes.len()),
            Err(error) => self.refuse(error, now_ms),
        }
        outcome
    }

    /// [`open`](Self::open), then decodes the payload as a `T` with
    /// `rumor_crdt::codec::decode(payload, limit)`: bounded allocation,
    /// invariants checked, no trailing bytes.
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`Error::Decode`] if the payload is not
    /// a `T` (the envelope's nonce is still remembered: it was authentic).
    pub fn open_message<T: DeserializeOwned>(
        &mut self,
        bytes: &[u8],
        limit: usize,
        now_ms: u64,
    ) -> Result<(Header, T), Error> {
        let outcome = self
            .open_uncounted(bytes, limit, now_ms)
            .and_then(|opened| {
                codec::decode(&opened.payload, limit)
                    .map(|value| (opened.header, value))
                    .map_err(Error::Decode)
            });
        match &outcome {
            Ok(_) => self.stats.count_accepted(bytes.len()),
            Err(error) => self.refuse(error, now_ms),
        }
        outcome
    }

    /// Counts a rejection and logs it if its reason's rate limit allows.
    fn refuse(&mut self, error: &Error, now_ms: u64) {
        let reason = error.reason();
        self.stats.count_rejected(reason);
        let Some(suppressed) = self.log.admit(reason, now_ms) else {
            return;
        };
        let name = reason.as_str();
        // A duplicated datagram is a replay too: routine, so not a warning.
        if reason == Reason::Replay {
            tracing::debug!(reason = name, suppressed, "envelope refused: {error}");
        } else {
            tracing::warn!(reason = name, suppressed, "envelope refused: {error}");
        }
    }

    /// Checks that `bytes` would open — every check of [`open`](Self::open),
    /// the nonce's against what this codec was told of by
    /// [`witness`](Self::witness) — without remembering its nonce and
    /// without counting. For a check made before the same bytes are opened:
    /// a stream's first frame, which authenticates the connection and is
    /// then delivered and opened like every frame (remembering the nonce
    /// here would make that open a replay). The runtime checks first frames
    /// with its node's own codec, whose memory holds every nonce the node
    /// opened, so a recorded envelope replayed as a first frame is refused
    /// and its stream closed; a new envelope (a retry is sealed afresh)
    /// passes. A check made with another codec needs that codec told of
    /// every nonce the node opens ([`witness`](Self::witness)).
    ///
    /// # Errors
    /// As [`open`](Self::open); [`Error::Replay`] for a nonce witnessed.
    pub fn authenticate(
        &mut self,
        bytes: &[u8],
        limit: usize,
        now_ms: u64,
    ) -> Result<Header, Error> {
        let header = self.decrypt(bytes, limit, now_ms)?.header;
        if self.replay.seen(header.sender, &header.nonce) {
            return Err(Error::Replay);
        }
        Ok(header)
    }

    /// Remembers the nonce of an envelope another codec opened at `now_ms`,
    /// so [`authenticate`](Self::authenticate) refuses it from now on. A
    /// nonce already remembered is left as it is.
    pub fn witness(&mut self, header: &Header, now_ms: u64) {
        // A nonce already remembered: nothing to add.
        let _ = self.replay.remember(header.sender, &header.nonce, now_ms);
    }

    /// The checks, in the order of `docs/PROTOCOL.md`, without counting.
    fn open_uncounted(&mut self, bytes: &[u8], limit: usize, now_ms: u64) -> Result<Opened, Error> {
        let opened = self.decrypt(bytes, limit, now_ms)?;
        self.replay
            .remember(opened.header.sender, &opened.header.nonce, now_ms)?;
        Ok(opened)
    }

    /// The checks before the nonce's (steps 1 to 11), and the decryption.
    fn decrypt(&mut self, bytes: &[u8], limit: usize, now_ms: u64) -> Result<Opened, Error> {
        if bytes.len() > limit {
            return Err(Error::TooLong {
                len: bytes.len(),
                limit,
            });
        }
        let header = Header::parse(bytes)?;
        let key = match (&self.security, header.is_plaintext()) {
            (Security::Keys(_), true) => return Err(Error::PlaintextRefused),
            (Security::Plaintext, false) => return Err(Error::EncryptedRefused),
            (Security::Plaintext, true) => None,
            (Security::Keys(ring), false) => {
                if bytes.len() < HEADER_LEN + TAG_LEN {
                    return Err(Error::TooShort {
                        len: bytes.len(),
                        min: HEADER_LEN + TAG_LEN,
                    });
                }
                Some(ring)
            }
        };
        if header.cluster_id != self.cluster.id() {
            return Err(Error::WrongCluster {
                cluster_id: header.cluster_id,
            });
        }
        let unknown = Error::UnknownKey {
            key_id: header.key_id,
        };
        let key = match key {
            None if header.key_id != KeyId::PLAINTEXT => return Err(unknown),
            None => None,
            Some(ring) => Some(ring.get(header.key_id).ok_or(unknown)?),
        };
        self.replay.check_time(header.nonce.sent_ms, now_ms)?;
        let payload = match key {
            None => bytes[HEADER_LEN..].to_vec(),
            Some(key) => {
                let (sealed, tag) =
                    bytes[HEADER_LEN..].split_at(bytes.len() - HEADER_LEN - TAG_LEN);
                let tag = Tag::try_from(tag).map_err(|_| Error::BadTag)?;
                let mut payload = sealed.to_vec();
                let ad = associated_data(
                    &mut self.associated_data,
                    &bytes[..HEADER_LEN],
                    self.cluster.label(),
                );
                key.cipher()
                    .decrypt_inout_detached(
                        &XNonce::from(header.nonce.to_bytes()),
                        ad,
                        payload.as_mut_slice().into(),
                        &tag,
                    )
                    .map_err(|_| Error::BadTag)?;
                payload
            }
        };
        Ok(Opened { header, payload })
    }
}

impl fmt::Debug for EnvelopeCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeCodec")
            .field("security", &self.security)
            .field("cluster", &self.cluster)
            .field("sender", &self.sender)
            .field("incarnation", &self.incarnation)
            .field("remembered_nonces", &self.replay.remembered())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The associated data: the header bytes, then the cluster label.
fn associated_data<'a>(buffer: &'a mut Vec<u8>, header: &[u8], label: &[u8]) -> &'a [u8] {
    buffer.clear();
    buffer.extend_from_slice(header);
    buffer.extend_from_slice(label);
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    const NOW: u64 = 1_700_000_000_000;

    fn codec(security: Security) -> EnvelopeCodec {
        EnvelopeCodec::new(
            security,
            Cluster::new("example"),
            ReplicaId::from_u128(0x42),
        )
        .with_incarnation(7)
    }

    fn example_key() -> Key {
        Key::from_bytes(core::array::from_fn(|i| i as u8))
    }

    #[test]
    fn authenticate_remembers_no_nonce_refuses_a_witnessed_one_and_counts_nothing() {
        let mut sealer = codec(Security::Keys(Keyring::new(example_key())));
        let mut receiver = codec(Security::Keys(Keyring::new(example_key())));
        let nonce = Nonce {
            sent_ms: NOW,
            random: [1; 16],
        };
        let envelope = sealer.seal_with_nonce(b"first frame", nonce).expect("seal");
        let header = receiver
            .authenticate(&envelope, 1_200, NOW + 5)
            .expect("authentic");
        assert_eq!((header.sender, header.nonce), (sealer.sender(), nonce));
        assert_eq!(receiver.stats(), Stats::default());
        // The nonce was not remembered: the same bytes still open once;
        // after that, they are a replay to both checks.
        assert!(receiver.authenticate(&envelope, 1_200, NOW + 6).is_ok());
        receiver.open(&envelope, 1_200, NOW + 6).expect("opens");
        assert_eq!(
            receiver.authenticate(&envelope, 1_200, NOW + 7),
            Err(Error::Replay)
        );
        assert_eq!(receiver.open(&envelope, 1_200, NOW + 7), Err(Error::Replay));
        // A checker told of what another codec opened refuses it too.
        let mut checker = codec(Security::Keys(Keyring::new(example_key())));
        assert!(checker.authenticate(&envelope, 1_200, NOW + 7).is_ok());
        checker.witness(&header, NOW + 7);
        assert_eq!(
            checker.authenticate(&envelope, 1_200, NOW + 8),
            Err(Error::Replay)
        );
        assert_eq!(checker.stats(), Stats::default());
        let mut flipped = envelope.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            receiver.authenticate(&flipped, 1_200, NOW + 8),
            Err(Error::BadTag)
        );
        let mut other = codec(Security::Keys(Keyring::new(Key::from_bytes([9; 32]))));
        assert!(matches!(
            other.authenticate(&envelope, 1_200, NOW + 8),
            Err(Error::UnknownKey { .. })
        ));
        assert!(matches!(
            receiver.authenticate(&envelope, 10, NOW + 8),
            Err(Error::TooLong { .. })
        ));
        let stale = NOW + 10 * 60 * 1_000;
        assert!(receiver.authenticate(&envelope, 1_200, stale).is_err());
    }

    /// The worked example of `docs/PROTOCOL.md`, byte by byte.
    #[test]
    fn the_header_layout_is_the_one_in_protocol_md() {
        let mut sealer = codec(Security::Keys(Keyring::new(example_key())));
        let nonce = Nonce {
            sent_ms: NOW,
            random: core::array::from_fn(|i| 0xa0 + i as u8),
        };
        let envelope = sealer.seal_with_nonce(b"hello", nonce).expect("seal");
        let mut expected = Vec::new();
        expected.extend_from_slice(b"RMR"); // magic
        expected.push(1); // version
        expected.push(0); // flags: encrypted
        expected.extend_from_slice(&[0x2f, 0x12, 0x2b, 0x3b]); // key id
        expected.extend_from_slice(&[0xd5, 0x04, 0xab, 0xde]); // cluster id of "example"
        expected.extend_from_slice(&[0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00]); // 1.7e12 ms, LE
        expected.extend((0..16).map(|i| 0xa0 + i)); // the nonce's random part
        expected.extend_from_slice(&[0; 15]); // sender 0x42 as UUID bytes (big-endian)
        expected.push(0x42);
        expected.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0]); // incarnation 7, LE
        assert_eq!(expected.len(), HEADER_LEN);
        assert_eq!(&envelope[..HEADER_LEN], &expected[..]);
        assert_eq!(envelope.len(), HEADER_LEN + 5 + TAG_LEN);
        assert_eq!(hex(&envelope[HEADER_LEN..]), PROTOCOL_MD_CIPHERTEXT_AND_TAG);

        let mut plain = codec(Security::Plaintext);
        let envelope = plain.seal_with_nonce(b"hello", nonce).expect("seal");
        expected[4] = FLAG_PLAINTEXT;
        expected[5..9].copy_from_slice(&[0; 4]); // no key
        assert_eq!(&envelope[..HEADER_LEN], &expected[..]);
        assert_eq!(&envelope[HEADER_LEN..], b"hello");
    }

    /// The ciphertext and tag of the worked example, as PROTOCOL.md quotes
    /// them: a peer in another language checks its implementation on it.
    const PROTOCOL_MD_CIPHERTEXT_AND_TAG: &str = "ebc9cf4a8163e209239038447e46dcc84d31b3518a";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_ids_of_the_worked_example() {
        assert_eq!(example_key().id().to_bytes(), [0x2f, 0x12, 0x2b, 0x3b]);
        assert_eq!(
            Cluster::new("example").id().to_bytes(),
            [0xd5, 0x04, 0xab, 0xde]
        );
        assert_eq!(Cluster::new("").id(), Cluster::new(b"").id());
        assert_ne!(Cluster::new("example").id(), Cluster::new("example2").id());
    }

    #[test]
    fn a_header_parses_back_to_itself() {
        let header = Header {
            version: VERSION,
            flags: FLAG_PLAINTEXT,
            key_id: KeyId::from_bytes([1, 2, 3, 4]),
            cluster_id: ClusterId::from_bytes([5, 6, 7, 8]),
            nonce: Nonce {
                sent_ms: u64::MAX - 3,
                random: [9; 16],
            },
            sender: ReplicaId::from_u128(u128::MAX - 5),
            incarnation: u64::MAX,
        };
        assert_eq!(Header::parse(&header.to_bytes()), Ok(header));
    }
}
