//! Helpers of the transport tests: bounded waits, and transports on
//! loopback with OS-chosen ports.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumor_net::transport::{Authenticate, Inbox, Incoming};
use rumor_net::{NetTransport, TransportConfig};
use tokio::time::{sleep, timeout, Instant};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The next payload, or a panic naming `what` after [`WAIT`].
pub async fn recv(inbox: &mut Inbox, what: &str) -> Incoming {
    match timeout(WAIT, inbox.recv()).await {
        Ok(Some(incoming)) => incoming,
        Ok(None) => panic!("the inbox ended while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Polls `condition` every 5 ms until it holds, or panics naming `what`
/// after [`WAIT`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// The hook of the tests: a first frame starting with `BAD` fails.
pub fn hook() -> Authenticate {
    Arc::new(|frame: &[u8]| !frame.starts_with(b"BAD"))
}

/// A loopback address with an OS-chosen port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A transport on `127.0.0.1`, port from the OS, configured by `tweak`.
pub async fn net(tweak: impl FnOnce(&mut TransportConfig)) -> (NetTransport, Inbox) {
    let mut config = TransportConfig::new(loopback());
    tweak(&mut config);
    NetTransport::bind(config, hook())
        .await
        .expect("bind on loopback")
}

/// A payload of `len` bytes that starts with `tag` (4 bytes, little-endian)
/// and goes on with a pattern.
pub fn payload(tag: u32, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let n = len.min(4);
    bytes[..n].copy_from_slice(&tag.to_le_bytes()[..n]);
    bytes
}

/// The tag at the start of a payload made by [`payload`].
pub fn tag(bytes: &[u8]) -> u32 {
    let mut tag = [0; 4];
    tag.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(tag)
}
