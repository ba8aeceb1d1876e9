//! The eager path: epidemic broadcast trees (Plumtree: Leitão, Pereira,
//! Rodrigues, SRDS 2007) for deltas.
//!
//! A local delta is named by a [`DeltaId`] and pushed at once to the *eager*
//! neighbors; a node forwards a delta the first time it receives it, to its
//! eager neighbors except the sender. A second copy of a delta means two tree
//! paths lead here: the link it came on is pruned to *lazy*. Lazy links carry
//! batched "I have" announcements (ids, not payloads) every round. A node that
//! hears of an id it never received waits `graft_timeout_ms` for the eager
//! copy, then grafts the link it heard from: the announcer sends the delta and
//! the link becomes eager again, which repairs the tree where it broke.
//!
//! Neighbors start eager, so the first broadcasts flood the neighbor graph
//! and the duplicates they cause shape the tree. This module keeps the
//! per-link state; [`Node`](crate::Node) chooses neighbors, sends, and keeps
//! anti-entropy underneath for whatever both paths lose.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use rumor_crdt::Advance;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::peer::Peer;
use crate::rank::RankAdvert;
use crate::seal::Seal;

/// Names one broadcast delta: the node that wrote it, in which life
/// (epoch), and its sequence number there. Like a dot, but over nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeltaId<P> {
    /// The writing node.
    pub origin: P,
    /// The writer's life: a random number drawn each time a node starts
    /// (a restart starts `seq` again, in a new epoch). Random, not the SWIM
    /// incarnation, so that a node restarted without its incarnation never
    /// reuses the ids of an earlier life, which its peers would take for
    /// deltas they already have.
    pub epoch: u64,
    /// Counts the writer's broadcasts in that epoch, from 0.
    pub seq: u64,
}

/// Consecutive ids of one writer's life, `first..=last`: "I have" and graft
/// lists travel as ranges, so a burst of writes costs one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdRange<P> {
    /// The writing node.
    pub origin: P,
    /// Its epoch.
    pub epoch: u64,
    /// The first sequence number.
    pub first: u64,
    /// The last sequence number (inclusive).
    pub last: u64,
    /// In an "I have": the fewest tree hops the sender's copies of these
    /// ids took from their writer (0 for its own writes); a receiver whose
    /// copies took many more grafts the sender as a shortcut. 0 in a graft.
    pub hop: u32,
}

/// Eager-path messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Tree<S, P> {
    /// A delta, pushed along the tree.
    Gossip {
        /// Its name.
        id: DeltaId<P>,
        /// The delta, shared by every copy this node sends and keeps (on
        /// the wire it is the delta itself: `Arc` adds nothing).
        delta: Arc<S>,
        /// Its author's signature, from a node with an
        /// [`Identity`](crate::Identity): passed on unchanged by every
        /// forwarder (see [`Node::with_identity`](crate::Node::with_identity)).
        seal: Option<Arc<Seal>>,
        /// Tree hops from the writer: 0 from the writer, +1 per forward.
        /// Not covered by the seal (each forwarder changes it); it only
        /// steers the tree's shape (see [`IdRange::hop`]).
        hop: u32,
    },
    /// Deltas the sender has (sent on lazy links, once per round).
    IHave {
        /// Their ids.
        ids: Vec<IdRange<P>>,
    },
    /// "Send me these, and push to me eagerly from now on."
    Graft {
        /// The wanted ids.
        ids: Vec<IdRange<P>>,
    },
    /// "I got that delta twice: stop pushing to me, announce instead."
    Prune,
    /// "Be my neighbor": the receiver adds the sender as an eager link.
    Connect,
    /// A node's place in the rooted tree ([`Config::rooted_tree`](crate::Config::rooted_tree)).
    /// On the wire, its six fields in order, as a struct variant's.
    Rank(RankAdvert<P>),
}

/// Compresses ids (sorted), each with its hop count, into ranges; a range
/// takes the fewest hops of its ids.
pub(crate) fn to_ranges<P: Peer>(
    ids: impl IntoIterator<Item = (DeltaId<P>, u32)>,
) -> Vec<IdRange<P>> {
    let mut out: Vec<IdRange<P>> = Vec::new();
    for (id, hop) in ids {
        match out.last_mut() {
            Some(r)
                if r.origin == id.origin
                    && r.epoch == id.epoch
                    && r.last.checked_add(1) == Some(id.seq) =>
            {
                r.last = id.seq;
                r.hop = r.hop.min(hop);
            }
            _ => out.push(IdRange {
                origin: id.origin,
                epoch: id.epoch,
                first: id.seq,
                last: id.seq,
                hop,
            }),
        }
    }
    out
}

/// Expands ranges received from a peer into at most `max` ids: a hostile
/// range (`0..=u64::MAX`) costs no more than `max` steps.
pub(crate) fn from_ranges<P: Peer>(ranges: &[IdRange<P>], max: usize) -> Vec<DeltaId<P>> {
    let mut out = Vec::new();
    for r in ranges {
        let mut seq = r.first;
        while seq <= r.last && out.len() < max {
            out.push(DeltaId {
                origin: r.origin,
                epoch: r.epoch,
                seq,
            });
            match seq.checked_add(1) {
                Some(next) => seq = next,
                None => break,
            }
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

struct Kept<S, P> {
    delta: S,
    round: u64,
    /// The neighbors known to hold it, which are not told of it: the one it
    /// came from (none for our own writes), and those that sent it again
    /// or announced it since. Inline: a node's links are a handful, and
    /// two allocations per delta kept were a tenth of a copy's malloc calls.
    holders: Neighbors<P>,
    /// The neighbors this node pushed it to: probable holders, left out
    /// of the first round of announcements (see [`Plumtree::pushed_to`]).
    pushed: Neighbors<P>,
    /// Rounds in which it was announced so far.
    announced: u8,
    /// Tree hops its first copy took from the writer (0 for our own).
    hop: u32,
}

/// The hasher of the eager path's maps: foldhash with a fixed seed, so that
/// a simulation runs the same from the same seed (the maps are looked up,
/// never iterated in their order). Its keys come from peers, but a peer
/// that forged colliding ids would slow its own neighbors' lookups at
/// worst, within the bounds that already cap the ids it can make kept
/// (`admits`, `eager_keep_rounds`).
type Fast = foldhash::fast::FixedState;

/// One writer's ids as this node knows them.
#[derive(Clone, Copy)]
struct Writer {
    /// The epoch of the ids last dropped from `kept`, and the highest
    /// `seq` dropped in it: ids of that epoch at or below it count as
    /// received. (An id of an older epoch arriving late counts as new:
    /// joining it again changes nothing, and it is not forwarded.) `None`
    /// until one is dropped.
    dropped: Option<(u64, u64)>,
    /// The epoch of the id last kept, and the highest `seq` kept in that
    /// epoch since: with `dropped`, the highest id of a life this node
    /// received (see [`Plumtree::admits`]).
    kept: (u64, u64),
}

impl<S, P: PartialEq> Kept<S, P> {
    /// Notes that `peer` holds this delta.
    fn holds(&mut self, peer: P) {
        if !self.holders.contains(&peer) {
            self.holders.push(peer);
        }
    }

    /// Whether a neighbor at `hop` hops from the writer is at least
    /// `threshold` hops nearer than this copy's path (see
    /// [`Plumtree::announced`]).
    fn shortcut_at(&self, hop: u32, threshold: u32) -> bool {
        self.hop > 0 && hop.saturating_add(1).saturating_add(threshold) <= self.hop
    }
}

/// A few of a node's neighbors, held inline up to a typical link count.
type Neighbors<P> = SmallVec<[P; 4]>;

/// `(epoch, seq)` after `id`: the higher `seq` where `id` is of the same
/// epoch, `id`'s own where it starts another.
fn highest<P>(was: Option<(u64, u64)>, id: &DeltaId<P>) -> (u64, u64) {
    match was {
        Some((epoch, seq)) if epoch == id.epoch => (epoch, seq.max(id.seq)),
        _ => (id.epoch, id.seq),
    }
}

struct Wanted<P> {
    /// When the current announcer's grace period started.
    since_ms: u64,
    /// Who announced it, in order of announcement.
    announcers: Vec<P>,
    /// Grafts sent so far: the next goes to `announcers[grafts % len]`.
    grafts: u32,
    /// Repairs asked for so far, once the grafts ran out.
    repairs: u32,
    /// The announcer grafted last.
    last: Option<P>,
}

/// Grafts for one missing delta before falling back to a repair: round the
/// announcers again and again, since over a lossy network a graft or its
/// answer is lost often (half the time at 30 % loss).
const MAX_GRAFTS: u32 = 6;

/// Rounds in which a kept delta is announced ("I have") at most. Twice
/// where messages are lost: at 30 % loss, a node with five neighbors misses
/// all five announcements of one round once in 400, and then waits for
/// periodic anti-entropy (seconds); with two rounds, once in 170,000. Where
/// the node has seen no loss lately, once (see
/// [`Plumtree::set_announce_rounds`]).
const ANNOUNCE_ROUNDS: u8 = 2;

/// Repairs (a context sent to an announcer, answered with everything this
/// node lacks) for one missing delta before it is left to periodic
/// anti-entropy. A repair or its answer is lost as often as a graft.
const MAX_REPAIRS: u32 = 4;

/// Deltas and writers a node makes room for when it starts. A node keeps
/// each delta for `eager_keep_rounds` (1 s by default): a few at a few
/// writes a second. Grown as they came, every node's tables grew at the
/// same writes, the 1st and the 4th of a swarm, rehashing into fresh
/// memory while those writes' waves passed (1,000 agents in one process:
/// writes 0 and 3 among the slowest of every run).
const ROOM: usize = 7;

/// What [`Plumtree::due`] asks the node to do.
pub(crate) struct Due<P> {
    /// Grafts: `(announcer, ids)`.
    pub(crate) grafts: Vec<(P, Vec<DeltaId<P>>)>,
    /// Announcers of deltas whose every graft went unanswered: the node
    /// repairs from them by anti-entropy (its context), and stops waiting.
    pub(crate) repair_from: Vec<P>,
}

/// Writers whose far-ahead ids are remembered at once, at most: forged
/// origins cannot grow the memory.
const MAX_DOUBTED: usize = 64;

/// The eager path's state on one node.
pub(crate) struct Plumtree<S, P> {
    me: P,
    epoch: u64,
    next_seq: u64,
    eager: Links<P>,
    lazy: Links<P>,
    /// Recently received deltas, for duplicates and grafts. Hashed, not
    /// ordered: every copy that arrives looks its id up here, and a B-tree
    /// search compares up to a node's eleven 48-byte ids (a socket address,
    /// an epoch and a sequence number), nine cache lines, where a hash
    /// probe reads one or two (see [`Fast`]).
    kept: HashMap<DeltaId<P>, Kept<S, P>, Fast>,
    /// The ids of `kept` in the order they were kept (so by round): expiry
    /// pops the front instead of scanning every kept delta every round.
    kept_order: VecDeque<(u64, DeltaId<P>)>,
    /// The ids of `kept` still to be announced (`announced` below
    /// `ANNOUNCE_ROUNDS`): a round without writes looks at none.
    fresh: Vec<DeltaId<P>>,
    /// What this node knows of each writer's ids, one entry a writer it
    /// kept a delta of (see [`Writer`]).
    writers: HashMap<P, Writer, Fast>,
    /// Per writer, the life and the peer of the last id refused for running
    /// too far ahead (see `admits`); at most `MAX_DOUBTED` writers.
    doubted: BTreeMap<P, (u64, P)>,
    /// Announced but not received.
    wanted: BTreeMap<DeltaId<P>, Wanted<P>>,
    /// The neighbors that delivered a first copy of some delta in round
    /// `first_round`, and in the round before: a duplicate from one of them
    /// does not prune its link.
    first_from: Vec<P>,
    first_from_before: Vec<P>,
    first_round: u64,
    /// Rounds each delta is announced in, 1 or `ANNOUNCE_ROUNDS`.
    announce_rounds: u8,
}

impl<S: Clone, P: Peer> Plumtree<S, P> {
    pub(crate) fn new(me: P, epoch: u64) -> Self {
        Self {
            me,
            epoch,
            next_seq: 0,
            eager: Links::default(),
            lazy: Links::default(),
            kept: HashMap::with_capacity_and_hasher(ROOM, Fast::default()),
            kept_order: VecDeque::with_capacity(ROOM + 1),
            fresh: Vec::new(),
            writers: HashMap::with_capacity_and_hasher(ROOM, Fast::default()),
            doubted: BTreeMap::new(),
            wanted: BTreeMap::new(),
            first_from: Vec::new(),
            first_from_before: Vec::new(),
            first_round: 0,
            announce_rounds: ANNOUNCE_ROUNDS,
        }
    }

    /// Records that `peer` delivered the first copy of a delta in `round`.
    pub(crate) fn delivered_first(&mut self, peer: P, round: u64) {
        if round != self.first_round {
            core::mem::swap(&mut self.first_from, &mut self.first_from_before);
            self.first_from.clear();
            if round != self.first_round + 1 {
                self.first_from_before.clear();
            }
            self.first_round = round;
        }
        if !self.first_from.contains(&peer) {
            self.first_from.push(peer);
        }
    }

    /// Whether a duplicate from `peer` in `round` should prune its link:
    /// not if the link delivered a first copy of another delta this round
    /// or the one before (a burst of writes spans a round's end).
    ///
    /// Plumtree prunes a link on any duplicate, which shapes one tree when
    /// one node writes at a time. When many write at once, nearly every link
    /// soon carries a duplicate of *some* write, though it is the first path
    /// for another, and the eager links fall apart into a forest (300 nodes
    /// writing in one millisecond left about 140 pieces). Keeping the links
    /// that are some write's first path keeps the union of the writers'
    /// trees; links that only ever bring duplicates are still pruned.
    pub(crate) fn prunes(&self, peer: P, round: u64) -> bool {
        let recent: &[P] = if round == self.first_round {
            &self.first_from
        } else if round == self.first_round + 1 {
            &[]
        } else {
            return true;
        };
        let before: &[P] = if round == self.first_round {
            &self.first_from_before
        } else {
            &self.first_from
        };
        !recent.contains(&peer) && !before.contains(&peer)
    }

    /// Neighbors, eager and lazy.
    pub(crate) fn degree(&self) -> usize {
        self.eager.len() + self.lazy.len()
    }

    pub(crate) fn eager(&self) -> impl Iterator<Item = P> + '_ {
        self.eager.iter().copied()
    }

    pub(crate) fn lazy(&self) -> impl Iterator<Item = P> + '_ {
        self.lazy.iter().copied()
    }

    pub(crate) fn is_eager(&self, peer: P) -> bool {
        self.eager.contains(&peer)
    }

    pub(crate) fn is_neighbor(&self, peer: P) -> bool {
        self.eager.contains(&peer) || self.lazy.contains(&peer)
    }

    /// Eager neighbors.
    pub(crate) fn eager_len(&self) -> usize {
        self.eager.len()
    }

    /// Adds `peer` as a lazy neighbor, unless it is one already (eager or
    /// lazy).
    pub(crate) fn add_lazy(&mut self, peer: P) {
        if peer != self.me && !self.eager.contains(&peer) {
            self.lazy.insert(peer);
        }
    }

    /// Makes `peer` an eager neighbor.
    pub(crate) fn promote(&mut self, peer: P) {
        if peer != self.me {
            self.lazy.remove(&peer);
            self.eager.insert(peer);
        }
    }

    /// Makes `peer` a lazy neighbor.
    pub(crate) fn demote(&mut self, peer: P) {
        if self.eager.remove(&peer) {
            self.lazy.insert(peer);
        }
    }

    /// Forgets a dead or departed neighbor. If it was an eager one, the
    /// tree is cut there: every lazy link becomes eager, and is returned so
    /// that the node asks the other end to do the same (a link is eager
    /// one way at a time). The next broadcast then floods across the cut,
    /// and the duplicates it causes prune the links back, instead of a
    /// round's wait for "I have" and a graft at every node past the cut.
    pub(crate) fn remove(&mut self, peer: P) -> Vec<P> {
        self.remove_up_to(peer, usize::MAX, 0)
    }

    /// [`Self::remove`], but a cut makes lazy links eager only until
    /// `eager` links are: where that is not all of them, those from place
    /// `turn` (modulo their number) of the lazy links in order, on.
    pub(crate) fn remove_up_to(&mut self, peer: P, eager: usize, turn: usize) -> Vec<P> {
        let was_eager = self.eager.remove(&peer);
        self.lazy.remove(&peer);
        self.first_from.retain(|p| *p != peer);
        self.first_from_before.retain(|p| *p != peer);
        for wanted in self.wanted.values_mut() {
            wanted.announcers.retain(|p| *p != peer);
        }
        if !was_eager {
            return Vec::new();
        }
        let room = eager.saturating_sub(self.eager.len());
        let mut promoted: Vec<P> = self.lazy.iter().copied().collect();
        if room < promoted.len() {
            let turn = turn % promoted.len();
            promoted.rotate_left(turn);
            promoted.truncate(room);
        }
        for &peer in &promoted {
            self.lazy.remove(&peer);
            self.eager.insert(peer);
        }
        promoted
    }

    /// Whether the tree carried a delta lately: some delta is kept (for
    /// `eager_keep_rounds` after it came or was written).
    pub(crate) fn carrying(&self) -> bool {
        !self.kept.is_empty()
    }

    /// Names a local delta and keeps it; returns its id.
    pub(crate) fn local(&mut self, delta: S, round: u64, from: Option<P>) -> DeltaId<P> {
        let id = DeltaId {
            origin: self.me,
            epoch: self.epoch,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.keep(id, delta, round, from, true, 0);
        id
    }

    /// The epoch that names this life's deltas.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Starts a new life named `epoch` (a node that takes an identity: its
    /// epochs are derived from its key); its ids start again at 0.
    pub(crate) fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.next_seq = 0;
    }

    /// The sequence number the next local delta will take.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether an id this node has not received, delivered by `from`, may
    /// be taken: its `seq` is at most `bound.step` past the highest this
    /// node knows of the same writer's life (kept or dropped from `kept`
    /// since, see [`Writer`]; 0 for a life it has not heard of), and below
    /// the ceiling. Otherwise one forged id far ahead would, once dropped,
    /// make every real delta of that writer below it count as received.
    ///
    /// An honest gap (a partition, a late join) looks the same to the first
    /// id after it, but other peers deliver that life's ids too (a graft
    /// after their "I have"): the second peer to deliver an id that far
    /// ahead of the same life re-bases it. A lie is told by one.
    pub(crate) fn admits(&mut self, id: &DeltaId<P>, from: P, bound: Advance) -> bool {
        let known = if id.origin == self.me && id.epoch == self.epoch {
            self.next_seq
        } else {
            self.writers.get(&id.origin).map_or(0, |w| {
                let dropped = w
                    .dropped
                    .filter(|&(e, _)| e == id.epoch)
                    .map_or(0, |(_, s)| s);
                let kept = if w.kept.0 == id.epoch { w.kept.1 } else { 0 };
                dropped.max(kept)
            })
        };
        if bound.admits(known, id.seq) {
            return true;
        }
        if id.seq >= bound.ceiling {
            return false;
        }
        if self.doubted.len() >= MAX_DOUBTED && !self.doubted.contains_key(&id.origin) {
            self.doubted.clear();
        }
        match self.doubted.insert(id.origin, (id.epoch, from)) {
            Some((epoch, first)) if epoch == id.epoch && first != from => {
                self.doubted.remove(&id.origin);
                true
            }
            _ => false,
        }
    }

    /// Whether the delta `id` was received (or is too old to matter).
    pub(crate) fn has(&self, id: &DeltaId<P>) -> bool {
        self.kept.contains_key(id) || self.dropped(id)
    }

    /// Whether `id` is at or below what was dropped of its writer's life:
    /// received once, and too old to keep.
    fn dropped(&self, id: &DeltaId<P>) -> bool {
        self.writers.get(&id.origin).is_some_and(|w| {
            w.dropped
                .is_some_and(|(epoch, seq)| epoch == id.epoch && id.seq <= seq)
        })
    }

    /// A copy of `id` came from `peer`: whether it was received before (a
    /// duplicate), and if it is kept, `peer` is noted as holding it (see
    /// [`Self::held_by`]). One lookup, where every copy of a delta comes.
    pub(crate) fn has_from(&mut self, id: &DeltaId<P>, peer: P) -> bool {
        match self.kept.get_mut(id) {
            Some(kept) => {
                kept.holds(peer);
                true
            }
            None => self.dropped(id),
        }
    }

    /// Keeps a first-received delta for duplicates, grafts and (if
    /// `announce`) announcements; its first copy took `hop` tree hops.
    pub(crate) fn keep(
        &mut self,
        id: DeltaId<P>,
        delta: S,
        round: u64,
        from: Option<P>,
        announce: bool,
        hop: u32,
    ) {
        if !self.wanted.is_empty() {
            self.wanted.remove(&id);
        }
        self.kept_order.push_back((round, id));
        match self.writers.get_mut(&id.origin) {
            Some(w) => w.kept = highest(Some(w.kept), &id),
            None => {
                self.grow_writers();
                self.writers.insert(
                    id.origin,
                    Writer {
                        dropped: None,
                        kept: (id.epoch, id.seq),
                    },
                );
            }
        }
        if announce && !self.fresh.contains(&id) {
            self.fresh.push(id);
        }
        self.kept.insert(
            id,
            Kept {
                delta,
                round,
                holders: from.into_iter().collect(),
                pushed: Neighbors::new(),
                announced: if announce { 0 } else { ANNOUNCE_ROUNDS },
                hop,
            },
        );
    }

    /// Doubles `writers` before a new writer is added, at a point of this
    /// node's own between half its capacity and all of it (drawn from the
    /// epoch, so random across nodes and the same in a replay). Every node
    /// hears the same writers in about the same order: left to the table,
    /// all of them would double at the same write, each rehashing and
    /// touching fresh memory while that write's wave passes. At 1,000 agents
    /// on 2 cores, the writes that brought the 29th, 57th and 113th writer
    /// then took 25.4, 25.3 and 24.6 ms to reach every agent (medians of 10
    /// runs) against 15.4 ms for the median write.
    fn grow_writers(&mut self) {
        let (len, capacity) = (self.writers.len(), self.writers.capacity());
        let half = capacity / 2;
        // The epoch is a hash of the node's seed (or key and life): random
        // bits, whichever are taken.
        let at = half + (self.epoch >> 32) as usize % (capacity - half + 1);
        if len >= at && len < capacity {
            self.writers.reserve(capacity + 1 - len);
        }
    }

    #[cfg(test)]
    fn is_wanted(&self, id: &DeltaId<P>) -> bool {
        self.wanted.contains_key(id)
    }

    /// A kept delta, with the tree hops its first copy took.
    pub(crate) fn kept(&self, id: &DeltaId<P>) -> Option<(&S, u32)> {
        self.kept.get(id).map(|k| (&k.delta, k.hop))
    }

    /// `peer` announced `id`, at `hop` hops from its writer: wait for it
    /// unless it is here already. Returns whether `peer` is a shortcut: our
    /// first copy of `id` took at least `threshold` more hops than through
    /// `peer` (`hop + 1`; never with `threshold` 0, nor through an eager
    /// link). Plumtree's optimization (Leitão et al., §3.8): without it a
    /// tree shared by many writers, pruned by their duplicates and mended
    /// by grafts wherever it broke, grows deeper with time (at 1,000 nodes
    /// its depth went from 12 to 45 hops in 5 s). One lookup of `id` for
    /// both: announcements come for every delta on every lazy link.
    pub(crate) fn announced(
        &mut self,
        id: DeltaId<P>,
        peer: P,
        hop: u32,
        threshold: u32,
        now_ms: u64,
    ) -> bool {
        if let Some(kept) = self.kept.get_mut(&id) {
            kept.holds(peer);
            return threshold > 0
                && kept.shortcut_at(hop, threshold)
                && !self.eager.contains(&peer);
        }
        if !self.dropped(&id) {
            self.want(id, peer, now_ms);
        }
        false
    }

    /// Waits for `id`, which `peer` announced and this node never received.
    fn want(&mut self, id: DeltaId<P>, peer: P, now_ms: u64) {
        let wanted = self.wanted.entry(id).or_insert_with(|| Wanted {
            since_ms: now_ms,
            announcers: Vec::new(),
            grafts: 0,
            repairs: 0,
            last: None,
        });
        if !wanted.announcers.contains(&peer) {
            wanted.announcers.push(peer);
        }
    }

    /// What is due at `now_ms`: for each wanted id whose grace period
    /// (`timeout_ms`) ran out, a graft to its next announcer, `MAX_GRAFTS`
    /// in all; then, every `repair_every_ms`, a repair from the next
    /// announcer, `MAX_REPAIRS` in all (fewer if an answer comes, see
    /// [`Plumtree::answered`]); then the id is no longer waited for.
    pub(crate) fn due(&mut self, now_ms: u64, timeout_ms: u64, repair_every_ms: u64) -> Due<P> {
        if self.wanted.is_empty() {
            return Due {
                grafts: Vec::new(),
                repair_from: Vec::new(),
            };
        }
        let mut by_peer: BTreeMap<P, Vec<DeltaId<P>>> = BTreeMap::new();
        let mut repair_from = Vec::new();
        self.wanted.retain(|id, wanted| {
            let grafting = wanted.grafts < MAX_GRAFTS;
            let wait = if grafting {
                timeout_ms
            } else {
                repair_every_ms
            };
            if now_ms < wanted.since_ms.saturating_add(wait) {
                return true;
            }
            if wanted.announcers.is_empty() {
                // Every announcer is gone: one last repair from the last.
                if let Some(last) = wanted.last.filter(|_| wanted.repairs == 0) {
                    if !repair_from.contains(&last) {
                        repair_from.push(last);
                    }
                }
                return false;
            }
            if !grafting {
                if wanted.repairs >= MAX_REPAIRS {
                    return false;
                }
                let peer = wanted.announcers[wanted.repairs as usize % wanted.announcers.len()];
                wanted.repairs += 1;
                wanted.last = Some(peer);
                wanted.since_ms = now_ms;
                if !repair_from.contains(&peer) {
                    repair_from.push(peer);
                }
                return true;
            }
            let peer = wanted.announcers[wanted.grafts as usize % wanted.announcers.len()];
            wanted.grafts += 1;
            by_peer.entry(peer).or_default().push(*id);
            wanted.last = Some(peer);
            wanted.since_ms = now_ms;
            true
        });
        Due {
            grafts: by_peer.into_iter().collect(),
            repair_from,
        }
    }

    /// When [`Plumtree::due`] will next have something to do, with the same
    /// waits: the earliest end of a grace period, `None` if nothing is
    /// wanted.
    pub(crate) fn next_due(&self, timeout_ms: u64, repair_every_ms: u64) -> Option<u64> {
        self.wanted
            .values()
            .map(|w| {
                let wait = if w.grafts < MAX_GRAFTS {
                    timeout_ms
                } else {
                    repair_every_ms
                };
                w.since_ms.saturating_add(wait)
            })
            .min()
    }

    /// `peer` answered a context of ours: what it had, we have now, so the
    /// ids whose repair was asked of it are no longer waited for.
    pub(crate) fn answered(&mut self, peer: P) {
        self.wanted
            .retain(|_, w| !(w.repairs > 0 && w.last == Some(peer)));
    }

    /// This node pushed the kept `id` to `peers`. A push is rarely lost, so
    /// the first round of announcements leaves them out; the second tells
    /// each (unless it showed it holds the delta meanwhile), for a push
    /// that was lost.
    ///
    /// "I have"s are most of the eager strategy's datagrams (1,000 nodes
    /// over partial views, 5 writes a second: 34 of the 51 a node sends a
    /// second are the tree's, 2 a write the push and its prunes). Leaving
    /// the nodes pushed to out of the first round saves one "I have" per
    /// node per write: 51.3 datagrams per node per second, 46.3 with it.
    /// The price is at loss, where a lost push waits for the other
    /// neighbors' first "I have" (simulator, 10 % loss, 4 seeds: p50 of
    /// the time to all 96–105 → 111–115 ms, p99 146–347 → 156–232 ms).
    pub(crate) fn pushed_to(&mut self, id: &DeltaId<P>, peers: &[P]) {
        if let Some(kept) = self.kept.get_mut(id) {
            for &peer in peers {
                if !kept.pushed.contains(&peer) {
                    kept.pushed.push(peer);
                }
            }
        }
    }

    /// `peer` holds `id` (it sent or announced it): announcing `id` to it
    /// would tell it nothing. Holders kept per delta are few: a node's
    /// neighbors.
    pub(crate) fn held_by(&mut self, id: &DeltaId<P>, peer: P) {
        if let Some(kept) = self.kept.get_mut(id) {
            kept.holds(peer);
        }
    }

    /// The ids to announce to `peer` this round: kept, not yet announced,
    /// not known to be held by `peer` (received from it, or announced by
    /// it), and, in the first round, not pushed to it.
    /// In id order, so that consecutive ids fold into ranges.
    /// Each with the hops its first copy took.
    pub(crate) fn announcements_for(&self, peer: P) -> Vec<(DeltaId<P>, u32)> {
        let mut ids: Vec<(DeltaId<P>, u32)> = self
            .fresh
            .iter()
            .filter_map(|id| {
                self.kept
                    .get(id)
                    .filter(|k| {
                        k.announced < self.announce_rounds
                            && !k.holders.contains(&peer)
                            && (k.announced > 0 || !k.pushed.contains(&peer))
                    })
                    .map(|k| (*id, k.hop))
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Up to `max` of the ids [`Self::announcements_for`] `peer` (kept this
    /// round or the last, not known to be held by it), newest first: what a
    /// peer that just connected may have missed.
    pub(crate) fn catch_up_for(&self, peer: P, max: usize) -> Vec<DeltaId<P>> {
        self.fresh
            .iter()
            .rev()
            .filter(|id| {
                self.kept.get(id).is_some_and(|k| {
                    k.announced < self.announce_rounds && !k.holders.contains(&peer)
                })
            })
            .take(max)
            .copied()
            .collect()
    }

    /// Whether any kept delta is still to be announced.
    pub(crate) fn announcing(&self) -> bool {
        !self.fresh.is_empty()
    }

    /// Announces each delta in two rounds from now on (`lossy`), or in one:
    /// the second round is for what the first lost, a push that did not
    /// arrive or an announcement that did not, and on a network that loses
    /// nothing it is 60 % of the "I have"s (1,000 nodes over partial views,
    /// 5 writes a second: 17.4 a node a second, 6.9 in one round). A delta
    /// announced once already is not announced again after a switch to two.
    pub(crate) fn set_announce_rounds(&mut self, lossy: bool) {
        self.announce_rounds = if lossy { ANNOUNCE_ROUNDS } else { 1 };
    }

    /// Counts a round of announcements (after a round's "I have"s).
    pub(crate) fn announced_all(&mut self) {
        let kept = &mut self.kept;
        let rounds = self.announce_rounds;
        self.fresh.retain(|id| match kept.get_mut(id) {
            Some(k) => {
                k.announced = k.announced.saturating_add(1);
                k.announced < rounds
            }
            None => false,
        });
    }

    /// Drops deltas kept for `keep_rounds` rounds or more: the oldest
    /// first, stopping at the first one still young (rounds only grow).
    pub(crate) fn expire(&mut self, round: u64, keep_rounds: u64) {
        while let Some(&(kept_round, id)) = self.kept_order.front() {
            if round.saturating_sub(kept_round) < keep_rounds {
                break;
            }
            self.kept_order.pop_front();
            // Kept again later (a newer round): its newer entry expires it.
            if self.kept.get(&id).is_some_and(|k| k.round == kept_round) {
                self.kept.remove(&id);
                if let Some(w) = self.writers.get_mut(&id.origin) {
                    w.dropped = Some(highest(w.dropped, &id));
                }
            }
        }
        if self.fresh.len() > self.kept.len() {
            let kept = &self.kept;
            self.fresh.retain(|id| kept.contains_key(id));
        }
    }
}

/// A node's eager or lazy links: a handful of peers, kept sorted in a
/// vector (the order a `BTreeSet` gave, without its node per set and its
/// pointer chase on every message).
struct Links<P>(Vec<P>);

impl<P> Default for Links<P> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<P: Ord + Copy> Links<P> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn iter(&self) -> core::slice::Iter<'_, P> {
        self.0.iter()
    }

    fn contains(&self, peer: &P) -> bool {
        self.0.binary_search(peer).is_ok()
    }

    fn insert(&mut self, peer: P) -> bool {
        match self.0.binary_search(&peer) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, peer);
                true
            }
        }
    }

    fn remove(&mut self, peer: &P) -> bool {
        match self.0.binary_search(peer) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(origin: u32, seq: u64) -> DeltaId<u32> {
        DeltaId {
            origin,
            epoch: 0,
            seq,
        }
    }

    #[test]
    fn an_id_far_ahead_is_refused_until_a_second_peer_delivers_one() {
        let bound = Advance {
            step: 10,
            ceiling: 1 << 62,
        };
        let mut tree: Plumtree<(), u32> = Plumtree::new(1, 0);
        tree.keep(id(9, 5), (), 0, Some(2), false, 0);
        assert!(tree.admits(&id(9, 15), 2, bound));
        assert!(!tree.admits(&id(9, 1_000), 2, bound));
        assert!(!tree.admits(&id(9, 1_001), 2, bound), "the same peer again");
        assert!(
            tree.admits(&id(9, 1_001), 3, bound),
            "a second peer re-bases"
        );
        assert!(!tree.admits(&id(9, u64::MAX), 2, bound));
        assert!(
            !tree.admits(&id(9, u64::MAX), 3, bound),
            "never at the ceiling"
        );
    }

    #[test]
    fn a_node_makes_room_for_its_first_deltas_when_it_starts() {
        // Every node of a swarm keeps the same first deltas: a table grown
        // as they came grew at every node at the same write.
        let mut tree: Plumtree<(), u32> = Plumtree::new(1, 0x5eed);
        let room = (tree.kept.capacity(), tree.kept_order.capacity());
        assert!(room.0 >= ROOM && room.1 >= ROOM, "{room:?}");
        for seq in 0..ROOM as u64 {
            tree.keep(id(9, seq), (), seq, Some(2), true, 1);
        }
        assert_eq!((tree.kept.capacity(), tree.kept_order.capacity()), room);
        // As they expire, the room is used again.
        for round in ROOM as u64..10 * ROOM as u64 {
            tree.expire(round, ROOM as u64);
            tree.keep(id(9, round), (), round, Some(2), true, 1);
            assert!(tree.kept.len() <= ROOM);
        }
        assert_eq!((tree.kept.capacity(), tree.kept_order.capacity()), room);
    }

    #[test]
    fn nodes_hearing_the_same_writers_grow_their_writer_tables_at_different_writes() {
        // 16 nodes, random epochs, the same 300 writers in the same order.
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut grew_at: Vec<Vec<usize>> = Vec::new();
        for node in 0..16 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mut tree: Plumtree<(), u32> = Plumtree::new(1_000 + node, rng);
            let mut growths = Vec::new();
            for writer in 0..300 {
                let before = tree.writers.capacity();
                tree.keep(id(writer, 0), (), 0, Some(2), false, 1);
                if tree.writers.capacity() != before {
                    growths.push(writer as usize);
                }
                assert!(tree.has(&id(writer, 0)));
            }
            grew_at.push(growths);
        }
        // Past the first few doublings, the nodes no longer double together.
        for capacity in [56, 112, 224] {
            let points: std::collections::BTreeSet<usize> = grew_at
                .iter()
                .filter_map(|g| g.iter().copied().find(|&w| w >= capacity / 2))
                .collect();
            assert!(
                points.len() >= 4,
                "16 nodes grew past {capacity} at only {points:?}"
            );
        }
    }

    #[test]
    fn a_lazy_announcer_threshold_hops_nearer_the_writer_is_a_shortcut() {
        let mut tree: Plumtree<(), u32> = Plumtree::new(1, 0);
        tree.keep(id(9, 0), (), 0, Some(2), true, 7);
        tree.promote(2);
        tree.lazy.insert(3);
        // Through 3: 4 + 1 hops, 2 fewer than the 7 ours took.
        assert!(tree.announced(id(9, 0), 3, 4, 2, 0));
        assert!(!tree.announced(id(9, 0), 3, 5, 2, 0), "1 fewer");
        assert!(!tree.announced(id(9, 0), 3, 4, 0, 0), "turned off");
        assert!(!tree.announced(id(9, 0), 2, 0, 2, 0), "already eager");
        assert!(!tree.announced(id(9, 1), 3, 0, 2, 0), "not kept");
        let own = tree.local((), 0, None);
        assert!(!tree.announced(own, 3, 0, 2, 0), "our own write");
        // A range announces the fewest hops of its ids.
        let ranges = to_ranges([(id(8, 0), 9), (id(9, 0), 5), (id(9, 1), 3)]);
        assert_eq!(ranges.iter().map(|r| r.hop).collect::<Vec<_>>(), vec![9, 3]);
    }

    #[test]
    fn ranges_round_trip_and_merge_consecutive_ids() {
        let ids = vec![id(1, 0), id(1, 1), id(1, 2), id(1, 5), id(2, 0)];
        let ranges = to_ranges(ids.iter().map(|&id| (id, 0)));
        assert_eq!(ranges.len(), 3);
        assert_eq!(from_ranges(&ranges, 100), ids);
    }

    #[test]
    fn a_hostile_range_expands_to_at_most_max_ids() {
        let ranges = [IdRange {
            origin: 1u32,
            epoch: 0,
            first: 0,
            last: u64::MAX,
            hop: 0,
        }];
        assert_eq!(from_ranges(&ranges, 64).len(), 64);
        let top = [IdRange {
            origin: 1u32,
            epoch: 0,
            first: u64::MAX,
            last: u64::MAX,
            hop: 0,
        }];
        assert_eq!(from_ranges(&top, 64).len(), 1);
    }

    /// A neighbor that sent a delta, sent it again or announced it holds
    /// it: no "I have" goes to it. Others still hear of it.
    #[test]
    fn a_delta_is_not_announced_to_the_neighbors_known_to_hold_it() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.keep(id(9, 0), 7, 0, Some(1), true, 0);
        tree.held_by(&id(9, 0), 2); // a second copy came from 2
        tree.announced(id(9, 0), 3, 0, 0, 0); // 3 announced it
        for holder in [1, 2, 3] {
            assert!(tree.announcements_for(holder).is_empty(), "to {holder}");
        }
        assert_eq!(tree.announcements_for(4), vec![(id(9, 0), 0)]);
        // Our own write: every neighbor hears of it.
        let own = tree.local(8, 0, None);
        assert_eq!(tree.announcements_for(1), vec![(own, 0)]);
    }

    /// A neighbor this node pushed a delta to hears of it in the second
    /// round of announcements only, and not at all once it showed it
    /// holds it.
    #[test]
    fn a_neighbor_pushed_to_is_announced_to_in_the_second_round_only() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.keep(id(9, 0), 7, 0, Some(1), true, 0);
        tree.pushed_to(&id(9, 0), &[2, 3]);
        assert!(tree.announcements_for(2).is_empty());
        assert!(tree.announcements_for(3).is_empty());
        assert_eq!(tree.announcements_for(4), vec![(id(9, 0), 0)]);
        tree.announced_all();
        tree.announced(id(9, 0), 3, 0, 0, 0); // 3 got it: it announced it
        assert_eq!(tree.announcements_for(2), vec![(id(9, 0), 0)], "2nd round");
        assert!(tree.announcements_for(3).is_empty(), "3 holds it");
        tree.announced_all();
        assert!(tree.announcements_for(2).is_empty(), "two rounds only");
    }

    /// Without loss seen, one round: the first, to the neighbors not
    /// pushed to; a delta still in its first round when the node switches
    /// to two gets its second.
    #[test]
    fn a_node_that_saw_no_loss_announces_in_one_round() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.set_announce_rounds(false);
        tree.keep(id(9, 0), 7, 0, Some(1), true, 0);
        tree.pushed_to(&id(9, 0), &[2]);
        assert_eq!(tree.announcements_for(4), vec![(id(9, 0), 0)]);
        tree.announced_all();
        assert!(!tree.announcing(), "done after one round");
        assert!(tree.announcements_for(2).is_empty());
        assert!(tree.announcements_for(4).is_empty());

        tree.keep(id(9, 1), 8, 1, Some(1), true, 0);
        tree.pushed_to(&id(9, 1), &[2]);
        tree.announced_all();
        assert!(!tree.announcing());
        tree.keep(id(9, 2), 9, 2, Some(1), true, 0);
        tree.pushed_to(&id(9, 2), &[2]);
        tree.set_announce_rounds(true);
        assert!(tree.announcements_for(2).is_empty(), "first round");
        tree.announced_all();
        assert_eq!(
            tree.announcements_for(2),
            vec![(id(9, 2), 0)],
            "a second round for the delta still announced, not the one done"
        );
    }

    #[test]
    fn expired_ids_stay_known_and_are_not_wanted_again() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.keep(id(1, 3), 7, 0, Some(1), true, 0);
        tree.expire(10, 10);
        assert!(tree.kept(&id(1, 3)).is_none());
        assert!(tree.has(&id(1, 3)) && tree.has(&id(1, 2)));
        assert!(!tree.has(&id(1, 4)));
        tree.announced(id(1, 2), 5, 0, 0, 0);
        assert!(tree.due(1_000, 10, 100).grafts.is_empty());
    }

    #[test]
    fn grafts_go_round_the_announcers_then_repair_from_the_last() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.announced(id(9, 0), 1, 0, 0, 100);
        tree.announced(id(9, 0), 2, 0, 0, 105);
        assert!(tree.due(120, 50, 100).grafts.is_empty());
        assert_eq!(tree.due(150, 50, 100).grafts, vec![(1, vec![id(9, 0)])]);
        assert!(tree.due(160, 50, 100).grafts.is_empty());
        assert_eq!(tree.due(200, 50, 100).grafts, vec![(2, vec![id(9, 0)])]);
        // Round them again (grafts and answers get lost), up to MAX_GRAFTS.
        let mut at = 250;
        for n in 2..MAX_GRAFTS {
            let to = if n % 2 == 0 { 1 } else { 2 };
            assert_eq!(tree.due(at, 50, 100).grafts, vec![(to, vec![id(9, 0)])]);
            at += 50;
        }
        // Then repairs from the announcers in turn, every 100 ms.
        assert!(tree.due(at, 50, 100).repair_from.is_empty());
        at += 50;
        for n in 0..MAX_REPAIRS {
            let due = tree.due(at, 50, 100);
            assert!(due.grafts.is_empty());
            assert_eq!(due.repair_from, vec![if n % 2 == 0 { 1 } else { 2 }]);
            assert!(tree.due(at + 50, 50, 100).repair_from.is_empty());
            at += 100;
        }
        // Then it is left to periodic anti-entropy.
        assert!(tree.due(at, 50, 100).repair_from.is_empty());
        assert!(tree.due(10_000, 50, 100).repair_from.is_empty());
    }

    #[test]
    fn an_answer_from_the_repairing_announcer_ends_the_wait() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.announced(id(9, 0), 1, 0, 0, 0);
        let mut at = 0;
        for _ in 0..=MAX_GRAFTS {
            at += 100;
            tree.due(at, 50, 100);
        }
        assert!(tree.is_wanted(&id(9, 0)));
        tree.answered(2); // not the one asked
        assert!(tree.is_wanted(&id(9, 0)));
        tree.answered(1);
        assert!(!tree.is_wanted(&id(9, 0)));
    }

    #[test]
    fn losing_an_eager_link_makes_every_lazy_link_eager_and_a_lazy_one_nothing() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        for peer in 1..=4 {
            tree.promote(peer);
        }
        tree.demote(3);
        tree.demote(4);
        assert!(tree.remove(4).is_empty(), "a lazy link cuts no tree");
        assert_eq!(tree.lazy().collect::<Vec<_>>(), vec![3]);
        assert_eq!(tree.remove(1), vec![3]);
        assert_eq!(tree.eager().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(tree.lazy().count(), 0);
    }

    #[test]
    fn the_next_deadline_is_the_earliest_grace_period_end() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        assert_eq!(tree.next_due(20, 100), None);
        tree.announced(id(9, 0), 1, 0, 0, 100);
        tree.announced(id(8, 0), 1, 0, 0, 90);
        assert_eq!(tree.next_due(20, 100), Some(110));
        let due = tree.due(110, 20, 100);
        assert_eq!(due.grafts, vec![(1, vec![id(8, 0)])]);
        // The graft restarted id(8, 0)'s wait; id(9, 0) is next.
        assert_eq!(tree.next_due(20, 100), Some(120));
        tree.keep(id(9, 0), 1, 0, Some(1), true, 0);
        tree.keep(id(8, 0), 1, 0, Some(1), true, 0);
        assert_eq!(tree.next_due(20, 100), None);
    }

    #[test]
    fn a_delta_that_arrives_is_no_longer_wanted() {
        let mut tree = Plumtree::<u8, u32>::new(0, 0);
        tree.announced(id(9, 0), 1, 0, 0, 100);
        tree.keep(id(9, 0), 1, 0, Some(2), true, 0);
        let due = tree.due(1_000, 50, 100);
        assert!(due.grafts.is_empty() && due.repair_from.is_empty());
    }
}
