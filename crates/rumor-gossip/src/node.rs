//! The sans-io gossip node: a state machine fed with messages, ticks and
//! local updates, returning the messages to send and the events to report.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rumor_crdt::{codec, Crdt, Hlc, HlcTimestamp, ReplicaId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use smallvec::SmallVec;

use crate::buffer::{Buffered, DeltaBuffer, Interval};
use crate::config::{Config, Strategy};
use crate::hyparview::{View, ViewEvent};
use crate::membership::ViewMessages;
use crate::membership::{FullView, Membership};
use crate::message::{Ack, Body, Message, Probe, SealedDelta, SyncBody};
use crate::peer::Peer;
use crate::plumtree::{self, DeltaId, Plumtree, Tree};
use crate::rank::{self, TreePlace};
use crate::seal::{Identity, Seal, SealError};
use crate::swim::Status;
use crate::swim::Swim;

/// What the application is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<S, P> {
    /// The replicated state changed, by this delta: a local update's delta,
    /// or what a received message brought that the state did not hold
    /// (it may repeat some of what the state held). Joining it into a copy
    /// of the state from before the change gives the state after it, so a
    /// subscriber that mirrors the state, or reacts to what changed, need
    /// not diff. Shared: under [`Strategy::Eager`] it is the very `Arc`
    /// the delta travels in.
    StateChanged(Arc<S>),
    /// A member became known, once per member: a seed of a
    /// [`FullView`] (in the output of the node's first round), a contact
    /// given to [`Node::join`] (in its output), or a member learned from a
    /// message.
    MemberJoined(P),
    /// A member missed a probe and will be declared dead unless it refutes.
    MemberSuspected(P),
    /// A member was declared dead.
    MemberDown(P),
    /// A member left on purpose.
    MemberLeft(P),
    /// A suspected or dead member proved alive (with a higher incarnation).
    MemberAlive(P),
    /// A partial view took `P` as a link.
    LinkUp(P),
    /// A partial view dropped its link to `P` (replaced, disconnected, or
    /// failed its probes).
    LinkDown(P),
    /// A delta from `P` was refused by the write policy
    /// ([`Node::with_write_policy`]): nothing of its message was taken.
    WriteRefused(P),
}

/// An application's rule for which writes a node takes from its peers
/// ([`Node::with_write_policy`]): given a received delta and, when the
/// delta is signed and its seal checked, the replica id of its author,
/// whether it may be joined.
pub type WritePolicy<S> = dyn Fn(&S, Option<ReplicaId>) -> bool + Send + Sync;

/// What one call to the node produced: messages for the driver to send and
/// events for the application. Dropping it drops the messages: under
/// [`Strategy::Eager`], an update's delta leaves the node only in them.
#[derive(Debug)]
#[must_use = "the messages must be sent (an eager update leaves the node only in them)"]
pub struct Output<S: Crdt, P> {
    /// `(to, message)` pairs.
    pub messages: Vec<(P, Message<S, P>)>,
    /// Events, in order.
    pub events: Vec<Event<S, P>>,
}

impl<S: Crdt, P> Default for Output<S, P> {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// What a node refused from its peers, by bound: the counts of the "Bounds
/// against a lying member" (`docs/ARCHITECTURE.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// Messages dropped whole because their delta carried a dot counter
    /// past [`Config::max_dot_step`] or [`Config::counter_ceiling`].
    pub deltas: u64,
    /// Membership claims ignored because their incarnation was past
    /// [`Config::max_incarnation_step`] or the ceiling.
    pub incarnations: u64,
    /// Eager-path deltas whose id ran more than [`Config::max_seq_step`]
    /// ahead of what this node knew of the writer (their content was still
    /// judged, as if anti-entropy had brought it).
    pub ids: u64,
    /// Members forgotten because they were never heard from directly within
    /// [`Config::unheard_expiry_ms`] (made up, or unreachable).
    pub unheard: u64,
    /// Ping requests answered with a nack instead of a ping: their target
    /// was not a member this node knows (or was the requester or itself).
    pub ping_reqs: u64,
    /// Answers to a sender that was not a known member (to a `Sync`, a
    /// `Graft`, or a member list asking for ours), cut or withheld because
    /// they would have been more than [`Config::max_answer_factor`] times
    /// the request's size (a member list: beyond its first page).
    pub answers: u64,
    /// Partial views: view requests (`Join`, `ForwardJoin`, `Neighbor`)
    /// dropped because their sender ran over
    /// [`ViewConfig::request_burst`](crate::ViewConfig::request_burst).
    pub view_requests: u64,
    /// Eager-path deltas refused by a node with an
    /// [`Identity`](crate::Identity) ([`Node::with_identity`]): unsigned,
    /// signed by another key than their epoch's, not verifying, or with
    /// writes that name another replica than their signer.
    pub seals: u64,
    /// Messages whose delta the application's write policy refused
    /// ([`Node::with_write_policy`]).
    pub writes: u64,
    /// Membership claims refused by a node with an identity: in the name of
    /// a member whose key it knows, without a valid proof under that key;
    /// or a suspicion or death whose maker's key it does not know.
    pub claims: u64,
}

impl Refused {
    /// Each count with its field's name, in declaration order: for metrics
    /// and reports that list every bound.
    ///
    /// ```
    /// let refused = rumor_gossip::Refused { unheard: 3, ..Default::default() };
    /// assert!(refused.each().contains(&("unheard", 3)));
    /// assert_eq!(refused.each().iter().map(|(_, n)| n).sum::<u64>(), 3);
    /// ```
    #[must_use]
    pub const fn each(&self) -> [(&'static str, u64); 10] {
        [
            ("deltas", self.deltas),
            ("incarnations", self.incarnations),
            ("ids", self.ids),
            ("unheard", self.unheard),
            ("ping_reqs", self.ping_reqs),
            ("answers", self.answers),
            ("view_requests", self.view_requests),
            ("seals", self.seals),
            ("writes", self.writes),
            ("claims", self.claims),
        ]
    }

    /// Everything refused, by any bound.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.each().iter().map(|(_, n)| n).sum()
    }
}

/// One replica's gossip state machine.
///
/// It never reads a clock or a global RNG: time comes in as `now_ms`, and
/// randomness from the seeded generator it owns, so a run replays exactly
/// from its seeds.
///
/// ```
/// use rumor_crdt::{GCounter, ReplicaId};
/// use rumor_gossip::{Config, FullView, Message, Node};
///
/// let cfg = Config::default();
/// let mut a = Node::new(1u32, GCounter::new(), FullView::new(1, [2]), cfg.clone(), 7);
/// let mut b = Node::new(2u32, GCounter::new(), FullView::new(2, [1]), cfg, 8);
///
/// a.update(|s| s.increment(ReplicaId::from_u128(1), 5));
///
/// // Drive the exchange by hand: a's round, then messages until quiet.
/// let mut wire: Vec<(u32, u32, Message<GCounter, u32>)> =
///     a.tick(100).messages.into_iter().map(|(to, m)| (1, to, m)).collect();
/// while let Some((from, to, msg)) = wire.pop() {
///     let node = if to == 1 { &mut a } else { &mut b };
///     for (next, m) in node.handle(from, msg, 100).messages {
///         wire.push((to, next, m));
///     }
/// }
/// assert_eq!(b.state().value(), 5);
/// ```
pub struct Node<S: Crdt, P: Peer, M = FullView<P>> {
    id: P,
    config: Config,
    state: S,
    members: M,
    rng: Pcg64Mcg,
    round: u64,
    digest_phase: u64,
    buffer: DeltaBuffer<S, P>,
    /// For each peer, the sequence below which it acknowledged our buffer.
    acks: BTreeMap<P, u64>,
    swim: Swim<P>,
    /// The digest of the state, until the state changes.
    digest: Option<u64>,
    /// The eager path's links and recent deltas ([`Strategy::Eager`]),
    /// kept as the `Arc` they arrived in: forwarding, keeping and answering
    /// a graft share one copy (in the simulator, one for the whole network).
    tree: Plumtree<Carried<S>, P>,
    /// Peers asked for a repair after grafts of announced deltas failed.
    /// Their answer is not broadcast on: its ids were announced, so the
    /// tree has spread it.
    repairs_asked: Vec<P>,
    /// When this node last saw a sign of loss (see
    /// [`Config::loss_memory_ms`]), and the unanswered probes counted then.
    loss_seen_ms: Option<u64>,
    missed_acks_seen: u64,
    /// Links found redundant (a duplicate came over them) and demoted, whose
    /// other ends are told so `prune_delay_ms` after the first of them, off
    /// the write's path (at most `MAX_PENDING_PRUNES`; past it, at once).
    pending_prunes: Vec<P>,
    /// The rooted tree's state ([`Config::rooted_tree`], partial views).
    ranking: Option<rank::Ranking<P>>,
    /// Whether the node saw loss within `loss_memory_ms` at its last round.
    lossy_now: bool,
    /// When `pending_prunes` go, if there are any.
    prunes_due_ms: Option<u64>,
    /// Links held as paths from the writers until the time given: a
    /// duplicate over one prunes nothing (see `Node::hold_path`).
    held_paths: Vec<(P, u64)>,
    /// Peers that asked to connect before their link came up in this node's
    /// view: the link starts eager when it does.
    early_connects: Vec<P>,
    /// Peers sent a delayed prune, and when (for one round; see
    /// `reconnect_if_pruned`).
    pruned: Vec<(P, u64)>,
    /// Strangers whose member list got the first page of ours, with a
    /// request to answer, and whether the answer came: the rest goes to
    /// each once it answered and echoed our challenge (it receives at its
    /// address), in either order (at most `MAX_DEFERRED_LISTS`).
    deferred_lists: Vec<(P, bool)>,
    /// Members this node holds dead or departed (their eager links cut).
    gone: BTreeSet<P>,
    /// Members of `gone` proved alive again (back from a partition, say)
    /// since the last round: under [`Strategy::Eager`], one of them gets a
    /// digest in the next round, whatever the digest period.
    returned: Vec<P>,
    /// Under [`Strategy::Eager`], the digest exchange this node waits on
    /// an answer in, if any (see [`Exchange`]).
    exchange: Option<Exchange<P>>,
    /// Exchanges started again since the last digest round, because one
    /// went unanswered (at most `MAX_EXCHANGE_RETRIES`).
    exchange_retries: u32,
    /// The replica's hybrid logical clock, if the driver gave one
    /// ([`Node::with_clock`]): it observes every timestamp the node joins.
    clock: Option<Hlc>,
    /// Deltas refused by the dot bound.
    refused_deltas: u64,
    /// Eager-path ids refused by the sequence bound.
    refused_ids: u64,
    /// Answers to strangers cut by the amplification bound.
    refused_answers: u64,
    /// The key this node signs its eager-path deltas with, and the life its
    /// epoch is derived from ([`Node::with_identity`]).
    identity: Option<(Identity, u64)>,
    /// Eager-path deltas refused for their seal.
    refused_seals: u64,
    /// Which received writes may be joined ([`Node::with_write_policy`]).
    policy: Option<Arc<WritePolicy<S>>>,
    /// Messages refused by the write policy.
    refused_writes: u64,
}

/// A digest exchange that waits on its peer's answer. Under loss, the
/// exchange a straggler needs (its digest, the peer's context, its context
/// with the peer's delta, the peer's delta: 4 legs) gets through about 1
/// time in 4 at 30 % loss, and the next one came a digest period later (1 s
/// by default): a node that missed every push and "I have" of a write then
/// waited seconds. So a node whose exchange goes unanswered starts another
/// in the next round (see [`Node::tick`]), and where the digests were seen
/// to differ, that one opens with its context: the peer's first answer is
/// then exactly what it lacks (2 legs).
#[derive(Clone, Copy, Debug)]
struct Exchange<P> {
    /// The peer whose answer is awaited.
    peer: P,
    /// When the answer is overdue: `ping_timeout_ms` after the question.
    due_ms: u64,
    /// Whether the states were seen to differ (a context went or came).
    differ: bool,
}

/// An eager-path delta as a node keeps and forwards it: the delta, and its
/// author's seal, both shared by every copy.
#[derive(Clone)]
struct Carried<S> {
    delta: Arc<S>,
    seal: Option<Arc<Seal>>,
}

impl<S, P, M> Node<S, P, M>
where
    S: Crdt + Serialize + DeserializeOwned,
    S::Context: Serialize,
    P: Peer + Serialize,
    M: Membership<P>,
{
    /// A node `id` holding `state`, gossiping with `members`; `seed` drives all
    /// its random choices. Each life of a node must have its own seed (a
    /// driver seeds from the OS, the simulator from the node and its
    /// restarts): the eager path names this life's deltas after it.
    pub fn new(id: P, state: S, members: M, config: Config, seed: u64) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let digest_phase = rng.random_range(0..config.digest_every_rounds.max(1));
        let mut swim = Swim::new(id, 0, config.advance(config.max_incarnation_step));
        swim.set_local(members.links().is_some());
        let ranking =
            (config.rooted_tree && config.strategy == Strategy::Eager && members.links().is_some())
                .then(|| rank::Ranking::new(id, 0, config.interval_ms / 5));
        let mut node = Self {
            id,
            config,
            state,
            members,
            rng,
            round: 0,
            digest_phase,
            buffer: DeltaBuffer::new(),
            acks: BTreeMap::new(),
            swim,
            digest: None,
            tree: Plumtree::new(id, epoch_of(seed)),
            repairs_asked: Vec::new(),
            loss_seen_ms: None,
            missed_acks_seen: 0,
            pending_prunes: Vec::new(),
            ranking,
            lossy_now: false,
            prunes_due_ms: None,
            held_paths: Vec::new(),
            early_connects: Vec::new(),
            pruned: Vec::new(),
            deferred_lists: Vec::new(),
            gone: BTreeSet::new(),
            returned: Vec::new(),
            exchange: None,
            exchange_retries: 0,
            clock: None,
            refused_deltas: 0,
            refused_ids: 0,
            refused_answers: 0,
            identity: None,
            refused_seals: 0,
            policy: None,
            refused_writes: 0,
        };
        for peer in node.members.links().unwrap_or_default().to_vec() {
            node.tree.promote(peer);
        }
        // The members it was given: their addresses come from whoever
        // started it, not from a sender.
        for i in 0..node.members.len() {
            if let Some(peer) = node.members.get(i) {
                node.swim.prove(peer);
            }
        }
        node
    }

    /// The same node in a later life: a restart announces a higher
    /// incarnation, which overrides what others concluded about the previous
    /// one (suspect, dead).
    #[must_use]
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        let bound = self.config.advance(self.config.max_incarnation_step);
        let before = core::mem::replace(&mut self.swim, Swim::new(self.id, incarnation, bound));
        // The addresses it was given stay proven.
        self.swim.keep_proven(before);
        self.swim.set_local(self.members.links().is_some());
        if let Some((identity, _)) = &self.identity {
            // Called after `with_identity`: the new life signs too.
            self.swim.sign_with(identity.clone());
        }
        self
    }

    /// Gives the node its replica's clock. From then on the clock observes
    /// the latest timestamp ([`Crdt::latest_timestamp`]) of everything the
    /// node joins, so that [`Node::timestamp`] stamps a write after every
    /// write this node has seen: a local write to a last-writer-wins key
    /// wins over what the node holds, even when its wall clock lags.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Hlc, HlcTimestamp, LwwMap, ReplicaId};
    /// use rumor_gossip::{Config, FullView, Node};
    ///
    /// let me = ReplicaId::from_u128(1);
    /// let state: LwwMap<String, String> = LwwMap::new();
    /// let mut node = Node::new(1u32, state, FullView::new(1, [2]), Config::default(), 7)
    ///     .with_clock(Hlc::new(me));
    /// // A peer whose clock runs 4 s ahead wrote "mode" (here joined by hand).
    /// let theirs = HlcTimestamp::new(5_000, 0, ReplicaId::from_u128(2));
    /// let mut delta = LwwMap::new();
    /// delta.insert("mode".to_string(), "auto".to_string(), theirs).unwrap();
    /// let _ = node.join_delta(&delta, 1_000);
    /// // Our wall clock says 1,000 ms, yet our write is stamped after theirs.
    /// let ts = node.timestamp(1_000).unwrap();
    /// let _ = node.try_update(|s| s.insert("mode".to_string(), "manual".to_string(), ts))?;
    /// assert_eq!(node.state().get(&"mode".to_string()).map(String::as_str), Some("manual"));
    /// # Ok::<(), rumor_crdt::Superseded>(())
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: Hlc) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Gives the node its signing key: from then on it signs the delta of
    /// each of its own writes, and names it like an eager-path delta. The
    /// signed delta travels along the eager path ([`Strategy::Eager`]), or
    /// in the anti-entropy intervals ([`Strategy::Delta`],
    /// [`Strategy::DeltaOptimized`]: a [`SyncBody::sealed`] entry, never
    /// joined with other deltas). Every forwarder passes it on unchanged,
    /// seal and all.
    ///
    /// The node **accepts only signed deltas on the eager path**, and takes
    /// an interval's signed deltas one by one. Each is checked before it
    /// is joined or forwarded: the signature must verify, the id's epoch
    /// must be the author's, and every write of the delta must name the
    /// author's replica id ([`Crdt::authored_only_by`]). A refused delta
    /// counts in [`Refused::seals`]; anti-entropy still brings honest
    /// writes that the eager path missed. Every node of a cluster takes an
    /// identity, or none does.
    ///
    /// The application writes as [`Identity::replica_id`]: a delta whose
    /// writes name another replica is refused by every receiver. What
    /// anti-entropy's catch-up brings (`delta_since` answers: many authors'
    /// writes, joined) carries no seal: it goes on unsigned, through
    /// anti-entropy only, not along the tree, and a write policy sees it
    /// with no author ([`Node::with_write_policy`]). Full-state gossip
    /// ([`Strategy::FullState`]) signs nothing.
    ///
    /// Call it before the first update: it starts the node's life afresh,
    /// under an epoch derived from the key.
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// use rumor_gossip::{Body, Config, FullView, Identity, Node, Strategy, Tree};
    ///
    /// let config = Config { strategy: Strategy::Eager, ..Config::default() };
    /// let me = Identity::from_secret([1; 32]);
    /// let mut a = Node::new(1u32, GCounter::new(), FullView::new(1, [2]), config.clone(), 7)
    ///     .with_identity(me.clone());
    /// let mut b = Node::new(2u32, GCounter::new(), FullView::new(2, [1]), config, 8)
    ///     .with_identity(Identity::from_secret([2; 32]));
    ///
    /// let gossip = |out: rumor_gossip::Output<GCounter, u32>| {
    ///     out.messages.into_iter().map(|(_, m)| m)
    ///         .find(|m| matches!(m.body, Body::Tree(Tree::Gossip { .. })))
    ///         .unwrap()
    /// };
    /// let message = gossip(a.update(|s| s.increment(me.replica_id(), 5)));
    /// assert!(matches!(&message.body, Body::Tree(Tree::Gossip { seal: Some(_), .. })));
    /// let _ = b.handle(1, message, 10);
    /// assert_eq!(b.state().value(), 5);
    ///
    /// // A write under another replica's name does not get through.
    /// let message = gossip(a.update(|s| s.increment(rumor_crdt::ReplicaId::from_u128(9), 1)));
    /// let _ = b.handle(1, message, 20);
    /// assert_eq!((b.state().value(), b.refused().seals), (5, 1));
    /// ```
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Self {
        let life = self.tree.epoch();
        self.tree.set_epoch(identity.author().epoch(life));
        self.swim.sign_with(identity.clone());
        self.identity = Some((identity, life));
        self
    }

    /// Gives the node the application's write policy: every received delta
    /// (a `Sync`'s, an eager-path `Gossip`'s) is shown to `policy` before it
    /// is joined, with the replica id of its author when the delta is signed
    /// and this node checked its seal ([`Node::with_identity`]), `None`
    /// otherwise (anti-entropy joins many authors' writes). A delta the
    /// policy refuses is dropped with its whole message, counted in
    /// [`Refused::writes`] and reported as [`Event::WriteRefused`].
    ///
    /// What a policy can check is the delta's content: for instance that
    /// each key of an `LwwMap` is written only under its owner's replica
    /// id, or only within a prefix, and, with signed deltas, that the
    /// author is that owner. Without signatures a member holding the
    /// cluster key can still name any replica as a write's author; with
    /// them, it can do so only through anti-entropy (`docs/PROTOCOL.md`,
    /// "Seals").
    ///
    /// ```
    /// use rumor_crdt::{OrSet, ReplicaId};
    /// use rumor_gossip::{Body, Config, Event, FullView, Message, Node, SyncBody};
    ///
    /// // Every element is owned by the replica whose number it is: a delta
    /// // may hold element x only in a write of replica x.
    /// let owned = |delta: &OrSet<u128>, _author: Option<ReplicaId>| {
    ///     delta.iter().all(|x| delta.dots(x).iter().all(|d| d.replica.as_u128() == *x))
    /// };
    /// let mut node = Node::new(1u32, OrSet::new(), FullView::new(1, [2]), Config::default(), 7)
    ///     .with_write_policy(owned);
    /// let sync = |delta| Message::new(Body::Sync(Box::new(SyncBody {
    ///     seq: 0, delta, sealed: Vec::new(), context: None, digest: None, hop: 0,
    ///     ack: None, reply: false,
    /// })));
    /// let mut other = OrSet::new();
    /// let _ = node.handle(2, sync(other.insert(ReplicaId::from_u128(2), 2)), 10);
    /// let out = node.handle(2, sync(other.insert(ReplicaId::from_u128(2), 5)), 20);
    /// assert!(out.events.iter().any(|e| matches!(e, Event::WriteRefused(2))));
    /// assert_eq!(node.state().iter().copied().collect::<Vec<_>>(), [2]);
    /// assert_eq!(node.refused().writes, 1);
    /// ```
    #[must_use]
    pub fn with_write_policy(
        mut self,
        policy: impl Fn(&S, Option<ReplicaId>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// Sets or clears the write policy of a running node (see
    /// [`Node::with_write_policy`]); a driver that builds many nodes shares
    /// one policy between them.
    pub fn set_write_policy(&mut self, policy: Option<Arc<WritePolicy<S>>>) {
        self.policy = policy;
    }

    /// Whether the write policy, if any, takes `delta` from `from`;
    /// counts and reports a refusal.
    fn allowed(
        &mut self,
        from: P,
        delta: &S,
        author: Option<ReplicaId>,
        out: &mut Output<S, P>,
    ) -> bool {
        let Some(policy) = &self.policy else {
            return true;
        };
        if delta.is_bottom() || policy(delta, author) {
            return true;
        }
        self.refused_writes += 1;
        out.events.push(Event::WriteRefused(from));
        false
    }

    /// The replica id this node writes as, if it has an identity
    /// ([`Node::with_identity`]).
    pub fn replica_id(&self) -> Option<rumor_crdt::ReplicaId> {
        self.identity
            .as_ref()
            .map(|(identity, _)| identity.replica_id())
    }

    /// The replica's clock, if [`Node::with_clock`] gave one.
    pub fn clock(&self) -> Option<&Hlc> {
        self.clock.as_ref()
    }

    /// A timestamp for a local write at wall time `now_ms`: after every
    /// timestamp this node has joined. `None` without a clock.
    pub fn timestamp(&mut self, now_ms: u64) -> Option<HlcTimestamp> {
        self.clock.as_mut().map(|clock| clock.now(now_ms))
    }

    /// Joins a delta that did not come through gossip (a snapshot restored
    /// from disk, say), as if a peer had sent it: the state and its digest
    /// change, the clock observes it, and the application is told. Nothing
    /// is sent; anti-entropy spreads it.
    pub fn join_delta(&mut self, delta: &S, now_ms: u64) -> Output<S, P> {
        let mut out = Output::default();
        if !self.state.includes(delta) {
            self.absorb(delta, now_ms);
            out.events
                .push(Event::StateChanged(Arc::new(delta.clone())));
        }
        out
    }

    /// Joins `delta` into the state, and lets the clock observe it.
    fn absorb(&mut self, delta: &S, now_ms: u64) {
        self.state.join(delta);
        self.digest = None;
        if let (Some(clock), Some(ts)) = (self.clock.as_mut(), delta.latest_timestamp()) {
            // A reading too far ahead is refused by the clock; the join
            // stands (the write is valid), only our clock does not follow.
            let _ = clock.observe(ts, now_ms);
        }
    }

    /// What this node refused from its peers so far.
    pub fn refused(&self) -> Refused {
        Refused {
            deltas: self.refused_deltas,
            incarnations: self.swim.refused_incarnations(),
            ids: self.refused_ids,
            unheard: self.swim.forgotten_unheard(),
            ping_reqs: self.swim.refused_ping_reqs(),
            answers: self.refused_answers,
            view_requests: self.members.refused_requests(),
            seals: self.refused_seals,
            writes: self.refused_writes,
            claims: self.swim.refused_claims(),
        }
    }

    /// The epoch that names this life's eager-path deltas
    /// ([`DeltaId::epoch`](crate::DeltaId::epoch)).
    pub fn epoch(&self) -> u64 {
        self.tree.epoch()
    }

    /// This node's incarnation number.
    pub fn incarnation(&self) -> u64 {
        self.swim.incarnation()
    }

    /// Lifeguard's local health score: 0 when this node's probes and their
    /// relays answer as they should; up to `max_local_health - 1` when it
    /// misses acks and nacks (or is suspected by others), and then probes
    /// `score + 1` times slower, with `score + 1` times longer timeouts.
    pub fn local_health(&self) -> u32 {
        self.swim.health()
    }

    /// Tells the node that its driver ran `lag_ms` late: a timer fired, or
    /// a received message was handled, that long after it was due (an
    /// overloaded machine, a starved task, a paused process). Acks then
    /// come back late through no fault of the peers, so, as Lifeguard does
    /// for its own missed nacks, a lag past half of `ping_timeout_ms` raises
    /// the local health score by one (at most once per probe interval):
    /// probes go out slower and wait longer, and successful probes lower
    /// the score again. Drivers that cannot fall behind need not call it.
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// use rumor_gossip::{Config, FullView, Node};
    ///
    /// let mut node = Node::new(1u32, GCounter::new(), FullView::new(1, [2]), Config::default(), 7);
    /// node.report_lag(10, 1_000); // within half the 100 ms ping timeout
    /// assert_eq!(node.local_health(), 0);
    /// node.report_lag(80, 1_000);
    /// assert_eq!(node.local_health(), 1);
    /// node.report_lag(80, 1_100); // again within the probe interval
    /// assert_eq!(node.local_health(), 1);
    /// ```
    pub fn report_lag(&mut self, lag_ms: u64, now_ms: u64) {
        self.swim.lagged(lag_ms, now_ms, &self.config);
    }

    /// What this node believes of `peer`.
    pub fn member_status(&self, peer: P) -> Status {
        self.swim.status(peer)
    }

    /// The signing key this node bound to `peer` (its own for itself), with
    /// an identity ([`Node::with_identity`]): claims in `peer`'s name are
    /// taken only under it. `None` before any valid proof of `peer` came,
    /// and on a node without an identity.
    pub fn member_key(&self, peer: P) -> Option<crate::AuthorKey> {
        self.swim.key_of(peer)
    }

    /// The members this node believes alive: those of its view it holds
    /// as alive or suspect (a suspect is alive until proven dead). Over a
    /// partial view, the links.
    pub fn live_members(&self) -> impl Iterator<Item = P> + '_ {
        (0..self.members.len())
            .filter_map(|i| self.members.get(i))
            .filter(|peer| self.swim.is_live(*peer))
    }

    /// The members this node holds as suspect, dead or left.
    pub fn not_alive(&self) -> impl Iterator<Item = (P, Status)> + '_ {
        self.swim.not_alive()
    }

    /// This node's id.
    pub fn id(&self) -> P {
        self.id
    }

    /// The replicated state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The membership view.
    pub fn members(&self) -> &M {
        &self.members
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Gossip rounds run so far.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Deltas currently buffered for pushing.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Where this node stands in the rooted tree: its root, rank, parent
    /// and children (`None` without [`Config::rooted_tree`] over a partial
    /// view). [`TreePlace::formed`] tells whether every node's places form
    /// one tree.
    pub fn tree_place(&self) -> Option<TreePlace<P>> {
        self.ranking.as_ref().map(rank::Ranking::place)
    }

    /// The eager path's eager links: the neighbors this node pushes new
    /// deltas to at once (under [`Strategy::Eager`]; empty otherwise). The
    /// union over all nodes is the broadcast tree.
    pub fn eager_peers(&self) -> impl Iterator<Item = P> + '_ {
        self.tree.eager()
    }

    fn optimized(&self) -> bool {
        self.config.strategy == Strategy::DeltaOptimized
    }

    /// Whether deltas travel in anti-entropy intervals (the delta buffer).
    fn delta_intervals(&self) -> bool {
        matches!(
            self.config.strategy,
            Strategy::Delta | Strategy::DeltaOptimized
        )
    }

    /// Applies a local update: `mutate` changes the state through a delta
    /// mutator and returns the delta, which is buffered for gossip.
    pub fn update(&mut self, mutate: impl FnOnce(&mut S) -> S) -> Output<S, P> {
        let delta = mutate(&mut self.state);
        let mut out = Output::default();
        if !delta.is_bottom() {
            self.digest = None;
            let delta = Arc::new(delta);
            match self.config.strategy {
                Strategy::FullState => {}
                Strategy::Eager => self.broadcast(Arc::clone(&delta), None, &mut out),
                Strategy::Delta | Strategy::DeltaOptimized => {
                    let entry = self.seal_local(&delta);
                    self.buffer.push(None, entry, self.round);
                }
            }
            out.events.push(Event::StateChanged(delta));
        }
        out
    }

    /// A local write as the delta buffer keeps it: sealed, and named like an
    /// eager-path delta, when this node signs; as it is otherwise.
    fn seal_local(&mut self, delta: &Arc<S>) -> Buffered<S, P> {
        let Some((identity, life)) = &self.identity else {
            return Buffered::Plain(S::clone(delta));
        };
        let Ok(bytes) = codec::encode(&**delta) else {
            return Buffered::Plain(S::clone(delta));
        };
        let seal = Arc::new(identity.seal(*life, self.tree.next_seq(), &bytes));
        let carried = Carried {
            delta: Arc::clone(delta),
            seal: Some(Arc::clone(&seal)),
        };
        let id = self.tree.local(carried, self.round, None);
        Buffered::Sealed(SealedDelta {
            id,
            delta: Arc::clone(delta),
            seal,
        })
    }

    /// [`Node::update`] with a mutator that may refuse: an LWW write that
    /// loses to the write held ([`Superseded`](rumor_crdt::Superseded)),
    /// say. On an error nothing changed and nothing is sent.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId, Superseded};
    /// use rumor_gossip::{Config, FullView, Node, Strategy};
    ///
    /// let me = ReplicaId::from_u128(1);
    /// let state: LwwMap<String, u32> = LwwMap::new();
    /// let config = Config { strategy: Strategy::Eager, ..Config::default() };
    /// let mut node = Node::new(1u32, state, FullView::new(1, [2]), config, 7)
    ///     .with_clock(Hlc::new(me));
    /// let ts = node.timestamp(1_000).unwrap();
    /// let out = node.try_update(|s| s.insert("speed".to_string(), 3, ts))?;
    /// assert!(!out.messages.is_empty()); // the eager path pushes it at once
    /// let stale = node.try_update(|s| s.insert("speed".to_string(), 4, ts));
    /// assert!(stale.is_err());
    /// assert_eq!(node.state().get(&"speed".to_string()), Some(&3));
    /// # Ok::<(), Superseded>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `mutate` returns.
    pub fn try_update<E>(
        &mut self,
        mutate: impl FnOnce(&mut S) -> Result<S, E>,
    ) -> Result<Output<S, P>, E> {
        let mut failure = None;
        let out = self.update(|state| {
            mutate(state).unwrap_or_else(|e| {
                failure = Some(e);
                S::default()
            })
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Runs one gossip round at time `now_ms`: pushes to `fanout` random
    /// live peers and asks each for what this node lacks; advances the
    /// failure detector's probes and suspicion timers.
    pub fn tick(&mut self, now_ms: u64) -> Output<S, P> {
        self.round += 1;
        let mut out = Output::default();
        if self.config.strategy != Strategy::FullState {
            let stop = self.optimized().then_some((
                self.config.redundant_stop,
                self.config.sealed_redundant_stop,
            ));
            self.buffer
                .expire(self.round, self.config.buffer_ttl_rounds, stop);
        }
        if self.identity.is_some() && self.delta_intervals() {
            // The ids of sealed deltas, for duplicates: kept as long as
            // the buffers around may still carry them.
            self.tree.expire(self.round, self.config.buffer_ttl_rounds);
        }
        let every = self.config.digest_every_rounds.max(1);
        let digest_round = self.round == 1 || self.round % every == self.digest_phase;
        if digest_round {
            self.exchange_retries = 0;
        }
        // An exchange that went unanswered starts again now, not a digest
        // period later; one whose states differed opens with the context.
        let overdue = self.exchange.filter(|e| now_ms >= e.due_ms);
        let retry =
            overdue.is_some() && !digest_round && self.exchange_retries < MAX_EXCHANGE_RETRIES;
        let with_context = (digest_round || retry) && overdue.is_some_and(|e| e.differ);
        if overdue.is_some() && (digest_round || retry) {
            self.exchange = None;
        }
        if retry {
            self.exchange_retries += 1;
        }
        if self.config.strategy == Strategy::Eager {
            self.tree_round(now_ms, &mut out);
        }
        let mut peers = match self.config.strategy {
            // The eager path carries the deltas; anti-entropy only compares
            // digests now and then (and again when one went unanswered),
            // and escalates where they differ.
            Strategy::Eager if !digest_round && !retry => Vec::new(),
            _ => self
                .swim
                .sample_live(&self.members, &mut self.rng, self.config.fanout, None),
        };
        if self.config.strategy == Strategy::Eager {
            // A member back from a partition (or a false suspicion) missed
            // what the tree carried meanwhile, and the tree no longer led to
            // it: compare digests with one such member now rather than at
            // the next digest round (up to `digest_every_rounds` later).
            // One per round, so that a healed half of a cluster does not
            // draw a digest from every node of the other half at once.
            let returned = core::mem::take(&mut self.returned);
            let live: Vec<P> = returned
                .into_iter()
                .filter(|&p| self.swim.is_live(p) && !peers.contains(&p))
                .collect();
            if !live.is_empty() {
                peers.push(live[self.rng.random_range(0..live.len())]);
            }
        }
        for (i, peer) in peers.into_iter().enumerate() {
            let sync = match self.config.strategy {
                Strategy::Eager => SyncBody {
                    seq: self.buffer.next_seq(),
                    delta: S::default(),
                    sealed: Vec::new(),
                    context: (with_context && i == 0).then(|| self.state.context()),
                    digest: Some(self.digest()),
                    hop: 0,
                    ack: None,
                    reply: true,
                },
                Strategy::FullState => SyncBody {
                    seq: 0,
                    delta: self.state.clone(),
                    sealed: Vec::new(),
                    context: None,
                    digest: None,
                    hop: 0,
                    ack: None,
                    reply: true,
                },
                Strategy::Delta | Strategy::DeltaOptimized => {
                    let Interval {
                        delta,
                        sealed,
                        until,
                    } = self.interval_for(peer);
                    let context = (digest_round && i == 0).then(|| self.state.context());
                    // The peer compares digests only when this message brings
                    // nothing hot, or asks for an answer to its context.
                    let hot = !delta.is_bottom() || !sealed.is_empty();
                    let digest = (context.is_some() || !hot).then(|| self.digest());
                    SyncBody {
                        seq: until,
                        delta,
                        sealed,
                        context,
                        digest,
                        hop: 0,
                        ack: None,
                        reply: true,
                    }
                }
            };
            self.expect_answer(peer, &sync, now_ms);
            self.send(&mut out, peer, Body::Sync(Box::new(sync)));
        }
        let probes = self.swim.tick(
            now_ms,
            &self.config,
            &self.members,
            &mut self.rng,
            &mut out.events,
        );
        for (to, probe) in probes {
            self.send(&mut out, to, Body::Probe(probe));
        }
        let mut view = self.members.tick(now_ms, &mut self.rng);
        for peer in self.swim.take_failed() {
            view.extend(self.members.failed(peer, now_ms, &mut self.rng));
        }
        self.send_view(view, now_ms, &mut out);
        self.forget_departed(now_ms, &mut out);
        for peer in self
            .swim
            .forget_unheard(now_ms, &self.config, &mut self.members)
        {
            self.cut(peer, now_ms, &mut out);
        }
        out
    }

    /// When this node next needs a call to [`Node::handle_timeout`], in the
    /// same milliseconds as `now_ms`; `None` while nothing waits. Between
    /// rounds, only the eager path waits: for deltas it heard announced
    /// ("I have") but not received, a graft is due `graft_timeout_ms` after
    /// the announcement, not at the next round. A driver that never calls
    /// it loses nothing but time: [`Node::tick`] sends what is overdue too.
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// use rumor_gossip::{Body, Config, FullView, IdRange, Message, Node, Strategy, Tree};
    ///
    /// let config = Config { strategy: Strategy::Eager, ..Config::default() };
    /// let mut node = Node::new(1u32, GCounter::new(), FullView::new(1, [2]), config, 7);
    /// assert_eq!(node.poll_timeout(), None);
    ///
    /// // Peer 2 announces a delta this node never received...
    /// let ids = vec![IdRange { origin: 2, epoch: 0, first: 0, last: 0, hop: 0 }];
    /// let announce = Message::new(Body::Tree(Tree::IHave { ids: ids.clone() }));
    /// node.handle(2, announce, 1_000);
    ///
    /// // ...so a graft falls due after `graft_timeout_ms` (20 ms), which a
    /// // driver sleeps until, along with the next round.
    /// assert_eq!(node.poll_timeout(), Some(1_020));
    /// assert!(node.handle_timeout(1_010).messages.is_empty());
    /// let out = node.handle_timeout(1_020);
    /// let graft = Body::Tree(Tree::Graft { ids });
    /// assert!(out.messages.iter().any(|(to, m)| *to == 2 && m.body == graft));
    /// ```
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.config.strategy != Strategy::Eager {
            return None;
        }
        let grafts = self
            .tree
            .next_due(self.config.graft_timeout_ms, self.config.interval_ms.max(1));
        let poisoned = self
            .ranking
            .as_ref()
            .and_then(rank::Ranking::poisoned_until);
        let adverts = self.ranking.as_ref().and_then(rank::Ranking::adverts_due);
        [grafts, self.prunes_due_ms, poisoned, adverts]
            .into_iter()
            .flatten()
            .min()
    }

    /// Does what [`Node::poll_timeout`] said was due at `now_ms` (grafts and
    /// repairs of deltas announced but not received, prunes of redundant
    /// links); nothing if called early.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Output<S, P> {
        let mut out = Output::default();
        if self.config.strategy == Strategy::Eager {
            self.send_prunes(now_ms, &mut out);
            self.send_grafts(now_ms, &mut out);
            if let Some(ranking) = &mut self.ranking {
                ranking.retry(now_ms);
                self.rank_apply(now_ms, &mut out);
            }
        }
        out
    }

    /// Joins the cluster through `contact`. A full view only learns the
    /// contact (gossip does the rest); a partial view sends it a join
    /// request, and links come up as the request travels.
    pub fn join(&mut self, contact: P, now_ms: u64) -> Output<S, P> {
        let mut out = Output::default();
        let view = self.members.join(contact, now_ms, &mut self.rng);
        self.send_view(view, now_ms, &mut out);
        out
    }

    /// Sends a partial view's messages, and follows its link changes: a new
    /// link starts as an eager neighbor of the tree, a lost one is forgotten.
    fn send_view(&mut self, messages: ViewMessages<P>, now_ms: u64, out: &mut Output<S, P>) {
        for (to, message) in messages {
            self.send(out, to, Body::View(message));
        }
        for event in self.members.take_events() {
            match event {
                ViewEvent::Up(peer) => {
                    self.link_up(peer, now_ms, out);
                    out.events.push(Event::LinkUp(peer));
                }
                ViewEvent::Down(peer) => {
                    self.cut(peer, now_ms, out);
                    out.events.push(Event::LinkDown(peer));
                }
                ViewEvent::Joined(peer) => out.events.push(Event::MemberJoined(peer)),
            }
        }
    }

    /// A partial view's new link to `peer`: eager while this node has fewer
    /// than `eager_links_wanted` eager links, or if `peer` asked to connect
    /// before the link came up here (the other end is then asked to connect
    /// too, and the link is held as a path); lazy otherwise.
    ///
    /// Plumtree starts every link eager and lets the first broadcast prune
    /// the extra ones. Over partial views of 5 links that first write came
    /// to each node about 5 times: in one process of 1,000 agents on 2
    /// cores, the first write after formation was always the slowest
    /// (median 80 ms over 11 runs, against 22 ms for the median write);
    /// with 2 links wanted, 56 ms. Every node still has a path: a joining
    /// node's first links come up eager, to nodes on the tree already, and
    /// a lost eager link turns the lazy ones eager.
    fn link_up(&mut self, peer: P, now_ms: u64, out: &mut Output<S, P>) {
        if let Some(ranking) = &mut self.ranking {
            ranking.link_up(peer, now_ms);
            self.tree.add_lazy(peer);
            self.rank_apply(now_ms, out);
            return;
        }
        let wanted = self.config.eager_links_wanted;
        if self.config.strategy != Strategy::Eager || wanted == 0 {
            self.tree.promote(peer);
            return;
        }
        let asked = self.early_connects.iter().position(|p| *p == peer);
        if let Some(at) = asked {
            self.early_connects.swap_remove(at);
        }
        if asked.is_some() || self.tree.eager_len() < wanted {
            self.tree.promote(peer);
            self.hold_path(peer, now_ms);
            self.send(out, peer, Body::Tree(Tree::Connect));
        } else {
            self.tree.add_lazy(peer);
        }
    }

    /// scratch oracle
    pub fn oracle_tree(&mut self, eager: &[P]) {
        let nbrs: Vec<P> = self.tree.eager().chain(self.tree.lazy()).collect();
        for p in nbrs {
            if eager.contains(&p) {
                self.tree.promote(p)
            } else {
                self.tree.demote(p)
            }
        }
    }
    /// Makes `peer` an eager neighbor, if it may be one: any member over a
    /// full view, only a link over a partial view.
    fn link(&mut self, peer: P) {
        if self.ranking.is_some() {
            return; // the rooted tree's links are eager, the others lazy
        }
        if self
            .members
            .links()
            .is_none_or(|links| links.contains(&peer))
        {
            self.tree.promote(peer);
        }
    }

    /// Forgets eager-path links to members found dead or gone; notes the
    /// members proved alive again.
    fn forget_departed(&mut self, now_ms: u64, out: &mut Output<S, P>) {
        if self.config.strategy == Strategy::Eager {
            // Back from the dead, not from a mere suspicion: a suspect's
            // links were never cut, and a digest to every member that
            // refuted a false suspicion (common under loss) would cost
            // repairs of deltas still on their way.
            for event in &out.events {
                match *event {
                    Event::MemberDown(peer) | Event::MemberLeft(peer) => {
                        self.gone.insert(peer);
                    }
                    Event::MemberAlive(peer)
                        if self.gone.remove(&peer) && !self.returned.contains(&peer) =>
                    {
                        self.returned.push(peer);
                    }
                    _ => {}
                }
            }
        }
        let gone: Vec<P> = out
            .events
            .iter()
            .filter_map(|event| match *event {
                Event::MemberDown(peer) | Event::MemberLeft(peer) => Some(peer),
                _ => None,
            })
            .collect();
        for peer in gone {
            self.cut(peer, now_ms, out);
        }
    }

    /// Forgets the eager-path link to `peer`; where that cuts the tree, the
    /// lazy links became eager, and their other ends are asked to follow.
    /// While the tree is idle (no delta kept), only as many as it takes to
    /// have `eager_links_wanted` eager links: the join storm that forms an
    /// overlay cuts thousands of eager links (5,276 cut ends among 1,000
    /// nodes in 3 s), and promoting every lazy link left 4.1 of a node's 5
    /// links eager, which the first write then flooded (87 KB of payload
    /// against 31–44 KB for the next ones; in one process of 1,000 agents
    /// on 2 cores, the slowest write of all). Now 2.7 are eager after the
    /// joins, every node is still reached over eager links, and the first
    /// write carries 47 KB (reaching every node in 14–15 ms instead of
    /// 7–8: the flood was breadth-first, the tree is deeper).
    ///
    /// Losing an eager link (HyParView's refreshes replace about 90 links a
    /// second among 1,000 nodes, on top of failures) may take this node's
    /// path from the writers, while a write is on its way. So every eager
    /// link left is held as a path for a while (see `Node::hold_path`): the
    /// write's duplicates, still in flight, do not prune the links that must
    /// now carry the next ones.
    fn cut(&mut self, peer: P, now_ms: u64, out: &mut Output<S, P>) {
        if let Some(ranking) = &mut self.ranking {
            ranking.link_down(peer, now_ms);
            self.tree.remove(peer);
            self.rank_apply(now_ms, out);
            return;
        }
        if self.config.strategy != Strategy::Eager {
            self.tree.remove(peer);
            return;
        }
        let was_eager = self.tree.is_eager(peer);
        // While no delta is kept (none came or was written for
        // `eager_keep_rounds`), no write is on its way to be lost: a cut
        // only needs the node to keep `eager_links_wanted` paths, made from
        // its lazy links in an order that turns with the rounds (not the
        // lowest ids everywhere). Otherwise every lazy link.
        let wanted = self.config.eager_links_wanted;
        let idle = !self.tree.carrying() && self.members.links().is_some() && wanted > 0;
        let up_to = if idle { wanted } else { usize::MAX };
        let turn = usize::try_from(self.round).unwrap_or(0);
        for promoted in self.tree.remove_up_to(peer, up_to, turn) {
            if self.swim.is_live(promoted) {
                self.send(out, promoted, Body::Tree(Tree::Connect));
            }
        }
        if was_eager {
            let left: Vec<P> = self.tree.eager().collect();
            for link in left {
                self.hold_path(link, now_ms);
            }
        }
    }

    /// Sends the rooted tree's adverts that are due, and makes its links
    /// eager and every other link lazy.
    fn rank_apply(&mut self, now_ms: u64, out: &mut Output<S, P>) {
        let Some(ranking) = &mut self.ranking else {
            return;
        };
        let adverts = ranking.adverts(now_ms);
        let neighbors: Vec<P> = self.tree.eager().chain(self.tree.lazy()).collect();
        let mut joined = Vec::new();
        let mut tree_links = Vec::new();
        for peer in neighbors {
            if self.ranking.as_ref().is_some_and(|r| r.is_tree_link(peer)) {
                if !self.tree.is_eager(peer) {
                    joined.push(peer);
                }
                self.tree.promote(peer);
                tree_links.push(peer);
            } else {
                self.tree.demote(peer);
            }
        }
        self.members.keep_links(&tree_links);
        // A new parent or child may have missed a write that passed here
        // while the tree changed: it is pushed the recent ones.
        for peer in joined {
            self.catch_up(peer, out);
        }
        for (to, advert) in adverts {
            self.send(out, to, Body::Tree(Tree::Rank(advert)));
        }
    }

    /// Holds the link to `peer` as a path from the writers for twice
    /// `graft_timeout_ms` (the time a delta may take on the tree): a
    /// duplicate that comes over it meanwhile, of a write already on its way
    /// when the link became this node's path, prunes nothing.
    fn hold_path(&mut self, peer: P, now_ms: u64) {
        let until = now_ms.saturating_add(self.config.graft_timeout_ms.saturating_mul(2));
        self.held_paths.retain(|&(_, at)| at > now_ms);
        if let Some(held) = self.held_paths.iter_mut().find(|(p, _)| *p == peer) {
            held.1 = until;
            return;
        }
        if self.held_paths.len() >= MAX_HELD_PATHS {
            self.held_paths.remove(0);
        }
        self.held_paths.push((peer, until));
    }

    /// Whether the link to `peer` is held as a path at `now_ms`.
    fn holds_path(&self, peer: P, now_ms: u64) -> bool {
        self.held_paths
            .iter()
            .any(|&(p, until)| p == peer && until > now_ms)
    }

    /// `peer` asks this node to push to it (a [`Tree::Connect`]): it lost
    /// an eager link, or a prune crossed a delta on the way. Where the link
    /// was lazy here, `peer` may have lost its path in the middle of a
    /// write that passed this node already, and would wait for the round's
    /// "I have" and a graft: the deltas kept this round and the last that
    /// it is not known to hold go to it at once (at most
    /// `MAX_CATCH_UP_PUSHES`, each once per peer). The link is held as a
    /// path (`Node::hold_path`), so that a duplicate `peer` pushes meanwhile
    /// does not prune it again.
    ///
    /// In the simulator (1,000 nodes on partial views, 1 ms links, 50
    /// writes at 5 a second, 16 seeds), 23 of 800 writes reached their last
    /// node after more than 25 ms (up to 94 ms): a link lost mid-write left
    /// a few nodes to a graft. With the catch-up, the paths held after a
    /// cut and the connected link held here, 5 did; without the paths held
    /// after a cut, the catch-up's own duplicates pruned the new links (131).
    fn connected(&mut self, peer: P, now_ms: u64, out: &mut Output<S, P>) {
        let was_eager = self.tree.is_eager(peer);
        self.link(peer);
        if !self.tree.is_eager(peer) {
            // Not a link of this node's view, or not yet: the view's
            // answer may come after the peer's connect.
            if !self.early_connects.contains(&peer) {
                if self.early_connects.len() >= MAX_EARLY_CONNECTS {
                    self.early_connects.remove(0);
                }
                self.early_connects.push(peer);
            }
            return;
        }
        self.hold_path(peer, now_ms);
        if !was_eager {
            self.catch_up(peer, out);
        }
    }

    /// Pushes a new eager link the deltas kept this round and the last that
    /// it is not known to hold (at most `MAX_CATCH_UP_PUSHES`, each once per
    /// peer): a write may have passed this node before the link was there.
    fn catch_up(&mut self, peer: P, out: &mut Output<S, P>) {
        for id in self.tree.catch_up_for(peer, MAX_CATCH_UP_PUSHES) {
            if let Some((Carried { delta, seal }, hop)) =
                self.tree.kept(&id).map(|(c, hop)| (c.clone(), hop))
            {
                self.tree.held_by(&id, peer);
                let gossip = Tree::Gossip {
                    id,
                    delta,
                    seal,
                    hop: hop.saturating_add(1),
                };
                self.send(out, peer, Body::Tree(gossip));
            }
        }
    }

    /// The eager path's round: expire kept deltas, keep `eager_degree`
    /// neighbors, announce this round's deltas to every neighbor but the one
    /// each came from, graft what is overdue.
    ///
    /// Plumtree announces on lazy links only, because its eager links are
    /// reliable (TCP). Over datagrams an eager push can be lost, and a node
    /// whose every eager copy was lost would never hear of the delta: so the
    /// eager neighbors get the announcement too (ids only, a few bytes),
    /// those this node pushed the delta to in the second round only
    /// ([`Plumtree::pushed_to`]).
    fn tree_round(&mut self, now_ms: u64, out: &mut Output<S, P>) {
        self.tree.expire(self.round, self.config.eager_keep_rounds);
        if let Some(ranking) = &mut self.ranking {
            ranking.tick(now_ms, self.config.root_refresh_ms.max(1));
            self.rank_apply(now_ms, out);
        }
        self.send_prunes(now_ms, out);
        self.ensure_neighbors(out);
        let lossy = self.lossy(now_ms);
        self.lossy_now = lossy;
        self.tree.set_announce_rounds(lossy);
        if self.tree.announcing() {
            let neighbors: Vec<P> = self
                .tree
                .eager()
                .chain(self.tree.lazy())
                .filter(|p| self.swim.is_live(*p))
                .collect();
            for peer in neighbors {
                let ids = self.tree.announcements_for(peer);
                if !ids.is_empty() {
                    let ids = plumtree::to_ranges(ids);
                    self.send(out, peer, Body::Tree(Tree::IHave { ids }));
                }
            }
            self.tree.announced_all();
        }
        self.send_grafts(now_ms, out);
    }

    /// Whether this node has seen a sign of loss within
    /// `loss_memory_ms`: a graft it sent or was sent for a missing delta, or
    /// a probe of its that its target never answered itself (always, with
    /// 0).
    fn lossy(&mut self, now_ms: u64) -> bool {
        let missed = self.swim.missed_acks();
        if missed != self.missed_acks_seen {
            self.missed_acks_seen = missed;
            self.loss_seen_ms = Some(now_ms);
        }
        let memory = self.config.loss_memory_ms;
        memory == 0
            || self
                .loss_seen_ms
                .is_some_and(|seen| now_ms.saturating_sub(seen) < memory)
    }

    /// Tells `peer` that its link to this node is redundant:
    /// `prune_delay_ms` after the first prune still waiting, with the others.
    ///
    /// Plumtree prunes at once. But a duplicate arrives while the write is
    /// still spreading, and in one process on two cores the wave is
    /// CPU-bound: the prunes were a quarter of its datagrams (1.49 copies
    /// and 0.49 prunes per node per write, 1,000 nodes), each sent, received
    /// and opened before the wave's last hops. A little later they cost the
    /// same, after the wave; the link stays demoted here meanwhile, and a
    /// duplicate the peer sends before the prune arrives is pruned with it.
    /// Held to the next round instead, the prunes let the next write's
    /// duplicates through at two writes a round.
    fn prune_later(&mut self, peer: P, now_ms: u64, out: &mut Output<S, P>) {
        if self.pending_prunes.contains(&peer) {
            return;
        }
        if self.config.prune_delay_ms == 0 || self.pending_prunes.len() >= MAX_PENDING_PRUNES {
            self.send(out, peer, Body::Tree(Tree::Prune));
            return;
        }
        if self.pending_prunes.is_empty() {
            self.prunes_due_ms = Some(now_ms.saturating_add(self.config.prune_delay_ms));
        }
        self.pending_prunes.push(peer);
    }

    /// Sends the prunes that are due at `now_ms`, to live peers whose links
    /// are still lazy here (a link that brought a first copy since is eager
    /// again, and stays so on both ends).
    fn send_prunes(&mut self, now_ms: u64, out: &mut Output<S, P>) {
        let round = self.config.interval_ms;
        self.pruned
            .retain(|&(_, at)| now_ms.saturating_sub(at) <= round);
        if self.prunes_due_ms.is_none_or(|due| due > now_ms) {
            return;
        }
        self.prunes_due_ms = None;
        for peer in core::mem::take(&mut self.pending_prunes) {
            if !self.tree.is_eager(peer) && self.swim.is_live(peer) {
                self.send(out, peer, Body::Tree(Tree::Prune));
                if self.pruned.len() >= MAX_PRUNED {
                    self.pruned.remove(0);
                }
                self.pruned.push((peer, now_ms));
            }
        }
    }

    /// `peer` delivered a first copy: if this node sent it a delayed prune
    /// within the last round, the prune may have crossed that copy on the
    /// way, and `peer` has demoted this node since, while its link is eager
    /// here again. Asks it to link back (a connect), or this node may be
    /// left with no peer pushing to it. Delayed prunes go out while the
    /// next write may be spreading: without the connect, 3 of 20 writes to
    /// 1,000 simulated nodes and 15 of 20 to 10,000 missed a node on the
    /// tree (37–88 ms to all, an "I have" and a graft later, against
    /// 13–21 ms).
    fn reconnect_if_pruned(&mut self, peer: P, out: &mut Output<S, P>) {
        if let Some(at) = self.pruned.iter().position(|&(p, _)| p == peer) {
            self.pruned.remove(at);
            self.send(out, peer, Body::Tree(Tree::Connect));
        }
    }

    /// Connects to random live members while there are fewer than
    /// `eager_degree` neighbors. Also the fallback when every link died:
    /// the next push goes to fresh random peers.
    fn ensure_neighbors(&mut self, out: &mut Output<S, P>) {
        if self.members.links().is_some() {
            return; // the partial view's links are the neighbors
        }
        let want = self.config.eager_degree.saturating_sub(self.tree.degree());
        if want == 0 {
            return;
        }
        let candidates = self.swim.sample_live(
            &self.members,
            &mut self.rng,
            want + self.tree.degree(),
            None,
        );
        let fresh: Vec<P> = candidates
            .into_iter()
            .filter(|p| !self.tree.is_neighbor(*p))
            .take(want)
            .collect();
        for peer in fresh {
            self.tree.promote(peer);
            self.send(out, peer, Body::Tree(Tree::Connect));
        }
    }

    /// Asks the next announcer of every overdue delta for it. When every
    /// announcer was tried, sends the last one this node's context instead:
    /// it answers with whatever this node lacks (anti-entropy).
    fn send_grafts(&mut self, now_ms: u64, out: &mut Output<S, P>) {
        let due = self.tree.due(
            now_ms,
            self.config.graft_timeout_ms,
            self.config.interval_ms.max(1),
        );
        if !due.grafts.is_empty() {
            self.loss_seen_ms = Some(now_ms);
        }
        for (peer, ids) in due.grafts {
            if self.swim.is_live(peer) {
                self.link(peer);
                let ids = plumtree::to_ranges(ids.into_iter().map(|id| (id, 0)));
                self.send(out, peer, Body::Tree(Tree::Graft { ids }));
            }
        }
        for peer in due.repair_from {
            if !self.repairs_asked.contains(&peer) {
                self.repairs_asked.push(peer);
            }
            let repair = SyncBody {
                seq: self.buffer.next_seq(),
                delta: S::default(),
                sealed: Vec::new(),
                context: Some(self.state.context()),
                digest: Some(self.digest()),
                hop: 0,
                ack: None,
                reply: false,
            };
            self.expect_answer(peer, &repair, now_ms);
            self.send(out, peer, Body::Sync(Box::new(repair)));
        }
    }

    /// Names a local delta and pushes it to every eager neighbor. With no
    /// live eager neighbor (all pruned, or dead), `fanout` other neighbors
    /// or random live members become eager first: a write must leave this
    /// node at once, not wait for the next round's announcements.
    fn broadcast(&mut self, delta: Arc<S>, from: Option<P>, out: &mut Output<S, P>) {
        let seal = match &self.identity {
            None => None,
            // Others' writes (what anti-entropy brought, or a delta whose id
            // was refused) cannot carry their authors' seals: they spread by
            // anti-entropy only.
            Some(_) if from.is_some() => return,
            Some((identity, life)) => codec::encode(&*delta)
                .ok()
                .map(|bytes| Arc::new(identity.seal(*life, self.tree.next_seq(), &bytes))),
        };
        let carried = Carried {
            delta: Arc::clone(&delta),
            seal,
        };
        let id = self.tree.local(carried.clone(), self.round, from);
        self.ensure_neighbors(out);
        if !self.tree.eager().any(|p| self.swim.is_live(p)) {
            let mut fallback: Vec<P> = self
                .tree
                .lazy()
                .filter(|p| self.swim.is_live(*p))
                .take(self.config.fanout.max(1))
                .collect();
            if fallback.is_empty() {
                fallback = self.swim.sample_live(
                    &self.members,
                    &mut self.rng,
                    self.config.fanout.max(1),
                    None,
                );
            }
            for peer in fallback {
                self.link(peer);
            }
        }
        self.push_eager(id, &carried, from, 0, out);
    }

    fn push_eager(
        &mut self,
        id: DeltaId<P>,
        carried: &Carried<S>,
        except: Option<P>,
        hop: u32,
        out: &mut Output<S, P>,
    ) {
        // Inline: a handful of eager links (a heap allocation per forward
        // otherwise).
        let mut targets: SmallVec<[P; 8]> = self
            .tree
            .eager()
            .filter(|p| Some(*p) != except && self.swim.is_live(*p))
            .collect();
        // On the rooted tree a push lost leaves the subtree below to the
        // "I have"s: where loss was seen, one lazy link gets a spare copy.
        if self.ranking.is_some() && self.lossy_now && self.config.spare_push_on_loss {
            let live = |p: &P| Some(*p) != except && self.swim.is_live(*p);
            let n = self.tree.lazy().filter(live).count();
            if n > 0 {
                let k = self.rng.random_range(0..n);
                targets.extend(self.tree.lazy().filter(live).nth(k));
            }
        }
        self.tree.pushed_to(&id, &targets);
        for peer in targets {
            let gossip = Tree::Gossip {
                id,
                delta: Arc::clone(&carried.delta),
                seal: carried.seal.clone(),
                hop,
            };
            self.send(out, peer, Body::Tree(gossip));
        }
    }

    fn handle_tree(
        &mut self,
        from: P,
        message: Tree<S, P>,
        budget: Option<usize>,
        now_ms: u64,
        out: &mut Output<S, P>,
    ) {
        let max = self.config.max_ids_per_message;
        match message {
            Tree::Gossip {
                id,
                delta,
                seal,
                hop,
            } => {
                // The hops from the writer to here.
                let here = hop.saturating_add(1);
                if let Some(ranking) = &mut self.ranking {
                    if !ranking.is_tree_link(from) && ranking.takes_for_child(from) {
                        // It takes this node for its child: it hears
                        // otherwise (its copy is kept if it is the first).
                        ranking.nudge(from);
                        self.rank_apply(now_ms, out);
                    }
                }
                if self.tree.has_from(&id, from) {
                    // A second path leads here: keep this link lazy, unless
                    // it is another write's first path (see `prunes`).
                    if self.ranking.is_none()
                        && self.tree.prunes(from, self.round)
                        && !self.holds_path(from, now_ms)
                    {
                        self.tree.demote(from);
                        self.prune_later(from, now_ms, out);
                    }
                    return;
                }
                let mut author = None;
                if self.identity.is_some() {
                    if let Err(_refused) = Self::check_seal(&id, &delta, seal.as_deref()) {
                        self.refused_seals += 1;
                        return;
                    }
                    author = seal.as_ref().map(|seal| seal.author.replica_id());
                }
                if !self.allowed(from, &delta, author, out) {
                    return;
                }
                let ids = self.config.advance(self.config.max_seq_step);
                if !self.tree.admits(&id, from, ids) {
                    // The id is refused; the content (its dots passed their
                    // bound) is judged on its own: what is new goes on as
                    // this node's delta, as what anti-entropy brings does.
                    self.refused_ids += 1;
                    if !self.state.includes(&delta) {
                        self.absorb(&delta, now_ms);
                        out.events.push(Event::StateChanged(Arc::clone(&delta)));
                        self.broadcast(delta, Some(from), out);
                    }
                    return;
                }
                self.link(from);
                self.reconnect_if_pruned(from, out);
                self.tree.delivered_first(from, self.round);
                // A new id whose content is held already (a write that came
                // by anti-entropy, and that this node broadcast then, or a
                // repair's rebroadcast reaching a node that has it) goes no
                // further: where it was news, it is on its way. A sealed
                // delta is its author's own write, never a rebroadcast, and
                // the nodes below wait for it on the tree: if anti-entropy
                // brought its content first (a catch-up answer joins writes
                // in flight), it goes on all the same. Stopped there, one
                // write in ten missed a node on the tree at 1,000 signing
                // nodes (p99 70 ms against 17 unsigned).
                let news = !self.state.includes(&delta);
                if news {
                    self.absorb(&delta, now_ms);
                    out.events.push(Event::StateChanged(Arc::clone(&delta)));
                }
                let forward = news || seal.is_some();
                let carried = Carried { delta, seal };
                // Kept first: the pushes are noted on it.
                self.tree
                    .keep(id, carried.clone(), self.round, Some(from), forward, here);
                if forward {
                    self.push_eager(id, &carried, Some(from), here, out);
                }
            }
            Tree::IHave { ids } => {
                let mut shortcut = false;
                let mut left = max;
                for range in &ids {
                    let some = plumtree::from_ranges(core::slice::from_ref(range), left);
                    left -= some.len();
                    for id in some {
                        shortcut |= self.tree.announced(
                            id,
                            from,
                            range.hop,
                            self.config.shortcut_hops,
                            now_ms,
                        );
                    }
                    if left == 0 {
                        break;
                    }
                }
                // A neighbor much nearer the writers than the path our
                // copies took: make it eager (and ask it to be, by an empty
                // graft). The longer path's link is left to the duplicates
                // to prune, where it is no other write's first path.
                if shortcut
                    && self.ranking.is_none()
                    && self.tree.is_neighbor(from)
                    && self.swim.is_live(from)
                {
                    self.link(from);
                    self.send(out, from, Body::Tree(Tree::Graft { ids: Vec::new() }));
                }
            }
            Tree::Graft { ids } => {
                // A neighbor missed a delta this node announced: its links
                // lose messages, and this node's second round is for them.
                if !ids.is_empty() {
                    self.loss_seen_ms = Some(now_ms);
                }
                self.link(from);
                // A stranger gets what fits its budget (a known member all
                // it asks for, up to `max_ids_per_message`).
                let mut room = budget.unwrap_or(usize::MAX);
                for id in plumtree::from_ranges(&ids, max) {
                    if let Some((Carried { delta, seal }, hop)) =
                        self.tree.kept(&id).map(|(c, hop)| (c.clone(), hop))
                    {
                        let gossip = Tree::Gossip {
                            id,
                            delta,
                            seal,
                            hop: hop.saturating_add(1),
                        };
                        let size = codec::encoded_len(&gossip)
                            .map_or(usize::MAX, |len| len.saturating_add(SYNC_FRAME_MAX));
                        if size > room {
                            self.refused_answers += 1;
                            break;
                        }
                        room -= size;
                        if budget.is_some() {
                            // Sized as sent: nothing piggybacked.
                            self.send_bare(out, from, Body::Tree(gossip));
                        } else {
                            self.send(out, from, Body::Tree(gossip));
                        }
                    }
                }
            }
            Tree::Prune | Tree::Connect if self.ranking.is_some() => {}
            Tree::Prune => self.tree.demote(from),
            Tree::Connect => self.connected(from, now_ms, out),
            Tree::Rank(advert) => {
                if let Some(ranking) = &mut self.ranking {
                    ranking.heard(from, advert, now_ms);
                    self.rank_apply(now_ms, out);
                }
            }
        }
    }

    /// Whether a received eager-path delta carries a seal by its author:
    /// the id's epoch is the author's, the signature verifies over the
    /// delta's encoding and the id's sequence number, and every write names
    /// the author's replica id.
    fn check_seal(id: &DeltaId<P>, delta: &S, seal: Option<&Seal>) -> Result<(), SealError> {
        let seal = seal.ok_or(SealError::Missing)?;
        let bytes = codec::encode(delta).map_err(|_| SealError::Encode)?;
        seal.verify(id.epoch, id.seq, &bytes)?;
        if delta.authored_only_by(seal.author.replica_id()) {
            Ok(())
        } else {
            Err(SealError::Writer)
        }
    }

    /// Leaves the cluster: tells up to 64 live members at once
    /// (every member of a cluster that size), which spread the news on.
    /// The node should not be driven any more afterwards.
    pub fn leave(&mut self) -> Output<S, P> {
        let left = self.swim.leave();
        let mut out = Output::default();
        let peers = self.swim.sample_live(
            &self.members,
            &mut self.rng,
            LEAVE_DIRECT.max(self.config.indirect_probes * 2),
            None,
        );
        for peer in peers {
            let seq = u64::MAX;
            self.send(&mut out, peer, Body::Probe(Probe::Ping { seq }));
            // Each notice carries the leave, whatever the piggyback queue's
            // count of its copies (about `retransmit_mult × log₁₀N`).
            if let Some((_, message)) = out.messages.last_mut() {
                if !message.members.contains(&left) {
                    message.members.insert(0, left);
                }
            }
        }
        out
    }

    /// After refuting a suspicion, tell the suspecters and two random members
    /// directly: an answer-less message that carries the new incarnation
    /// (and the refutation, first in the piggyback queue).
    fn announce_refutation(&mut self, out: &mut Output<S, P>) {
        let mut targets = self.swim.take_refuted();
        if targets.is_empty() {
            return;
        }
        for peer in self.swim.sample_live(&self.members, &mut self.rng, 2, None) {
            if !targets.contains(&peer) {
                targets.push(peer);
            }
        }
        for peer in targets {
            let notice = SyncBody {
                seq: self.buffer.next_seq(),
                delta: S::default(),
                sealed: Vec::new(),
                context: None,
                digest: None,
                hop: 2,
                ack: None,
                reply: false,
            };
            self.send(out, peer, Body::Sync(Box::new(notice)));
        }
    }

    /// Tells each member heard from below what we hold of it (restarted
    /// without its incarnation) what we hold, first in a news message.
    fn tell_the_restarted(&mut self, out: &mut Output<S, P>) {
        for claim in self.swim.take_behind() {
            self.send(out, claim.peer, Body::Probe(Probe::News));
            if let Some((_, message)) = out.messages.last_mut() {
                message.members.retain(|m| m.peer != claim.peer);
                message.members.insert(0, claim);
            }
        }
    }

    /// Sends an anti-entropy answer with no piggybacked updates: an answer
    /// to a requester that is not a known member, whose size must be known
    /// here ([`Node::within_budget`]).
    fn send_bare(&mut self, out: &mut Output<S, P>, to: P, body: Body<S, P>) {
        out.messages.push((
            to,
            Message {
                incarnation: self.swim.incarnation(),
                body,
                members: Vec::new(),
            },
        ));
    }

    fn send(&mut self, out: &mut Output<S, P>, to: P, body: Body<S, P>) {
        // A news message carries nothing else: it takes a fuller load.
        let max = if matches!(body, Body::Probe(Probe::News)) {
            (
                self.config.max_news.max(self.config.max_piggyback),
                usize::MAX,
            )
        } else {
            (self.config.max_piggyback, self.config.max_piggyback_bytes)
        };
        let members = self
            .swim
            .piggyback(to, &self.config, self.members.len(), max);
        out.messages.push((
            to,
            Message {
                incarnation: self.swim.incarnation(),
                body,
                members,
            },
        ));
    }

    /// FNV-1a over the encoded state ([`codec::fingerprint`]): stable
    /// across builds, because the encoding is the wire format. Cached until
    /// the state changes.
    ///
    /// The state, not its context: two states can have seen the same dots
    /// and still differ (an OR-Set replica that saw an add, and one that saw
    /// only the add's removal), and a digest must tell apart any two states
    /// that differ, or anti-entropy never repairs them. Equal states have
    /// equal encodings (every type's wire form is canonical).
    fn digest(&mut self) -> u64 {
        if let Some(digest) = self.digest {
            return digest;
        }
        let digest = codec::fingerprint(&self.state).unwrap_or_default();
        self.digest = Some(digest);
        digest
    }

    /// The buffered deltas `peer` has not acknowledged (capped at
    /// `max_delta_bytes`), and the sequence they cover up to.
    fn interval_for(&mut self, peer: P) -> Interval<S, P> {
        let from = self.acks.get(&peer).copied().unwrap_or(0);
        let optimized = self.optimized();
        self.buffer
            .interval(peer, from, optimized, self.config.max_delta_bytes)
    }

    /// Handles a message from `from` received at `now_ms`.
    pub fn handle(&mut self, from: P, message: Message<S, P>, now_ms: u64) -> Output<S, P> {
        let mut out = Output::default();
        if from == self.id {
            return out;
        }
        let dots = self.config.advance(self.config.max_dot_step);
        if message
            .payload()
            .into_iter()
            .chain(message.sealed().iter().map(|piece| &*piece.delta))
            .any(|delta| !delta.advances_within(&self.state, dots))
        {
            // A lie, or a peer gone wrong: nothing of the message is taken.
            self.refused_deltas += 1;
            return out;
        }
        if let Body::Sync(sync) = &message.body {
            // The unsealed part: the policy judges the content alone (the
            // sealed deltas are judged one by one, with their authors).
            if !self.allowed(from, &sync.delta, None, &mut out) {
                return out;
            }
        }
        // Before the message is taken: taking it makes its sender known.
        let budget = self.answer_budget(from, &message);
        if budget.is_some() {
            // Ahead of the answers, so that an honest requester's echo
            // comes before its next request.
            let seq = self.rng.random();
            if let Some(ping) = self.swim.challenge(from, seq) {
                self.send_bare(&mut out, from, Body::Probe(ping));
            }
        }
        self.swim.heard_from(
            from,
            message.incarnation,
            &mut self.members,
            now_ms,
            &mut out.events,
        );
        if let Some(links) = self.members.links() {
            self.swim.link_heard(from, now_ms, links);
        }
        self.swim.apply(
            from,
            &message.members,
            &mut self.members,
            now_ms,
            &mut out.events,
        );
        self.announce_refutation(&mut out);
        self.tell_the_restarted(&mut out);
        // Over a partial view, probes and tree messages travel over links
        // only: one from a peer that is not our link means it holds a link
        // we dropped (our `Disconnect` or its answer was lost). Tell it
        // again, or the link stays one-way. (A relayed probe also lands
        // here; the `Disconnect` is then a no-op for its sender.)
        let over_link = matches!(
            message.body,
            Body::Probe(Probe::Ping { .. }) | Body::Tree(_)
        );
        if over_link && self.members.links().is_some_and(|l| !l.contains(&from)) {
            self.send(&mut out, from, Body::View(View::Disconnect));
        }
        match message.body {
            Body::Sync(sync) => {
                let answers = if self.config.strategy == Strategy::FullState {
                    self.handle_full_state(*sync, now_ms, &mut out)
                } else {
                    self.handle_delta(from, *sync, now_ms, &mut out)
                };
                self.answer(from, answers, budget, now_ms, &mut out);
            }
            Body::Probe(probe) => {
                let list = matches!(probe, Probe::Members { .. });
                let asks = matches!(probe, Probe::Members { reply: true, .. });
                let mut replies = self.swim.on_probe(
                    from,
                    probe,
                    now_ms,
                    &self.config,
                    &mut self.members,
                    &mut out.events,
                );
                if asks && budget.is_some() && replies.len() > 1 {
                    // A stranger's list gets the first page of ours, asking
                    // for its list back: the rest goes once that answer came
                    // (the stranger receives at its address, and is known).
                    replies.truncate(1);
                    if let Some((_, Probe::Members { reply, .. })) = replies.first_mut() {
                        *reply = true;
                    }
                    if !self.deferred_lists.iter().any(|(p, _)| *p == from) {
                        if self.deferred_lists.len() >= MAX_DEFERRED_LISTS {
                            self.deferred_lists.remove(0);
                        }
                        self.deferred_lists.push((from, false));
                    }
                    self.refused_answers += 1;
                } else if let Some(i) = self.deferred_lists.iter().position(|(p, _)| *p == from) {
                    // Its answer and the echo of our challenge may come in
                    // either order (datagrams do not keep theirs): the rest
                    // of our list goes once both came, or not at all if
                    // this asks for the whole list (which it then gets).
                    let answered = &mut self.deferred_lists[i].1;
                    *answered |= list;
                    if asks || (*answered && self.swim.knows(from, &self.members)) {
                        self.deferred_lists.swap_remove(i);
                        if !asks {
                            replies.extend(self.swim.list_pages(
                                from,
                                &self.members,
                                &self.config,
                                false,
                            ));
                        }
                    }
                }
                for (to, reply) in replies {
                    self.send(&mut out, to, Body::Probe(reply));
                }
            }
            Body::Tree(tree) if self.config.strategy == Strategy::Eager => {
                self.handle_tree(from, tree, budget, now_ms, &mut out);
            }
            Body::Tree(_) => {}
            Body::View(view) => {
                let replies = self.members.handle(from, view, now_ms, &mut self.rng);
                self.send_view(replies, now_ms, &mut out);
            }
        }
        if self.config.strategy == Strategy::Eager {
            self.send_grafts(now_ms, &mut out);
        }
        self.forget_departed(now_ms, &mut out);
        out
    }

    /// Joins a peer's state; returns the answer (this node's state) if it
    /// asked for one.
    fn handle_full_state(
        &mut self,
        sync: SyncBody<S, P>,
        now_ms: u64,
        out: &mut Output<S, P>,
    ) -> Vec<SyncBody<S, P>> {
        if !self.state.includes(&sync.delta) {
            self.absorb(&sync.delta, now_ms);
            out.events
                .push(Event::StateChanged(Arc::new(sync.delta.clone())));
        }
        if !sync.reply {
            return Vec::new();
        }
        vec![SyncBody {
            seq: 0,
            delta: self.state.clone(),
            sealed: Vec::new(),
            context: None,
            digest: None,
            hop: 1,
            ack: None,
            reply: false,
        }]
    }

    /// Takes a peer's delta, acknowledges it, and returns the answers: the
    /// interval or `delta_since` it asked for (in pieces), and this node's
    /// context where digests differ.
    fn handle_delta(
        &mut self,
        from: P,
        sync: SyncBody<S, P>,
        now_ms: u64,
        out: &mut Output<S, P>,
    ) -> Vec<SyncBody<S, P>> {
        let eager = self.config.strategy == Strategy::Eager;
        let mut spread_on_tree = eager;
        if sync.hop >= 1 && eager {
            // An answer: if it answers a repair, what we waited for is in it.
            self.tree.answered(from);
            if self.exchange.is_some_and(|e| e.peer == from) {
                self.exchange = None;
            }
            if let Some(i) = self.repairs_asked.iter().position(|p| *p == from) {
                self.repairs_asked.swap_remove(i);
                spread_on_tree = false;
            }
        }
        if let Some(ack) = sync.ack {
            let prev = self.acks.get(&from).copied().unwrap_or(0);
            if ack.seq > prev {
                if ack.redundant && self.optimized() {
                    self.buffer.mark_redundant(prev, ack.seq);
                }
                self.acks.insert(from, ack.seq);
            }
        }
        // Answer a digest before joining the peer's delta, so that its own
        // writes are not sent straight back.
        let mut covered = self.buffer.next_seq();
        let mut more = Vec::new();
        let mut answer_sealed = Vec::new();
        let answer = match &sync.context {
            Some(context) => {
                let (first, rest, cut) = self.pieces(self.state.delta_since(context));
                if cut {
                    // Pieces may be lost: claim nothing beyond the last ack.
                    covered = self.acks.get(&from).copied().unwrap_or(0);
                }
                more = rest;
                Some(first)
            }
            None if sync.reply => {
                let interval = self.interval_for(from);
                covered = interval.until;
                answer_sealed = interval.sealed;
                Some(interval.delta)
            }
            None => None,
        };
        let carried = !sync.delta.is_bottom() || !sync.sealed.is_empty();
        let sealed_news = self.take_sealed(from, sync.sealed, now_ms, out);
        let ack = if carried {
            let plain_news = !self.state.includes(&sync.delta);
            let redundant = !plain_news && !sealed_news;
            if plain_news {
                let stored = if self.optimized() || eager {
                    sync.delta.missing_from(&self.state)
                } else {
                    sync.delta
                };
                self.absorb(&stored, now_ms);
                let stored = Arc::new(stored);
                out.events.push(Event::StateChanged(Arc::clone(&stored)));
                if spread_on_tree {
                    // What anti-entropy brought was new here, so the tree
                    // missed it on its way: it goes on along the tree at
                    // once, as a delta of this node's, rather than one hop
                    // per digest round. Where it is not news, it stops at
                    // the first hop (see `handle_tree`).
                    self.broadcast(stored, Some(from), out);
                } else if !eager {
                    let stored = Arc::try_unwrap(stored).unwrap_or_else(|shared| S::clone(&shared));
                    self.buffer
                        .push(Some(from), Buffered::Plain(stored), self.round);
                }
            }
            Some(Ack {
                seq: sync.seq,
                redundant,
            })
        } else {
            (sync.reply || sync.context.is_some()).then_some(Ack {
                seq: sync.seq,
                redundant: false,
            })
        };
        // Nothing hot went either way, yet the states differ: something cold
        // is missing on one side. Escalate to contexts, so that each side gets
        // exactly `delta_since` of what it lacks.
        let quiet =
            !carried && answer.as_ref().is_none_or(Crdt::is_bottom) && answer_sealed.is_empty();
        // An answer that asks for an answer was cut by its sender's
        // amplification bound (`within_budget`): it wants our context.
        let asked_back = sync.reply && sync.hop == 1;
        let escalate = sync.hop < 2
            && (sync.context.is_some() || (sync.reply && (quiet || asked_back)))
            && sync.digest.is_some_and(|theirs| theirs != self.digest());
        let context = escalate.then(|| self.state.context());
        let digest = context.is_some().then(|| self.digest());
        let hop = sync.hop.saturating_add(1);
        let mut answers = Vec::with_capacity(more.len() + 1);
        if answer.is_some() || carried || context.is_some() {
            // (`answer_sealed` comes with an `answer`.)
            answers.push(SyncBody {
                seq: covered,
                delta: answer.unwrap_or_default(),
                sealed: answer_sealed,
                context,
                digest,
                hop,
                ack,
                reply: false,
            });
        }
        answers.extend(more.into_iter().map(|piece| SyncBody {
            seq: covered,
            delta: piece,
            sealed: Vec::new(),
            context: None,
            digest: None,
            hop,
            ack: None,
            reply: false,
        }));
        answers
    }

    /// Takes the sealed deltas of a `Sync` from `from`, one by one as the
    /// eager path takes its deltas: a duplicate is dropped unchecked, a
    /// forged one is refused, and one that brings news is kept and passed on
    /// unchanged. Returns whether any brought news.
    fn take_sealed(
        &mut self,
        from: P,
        sealed: Vec<SealedDelta<S, P>>,
        now_ms: u64,
        out: &mut Output<S, P>,
    ) -> bool {
        let mut news = false;
        for SealedDelta { id, delta, seal } in sealed {
            if self.config.strategy == Strategy::Eager {
                // Along the tree, as if it had come that way.
                news |= !self.state.includes(&delta);
                let gossip = Tree::Gossip {
                    id,
                    delta,
                    seal: Some(seal),
                    // Counted from here: a copy by anti-entropy steers no
                    // shortcut (it is kept at hop 1, below any threshold).
                    hop: 0,
                };
                self.handle_tree(from, gossip, None, now_ms, out);
                continue;
            }
            if self.identity.is_none() {
                // A node that does not sign takes the content alone.
                news |= self.take_plain(from, &delta, now_ms, out);
                continue;
            }
            if self.tree.has(&id) {
                continue;
            }
            if Self::check_seal(&id, &delta, Some(&seal)).is_err() {
                self.refused_seals += 1;
                continue;
            }
            if !self.allowed(from, &delta, Some(seal.author.replica_id()), out) {
                continue;
            }
            let ids = self.config.advance(self.config.max_seq_step);
            if !self.tree.admits(&id, from, ids) {
                // The id is refused; the content is judged on its own, and
                // goes on unsealed.
                self.refused_ids += 1;
                news |= self.take_plain(from, &delta, now_ms, out);
                continue;
            }
            let fresh = !self.state.includes(&delta);
            if fresh {
                self.absorb(&delta, now_ms);
                out.events.push(Event::StateChanged(Arc::clone(&delta)));
                let entry = SealedDelta {
                    id,
                    delta: Arc::clone(&delta),
                    seal: Arc::clone(&seal),
                };
                self.buffer
                    .push(Some(from), Buffered::Sealed(entry), self.round);
            }
            let carried = Carried {
                delta,
                seal: Some(seal),
            };
            self.tree
                .keep(id, carried, self.round, Some(from), false, 0);
            news |= fresh;
        }
        news
    }

    /// Joins what `delta` brings that the state lacks, and buffers it for
    /// the next intervals (unsealed); returns whether it brought anything.
    fn take_plain(&mut self, from: P, delta: &S, now_ms: u64, out: &mut Output<S, P>) -> bool {
        if self.state.includes(delta) {
            return false;
        }
        let stored = if self.optimized() {
            delta.missing_from(&self.state)
        } else {
            delta.clone()
        };
        self.absorb(&stored, now_ms);
        out.events
            .push(Event::StateChanged(Arc::new(stored.clone())));
        self.buffer
            .push(Some(from), Buffered::Plain(stored), self.round);
        true
    }

    /// Sends the answers to a `Sync` from `from`: as they are to a known
    /// member (`budget` is `None`), cut to the budget otherwise.
    fn answer(
        &mut self,
        from: P,
        answers: Vec<SyncBody<S, P>>,
        budget: Option<usize>,
        now_ms: u64,
        out: &mut Output<S, P>,
    ) {
        match budget {
            None => {
                for answer in answers {
                    self.expect_answer(from, &answer, now_ms);
                    self.send(out, from, Body::Sync(Box::new(answer)));
                }
            }
            Some(budget) => {
                for answer in self.within_budget(from, answers, budget) {
                    self.expect_answer(from, &answer, now_ms);
                    self.send_bare(out, from, Body::Sync(Box::new(answer)));
                }
            }
        }
    }

    /// Notes that `sync`, about to go to `to`, waits on an answer if it
    /// asks for one (under [`Strategy::Eager`]; see [`Exchange`]).
    fn expect_answer(&mut self, to: P, sync: &SyncBody<S, P>, now_ms: u64) {
        if self.config.strategy == Strategy::Eager && (sync.reply || sync.context.is_some()) {
            self.exchange = Some(Exchange {
                peer: to,
                due_ms: now_ms.saturating_add(self.config.ping_timeout_ms),
                differ: sync.context.is_some(),
            });
        }
    }

    /// The budget for the answers to `message` from `from`, in encoded
    /// bytes: `None` (no bound but `max_catch_up_bytes`) for a known
    /// member, or for a message that asks for no answer; otherwise
    /// `max_answer_factor` times a lower bound of the request's encoded
    /// size. Called before the message is taken, which makes its sender
    /// a member.
    ///
    /// Known means held alive or suspect, in the view, heard from
    /// directly, and at an address that is proven: given (a seed, a
    /// simulated cluster's nodes), or that echoed the challenge (a ping
    /// with a random `seq`) this node sent the first time it bounded an
    /// answer to it: see `Swim::knows`. A stranger, or a forged sender address, gets at most
    /// the multiple, so it cannot make this node send many times what it
    /// sent (issue 18: a 15-byte `Sync` with an empty context drew a
    /// 34 KB answer).
    fn answer_budget(&self, from: P, message: &Message<S, P>) -> Option<usize> {
        let asks = match &message.body {
            Body::Sync(sync) => sync.reply || sync.context.is_some(),
            Body::Tree(Tree::Graft { .. }) | Body::Probe(Probe::Members { reply: true, .. }) => {
                true
            }
            Body::Tree(_) | Body::Probe(_) | Body::View(_) => false,
        };
        if !asks || self.swim.knows(from, &self.members) {
            return None;
        }
        // The body (its tag included), the sender's incarnation (a varint,
        // 1 byte at least) and the list of piggybacked updates (its length,
        // and 2 bytes at least per update: its incarnation and status; the
        // peers may take none).
        let request = codec::encoded_len(&message.body)
            .unwrap_or(0)
            .saturating_add(2)
            .saturating_add(message.members.len().saturating_mul(2));
        Some(request.saturating_mul(self.config.max_answer_factor))
    }

    /// Cuts the answers to a requester that is not a known member to
    /// `budget` encoded bytes (they go without piggybacked updates, so that
    /// their size is known here). What does not fit is dropped, and the
    /// requester is asked to answer (`reply`, with our digest): its answer,
    /// whose digest differs, escalates to its context, and by then the
    /// requester is known and gets the whole `delta_since` it lacks. So an
    /// honest joiner's catch-up costs one more round trip, and a forged
    /// sender gets a few times what it sent.
    fn within_budget(
        &mut self,
        from: P,
        mut answers: Vec<SyncBody<S, P>>,
        budget: usize,
    ) -> Vec<SyncBody<S, P>> {
        let total = answers
            .iter()
            .fold(0usize, |sum, answer| sum.saturating_add(framed_len(answer)));
        if total <= budget {
            return answers;
        }
        self.refused_answers += 1;
        answers.truncate(1);
        let Some(mut first) = answers.pop() else {
            return Vec::new();
        };
        // What was cut may never come: claim nothing beyond the last ack.
        first.seq = self.acks.get(&from).copied().unwrap_or(0);
        let mut delta = core::mem::take(&mut first.delta);
        // Sealed deltas cost their seals: a cut answer carries their content
        // unsealed, within the budget (the rest comes once it is known).
        for piece in core::mem::take(&mut first.sealed) {
            delta.join(&piece.delta);
        }
        if framed_len(&first) > budget {
            // No room for our context (the escalation): the requester's own
            // answer brings its context instead.
            first.context = None;
        }
        // (Full-state gossip has no contexts: the requester is known at its
        // next round, and gets the whole state then.)
        if first.context.is_none() && first.hop < 2 && self.config.strategy != Strategy::FullState {
            first.reply = true;
            first.digest = Some(self.digest());
        }
        let control = framed_len(&first);
        if control > budget {
            return Vec::new();
        }
        let room = budget - control;
        if room >= MIN_PIECE_BYTES {
            let (piece, _, _) = self.pieces_within(delta, room, room);
            let empty = core::mem::replace(&mut first.delta, piece);
            if framed_len(&first) > budget {
                first.delta = empty;
            }
        }
        vec![first]
    }

    /// Cuts an answer to a context into pieces of at most `max_delta_bytes`
    /// where the type can be split, up to `max_catch_up_bytes` in all: the
    /// first piece, the others, and whether the answer was cut at all.
    fn pieces(&self, answer: S) -> (S, Vec<S>, bool) {
        self.pieces_within(
            answer,
            self.config.max_delta_bytes,
            self.config.max_catch_up_bytes,
        )
    }

    /// [`Node::pieces`] with pieces of at most `max` bytes, up to `total_max`
    /// bytes in all. The first piece is kept whatever its size (a type that
    /// cannot be split comes whole).
    fn pieces_within(&self, answer: S, max: usize, total_max: usize) -> (S, Vec<S>, bool) {
        let max = max.max(1);
        let len = codec::encoded_len(&answer).unwrap_or(0);
        if len <= max {
            return (answer, Vec::new(), false);
        }
        let budget = (total_max / max).max(1);
        // Pieces repeat some framing (a replica table), so a first cut by
        // size can leave some too large: cut finer, a few times at most.
        let mut parts = len.div_ceil(max);
        let mut pieces = answer.split(parts);
        for _ in 0..3 {
            let fits = pieces
                .iter()
                .all(|p| codec::encoded_len(p).is_ok_and(|n| n <= max));
            if fits || pieces.len() < parts {
                break;
            }
            parts *= 2;
            pieces = answer.split(parts);
        }
        // Send what fits in the budget; the rest is asked for again.
        let mut kept = Vec::new();
        let mut total = 0usize;
        for piece in pieces {
            let n = codec::encoded_len(&piece).unwrap_or(0);
            if !kept.is_empty() && (kept.len() >= budget || total.saturating_add(n) > total_max) {
                break;
            }
            total = total.saturating_add(n);
            kept.push(piece);
        }
        let mut kept = kept.into_iter();
        let first = kept.next().unwrap_or_default();
        (first, kept.collect(), true)
    }
}

/// Strangers whose member lists wait for the rest of ours, at most.
const MAX_DEFERRED_LISTS: usize = 16;

/// Digest exchanges started again between two digest rounds, because one
/// went unanswered (see [`Exchange`]). Bounds what a partitioned node (no
/// answer ever comes) adds to the digest period's one exchange.
const MAX_EXCHANGE_RETRIES: u32 = 3;

/// Delayed prunes waiting, at most: more (duplicates from that many peers
/// within `prune_delay_ms`) go at once.
const MAX_PENDING_PRUNES: usize = 64;

/// Links held as paths at once, at most (see `Node::hold_path`): a node
/// has a handful of links, so this bound is only met by a hostile stream.
const MAX_HELD_PATHS: usize = 64;

/// Connects remembered until their links come up, at most.
const MAX_EARLY_CONNECTS: usize = 8;

/// Deltas pushed at once to a peer that asked to connect, at most (see
/// `Node::connected`).
const MAX_CATCH_UP_PUSHES: usize = 16;

/// Delayed prunes remembered for a round after they went, at most (see
/// `Node::reconnect_if_pruned`); past it, the oldest is forgotten.
const MAX_PRUNED: usize = 2 * MAX_PENDING_PRUNES;

/// Live members a leaving node tells itself, at most. A leave comes once in
/// a node's life, so up to this size a cluster hears it in one hop. Told to
/// 6 (twice `indirect_probes`) and spread as a rumor, a leave missed one of
/// 50 members on real UDP in 1 run in 24 (and then took 3.7 s): a rumor
/// reaches a member only on messages addressed to it, and each member
/// carries it on its next few messages only.
const LEAVE_DIRECT: usize = 64;

/// Bytes a [`Message`] with no piggybacked update adds around its encoded
/// [`SyncBody`], at most: the incarnation (9 bytes at most as a varint),
/// the body's tag (1) and the empty list of updates (1).
const SYNC_FRAME_MAX: usize = 11;

/// Room below which a cut answer to a stranger carries no piece of delta:
/// splitting a state into pieces this small costs more than they bring.
const MIN_PIECE_BYTES: usize = 64;

/// The encoded size of a message carrying `sync` and no piggybacked
/// update, at most.
fn framed_len<S, P: Serialize>(sync: &SyncBody<S, P>) -> usize
where
    S: Crdt + Serialize,
    S::Context: Serialize,
{
    codec::encoded_len(sync).map_or(usize::MAX, |len| len.saturating_add(SYNC_FRAME_MAX))
}

/// The eager path's epoch for a life seeded with `seed` (SplitMix64's
/// finalizer): a different seed gives an unrelated epoch, and drawing it
/// takes nothing from the node's random stream.
fn epoch_of(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
