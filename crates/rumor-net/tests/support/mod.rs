//! Helpers of the transport tests: bounded waits, transports on loopback
//! with OS-chosen ports, and raw TCP peers that write what they like.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumor_net::transport::{Authenticate, Inbox, Incoming};
use rumor_net::{NetTransport, TransportConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
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

/// Shuts every node down, each within [`WAIT`].
pub async fn shutdown_all<S: rumor_net::State>(nodes: &[rumor_net::GossipHandle<S>]) {
    for node in nodes {
        timeout(WAIT, node.shutdown())
            .await
            .expect("shutdown returns");
    }
}

/// Polls the async `condition` every millisecond until it holds; panics
/// naming `what` after `within`. Returns the time it took. (The runtime
/// tests ask their nodes, which answers asynchronously.)
pub async fn eventually_async<F, Fut>(what: &str, within: Duration, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if timeout(within, condition()).await.unwrap_or(false) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        sleep(Duration::from_millis(1)).await;
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
    net_checking(hook(), tweak).await
}

/// [`net`], checking first frames with `authenticate`.
pub async fn net_checking(
    authenticate: Authenticate,
    tweak: impl FnOnce(&mut TransportConfig),
) -> (NetTransport, Inbox) {
    let mut config = TransportConfig::new(loopback());
    tweak(&mut config);
    NetTransport::bind(config, authenticate)
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

/// A raw TCP connection to `to`, as a hostile or hand-written peer makes it.
pub async fn raw_stream(to: SocketAddr) -> TcpStream {
    match timeout(WAIT, TcpStream::connect(to)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => panic!("cannot connect to {to}: {error}"),
        Err(_) => panic!("timed out connecting to {to}"),
    }
}

/// One frame on the wire: the `u32` little-endian length, then the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a frame under 4 GiB");
    let mut bytes = len.to_le_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

/// Writes `bytes` on `stream`, or panics naming `what`.
pub async fn write(stream: &mut TcpStream, bytes: &[u8], what: &str) {
    match timeout(WAIT, stream.write_all(bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("writing {what}: {error}"),
        Err(_) => panic!("timed out writing {what}"),
    }
}

/// Waits until the other side has closed `stream` (the end of the stream,
/// or a reset), reading and discarding anything it sent; panics naming
/// `what` after [`WAIT`].
pub async fn closed_by_peer(stream: &mut TcpStream, what: &str) {
    let mut buffer = [0; 256];
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => panic!("timed out waiting for the transport to close {what}"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether `stream` is still open after a short wait (nothing to read, no
/// end of stream).
pub async fn still_open(stream: &mut TcpStream) -> bool {
    let mut buffer = [0; 1];
    timeout(Duration::from_millis(20), stream.read(&mut buffer))
        .await
        .is_err()
}
