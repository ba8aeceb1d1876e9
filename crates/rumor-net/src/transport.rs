//! The transports: how sealed envelopes travel between addresses, behind one
//! [`Transport`] trait.
//!
//! A transport moves opaque byte payloads (already sealed envelopes) between
//! [`SocketAddr`]s; it knows nothing of gossip. Two implementations:
//!
//! - [`NetTransport`](crate::NetTransport): UDP for payloads of at most
//!   `max_datagram` bytes (1,200 by default: nothing relies on IP
//!   fragmentation), TCP on the same port for larger ones (catch-up
//!   `delta_since`, large deltas), in frames of a `u32` length and the
//!   payload (`docs/PROTOCOL.md`, "Transport").
//! - [`MemoryTransport`](crate::MemoryTransport): in-process delivery through
//!   a [`MemoryNetwork`](crate::MemoryNetwork) hub, with the same queues and
//!   the same size rule, seeded loss and partitions, for tests.
//!
//! Both keep the same promises, checked by one conformance suite
//! (`crates/rumor-net/tests/transport.rs`):
//!
//! - **Sending never blocks.** [`Transport::send`] enqueues into bounded
//!   queues and returns at once; a full queue refuses the payload with a
//!   [`SendError`] and counts it. Each destination queue has two classes:
//!   [`Class::Membership`] is always sent before [`Class::Data`].
//! - **Receiving never blocks the socket reader.** Payloads arrive in an
//!   [`Inbox`] (bounded in items and in stream bytes), handed out when the
//!   transport is made; when it is full, a payload is dropped and counted.
//! - **Addresses are canonical**: an IPv4-mapped IPv6 address
//!   (`::ffff:a.b.c.d`) is reported and keyed as the IPv4 address
//!   ([`canonical`]), so a peer is one key whichever socket it came through.
//! - **Shutdown ends everything**: [`Transport::shutdown`] completes once
//!   every task the transport spawned has ended and every socket is closed.
//!
//! Every count lives in [`TransportStats`], a plain `Copy` snapshot.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

pub mod frame;
pub mod memory;
pub mod net;
pub(crate) mod queue;

/// The most a datagram carries by default: 1,200 bytes, under every path's
/// MTU (IPv6 guarantees 1,280 bytes), so nothing relies on IP
/// fragmentation.
pub const DEFAULT_MAX_DATAGRAM: usize = 1_200;
/// The largest datagram payload a transport accepts as its `max_datagram`:
/// the largest UDP payload over IPv4.
pub const MAX_DATAGRAM_LIMIT: usize = 65_507;
/// The largest stream frame by default: 16 MiB, the codec's decode limit
/// (`rumor_crdt::codec::DEFAULT_LIMIT`).
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;
/// Outgoing datagrams queued, per class, by default. At 1,200 bytes each,
/// 2.4 MiB with both classes full.
pub const DEFAULT_DATAGRAM_QUEUE: usize = 1_024;
/// Outgoing frames queued per destination, per class, by default.
pub const DEFAULT_STREAM_QUEUE: usize = 64;
/// The bytes of all frames queued for sending, every destination together,
/// by default: 64 MiB.
pub const DEFAULT_MAX_QUEUED_STREAM_BYTES: usize = 64 << 20;
/// Payloads the [`Inbox`] holds by default, before new ones are dropped.
pub const DEFAULT_INBOX_CAPACITY: usize = 4_096;
/// The bytes of stream frames the [`Inbox`] holds by default: 64 MiB.
/// (Datagrams are bounded by the item capacity: 4,096 × 1,200 bytes.)
pub const DEFAULT_MAX_INBOX_STREAM_BYTES: usize = 64 << 20;

/// A check run on the first frame of every inbound stream: `true` keeps the
/// connection open, `false` closes it (counted as
/// [`CloseReason::AuthFailed`]). The runtime passes "does this frame open as
/// an envelope": [`EnvelopeCodec::authenticate`](crate::EnvelopeCodec::authenticate).
/// It runs on the connection's own task, never on the caller of
/// [`Transport::send`].
///
/// The first frame is delivered to the [`Inbox`] like every later one, so a
/// check that opens the envelope must not also record its nonce, or the
/// delivered copy would be refused as a replay (`authenticate` does not).
pub type Authenticate = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What [`Transport::shutdown`] returns: completes when everything ended.
pub type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Which of a destination's two queues a payload waits in. Whatever is
/// queued in [`Class::Membership`] is sent before anything queued in
/// [`Class::Data`], and each class has its own capacity, so a backlog of
/// data never delays or crowds out failure detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Probes, acks, membership changes: small and urgent.
    Membership,
    /// Deltas, digests, catch-ups.
    Data,
}

/// How a payload travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// One datagram: a payload of at most `max_datagram` bytes.
    Datagram,
    /// One frame of a stream: a payload larger than `max_datagram`.
    Stream,
}

/// A payload received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The sender's address, canonical ([`canonical`]). For a datagram, its
    /// source address; for a stream frame, the address the sender
    /// advertises (`docs/PROTOCOL.md`, "Stream preamble"), not the
    /// connection's ephemeral port. The two are the same unless the sender
    /// advertises an address other than the one it is bound to (a NAT, a
    /// container): then its datagrams come from the bound address.
    pub from: SocketAddr,
    /// The payload: one envelope, unopened.
    pub payload: Bytes,
    /// Whether it came as a datagram or as a stream frame.
    pub via: Via,
}

/// Why [`Transport::send`] refused a payload. Each refusal is also counted
/// in [`TransportStats::dropped`] under its [`DropReason`]. A payload the
/// network loses (injected loss, a block or a partition, a peer that cannot
/// be reached) is not an error: like a real network, the transport drops it
/// silently and counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The destination's queue for this class is full (or, for a stream,
    /// the bytes queued for every destination reached their bound). The
    /// caller is sending faster than the network drains.
    #[error("the outgoing {via:?} queue is full ({class:?})")]
    QueueFull {
        /// The class of the payload refused.
        class: Class,
        /// The queue it would have waited in.
        via: Via,
    },
    /// The payload is longer than the largest frame.
    #[error("payload of {len} bytes exceeds the largest frame of {max} bytes")]
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The transport's `max_frame`.
        max: usize,
    },
    /// A stream was needed to a destination with no open connection, and
    /// the pool of outgoing connections is full.
    #[error("no outgoing connection slot: {max} connections are open")]
    NoConnectionSlot {
        /// The pool's bound.
        max: usize,
    },
    /// The destination is an IPv6 address and the transport is bound to an
    /// IPv4 address, or an IPv4 address and the transport is bound to one
    /// IPv6 address (not `::`), so it cannot be reached from here.
    #[error("{to} cannot be reached from a socket of the other address family")]
    AddressFamily {
        /// The destination.
        to: SocketAddr,
    },
    /// The transport was shut down.
    #[error("the transport is shut down")]
    Closed,
}

impl SendError {
    /// The reason this refusal is counted under.
    #[must_use]
    pub const fn reason(&self) -> DropReason {
        match self {
            Self::QueueFull { .. } => DropReason::QueueFull,
            Self::TooLarge { .. } => DropReason::TooLarge,
            Self::NoConnectionSlot { .. } => DropReason::NoConnectionSlot,
            Self::AddressFamily { .. } => DropReason::AddressFamily,
            Self::Closed => DropReason::Closed,
        }
    }
}

/// A transport: sends payloads to addresses, delivers what arrives to its
/// [`Inbox`]. Object safe, so a runtime may hold an `Arc<dyn Transport>`.
///
/// The rule for a payload of `n` bytes: `n ≤ max_datagram()` goes as one
/// datagram, `max_datagram() < n ≤ max_frame()` as one stream frame, larger
/// is refused.
pub trait Transport: Send + Sync + 'static {
    /// The address peers reach this transport at (the advertised address,
    /// canonical): what the runtime tells others.
    fn local_addr(&self) -> SocketAddr;

    /// The largest payload sent as one datagram.
    fn max_datagram(&self) -> usize;

    /// The largest payload sent at all (as one stream frame).
    fn max_frame(&self) -> usize;

    /// Queues `payload` for `to` and returns at once: it never waits for a
    /// socket or a peer. A refusal is an error and is counted; a loss (see
    /// [`SendError`]) is only counted.
    ///
    /// # Errors
    ///
    /// [`SendError`]: the queue is full, the payload is too large, no
    /// connection slot is free, the address family differs, or the
    /// transport is shut down.
    fn send(&self, to: SocketAddr, payload: Bytes, class: Class) -> Result<(), SendError>;

    /// A snapshot of the counters.
    fn stats(&self) -> TransportStats;

    /// Drops everything sent to `peer` and everything received from it,
    /// until [`unblock`](Transport::unblock): a partition made in the
    /// transport, for tests on real sockets. Counted as
    /// [`DropReason::Blocked`].
    fn block(&self, peer: SocketAddr);

    /// Lets traffic to and from `peer` through again.
    fn unblock(&self, peer: SocketAddr);

    /// Sets the probability that an outgoing datagram is lost, from now on
    /// (the draws go on from the same seeded sequence). Counted as
    /// [`DropReason::Loss`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Loss`] when `loss` is not in `0.0..=1.0`.
    fn set_loss(&self, loss: f64) -> Result<(), ConfigError>;

    /// Sets the latency injected into outgoing datagrams, from now on
    /// (datagrams already held back keep their delay).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Latency`] for a range out of bounds;
    /// [`ConfigError::Unsupported`] where the transport cannot delay (the
    /// memory transport).
    fn set_latency(&self, latency: Latency) -> Result<(), ConfigError> {
        latency.check()?;
        Err(ConfigError::Unsupported("latency"))
    }

    /// Stops the transport: no more sends are accepted, every task ends,
    /// every socket closes, queued payloads are dropped (counted as
    /// [`DropReason::Closed`]), and the [`Inbox`] ends (`recv` returns
    /// `None`) once drained. The future completes when all of that is done;
    /// calling it again returns a future that completes at once, or when the
    /// first shutdown does.
    fn shutdown(&self) -> ShutdownFuture;
}

/// The canonical form of an address: an IPv4-mapped IPv6 address
/// (`[::ffff:a.b.c.d]:p`) becomes the IPv4 address `a.b.c.d:p`; anything
/// else is unchanged (an IPv6 address loses no scope id: only mapped ones
/// are converted). A dual-stack socket reports IPv4 peers in the mapped
/// form; canonical addresses make each peer one key.
///
/// ```
/// use rumor_net::transport::canonical;
///
/// let mapped = "[::ffff:10.0.0.1]:7946".parse().unwrap();
/// assert_eq!(canonical(mapped), "10.0.0.1:7946".parse().unwrap());
/// let v6 = "[::1]:7946".parse().unwrap();
/// assert_eq!(canonical(v6), v6);
/// ```
#[must_use]
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Why a payload was dropped: a closed set, small enough to label a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Outgoing: its queue was full ([`SendError::QueueFull`]).
    QueueFull,
    /// Outgoing: longer than `max_frame` ([`SendError::TooLarge`]).
    TooLarge,
    /// Outgoing: the connection pool was full
    /// ([`SendError::NoConnectionSlot`]).
    NoConnectionSlot,
    /// Outgoing: the other address family ([`SendError::AddressFamily`]).
    AddressFamily,
    /// Outgoing: sent after shutdown ([`SendError::Closed`]), or still
    /// queued when the transport shut down.
    Closed,
    /// Outgoing: dropped by the injected loss (datagrams only).
    Loss,
    /// Either way: the peer is blocked, or a partition separates the two.
    Blocked,
    /// Outgoing: queued for a stream whose connection failed, or that
    /// closed before the frame was written.
    ConnectionFailed,
    /// Outgoing: no transport at that address (the memory transport only;
    /// a real network does not say).
    Unreachable,
    /// Outgoing: the socket refused the datagram (counted once per send
    /// error, logged at a rate limit).
    SendFailed,
    /// Incoming: the [`Inbox`] was full (items, or stream bytes).
    InboxFull,
    /// Incoming: a datagram longer than `max_datagram`.
    Oversize,
    /// Outgoing: held back by the injected latency while
    /// `max_delayed_datagrams` others already were.
    DelayFull,
    /// Outgoing: a frame for a peer whose last connection attempt failed,
    /// sent before its reconnect backoff ran out (no connection tried).
    ConnectBackoff,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [Self; 14] = [
        Self::QueueFull,
        Self::TooLarge,
        Self::NoConnectionSlot,
        Self::AddressFamily,
        Self::Closed,
        Self::Loss,
        Self::Blocked,
        Self::ConnectionFailed,
        Self::Unreachable,
        Self::SendFailed,
        Self::InboxFull,
        Self::Oversize,
        Self::DelayFull,
        Self::ConnectBackoff,
    ];

    /// A stable snake-case name, for logs and metric labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::TooLarge => "too_large",
            Self::NoConnectionSlot => "no_connection_slot",
            Self::AddressFamily => "address_family",
            Self::Closed => "closed",
            Self::Loss => "loss",
            Self::Blocked => "blocked",
            Self::ConnectionFailed => "connection_failed",
            Self::Unreachable => "unreachable",
            Self::SendFailed => "send_failed",
            Self::InboxFull => "inbox_full",
            Self::Oversize => "oversize",
            Self::DelayFull => "delay_full",
            Self::ConnectBackoff => "connect_backoff",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a stream connection was closed: a closed set, small enough to label
/// a metric. Inbound unless the variant says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseReason {
    /// The preamble and first frame did not arrive within
    /// `first_frame_deadline`, plus the time the first frame's length takes
    /// at the slowest rate accepted (a half-open or slow connection).
    AuthTimeout,
    /// The first frame failed the [`Authenticate`] check.
    AuthFailed,
    /// The preamble is not a rumor stream preamble (garbage, another
    /// protocol).
    BadPreamble,
    /// A frame's length prefix is over `max_frame`: nothing was buffered
    /// for it.
    FrameTooLarge,
    /// The first frame's bytes, as they arrived, went over what the budget
    /// for unauthenticated connections has left.
    AuthBudget,
    /// Either way: no frame for the idle timeout.
    Idle,
    /// Either way: the peer closed the connection (inbound: at a frame
    /// boundary, the normal end).
    PeerClosed,
    /// Either way: an I/O error, a connection cut inside a frame, bytes on
    /// an outgoing connection (which the peer must never write to), or a
    /// frame that took longer than the write timeout.
    StreamError,
    /// Outgoing: the connection could not be opened (refused, unreachable,
    /// or over the connect timeout).
    ConnectFailed,
    /// Either way: the transport shut down.
    Shutdown,
}

impl CloseReason {
    /// Every reason.
    pub const ALL: [Self; 10] = [
        Self::AuthTimeout,
        Self::AuthFailed,
        Self::BadPreamble,
        Self::FrameTooLarge,
        Self::AuthBudget,
        Self::Idle,
        Self::PeerClosed,
        Self::StreamError,
        Self::ConnectFailed,
        Self::Shutdown,
    ];

    /// A stable snake-case name, for logs and metric labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthTimeout => "auth_timeout",
            Self::AuthFailed => "auth_failed",
            Self::BadPreamble => "bad_preamble",
            Self::FrameTooLarge => "frame_too_large",
            Self::AuthBudget => "auth_budget",
            Self::Idle => "idle",
            Self::PeerClosed => "peer_closed",
            Self::StreamError => "stream_error",
            Self::ConnectFailed => "connect_failed",
            Self::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a transport's counters and gauges: plain numbers, no
/// metrics recorder needed.
///
/// Every payload handed to [`Transport::send`] ends in exactly one of
/// `datagrams_out`, `frames_out` or a `dropped` reason (once it has left the
/// queues); every datagram or frame received ends in `datagrams_in`,
/// `frames_in` or a `dropped` reason.
///
/// ```
/// use rumor_net::transport::{DropReason, TransportStats};
///
/// let stats = TransportStats::default();
/// assert_eq!(stats.dropped(DropReason::InboxFull), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams sent (handed to the socket, or delivered in memory).
    pub datagrams_out: u64,
    /// Bytes of the datagrams sent.
    pub datagram_bytes_out: u64,
    /// Datagrams received and put in the inbox.
    pub datagrams_in: u64,
    /// Bytes of the datagrams received.
    pub datagram_bytes_in: u64,
    /// Stream frames written (length prefix excluded).
    pub frames_out: u64,
    /// Bytes of the frames written.
    pub frame_bytes_out: u64,
    /// Stream frames received and put in the inbox.
    pub frames_in: u64,
    /// Bytes of the frames received.
    pub frame_bytes_in: u64,
    /// Outgoing connections opened.
    pub connections_opened: u64,
    /// Inbound connections accepted (before authentication).
    pub connections_accepted: u64,
    /// Outgoing connections open now.
    pub connections_out: u64,
    /// Inbound connections open now.
    pub connections_in: u64,
    /// Datagrams waiting in the outgoing queue now (both classes), or held
    /// back by the injected latency.
    pub queued_datagrams: u64,
    /// Stream frames waiting in outgoing queues now (every destination).
    pub queued_frames: u64,
    /// Bytes of the stream frames waiting in outgoing queues now.
    pub queued_frame_bytes: u64,
    /// Errors the UDP socket returned when receiving (each skipped).
    pub recv_errors: u64,
    /// Errors when accepting a connection (each skipped).
    pub accept_errors: u64,
    /// The UDP socket's receive buffer (SO_RCVBUF) as the kernel reports it
    /// after the transport asked for `udp_buffer_bytes` (Linux reports
    /// twice what it grants, capped by `net.core.rmem_max`); 0 where there
    /// is no socket (the memory transport).
    pub udp_recv_buffer: u64,
    /// The UDP socket's send buffer (SO_SNDBUF), likewise.
    pub udp_send_buffer: u64,
    /// Payloads dropped, by reason.
    pub dropped: Dropped,
    /// Connections closed, by reason.
    pub closed: Closed,
}

impl TransportStats {
    /// Payloads dropped for `reason`.
    #[must_use]
    pub const fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.0[reason as usize]
    }

    /// Payloads dropped, for any reason.
    #[must_use]
    pub fn dropped_total(&self) -> u64 {
        self.dropped.0.iter().fold(0, |a, &b| a.saturating_add(b))
    }

    /// Connections closed for `reason`.
    #[must_use]
    pub const fn closed(&self, reason: CloseReason) -> u64 {
        self.closed.0[reason as usize]
    }
}

/// Payloads dropped, one counter per [`DropReason`]
/// ([`TransportStats::dropped`] reads one).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped([u64; DropReason::ALL.len()]);

impl fmt::Debug for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for reason in DropReason::ALL {
            let n = self.0[reason as usize];
            if n > 0 {
                map.entry(&reason.as_str(), &n);
            }
        }
        map.finish()
    }
}

/// Connections closed, one counter per [`CloseReason`]
/// ([`TransportStats::closed`] reads one).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Closed([u64; CloseReason::ALL.len()]);

impl fmt::Debug for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for reason in CloseReason::ALL {
            let n = self.0[reason as usize];
            if n > 0 {
                map.entry(&reason.as_str(), &n);
            }
        }
        map.finish()
    }
}

/// The live counters behind [`TransportStats`], shared by a transport's
/// tasks.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) datagrams_out: AtomicU64,
    pub(crate) datagram_bytes_out: AtomicU64,
    pub(crate) datagrams_in: AtomicU64,
    pub(crate) datagram_bytes_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) frame_bytes_out: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frame_bytes_in: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_out: AtomicU64,
    pub(crate) connections_in: AtomicU64,
    pub(crate) queued_datagrams: AtomicU64,
    pub(crate) queued_frames: AtomicU64,
    pub(crate) queued_frame_bytes: AtomicU64,
    pub(crate) recv_errors: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) udp_recv_buffer: AtomicU64,
    pub(crate) udp_send_buffer: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    closed: [AtomicU64; CloseReason::ALL.len()],
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Subtracts `n` from a gauge, never below zero.
pub(crate) fn sub(gauge: &AtomicU64, n: u64) {
    let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

impl Counters {
    pub(crate) fn drop(&self, reason: DropReason, n: u64) {
        add(&self.dropped[reason as usize], n);
    }

    /// Counts a refused send and returns its error.
    pub(crate) fn refuse(&self, error: SendError) -> Result<(), SendError> {
        self.drop(error.reason(), 1);
        Err(error)
    }

    /// The checks every transport's `send` makes first: not shut down, and
    /// no larger than `max_frame`. A refusal is counted.
    pub(crate) fn admit(
        &self,
        closed: bool,
        len: usize,
        max_frame: usize,
    ) -> Result<(), SendError> {
        if closed {
            return self.refuse(SendError::Closed);
        }
        if len > max_frame {
            return self.refuse(SendError::TooLarge {
                len,
                max: max_frame,
            });
        }
        Ok(())
    }

    pub(crate) fn close(&self, reason: CloseReason) {
        add(&self.closed[reason as usize], 1);
    }

    pub(crate) fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            datagrams_out: get(&self.datagrams_out),
            datagram_bytes_out: get(&self.datagram_bytes_out),
            datagrams_in: get(&self.datagrams_in),
            datagram_bytes_in: get(&self.datagram_bytes_in),
            frames_out: get(&self.frames_out),
            frame_bytes_out: get(&self.frame_bytes_out),
            frames_in: get(&self.frames_in),
            frame_bytes_in: get(&self.frame_bytes_in),
            connections_opened: get(&self.connections_opened),
            connections_accepted: get(&self.connections_accepted),
            connections_out: get(&self.connections_out),
            connections_in: get(&self.connections_in),
            queued_datagrams: get(&self.queued_datagrams),
            queued_frames: get(&self.queued_frames),
            queued_frame_bytes: get(&self.queued_frame_bytes),
            recv_errors: get(&self.recv_errors),
            accept_errors: get(&self.accept_errors),
            udp_recv_buffer: get(&self.udp_recv_buffer),
            udp_send_buffer: get(&self.udp_send_buffer),
            dropped: Dropped(core::array::from_fn(|i| get(&self.dropped[i]))),
            closed: Closed(core::array::from_fn(|i| get(&self.closed[i]))),
        }
    }

    /// Counts a payload received and delivered.
    pub(crate) fn received(&self, via: Via, len: usize) {
        match via {
            Via::Datagram => {
                add(&self.datagrams_in, 1);
                add(&self.datagram_bytes_in, len as u64);
            }
            Via::Stream => {
                add(&self.frames_in, 1);
                add(&self.frame_bytes_in, len as u64);
            }
        }
    }

    /// Counts a payload sent.
    pub(crate) fn sent(&self, via: Via, len: usize) {
        match via {
            Via::Datagram => {
                add(&self.datagrams_out, 1);
                add(&self.datagram_bytes_out, len as u64);
            }
            Via::Stream => {
                add(&self.frames_out, 1);
                add(&self.frame_bytes_out, len as u64);
            }
        }
    }
}

/// Locks a mutex, taking the data even if a thread panicked holding it
/// (every critical section here leaves the data consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A budget of bytes shared by tasks: reserved before use, released after.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    left: AtomicUsize,
}

impl ByteBudget {
    pub(crate) fn new(bytes: usize) -> Self {
        Self {
            left: AtomicUsize::new(bytes),
        }
    }

    /// Takes `n` bytes if that many are left.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    /// Gives `n` bytes back.
    pub(crate) fn release(&self, n: usize) {
        self.left.fetch_add(n, Ordering::AcqRel);
    }
}

/// Where payloads received are put: the sending half of an [`Inbox`].
/// Never waits: a full inbox drops the payload and counts it.
#[derive(Clone)]
pub(crate) struct InboxSender {
    tx: mpsc::Sender<Incoming>,
    stream_bytes: Arc<ByteBudget>,
}

impl InboxSender {
    /// Puts `incoming` in the inbox, or drops it (counted in `counters`).
    /// Returns whether it was delivered.
    pub(crate) fn deliver(&self, incoming: Incoming, counters: &Counters) -> bool {
        let room = match incoming.via {
            Via::Datagram => None,
            Via::Stream => match self.reserve_frame(incoming.payload.len()) {
                Some(room) => Some(room),
                None => {
                    counters.drop(DropReason::InboxFull, 1);
                    return false;
                }
            },
        };
        self.put(incoming, room, counters)
    }

    /// Reserves room for a stream frame of `len` bytes before its payload is
    /// read, so frames being read count against the inbox's byte bound as
    /// the frames waiting in it do. `None`: no room.
    pub(crate) fn reserve_frame(&self, len: usize) -> Option<FrameRoom> {
        let mut room = self.frame_room();
        room.grow(len).then_some(room)
    }

    /// Empty room for a stream frame, to [`grow`](FrameRoom::grow) as its
    /// payload's buffer does.
    pub(crate) fn frame_room(&self) -> FrameRoom {
        FrameRoom {
            budget: self.stream_bytes.clone(),
            len: 0,
        }
    }

    /// Puts a stream frame in the room grown for it, or drops it. Returns
    /// whether it was delivered.
    pub(crate) fn deliver_frame(
        &self,
        incoming: Incoming,
        mut room: FrameRoom,
        counters: &Counters,
    ) -> bool {
        // The room is the buffer's size: make it the payload's exactly.
        let len = incoming.payload.len();
        if room.len > len {
            room.budget.release(room.len - len);
            room.len = len;
        } else if !room.grow(len - room.len) {
            counters.drop(DropReason::InboxFull, 1);
            return false;
        }
        self.put(incoming, Some(room), counters)
    }

    fn put(&self, incoming: Incoming, room: Option<FrameRoom>, counters: &Counters) -> bool {
        let (via, len) = (incoming.via, incoming.payload.len());
        // A refused payload drops `room`, which gives its bytes back.
        match self.tx.try_send(incoming) {
            Ok(()) => {
                // The bytes are given back when the payload is taken.
                if let Some(room) = room {
                    room.keep();
                }
                counters.received(via, len);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters.drop(DropReason::InboxFull, 1);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                counters.drop(DropReason::Closed, 1);
                false
            }
        }
    }
}

/// Bytes of the inbox's stream budget held for one frame: given back when
/// dropped, unless the frame was delivered (the [`Inbox`] gives them back
/// when the frame is taken).
pub(crate) struct FrameRoom {
    budget: Arc<ByteBudget>,
    len: usize,
}

impl FrameRoom {
    /// Takes `more` bytes of the budget, if that many are left.
    pub(crate) fn grow(&mut self, more: usize) -> bool {
        let granted = self.budget.try_reserve(more);
        if granted {
            self.len += more;
        }
        granted
    }

    /// Leaves the bytes reserved: the frame is in the inbox.
    fn keep(mut self) {
        self.len = 0;
    }
}

impl Drop for FrameRoom {
    fn drop(&mut self) {
        self.budget.release(self.len);
    }
}

/// Where a transport puts what it receives, handed out when the transport
/// is made: a bounded channel, in items and in stream bytes (with
/// [`NetTransport`](crate::NetTransport), the bytes of the frames being
/// read count too). When it is full, new payloads are dropped and counted
/// ([`DropReason::InboxFull`]): a slow reader never blocks a socket.
///
/// [`recv`](Inbox::recv) returns `None` once the transport has shut down
/// and everything it delivered was taken.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Incoming>,
    stream_bytes: Arc<ByteBudget>,
}

impl Inbox {
    /// An inbox holding at most `capacity` payloads (at least 1), of which
    /// stream frames at most `max_stream_bytes` bytes together.
    pub(crate) fn new(capacity: usize, max_stream_bytes: usize) -> (InboxSender, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stream_bytes = Arc::new(ByteBudget::new(max_stream_bytes));
        (
            InboxSender {
                tx,
                stream_bytes: stream_bytes.clone(),
            },
            Self { rx, stream_bytes },
        )
    }

    /// The next payload; `None` when the transport has shut down and the
    /// inbox is empty. Cancel safe (usable in `tokio::select!`).
    pub async fn recv(&mut self) -> Option<Incoming> {
        let incoming = self.rx.recv().await?;
        Some(self.taken(incoming))
    }

    /// The next payload if one is waiting.
    ///
    /// # Errors
    ///
    /// [`mpsc::error::TryRecvError::Empty`] when none is waiting,
    /// [`mpsc::error::TryRecvError::Disconnected`] when the transport has
    /// shut down and the inbox is empty.
    pub fn try_recv(&mut self) -> Result<Incoming, mpsc::error::TryRecvError> {
        let incoming = self.rx.try_recv()?;
        Ok(self.taken(incoming))
    }

    /// Payloads waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no payload is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    fn taken(&self, incoming: Incoming) -> Incoming {
        if incoming.via == Via::Stream {
            self.stream_bytes.release(incoming.payload.len());
        }
        incoming
    }
}

/// Checks the settings shared by both transports.
pub(crate) fn check_sizes(max_datagram: usize, max_frame: usize) -> Result<(), ConfigError> {
    if max_datagram == 0 || max_datagram > MAX_DATAGRAM_LIMIT {
        return Err(ConfigError::MaxDatagram(max_datagram));
    }
    if max_frame < max_datagram || max_frame > u32::MAX as usize {
        return Err(ConfigError::MaxFrame(max_frame));
    }
    Ok(())
}

/// A transport setting out of its range.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_datagram` must be in `1..=65,507`.
    #[error("max_datagram {0} is not in 1..=65507")]
    MaxDatagram(usize),
    /// `max_frame` must be at least `max_datagram` and fit a `u32`.
    #[error("max_frame {0} is below max_datagram or above u32::MAX")]
    MaxFrame(usize),
    /// The loss probability must be in `0.0..=1.0`.
    #[error("loss {0} is not a probability in 0..=1")]
    Loss(f64),
    /// A queue capacity, connection bound or budget is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// The latency's minimum is above its maximum, or its maximum above
    /// [`MAX_LATENCY`].
    #[error("latency {0} is not a range within 0..=60000 ms")]
    Latency(Latency),
    /// This transport cannot inject that fault.
    #[error("this transport cannot inject {0}")]
    Unsupported(&'static str),
}

/// The largest injected latency: one minute.
pub const MAX_LATENCY: core::time::Duration = core::time::Duration::from_secs(60);

/// Injected latency: each outgoing datagram is held back for a time drawn
/// uniformly from `min..=max` (seeded), then sent. [`Latency::NONE`] holds
/// nothing back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// The shortest delay.
    pub min: core::time::Duration,
    /// The longest delay.
    pub max: core::time::Duration,
}

impl Latency {
    /// No delay.
    pub const NONE: Self = Self::between(core::time::Duration::ZERO, core::time::Duration::ZERO);

    /// A delay drawn from `min..=max`.
    #[must_use]
    pub const fn between(min: core::time::Duration, max: core::time::Duration) -> Self {
        Self { min, max }
    }

    /// The same delay for every datagram.
    #[must_use]
    pub const fn fixed(delay: core::time::Duration) -> Self {
        Self::between(delay, delay)
    }

    /// Whether it delays anything.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.max.is_zero()
    }

    /// Checks that `min ≤ max ≤` [`MAX_LATENCY`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Latency`] otherwise.
    pub fn check(self) -> Result<Self, ConfigError> {
        if self.min <= self.max && self.max <= MAX_LATENCY {
            Ok(self)
        } else {
            Err(ConfigError::Latency(self))
        }
    }

    /// A delay drawn from the range with `rng`.
    pub(crate) fn draw(&self, rng: &mut rand_pcg::Pcg32) -> core::time::Duration {
        let spread = self.max.saturating_sub(self.min);
        if spread.is_zero() {
            return self.min;
        }
        let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
        let draw = rand::Rng::next_u64(rng) % nanos.saturating_add(1);
        self.min + core::time::Duration::from_nanos(draw)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} ms", self.min.as_millis(), self.max.as_millis())
    }
}

/// Seeded injected loss: drops each draw with a fixed probability. The same
/// seed gives the same sequence of drops.
#[derive(Debug)]
pub(crate) struct Loss {
    probability: f64,
    rng: rand_pcg::Pcg32,
}

impl Loss {
    pub(crate) fn new(probability: f64, seed: u64) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(ConfigError::Loss(probability));
        }
        Ok(Self {
            probability,
            rng: rand::SeedableRng::seed_from_u64(seed),
        })
    }

    /// No loss.
    pub(crate) fn never() -> Self {
        Self {
            probability: 0.0,
            rng: rand::SeedableRng::seed_from_u64(0),
        }
    }

    /// Changes the probability; the draws go on from the same sequence.
    pub(crate) fn set_probability(&mut self, probability: f64) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(ConfigError::Loss(probability));
        }
        self.probability = probability;
        Ok(())
    }

    pub(crate) fn is_lossy(&self) -> bool {
        self.probability > 0.0
    }

    /// Whether the next payload is lost.
    pub(crate) fn lose(&mut self) -> bool {
        if self.probability <= 0.0 {
            return false;
        }
        // 53 random bits as a uniform float in [0, 1).
        let draw = (rand::Rng::next_u64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        draw < self.probability
    }
}

/// The tasks of one transport: spawned on the runtime it was made in, told
/// to stop together, and awaited together. Each task holds a clone of
/// `alive`; when the last one ends (or unwinds), `ended` yields `None`
/// (mini-redis's shutdown: completion awaited by dropping senders).
pub(crate) struct Tasks {
    runtime: tokio::runtime::Handle,
    alive: Mutex<Option<mpsc::Sender<()>>>,
    ended: tokio::sync::Mutex<mpsc::Receiver<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// A task's view of the stop signal.
pub(crate) struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// Completes once the transport is stopping. Cancel safe.
    pub(crate) async fn stopped(&mut self) {
        // An error means the sender is gone: stopping too.
        let _ = self.0.wait_for(|&stop| stop).await;
    }
}

impl Tasks {
    /// Tasks on `runtime`.
    pub(crate) fn new(runtime: tokio::runtime::Handle) -> Self {
        let (alive, ended) = mpsc::channel(1);
        Self {
            runtime,
            alive: Mutex::new(Some(alive)),
            ended: tokio::sync::Mutex::new(ended),
            stop: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Spawns `task(stop)`, unless the transport is stopping; returns
    /// whether it was spawned.
    pub(crate) fn spawn<F, Fut>(&self, task: F) -> bool
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(alive) = lock(&self.alive).clone() else {
            return false;
        };
        let future = task(Stop(self.stop.subscribe()));
        drop(self.runtime.spawn(async move {
            future.await;
            drop(alive);
        }));
        true
    }

    /// Tells every task to stop; spawns no more.
    pub(crate) fn stop(&self) {
        lock(&self.alive).take();
        self.stop.send_replace(true);
    }

    /// Completes when every task has ended (call [`stop`](Self::stop)
    /// first).
    pub(crate) async fn join(&self) {
        let mut ended = self.ended.lock().await;
        while ended.recv().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_in_declaration_order_with_distinct_names() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        for (i, reason) in CloseReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.extend(CloseReason::ALL.iter().map(|r| r.as_str()));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn mapped_addresses_become_ipv4_and_others_stay() {
        let cases = [
            ("[::ffff:127.0.0.1]:9", "127.0.0.1:9"),
            ("[::ffff:0.0.0.0]:0", "0.0.0.0:0"),
            ("127.0.0.1:9", "127.0.0.1:9"),
            ("[::1]:9", "[::1]:9"),
            // An IPv4-compatible address (deprecated) is not mapped.
            ("[::7f00:1]:9", "[::7f00:1]:9"),
            ("[fe80::1%3]:9", "[fe80::1%3]:9"),
        ];
        for (input, expected) in cases {
            let input: SocketAddr = input.parse().expect("an address");
            assert_eq!(
                canonical(input),
                expected.parse().expect("an address"),
                "{input}"
            );
        }
    }

    #[test]
    fn loss_rejects_what_is_not_a_probability_and_replays_from_its_seed() {
        for p in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
            assert!(Loss::new(p, 0).is_err(), "{p}");
        }
        let draws = |seed| {
            let mut loss = Loss::new(0.3, seed).expect("a probability");
            (0..1_000).map(|_| loss.lose()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let lost = draws(7).iter().filter(|&&l| l).count();
        assert!((250..350).contains(&lost), "{lost}");
        let mut never = Loss::new(0.0, 1).expect("a probability");
        let mut always = Loss::new(1.0, 1).expect("a probability");
        assert!((0..1_000).all(|_| !never.lose() && always.lose()));
    }

    #[test]
    fn a_byte_budget_never_goes_below_zero() {
        let budget = ByteBudget::new(10);
        assert!(budget.try_reserve(6));
        assert!(!budget.try_reserve(5));
        assert!(budget.try_reserve(4));
        assert!(!budget.try_reserve(1));
        budget.release(10);
        assert!(budget.try_reserve(10));
    }
}
