//! The node task: owns the [`Node`], the envelope codec and the transport's
//! inbox; reads the clock; turns commands, received payloads and timers
//! into calls on the node, and its output into sealed sends and changes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::Rng;
use rumor_crdt::{codec, Hlc, HlcTimestamp};
use rumor_gossip::{
    Body, Event, FullView, HyParView, MemberUpdate, Message, Node, OneOf, Output, Probe, TreePlace,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use super::report::{MemberCounts, Publisher};
use super::{GossipBuilder, GossipError, GossipStats, State, SEED_RESOLVE_INTERVAL};
use crate::transport::net::NetTransport;
use crate::transport::{
    canonical, Authenticate, Class, ConfigError, Inbox, Incoming, Transport, Via,
};
use crate::{EnvelopeCodec, KeyError, KeyInfo, Keyring, Security};

/// How long [`Command::Leave`] waits for the announcement to leave the
/// send queue, at most.
const LEAVE_FLUSH: Duration = Duration::from_secs(1);

/// Batches of resolved seed addresses waiting for the node task.
const SEED_QUEUE: usize = 4;

/// The most payloads handled in one step of the node task, before its
/// commands, rounds and timers are looked at again.
const INBOX_BATCH: usize = 16;

/// How often the node publishes its counters and gauges through the
/// `metrics` facade (at the first round after). A Prometheus scrape comes
/// every few seconds; publishing at every round was 2 % of a 1,000-agent
/// swarm's CPU, with no recorder installed.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// A node as the runtime drives it: peers are socket addresses.
/// A full view, or a partial one ([`GossipBuilder::partial_view`]).
type View = OneOf<FullView<SocketAddr>, HyParView<SocketAddr>>;
type GossipNode<S> = Node<S, SocketAddr, View>;

/// A keyring change, applied once to each codec.
pub(super) type KeyChange = Box<dyn Fn(&mut Keyring) -> Result<(), KeyError> + Send>;

/// A local write: a delta mutator, given a timestamp from the node's clock
/// when it asks for one.
pub(super) enum Mutation<S> {
    Plain(Box<dyn FnOnce(&mut S) -> S + Send>),
    Stamped(Box<StampedMutator<S>>),
}

/// A delta mutator that takes a timestamp.
type StampedMutator<S> = dyn FnOnce(&mut S, HlcTimestamp) -> S + Send;

/// A change of the transport's injected faults.
pub(super) type FaultChange = Box<dyn FnOnce(&dyn Transport) -> Result<(), ConfigError> + Send>;

/// What a handle asks of the node task.
pub(super) enum Command<S: State> {
    Update(Mutation<S>, oneshot::Sender<Result<Arc<S>, GossipError>>),
    Read(Box<dyn FnOnce(&S) + Send>),
    /// What a copy that saw this context lacks, and a receiver of the
    /// changes after it.
    Since(
        Box<S::Context>,
        oneshot::Sender<(Arc<S>, broadcast::Receiver<Arc<S>>)>,
    ),
    Members(oneshot::Sender<Vec<SocketAddr>>),
    Tree(oneshot::Sender<Option<TreePlace<SocketAddr>>>),
    Stats(oneshot::Sender<GossipStats>),
    /// A keyring change, applied to both codecs (the node's, and the one
    /// that checks first frames).
    Keyring(KeyChange, oneshot::Sender<Result<(), GossipError>>),
    Keys(oneshot::Sender<Result<Vec<KeyInfo>, GossipError>>),
    /// A change of the faults the transport injects (loss, latency, blocks).
    Faults(FaultChange, oneshot::Sender<Result<(), ConfigError>>),
    Leave(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// The node task's state.
pub(super) struct Actor<S: State> {
    node: GossipNode<S>,
    /// Seals and opens the node's envelopes; the connections' tasks check
    /// the first frame of inbound streams with it too (rarely: a lock the
    /// node task almost never waits for). One codec, so one replay memory:
    /// a first frame the node has opened already is refused as a replay.
    envelope: Arc<Mutex<EnvelopeCodec>>,
    transport: Box<dyn Transport>,
    inbox: Inbox,
    /// Nonces and the node's seed: seeded from the OS.
    rng: StdRng,
    /// The node's time is the wall clock's at this instant (`epoch_ms`), plus
    /// the monotonic time since: it never steps back, and the node's hybrid
    /// logical clock, which it drives, stays close to the wall clock (and so
    /// to its peers' clocks) whatever the system clock does later.
    started: Instant,
    /// Wall-clock milliseconds since the Unix epoch at `started`.
    epoch_ms: u64,
    /// After [`Command::Leave`]: the node is no longer driven.
    left: bool,
    /// A partial view's seeds, joined through when the node starts to run.
    joins: Vec<SocketAddr>,
    stats: GossipStats,
    /// Publishes the counters through the `metrics` facade, once a round.
    publisher: Publisher,
}

/// What the node task listens to besides the transport's inbox.
pub(super) struct Inputs<S: State> {
    commands: mpsc::Receiver<Command<S>>,
    /// Addresses of seeds given by name, as they are resolved.
    seeds: mpsc::Receiver<Vec<SocketAddr>>,
    /// The gossip round.
    ticks: Interval,
    /// One reusable timer for `poll_timeout`, reset when its deadline
    /// changes.
    timer: Pin<Box<Sleep>>,
    /// The deadline the timer is set to (node time), if any.
    armed: Option<u64>,
    /// When the counters are next published.
    publish_at: Instant,
}

/// Whether the node task goes on after a step.
pub(super) enum Flow {
    Continue,
    /// Shut down (answering this, when a handle asked).
    Stop(Option<oneshot::Sender<()>>),
}

/// Wall-clock milliseconds since the Unix epoch: what envelopes carry for
/// the replay window.
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How many milliseconds past `due` it is now: how late a timer's task ran.
fn lag_ms(due: Instant) -> u64 {
    u64::try_from(Instant::now().saturating_duration_since(due).as_millis()).unwrap_or(u64::MAX)
}

/// Resolves `hosts` now and every [`SEED_RESOLVE_INTERVAL`], sending the
/// addresses found (canonical) to the node task; ends when the node task
/// does. A name that does not resolve is logged and tried again next time.
async fn resolve(hosts: Vec<String>, found: mpsc::Sender<Vec<SocketAddr>>) {
    loop {
        let mut addrs = Vec::new();
        for host in &hosts {
            match tokio::net::lookup_host(host.as_str()).await {
                Ok(resolved) => addrs.extend(resolved.map(canonical)),
                Err(error) => tracing::warn!(host = host.as_str(), "seed not resolved: {error}"),
            }
        }
        // A full queue: the node has not taken the last batch yet; skip.
        if let Err(mpsc::error::TrySendError::Closed(_)) = found.try_send(addrs) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(SEED_RESOLVE_INTERVAL) => {}
            () = found.closed() => return,
        }
    }
}

/// A message too large for one datagram because of the membership updates
/// it carries, as two smaller ones that carry the same updates: news
/// (membership updates only) as two news messages of half its updates
/// each; any other message keeps its body and the first half of its
/// updates, and the second half goes in a news message to the same peer.
/// `None` when no update can be moved: news of a single update, or a
/// message carrying none (its body alone is what is large: it goes as a
/// stream frame).
///
/// Signed updates are about 120 bytes each (their 96-byte proof): a probe
/// carrying the usual 16 would be about 2 KB, and would go over TCP, where
/// a probe's timing means nothing and a connection is opened per peer.
/// Over a lossy network that cascaded: probes late over streams, false
/// suspicions, more signed claims to carry, larger probes.
fn split_updates<S: State>(
    message: &Message<S, SocketAddr>,
) -> Option<[Message<S, SocketAddr>; 2]> {
    let news = matches!(message.body, Body::Probe(Probe::News));
    if message.members.len() < 2 && (news || message.members.is_empty()) {
        return None;
    }
    let (first, second) = message.members.split_at(message.members.len() / 2);
    let news_of = |members: &[MemberUpdate<SocketAddr>]| Message {
        incarnation: message.incarnation,
        body: Body::Probe(Probe::News),
        members: members.to_vec(),
    };
    let lean = if news {
        news_of(first)
    } else {
        Message {
            incarnation: message.incarnation,
            body: message.body.clone(),
            members: first.to_vec(),
        }
    };
    Some([lean, news_of(second)])
}

/// Membership and failure detection go before data.
const fn class_of<S: State>(message: &Message<S, SocketAddr>) -> Class {
    match message.body {
        Body::Probe(_) | Body::View(_) => Class::Membership,
        Body::Sync(_) | Body::Tree(_) => Class::Data,
    }
}

impl<S: State> Actor<S> {
    /// Binds the transport and builds the node; returns the actor and the
    /// address it advertises.
    pub(super) async fn start(
        settings: GossipBuilder<S>,
        security: Security,
    ) -> Result<(Self, SocketAddr), GossipError> {
        let GossipBuilder {
            replica,
            state,
            transport,
            memory,
            seeds,
            cluster,
            incarnation,
            identity,
            policy,
            partial_view,
            config,
            ..
        } = settings;
        let mut rng: StdRng = rand::make_rng();
        // The first frame of an inbound stream must open as an envelope,
        // checked on the connection's task with the node's codec: its replay
        // memory holds every nonce the node opened. (A codec of its own,
        // told each nonce the node opened, doubled the replay memory's cost:
        // 3 % of a 1,000-agent swarm's CPU.)
        let envelope = Arc::new(Mutex::new(EnvelopeCodec::new(security, cluster, replica)));
        let max_frame = transport.max_frame;
        let check = Arc::clone(&envelope);
        let authenticate: Authenticate = Arc::new(move |frame: &[u8]| {
            check
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .authenticate(frame, max_frame, wall_ms())
                .is_ok()
        });
        let (transport, inbox): (Box<dyn Transport>, Inbox) = match memory {
            Some(network) => {
                let (transport, inbox) = network.transport()?;
                (Box::new(transport), inbox)
            }
            None => {
                let (transport, inbox) = NetTransport::bind(transport, authenticate).await?;
                (Box::new(transport), inbox)
            }
        };
        let me = transport.local_addr();
        let seeds: Vec<SocketAddr> = seeds.into_iter().filter(|&s| s != me).collect();
        // A full view starts out knowing its seeds; a partial view joins
        // through them once the node runs.
        let (members, joins) = match partial_view {
            None => (OneOf::First(FullView::new(me, seeds)), Vec::new()),
            Some(view) => (OneOf::Second(HyParView::new(me, view)), seeds),
        };
        let mut node = Node::new(me, state, members, config, rng.next_u64())
            .with_incarnation(incarnation)
            .with_clock(Hlc::new(replica));
        if let Some(identity) = identity {
            node = node.with_identity(identity);
        }
        node.set_write_policy(policy.0);
        tracing::info!(addr = %me, replica = %replica, "gossip node started");
        let actor = Self {
            node,
            envelope,
            transport,
            inbox,
            rng,
            started: Instant::now(),
            epoch_ms: wall_ms(),
            left: false,
            joins,
            stats: GossipStats::default(),
            publisher: Publisher::default(),
        };
        Ok((actor, me))
    }

    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.epoch_ms.saturating_add(elapsed)
    }

    /// The instant of node time `ms`.
    fn instant(&self, ms: u64) -> Instant {
        self.started + Duration::from_millis(ms.saturating_sub(self.epoch_ms))
    }

    /// Runs until shutdown, or until every handle is gone.
    pub(super) async fn run(
        mut self,
        commands: mpsc::Receiver<Command<S>>,
        changes: broadcast::Sender<Arc<S>>,
        seed_hosts: Vec<String>,
    ) {
        let (found, seeds) = mpsc::channel(SEED_QUEUE);
        let joins = std::mem::take(&mut self.joins);
        if !joins.is_empty() {
            // Joined like resolved seed hosts, from the loop. The queue is
            // empty, so there is room.
            let _ = found.try_send(joins);
        }
        let resolver = (!seed_hosts.is_empty()).then(|| tokio::spawn(resolve(seed_hosts, found)));
        let mut inputs = self.inputs(commands, seeds);
        let done = loop {
            if let Flow::Stop(done) = self.event_loop(&mut inputs, &changes).await {
                break done;
            }
        };
        if let Some(resolver) = resolver {
            resolver.abort();
            // Cancelled (or already ended): either way it has stopped.
            let _ = resolver.await;
        }
        self.transport.shutdown().await;
        let last = self.snapshot(0, &changes);
        self.publisher.publish(&last);
        self.publisher.retire();
        tracing::info!("gossip node stopped");
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// The inputs of [`event_loop`](Self::event_loop), the timers started.
    fn inputs(
        &self,
        commands: mpsc::Receiver<Command<S>>,
        seeds: mpsc::Receiver<Vec<SocketAddr>>,
    ) -> Inputs<S> {
        let interval = Duration::from_millis(self.node.config().interval_ms.max(1));
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Inputs {
            commands,
            seeds,
            ticks,
            timer: Box::pin(tokio::time::sleep_until(self.started)),
            armed: None,
            publish_at: self.started,
        }
    }

    /// One step: waits for the first of a command, a received payload, the
    /// round's tick, resolved seeds or the node's timer, and handles it.
    /// Tests step the node by hand with it.
    pub(super) async fn event_loop(
        &mut self,
        inputs: &mut Inputs<S>,
        changes: &broadcast::Sender<Arc<S>>,
    ) -> Flow {
        let due = if self.left {
            None
        } else {
            self.node.poll_timeout()
        };
        if due != inputs.armed {
            if let Some(ms) = due {
                inputs.timer.as_mut().reset(self.instant(ms));
            }
            inputs.armed = due;
        }
        tokio::select! {
            command = inputs.commands.recv() => match command {
                None => return Flow::Stop(None),
                Some(Command::Shutdown(reply)) => return Flow::Stop(Some(reply)),
                Some(command) => {
                    let queued = inputs.commands.len();
                    self.command(command, queued, changes).await;
                }
            },
            incoming = self.inbox.recv() => match incoming {
                None => return Flow::Stop(None),
                Some(incoming) => {
                    self.receive(&incoming, changes);
                    // What else waits goes in the same step, without
                    // polling the other inputs again for each payload.
                    for _ in 1..INBOX_BATCH {
                        let Ok(incoming) = self.inbox.try_recv() else {
                            break;
                        };
                        self.receive(&incoming, changes);
                    }
                }
            },
            scheduled = inputs.ticks.tick(), if !self.left => {
                // How late this task woke: on an overloaded machine, acks
                // wait as long in the run queue, and the node must know
                // (Lifeguard's local health) before it suspects the senders.
                let now = self.now_ms();
                self.node.report_lag(lag_ms(scheduled), now);
                let out = self.node.tick(now);
                self.dispatch(out, changes);
                if scheduled >= inputs.publish_at {
                    inputs.publish_at = scheduled + PUBLISH_EVERY;
                    let now = self.snapshot(inputs.commands.len(), changes);
                    self.publisher.publish(&now);
                }
            }
            Some(addrs) = inputs.seeds.recv() => {
                if !self.left {
                    let now = self.now_ms();
                    for addr in addrs {
                        let out = self.node.join(addr, now);
                        self.dispatch(out, changes);
                    }
                }
            }
            () = inputs.timer.as_mut(), if inputs.armed.is_some() => {
                inputs.armed = None;
                let now = self.now_ms();
                self.node.report_lag(lag_ms(inputs.timer.deadline()), now);
                let out = self.node.handle_timeout(now);
                self.dispatch(out, changes);
            }
        }
        Flow::Continue
    }

    /// Handles `command`; `queued` commands wait behind it.
    async fn command(
        &mut self,
        command: Command<S>,
        queued: usize,
        changes: &broadcast::Sender<Arc<S>>,
    ) {
        match command {
            Command::Update(mutate, reply) => {
                if self.left {
                    let _ = reply.send(Err(GossipError::Left));
                    return;
                }
                let out = match mutate {
                    Mutation::Plain(mutate) => self.node.update(mutate),
                    Mutation::Stamped(mutate) => {
                        // The node was given a clock at start; stamps are after
                        // every timestamp it has joined.
                        let stamp = self.node.timestamp(self.now_ms()).unwrap_or_default();
                        self.node.update(|state| mutate(state, stamp))
                    }
                };
                let delta = out.events.iter().find_map(|event| match event {
                    Event::StateChanged(delta) => Some(Arc::clone(delta)),
                    _ => None,
                });
                self.dispatch(out, changes);
                let _ = reply.send(Ok(delta.unwrap_or_default()));
            }
            Command::Read(read) => read(self.node.state()),
            Command::Since(seen, reply) => {
                let missed = Arc::new(self.node.state().delta_since(&seen));
                let _ = reply.send((missed, changes.subscribe()));
            }
            Command::Members(reply) => {
                let _ = reply.send(self.node.live_members().collect());
            }
            Command::Tree(reply) => {
                let _ = reply.send(self.node.tree_place());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.snapshot(queued, changes));
            }
            Command::Keyring(change, reply) => {
                let _ = reply.send(self.change_keys(&*change));
            }
            Command::Faults(change, reply) => {
                let _ = reply.send(change(&*self.transport));
            }
            Command::Keys(reply) => {
                let keys = self.codec().keyring_mut().map(|ring| ring.list());
                let _ = reply.send(keys.ok_or(GossipError::Plaintext));
            }
            Command::Leave(reply) => {
                if !self.left {
                    let out = self.node.leave();
                    self.dispatch(out, changes);
                    self.left = true;
                    tracing::info!("left the cluster");
                    self.flush().await;
                }
                let _ = reply.send(());
            }
            // Handled by the loop.
            Command::Shutdown(reply) => {
                let _ = reply.send(());
            }
        }
    }

    /// Applies `change` to the node's keyring (which first frames are
    /// checked with too).
    fn change_keys(
        &self,
        change: &dyn Fn(&mut Keyring) -> Result<(), KeyError>,
    ) -> Result<(), GossipError> {
        let mut codec = self.codec();
        let ring = codec.keyring_mut().ok_or(GossipError::Plaintext)?;
        change(ring)?;
        Ok(())
    }

    /// The envelope codec, locked.
    fn codec(&self) -> MutexGuard<'_, EnvelopeCodec> {
        self.envelope.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (up to [`LEAVE_FLUSH`]) until the transport's queues are empty.
    async fn flush(&self) {
        let deadline = Instant::now() + LEAVE_FLUSH;
        while Instant::now() < deadline {
            let stats = self.transport.stats();
            if stats.queued_datagrams == 0 && stats.queued_frames == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The counters now, `queued` commands waiting.
    fn snapshot(&self, queued: usize, changes: &broadcast::Sender<Arc<S>>) -> GossipStats {
        let others = self.node.not_alive().map(|(_, status)| status);
        GossipStats {
            incarnation: self.node.incarnation(),
            local_health: self.node.local_health(),
            bounds: self.node.refused(),
            envelope: self.codec().stats(),
            transport: self.transport.stats(),
            members: MemberCounts::new(self.node.live_members().count(), others),
            commands_queued: queued as u64,
            subscribers: changes.receiver_count() as u64,
            ..self.stats
        }
    }

    /// Opens, decodes and hands a payload to the node. A refusal is counted
    /// by the envelope codec (by reason) and logged at its rate limit.
    fn receive(&mut self, incoming: &Incoming, changes: &broadcast::Sender<Arc<S>>) {
        if self.left {
            return;
        }
        let limit = match incoming.via {
            Via::Datagram => self.transport.max_datagram(),
            Via::Stream => self.transport.max_frame(),
        };
        let now = wall_ms();
        let opened =
            self.codec()
                .open_message::<Message<S, SocketAddr>>(&incoming.payload, limit, now);
        let Ok((_, message)) = opened else {
            return;
        };
        self.stats.count_received(&message, incoming.payload.len());
        let out = self.node.handle(incoming.from, message, self.now_ms());
        self.dispatch(out, changes);
    }

    /// Sends the node's messages and publishes its state changes.
    fn dispatch(&mut self, out: Output<S, SocketAddr>, changes: &broadcast::Sender<Arc<S>>) {
        // Locked through the field, not `codec()`: the loop borrows `self.rng` too.
        let mut codec = self.envelope.lock().unwrap_or_else(PoisonError::into_inner);
        codec.set_incarnation(self.node.incarnation());
        let now = wall_ms();
        let mut messages = VecDeque::from(out.messages);
        while let Some((to, message)) = messages.pop_front() {
            let class = class_of(&message);
            let sealed = codec::encode(&message)
                .ok()
                .and_then(|bytes| codec.seal(&bytes, now, &mut self.rng).ok());
            let Some(sealed) = sealed else {
                self.stats.encode_failed += 1;
                continue;
            };
            let len = sealed.len();
            if len > self.transport.max_datagram() {
                if let Some([first, second]) = split_updates(&message) {
                    // Two datagrams rather than a stream: membership
                    // updates can go in any grouping, on any message.
                    messages.push_front((to, second));
                    messages.push_front((to, first));
                    continue;
                }
            }
            match self.transport.send(to, Bytes::from(sealed), class) {
                Ok(()) => self.stats.count_sent(&message, len),
                Err(_) => self.stats.send_refused += 1,
            }
        }
        drop(codec);
        for event in out.events {
            match event {
                // No subscriber is not an error.
                Event::StateChanged(delta) => drop(changes.send(delta)),
                Event::MemberJoined(peer) => tracing::info!(%peer, "member joined"),
                Event::MemberDown(peer) => tracing::info!(%peer, "member declared dead"),
                Event::MemberLeft(peer) => tracing::info!(%peer, "member left"),
                Event::MemberAlive(peer) => tracing::info!(%peer, "member alive again"),
                Event::MemberSuspected(peer) => tracing::debug!(%peer, "member suspected"),
                Event::WriteRefused(peer) => {
                    tracing::debug!(%peer, "a delta refused by the write policy");
                }
                Event::LinkUp(_) | Event::LinkDown(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Gossip, Key, Keyring, MemoryConfig, MemoryNetwork};
    use rumor_crdt::{OrSet, ReplicaId};

    /// Steps `actor` until `done` holds (a step may take the round's tick
    /// instead of what the test is after), at most 8 times.
    async fn step_until<S: State>(
        actor: &mut Actor<S>,
        inputs: &mut Inputs<S>,
        changes: &broadcast::Sender<Arc<S>>,
        mut done: impl FnMut(&Flow) -> bool,
    ) -> Flow {
        for _ in 0..8 {
            let flow = actor.event_loop(inputs, changes).await;
            if done(&flow) {
                return flow;
            }
        }
        panic!("not done after 8 steps");
    }

    /// News of `count` updates about IPv4 or IPv6 members.
    fn news(count: u16, v6: bool) -> Message<OrSet<u32>, SocketAddr> {
        let addr = |port: u16| -> SocketAddr {
            if v6 {
                SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, port], 40_000 + port))
            } else {
                SocketAddr::from(([10, 0, (port >> 8) as u8, port as u8], 40_000 + port))
            }
        };
        Message {
            incarnation: 3,
            body: Body::Probe(Probe::News),
            members: (0..count)
                .map(|i| MemberUpdate {
                    peer: addr(i),
                    incarnation: u64::from(i) * 1_000,
                    status: rumor_gossip::Status::Suspect,
                    by: addr(i + 1),
                    proof: None,
                })
                .collect(),
        }
    }

    fn sealed_len(message: &Message<OrSet<u32>, SocketAddr>) -> usize {
        let encoded = codec::encode(message).expect("encodes").len();
        encoded + crate::envelope::HEADER_LEN + crate::envelope::TAG_LEN
    }

    /// A full news message about IPv4 members fits one default datagram;
    /// about IPv6 members it does not, and its halves do, with every update
    /// kept, in order.
    #[test]
    fn news_too_large_for_a_datagram_splits_into_halves_that_fit() {
        let max = rumor_gossip::Config::default().max_news;
        let datagram =
            crate::TransportConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))).max_datagram;
        let v4 = news(u16::try_from(max).expect("small"), false);
        assert!(
            sealed_len(&v4) <= datagram,
            "{} > {datagram}",
            sealed_len(&v4)
        );
        let v6 = news(u16::try_from(max).expect("small"), true);
        assert!(sealed_len(&v6) > datagram, "{} fits", sealed_len(&v6));
        let [first, second] = split_updates(&v6).expect("news splits");
        for half in [&first, &second] {
            assert!(sealed_len(half) <= datagram, "{}", sealed_len(half));
            assert_eq!(half.incarnation, 3);
        }
        let mut joined = first.members.clone();
        joined.extend(second.members);
        assert_eq!(joined, v6.members);
        // News of one update, or a message without updates, is not split.
        assert!(split_updates(&news(1, true)).is_none());
        let bare = Message {
            body: Body::Probe(Probe::Ping { seq: 1 }),
            ..news(0, true)
        };
        assert!(split_updates(&bare).is_none());
    }

    /// A probe carrying 16 signed updates (each with its 96-byte proof) is
    /// about 2 KB: it sheds updates into news messages to the same peer
    /// until every piece fits one datagram, and the probe itself goes on
    /// as a datagram. Every update is still sent, once, in order.
    #[test]
    fn a_probe_too_large_for_a_datagram_sheds_its_updates_into_news() {
        let datagram =
            crate::TransportConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))).max_datagram;
        let key = rumor_gossip::Identity::from_secret([9; 32]);
        let mut signed = news(16, false);
        for update in &mut signed.members {
            update.proof = key.sign_claim(update);
            assert!(update.proof.is_some());
        }
        let ping = Message {
            body: Body::Probe(Probe::Ping { seq: 7 }),
            ..signed
        };
        assert!(sealed_len(&ping) > datagram, "{} fits", sealed_len(&ping));
        // What `dispatch` does: split until each piece fits or cannot split.
        let mut queue = VecDeque::from([ping.clone()]);
        let mut sent = Vec::new();
        while let Some(message) = queue.pop_front() {
            if sealed_len(&message) > datagram {
                let [first, second] = split_updates(&message).expect("splits");
                queue.push_front(second);
                queue.push_front(first);
                continue;
            }
            sent.push(message);
        }
        assert!(sent.iter().all(|m| sealed_len(m) <= datagram));
        assert_eq!(sent[0].body, Body::Probe(Probe::Ping { seq: 7 }));
        assert!(sent[1..].iter().all(|m| m.body == Body::Probe(Probe::News)));
        let carried: Vec<_> = sent.iter().flat_map(|m| m.members.clone()).collect();
        assert_eq!(carried, ping.members);
    }

    #[tokio::test]
    async fn the_node_can_be_stepped_by_hand() {
        let network = MemoryNetwork::new(MemoryConfig::default()).expect("a network");
        let me = ReplicaId::from_u128(1);
        let builder = Gossip::builder(me, OrSet::<u32>::new()).memory(&network);
        let security = Security::Keys(Keyring::new(Key::from_bytes([1; 32])));
        let (mut actor, _) = Actor::start(builder, security).await.expect("starts");
        let (commands, receiver) = mpsc::channel(4);
        let (_found, seeds) = mpsc::channel(1);
        let mut inputs = actor.inputs(receiver, seeds);
        let (changes, mut subscriber) = broadcast::channel(4);

        let (reply, mut answer) = oneshot::channel();
        let insert = Box::new(move |s: &mut OrSet<u32>| s.insert(me, 7));
        let update = Command::Update(Mutation::Plain(insert), reply);
        assert!(commands.send(update).await.is_ok());
        step_until(&mut actor, &mut inputs, &changes, |_| {
            answer.try_recv().is_ok()
        })
        .await;
        assert!(actor.node.state().contains(&7));
        let published = subscriber.try_recv().expect("the change is published");
        assert!(published.contains(&7));

        let (done, _) = oneshot::channel();
        assert!(commands.send(Command::Shutdown(done)).await.is_ok());
        let flow = step_until(&mut actor, &mut inputs, &changes, |flow| {
            matches!(flow, Flow::Stop(Some(_)))
        })
        .await;
        assert!(matches!(flow, Flow::Stop(Some(_))));
        actor.transport.shutdown().await;
    }
}
