//! A UDP relay between two real nodes on loopback, for the runtime tests
//! that need to touch the wire between them: cut it (a partition made by
//! dropping packets) and mend it, or keep copies of what crossed it (to
//! replay them).
//!
//! Each node advertises one of the relay's two sockets: `a` advertises
//! [`Relay::to_a`], `b` advertises [`Relay::to_b`]. What `b` sends to
//! `to_a` leaves through `to_b` for `a`'s bound address, so `a` sees it
//! come from `to_b`, the address `b` advertises; and the other way round.
//! Datagrams only: payloads larger than one datagram (TCP) do not cross.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rumor_net::{GossipBuilder, GossipError, GossipHandle, State};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Datagrams kept, at most, per direction.
const KEPT: usize = 1_024;

/// Which way a datagram crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From `b` to `a`.
    ToA,
    /// From `a` to `b`.
    ToB,
}

#[derive(Default)]
struct Wire {
    cut: AtomicBool,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    kept: Mutex<Vec<(Direction, Vec<u8>)>>,
}

/// See the [module docs](self).
pub struct Relay {
    to_a: Arc<UdpSocket>,
    to_b: Arc<UdpSocket>,
    wire: Arc<Wire>,
    tasks: Vec<JoinHandle<()>>,
}

/// A port the OS gave for UDP and TCP on `127.0.0.1`, released: a node
/// binds it next (a node that advertises a relay's address must be told
/// its own bound address in advance).
pub fn free_port() -> u16 {
    for _ in 0..16 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let port = udp.local_addr().expect("bound").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP after 16 tries");
}

/// A node built by `builder`, bound to a free port of `127.0.0.1`
/// (another if that one was taken in between). Returns it and its bound
/// address.
pub async fn start_bound<S: State>(
    builder: impl Fn() -> GossipBuilder<S>,
) -> (GossipHandle<S>, SocketAddr) {
    for _ in 0..8 {
        let bound = SocketAddr::from(([127, 0, 0, 1], free_port()));
        match builder().bind(bound).start().await {
            Ok(node) => return (node, bound),
            Err(GossipError::Bind(_)) => {}
            Err(error) => panic!("the node does not start: {error}"),
        }
    }
    panic!("no free port after 8 tries");
}

impl Relay {
    /// Binds the relay's two sockets on `127.0.0.1` (ports from the OS).
    pub async fn bind() -> Self {
        let bind = || UdpSocket::bind("127.0.0.1:0");
        let to_a = Arc::new(bind().await.expect("a UDP socket"));
        let to_b = Arc::new(bind().await.expect("a UDP socket"));
        Self {
            to_a,
            to_b,
            wire: Arc::default(),
            tasks: Vec::new(),
        }
    }

    /// The address `a` advertises.
    pub fn to_a(&self) -> SocketAddr {
        self.to_a.local_addr().expect("bound")
    }

    /// The address `b` advertises.
    pub fn to_b(&self) -> SocketAddr {
        self.to_b.local_addr().expect("bound")
    }

    /// Starts forwarding between `a` and `b` (their bound addresses).
    /// Datagrams from any other source are ignored.
    pub fn start(&mut self, a: SocketAddr, b: SocketAddr) {
        let forward = |inbound: &Arc<UdpSocket>, outbound: &Arc<UdpSocket>, from, to, way| {
            let (inbound, outbound, wire) = (inbound.clone(), outbound.clone(), self.wire.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0; 65_536];
                loop {
                    let Ok((len, source)) = inbound.recv_from(&mut buffer).await else {
                        // An error that repeats must not spin a core.
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        continue;
                    };
                    if source != from {
                        continue;
                    }
                    if wire.cut.load(Ordering::Acquire) {
                        wire.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let datagram = &buffer[..len];
                    {
                        let mut kept = wire.kept.lock().unwrap_or_else(PoisonError::into_inner);
                        if kept.iter().filter(|(d, _)| *d == way).count() < KEPT {
                            kept.push((way, datagram.to_vec()));
                        }
                    }
                    // A send error is a lost datagram, as on a network.
                    if outbound.send_to(datagram, to).await.is_ok() {
                        wire.forwarded.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let to_a = forward(&self.to_a, &self.to_b, b, a, Direction::ToA);
        let to_b = forward(&self.to_b, &self.to_a, a, b, Direction::ToB);
        self.tasks.extend([to_a, to_b]);
    }

    /// Drops every datagram from now on, both ways.
    pub fn cut(&self) {
        self.wire.cut.store(true, Ordering::Release);
    }

    /// Forwards again.
    pub fn mend(&self) {
        self.wire.cut.store(false, Ordering::Release);
    }

    /// Datagrams forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.wire.forwarded.load(Ordering::Relaxed)
    }

    /// Datagrams dropped while cut.
    pub fn dropped(&self) -> u64 {
        self.wire.dropped.load(Ordering::Relaxed)
    }

    /// Copies of the datagrams forwarded `way` (the first [`KEPT`]).
    pub fn kept(&self, way: Direction) -> Vec<Vec<u8>> {
        let kept = self
            .wire
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        kept.iter()
            .filter(|(d, _)| *d == way)
            .map(|(_, datagram)| datagram.clone())
            .collect()
    }

    /// Sends `datagram` to `a` (its bound address) from `to_b`, as if `b`
    /// had sent it through the relay.
    pub async fn inject_to_a(&self, datagram: &[u8], a: SocketAddr) {
        self.to_b.send_to(datagram, a).await.expect("sent");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
