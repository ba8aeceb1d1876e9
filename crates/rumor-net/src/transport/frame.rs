//! The stream wire format (`docs/PROTOCOL.md`, "Transport"): a 24-byte
//! preamble from the connecting side, then frames, each a `u32`
//! little-endian length and that many bytes of payload (one envelope).
//!
//! ```text
//! preamble (once, connecting side only)
//! offset  size  field
//!      0     4  magic "RMRS"
//!      4     1  stream version (1)
//!      5     1  address family of the advertised address: 4 or 6
//!      6     2  advertised port (u16, little-endian)
//!      8    16  advertised IP: 16 bytes of an IPv6 address, or the 4 bytes
//!               of an IPv4 address followed by 12 zero bytes
//! frame (repeated)
//!      0     4  length n (u32, little-endian), 0 < n ≤ max_frame
//!      4     n  payload
//! ```
//!
//! A frame's length is checked against the limit before a byte of its
//! payload is buffered, and the payload's buffer grows with the bytes that
//! actually arrive (at most twice them, never past the length), so a
//! hostile length prefix allocates nothing. A frame the receiver has no
//! room for is read past without being kept.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

use super::canonical;

/// The first four bytes of a stream.
pub const STREAM_MAGIC: [u8; 4] = *b"RMRS";
/// The stream format version this crate speaks.
pub const STREAM_VERSION: u8 = 1;
/// The length of the preamble.
pub const PREAMBLE_LEN: usize = 24;
/// The length of a frame's length prefix.
pub const LEN_PREFIX: usize = 4;
/// The first buffer for a frame's payload: a frame shorter than this takes
/// one allocation of its own length.
const FIRST_CHUNK: usize = 16 * 1024;

/// The preamble announcing `advertised`, the address the connecting side is
/// reached at.
///
/// ```
/// use rumor_net::transport::frame::{decode_preamble, encode_preamble};
///
/// let addr = "192.0.2.7:7946".parse().unwrap();
/// let bytes = encode_preamble(addr);
/// assert_eq!(&bytes[..8], b"RMRS\x01\x04\x0a\x1f");
/// assert_eq!(decode_preamble(&bytes), Some(addr));
/// ```
#[must_use]
pub fn encode_preamble(advertised: SocketAddr) -> [u8; PREAMBLE_LEN] {
    let advertised = canonical(advertised);
    let mut bytes = [0; PREAMBLE_LEN];
    bytes[..4].copy_from_slice(&STREAM_MAGIC);
    bytes[4] = STREAM_VERSION;
    bytes[6..8].copy_from_slice(&advertised.port().to_le_bytes());
    match advertised.ip() {
        IpAddr::V4(ip) => {
            bytes[5] = 4;
            bytes[8..12].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            bytes[5] = 6;
            bytes[8..].copy_from_slice(&ip.octets());
        }
    }
    bytes
}

/// The advertised address in a preamble (canonical), or `None` if the
/// bytes are not a preamble of this version.
#[must_use]
pub fn decode_preamble(bytes: &[u8; PREAMBLE_LEN]) -> Option<SocketAddr> {
    if bytes[..4] != STREAM_MAGIC || bytes[4] != STREAM_VERSION {
        return None;
    }
    let port = u16::from_le_bytes([bytes[6], bytes[7]]);
    let ip = match bytes[5] {
        4 if bytes[12..].iter().all(|&b| b == 0) => {
            IpAddr::V4(Ipv4Addr::new(bytes[8], bytes[9], bytes[10], bytes[11]))
        }
        6 => {
            let mut octets = [0; 16];
            octets.copy_from_slice(&bytes[8..]);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(canonical(SocketAddr::new(ip, port)))
}

/// What went wrong reading a frame.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The length prefix is over the limit (or zero).
    BadLength,
    /// The stream ended inside a prefix or a payload.
    Truncated,
    /// The socket failed.
    Io,
    /// The payload's buffer would have grown past the budget granted,
    /// after `read` bytes of it.
    OverBudget {
        /// The bytes of the payload read (and dropped) before the refusal.
        read: usize,
    },
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Truncated
        } else {
            Self::Io
        }
    }
}

/// Reads a frame's length prefix and checks it: `Ok(None)` at a clean end
/// of stream (before the prefix's first byte), else the payload's length,
/// in `1..=max_frame`.
pub(crate) async fn read_prefix<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame: usize,
) -> Result<Option<usize>, FrameError> {
    let mut prefix = [0; LEN_PREFIX];
    if reader.read(&mut prefix[..1]).await? == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut prefix[1..]).await?;
    let len = u32::from_le_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if n > 0 && n <= max_frame => Ok(Some(n)),
        _ => Err(FrameError::BadLength),
    }
}

/// Reads a payload of `len` bytes (a length [`read_prefix`] checked). The
/// buffer starts at most [`FIRST_CHUNK`] long and doubles only as bytes
/// arrive, never past `len`; `grant(n)` is asked before it grows by `n`
/// bytes: a refusal ends the read with [`FrameError::OverBudget`] (the
/// reader is then inside the payload, after the bytes it says). So a
/// budget is charged for what the buffer holds, never for what a length
/// prefix claims.
pub(crate) async fn read_payload_granted<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
    mut grant: impl FnMut(usize) -> bool,
) -> Result<Bytes, FrameError> {
    let first = len.min(FIRST_CHUNK);
    if !grant(first) {
        return Err(FrameError::OverBudget { read: 0 });
    }
    let mut payload = Vec::with_capacity(first);
    while payload.len() < len {
        if payload.len() == payload.capacity() {
            // Double what arrived, up to the frame's end.
            let more = payload.len().min(len - payload.len());
            if !grant(more) {
                return Err(FrameError::OverBudget {
                    read: payload.len(),
                });
            }
            payload.reserve_exact(more);
        }
        let room = (payload.capacity() - payload.len()).min(len - payload.len());
        let read = (&mut *reader)
            .take(room as u64)
            .read_buf(&mut payload)
            .await?;
        if read == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(Bytes::from(payload))
}

/// Reads past a payload of `len` bytes (a length [`read_prefix`] checked)
/// without keeping it: the bytes are consumed from the reader's own buffer,
/// nothing is allocated.
pub(crate) async fn skip_payload<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    len: usize,
) -> Result<(), FrameError> {
    let mut left = len;
    while left > 0 {
        let available = reader.fill_buf().await?.len();
        if available == 0 {
            return Err(FrameError::Truncated);
        }
        let n = available.min(left);
        reader.consume(n);
        left -= n;
    }
    Ok(())
}

/// Writes one frame: the length prefix, then the payload (a length the
/// caller checked fits a `u32`). The caller flushes.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over u32::MAX"))?;
    writer.write_all(&len.to_le_bytes()).await?;
    writer.write_all(payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_payload<R: AsyncRead + Unpin>(
        reader: &mut R,
        len: usize,
    ) -> Result<Bytes, FrameError> {
        read_payload_granted(reader, len, |_| true).await
    }

    #[test]
    fn preambles_round_trip_and_refuse_what_is_not_one() {
        for addr in ["10.1.2.3:1", "[2001:db8::7]:65535", "0.0.0.0:9"] {
            let addr: SocketAddr = addr.parse().expect("an address");
            assert_eq!(decode_preamble(&encode_preamble(addr)), Some(addr));
        }
        // A mapped address travels as IPv4.
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5".parse().expect("an address");
        let bytes = encode_preamble(mapped);
        assert_eq!(bytes[5], 4);
        assert_eq!(
            decode_preamble(&bytes),
            Some("10.0.0.1:5".parse().expect("an address"))
        );
        let good = encode_preamble("10.0.0.1:5".parse().expect("an address"));
        for (at, value) in [(0, b'X'), (4, 2), (5, 5), (20, 1)] {
            let mut bad = good;
            bad[at] = value;
            assert_eq!(decode_preamble(&bad), None, "byte {at} = {value}");
        }
    }

    /// The example of `docs/PROTOCOL.md` ("Stream preamble"), byte by byte.
    #[test]
    fn the_preamble_example_is_the_one_in_protocol_md() {
        let mut expected = vec![0x52, 0x4d, 0x52, 0x53, 0x01, 0x04, 0x0a, 0x1f];
        expected.extend_from_slice(&[0xc0, 0x00, 0x02, 0x07]);
        expected.extend_from_slice(&[0; 12]);
        let addr = "192.0.2.7:7946".parse().expect("an address");
        assert_eq!(encode_preamble(addr)[..], expected[..]);
    }

    #[tokio::test]
    async fn frames_round_trip_and_end_cleanly_at_a_boundary() {
        let mut wire = Vec::new();
        for payload in [&b"a"[..], &[7; 40_000][..], b"last"] {
            write_frame(&mut wire, payload).await.expect("written");
        }
        let mut reader = &wire[..];
        let mut got = Vec::new();
        while let Some(len) = read_prefix(&mut reader, 1 << 20).await.expect("a prefix") {
            got.push(read_payload(&mut reader, len).await.expect("a payload"));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(&got[0][..], b"a");
        assert_eq!(got[1].len(), 40_000);
        assert_eq!(&got[2][..], b"last");
    }

    #[tokio::test]
    async fn a_granted_read_asks_for_what_the_buffer_holds_not_what_the_length_claims() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[3; 100_000])
            .await
            .expect("written");
        let mut asked = Vec::new();
        let mut reader = &wire[..];
        let len = read_prefix(&mut reader, 1 << 20).await.expect("a prefix");
        let payload = read_payload_granted(&mut reader, len.expect("a frame"), |n| {
            asked.push(n);
            true
        })
        .await
        .expect("a payload");
        assert_eq!(payload.len(), 100_000);
        // 16 KiB, then doubling, capped at the frame's end.
        assert_eq!(asked, [16_384, 16_384, 32_768, 34_464]);
        let mut reader = &wire[4..];
        let mut left = 40_000;
        let over = read_payload_granted(&mut reader, 100_000, |n| {
            left >= n && {
                left -= n;
                true
            }
        })
        .await;
        // 16 KiB + 16 KiB granted and read, the next 32 KiB refused.
        assert!(matches!(over, Err(FrameError::OverBudget { read: 32_768 })));
        // A length claimed with no byte behind it is charged its first chunk only.
        let mut empty = &[][..];
        let mut charged = 0;
        let cut = read_payload_granted(&mut empty, 1 << 20, |n| {
            charged += n;
            true
        })
        .await;
        assert!(matches!(cut, Err(FrameError::Truncated)));
        assert_eq!(charged, 16_384);
    }

    #[tokio::test]
    async fn a_skipped_payload_leaves_the_stream_at_the_next_frame() {
        let mut wire = Vec::new();
        for payload in [&[1; 40_000][..], b"next"] {
            write_frame(&mut wire, payload).await.expect("written");
        }
        let mut reader = tokio::io::BufReader::with_capacity(1_000, &wire[..]);
        let len = read_prefix(&mut reader, 1 << 20).await.expect("a prefix");
        skip_payload(&mut reader, len.expect("a frame"))
            .await
            .expect("skipped");
        let len = read_prefix(&mut reader, 1 << 20).await.expect("a prefix");
        let next = read_payload(&mut reader, len.expect("a frame")).await;
        assert_eq!(&next.expect("a payload")[..], b"next");
        assert!(matches!(read_prefix(&mut reader, 1 << 20).await, Ok(None)));
        let mut cut = &[9, 9, 9][..];
        assert!(matches!(
            skip_payload(&mut cut, 4).await,
            Err(FrameError::Truncated)
        ));
    }

    #[tokio::test]
    async fn bad_lengths_and_cut_frames_are_errors() {
        for prefix in [[0xff; 4], [0, 0, 0, 0], [1, 0, 0x10, 0]] {
            let mut reader = &prefix[..];
            assert!(matches!(
                read_prefix(&mut reader, 1 << 20).await,
                Err(FrameError::BadLength)
            ));
        }
        let mut cut_prefix = &[5, 0][..];
        assert!(matches!(
            read_prefix(&mut cut_prefix, 100).await,
            Err(FrameError::Truncated)
        ));
        let mut cut_payload = &[5, 0, 0, 0, 1, 2][..];
        let len = read_prefix(&mut cut_payload, 100)
            .await
            .expect("a prefix")
            .expect("not the end");
        assert!(matches!(
            read_payload(&mut cut_payload, len).await,
            Err(FrameError::Truncated)
        ));
    }
}
