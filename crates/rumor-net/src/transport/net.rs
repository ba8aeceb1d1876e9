//! [`NetTransport`]: UDP for payloads that fit one datagram, TCP on the same
//! port for larger ones.
//!
//! Tasks (each ends when the transport shuts down):
//!
//! - **UDP receiver**: one buffer of `max_datagram + 1` bytes, allocated
//!   once; a datagram that fills it is oversize, dropped and counted.
//!   Receive errors (`ConnectionReset`, `ConnectionRefused` after an ICMP
//!   error, and any other) are counted and skipped, never fatal.
//! - **UDP sender**: drains the datagram queue, membership first. Send
//!   errors (`EMSGSIZE`, unreachable, ...) are counted and logged at a rate
//!   limit, never fatal. A datagram sent while the queue is empty (and no
//!   latency is injected) skips the queue: [`Transport::send`] hands it to
//!   the socket at once if the socket takes it without waiting, and queues
//!   it only when the socket's buffer is full. In a 1,000-agent swarm in one
//!   process, that cut the update-to-all p99 from 110–137 ms to 77–80 ms.
//! - **Acceptor**: takes a permit of the `max_connections` semaphore
//!   *before* `accept`, so excess connections wait in the kernel's backlog
//!   rather than in memory.
//! - **One task per inbound connection**: the preamble and the first frame
//!   must arrive within `first_frame_deadline` (a long first frame gets the
//!   time its length takes at the slowest rate accepted) and the first frame must pass
//!   the [`Authenticate`] check; then frames until the peer closes, an
//!   error, or twice the idle timeout without a frame. Each later frame
//!   takes room in the inbox as its bytes arrive; one that runs out of room
//!   is read past without being kept.
//! - **One task per outgoing connection** (one per peer, opened on demand,
//!   pooled): connects within `connect_timeout`, writes the preamble, then
//!   the peer's queued frames, membership first, each within
//!   `frame_timeout`; closes after `idle_timeout` without a frame. A failed
//!   connection drops (and counts) what was queued for it. The next send
//!   opens a new one, unless the peer is in its reconnect backoff (after a
//!   failed attempt, `reconnect_backoff`, doubled with each failure in a
//!   row up to `max_reconnect_backoff`): frames sent to it meanwhile are
//!   dropped and counted (`ConnectBackoff`), as a network drops packets to
//!   a host that is down, instead of each costing an attempt.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout, Instant};

use super::frame::{self, FrameError, PREAMBLE_LEN};
use super::queue::{ClassQueue, Refused};
use super::{
    add, canonical, check_sizes, lock, sub, Authenticate, ByteBudget, Class, CloseReason,
    ConfigError, Counters, DropReason, Inbox, InboxSender, Incoming, Latency, Loss, SendError,
    ShutdownFuture, Stop, Tasks, Transport, TransportStats, Via,
};
use crate::stats::Slot;
use crate::DEFAULT_LOG_INTERVAL_MS;

/// Attempts at finding an OS-chosen port free for both UDP and TCP.
pub const BIND_ATTEMPTS: usize = 16;
/// Inbound connections open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Outgoing connections open at once, by default.
pub const DEFAULT_MAX_OUTGOING_CONNECTIONS: usize = 64;
/// The bytes that first frames not yet authenticated may hold together
/// while they are read, by default: 32 MiB, two frames of the largest size.
/// Without this bound, every connection slot could hold `max_frame` bytes of
/// an unauthenticated peer. It is charged as the bytes arrive (a length
/// with nothing behind it costs at most 16 KiB), so exhausting it takes
/// sending that much.
pub const DEFAULT_MAX_UNAUTHENTICATED_BYTES: usize = 32 << 20;
/// How long an inbound connection has for its preamble and first frame, by
/// default.
pub const DEFAULT_FIRST_FRAME_DEADLINE: Duration = Duration::from_secs(5);
/// How long an outgoing connection stays open without a frame to write, by
/// default. Inbound connections wait twice as long, so the writing side
/// closes first and no frame is written into a connection being closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The first reconnect backoff after a failed connection attempt, by
/// default: 100 ms, doubled with each failure in a row.
pub const DEFAULT_RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// The longest reconnect backoff, by default.
pub const DEFAULT_MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(10);

/// Peers in reconnect backoff remembered at most: past this, expired ones
/// are forgotten, and if none has expired a new failure is not remembered
/// (its peer is tried again at the next send, as without a backoff).
const MAX_BACKOFF_PEERS: usize = 4_096;
/// How long writing or reading one frame may take, by default (16 MiB in
/// 30 s is 4.5 Mbit/s).
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Outgoing datagrams held back by the injected latency at once, by
/// default: 4,096 (4.8 MiB of 1,200-byte datagrams); more are dropped and
/// counted ([`DropReason::DelayFull`]).
pub const DEFAULT_MAX_DELAYED_DATAGRAMS: usize = 4_096;
/// The UDP socket's receive and send buffers asked for, by default: 4 MiB,
/// room for a burst of about 3,500 datagrams of 1,200 bytes (a 1,000-agent
/// swarm in one process loses datagrams in the kernel with the usual
/// 208 KiB). The kernel may grant less (`net.core.rmem_max`).
pub const DEFAULT_UDP_BUFFER_BYTES: usize = 4 << 20;
/// The buffer of each connection's reader or writer.
const STREAM_BUFFER: usize = 8 * 1024;
/// The pause after a receive or accept error that is not known to be
/// transient (e.g. out of file descriptors), so an error that repeats does
/// not spin a core.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// The settings of a [`NetTransport`]. Every capacity bounds memory: see
/// each field.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// The address to bind UDP and TCP to. Port 0 lets the OS choose one
    /// port free for both.
    pub bind: SocketAddr,
    /// The address peers should reach this transport at, when it is not the
    /// bound one (a NAT, a container, a wildcard bind). Port 0 means the
    /// bound port. `None`: the bound address.
    pub advertise: Option<SocketAddr>,
    /// The largest payload sent as one datagram (1,200 bytes by default);
    /// larger ones go over TCP. At most 65,507.
    pub max_datagram: usize,
    /// The largest payload at all (one frame, 16 MiB by default).
    pub max_frame: usize,
    /// Outgoing datagrams queued, per class.
    pub datagram_queue: usize,
    /// Outgoing frames queued per destination, per class.
    pub stream_queue: usize,
    /// Bytes of outgoing frames queued, every destination together.
    pub max_queued_stream_bytes: usize,
    /// Payloads the [`Inbox`] holds.
    pub inbox_capacity: usize,
    /// Bytes of stream frames the [`Inbox`] holds, counting the frames being
    /// read (room is taken as a frame's bytes arrive; a frame that runs out
    /// of room is read past and dropped). Keep it at least `max_frame`, or
    /// frames larger than it are always dropped.
    pub max_inbox_stream_bytes: usize,
    /// Inbound connections open at once.
    pub max_connections: usize,
    /// Outgoing connections open at once (a send that needs one more is
    /// refused with [`SendError::NoConnectionSlot`]).
    pub max_outgoing_connections: usize,
    /// Bytes that unauthenticated first frames may hold together while they
    /// are read (charged as they arrive).
    pub max_unauthenticated_bytes: usize,
    /// Time an inbound connection has for its preamble and first frame. A
    /// first frame of `n` bytes gets `n / max_frame × frame_timeout` more
    /// (all of `frame_timeout` for a frame of `max_frame` bytes), so a long
    /// first frame on a slow link is not cut off; what such frames hold is
    /// bounded by `max_unauthenticated_bytes`.
    pub first_frame_deadline: Duration,
    /// An outgoing connection without a frame to write for this long is
    /// closed (an inbound one after twice this).
    pub idle_timeout: Duration,
    /// Time a connection attempt may take.
    pub connect_timeout: Duration,
    /// After a failed connection attempt, how long frames to that peer are
    /// dropped ([`DropReason::ConnectBackoff`]) before the next attempt;
    /// doubled with each failure in a row, up to `max_reconnect_backoff`,
    /// and forgotten at the first connection. Zero: no backoff.
    pub reconnect_backoff: Duration,
    /// The longest reconnect backoff.
    pub max_reconnect_backoff: Duration,
    /// Time writing or reading one frame may take.
    pub frame_timeout: Duration,
    /// The probability that an outgoing datagram is dropped (injected loss,
    /// for tests and `rumor swarm --loss`). Frames are never dropped: TCP
    /// would retransmit them.
    pub loss: f64,
    /// The seed of the injected loss and latency.
    pub loss_seed: u64,
    /// The delay injected into every outgoing datagram, drawn (seeded by
    /// `loss_seed`) from its range; frames are not delayed. [`Latency::NONE`]
    /// by default.
    pub latency: Latency,
    /// Outgoing datagrams the injected latency holds back at once; more are
    /// dropped ([`DropReason::DelayFull`]).
    pub max_delayed_datagrams: usize,
    /// The UDP socket's receive and send buffers asked of the kernel
    /// (SO_RCVBUF, SO_SNDBUF). The kernel may cap them: what it granted is
    /// in [`TransportStats::udp_recv_buffer`], and a cap is logged once at
    /// info. 0 leaves the kernel's defaults.
    pub udp_buffer_bytes: usize,
}

impl TransportConfig {
    /// The defaults, bound to `bind`.
    #[must_use]
    pub const fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            advertise: None,
            max_datagram: super::DEFAULT_MAX_DATAGRAM,
            max_frame: super::DEFAULT_MAX_FRAME,
            datagram_queue: super::DEFAULT_DATAGRAM_QUEUE,
            stream_queue: super::DEFAULT_STREAM_QUEUE,
            max_queued_stream_bytes: super::DEFAULT_MAX_QUEUED_STREAM_BYTES,
            inbox_capacity: super::DEFAULT_INBOX_CAPACITY,
            max_inbox_stream_bytes: super::DEFAULT_MAX_INBOX_STREAM_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_outgoing_connections: DEFAULT_MAX_OUTGOING_CONNECTIONS,
            max_unauthenticated_bytes: DEFAULT_MAX_UNAUTHENTICATED_BYTES,
            first_frame_deadline: DEFAULT_FIRST_FRAME_DEADLINE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            reconnect_backoff: DEFAULT_RECONNECT_BACKOFF,
            max_reconnect_backoff: DEFAULT_MAX_RECONNECT_BACKOFF,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            loss: 0.0,
            loss_seed: 0,
            latency: Latency::NONE,
            max_delayed_datagrams: DEFAULT_MAX_DELAYED_DATAGRAMS,
            udp_buffer_bytes: DEFAULT_UDP_BUFFER_BYTES,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        check_sizes(self.max_datagram, self.max_frame)?;
        self.latency.check()?;
        let counts = [
            ("datagram_queue", self.datagram_queue),
            ("stream_queue", self.stream_queue),
            ("max_queued_stream_bytes", self.max_queued_stream_bytes),
            ("inbox_capacity", self.inbox_capacity),
            ("max_inbox_stream_bytes", self.max_inbox_stream_bytes),
            ("max_connections", self.max_connections),
            ("max_outgoing_connections", self.max_outgoing_connections),
            ("max_unauthenticated_bytes", self.max_unauthenticated_bytes),
            ("max_delayed_datagrams", self.max_delayed_datagrams),
        ];
        for (name, n) in counts {
            if n == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        let times = [
            ("first_frame_deadline", self.first_frame_deadline),
            ("idle_timeout", self.idle_timeout),
            ("connect_timeout", self.connect_timeout),
            ("frame_timeout", self.frame_timeout),
        ];
        for (name, t) in times {
            if t.is_zero() {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }
}

/// Why [`NetTransport::bind`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP to {addr}: {source}")]
    Udp {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// The TCP listener could not be bound to the UDP socket's port (after
    /// [`BIND_ATTEMPTS`] ports when the OS chooses).
    #[error("cannot bind TCP to {addr}: {source}")]
    Tcp {
        /// The address tried last.
        addr: SocketAddr,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
}

/// The kinds of log line, each rate-limited on its own.
#[derive(Clone, Copy, Debug)]
enum LogKind {
    Receive,
    Send,
    Accept,
    Connect,
    Stream,
    Refused,
}

const LOG_KINDS: usize = 6;

/// The outgoing connections, by peer.
#[derive(Default)]
struct Pool {
    connections: HashMap<SocketAddr, Arc<ClassQueue<Bytes>>>,
    /// Peers whose last connection attempt failed: no attempt before
    /// `until`; the backoff after the next failure is `next`.
    backoff: HashMap<SocketAddr, Backoff>,
    closed: bool,
}

#[derive(Clone, Copy)]
struct Backoff {
    until: Instant,
    next: Duration,
}

impl Pool {
    /// Whether a connection to `peer` may not be tried yet.
    fn backing_off(&self, peer: SocketAddr, now: Instant) -> bool {
        self.backoff.get(&peer).is_some_and(|b| now < b.until)
    }

    /// Records a failed attempt to reach `peer` (or, on `connected`, a
    /// success, which ends its backoff).
    fn attempted(
        &mut self,
        peer: SocketAddr,
        connected: bool,
        now: Instant,
        config: &TransportConfig,
    ) {
        if connected || config.reconnect_backoff.is_zero() {
            self.backoff.remove(&peer);
            return;
        }
        if !self.backoff.contains_key(&peer) && self.backoff.len() >= MAX_BACKOFF_PEERS {
            self.backoff.retain(|_, b| now < b.until);
            if self.backoff.len() >= MAX_BACKOFF_PEERS {
                return;
            }
        }
        let wait = self
            .backoff
            .get(&peer)
            .map_or(config.reconnect_backoff, |b| b.next);
        let wait = wait.min(config.max_reconnect_backoff);
        self.backoff.insert(
            peer,
            Backoff {
                until: now + wait,
                next: wait.saturating_mul(2).min(config.max_reconnect_backoff),
            },
        );
    }
}

/// What the transport's handle and its tasks share. No socket lives here:
/// each belongs to the tasks that use it, so it closes when they end.
struct Shared {
    config: TransportConfig,
    /// The advertised address (canonical).
    local: SocketAddr,
    /// The IP the sockets are bound to: it decides which destinations the
    /// UDP socket reaches ([`Shared::wire_addr`]).
    bound_ip: IpAddr,
    authenticate: Authenticate,
    counters: Counters,
    datagrams: ClassQueue<(SocketAddr, Bytes)>,
    pool: Mutex<Pool>,
    queued_stream_bytes: ByteBudget,
    unauthenticated_bytes: ByteBudget,
    blocked: Mutex<HashSet<SocketAddr>>,
    any_blocked: AtomicBool,
    loss: Mutex<Loss>,
    latency: Mutex<Latency>,
    closed: AtomicBool,
    tasks: Tasks,
    logs: Mutex<[Slot; LOG_KINDS]>,
    epoch: Instant,
}

/// UDP and TCP on one port: the [`Transport`] of a real node.
///
/// ```
/// use std::sync::Arc;
/// use rumor_net::transport::{Class, Transport, Via};
/// use rumor_net::{NetTransport, TransportConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = || TransportConfig::new("127.0.0.1:0".parse().unwrap());
/// let accept_all = Arc::new(|_: &[u8]| true);
/// let (alice, _) = NetTransport::bind(config(), accept_all.clone()).await?;
/// let (bob, mut bob_inbox) = NetTransport::bind(config(), accept_all).await?;
///
/// alice.send(bob.local_addr(), vec![1; 5_000].into(), Class::Data)?;
/// let got = bob_inbox.recv().await.unwrap();
/// assert_eq!((got.from, got.payload.len(), got.via), (alice.local_addr(), 5_000, Via::Stream));
///
/// alice.shutdown().await;
/// bob.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct NetTransport {
    shared: Arc<Shared>,
    /// The UDP socket, for sends that need not wait (see [`Transport::send`]).
    /// Weak: the receive and send tasks own it, so that it closes, and its
    /// address is free, when they end at shutdown.
    udp: std::sync::Weak<UdpSocket>,
}

impl std::fmt::Debug for NetTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetTransport")
            .field("local", &self.shared.local)
            .finish_non_exhaustive()
    }
}

impl NetTransport {
    /// Binds UDP to `config.bind`, then TCP to the same address and port
    /// (with port 0, retrying up to [`BIND_ATTEMPTS`] OS-chosen ports until
    /// one is free for both), and starts the transport's tasks on the
    /// current tokio runtime. Returns the transport and the [`Inbox`] where
    /// everything received arrives.
    ///
    /// `authenticate` checks the first frame of every inbound stream.
    ///
    /// # Errors
    ///
    /// [`BindError`]: a setting out of range, or a socket that could not be
    /// bound.
    pub async fn bind(
        config: TransportConfig,
        authenticate: Authenticate,
    ) -> Result<(Self, Inbox), BindError> {
        config.check()?;
        let loss = Loss::new(config.loss, config.loss_seed)?;
        let (udp, listener) = bind_pair(config.bind).await?;
        let bound = udp.local_addr().map_err(|source| BindError::Udp {
            addr: config.bind,
            source,
        })?;
        let local = canonical(match config.advertise {
            Some(advertise) if advertise.port() == 0 => {
                SocketAddr::new(advertise.ip(), bound.port())
            }
            Some(advertise) => advertise,
            None => bound,
        });
        let (inbox_tx, inbox) = Inbox::new(config.inbox_capacity, config.max_inbox_stream_bytes);
        let counters = Counters::default();
        size_buffers(&udp, config.udp_buffer_bytes, &counters, local);
        let shared = Arc::new(Shared {
            local,
            bound_ip: bound.ip(),
            authenticate,
            counters,
            datagrams: ClassQueue::new(config.datagram_queue),
            pool: Mutex::new(Pool::default()),
            queued_stream_bytes: ByteBudget::new(config.max_queued_stream_bytes),
            unauthenticated_bytes: ByteBudget::new(config.max_unauthenticated_bytes),
            blocked: Mutex::new(HashSet::new()),
            any_blocked: AtomicBool::new(false),
            loss: Mutex::new(loss),
            latency: Mutex::new(config.latency),
            closed: AtomicBool::new(false),
            tasks: Tasks::new(tokio::runtime::Handle::current()),
            logs: Mutex::new([Slot::default(); LOG_KINDS]),
            epoch: Instant::now(),
            config,
        });
        let udp = Arc::new(udp);
        let weak = Arc::downgrade(&udp);
        {
            let (s, udp, inbox) = (shared.clone(), udp.clone(), inbox_tx.clone());
            shared
                .tasks
                .spawn(move |stop| receive_datagrams(s, udp, inbox, stop));
        }
        {
            let (s, udp) = (shared.clone(), udp.clone());
            shared.tasks.spawn(move |stop| send_datagrams(s, udp, stop));
        }
        {
            let s = shared.clone();
            shared
                .tasks
                .spawn(move |stop| accept(s, listener, inbox_tx, stop));
        }
        Ok((Self { shared, udp: weak }, inbox))
    }
}

impl Drop for NetTransport {
    /// Dropping the transport without [`Transport::shutdown`] still stops
    /// its tasks (without waiting for them).
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

/// Asks the kernel for UDP buffers of `bytes` (unless 0), and records what
/// it granted. Failures are not fatal: the socket keeps its defaults.
fn size_buffers(udp: &UdpSocket, bytes: usize, counters: &Counters, local: SocketAddr) {
    let socket = socket2::SockRef::from(udp);
    if bytes > 0 {
        let asked = (
            socket.set_recv_buffer_size(bytes),
            socket.set_send_buffer_size(bytes),
        );
        if let (Err(error), _) | (_, Err(error)) = asked {
            tracing::info!(transport = %local, bytes, "cannot size the UDP buffers: {error}");
        }
    }
    let recv = socket.recv_buffer_size().unwrap_or(0);
    let send = socket.send_buffer_size().unwrap_or(0);
    add(&counters.udp_recv_buffer, recv as u64);
    add(&counters.udp_send_buffer, send as u64);
    // Linux reports twice the size it grants (the bookkeeping overhead).
    // Logged once per process: a swarm binds a thousand sockets.
    static CAPPED: AtomicBool = AtomicBool::new(false);
    if bytes > 0 && recv < bytes && !CAPPED.swap(true, Ordering::Relaxed) {
        tracing::info!(
            transport = %local,
            asked = bytes,
            granted = recv,
            "the kernel capped the UDP receive buffer (raise net.core.rmem_max)"
        );
    }
}

/// Binds a UDP socket and a TCP listener to one address and port.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), BindError> {
    let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| BindError::Udp { addr, source })?;
        let port = udp
            .local_addr()
            .map_err(|source| BindError::Udp { addr, source })?
            .port();
        let tcp_addr = SocketAddr::new(addr.ip(), port);
        match TcpListener::bind(tcp_addr).await {
            Ok(listener) => return Ok((udp, listener)),
            Err(source) if addr.port() == 0 && source.kind() == io::ErrorKind::AddrInUse => {
                last_error = Some((tcp_addr, source));
            }
            Err(source) => {
                return Err(BindError::Tcp {
                    addr: tcp_addr,
                    source,
                })
            }
        }
    }
    let (addr, source) =
        last_error.unwrap_or_else(|| (addr, io::Error::from(io::ErrorKind::AddrInUse)));
    Err(BindError::Tcp { addr, source })
}

impl Transport for NetTransport {
    fn local_addr(&self) -> SocketAddr {
        self.shared.local
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
        let Some(wire) = s.wire_addr(to) else {
            return refuse(SendError::AddressFamily { to });
        };
        if s.is_blocked(to) {
            s.counters.drop(DropReason::Blocked, 1);
            return Ok(());
        }
        if len > s.config.max_datagram {
            return match self.send_stream(to, payload, class) {
                Ok(()) => Ok(()),
                Err(error) => refuse(error),
            };
        }
        if s.lose() {
            s.counters.drop(DropReason::Loss, 1);
            return Ok(());
        }
        // Nothing queued and no latency injected: the datagram goes out now,
        // from the caller's task, if the socket takes it without waiting.
        // That spares a wake of the send task and its turn per datagram; a
        // full socket buffer (`WouldBlock`) queues it as usual. Nothing
        // queued means nothing of a higher class waits either.
        let socket = self.udp.upgrade();
        if let Some(udp) = socket.filter(|_| s.datagrams.is_empty() && lock(&s.latency).is_none()) {
            match udp.try_send_to(&payload, wire) {
                Ok(_) => {
                    s.counters.sent(Via::Datagram, len);
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    s.counters.drop(DropReason::SendFailed, 1);
                    s.log(LogKind::Send, &format_args!("UDP send to {to}: {error}"));
                    return Ok(());
                }
            }
        }
        add(&s.counters.queued_datagrams, 1);
        match s.datagrams.push(class, (wire, payload)) {
            Ok(()) => Ok(()),
            Err(refused) => {
                sub(&s.counters.queued_datagrams, 1);
                refuse(match refused {
                    Refused::Full(_) => SendError::QueueFull {
                        class,
                        via: Via::Datagram,
                    },
                    Refused::Closed(_) => SendError::Closed,
                })
            }
        }
    }

    fn stats(&self) -> TransportStats {
        self.shared.counters.snapshot()
    }

    fn block(&self, peer: SocketAddr) {
        let mut blocked = lock(&self.shared.blocked);
        blocked.insert(canonical(peer));
        self.shared.any_blocked.store(true, Ordering::Release);
    }

    fn unblock(&self, peer: SocketAddr) {
        let mut blocked = lock(&self.shared.blocked);
        blocked.remove(&canonical(peer));
        self.shared
            .any_blocked
            .store(!blocked.is_empty(), Ordering::Release);
    }

    fn set_loss(&self, loss: f64) -> Result<(), ConfigError> {
        lock(&self.shared.loss).set_probability(loss)
    }

    fn set_latency(&self, latency: Latency) -> Result<(), ConfigError> {
        *lock(&self.shared.latency) = latency.check()?;
        Ok(())
    }

    fn shutdown(&self) -> ShutdownFuture {
        self.shared.begin_shutdown();
        let shared = self.shared.clone();
        Box::pin(async move { shared.tasks.join().await })
    }
}

impl NetTransport {
    /// Queues a frame on the peer's outgoing connection, opening one if
    /// there is none.
    fn send_stream(&self, to: SocketAddr, payload: Bytes, class: Class) -> Result<(), SendError> {
        let s = &self.shared;
        let len = payload.len();
        let full = SendError::QueueFull {
            class,
            via: Via::Stream,
        };
        if !s.queued_stream_bytes.try_reserve(len) {
            return Err(full);
        }
        add(&s.counters.queued_frames, 1);
        add(&s.counters.queued_frame_bytes, len as u64);
        let mut backoff_drop = false;
        let queued = {
            let mut pool = lock(&s.pool);
            if pool.closed {
                Err(SendError::Closed)
            } else {
                match pool.connections.get(&to) {
                    Some(queue) => push_frame(queue, class, payload, full),
                    None if pool.backing_off(to, Instant::now()) => {
                        // Lost, as to a host that is down: not an error.
                        backoff_drop = true;
                        Ok(())
                    }
                    None if pool.connections.len() >= s.config.max_outgoing_connections => {
                        Err(SendError::NoConnectionSlot {
                            max: s.config.max_outgoing_connections,
                        })
                    }
                    None => {
                        let queue = Arc::new(ClassQueue::new(s.config.stream_queue));
                        let pushed = push_frame(&queue, class, payload, full);
                        let task = (s.clone(), queue.clone());
                        let spawned = s.tasks.spawn(move |stop| {
                            let (s, queue) = task;
                            connect_and_write(s, to, queue, stop)
                        });
                        if spawned {
                            pool.connections.insert(to, queue);
                            pushed
                        } else {
                            Err(SendError::Closed)
                        }
                    }
                }
            }
        };
        if queued.is_err() {
            s.frames_left_queue(len);
        } else if backoff_drop {
            s.frames_left_queue(len);
            s.counters.drop(DropReason::ConnectBackoff, 1);
        }
        queued
    }
}

fn push_frame(
    queue: &ClassQueue<Bytes>,
    class: Class,
    payload: Bytes,
    full: SendError,
) -> Result<(), SendError> {
    queue.push(class, payload).map_err(|refused| match refused {
        Refused::Full(_) => full,
        Refused::Closed(_) => SendError::Closed,
    })
}

impl Shared {
    /// The address to hand the UDP socket for `to` (canonical), or `None`
    /// when the socket cannot reach it: an IPv4 socket reaches IPv4; an
    /// IPv6 socket reaches IPv6, and IPv4 through mapped addresses only when
    /// bound to `::` (dual stack) or to a mapped address.
    fn wire_addr(&self, to: SocketAddr) -> Option<SocketAddr> {
        match (self.bound_ip, to.ip()) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Some(to),
            (IpAddr::V4(_), IpAddr::V6(_)) => None,
            (IpAddr::V6(bound), IpAddr::V4(v4)) => (bound.is_unspecified()
                || bound.to_ipv4_mapped().is_some())
            .then(|| SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), to.port())),
        }
    }

    fn is_blocked(&self, peer: SocketAddr) -> bool {
        self.any_blocked.load(Ordering::Acquire) && lock(&self.blocked).contains(&peer)
    }

    fn lose(&self) -> bool {
        let mut loss = lock(&self.loss);
        loss.is_lossy() && loss.lose()
    }

    /// Accounts for a frame that left the outgoing queues (sent or not).
    fn frames_left_queue(&self, len: usize) {
        self.queued_stream_bytes.release(len);
        sub(&self.counters.queued_frames, 1);
        sub(&self.counters.queued_frame_bytes, len as u64);
    }

    /// Accounts for frames dropped from a queue.
    fn drop_frames(&self, frames: &[Bytes], reason: DropReason) {
        for frame in frames {
            self.frames_left_queue(frame.len());
        }
        self.counters.drop(reason, frames.len() as u64);
    }

    /// Puts a payload received in the inbox, unless its sender is blocked.
    fn deliver(&self, from: SocketAddr, payload: Bytes, via: Via, inbox: &InboxSender) {
        if self.is_blocked(from) {
            self.counters.drop(DropReason::Blocked, 1);
            return;
        }
        inbox.deliver(Incoming { from, payload, via }, &self.counters);
    }

    /// Logs a warning, at most once per kind per interval.
    fn log(&self, kind: LogKind, message: &dyn std::fmt::Display) {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let admitted = lock(&self.logs)[kind as usize].admit(DEFAULT_LOG_INTERVAL_MS, now_ms);
        if let Some(suppressed) = admitted {
            tracing::warn!(
                transport = %self.local,
                kind = ?kind,
                suppressed,
                "{message}"
            );
        }
    }

    /// Refuses new sends, drops what is queued, stops the tasks.
    fn begin_shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let left = self.datagrams.close();
        sub(&self.counters.queued_datagrams, left.len() as u64);
        self.counters.drop(DropReason::Closed, left.len() as u64);
        let connections: Vec<_> = {
            let mut pool = lock(&self.pool);
            pool.closed = true;
            pool.connections.drain().map(|(_, queue)| queue).collect()
        };
        for queue in connections {
            self.drop_frames(&queue.close(), DropReason::Closed);
        }
        self.tasks.stop();
    }
}

/// Counts a connection open while it lives.
struct OpenGauge<'a>(&'a AtomicU64);

impl<'a> OpenGauge<'a> {
    fn new(gauge: &'a AtomicU64) -> Self {
        add(gauge, 1);
        Self(gauge)
    }
}

impl Drop for OpenGauge<'_> {
    fn drop(&mut self) {
        sub(self.0, 1);
    }
}

/// Bytes reserved from a budget, given back when dropped (also when the
/// future holding it is cancelled by a deadline).
struct Reservation<'a> {
    budget: &'a ByteBudget,
    bytes: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

fn is_transient(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// The UDP receive loop.
async fn receive_datagrams(
    s: Arc<Shared>,
    socket: Arc<UdpSocket>,
    inbox: InboxSender,
    mut stop: Stop,
) {
    // One byte more than the largest datagram: a datagram that fills the
    // buffer was longer (and was cut by the OS), so it is dropped.
    let mut buffer = vec![0; s.config.max_datagram + 1];
    // One stop future for the task's life: a new one per datagram registered
    // with the stop signal each time (3 % of a 1,000-agent swarm's CPU).
    let stopped = stop.stopped();
    tokio::pin!(stopped);
    loop {
        let received = tokio::select! {
            biased;
            () = &mut stopped => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        match received {
            Ok((len, _)) if len > s.config.max_datagram => {
                s.counters.drop(DropReason::Oversize, 1);
            }
            Ok((len, from)) => {
                let payload = Bytes::copy_from_slice(&buffer[..len]);
                s.deliver(canonical(from), payload, Via::Datagram, &inbox);
            }
            Err(error) => {
                add(&s.counters.recv_errors, 1);
                if !is_transient(error.kind()) {
                    s.log(LogKind::Receive, &format_args!("UDP receive: {error}"));
                    tokio::select! {
                        biased;
                        () = &mut stopped => return,
                        () = tokio::time::sleep(ERROR_BACKOFF) => {}
                    }
                }
            }
        }
    }
}

/// A datagram held back by the injected latency until `due`; `seq` keeps
/// those due at once in the order they were taken.
struct Delayed {
    due: Instant,
    seq: u64,
    to: SocketAddr,
    payload: Bytes,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Delayed {}

impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Delayed {
    /// Reversed: the earliest is the greatest, on top of the max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// The UDP send loop: the datagram queue, membership first. With injected
/// latency, each datagram taken waits in a heap (at most
/// `max_delayed_datagrams`, owned by this task) until its delay has passed.
async fn send_datagrams(s: Arc<Shared>, socket: Arc<UdpSocket>, mut stop: Stop) {
    let mut delayed = std::collections::BinaryHeap::<Delayed>::new();
    let mut rng: rand_pcg::Pcg32 =
        rand::SeedableRng::seed_from_u64(s.config.loss_seed ^ 0x6c61_7465_6e63_7921);
    let mut seq = 0_u64;
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    // One stop future for the task's life (see `receive_datagrams`).
    let stopped = stop.stopped();
    tokio::pin!(stopped);
    loop {
        if let Some(first) = delayed.peek() {
            if timer.deadline() != first.due {
                timer.as_mut().reset(first.due);
            }
        }
        let next = tokio::select! {
            biased;
            () = &mut stopped => {
                let left = delayed.len() as u64;
                sub(&s.counters.queued_datagrams, left);
                s.counters.drop(DropReason::Closed, left);
                return;
            }
            () = &mut timer, if !delayed.is_empty() => None,
            next = s.datagrams.pop() => match next {
                Some(next) => Some(next),
                None => return,
            },
        };
        let (to, payload) = match next {
            Some((to, payload)) => {
                let latency = *lock(&s.latency);
                if latency.is_none() {
                    (to, payload)
                } else if delayed.len() >= s.config.max_delayed_datagrams {
                    sub(&s.counters.queued_datagrams, 1);
                    s.counters.drop(DropReason::DelayFull, 1);
                    continue;
                } else {
                    let due = Instant::now() + latency.draw(&mut rng);
                    seq += 1;
                    delayed.push(Delayed {
                        due,
                        seq,
                        to,
                        payload,
                    });
                    continue;
                }
            }
            None => match delayed.pop() {
                Some(first) => (first.to, first.payload),
                None => continue,
            },
        };
        sub(&s.counters.queued_datagrams, 1);
        let sent = tokio::select! {
            biased;
            () = &mut stopped => {
                let left = delayed.len() as u64;
                sub(&s.counters.queued_datagrams, left);
                s.counters.drop(DropReason::Closed, left + 1);
                return;
            }
            sent = socket.send_to(&payload, to) => sent,
        };
        match sent {
            Ok(_) => s.counters.sent(Via::Datagram, payload.len()),
            Err(error) => {
                s.counters.drop(DropReason::SendFailed, 1);
                s.log(LogKind::Send, &format_args!("UDP send to {to}: {error}"));
            }
        }
    }
}

/// The TCP accept loop: a permit first, then `accept`.
async fn accept(s: Arc<Shared>, listener: TcpListener, inbox: InboxSender, mut stop: Stop) {
    let permits = Arc::new(Semaphore::new(s.config.max_connections));
    loop {
        let permit = tokio::select! {
            biased;
            () = stop.stopped() => return,
            permit = permits.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            biased;
            () = stop.stopped() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, seen)) => {
                add(&s.counters.connections_accepted, 1);
                let task = (s.clone(), inbox.clone());
                s.tasks.spawn(move |stop| {
                    let (s, inbox) = task;
                    read_inbound(s, stream, canonical(seen), permit, inbox, stop)
                });
            }
            Err(error) => {
                add(&s.counters.accept_errors, 1);
                s.log(LogKind::Accept, &format_args!("TCP accept: {error}"));
                tokio::select! {
                    biased;
                    () = stop.stopped() => return,
                    () = tokio::time::sleep(ERROR_BACKOFF) => {}
                }
            }
        }
    }
}

fn frame_close_reason(error: &FrameError) -> CloseReason {
    match error {
        FrameError::BadLength => CloseReason::FrameTooLarge,
        FrameError::OverBudget { .. } => CloseReason::AuthBudget,
        FrameError::Truncated | FrameError::Io => CloseReason::StreamError,
    }
}

/// One inbound connection, from accept to close.
async fn read_inbound(
    s: Arc<Shared>,
    stream: TcpStream,
    seen: SocketAddr,
    permit: OwnedSemaphorePermit,
    inbox: InboxSender,
    mut stop: Stop,
) {
    let reason = {
        let _open = OpenGauge::new(&s.counters.connections_in);
        tokio::select! {
            biased;
            () = stop.stopped() => CloseReason::Shutdown,
            reason = serve_inbound(&s, stream, seen, &inbox) => reason,
        }
    };
    s.counters.close(reason);
    if matches!(
        reason,
        CloseReason::AuthFailed | CloseReason::BadPreamble | CloseReason::FrameTooLarge
    ) {
        s.log(
            LogKind::Refused,
            &format_args!("inbound stream from {seen} closed: {reason}"),
        );
    }
    drop(permit);
}

/// Authenticates an inbound connection, then delivers its frames; returns
/// why it closed.
async fn serve_inbound(
    s: &Shared,
    stream: TcpStream,
    seen: SocketAddr,
    inbox: &InboxSender,
) -> CloseReason {
    let max_frame = s.config.max_frame;
    let mut reader = BufReader::with_capacity(STREAM_BUFFER, stream);
    let started = Instant::now();
    let head = timeout(s.config.first_frame_deadline, async {
        let mut preamble = [0; PREAMBLE_LEN];
        if let Err(error) = reader.read_exact(&mut preamble).await {
            return Err(frame_close_reason(&error.into()));
        }
        let advertised = frame::decode_preamble(&preamble).ok_or(CloseReason::BadPreamble)?;
        // A peer bound to a wildcard address advertises it: the address it
        // connected from stands in for the IP.
        let from = if advertised.ip().is_unspecified() {
            canonical(SocketAddr::new(seen.ip(), advertised.port()))
        } else {
            advertised
        };
        match frame::read_prefix(&mut reader, max_frame).await {
            Ok(Some(len)) => Ok((from, len)),
            Ok(None) => Err(CloseReason::PeerClosed),
            Err(error) => Err(frame_close_reason(&error)),
        }
    })
    .await;
    let (from, len) = match head {
        Err(_elapsed) => return CloseReason::AuthTimeout,
        Ok(Err(reason)) => return reason,
        Ok(Ok(head)) => head,
    };
    // The budget is charged as the payload's buffer grows with bytes that
    // arrived, not for the length claimed: a claim alone costs at most the
    // first chunk.
    let mut reserved = Reservation {
        budget: &s.unauthenticated_bytes,
        bytes: 0,
    };
    let grant = |more: usize| {
        let granted = s.unauthenticated_bytes.try_reserve(more);
        if granted {
            reserved.bytes += more;
        }
        granted
    };
    // What is left of the deadline, plus the time the frame's length takes
    // at the slowest rate accepted: a long first frame on a slow link is not
    // cut off, and the bytes such frames hold are bounded by the budget.
    let left = s
        .config
        .first_frame_deadline
        .saturating_sub(started.elapsed())
        .saturating_add(transfer_time(&s.config, len));
    let read = frame::read_payload_granted(&mut reader, len, grant);
    let payload = match timeout(left, read).await {
        Err(_elapsed) => return CloseReason::AuthTimeout,
        Ok(Err(error)) => return frame_close_reason(&error),
        Ok(Ok(payload)) => payload,
    };
    drop(reserved);
    if !(s.authenticate)(&payload) {
        return CloseReason::AuthFailed;
    }
    s.deliver(from, payload, Via::Stream, inbox);
    let idle = s.config.idle_timeout.saturating_mul(2);
    loop {
        let len = match timeout(idle, frame::read_prefix(&mut reader, max_frame)).await {
            Err(_elapsed) => return CloseReason::Idle,
            Ok(Ok(Some(len))) => len,
            Ok(Ok(None)) => return CloseReason::PeerClosed,
            Ok(Err(error)) => return frame_close_reason(&error),
        };
        // Room in the inbox is taken as the payload's buffer grows, so frames
        // being read are bounded with those waiting (by bytes that arrived,
        // not by lengths claimed); a frame that runs out of room (or comes
        // from a blocked peer) is read past, not kept.
        let read = async {
            if s.is_blocked(from) {
                frame::skip_payload(&mut reader, len).await?;
                return Ok(Err(DropReason::Blocked));
            }
            let mut room = inbox.frame_room();
            let read = frame::read_payload_granted(&mut reader, len, |more| room.grow(more)).await;
            match read {
                Ok(payload) => Ok(Ok((payload, room))),
                Err(FrameError::OverBudget { read }) => {
                    drop(room);
                    frame::skip_payload(&mut reader, len - read).await?;
                    Ok(Err(DropReason::InboxFull))
                }
                Err(error) => Err(error),
            }
        };
        match timeout(s.config.frame_timeout, read).await {
            Err(_elapsed) => return CloseReason::StreamError,
            Ok(Err(error)) => return frame_close_reason(&error),
            Ok(Ok(Ok((payload, room)))) => {
                let incoming = Incoming {
                    from,
                    payload,
                    via: Via::Stream,
                };
                inbox.deliver_frame(incoming, room, &s.counters);
            }
            Ok(Ok(Err(reason))) => s.counters.drop(reason, 1),
        }
    }
}

/// The time a frame of `len` bytes takes at the slowest rate a stream may
/// go: `frame_timeout` for a frame of `max_frame` bytes.
fn transfer_time(config: &TransportConfig, len: usize) -> Duration {
    let nanos = config.frame_timeout.as_nanos().saturating_mul(len as u128)
        / config.max_frame.max(1) as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// One outgoing connection: connect, then write the peer's queued frames
/// until idle, an error or shutdown; then leave the pool and drop what is
/// left in its queue.
async fn connect_and_write(
    s: Arc<Shared>,
    peer: SocketAddr,
    queue: Arc<ClassQueue<Bytes>>,
    mut stop: Stop,
) {
    let reason = write_outgoing(&s, peer, &queue, &mut stop).await;
    {
        let mut pool = lock(&s.pool);
        if reason != CloseReason::Shutdown {
            let connected = reason != CloseReason::ConnectFailed;
            pool.attempted(peer, connected, Instant::now(), &s.config);
        }
        if pool
            .connections
            .get(&peer)
            .is_some_and(|q| Arc::ptr_eq(q, &queue))
        {
            pool.connections.remove(&peer);
        }
    }
    // Counted once the pool forgot the connection and holds its backoff:
    // whoever sees the close counted sees its sends take the new rule.
    s.counters.close(reason);
    if reason == CloseReason::ConnectFailed {
        s.log(
            LogKind::Connect,
            &format_args!("cannot connect to {peer}: its queued frames are dropped"),
        );
    }
    let dropped = if reason == CloseReason::Shutdown {
        DropReason::Closed
    } else {
        DropReason::ConnectionFailed
    };
    s.drop_frames(&queue.close(), dropped);
}

async fn write_outgoing(
    s: &Shared,
    peer: SocketAddr,
    queue: &ClassQueue<Bytes>,
    stop: &mut Stop,
) -> CloseReason {
    let connect = timeout(s.config.connect_timeout, TcpStream::connect(peer));
    let stream = tokio::select! {
        biased;
        () = stop.stopped() => return CloseReason::Shutdown,
        connected = connect => match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => return CloseReason::ConnectFailed,
        },
    };
    add(&s.counters.connections_opened, 1);
    let _open = OpenGauge::new(&s.counters.connections_out);
    // Frames are whole messages: do not hold their last segment back.
    let _ = stream.set_nodelay(true);
    let (mut read_half, write_half) = stream.into_split();
    let mut writer = BufWriter::with_capacity(STREAM_BUFFER, write_half);
    let mut preamble = Some(frame::encode_preamble(s.local));
    // The peer never writes on this connection: a byte or the end of its
    // stream means it is gone (or broken).
    let mut probe = [0; 1];
    loop {
        let next = tokio::select! {
            biased;
            () = stop.stopped() => return CloseReason::Shutdown,
            read = read_half.read(&mut probe) => {
                return match read {
                    Ok(0) => CloseReason::PeerClosed,
                    _ => CloseReason::StreamError,
                };
            }
            next = timeout(s.config.idle_timeout, queue.pop()) => next,
        };
        let payload = match next {
            Ok(Some(payload)) => payload,
            Ok(None) => return CloseReason::Shutdown,
            Err(_idle) => {
                // Leave the pool only with nothing queued: a send racing
                // with this check either queued before it (and is written)
                // or finds no connection and opens a new one.
                let mut pool = lock(&s.pool);
                if !queue.is_empty() {
                    continue;
                }
                if pool
                    .connections
                    .get(&peer)
                    .is_some_and(|q| std::ptr::eq(Arc::as_ptr(q), queue))
                {
                    pool.connections.remove(&peer);
                }
                return CloseReason::Idle;
            }
        };
        s.frames_left_queue(payload.len());
        let write = async {
            if let Some(preamble) = preamble.take() {
                writer.write_all(&preamble).await?;
            }
            frame::write_frame(&mut writer, &payload).await?;
            writer.flush().await
        };
        let written = tokio::select! {
            biased;
            () = stop.stopped() => {
                s.counters.drop(DropReason::Closed, 1);
                return CloseReason::Shutdown;
            }
            written = timeout(s.config.frame_timeout, write) => written,
        };
        match written {
            Ok(Ok(())) => s.counters.sent(Via::Stream, payload.len()),
            Ok(Err(error)) => {
                s.counters.drop(DropReason::ConnectionFailed, 1);
                s.log(LogKind::Stream, &format_args!("writing to {peer}: {error}"));
                return CloseReason::StreamError;
            }
            Err(_elapsed) => {
                s.counters.drop(DropReason::ConnectionFailed, 1);
                s.log(
                    LogKind::Stream,
                    &format_args!("writing to {peer}: no progress for the frame timeout"),
                );
                return CloseReason::StreamError;
            }
        }
    }
}
