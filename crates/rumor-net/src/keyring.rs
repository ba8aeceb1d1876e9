//! Cluster keys and the keyring: several keys accepted, one used to seal.
//!
//! A [`Key`] is 32 bytes, named by a [`KeyId`] (the first 4 bytes of a
//! domain-separated SHA-256 of the key, `docs/PROTOCOL.md`). Its bytes live
//! in one heap allocation that is wiped when the key is dropped, and `Debug`
//! prints only the id.
//!
//! A [`Keyring`] always holds a primary key (the one [`EnvelopeCodec::seal`]
//! uses) and any number of others that [`EnvelopeCodec::open`] accepts. A
//! cluster rotates its key without downtime in three steps, each done on
//! every node before the next starts:
//!
//! 1. `install(new)`: every node accepts the new key, none sends with it yet;
//! 2. `use_key(new.id())`: nodes send with the new key; envelopes sealed
//!    under the old one, still in flight, are still opened;
//! 3. `remove(old.id())`: the old key is forgotten.
//!
//! ```
//! use rumor_net::{Key, Keyring};
//!
//! let old = Key::from_bytes([1; 32]);
//! let new = Key::from_bytes([2; 32]);
//! let mut ring = Keyring::new(old.clone());
//! ring.install(new.clone())?;
//! ring.use_key(new.id())?;
//! assert!(ring.remove(new.id()).is_err(), "the primary key cannot be removed");
//! ring.remove(old.id())?;
//! assert_eq!(ring.list().len(), 1);
//! assert_eq!(format!("{new:?}"), format!("Key({})", new.id()));
//! # Ok::<(), rumor_net::KeyError>(())
//! ```
//!
//! [`EnvelopeCodec::seal`]: crate::EnvelopeCodec::seal
//! [`EnvelopeCodec::open`]: crate::EnvelopeCodec::open

use core::fmt;

use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// What SHA-256 hashes, before the key, to name it (`docs/PROTOCOL.md`).
const KEY_ID_DOMAIN: &[u8] = b"rumor-net key id\0";

/// The short public name of a key: the first 4 bytes of
/// `SHA-256("rumor-net key id\0" ‖ key)`. It travels in every envelope so
/// the receiver knows which key to try; it reveals nothing useful about a
/// random key.
///
/// ```
/// use rumor_net::{Key, KeyId};
///
/// let id = Key::from_bytes([7; 32]).id();
/// assert_eq!(KeyId::from_bytes(id.to_bytes()), id);
/// assert_eq!(id.to_string().len(), 8); // hex
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// The key id field of a plaintext envelope: zero.
    pub const PLAINTEXT: Self = Self([0; 4]);
}

wire_id!(KeyId);

/// A 32-byte cluster key (XChaCha20-Poly1305).
///
/// The bytes are kept in one heap allocation, so moving a `Key` (or a
/// [`Keyring`] growing) never leaves a copy behind, and they are wiped when
/// the key is dropped. `Debug` prints the id only. The text form
/// ([`Key::to_text`], [`Key::from_text`]) is 64 hex digits; base64 (as
/// memberlist and Consul print keys) is read too.
///
/// ```
/// use rumor_net::Key;
///
/// let key = Key::from_text("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")?;
/// assert_eq!(key.id().to_string(), "2f122b3b");
/// let same = Key::from_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// assert_eq!(same.id(), key.id());
/// assert_eq!(Key::from_text(&key.to_text())?.id(), key.id());
/// # Ok::<(), rumor_net::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Key {
    bytes: Box<[u8; KEY_LEN]>,
    id: KeyId,
}

impl Key {
    /// A key from its 32 bytes. The caller's copy of `bytes` is the caller's
    /// to wipe.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self::from_box(Box::new(bytes))
    }

    /// A fresh random key from a cryptographic RNG (the operating system's,
    /// in a real node).
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use rumor_net::Key;
    ///
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1); // tests only: seed from the OS
    /// assert_ne!(Key::generate(&mut rng).id(), Key::generate(&mut rng).id());
    /// ```
    #[must_use]
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Box::new([0; KEY_LEN]);
        rng.fill_bytes(&mut bytes[..]);
        Self::from_box(bytes)
    }

    fn from_box(bytes: Box<[u8; KEY_LEN]>) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(&bytes[..])
            .finalize();
        let mut id = [0; 4];
        id.copy_from_slice(&digest[..4]);
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// The key's id.
    #[must_use]
    pub const fn id(&self) -> KeyId {
        self.id
    }

    /// The key as 64 lowercase hex digits, in a string wiped on drop.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = Zeroizing::new(String::with_capacity(2 * KEY_LEN));
        for &b in self.bytes.iter() {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        text
    }

    /// Reads a key from its text form: 64 hex digits (either case), or 44
    /// characters of standard base64 (43 without the final `=`).
    /// Surrounding whitespace is ignored.
    ///
    /// ```
    /// use rumor_net::{Key, KeyError};
    ///
    /// assert!(matches!(Key::from_text("not a key"), Err(KeyError::BadText { .. })));
    /// assert!(matches!(Key::from_text(&"g".repeat(64)), Err(KeyError::BadText { .. })));
    /// ```
    ///
    /// # Errors
    /// [`KeyError::BadText`] if the text is neither; the message never
    /// quotes the input.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let text = text.trim().as_bytes();
        let mut bytes = Box::new([0; KEY_LEN]);
        let decoded = match text.len() {
            64 => decode_hex(text, &mut bytes),
            43 | 44 => decode_base64(text, &mut bytes),
            _ => Err("a key is 64 hex digits or 44 base64 characters"),
        };
        match decoded {
            Ok(()) => Ok(Self::from_box(bytes)),
            Err(reason) => {
                bytes.zeroize();
                Err(KeyError::BadText { reason })
            }
        }
    }

    /// The cipher for this key; it wipes its copy of the key when dropped.
    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        let key: &chacha20poly1305::Key = (&*self.bytes).into();
        XChaCha20Poly1305::new(key)
    }

    /// Whether two keys have the same bytes, in time independent of where
    /// they differ.
    fn same_bytes(&self, other: &Self) -> bool {
        let diff = self
            .bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

fn decode_hex(text: &[u8], out: &mut [u8; KEY_LEN]) -> Result<(), &'static str> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => *byte = hi << 4 | lo,
            _ => return Err("a 64-character key must be hex digits"),
        }
    }
    Ok(())
}

fn decode_base64(text: &[u8], out: &mut [u8; KEY_LEN]) -> Result<(), &'static str> {
    const WHY: &str = "a 44-character key must be standard base64 of 32 bytes";
    fn sextet(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    // 32 bytes are 43 characters (258 bits, the last 2 zero) and one `=`.
    let text = match text {
        [body @ .., b'='] if body.len() == 43 => body,
        body if body.len() == 43 => body,
        _ => return Err(WHY),
    };
    let (mut acc, mut bits, mut written) = (0u32, 0u32, 0usize);
    for &c in text {
        acc = (acc << 6) | sextet(c).ok_or(WHY)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            let byte = out.get_mut(written).ok_or(WHY)?;
            *byte = (acc >> bits) as u8;
            written += 1;
            acc &= (1 << bits) - 1;
        }
    }
    // Non-zero leftover bits would make a second text for the same key.
    if written != KEY_LEN || acc != 0 {
        return Err(WHY);
    }
    acc.zeroize();
    Ok(())
}

/// One key of a [`Keyring::list`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id.
    pub id: KeyId,
    /// Whether it is the key envelopes are sealed with.
    pub primary: bool,
}

/// Why a keyring operation or a key's text was refused. Local errors of
/// the operator, never caused by a peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key with this id is installed.
    #[error("no key with id {id} is installed")]
    NotInstalled {
        /// The id asked for.
        id: KeyId,
    },
    /// The primary key cannot be removed: `use` another key first.
    #[error("key {id} is the primary key: use another key before removing it")]
    RemovePrimary {
        /// The primary key's id.
        id: KeyId,
    },
    /// Another key with the same 4-byte id is installed (a chance of one in
    /// 2³² per pair of random keys): the receivers could not tell them apart.
    #[error("another key with id {id} is installed")]
    IdCollision {
        /// The shared id.
        id: KeyId,
    },
    /// The text is not a key.
    #[error("not a key: {reason}")]
    BadText {
        /// What was expected (the input itself is never quoted).
        reason: &'static str,
    },
    /// A line of a key file is not a key.
    #[error("key file, line {line}: {reason}")]
    BadKeyFileLine {
        /// The line, counted from 1.
        line: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// A key file holds no key.
    #[error("the key file holds no key")]
    EmptyKeyFile,
}

/// The keys a node accepts, one of which (the primary) it seals with.
///
/// `Debug` lists the key ids only.
///
/// ```
/// use rumor_net::{Key, KeyInfo, Keyring};
///
/// let (a, b) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
/// let mut ring = Keyring::new(a.clone());
/// assert_eq!(ring.install(b.clone())?, b.id());
/// assert_eq!(
///     ring.list(),
///     [KeyInfo { id: a.id(), primary: true }, KeyInfo { id: b.id(), primary: false }]
/// );
/// # Ok::<(), rumor_net::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    /// In the order installed; never empty; ids distinct.
    keys: Vec<Key>,
    primary: KeyId,
}

impl Keyring {
    /// A keyring of one key, which is the primary.
    #[must_use]
    pub fn new(primary: Key) -> Self {
        let id = primary.id();
        Self {
            keys: vec![primary],
            primary: id,
        }
    }

    /// Accepts envelopes sealed under `key` from now on. Installing a key
    /// that is already installed changes nothing.
    ///
    /// # Errors
    /// [`KeyError::IdCollision`] if a different key with the same id is
    /// installed.
    pub fn install(&mut self, key: Key) -> Result<KeyId, KeyError> {
        let id = key.id();
        match self.get(id) {
            Some(held) if held.same_bytes(&key) => Ok(id),
            Some(_) => Err(KeyError::IdCollision { id }),
            None => {
                self.keys.push(key);
                Ok(id)
            }
        }
    }

    /// Seals with the installed key `id` from now on (memberlist's
    /// `UseKey`). The previous primary stays installed.
    ///
    /// # Errors
    /// [`KeyError::NotInstalled`] if no key has this id.
    pub fn use_key(&mut self, id: KeyId) -> Result<(), KeyError> {
        if self.get(id).is_none() {
            return Err(KeyError::NotInstalled { id });
        }
        self.primary = id;
        Ok(())
    }

    /// Forgets the key `id`, wiping it: envelopes sealed under it are
    /// refused from now on ([`Error::UnknownKey`](crate::Error::UnknownKey)).
    ///
    /// # Errors
    /// [`KeyError::RemovePrimary`] for the primary key,
    /// [`KeyError::NotInstalled`] if no key has this id.
    pub fn remove(&mut self, id: KeyId) -> Result<(), KeyError> {
        if id == self.primary {
            return Err(KeyError::RemovePrimary { id });
        }
        let before = self.keys.len();
        self.keys.retain(|key| key.id() != id);
        if self.keys.len() == before {
            return Err(KeyError::NotInstalled { id });
        }
        Ok(())
    }

    /// Every installed key, in the order installed.
    #[must_use]
    pub fn list(&self) -> Vec<KeyInfo> {
        self.keys
            .iter()
            .map(|key| KeyInfo {
                id: key.id(),
                primary: key.id() == self.primary,
            })
            .collect()
    }

    /// The key envelopes are sealed with.
    #[must_use]
    pub fn primary(&self) -> &Key {
        // `primary` always names an installed key: `use_key` checks it and
        // `remove` refuses it. The fallback is never taken.
        self.get(self.primary).unwrap_or(&self.keys[0])
    }

    /// The installed key with this id, if any.
    #[must_use]
    pub fn get(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|key| key.id() == id)
    }

    /// Reads a key file: one key per line in its text form
    /// ([`Key::from_text`]); the first key is the primary. Blank lines and
    /// everything after a `#` are ignored; a key given twice counts once.
    ///
    /// ```
    /// use rumor_net::{Key, Keyring};
    ///
    /// let file = "# rotated 2024-05-01\n\
    ///             0101010101010101010101010101010101010101010101010101010101010101\n\
    ///             \n\
    ///             AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=  # the old key\n";
    /// let ring = Keyring::from_key_file(file)?;
    /// assert_eq!(ring.primary().id(), Key::from_bytes([1; 32]).id());
    /// assert_eq!(ring.list().len(), 2);
    /// assert_eq!(Keyring::from_key_file(&ring.to_key_file())?.list(), ring.list());
    /// # Ok::<(), rumor_net::KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::BadKeyFileLine`] for a line that is not a key,
    /// [`KeyError::EmptyKeyFile`] if there is no key,
    /// [`KeyError::IdCollision`] for two keys with one id.
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let mut ring: Option<Self> = None;
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let key = Key::from_text(line).map_err(|e| match e {
                KeyError::BadText { reason } => KeyError::BadKeyFileLine {
                    line: index + 1,
                    reason,
                },
                other => other,
            })?;
            match ring.as_mut() {
                None => ring = Some(Self::new(key)),
                Some(ring) => {
                    ring.install(key)?;
                }
            }
        }
        ring.ok_or(KeyError::EmptyKeyFile)
    }

    /// The keyring as a key file ([`Keyring::from_key_file`]): the primary
    /// first, then the others in the order installed; in a string wiped on
    /// drop.
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(self.keys.len() * (2 * KEY_LEN + 1)));
        let primary = self.primary();
        let others = self.keys.iter().filter(|key| key.id() != self.primary);
        for key in core::iter::once(primary).chain(others) {
            text.push_str(&key.to_text());
            text.push('\n');
        }
        text
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary)
            .field("keys", &self.keys.iter().map(Key::id).collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; KEY_LEN])
    }

    #[test]
    fn the_primary_key_cannot_be_removed_and_an_unknown_key_cannot_be_used_or_removed() {
        let mut ring = Keyring::new(key(1));
        let (one, two) = (key(1).id(), key(2).id());
        assert_eq!(ring.remove(one), Err(KeyError::RemovePrimary { id: one }));
        assert_eq!(ring.use_key(two), Err(KeyError::NotInstalled { id: two }));
        assert_eq!(ring.remove(two), Err(KeyError::NotInstalled { id: two }));
        assert_eq!(
            ring.list(),
            [KeyInfo {
                id: one,
                primary: true
            }]
        );
    }

    #[test]
    fn installing_a_key_twice_keeps_one_copy() {
        let mut ring = Keyring::new(key(1));
        assert_eq!(ring.install(key(2)), Ok(key(2).id()));
        assert_eq!(ring.install(key(2)), Ok(key(2).id()));
        assert_eq!(ring.install(key(1)), Ok(key(1).id()));
        assert_eq!(ring.list().len(), 2);
    }

    #[test]
    fn a_different_key_with_an_installed_id_is_refused() {
        let mut ring = Keyring::new(key(1));
        // Forge a collision: same id, other bytes.
        let mut impostor = key(2);
        impostor.id = key(1).id();
        assert_eq!(
            ring.install(impostor),
            Err(KeyError::IdCollision { id: key(1).id() })
        );
    }

    #[test]
    fn use_then_remove_rotates_the_primary() {
        let mut ring = Keyring::new(key(1));
        ring.install(key(2)).expect("install");
        ring.use_key(key(2).id()).expect("use");
        assert_eq!(ring.primary().id(), key(2).id());
        ring.remove(key(1).id()).expect("remove");
        assert!(ring.get(key(1).id()).is_none());
        assert_eq!(
            ring.list(),
            [KeyInfo {
                id: key(2).id(),
                primary: true
            }]
        );
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = Key::from_bytes([0xab; KEY_LEN]);
        let ring = Keyring::new(key.clone());
        for text in [format!("{key:?}"), format!("{ring:?}"), format!("{key:#?}")] {
            assert!(!text.contains("ab, ab") && !text.contains("abab"), "{text}");
            assert!(!text.contains("171"), "{text}");
        }
    }

    #[test]
    fn key_text_round_trips_in_hex_and_base64() {
        let key = Key::from_bytes(core::array::from_fn(|i| (i * 37) as u8));
        let hex = key.to_text();
        assert_eq!(hex.len(), 64);
        assert_eq!(Key::from_text(&hex).map(|k| k.id()), Ok(key.id()));
        assert_eq!(
            Key::from_text(&hex.to_uppercase()).map(|k| k.id()),
            Ok(key.id())
        );
        assert_eq!(
            Key::from_text(&format!("  {}\n", hex.as_str())).map(|k| k.id()),
            Ok(key.id())
        );
        // Base64 of [0, 37, 74, ...], computed independently.
        let b64 = "ACVKb5S53gMoTXKXvOEGK1B1mr/kCS5TeJ3C5wwxVns=";
        assert_eq!(Key::from_text(b64).map(|k| k.id()), Ok(key.id()));
        assert_eq!(
            Key::from_text(b64.trim_end_matches('=')).map(|k| k.id()),
            Ok(key.id())
        );
    }

    #[test]
    fn malformed_key_text_is_a_typed_error() {
        let accented = "é".repeat(22);
        let bad = [
            "",
            "00",
            &"0".repeat(63),
            &"0".repeat(65),
            &format!("{}zz", "0".repeat(62)),
            // Base64 with non-zero padding bits: a second spelling of a key.
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH=8=",
            accented.as_str(),
        ];
        for text in bad {
            assert!(
                matches!(Key::from_text(text), Err(KeyError::BadText { .. })),
                "{text:?} was accepted"
            );
        }
    }

    #[test]
    fn a_bad_key_file_names_its_line() {
        let text =
            "# keys\n\n0101010101010101010101010101010101010101010101010101010101010101\nnope\n";
        assert!(matches!(
            Keyring::from_key_file(text),
            Err(KeyError::BadKeyFileLine { line: 4, .. })
        ));
        assert_eq!(
            Keyring::from_key_file("# nothing\n\n").map(|r| r.list()),
            Err(KeyError::EmptyKeyFile)
        );
    }

    #[test]
    fn the_key_file_lists_the_primary_first() {
        let mut ring = Keyring::new(key(1));
        ring.install(key(2)).expect("install");
        ring.install(key(3)).expect("install");
        ring.use_key(key(3).id()).expect("use");
        let back = Keyring::from_key_file(&ring.to_key_file()).expect("parse");
        assert_eq!(back.primary().id(), key(3).id());
        let ids: Vec<KeyId> = back.list().iter().map(|k| k.id).collect();
        assert_eq!(ids, [key(3).id(), key(1).id(), key(2).id()]);
    }
}
