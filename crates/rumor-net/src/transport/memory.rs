//! [`MemoryTransport`]: in-process delivery through a [`MemoryNetwork`]
//! hub, for tests.
//!
//! It keeps the promises of every transport — the same bounded outgoing
//! queues (membership first), the same bounded [`Inbox`], the same size
//! rule (`max_datagram` or less is a datagram, more a stream frame, over
//! `max_frame` refused), the same counters — and adds what a test needs:
//! synthetic addresses, seeded loss (datagrams only, as on real sockets), and
//! partitions between addresses, both ways or one way.
//!
//! Each transport has one task, its pump, which takes its queue in order
//! (membership first) and puts each payload in the destination's inbox.
//! Loss is drawn when a payload is sent, from a generator of the
//! transport's own, seeded from the network's seed and the transport's rank
//! of creation: the same sends give the same losses whatever the threads
//! do.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::queue::{ClassQueue, Refused};
use super::{
    add, canonical, check_sizes, lock, sub, Class, ConfigError, Counters, DropReason, Inbox,
    InboxSender, Incoming, Loss, SendError, ShutdownFuture, Stop, Tasks, Transport, TransportStats,
    Via,
};

/// The settings of a [`MemoryNetwork`], shared by its transports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryConfig {
    /// The largest payload delivered as a datagram.
    pub max_datagram: usize,
    /// The largest payload at all (one stream frame).
    pub max_frame: usize,
    /// Payloads queued per transport, per class.
    pub queue_capacity: usize,
    /// Payloads each [`Inbox`] holds.
    pub inbox_capacity: usize,
    /// Bytes of stream frames each [`Inbox`] holds.
    pub max_inbox_stream_bytes: usize,
    /// The probability that a datagram is lost (frames are never lost).
    pub loss: f64,
    /// The seed of every transport's loss.
    pub seed: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_datagram: super::DEFAULT_MAX_DATAGRAM,
            max_frame: super::DEFAULT_MAX_FRAME,
            queue_capacity: super::DEFAULT_DATAGRAM_QUEUE,
            inbox_capacity: super::DEFAULT_INBOX_CAPACITY,
            max_inbox_stream_bytes: super::DEFAULT_MAX_INBOX_STREAM_BYTES,
            loss: 0.0,
            seed: 0,
        }
    }
}

/// Why a [`MemoryNetwork`] could not make a transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// A transport of this network already has this address.
    #[error("{0} is already in use in this memory network")]
    AddrInUse(SocketAddr),
    /// Every port of the address's IP is taken.
    #[error("no port left on {0}")]
    NoPortLeft(IpAddr),
    /// Not called from inside a tokio runtime (the pump is a task).
    #[error("a memory transport must be made inside a tokio runtime")]
    NoRuntime,
}

/// The first synthetic address: `127.0.0.1:1`, then `:2`, and so on.
const FIRST_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A transport's entry in the network: where to deliver to it.
#[derive(Clone)]
struct Endpoint {
    transport: Arc<Shared>,
    inbox: InboxSender,
}

struct NetworkState {
    config: MemoryConfig,
    endpoints: HashMap<SocketAddr, Endpoint>,
    /// Transports made so far: each one's loss seed.
    made: u64,
    /// (from, to) pairs whose traffic is dropped.
    cut: HashSet<(SocketAddr, SocketAddr)>,
}

/// An in-process network: makes [`MemoryTransport`]s and delivers between
/// them. A cheap handle: clones are the same network.
///
/// ```
/// use rumor_net::transport::{Class, Transport, Via};
/// use rumor_net::{MemoryConfig, MemoryNetwork};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let network = MemoryNetwork::new(MemoryConfig::default())?;
/// let (alice, _alice_inbox) = network.transport()?;
/// let (bob, mut bob_inbox) = network.transport()?;
///
/// alice.send(bob.local_addr(), b"hello"[..].into(), Class::Data)?;
/// let got = bob_inbox.recv().await.unwrap();
/// assert_eq!((got.from, &got.payload[..], got.via), (alice.local_addr(), &b"hello"[..], Via::Datagram));
///
/// // A partition drops everything between the two, both ways; heal ends it.
/// network.partition(alice.local_addr(), bob.local_addr());
/// alice.send(bob.local_addr(), b"lost"[..].into(), Class::Data)?;
/// network.heal();
/// alice.send(bob.local_addr(), b"again"[..].into(), Class::Data)?;
/// assert_eq!(&bob_inbox.recv().await.unwrap().payload[..], b"again");
///
/// alice.shutdown().await;
/// bob.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryNetwork {
    state: Arc<Mutex<NetworkState>>,
}

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("MemoryNetwork")
            .field("config", &state.config)
            .field("transports", &state.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl MemoryNetwork {
    /// An empty network.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when a setting is out of range.
    pub fn new(config: MemoryConfig) -> Result<Self, ConfigError> {
        check_sizes(config.max_datagram, config.max_frame)?;
        Loss::new(config.loss, config.seed)?;
        for (name, n) in [
            ("queue_capacity", config.queue_capacity),
            ("inbox_capacity", config.inbox_capacity),
            ("max_inbox_stream_bytes", config.max_inbox_stream_bytes),
        ] {
            if n == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(Self {
            state: Arc::new(Mutex::new(NetworkState {
                config,
                endpoints: HashMap::new(),
                made: 0,
                cut: HashSet::new(),
            })),
        })
    }

    /// A new transport at the next free synthetic address (`127.0.0.1:1`,
    /// `:2`, ...), and its inbox. Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`MemoryError`]: no runtime, or no port left.
    pub fn transport(&self) -> Result<(MemoryTransport, Inbox), MemoryError> {
        self.transport_at(SocketAddr::new(FIRST_IP, 0))
    }

    /// A new transport at `addr` (canonical; port 0: the lowest free port
    /// of that IP), and its inbox. Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`MemoryError`]: no runtime, the address is taken, or no port left.
    pub fn transport_at(&self, addr: SocketAddr) -> Result<(MemoryTransport, Inbox), MemoryError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MemoryError::NoRuntime)?;
        let mut state = lock(&self.state);
        let addr = canonical(addr);
        let addr = if addr.port() == 0 {
            let port = (1..=u16::MAX)
                .find(|&port| {
                    !state
                        .endpoints
                        .contains_key(&SocketAddr::new(addr.ip(), port))
                })
                .ok_or(MemoryError::NoPortLeft(addr.ip()))?;
            SocketAddr::new(addr.ip(), port)
        } else if state.endpoints.contains_key(&addr) {
            return Err(MemoryError::AddrInUse(addr));
        } else {
            addr
        };
        let config = state.config;
        // Distinct, well-mixed seeds per transport (golden-ratio steps).
        let seed = config
            .seed
            .wrapping_add(state.made.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        state.made += 1;
        // The probability was checked by `new` and `set_loss`.
        let loss = Loss::new(config.loss, seed).unwrap_or_else(|_| Loss::never());
        let (inbox_tx, inbox) = Inbox::new(config.inbox_capacity, config.max_inbox_stream_bytes);
        let shared = Arc::new(Shared {
            addr,
            config,
            network: self.state.clone(),
            counters: Counters::default(),
            queue: ClassQueue::new(config.queue_capacity),
            loss: Mutex::new(loss),
            blocked: Mutex::new(HashSet::new()),
            closed: AtomicBool::new(false),
            tasks: Tasks::new(runtime),
        });
        state.endpoints.insert(
            addr,
            Endpoint {
                transport: shared.clone(),
                inbox: inbox_tx,
            },
        );
        drop(state);
        let pump = shared.clone();
        shared.tasks.spawn(move |stop| deliver(pump, stop));
        Ok((MemoryTransport { shared }, inbox))
    }

    /// Drops everything between `a` and `b`, both ways, until
    /// [`heal`](Self::heal). Counted at the sender as
    /// [`DropReason::Blocked`].
    pub fn partition(&self, a: SocketAddr, b: SocketAddr) {
        self.partition_one_way(a, b);
        self.partition_one_way(b, a);
    }

    /// Drops everything from `from` to `to` (not the other way) until
    /// [`heal`](Self::heal).
    pub fn partition_one_way(&self, from: SocketAddr, to: SocketAddr) {
        lock(&self.state)
            .cut
            .insert((canonical(from), canonical(to)));
    }

    /// Ends every partition.
    pub fn heal(&self) {
        lock(&self.state).cut.clear();
    }

    /// Sets the loss probability of every transport of this network, now
    /// and later.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Loss`] when `loss` is not in `0.0..=1.0`.
    pub fn set_loss(&self, loss: f64) -> Result<(), ConfigError> {
        let mut state = lock(&self.state);
        Loss::new(loss, 0)?;
        state.config.loss = loss;
        for endpoint in state.endpoints.values() {
            lock(&endpoint.transport.loss).set_probability(loss)?;
        }
        Ok(())
    }
}

/// What a memory transport's handle, its pump and the network share.
struct Shared {
    addr: SocketAddr,
    config: MemoryConfig,
    network: Arc<Mutex<NetworkState>>,
    counters: Counters,
    queue: ClassQueue<(SocketAddr, Bytes, Via)>,
    loss: Mutex<Loss>,
    blocked: Mutex<HashSet<SocketAddr>>,
    closed: AtomicBool,
    tasks: Tasks,
}

impl Shared {
    fn is_blocked(&self, peer: SocketAddr) -> bool {
        lock(&self.blocked).contains(&peer)
    }

    fn dequeued(&self, via: Via, len: usize) {
        match via {
            Via::Datagram => sub(&self.counters.queued_datagrams, 1),
            Via::Stream => {
                sub(&self.counters.queued_frames, 1);
                sub(&self.counters.queued_frame_bytes, len as u64);
            }
        }
    }

    fn begin_shutdown(self: &Arc<Self>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for (_, payload, via) in self.queue.close() {
            self.dequeued(via, payload.len());
            self.counters.drop(DropReason::Closed, 1);
        }
        {
            let mut network = lock(&self.network);
            if network
                .endpoints
                .get(&self.addr)
                .is_some_and(|e| Arc::ptr_eq(&e.transport, self))
            {
                network.endpoints.remove(&self.addr);
            }
        }
        self.tasks.stop();
    }
}

/// A transport of a [`MemoryNetwork`].
pub struct MemoryTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl MemoryTransport {
    /// Sets this transport's loss probability, from now on.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Loss`] when `loss` is not in `0.0..=1.0`.
    pub fn set_loss(&self, loss: f64) -> Result<(), ConfigError> {
        lock(&self.shared.loss).set_probability(loss)
    }
}

impl Drop for MemoryTransport {
    /// Dropping the transport without [`Transport::shutdown`] still leaves
    /// the network and stops its pump.
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

impl Transport for MemoryTransport {
    fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    fn max_datagram(&self) -> usize {
        self.shared.config.max_datagram
    }

    fn max_frame(&self) -> usize {
        self.shared.config.max_frame
    }

    fn send(&self, to: SocketAddr, payload: Bytes, class: Class) -> Result<(), SendError> {
        let s = &self.shared;
        let to = canonical(to);
        let len = payload.len();
        let refuse = |error: SendError| s.counters.refuse(error);
        s.counters
            .admit(s.closed.load(Ordering::Acquire), len, s.config.max_frame)?;
        if s.is_blocked(to) || lock(&s.network).cut.contains(&(s.addr, to)) {
            s.counters.drop(DropReason::Blocked, 1);
            return Ok(());
        }
        let via = if len <= s.config.max_datagram {
            Via::Datagram
        } else {
            Via::Stream
        };
        if via == Via::Datagram && lock(&s.loss).lose() {
            s.counters.drop(DropReason::Loss, 1);
            return Ok(());
        }
        match via {
            Via::Datagram => add(&s.counters.queued_datagrams, 1),
            Via::Stream => {
                add(&s.counters.queued_frames, 1);
                add(&s.counters.queued_frame_bytes, len as u64);
            }
        }
        match s.queue.push(class, (to, payload, via)) {
            Ok(()) => Ok(()),
            Err(refused) => {
                s.dequeued(via, len);
                refuse(match refused {
                    Refused::Full(_) => SendError::QueueFull { class, via },
                    Refused::Closed(_) => SendError::Closed,
                })
            }
        }
    }

    fn stats(&self) -> TransportStats {
        self.shared.counters.snapshot()
    }

    fn block(&self, peer: SocketAddr) {
        lock(&self.shared.blocked).insert(canonical(peer));
    }

    fn unblock(&self, peer: SocketAddr) {
        lock(&self.shared.blocked).remove(&canonical(peer));
    }

    fn set_loss(&self, loss: f64) -> Result<(), ConfigError> {
        Self::set_loss(self, loss)
    }

    fn shutdown(&self) -> ShutdownFuture {
        self.shared.begin_shutdown();
        let shared = self.shared.clone();
        Box::pin(async move { shared.tasks.join().await })
    }
}

/// The pump: takes the queue in order (membership first) and delivers.
async fn deliver(s: Arc<Shared>, mut stop: Stop) {
    loop {
        let next = tokio::select! {
            biased;
            () = stop.stopped() => return,
            next = s.queue.pop() => next,
        };
        let Some((to, payload, via)) = next else {
            return;
        };
        s.dequeued(via, payload.len());
        let endpoint = {
            let network = lock(&s.network);
            if network.cut.contains(&(s.addr, to)) {
                None
            } else {
                Some(network.endpoints.get(&to).cloned())
            }
        };
        let endpoint = match endpoint {
            None => {
                s.counters.drop(DropReason::Blocked, 1);
                continue;
            }
            Some(None) => {
                s.counters.drop(DropReason::Unreachable, 1);
                continue;
            }
            Some(Some(endpoint)) => endpoint,
        };
        s.counters.sent(via, payload.len());
        let receiver = &endpoint.transport;
        if receiver.is_blocked(s.addr) {
            receiver.counters.drop(DropReason::Blocked, 1);
            continue;
        }
        let incoming = Incoming {
            from: s.addr,
            payload,
            via,
        };
        endpoint.inbox.deliver(incoming, &receiver.counters);
    }
}
