//! The tokio runtime: one task owns a gossip [`Node`](rumor_gossip::Node)
//! and drives it with the clock, the OS's randomness, a [`NetTransport`](crate::NetTransport)
//! and the envelope; a cloneable [`GossipHandle`] talks to that task.
//!
//! ```no_run
//! # async fn example() -> Result<(), rumor_net::GossipError> {
//! use rumor_crdt::{OrSet, ReplicaId};
//! use rumor_net::{Change, Gossip, Key, Keyring};
//!
//! let me = ReplicaId::random();
//! let key = Key::from_bytes([7; 32]); // in production: a generated key, from a key file
//! let gossip = Gossip::builder(me, OrSet::<String>::new())
//!     .bind("0.0.0.0:7946".parse().expect("an address"))
//!     .seeds(["10.0.0.1:7946".parse().expect("an address")])
//!     .keyring(Keyring::new(key))
//!     .cluster("prod-eu")
//!     .start()
//!     .await?;
//! let mut changes = gossip.subscribe();
//! gossip.update(move |s| s.insert(me, "apple".to_string())).await?;
//! if let Some(Change::Delta(delta)) = changes.recv().await {
//!     assert!(delta.contains(&"apple".to_string()));
//! }
//! gossip.leave().await?;
//! gossip.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The node task is the only place that reads the clock (the node's time is
//! milliseconds since start; envelopes carry the wall clock, for the replay
//! window) and the only owner of the node. Every queue is bounded: commands
//! ([`COMMAND_CAPACITY`]), changes per subscriber ([`CHANGE_CAPACITY`]: a
//! subscriber that falls behind is told how many it missed, it never slows
//! the node), and the transport's queues. Whatever a peer sends that does
//! not open or decode is refused and counted in [`GossipStats`], never a
//! panic.

mod actor;
mod report;

pub use report::{ByKind, GossipStats, MemberCounts, Traffic};

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use futures_core::Stream;

use rumor_crdt::{Crdt, HlcTimestamp, ReplicaId};
use rumor_gossip::{Config, Identity, Strategy, TreePlace, ViewConfig, WritePolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::transport::memory::{MemoryError, MemoryNetwork};
use crate::transport::net::{BindError, TransportConfig};
use crate::transport::{ConfigError, Latency, Transport};
use crate::{Cluster, Key, KeyError, KeyId, KeyInfo, Keyring, Security};

use actor::{Actor, Command, Mutation};

/// Commands (updates, reads, ...) waiting for the node task, at most.
/// A caller beyond that waits for room.
pub const COMMAND_CAPACITY: usize = 256;

/// Changes held for each subscriber, at most; one that falls further behind
/// gets [`Change::Lagged`] with the count it missed.
pub const CHANGE_CAPACITY: usize = 1_024;

/// How often seeds given by name are resolved again.
pub const SEED_RESOLVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The cluster label when none is given.
pub const DEFAULT_CLUSTER: &str = "rumor";

/// What a replicated state must be for the runtime: a CRDT that travels
/// (serde, its causal context too) and is shared between tasks.
pub trait State:
    Crdt<Context: Serialize + DeserializeOwned + Send + Sync>
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<T> State for T where
    T: Crdt<Context: Serialize + DeserializeOwned + Send + Sync>
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// Why the runtime could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipError {
    /// Neither [`GossipBuilder::keyring`] nor [`GossipBuilder::plaintext`]
    /// was called: plaintext is only ever chosen by name.
    #[error("no keyring given (call .keyring(..), or .plaintext() for loopback experiments)")]
    NoSecurity,
    /// The transport could not bind.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The in-memory network gave no transport (no address left).
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A keyring change was refused (the key is not installed, it is the
    /// one in use, ...); nothing changed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A keyring operation on a node started with
    /// [`plaintext`](GossipBuilder::plaintext).
    #[error("the node runs in plaintext: it has no keyring")]
    Plaintext,
    /// The node left the cluster ([`GossipHandle::leave`]): it takes no more
    /// updates.
    #[error("the node has left the cluster")]
    Left,
    /// The node task has ended ([`GossipHandle::shutdown`]).
    #[error("the node has shut down")]
    Stopped,
    /// An injected fault out of range, or one the transport cannot make
    /// ([`GossipHandle::set_latency`] on the memory transport); nothing
    /// changed.
    #[error(transparent)]
    Fault(#[from] ConfigError),
}

/// Entry point: `Gossip::builder(..)`.
#[derive(Debug)]
pub struct Gossip;

impl Gossip {
    /// A builder for replica `replica`, starting from `state`. A node that
    /// restarts without the state it had must take a new replica id (its
    /// writes would reuse the old life's dots otherwise).
    #[must_use]
    pub fn builder<S: State>(replica: ReplicaId, state: S) -> GossipBuilder<S> {
        GossipBuilder {
            replica,
            state,
            transport: TransportConfig::new(SocketAddr::from(([0, 0, 0, 0], 0))),
            seeds: Vec::new(),
            seed_hosts: Vec::new(),
            memory: None,
            security: None,
            cluster: Cluster::new(DEFAULT_CLUSTER),
            incarnation: 0,
            identity: None,
            policy: Policy(None),
            partial_view: None,
            config: Config {
                strategy: Strategy::Eager,
                ..Config::default()
            },
        }
    }
}

/// The settings of a node, then [`start`](GossipBuilder::start).
#[derive(Debug)]
pub struct GossipBuilder<S> {
    replica: ReplicaId,
    state: S,
    transport: TransportConfig,
    seeds: Vec<SocketAddr>,
    seed_hosts: Vec<String>,
    memory: Option<MemoryNetwork>,
    security: Option<Security>,
    cluster: Cluster,
    incarnation: u64,
    identity: Option<Identity>,
    policy: Policy<S>,
    partial_view: Option<ViewConfig>,
    config: Config,
}

/// The builder's write policy: printed as whether there is one.
pub(crate) struct Policy<S>(pub(crate) Option<Arc<WritePolicy<S>>>);

impl<S> std::fmt::Debug for Policy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl<S: State> GossipBuilder<S> {
    /// The address to bind UDP and TCP to (port 0: the OS chooses).
    /// Default: `0.0.0.0:0`.
    #[must_use]
    pub const fn bind(mut self, addr: SocketAddr) -> Self {
        self.transport.bind = addr;
        self
    }

    /// The address peers reach this node at, when not the bound one.
    #[must_use]
    pub const fn advertise(mut self, addr: SocketAddr) -> Self {
        self.transport.advertise = Some(addr);
        self
    }

    /// Addresses of members to join through.
    #[must_use]
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.seeds = seeds.into_iter().map(crate::transport::canonical).collect();
        self
    }

    /// Members to join through, by name (`"seed-1.example:7946"`):
    /// resolved when the node starts and again every
    /// [`SEED_RESOLVE_INTERVAL`], on a task of their own (a slow resolver
    /// never stalls the node); each address found is joined.
    #[must_use]
    pub fn seed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.seed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Seal and open envelopes with these keys.
    #[must_use]
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.security = Some(Security::Keys(keyring));
        self
    }

    /// Sign this node's writes with `identity`'s key, and accept only
    /// signed deltas on the eager path
    /// ([`Node::with_identity`](rumor_gossip::Node::with_identity)): a member
    /// that holds the cluster key still cannot write in another replica's
    /// name there. The node then writes as [`Identity::replica_id`], which
    /// replaces the replica id given to [`Gossip::builder`] (read it back
    /// with [`GossipHandle::replica`]). Every member of a cluster signs, or
    /// none does. `docs/PROTOCOL.md` ("Seals") says what a key holder can
    /// still forge.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, ReplicaId};
    /// use rumor_gossip::Identity;
    /// use rumor_net::{Gossip, Key, Keyring};
    ///
    /// let identity = Identity::from_secret([42; 32]); // from the OS's RNG in a real agent
    /// let builder = Gossip::builder(ReplicaId::from_u128(1), GCounter::new())
    ///     .keyring(Keyring::new(Key::from_bytes([7; 32])))
    ///     .identity(identity.clone());
    /// assert!(format!("{builder:?}").contains(&format!("{:?}", identity.replica_id())));
    /// ```
    #[must_use]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.replica = identity.replica_id();
        self.identity = Some(identity);
        self
    }

    /// Take a received delta only if `policy` allows it
    /// ([`Node::with_write_policy`](rumor_gossip::Node::with_write_policy)):
    /// the closure sees the delta and, when it is signed
    /// ([`identity`](Self::identity)) and its seal was checked, its author's
    /// replica id. Refusals count in [`GossipStats::bounds`]`.writes`.
    ///
    /// ```
    /// use rumor_crdt::{OrSet, ReplicaId};
    /// use rumor_net::Gossip;
    ///
    /// // Element x may be added only by replica x.
    /// let owned = |delta: &OrSet<u128>, _author: Option<ReplicaId>| {
    ///     delta.iter().all(|x| delta.dots(x).iter().all(|d| d.replica.as_u128() == *x))
    /// };
    /// let builder = Gossip::builder(ReplicaId::from_u128(1), OrSet::new()).write_policy(owned);
    /// assert!(format!("{builder:?}").contains("policy: Some(..)"));
    /// ```
    #[must_use]
    pub fn write_policy(
        mut self,
        policy: impl Fn(&S, Option<ReplicaId>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.policy = Policy(Some(Arc::new(policy)));
        self
    }

    /// No encryption and no authentication: loopback experiments only.
    #[must_use]
    pub fn plaintext(mut self) -> Self {
        self.security = Some(Security::Plaintext);
        self
    }

    /// The cluster label (bound into every envelope). Default:
    /// [`DEFAULT_CLUSTER`].
    #[must_use]
    pub fn cluster(mut self, label: impl AsRef<[u8]>) -> Self {
        self.cluster = Cluster::new(label);
        self
    }

    /// The incarnation to start at: the one this member had when it
    /// stopped, where the application kept it (a member speaking below an
    /// incarnation its peers know is also told, and takes it back, but that
    /// costs a round trip). Default 0.
    #[must_use]
    pub const fn incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = incarnation;
        self
    }

    /// Keep a partial view of the cluster (HyParView: a few links, and
    /// candidates to replace them) instead of a full view: for clusters of
    /// thousands of members, where a full view's membership traffic and
    /// probes grow with the cluster. Gossip, probes and the eager path then
    /// run over the links only, failure detection is local to them (a dead
    /// link is replaced, not announced), and
    /// [`GossipHandle::members`] lists the links. The seeds are joined
    /// through (`Join`) as the node starts. Every member of a cluster uses
    /// the same kind of view. Default: a full view.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, ReplicaId};
    /// use rumor_gossip::ViewConfig;
    /// use rumor_net::Gossip;
    ///
    /// let builder = Gossip::builder(ReplicaId::from_u128(1), GCounter::new())
    ///     .partial_view(ViewConfig::default());
    /// assert!(format!("{builder:?}").contains("partial_view: Some"));
    /// ```
    #[must_use]
    pub fn partial_view(mut self, view: ViewConfig) -> Self {
        self.partial_view = Some(view);
        self
    }

    /// The gossip settings. Default: [`Config::default`] with
    /// [`Strategy::Eager`].
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The transport's settings beyond the addresses (queues, limits,
    /// timeouts); the bind and advertise addresses set on this builder are
    /// kept.
    #[must_use]
    pub fn transport(mut self, config: TransportConfig) -> Self {
        let (bind, advertise) = (self.transport.bind, self.transport.advertise);
        self.transport = TransportConfig {
            bind,
            advertise,
            ..config
        };
        self
    }

    /// Runs over `network` (an in-memory network, for tests: loss and
    /// partitions on demand) instead of sockets. The node takes the
    /// network's next free address; the bind and advertise addresses and the
    /// transport settings are not used.
    #[must_use]
    pub fn memory(mut self, network: &MemoryNetwork) -> Self {
        self.memory = Some(network.clone());
        self
    }

    /// Binds the transport and starts the node task on the current tokio
    /// runtime.
    ///
    /// # Errors
    /// [`GossipError::NoSecurity`] without a keyring or `plaintext()`;
    /// [`GossipError::Bind`] when the transport cannot bind,
    /// [`GossipError::Memory`] when an in-memory network has no address
    /// left.
    pub async fn start(self) -> Result<GossipHandle<S>, GossipError> {
        let mut settings = self;
        let security = settings.security.take().ok_or(GossipError::NoSecurity)?;
        let replica = settings.replica;
        let seed_hosts = std::mem::take(&mut settings.seed_hosts);
        let (actor, local_addr) = Actor::start(settings, security).await?;
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let span = tracing::info_span!("rumor", addr = %local_addr);
        let run = actor.run(receiver, changes.clone(), seed_hosts);
        let task = tokio::spawn(tracing::Instrument::instrument(run, span));
        Ok(GossipHandle {
            inner: Arc::new(Inner {
                replica,
                local_addr,
                commands,
                changes: Mutex::new(Some(changes)),
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

/// A running node. Cloneable; the node runs until
/// [`shutdown`](GossipHandle::shutdown) or until every handle is dropped.
pub struct GossipHandle<S: State> {
    inner: Arc<Inner<S>>,
}

impl<S: State> Clone for GossipHandle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: State> std::fmt::Debug for GossipHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipHandle")
            .field("replica", &self.inner.replica)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

struct Inner<S: State> {
    replica: ReplicaId,
    local_addr: SocketAddr,
    commands: mpsc::Sender<Command<S>>,
    /// Taken at shutdown, so subscriptions end with the node.
    changes: Mutex<Option<broadcast::Sender<Arc<S>>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<S: State> GossipHandle<S> {
    /// This replica's id.
    #[must_use]
    pub fn replica(&self) -> ReplicaId {
        self.inner.replica
    }

    /// The address peers reach this node at (canonical): what others give
    /// as a seed.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command<S>,
    ) -> Result<T, GossipError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| GossipError::Stopped)?;
        answer.await.map_err(|_| GossipError::Stopped)
    }

    /// Applies a local write: `mutate` changes the state through a delta
    /// mutator and returns the delta. Returns once the node task has applied
    /// it and handed the eager push to the transport (it does not wait for
    /// peers), with the delta.
    ///
    /// `mutate` runs in the node task: a panic there ends the node (every
    /// call then fails with [`GossipError::Stopped`]).
    ///
    /// # Errors
    /// [`GossipError::Left`] after [`leave`](Self::leave),
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn update<F>(&self, mutate: F) -> Result<Arc<S>, GossipError>
    where
        F: FnOnce(&mut S) -> S + Send + 'static,
    {
        self.ask(|reply| Command::Update(Mutation::Plain(Box::new(mutate)), reply))
            .await?
    }

    /// [`update`](Self::update) with a timestamp from the node's hybrid
    /// logical clock, for last-writer-wins types: the clock reads the wall
    /// clock and observes every write the node joins, so the stamp is after
    /// every write this node has seen, even one from a peer whose clock runs
    /// ahead. A local write stamped this way wins over everything the node
    /// holds.
    ///
    /// ```no_run
    /// # async fn example(gossip: rumor_net::GossipHandle<rumor_crdt::LwwMap<String, u32>>)
    /// # -> Result<(), rumor_net::GossipError> {
    /// let delta = gossip
    ///     .update_stamped(|s, now| s.insert("speed".to_string(), 3, now).unwrap_or_default())
    ///     .await?;
    /// assert!(delta.get(&"speed".to_string()).is_some());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub async fn update_stamped<F>(&self, mutate: F) -> Result<Arc<S>, GossipError>
    where
        F: FnOnce(&mut S, HlcTimestamp) -> S + Send + 'static,
    {
        self.ask(|reply| Command::Update(Mutation::Stamped(Box::new(mutate)), reply))
            .await?
    }

    /// Runs `read` on the current state, in the node task (keep it short;
    /// a panic there ends the node, as in [`update`](Self::update)).
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn read<R, F>(&self, read: F) -> Result<R, GossipError>
    where
        F: FnOnce(&S) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(move |state: &S| {
            // The caller may have stopped waiting: nothing to do then.
            let _ = reply.send(read(state));
        });
        self.inner
            .commands
            .send(Command::Read(run))
            .await
            .map_err(|_| GossipError::Stopped)?;
        answer.await.map_err(|_| GossipError::Stopped)
    }

    /// The changes from now on: every local or received delta that changed
    /// the state. A subscriber more than [`CHANGE_CAPACITY`] changes behind
    /// gets [`Change::Lagged`] and continues with the newest ones.
    #[must_use]
    pub fn subscribe(&self) -> Subscription<S> {
        let changes = self
            .inner
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or_else(
                // After shutdown: a subscription that ends at once.
                || broadcast::channel(1).1,
                broadcast::Sender::subscribe,
            );
        Subscription::new(changes)
    }

    /// [`subscribe`](Self::subscribe), resuming from `seen` (the context of
    /// a copy of the state a subscriber keeps, after [`Change::Lagged`]):
    /// returns what that copy lacks, as one delta (`delta_since(seen)`), and
    /// the changes from then on, taken at the same point so none falls in
    /// between.
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn subscribe_since(
        &self,
        seen: S::Context,
    ) -> Result<(Arc<S>, Subscription<S>), GossipError> {
        let (missed, changes) = self
            .ask(|reply| Command::Since(Box::new(seen), reply))
            .await?;
        Ok((missed, Subscription::new(changes)))
    }

    /// The members this node holds alive (itself excluded); with a
    /// [`partial_view`](GossipBuilder::partial_view), its links.
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn members(&self) -> Result<Vec<SocketAddr>, GossipError> {
        self.ask(Command::Members).await
    }

    /// Where this node stands in the rooted tree (its root, rank, parent and
    /// children), over a [`partial_view`](GossipBuilder::partial_view) with
    /// [`Config::rooted_tree`](rumor_gossip::Config::rooted_tree) on (the
    /// default there); `None` otherwise. A program that starts many nodes
    /// can wait with [`TreePlace::formed`] until their places form one tree,
    /// after which a write crosses each node once.
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn tree(&self) -> Result<Option<TreePlace<SocketAddr>>, GossipError> {
        self.ask(Command::Tree).await
    }

    /// A snapshot of the counters.
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn stats(&self) -> Result<GossipStats, GossipError> {
        self.ask(Command::Stats).await
    }

    /// Installs `key`: envelopes sealed with it are accepted from now on;
    /// this node still seals with its primary key until
    /// [`use_key`](Self::use_key). A cluster rotates without downtime by
    /// installing the new key everywhere, then using it everywhere, then
    /// removing the old one.
    ///
    /// # Errors
    /// [`GossipError::Key`] (another key with the same id),
    /// [`GossipError::Plaintext`], [`GossipError::Stopped`].
    pub async fn install_key(&self, key: Key) -> Result<KeyId, GossipError> {
        let id = key.id();
        let change = move |ring: &mut Keyring| ring.install(key.clone()).map(drop);
        self.ask(|reply| Command::Keyring(Box::new(change), reply))
            .await??;
        Ok(id)
    }

    /// Seals with the installed key `id` from now on.
    ///
    /// # Errors
    /// [`GossipError::Key`] (not installed), [`GossipError::Plaintext`],
    /// [`GossipError::Stopped`].
    pub async fn use_key(&self, id: KeyId) -> Result<(), GossipError> {
        let change = move |ring: &mut Keyring| ring.use_key(id);
        self.ask(|reply| Command::Keyring(Box::new(change), reply))
            .await?
    }

    /// Removes the key `id`: envelopes sealed with it are refused from now
    /// on.
    ///
    /// # Errors
    /// [`GossipError::Key`] (not installed, or the one in use),
    /// [`GossipError::Plaintext`], [`GossipError::Stopped`].
    pub async fn remove_key(&self, id: KeyId) -> Result<(), GossipError> {
        let change = move |ring: &mut Keyring| ring.remove(id);
        self.ask(|reply| Command::Keyring(Box::new(change), reply))
            .await?
    }

    /// The installed keys (ids only) and which one seals.
    ///
    /// # Errors
    /// [`GossipError::Plaintext`], [`GossipError::Stopped`].
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, GossipError> {
        self.ask(Command::Keys).await?
    }

    async fn change_faults(
        &self,
        change: impl FnOnce(&dyn Transport) -> Result<(), ConfigError> + Send + 'static,
    ) -> Result<(), GossipError> {
        self.ask(|reply| Command::Faults(Box::new(change), reply))
            .await?
            .map_err(GossipError::Fault)
    }

    /// Sets the probability that an outgoing datagram is lost (injected
    /// loss, for tests and experiments), from now on.
    ///
    /// # Errors
    /// [`GossipError::Fault`] when `loss` is not in `0.0..=1.0`,
    /// [`GossipError::Stopped`].
    pub async fn set_loss(&self, loss: f64) -> Result<(), GossipError> {
        self.change_faults(move |t| t.set_loss(loss)).await
    }

    /// Sets the latency injected into outgoing datagrams, from now on
    /// ([`Latency::NONE`] ends it).
    ///
    /// # Errors
    /// [`GossipError::Fault`] for a range out of bounds, or on the memory
    /// transport (which cannot delay); [`GossipError::Stopped`].
    pub async fn set_latency(&self, latency: Latency) -> Result<(), GossipError> {
        self.change_faults(move |t| t.set_latency(latency)).await
    }

    /// Drops everything sent to `peer` and received from it until
    /// [`unblock`](Self::unblock): one side of a partition of a live
    /// cluster. Blocking each other on both sides cuts the link both ways.
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn block(&self, peer: SocketAddr) -> Result<(), GossipError> {
        self.change_faults(move |t| {
            t.block(peer);
            Ok(())
        })
        .await
    }

    /// Lets traffic to and from `peer` through again: heals what
    /// [`block`](Self::block) cut.
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn unblock(&self, peer: SocketAddr) -> Result<(), GossipError> {
        self.change_faults(move |t| {
            t.unblock(peer);
            Ok(())
        })
        .await
    }

    /// Leaves the cluster: announces it to a few members, waits (up to
    /// 1 s) until the announcement has left the send queue, and stops
    /// driving the node. Reads, members and stats still answer; updates
    /// fail with [`GossipError::Left`]. Then call
    /// [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    /// [`GossipError::Stopped`] after shutdown.
    pub async fn leave(&self) -> Result<(), GossipError> {
        self.ask(Command::Leave).await
    }

    /// Stops the node (without announcing: see [`leave`](Self::leave)):
    /// ends the node task and every transport task, closes the sockets,
    /// ends every subscription. Returns once all of that is done; at once if
    /// it was done already.
    pub async fn shutdown(&self) {
        drop(
            self.inner
                .changes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        // An error means the task has ended already.
        let _ = self.ask(Command::Shutdown).await;
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // A panic in the node task is a bug; it has ended either way.
            let _ = task.await;
        }
    }
}

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<S> {
    /// The state changed by this delta (joining it into the state from
    /// before gives the state after).
    Delta(Arc<S>),
    /// This many changes were missed: the subscriber fell more than
    /// [`CHANGE_CAPACITY`] behind. Read the state to catch up.
    Lagged(u64),
}

/// A receiver that gives itself back with what it received, so that a
/// boxed future can own it between polls.
type Next<S> = Pin<
    Box<
        dyn Future<
                Output = (
                    Result<Arc<S>, broadcast::error::RecvError>,
                    broadcast::Receiver<Arc<S>>,
                ),
            > + Send,
    >,
>;

/// The changes of one node's state, from [`GossipHandle::subscribe`]: a
/// [`Stream`] of [`Change`]s, or [`recv`](Subscription::recv) them one by
/// one. It ends when the node shuts down.
pub struct Subscription<S> {
    /// `None` once the node has shut down and every change was taken.
    next: Option<Next<S>>,
}

impl<S> std::fmt::Debug for Subscription<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("ended", &self.next.is_none())
            .finish()
    }
}

impl<S: State> Subscription<S> {
    fn new(receiver: broadcast::Receiver<Arc<S>>) -> Self {
        Self {
            next: Some(Self::receive(receiver)),
        }
    }

    fn receive(mut receiver: broadcast::Receiver<Arc<S>>) -> Next<S> {
        Box::pin(async move { (receiver.recv().await, receiver) })
    }

    /// The next change; `None` once the node has shut down. Cancel safe.
    pub async fn recv(&mut self) -> Option<Change<S>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<S: State> Stream for Subscription<S> {
    type Item = Change<S>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Change<S>>> {
        let Some(next) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        let (received, receiver) = ready!(next.as_mut().poll(cx));
        let change = match received {
            Ok(delta) => Change::Delta(delta),
            Err(broadcast::error::RecvError::Lagged(n)) => Change::Lagged(n),
            Err(broadcast::error::RecvError::Closed) => {
                self.next = None;
                return Poll::Ready(None);
            }
        };
        self.next = Some(Self::receive(receiver));
        Poll::Ready(Some(change))
    }
}
