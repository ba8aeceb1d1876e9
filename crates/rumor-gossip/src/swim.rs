//! SWIM failure detection (Das, Gupta, Motivala 2002) with Lifeguard
//! (Dadgar, Phillips, Currey 2018), over any [`Membership`] universe.
//!
//! Every probe period a node pings the next member of a shuffled
//! round-robin. Without an ack within `ping_timeout_ms` it asks
//! `indirect_probes` members it holds alive to ping it (ping-req); without
//! any ack by the end of the period the member becomes *suspect*. A suspect
//! that does not refute within the suspicion timeout (`suspicion_mult ×
//! log₁₀N` probe periods, up to `suspicion_max_mult` times that with fewer
//! independent confirmations) is declared *dead*. A member refutes by
//! raising its incarnation number. Status changes spread by piggybacking on
//! every message, each about `retransmit_mult × log₁₀N` times, and in
//! messages of their own while there is more news than that carries.
//!
//! Lifeguard's parts: the suspicion timeout shrinks with confirmations; a
//! message to a suspect carries the suspicion first (the buddy system); a
//! relay that gets no answer says so (a nack), and a node whose probes fail
//! without the nacks it expected, or that is suspected itself, raises its
//! local health score and probes more slowly (the local health multiplier).
//!
//! Only members whose status differs from "alive at incarnation 0" are
//! stored (`Claims`), so 10,000 simulated full views cost memory in
//! proportion to the changes, not to N². Under loss the changes approach
//! N² (nearly every member refutes a suspicion sooner or later), so the
//! common claim, a plain "alive at incarnation i", is stored as its
//! incarnation alone, and a queued update takes 32 bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};

use rand::RngExt;
use rand_pcg::Pcg64Mcg;
use rumor_crdt::Advance;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::membership::Membership;
use crate::message::Probe;
use crate::node::Event;
use crate::peer::Peer;
use crate::seal::{AuthorKey, Identity, Proof};

/// A member's status, in increasing precedence at equal incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Answering probes.
    Alive,
    /// Missed a probe; dead unless it refutes in time.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left the cluster on purpose.
    Left,
}

/// A membership change, piggybacked on messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberUpdate<P> {
    /// The member concerned.
    pub peer: P,
    /// Its incarnation the update speaks of.
    pub incarnation: u64,
    /// Its status.
    pub status: Status,
    /// The member that made the claim: independent suspicions of one member
    /// shorten its suspicion timeout (Lifeguard).
    pub by: P,
    /// The maker's signature over the claim ([`Identity::sign_claim`]):
    /// the member's own for "alive" and "left", `by`'s for "suspect" and
    /// "dead". Relays pass it on unchanged. A node with an identity takes
    /// a claim in the name of a member whose key it knows only under that
    /// key, and a suspicion or death only from a maker whose key it knows.
    pub proof: Option<Proof>,
}

impl<P> MemberUpdate<P> {
    /// `(incarnation, status)`: an update wins over the known state of a
    /// member iff its key is greater.
    fn key(&self) -> (u64, Status) {
        (self.incarnation, self.status)
    }
}

#[derive(Clone, Debug)]
struct Known<P> {
    incarnation: u64,
    status: Status,
    /// Who made the claim held (the first suspecter of a suspicion), and
    /// its proof: what this node passes on of the member. Boxed: the
    /// proof's 96 bytes inline would be most of each entry.
    by: P,
    proof: Option<Box<Proof>>,
    since_ms: u64,
    /// Distinct members that suspected this incarnation (at most
    /// `SUSPICION_CONFIRMATIONS + 1` kept).
    suspecters: Vec<P>,
    /// Direct pings sent to this suspect to check the rumor ourselves.
    checks: u8,
}

impl<P: Copy + PartialEq> Known<P> {
    /// An unsigned "alive" that the member made itself, with nothing else
    /// to remember: [`Claims`] keeps it as its incarnation alone.
    fn is_plain_alive(&self, peer: P) -> bool {
        self.status == Status::Alive
            && self.by == peer
            && self.proof.is_none()
            && self.suspecters.is_empty()
            && self.checks == 0
    }

    /// The claim held, as this node passes it on.
    fn claim(&self, peer: P) -> MemberUpdate<P> {
        MemberUpdate {
            peer,
            incarnation: self.incarnation,
            status: self.status,
            by: self.by,
            proof: self.proof.as_deref().copied(),
        }
    }
}

/// What a node holds of the members whose claim differs from "alive at
/// incarnation 0": one entry a member, in one of two maps.
///
/// Over full views, under loss, nearly every member refutes a suspicion
/// sooner or later, so each node ends up holding a claim of nearly every
/// member: about 10^8 at 10,000 simulated nodes and 30 % loss. Nearly all
/// of those are a plain "alive at incarnation i" (unsigned, by the member
/// itself), kept in `raised` as the incarnation alone: about 19 bytes an
/// entry in a `BTreeMap<u32, u64>`, against about 88 for a [`Known`]. The
/// rest (suspects, the dead and departed, signed claims) are in `full`.
#[derive(Clone, Debug)]
struct Claims<P> {
    raised: BTreeMap<P, u64>,
    full: BTreeMap<P, Known<P>>,
}

impl<P: Peer> Claims<P> {
    fn new() -> Self {
        Self {
            raised: BTreeMap::new(),
            full: BTreeMap::new(),
        }
    }

    /// `(incarnation, status)` held of `peer`: `(0, Alive)` if none.
    fn key(&self, peer: &P) -> (u64, Status) {
        match self.raised.get(peer) {
            Some(&incarnation) => (incarnation, Status::Alive),
            None => self
                .full
                .get(peer)
                .map_or((0, Status::Alive), |k| (k.incarnation, k.status)),
        }
    }

    fn incarnation(&self, peer: &P) -> u64 {
        self.key(peer).0
    }

    fn status(&self, peer: &P) -> Status {
        self.key(peer).1
    }

    fn contains(&self, peer: &P) -> bool {
        self.raised.contains_key(peer) || self.full.contains_key(peer)
    }

    /// The claim held of `peer`, as this node passes it on, if one is
    /// stored.
    fn claim(&self, peer: P) -> Option<MemberUpdate<P>> {
        match self.raised.get(&peer) {
            Some(&incarnation) => Some(MemberUpdate {
                peer,
                incarnation,
                status: Status::Alive,
                by: peer,
                proof: None,
            }),
            None => self.full.get(&peer).map(|known| known.claim(peer)),
        }
    }

    /// The entry of `peer` if it is more than a plain "alive".
    fn get_full(&self, peer: &P) -> Option<&Known<P>> {
        self.full.get(peer)
    }

    fn get_full_mut(&mut self, peer: &P) -> Option<&mut Known<P>> {
        self.full.get_mut(peer)
    }

    /// Stores `known` as the claim held of `peer`, in place of any other.
    fn insert(&mut self, peer: P, known: Known<P>) {
        if known.is_plain_alive(peer) {
            self.full.remove(&peer);
            self.raised.insert(peer, known.incarnation);
        } else {
            self.raised.remove(&peer);
            self.full.insert(peer, known);
        }
    }

    /// Forgets the claim held of `peer`; returns its incarnation.
    fn remove(&mut self, peer: &P) -> Option<u64> {
        self.raised
            .remove(peer)
            .or_else(|| self.full.remove(peer).map(|k| k.incarnation))
    }

    /// Members stored, in either map.
    fn len(&self) -> usize {
        self.raised.len() + self.full.len()
    }

    /// The entries that are more than a plain "alive", in member order.
    fn full_entries(&self) -> impl Iterator<Item = (&P, &Known<P>)> + '_ {
        self.full.iter()
    }

    fn full_entries_mut(&mut self) -> impl Iterator<Item = (&P, &mut Known<P>)> + '_ {
        self.full.iter_mut()
    }
}

/// Before declaring a suspect dead, a node pings it itself at these
/// fractions of its suspicion timeout, so that a refutation the gossip failed
/// to bring still arrives in time (the ping carries the suspicion first, and
/// the answer carries the refuted incarnation). Only suspicions with fewer
/// than `SUSPICION_CONFIRMATIONS` confirmations are checked (a crashed node
/// is confirmed by its probers, so every node pinging it would be waste), and
/// at most one check goes out per tick.
const SUSPICION_CHECKS: [f64; 2] = [0.5, 0.75];

/// Independent suspicions after which the suspicion timeout reaches its
/// minimum (Lifeguard's K).
const SUSPICION_CONFIRMATIONS: usize = 3;

/// About this many of the members that hear of a new suspicion probe the
/// suspect next, ahead of their round-robin: each node with probability
/// `EARLY_PROBES / N`. A crashed member is otherwise confirmed only by the
/// members whose round-robin happens to reach it (about one every 220 ms at
/// N = 1,000), so its suspecters wait a second for `K` confirmations; with
/// these, a few hundred milliseconds. It costs no message: the probe takes a
/// round-robin slot. A live suspect answers it, which confirms nothing.
const EARLY_PROBES: f64 = 6.0;

/// A membership update waiting to be piggybacked; where it stands in the
/// queue is its [`QueueKey`].
///
/// Small on purpose (32 bytes for `u32` peers, its proof boxed): a queue
/// over full views can hold an update about every member, and at 10,000
/// simulated nodes under 30 % loss the queues were most of the memory,
/// when each entry held a whole [`MemberUpdate`] (its proof's 96 bytes
/// inline) and sat in a map of its own beside the order.
#[derive(Clone, Debug)]
struct Queued<P> {
    peer: P,
    by: P,
    incarnation: u64,
    proof: Option<Box<Proof>>,
    status: Status,
    /// The update's encoded size, proof included (saturated), for
    /// `max_piggyback_bytes`: measured once, not on every message.
    bytes: u16,
}

impl<P: Copy> Queued<P> {
    fn update(&self) -> MemberUpdate<P> {
        MemberUpdate {
            peer: self.peer,
            incarnation: self.incarnation,
            status: self.status,
            by: self.by,
            proof: self.proof.as_deref().copied(),
        }
    }
}

/// Where a queued update stands in the order of the queue: urgency (0 for
/// claims about ourselves and refutations, 1 for the rest: the first go
/// first), times piggybacked so far, rank (the member's hash mixed with
/// this node's own, a random order that differs from node to node), then
/// the entry's own number (unique, so no two collide).
type QueueKey = (u8, u32, u64, u64);

/// The membership updates waiting to be piggybacked, one per member,
/// ordered by urgency, then the times each was sent, then rank: what the
/// next message carries is the front of the order, and a new claim about a
/// member replaces its older one, each in O(log n). (A vector sorted
/// partially for every message cost O(n) per message: while 1,000 real
/// nodes joined in one process, that was a quarter of the time.)
#[derive(Clone, Debug)]
struct UpdateQueue<P> {
    order: BTreeMap<QueueKey, Queued<P>>,
    /// Where each member's update stands.
    of: BTreeMap<P, QueueKey>,
    next: u64,
}

impl<P> Default for UpdateQueue<P> {
    fn default() -> Self {
        Self {
            order: BTreeMap::new(),
            of: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<P: Peer> UpdateQueue<P> {
    fn len(&self) -> usize {
        self.order.len()
    }

    /// Queues `update`, unsent, in place of any older one about its member.
    fn push(&mut self, update: MemberUpdate<P>, urgency: u8, rank: u64)
    where
        P: Serialize,
    {
        let bytes = u16::try_from(update_len(&update)).unwrap_or(u16::MAX);
        if let Some(old) = self.of.remove(&update.peer) {
            self.order.remove(&old);
        }
        let key = (urgency, 0, rank, self.next);
        self.next += 1;
        let queued = Queued {
            peer: update.peer,
            by: update.by,
            incarnation: update.incarnation,
            proof: update.proof.map(Box::new),
            status: update.status,
            bytes,
        };
        self.order.insert(key, queued);
        self.of.insert(update.peer, key);
    }

    /// Drops the updates sent `limit` times or more.
    fn expire(&mut self, limit: u32) {
        for urgency in 0..=1 {
            let done: Vec<QueueKey> = self
                .order
                .range((urgency, limit, 0, 0)..=(urgency, u32::MAX, u64::MAX, u64::MAX))
                .map(|(key, _)| *key)
                .collect();
            for key in done {
                if let Some(gone) = self.order.remove(&key) {
                    if self.of.get(&gone.peer) == Some(&key) {
                        self.of.remove(&gone.peer);
                    }
                }
            }
        }
    }

    /// Appends up to `n` updates from the front of the order to `out`, in
    /// order, while their encoded sizes and `used` bytes sum to at most
    /// `max_bytes` (the first always goes); each counts as sent once more
    /// if `counted`.
    fn take(
        &mut self,
        n: usize,
        (mut used, max_bytes): (usize, usize),
        counted: bool,
        out: &mut Vec<MemberUpdate<P>>,
    ) {
        let front: Vec<QueueKey> = self.order.keys().take(n).copied().collect();
        for key in front {
            let Some(queued) = self.order.get(&key) else {
                continue;
            };
            used = used.saturating_add(usize::from(queued.bytes));
            if used > max_bytes && !out.is_empty() {
                break;
            }
            out.push(queued.update());
            if counted {
                if let Some(queued) = self.order.remove(&key) {
                    let (urgency, sent, rank, id) = key;
                    let moved = (urgency, sent + 1, rank, id);
                    self.of.insert(queued.peer, moved);
                    self.order.insert(moved, queued);
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct PendingProbe<P> {
    target: P,
    seq: u64,
    sent_ms: u64,
    indirect_sent: bool,
    acked: bool,
    /// Whether the target itself answered (its ack, or any message from
    /// it), not only a relay.
    direct: bool,
    /// Relays asked to ping the target: each owes a nack if it fails.
    relays: u32,
    /// Nacks received from them.
    nacks: u32,
}

/// A failed probe whose relays may still nack: counted
/// `ping_timeout_ms` after the probe ended (a relay nacks from its next
/// round after half a ping timeout, so its nack can come after the end).
#[derive(Clone, Copy, Debug)]
struct Judged {
    seq: u64,
    relays: u32,
    nacks: u32,
    due_ms: u64,
}

/// The order of one cycle of probes: SWIM's round-robin over a shuffled
/// member list (Das et al. §4.3), so that every member is probed once per
/// cycle of `len` probes, and a crashed one within `len` probe periods
/// however small the cluster. The list is a permutation of the view's
/// indices ([`Membership::get`]), drawn afresh for every cycle. Members
/// that join mid-cycle go into the current one at random places, as in the
/// paper: a cycle lasts as many probe periods as there are members (10 s
/// for 50), and a joiner left for the next cycle of every node could crash
/// unnoticed for that long. A cycle drawn over less than half of the view
/// starts over (the members it already probed go into the new one): else
/// every member that joined through one seed probes the seed first and
/// then not again for a whole cycle.
#[derive(Clone, Debug, Default)]
struct ProbeOrder {
    /// The cycle's length: the view's size when it was drawn.
    len: usize,
    /// Probes taken from this cycle.
    next: usize,
    shuffle: Shuffle,
    /// The view's size as last seen in this cycle (`len` and the joiners).
    seen: usize,
    /// The indices of members that joined during this cycle and have not
    /// been probed in it yet.
    joined: Vec<u32>,
}

/// Up to this many members, a cycle is an explicit Fisher–Yates shuffle of
/// the indices (4 bytes each). Beyond, a keyed permutation computed on the
/// fly: 10,000 simulated full views of 10,000 members would otherwise hold
/// 400 MB of lists.
const LISTED_MAX: usize = 4_096;

#[derive(Clone, Debug)]
enum Shuffle {
    Listed(Vec<u32>),
    /// A four-round Feistel network over `2 × half_bits` bits, keyed at
    /// random: a pseudo-random permutation of `0..2^(2 × half_bits)`.
    /// Values at or past `len` are walked on (cycle walking), which ends
    /// because the permutation's cycle through `i < len` comes back to `i`;
    /// the domain is less than 4 × `len`, so the walk is short.
    Keyed {
        half_bits: u32,
        keys: [u64; 4],
    },
}

impl Default for Shuffle {
    fn default() -> Self {
        Self::Listed(Vec::new())
    }
}

impl ProbeOrder {
    /// The next index of the cycle; a new cycle over `len` indices starts
    /// when this one is done. `None` if `len` is 0.
    fn next_index(&mut self, len: usize, rng: &mut Pcg64Mcg) -> Option<usize> {
        if len > self.seen {
            self.joined
                .extend((self.seen..len).map(|i| u32::try_from(i).unwrap_or(u32::MAX)));
            self.seen = len;
        }
        let left = self.len - self.next.min(self.len);
        // A cycle drawn over less than half the view starts over, over all
        // of it. A joiner's first cycle holds only its seed, taken first;
        // the members it learns next would fill the rest of that cycle, and
        // nobody would ping the seed for a whole cycle after a cluster
        // formed through it (a crash unnoticed, rumors passing it by).
        if (left == 0 && self.joined.is_empty()) || self.joined.len() > self.len {
            self.draw(len, rng);
        }
        // A joiner is taken at a random place among what is left of the
        // cycle: with the chance of its share of the remaining probes.
        let (left, joiners) = (self.len - self.next.min(self.len), self.joined.len());
        if joiners > 0 && (left == 0 || rng.random_range(0..left + joiners) < joiners) {
            let i = self.joined.swap_remove(rng.random_range(0..joiners));
            return Some(i as usize);
        }
        if self.len == 0 {
            return None;
        }
        let i = self.at(self.next);
        self.next += 1;
        Some(i)
    }

    fn draw(&mut self, len: usize, rng: &mut Pcg64Mcg) {
        self.len = len;
        self.next = 0;
        self.seen = len;
        self.joined.clear();
        self.shuffle = if len <= LISTED_MAX {
            let mut list: Vec<u32> = (0..len)
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect();
            for i in (1..list.len()).rev() {
                list.swap(i, rng.random_range(0..=i));
            }
            Shuffle::Listed(list)
        } else {
            let bits = usize::BITS - (len - 1).leading_zeros();
            Shuffle::Keyed {
                half_bits: bits.div_ceil(2),
                keys: [rng.random(), rng.random(), rng.random(), rng.random()],
            }
        };
    }

    fn at(&self, position: usize) -> usize {
        match &self.shuffle {
            Shuffle::Listed(list) => list.get(position).map_or(position, |&i| i as usize),
            Shuffle::Keyed { half_bits, keys } => {
                let half = *half_bits;
                let mask = (1u64 << half) - 1;
                let permute = |x: u64| {
                    let (mut left, mut right) = (x >> half, x & mask);
                    for key in keys {
                        let f = mix(right ^ key) & mask;
                        (left, right) = (right, left ^ f);
                    }
                    (left << half) | right
                };
                let len = self.len as u64;
                let mut x = position as u64;
                for _ in 0..1u64 << (2 * half) {
                    x = permute(x);
                    if x < len {
                        return usize::try_from(x).unwrap_or(position);
                    }
                }
                position
            }
        }
    }
}

/// A stable 64-bit hash of a peer (`DefaultHasher` with its fixed keys: the
/// same in every run of one build).
fn hash_of<P: Hash>(peer: &P) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    peer.hash(&mut hasher);
    hasher.finish()
}

/// SplitMix64's finalizer: the Feistel rounds' mixing function.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[derive(Clone, Copy, Debug)]
struct Relay<P> {
    requester: P,
    their_seq: u64,
    our_seq: u64,
    /// When we pinged the target.
    pinged_ms: u64,
    /// Whether we told the requester the target did not answer.
    nacked: bool,
    expires_ms: u64,
}

/// The failure detector and membership-dissemination state of one node.
pub(crate) struct Swim<P> {
    /// Probes the target never answered itself (see
    /// [`Swim::missed_acks`]).
    missed_acks: u64,
    me: P,
    incarnation: u64,
    overrides: Claims<P>,
    probe: Option<PendingProbe<P>>,
    /// The last failed probe, until its relays' nacks are counted.
    judged: Option<Judged>,
    /// Lifeguard's local health multiplier (0 = healthy): probe intervals
    /// and timeouts are `health + 1` times the configured ones. Raised by
    /// failed probes whose relays did not all nack and by refuting a
    /// suspicion of ourselves, and by the driver running late
    /// (`lagged`); lowered by successful probes: a node that misses its own
    /// acks slows its judgements of others.
    health: u32,
    /// When a lag last raised the health score (at most one raise per
    /// probe interval).
    lag_raised_ms: Option<u64>,
    next_probe_ms: u64,
    next_reconnect_ms: u64,
    next_seq: u64,
    relays: Vec<Relay<P>>,
    queue: UpdateQueue<P>,
    /// Mixed into the order of the queue (`Queued::rank`).
    salt: u64,
    /// Members that suspected us since the last call to `take_refuted`.
    refute_to: Vec<P>,
    /// Members heard from below what we hold of them (restarted without
    /// their incarnation), each with the incarnation it spoke from.
    behind: Vec<(P, u64)>,
    /// Refutations since the last round, each raising the local health
    /// score by one at the round.
    refuted: u32,
    /// Over a partial view, failure detection is local: a failed probe
    /// reports the link (`take_failed`) instead of spreading a suspicion,
    /// and claims about other members are ignored.
    local: bool,
    failed: Vec<P>,
    /// Local mode: probes go round the links in turn, so that each link is
    /// probed once every `links × probe_interval_ms`, not at random (a
    /// random pick leaves some dead link unprobed for several seconds).
    cursor: usize,
    /// Local mode: when each link last sent this node a message
    /// (`link_heard`), at most one entry per link (entries of links gone
    /// are dropped when the next probe is chosen). See
    /// [`Config::implicit_ack_ms`].
    heard: Vec<(P, u64)>,
    /// Full views: the shuffled round-robin of probe targets.
    order: ProbeOrder,
    /// Suspicions by others we heard of since the last round.
    heard_suspect: Vec<P>,
    /// Suspects to probe before the round-robin goes on (see
    /// `EARLY_PROBES`).
    urgent: Vec<P>,
    /// Full views that learn their members ([`Membership::learns`]):
    /// whether another member's list came. Until one does, the node asks
    /// for one every `reconnect_interval_ms` (its seeds may be down).
    listed: bool,
    /// When the next member-list request (or periodic exchange) is due.
    next_list_ms: u64,
    /// The time between exchanges, once listed: it starts at
    /// `reconnect_interval_ms` and doubles up to `member_sync_interval_ms`.
    list_every_ms: u64,
    /// How far past what we hold of a member a claimed incarnation may go.
    bound: Advance,
    /// Claims ignored because their incarnation was out of `bound`.
    refused: u64,
    /// Members learned from others (a rumor, a list) and not yet heard
    /// from directly, with when each was learned: forgotten if not heard
    /// from in time, so that claims about members that do not exist cannot
    /// grow the view forever.
    unheard: BTreeMap<P, u64>,
    /// The members forgotten unheard, most recent last, at most
    /// `FORGOTTEN_MAX`, with the incarnation last held of each: claims
    /// about them are ignored until they speak, and when one does, it is
    /// known again from that incarnation (so that the node never goes back
    /// on its claims, and a later suspicion of it is not one at a stale
    /// incarnation that every other member ignores).
    forgotten: VecDeque<(P, u64)>,
    /// Members forgotten unheard so far.
    forgotten_total: u64,
    /// Ping requests refused: their target was not a member we know.
    refused_ping_reqs: u64,
    /// This node's signing key: it signs the claims it makes, and takes
    /// others' only with a proof from their maker ([`MemberUpdate::proof`]).
    signer: Option<Identity>,
    /// Members' keys, each bound by a valid self-claim that came directly
    /// from the member (at most `KEYS_MAX`).
    keys: BTreeMap<P, AuthorKey>,
    /// This node's signed self-claim, for introductions (rebuilt when its
    /// incarnation changes).
    introduction: Option<MemberUpdate<P>>,
    /// Peers sent an introduction, with how many (at most
    /// `INTRODUCTIONS` each, and `INTRODUCED_MAX` peers: past this, the
    /// record starts over).
    introduced: BTreeMap<P, u8>,
    /// Peers whose address is proven: given when the node started (its
    /// first view), or that echoed a challenge sent to them (a ping with a
    /// random `seq`). Only these count as known to the answer bound: a
    /// sender address is otherwise anyone's to forge (at most
    /// `PROVEN_MAX`).
    proven: BTreeSet<P>,
    /// Challenges in flight, by peer (at most `CHALLENGES_MAX`).
    challenges: BTreeMap<P, u64>,
    /// Claims refused for want of their maker's proof.
    refused_claims: u64,
}

/// A signing node's first messages to each peer carry its signed claim of
/// itself, so that the peer binds its key (a datagram may be lost).
const INTRODUCTIONS: u8 = 3;

/// Peers whose introductions are counted, at most.
const INTRODUCED_MAX: usize = 16_384;

/// Proven addresses remembered, at most: past this the set starts again
/// (a peer then proves itself again, one round trip).
const PROVEN_MAX: usize = 65_536;

/// Challenges in flight, at most: past this they start again (a forged
/// sender cannot grow them).
const CHALLENGES_MAX: usize = 4_096;

/// Members' keys remembered, at most: past this, no new key is bound (the
/// member's claims are then taken as from a node without an identity:
/// "alive" only).
const KEYS_MAX: usize = 65_536;

/// Whether `update`'s proof verifies (`own`: a self-claim whose `by` is its
/// member, as a self-claim must be).
fn own_valid<P: Peer + Serialize>(own: bool, update: &MemberUpdate<P>) -> bool {
    let maker_named = own || matches!(update.status, Status::Suspect | Status::Dead);
    maker_named
        && update
            .proof
            .is_some_and(|proof| proof.verify(update).is_ok())
}

/// Members forgotten unheard that are remembered as such, at most: past
/// this, the oldest may be learned again from a rumor (and forgotten again).
const FORGOTTEN_MAX: usize = 4_096;

impl<P: Peer + Serialize> Swim<P> {
    pub(crate) fn new(me: P, incarnation: u64, bound: Advance) -> Self {
        let mut swim = Self {
            missed_acks: 0,
            me,
            incarnation,
            bound,
            refused: 0,
            overrides: Claims::new(),
            probe: None,
            judged: None,
            health: 0,
            lag_raised_ms: None,
            next_probe_ms: 0,
            next_reconnect_ms: 0,
            next_seq: 1,
            relays: Vec::new(),
            queue: UpdateQueue::default(),
            salt: mix(hash_of(&me)),
            refute_to: Vec::new(),
            unheard: BTreeMap::new(),
            forgotten: VecDeque::new(),
            forgotten_total: 0,
            refused_ping_reqs: 0,
            signer: None,
            keys: BTreeMap::new(),
            introduction: None,
            introduced: BTreeMap::new(),
            proven: BTreeSet::new(),
            challenges: BTreeMap::new(),
            refused_claims: 0,
            behind: Vec::new(),
            refuted: 0,
            local: false,
            failed: Vec::new(),
            cursor: 0,
            heard: Vec::new(),
            order: ProbeOrder::default(),
            heard_suspect: Vec::new(),
            urgent: Vec::new(),
            listed: false,
            next_list_ms: 0,
            list_every_ms: 0,
        };
        // Announce ourselves: a restarted node's higher incarnation overrides
        // the "dead" others may hold about its previous life.
        swim.enqueue(MemberUpdate {
            peer: me,
            incarnation,
            status: Status::Alive,
            by: me,
            proof: None,
        });
        swim
    }

    /// Local failure detection, for a partial view (see `local`).
    pub(crate) fn set_local(&mut self, local: bool) {
        self.local = local;
    }

    /// Local mode: `peer` sent this node a message at `now_ms`. Recorded
    /// for links only, so the record stays as small as the view. A peer
    /// that dropped the link and still sends (an anti-entropy exchange)
    /// is alive all the same; the link's other messages tell it the link
    /// is gone (`Disconnect`).
    pub(crate) fn link_heard(&mut self, peer: P, now_ms: u64, links: &[P]) {
        if !self.local {
            return;
        }
        // An entry is a link's, or was until the last `next_link`.
        if let Some(entry) = self.heard.iter_mut().find(|(p, _)| *p == peer) {
            entry.1 = entry.1.max(now_ms);
        } else if links.contains(&peer) {
            self.heard.push((peer, now_ms));
        }
    }

    /// Local mode: the link to probe at `now_ms`. Without implicit acks
    /// (`quiet_ms` 0), the next in turn. With them, the link heard from
    /// longest ago (never heard first; ties in turn from the cursor), or
    /// none when every link was heard from within `quiet_ms`.
    fn next_link(&mut self, links: &[P], now_ms: u64, quiet_ms: u64) -> Option<P> {
        self.cursor = self.cursor.wrapping_add(1);
        if quiet_ms == 0 {
            return Some(links[self.cursor % links.len()]);
        }
        self.heard.retain(|(p, _)| links.contains(p));
        let mut best: Option<(Option<u64>, P)> = None;
        for i in 0..links.len() {
            let peer = links[self.cursor.wrapping_add(i) % links.len()];
            let last = self.heard.iter().find(|(p, _)| *p == peer).map(|e| e.1);
            if last.is_some_and(|at| now_ms.saturating_sub(at) < quiet_ms) {
                continue;
            }
            if best.is_none_or(|(oldest, _)| last < oldest) {
                best = Some((last, peer));
            }
        }
        best.map(|(_, peer)| peer)
    }

    /// The probed links that failed since the last call (local mode only).
    pub(crate) fn take_failed(&mut self) -> Vec<P> {
        core::mem::take(&mut self.failed)
    }

    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Lifeguard's local health score: 0 when healthy, up to
    /// `max_local_health - 1`.
    pub(crate) fn health(&self) -> u32 {
        self.health
    }

    /// Changes the local health score by `delta`, within its bounds. Over
    /// a partial view the score stays 0: a failed probe there only replaces
    /// a link, nothing is spread, and slower probes would leave dead links
    /// in place longer (at 100,000 nodes with a fifth crashed, the
    /// survivors' links stayed split for seconds).
    fn adjust_health(&mut self, delta: i64, config: &Config) {
        if self.local {
            return;
        }
        let max = i64::from(config.max_local_health.max(1) - 1);
        let score = (i64::from(self.health) + delta).clamp(0, max);
        self.health = u32::try_from(score).unwrap_or(0);
    }

    /// The driver ran `lag_ms` late (see `Node::report_lag`): a lag past
    /// half the ping timeout raises the health score by one, at most once
    /// per (scaled) probe interval, as a missed nack does.
    pub(crate) fn lagged(&mut self, lag_ms: u64, now_ms: u64, config: &Config) {
        if lag_ms.saturating_mul(2) <= config.ping_timeout_ms {
            return;
        }
        let every = self.scaled(config.probe_interval_ms.max(1));
        if self
            .lag_raised_ms
            .is_some_and(|at| now_ms < at.saturating_add(every))
        {
            return;
        }
        self.lag_raised_ms = Some(now_ms);
        self.adjust_health(1, config);
    }

    /// `ms` scaled by the local health multiplier.
    fn scaled(&self, ms: u64) -> u64 {
        ms.saturating_mul(u64::from(self.health) + 1)
    }

    pub(crate) fn status(&self, peer: P) -> Status {
        self.overrides.status(&peer)
    }

    pub(crate) fn is_live(&self, peer: P) -> bool {
        matches!(self.status(peer), Status::Alive | Status::Suspect)
    }

    /// Members currently not alive, with their status.
    pub(crate) fn not_alive(&self) -> impl Iterator<Item = (P, Status)> + '_ {
        self.overrides
            .full_entries()
            .filter(|(_, k)| k.status != Status::Alive)
            .map(|(p, k)| (*p, k.status))
    }

    /// Signs this node's identity into every claim it makes from now on,
    /// and takes claims from others only with their maker's proof.
    pub(crate) fn sign_with(&mut self, identity: Identity) {
        self.signer = Some(identity);
        self.introduction = None;
        // The announcement queued at start, signed.
        self.enqueue(self.alive_me());
    }

    /// "Alive at our incarnation", as we claim it of ourselves (unsigned).
    const fn alive_me(&self) -> MemberUpdate<P> {
        MemberUpdate {
            peer: self.me,
            incarnation: self.incarnation,
            status: Status::Alive,
            by: self.me,
            proof: None,
        }
    }

    /// Claims refused so far for want of their maker's proof.
    pub(crate) fn refused_claims(&self) -> u64 {
        self.refused_claims
    }

    /// The key bound to `peer`, if any (this node's own for itself).
    pub(crate) fn key_of(&self, peer: P) -> Option<AuthorKey> {
        if peer == self.me {
            self.signer.as_ref().map(Identity::author)
        } else {
            self.keys.get(&peer).copied()
        }
    }

    /// `update` with this node's proof, if this node made it and signs.
    fn signed(&self, mut update: MemberUpdate<P>) -> MemberUpdate<P> {
        if update.by == self.me && update.proof.is_none() {
            if let Some(signer) = &self.signer {
                update.proof = signer.sign_claim(&update);
            }
        }
        update
    }

    /// This node's signed claim of itself, if it signs and `to` has not had
    /// its introductions yet.
    fn introduce(&mut self, to: P) -> Option<MemberUpdate<P>> {
        self.signer.as_ref()?;
        let sent = self.introduced.get(&to).copied().unwrap_or(0);
        if sent >= INTRODUCTIONS {
            return None;
        }
        if self.introduced.len() >= INTRODUCED_MAX && sent == 0 {
            self.introduced.clear();
        }
        self.introduced.insert(to, sent + 1);
        let current = self
            .introduction
            .filter(|i| i.incarnation == self.incarnation && i.status == Status::Alive);
        let claim = current.unwrap_or_else(|| self.signed(self.alive_me()));
        self.introduction = Some(claim);
        Some(claim)
    }

    /// Whether a claim received from `from` carries what this node requires
    /// of it, and whether it bound a key. A node without an
    /// identity requires nothing. Claims about this node are not checked:
    /// the worst a forged one does is make it refute, which it always can.
    ///
    /// A member's key is bound by the first valid proof of it this node
    /// sees: its self-claim (alive, `by` = itself), directly or relayed, or
    /// a suspicion or death it made, if it is a known member. A self-claim
    /// that comes directly from its member, at an incarnation not below
    /// what is held, binds its key over another (a restart with a fresh
    /// key; a forger that was first). Then a claim in the name of a member
    /// whose key is bound (the member itself for alive and left, `by` for
    /// suspect and dead) must carry a valid proof under that key.
    ///
    /// A proof that does not verify is stripped from an "alive" taken
    /// without a key to check it against, so that it is never passed on.
    fn proven(
        &mut self,
        from: P,
        update: &mut MemberUpdate<P>,
        members: &impl Membership<P>,
    ) -> (bool, bool) {
        if self.signer.is_none() || update.peer == self.me {
            return (true, false);
        }
        let maker = match update.status {
            Status::Alive | Status::Left => update.peer,
            Status::Suspect | Status::Dead => update.by,
        };
        let own = matches!(update.status, Status::Alive | Status::Left) && update.by == maker;
        let valid = update.proof.is_some() && own_valid(own, update);
        let bound = self.key_of(maker);
        let room = self.keys.len() < KEYS_MAX;
        if let Some(proof) = update.proof {
            let direct = from == update.peer && update.status == Status::Alive && own;
            let held = self.overrides.incarnation(&maker);
            let first = bound.is_none()
                && room
                && maker != self.me
                && match update.status {
                    Status::Alive => own,
                    Status::Suspect | Status::Dead => members.contains(maker),
                    Status::Left => false,
                };
            // A member's new life (restarted with a fresh key) binds its
            // key: relayed, above what we hold; directly, not below it.
            let newer = update.incarnation > held || direct && update.incarnation == held;
            let rebind = own
                && update.status == Status::Alive
                && newer
                && bound.is_some_and(|k| k != proof.key);
            if (first || rebind) && valid {
                self.keys.insert(maker, proof.key);
                return (true, true);
            }
        }
        let ok = match (bound, update.proof) {
            (Some(key), Some(proof)) => proof.key == key && valid,
            // An unsigned "alive" is what a node that heard a member directly
            // passes on (the message's incarnation): ignored, not counted.
            (Some(_), None) if update.status == Status::Alive => return (false, false),
            (Some(_), None) => false,
            // No key bound, and none bound now (no valid proof, or no
            // room): an "alive" is taken, with its proof only if valid.
            (None, _) => {
                if !valid {
                    update.proof = None;
                }
                update.status == Status::Alive
            }
        };
        if !ok {
            self.refused_claims += 1;
        }
        (ok, false)
    }

    fn enqueue(&mut self, update: MemberUpdate<P>) {
        let update = self.signed(update);
        // A newer claim about a member replaces older ones, a confirmation
        // of a suspicion the one before it (as memberlist's queue does): one
        // entry per member, so that a mass crash queues one rumor per
        // victim, not one per suspecter.
        let rank = mix(hash_of(&update.peer) ^ self.salt);
        self.queue.push(update, urgency(&update, self.me), rank);
    }

    /// Up to `max` updates to piggyback on one message to `to`: those sent
    /// the fewest times so far, the newest first among equals (memberlist's
    /// order: a burst of news, a mass crash or many joins, spreads side by
    /// side instead of the newest starving the rest). Each goes out about
    /// `retransmit_mult × log₁₀N` times. If we suspect `to` or hold it
    /// dead, that claim goes first, so it can refute at once (Lifeguard's
    /// buddy system; for the dead, a reconnect ping).
    pub(crate) fn piggyback(
        &mut self,
        to: P,
        config: &Config,
        members: usize,
        (max, max_bytes): (usize, usize),
    ) -> Vec<MemberUpdate<P>> {
        let limit = retransmit_limit(config, members);
        let mut out = Vec::new();
        // A copy sent to a member we suspect or hold dead does not count
        // towards the limit: after a mass crash, the probes, checks and
        // reconnect pings to the victims are a large share of what a node
        // sends, and a rumor whose copies went mostly to the dead died out
        // before it reached every live member.
        let mut counted = true;
        // (Suspects and the dead are never plain "alive" claims.)
        if let Some(known) = self.overrides.get_full(&to) {
            if matches!(known.status, Status::Suspect | Status::Dead) {
                counted = false;
                out.push(known.claim(to));
            }
        }
        if let Some(introduction) = self.introduce(to) {
            out.push(introduction);
        }
        self.queue.expire(limit);
        let take = max.saturating_sub(out.len());
        let used = out.iter().map(update_len).sum();
        self.queue.take(take, (used, max_bytes), counted, &mut out);
        out
    }

    /// Applies received updates (rumors); returns the events they caused.
    pub(crate) fn apply<S>(
        &mut self,
        from: P,
        updates: &[MemberUpdate<P>],
        members: &mut impl Membership<P>,
        now_ms: u64,
        events: &mut Vec<Event<S, P>>,
    ) {
        for update in updates {
            self.apply_one(from, *update, true, members, now_ms, events);
        }
    }

    /// Claims ignored so far because their incarnation was out of bounds.
    pub(crate) fn refused_incarnations(&self) -> u64 {
        self.refused
    }

    /// Whether a claim that `peer` is at `incarnation` may be taken: not
    /// more than a step past what we hold of it (our own, for us), and
    /// below the ceiling, so that a member can always outlive a claim about
    /// itself with a higher incarnation that everyone admits. Counts it if
    /// not.
    fn admits(&mut self, peer: P, incarnation: u64) -> bool {
        let known = if peer == self.me {
            self.incarnation
        } else {
            self.overrides.incarnation(&peer)
        };
        let admitted = self.bound.admits(known, incarnation);
        if !admitted {
            self.refused += 1;
        }
        admitted
    }

    /// Applies one claim: a rumor (`rumor`), or an entry of a member list.
    /// Whatever is news is spread, except the members a list taught us:
    /// the list's sender knew them, and so does most of the cluster.
    fn apply_one<S>(
        &mut self,
        from: P,
        mut update: MemberUpdate<P>,
        rumor: bool,
        members: &mut impl Membership<P>,
        now_ms: u64,
        events: &mut Vec<Event<S, P>>,
    ) {
        if !self.admits(update.peer, update.incarnation) {
            return;
        }
        if update.peer == self.me {
            self.refute(update);
            return;
        }
        if self.local || self.forgotten.iter().any(|(p, _)| *p == update.peer) {
            return;
        }
        // A claim that can change nothing here is not verified: a signing
        // node hears each rumor many times, and a signature check costs
        // tens of microseconds.
        let (proven, bound) = if self.signer.is_some() && !self.news(from, &update, members) {
            (true, false)
        } else {
            self.proven(from, &mut update, members)
        };
        if !proven {
            return;
        }
        let new = members.observe(update.peer);
        if new {
            self.unheard.insert(update.peer, now_ms);
            events.push(Event::MemberJoined(update.peer));
        }
        let current = self.overrides.key(&update.peer);
        if update.proof.is_some()
            && !new
            && update.key() == current
            && update.status != Status::Suspect
        {
            // The same claim as held, now with its maker's proof: keep that,
            // and pass it on instead of the unsigned one.
            let plain = self.overrides.raised.contains_key(&update.peer);
            match self.overrides.get_full_mut(&update.peer) {
                Some(known) if known.proof.is_none() || bound => {
                    known.by = update.by;
                    known.proof = update.proof.map(Box::new);
                    self.enqueue(update);
                }
                Some(_) => {}
                None if plain => {
                    // Held as a plain "alive" (so unsigned): now signed.
                    self.overrides.insert(
                        update.peer,
                        Known {
                            incarnation: current.0,
                            status: current.1,
                            by: update.by,
                            proof: update.proof.map(Box::new),
                            since_ms: now_ms,
                            suspecters: Vec::new(),
                            checks: 0,
                        },
                    );
                    self.enqueue(update);
                }
                None => {}
            }
        } else if update.key() == current && update.status == Status::Suspect {
            if self.vouches(update.by, update.peer, members) {
                self.confirm(update);
            }
        } else if update.key() > current {
            if new && !rumor {
                self.record(update, now_ms, events);
            } else {
                self.set(update, now_ms, events);
            }
        } else if new && rumor {
            // A join ("alive at incarnation 0" is not stored, so `set` is not
            // reached): news to us, so pass it on, as every member that
            // learns of the joiner does.
            self.enqueue(update);
        } else if update.status != Status::Alive
            && current.1 == Status::Alive
            && update.incarnation < current.0
        {
            // The sender suspects a life the member has already outlived:
            // spread the refutation again so stale holders catch up.
            if let Some(claim) = self.overrides.claim(update.peer) {
                self.enqueue(claim);
            }
        }
    }

    /// Whether a claim could change what this node holds (so that its
    /// proof must be checked): it names a member we do not know, is newer
    /// than what we hold, confirms a suspicion that still takes
    /// confirmations, brings the proof of a claim held unsigned, or may
    /// bind its maker's key, or comes directly from its member under
    /// another key than the one bound. A stale claim only ever makes us
    /// pass on what we hold, which needs no proof of it.
    fn news(&self, from: P, update: &MemberUpdate<P>, members: &impl Membership<P>) -> bool {
        let rebinds = from == update.peer
            && update.by == from
            && update.status == Status::Alive
            && update
                .proof
                .is_some_and(|p| self.key_of(from).is_some_and(|k| k != p.key));
        if rebinds || !members.contains(update.peer) {
            return true;
        }
        let known = self.overrides.get_full(&update.peer);
        let current = self.overrides.key(&update.peer);
        match update.key().cmp(&current) {
            core::cmp::Ordering::Greater => true,
            core::cmp::Ordering::Less => false,
            core::cmp::Ordering::Equal => match (update.status, known) {
                (Status::Suspect, Some(k)) => {
                    k.suspecters.len() <= SUSPICION_CONFIRMATIONS
                        && !k.suspecters.contains(&update.by)
                }
                (_, Some(k)) => k.proof.is_none() && update.proof.is_some(),
                // A plain "alive" held: unsigned.
                (_, None) if self.overrides.contains(&update.peer) => update.proof.is_some(),
                (_, None) => update.proof.is_some() && self.key_of(update.peer).is_none(),
            },
        }
    }

    /// Whether `by` may confirm a suspicion of `peer`: a member this node
    /// knows and holds alive, other than the suspect. Made-up suspecters
    /// (or dead ones) would otherwise bring a live member's suspicion
    /// timeout down to the minimum, before it can refute.
    fn vouches(&self, by: P, peer: P, members: &impl Membership<P>) -> bool {
        by != peer && (by == self.me || members.contains(by) && self.status(by) == Status::Alive)
    }

    /// Another member independently suspects the same incarnation: count it,
    /// and pass the confirmation on while it still shortens timeouts.
    /// Returns whether the confirmation was new.
    fn confirm(&mut self, update: MemberUpdate<P>) -> bool {
        if let Some(known) = self.overrides.get_full_mut(&update.peer) {
            if known.suspecters.len() <= SUSPICION_CONFIRMATIONS
                && !known.suspecters.contains(&update.by)
            {
                known.suspecters.push(update.by);
                self.enqueue(update);
                return true;
            }
        }
        false
    }

    /// Stores a newer claim about a member, reports what changed, and
    /// spreads it.
    fn set<S>(&mut self, update: MemberUpdate<P>, now_ms: u64, events: &mut Vec<Event<S, P>>) {
        let update = self.signed(update);
        self.record(update, now_ms, events);
        self.enqueue(update);
    }

    /// Stores a newer claim about a member and reports what changed.
    fn record<S>(&mut self, update: MemberUpdate<P>, now_ms: u64, events: &mut Vec<Event<S, P>>) {
        let was = self.status(update.peer);
        if update.incarnation == 0 && update.status == Status::Alive {
            self.overrides.remove(&update.peer);
        } else {
            let suspecters = if update.status == Status::Suspect {
                vec![update.by]
            } else {
                Vec::new()
            };
            self.overrides.insert(
                update.peer,
                Known {
                    incarnation: update.incarnation,
                    status: update.status,
                    by: update.by,
                    proof: update.proof.map(Box::new),
                    since_ms: now_ms,
                    suspecters,
                    checks: 0,
                },
            );
        }
        if was != update.status && update.status == Status::Suspect && update.by != self.me {
            self.heard_suspect.push(update.peer);
        }
        if was != update.status {
            events.push(match update.status {
                Status::Alive => Event::MemberAlive(update.peer),
                Status::Suspect => Event::MemberSuspected(update.peer),
                Status::Dead => Event::MemberDown(update.peer),
                Status::Left => Event::MemberLeft(update.peer),
            });
        }
    }

    /// Someone says we are suspect or dead: outlive the rumor. A claim at
    /// the last incarnation (`u64::MAX`, only ever sent by a broken or
    /// hostile peer) cannot be outlived: it is ignored rather than wrapped.
    fn refute(&mut self, about_me: MemberUpdate<P>) {
        if about_me.status == Status::Alive {
            // Only we raise our incarnation, so a higher one is our earlier
            // life's, told back by a peer after a restart that lost it: take
            // it up again (short of the last one, which a hostile peer may
            // claim but nobody can outlive). Signing, a life claimed under
            // another key than ours (an earlier life's key, or a forger's)
            // is outlived instead, so that our key is bound again above it.
            if about_me.incarnation > self.incarnation && about_me.incarnation < u64::MAX {
                let ours = self.signer.as_ref().is_none_or(|me| {
                    about_me
                        .proof
                        .is_some_and(|p| p.key == me.author() && p.verify(&about_me).is_ok())
                });
                if ours {
                    self.incarnation = about_me.incarnation;
                } else if about_me.incarnation < u64::MAX - 1 {
                    self.incarnation = about_me.incarnation + 1;
                    self.enqueue(self.alive_me());
                }
            }
            return;
        }
        if about_me.incarnation < self.incarnation {
            return;
        }
        if let Some(next) = about_me.incarnation.checked_add(1) {
            self.incarnation = next;
            // Being suspected hints that we are the slow one (Lifeguard).
            self.refuted += 1;
            if about_me.by != self.me && !self.refute_to.contains(&about_me.by) {
                self.refute_to.push(about_me.by);
            }
            self.enqueue(self.alive_me());
        }
    }

    /// The members that claimed we were suspect or dead since the last call:
    /// they are told at once (every message carries our incarnation) rather
    /// than waiting for the refutation to reach them by gossip.
    pub(crate) fn take_refuted(&mut self) -> Vec<P> {
        core::mem::take(&mut self.refute_to)
    }

    /// The members heard from below the incarnation we hold of them since
    /// the last call, each with what we hold: the node tells each at once.
    ///
    /// The claim is what we hold when this is called, not when the member
    /// was heard: the rest of its message may have told us more since, and
    /// a claim must never go back on one we made.
    pub(crate) fn take_behind(&mut self) -> Vec<MemberUpdate<P>> {
        core::mem::take(&mut self.behind)
            .into_iter()
            .filter_map(|(peer, spoke_from)| {
                let claim = self.overrides.claim(peer)?;
                (spoke_from < claim.incarnation).then_some(claim)
            })
            .collect()
    }

    /// Whether `peer` is a known member, as far as this node can tell
    /// before it takes a message from it: in the view, not learned from
    /// others and still waiting to be heard from directly, and not held
    /// dead or departed. A new sender is in the view only once its first
    /// message is taken (`heard_from`), so it is not known at that message.
    ///
    /// And its address is proven (`proven`): a member's address is
    /// anyone's to put on a message, so a sender that became a member by
    /// its own first message would otherwise be answered in full from its
    /// second on, at the address it named.
    pub(crate) fn knows(&self, peer: P, members: &impl Membership<P>) -> bool {
        members.contains(peer)
            && !self.unheard.contains_key(&peer)
            && self.is_live(peer)
            && self.proven.contains(&peer)
    }

    /// Keeps the addresses `before` (this node's state a moment ago, as
    /// built) had proven.
    pub(crate) fn keep_proven(&mut self, before: Self) {
        self.proven = before.proven;
    }

    /// Takes `peer`'s address as proven (a member the node was given).
    pub(crate) fn prove(&mut self, peer: P) {
        if self.proven.len() >= PROVEN_MAX && !self.proven.contains(&peer) {
            self.proven.clear();
        }
        self.proven.insert(peer);
    }

    /// A challenge to `peer`, whose address is not proven and has none in
    /// flight: a ping with `seq` (drawn at random by the caller), whose
    /// ack, which only the holder of the address sees to send, proves it
    /// (QUIC's address validation, with SWIM's own ping). `None` if there
    /// is nothing to prove.
    pub(crate) fn challenge(&mut self, peer: P, seq: u64) -> Option<Probe<P>> {
        if peer == self.me || self.proven.contains(&peer) || self.challenges.contains_key(&peer) {
            return None;
        }
        if self.challenges.len() >= CHALLENGES_MAX {
            self.challenges.clear();
        }
        self.challenges.insert(peer, seq);
        Some(Probe::Ping { seq })
    }

    /// Any message from `from` shows it is alive: it acks a pending probe,
    /// and the sender's incarnation it carries corrects a stale suspicion or
    /// death we hold about it. A sender we did not know has joined: that is
    /// news, spread as "alive" at its incarnation.
    pub(crate) fn heard_from<S>(
        &mut self,
        from: P,
        incarnation: u64,
        members: &mut impl Membership<P>,
        now_ms: u64,
        events: &mut Vec<Event<S, P>>,
    ) {
        let joined = members.observe(from);
        if joined {
            events.push(Event::MemberJoined(from));
            // New to us, or back: it may not know our key.
            self.introduced.remove(&from);
        }
        self.unheard.remove(&from);
        let forgotten = self.forgotten.iter().position(|(p, _)| *p == from);
        let restored = forgotten
            .and_then(|i| self.forgotten.remove(i))
            .map(|(_, last)| last)
            .filter(|&last| joined && last > 0);
        if let Some(last) = restored {
            // Known again as it was: what it says of itself is weighed
            // against that, as for any known member.
            self.overrides.insert(
                from,
                Known {
                    incarnation: last,
                    status: Status::Alive,
                    by: from,
                    proof: None,
                    since_ms: now_ms,
                    suspecters: Vec::new(),
                    checks: 0,
                },
            );
        }
        let new = joined && restored.is_none();
        if let Some(probe) = &mut self.probe {
            if probe.target == from {
                probe.acked = true;
                probe.direct = true;
            }
        }
        if !self.admits(from, incarnation) {
            return;
        }
        if new && !self.local {
            let update = MemberUpdate {
                peer: from,
                incarnation,
                status: Status::Alive,
                by: from,
                proof: None,
            };
            if incarnation > 0 {
                self.set(update, now_ms, events);
            } else {
                self.enqueue(update);
            }
        } else if self.overrides.contains(&from) && incarnation < self.overrides.incarnation(&from)
        {
            // The sender speaks from below what we hold of it: it restarted
            // without its last incarnation. Tell it what we saw, so that it
            // takes that incarnation back (or outlives a death or a leave)
            // instead of speaking for a life the cluster has moved past. (A
            // member we hold dead at the incarnation it speaks from hears
            // so on anything we send it: the claim rides first.)
            if !self.behind.iter().any(|(b, _)| *b == from) {
                self.behind.push((from, incarnation));
            }
        } else if self.overrides.contains(&from) && self.overrides.incarnation(&from) < incarnation
        {
            let update = MemberUpdate {
                peer: from,
                incarnation,
                status: Status::Alive,
                by: from,
                proof: None,
            };
            self.set(update, now_ms, events);
        }
    }

    /// Handles a probe message or a member list; returns what to send.
    pub(crate) fn on_probe<S>(
        &mut self,
        from: P,
        message: Probe<P>,
        now_ms: u64,
        config: &Config,
        members: &mut impl Membership<P>,
        events: &mut Vec<Event<S, P>>,
    ) -> Vec<(P, Probe<P>)> {
        match message {
            Probe::Members {
                members: list,
                reply,
            } => {
                if self.local || !members.learns() {
                    return Vec::new();
                }
                for update in list {
                    self.apply_one(from, update, false, members, now_ms, events);
                }
                if reply {
                    return self.list_pages(from, members, config, false);
                }
                if !self.listed {
                    self.listed = true;
                    self.list_every_ms = config
                        .reconnect_interval_ms
                        .clamp(1, config.member_sync_interval_ms.max(1));
                    self.next_list_ms = match config.member_sync_interval_ms {
                        0 => u64::MAX,
                        _ => now_ms.saturating_add(self.list_every_ms),
                    };
                }
                Vec::new()
            }
            Probe::Ping { seq } => vec![(from, Probe::Ack { seq })],
            Probe::PingReq { seq, target } => {
                // Only for a member we know, never for the requester or us:
                // otherwise anyone could make us ping any address. The nack
                // tells an honest requester at once (one message back to
                // it, no larger than its request).
                if target == self.me || target == from || !members.contains(target) {
                    self.refused_ping_reqs += 1;
                    return vec![(from, Probe::Nack { seq })];
                }
                let relay_seq = self.next_seq;
                self.next_seq += 1;
                self.relays.push(Relay {
                    requester: from,
                    their_seq: seq,
                    our_seq: relay_seq,
                    pinged_ms: now_ms,
                    nacked: false,
                    expires_ms: now_ms + config.probe_interval_ms,
                });
                vec![(target, Probe::Ping { seq: relay_seq })]
            }
            // The updates it carried have been applied already.
            Probe::News => Vec::new(),
            Probe::Nack { seq } => {
                match (&mut self.probe, &mut self.judged) {
                    (Some(probe), _) if probe.seq == seq && probe.nacks < probe.relays => {
                        probe.nacks += 1;
                    }
                    (_, Some(judged)) if judged.seq == seq && judged.nacks < judged.relays => {
                        judged.nacks += 1;
                    }
                    _ => {}
                }
                Vec::new()
            }
            Probe::Ack { seq } => {
                if self.challenges.get(&from) == Some(&seq) {
                    self.challenges.remove(&from);
                    self.prove(from);
                    return Vec::new();
                }
                if let Some(probe) = &mut self.probe {
                    if probe.seq == seq {
                        probe.acked = true;
                        probe.direct |= from == probe.target;
                        return Vec::new();
                    }
                }
                // Not our probe: maybe the answer to a ping we relay.
                match self.relays.iter().position(|r| r.our_seq == seq) {
                    Some(i) => {
                        let relay = self.relays.swap_remove(i);
                        vec![(
                            relay.requester,
                            Probe::Ack {
                                seq: relay.their_seq,
                            },
                        )]
                    }
                    None => Vec::new(),
                }
            }
        }
    }

    /// Forgets the members learned from others that have not been heard
    /// from directly within `unheard_expiry_ms`, or three probe cycles at
    /// the view's size if longer (an honest member is probed once a cycle,
    /// and its ack is hearing from it). Returns them.
    pub(crate) fn forget_unheard(
        &mut self,
        now_ms: u64,
        config: &Config,
        members: &mut impl Membership<P>,
    ) -> Vec<P> {
        let cycles = u64::try_from(members.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(config.probe_interval_ms)
            .saturating_mul(3);
        let deadline = config.unheard_expiry_ms.max(cycles);
        let expired: Vec<P> = self
            .unheard
            .iter()
            .filter(|(_, learned)| now_ms.saturating_sub(**learned) > deadline)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &expired {
            self.unheard.remove(peer);
            if !members.forget(*peer) {
                continue;
            }
            let incarnation = self.overrides.remove(peer).unwrap_or(0);
            self.keys.remove(peer);
            self.urgent.retain(|p| p != peer);
            // A probe of it in flight has nothing left to judge: its
            // timeout would suspect a member the view no longer holds,
            // at incarnation 0, and bring it back.
            if self.probe.is_some_and(|probe| probe.target == *peer) {
                self.probe = None;
            }
            if self.forgotten.len() >= FORGOTTEN_MAX {
                self.forgotten.pop_front();
            }
            self.forgotten.push_back((*peer, incarnation));
            self.forgotten_total += 1;
        }
        if !expired.is_empty() {
            // The view's indices moved: start a new probe cycle.
            self.order = ProbeOrder::default();
        }
        expired
    }

    /// Probes so far that ended without an answer from the target itself
    /// (answered through a relay only, or not at all): a lost ping or ack,
    /// or a peer gone. An answer that comes after `ping_timeout_ms` but
    /// within the probe is no miss: it was late, not lost, and on a node
    /// whose own CPU is saturated (a thousand agents forming on two cores)
    /// most answers are late. Counted as misses, they set off the rounds
    /// and spare copies meant for loss (`Config::loss_memory_ms`) on every
    /// such node for seconds, 60 % more copies a write, when it could
    /// least afford them.
    pub(crate) fn missed_acks(&self) -> u64 {
        self.missed_acks
    }

    /// Ping requests refused because their target was not a known member.
    pub(crate) fn refused_ping_reqs(&self) -> u64 {
        self.refused_ping_reqs
    }

    /// Members forgotten because they were never heard from directly.
    pub(crate) fn forgotten_unheard(&self) -> u64 {
        self.forgotten_total
    }

    /// Advances probe and suspicion timers; returns what to send.
    pub(crate) fn tick<S>(
        &mut self,
        now_ms: u64,
        config: &Config,
        members: &impl Membership<P>,
        rng: &mut Pcg64Mcg,
        events: &mut Vec<Event<S, P>>,
    ) -> Vec<(P, Probe<P>)> {
        let mut out = Vec::new();
        self.relays.retain(|r| r.expires_ms >= now_ms);
        // Lifeguard: a relay whose ping went unanswered says so, so that
        // the requester can tell a dead target from its own trouble.
        let nack_after = config.ping_timeout_ms / 2;
        for relay in &mut self.relays {
            if !relay.nacked && now_ms >= relay.pinged_ms.saturating_add(nack_after) {
                relay.nacked = true;
                let nack = Probe::Nack {
                    seq: relay.their_seq,
                };
                out.push((relay.requester, nack));
            }
        }
        if self.refuted > 0 {
            self.adjust_health(i64::from(self.refuted), config);
            self.refuted = 0;
        }
        if let Some(judged) = self.judged {
            if now_ms >= judged.due_ms {
                self.judged = None;
                // Every relay should have nacked a dead target: each
                // missing nack suggests that we, not it, lose messages.
                let missed = if judged.relays == 0 {
                    1
                } else {
                    judged.relays - judged.nacks
                };
                self.adjust_health(i64::from(missed), config);
            }
        }

        if let Some(probe) = self.probe {
            if probe.acked {
                self.probe = None;
                if probe.indirect_sent && !probe.direct {
                    // Answered through a relay only: the ping or its ack
                    // was lost on the direct path.
                    self.missed_acks += 1;
                }
                self.adjust_health(-1, config);
            } else if now_ms >= probe.sent_ms + self.scaled(config.probe_interval_ms) {
                self.probe = None;
                self.missed_acks += 1;
                self.judged = Some(Judged {
                    seq: probe.seq,
                    relays: probe.relays,
                    nacks: probe.nacks,
                    due_ms: now_ms + config.ping_timeout_ms,
                });
                for suspecter in self.suspect(probe.target, now_ms, events) {
                    out.push((suspecter, Probe::News));
                }
            } else if !probe.indirect_sent
                && now_ms >= probe.sent_ms + self.scaled(config.ping_timeout_ms)
            {
                out.push((probe.target, Probe::Ping { seq: probe.seq }));
                let relays = self.relays_for(probe.target, members, rng, config.indirect_probes);
                let asked = u32::try_from(relays.len()).unwrap_or(u32::MAX);
                for relay in relays {
                    out.push((
                        relay,
                        Probe::PingReq {
                            seq: probe.seq,
                            target: probe.target,
                        },
                    ));
                }
                if let Some(p) = &mut self.probe {
                    p.indirect_sent = true;
                    p.relays = asked;
                }
            }
        }

        #[allow(clippy::cast_precision_loss)]
        let early = (EARLY_PROBES / members.len().max(1) as f64).min(1.0);
        for peer in core::mem::take(&mut self.heard_suspect) {
            if !self.urgent.contains(&peer) && rng.random_bool(early) {
                self.urgent.push(peer);
            }
        }
        if self.probe.is_none() && now_ms >= self.next_probe_ms {
            let quiet = self.scaled(config.implicit_ack_ms);
            let next = match members.links() {
                Some(links) if self.local && !links.is_empty() => {
                    self.next_link(links, now_ms, quiet)
                }
                _ => self
                    .next_urgent()
                    .or_else(|| self.next_target(members, rng)),
            };
            if let Some(target) = next {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.probe = Some(PendingProbe {
                    target,
                    seq,
                    sent_ms: now_ms,
                    indirect_sent: false,
                    acked: false,
                    direct: false,
                    relays: 0,
                    nacks: 0,
                });
                out.push((target, Probe::Ping { seq }));
            }
            self.next_probe_ms = now_ms + self.scaled(config.probe_interval_ms);
        }

        // More news than one message carries: send it to random live
        // members at once, beyond what rides on the other messages
        // (memberlist's gossip), one message per `max_piggyback` updates
        // waiting, up to `news_fanout`. A mass crash queues a rumor per
        // victim; the probes and gossip rounds alone would take seconds to
        // carry them, and mostly to the same few tree neighbors under
        // `Eager`.
        let per_message = config.max_piggyback.max(1);
        if !self.local && self.queue.len() > per_message {
            let wanted = (self.queue.len() / per_message).min(config.news_fanout);
            let me = self.me;
            for peer in self.relays_for(me, members, rng, wanted) {
                out.push((peer, Probe::News));
            }
        }

        if !self.local && members.learns() && now_ms >= self.next_list_ms {
            out.extend(self.ask_for_members(now_ms, config, members, rng));
        }

        if now_ms >= self.next_reconnect_ms {
            self.next_reconnect_ms = now_ms + config.reconnect_interval_ms.max(1);
            let dead: Vec<P> = self
                .overrides
                .full_entries()
                .filter(|(_, k)| k.status == Status::Dead)
                .map(|(p, _)| *p)
                .collect();
            if !dead.is_empty() {
                let target = dead[rng.random_range(0..dead.len())];
                out.push((target, Probe::Ping { seq: self.next_seq }));
                self.next_seq += 1;
            }
        }

        let mut expired = Vec::new();
        let mut checked = false;
        for (peer, known) in self.overrides.full_entries_mut() {
            if known.status != Status::Suspect {
                continue;
            }
            let timeout = suspicion_timeout_ms(config, members.len(), known.suspecters.len());
            let elapsed = now_ms.saturating_sub(known.since_ms);
            if elapsed >= timeout {
                expired.push((*peer, known.incarnation));
                continue;
            }
            let confirmed = known.suspecters.len() > SUSPICION_CONFIRMATIONS;
            let due = SUSPICION_CHECKS
                .get(usize::from(known.checks))
                .is_some_and(|&at| elapsed as f64 >= at * timeout as f64);
            if due && !confirmed && !checked {
                checked = true;
                known.checks += 1;
                out.push((*peer, Probe::Ping { seq: self.next_seq }));
                self.next_seq += 1;
            }
        }
        for (peer, incarnation) in expired {
            let update = MemberUpdate {
                peer,
                incarnation,
                status: Status::Dead,
                by: self.me,
                proof: None,
            };
            self.set(update, now_ms, events);
        }
        out
    }

    /// Our own probe of `peer` failed: suspect it, or, if it is suspect
    /// already, add our independent confirmation. Returns the members to
    /// tell at once: those that suspected it before us. Their timeouts
    /// shrink with each confirmation (Lifeguard), and the first of them to
    /// see enough declares the member dead; by gossip alone the
    /// confirmation would reach them a few hops later.
    fn suspect<S>(&mut self, peer: P, now_ms: u64, events: &mut Vec<Event<S, P>>) -> Vec<P> {
        if self.local {
            if !self.failed.contains(&peer) {
                self.failed.push(peer);
            }
            return Vec::new();
        }
        let incarnation = self.overrides.incarnation(&peer);
        let update = MemberUpdate {
            peer,
            incarnation,
            status: Status::Suspect,
            by: self.me,
            proof: None,
        };
        match self.status(peer) {
            Status::Alive => self.set(update, now_ms, events),
            Status::Suspect if self.confirm(update) => {
                let me = self.me;
                return self
                    .overrides
                    .get_full(&peer)
                    .map(|k| k.suspecters.iter().copied().filter(|s| *s != me).collect())
                    .unwrap_or_default();
            }
            Status::Suspect | Status::Dead | Status::Left => {}
        }
        Vec::new()
    }

    /// Sends our member list to one member and asks for its own: a random
    /// live member, or, until a list came, any known member (the seeds may
    /// all be down: they are asked again every `reconnect_interval_ms`).
    fn ask_for_members(
        &mut self,
        now_ms: u64,
        config: &Config,
        members: &impl Membership<P>,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(P, Probe<P>)> {
        let mut target = self.sample_live(members, rng, 1, None).first().copied();
        if target.is_none() && !self.listed {
            target = members.sample(rng, 1).first().copied();
        }
        self.next_list_ms = if !self.listed {
            now_ms.saturating_add(config.reconnect_interval_ms.max(1))
        } else if config.member_sync_interval_ms == 0 {
            u64::MAX
        } else {
            // Members that joined at about the same time as we did reach us
            // by rumor, and a rumor misses a few: the first exchanges come
            // soon, then further and further apart.
            let every = self.list_every_ms;
            self.list_every_ms = every.saturating_mul(2).min(config.member_sync_interval_ms);
            now_ms.saturating_add(every)
        };
        let Some(target) = target else {
            return Vec::new();
        };
        self.list_pages(target, members, config, true)
    }

    /// Our member list for `to`, as pages of `members_per_message` (the
    /// first one asks for an answer if `ask`): every member we hold alive or
    /// suspect, and ourselves.
    pub(crate) fn list_pages(
        &self,
        to: P,
        members: &impl Membership<P>,
        config: &Config,
        ask: bool,
    ) -> Vec<(P, Probe<P>)> {
        let me = self.signed(self.alive_me());
        // Each entry is the claim held of the member, its maker's proof
        // with it; a member alive at 0 (not stored) is named unsigned.
        let others = (0..members.len())
            .filter_map(|i| members.get(i))
            .filter_map(|peer| {
                let claim = self.overrides.claim(peer).unwrap_or(MemberUpdate {
                    peer,
                    incarnation: 0,
                    status: Status::Alive,
                    by: peer,
                    proof: None,
                });
                matches!(claim.status, Status::Alive | Status::Suspect).then_some(claim)
            });
        let all: Vec<MemberUpdate<P>> = core::iter::once(me).chain(others).collect();
        all.chunks(config.members_per_message.max(1))
            .enumerate()
            .map(|(i, page)| {
                let page = Probe::Members {
                    members: page.to_vec(),
                    reply: ask && i == 0,
                };
                (to, page)
            })
            .collect()
    }

    /// Announces that this node leaves; the update is piggybacked from now
    /// on. Returns it (signed, if this node signs), for the direct notices.
    pub(crate) fn leave(&mut self) -> MemberUpdate<P> {
        let left = self.signed(MemberUpdate {
            peer: self.me,
            incarnation: self.incarnation,
            status: Status::Left,
            by: self.me,
            proof: None,
        });
        self.enqueue(left);
        left
    }

    /// The first suspect queued for an early probe that is still suspect.
    fn next_urgent(&mut self) -> Option<P> {
        while !self.urgent.is_empty() {
            let peer = self.urgent.remove(0);
            if self.status(peer) == Status::Suspect {
                return Some(peer);
            }
        }
        None
    }

    /// The next live member of the shuffled round-robin, skipping the dead,
    /// the departed and ourselves; `None` if there is none.
    fn next_target(&mut self, members: &impl Membership<P>, rng: &mut Pcg64Mcg) -> Option<P> {
        // The rest of this cycle and one whole next cycle, at most.
        let tries = members.len().saturating_mul(2).saturating_add(1);
        for _ in 0..tries {
            let index = self.order.next_index(members.len(), rng)?;
            match members.get(index) {
                Some(peer) if peer != self.me && self.is_live(peer) => return Some(peer),
                _ => {}
            }
        }
        None
    }

    /// Up to `n` relays for an indirect probe of `target`: members we hold
    /// alive. A suspect may be dead (after a mass crash, one in ten or five
    /// members is), and a dead relay neither pings nor nacks. Over a partial
    /// view, the other links.
    fn relays_for(
        &self,
        target: P,
        members: &impl Membership<P>,
        rng: &mut Pcg64Mcg,
        n: usize,
    ) -> Vec<P> {
        let not_alive = self.overrides.len();
        let mut out: Vec<P> = members
            .sample(rng, n + not_alive.min(n * 4) + 1)
            .into_iter()
            .filter(|p| *p != target && *p != self.me && self.status(*p) == Status::Alive)
            .collect();
        out.truncate(n);
        out
    }

    /// Up to `n` distinct live members other than `except`, at random.
    pub(crate) fn sample_live(
        &self,
        members: &impl Membership<P>,
        rng: &mut Pcg64Mcg,
        n: usize,
        except: Option<P>,
    ) -> Vec<P> {
        // Draw a few extra to make up for dead ones, then filter.
        let dead = self.overrides.len();
        let mut out: Vec<P> = members
            .sample(rng, n + dead.min(n * 4) + usize::from(except.is_some()))
            .into_iter()
            .filter(|p| self.is_live(*p) && Some(*p) != except)
            .collect();
        out.truncate(n);
        out
    }
}

/// How soon an update must go out, 0 first: news about ourselves, and a
/// member alive in a later life (a refutation: until it arrives, the member
/// may be declared dead; these are few, so they starve nothing); then the
/// rest.
fn urgency<P: Peer>(update: &MemberUpdate<P>, me: P) -> u8 {
    let refutation = update.status == Status::Alive && update.incarnation > 0;
    u8::from(update.peer != me && !refutation)
}

fn log10_members(members: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = (members + 1) as f64;
    n.log10().max(1.0)
}

/// An update's encoded size (its wire form, proof included).
fn update_len<P: Serialize>(update: &MemberUpdate<P>) -> usize {
    rumor_crdt::codec::encoded_len(update).unwrap_or(usize::MAX)
}

/// How many times one membership update is piggybacked.
fn retransmit_limit(config: &Config, members: usize) -> u32 {
    let times = f64::from(config.retransmit_mult) * log10_members(members);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let times = times.ceil() as u32;
    times.max(1)
}

/// How long a suspect has to refute before it is declared dead, given how
/// many members independently suspect it (Lifeguard): from
/// `suspicion_max_mult ×` the minimum with one suspecter, down to the minimum
/// `suspicion_mult × log₁₀N` probe intervals once `K` confirm.
pub(crate) fn suspicion_timeout_ms(config: &Config, members: usize, suspecters: usize) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    let interval = config.probe_interval_ms as f64;
    let min = f64::from(config.suspicion_mult) * log10_members(members) * interval;
    let max = min * f64::from(config.suspicion_max_mult.max(1));
    #[allow(clippy::cast_precision_loss)]
    let confirmations = suspecters.saturating_sub(1).min(SUSPICION_CONFIRMATIONS) as f64;
    #[allow(clippy::cast_precision_loss)]
    let k = SUSPICION_CONFIRMATIONS as f64;
    let timeout = max - (max - min) * (confirmations + 1.0).ln() / (k + 1.0).ln();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = timeout.max(min) as u64;
    ms
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Implicit acks over a partial view: a link heard from within the
    /// window is not probed; of the others, the one heard from longest ago
    /// goes first (never heard before any); links gone are forgotten.
    #[test]
    fn the_link_probed_is_the_one_heard_from_longest_ago_and_none_while_all_were_heard() {
        let mut swim: Swim<u32> = Swim::new(0, 0, Config::default().advance(1 << 16));
        swim.set_local(true);
        let links = [1, 2, 3];
        swim.link_heard(1, 1_000, &links);
        swim.link_heard(2, 1_100, &links);
        swim.link_heard(9, 1_100, &links); // not a link: not recorded
        assert_eq!(swim.heard.len(), 2);
        // Never heard from: 3 first, whatever the cursor.
        for _ in 0..3 {
            assert_eq!(swim.next_link(&links, 1_200, 400), Some(3));
        }
        swim.link_heard(3, 1_200, &links);
        // All heard within 400 ms: no probe.
        assert_eq!(swim.next_link(&links, 1_300, 400), None);
        // 1 is quiet past the window; then 1 and 2, the older first.
        assert_eq!(swim.next_link(&links, 1_450, 400), Some(1));
        assert_eq!(swim.next_link(&links, 1_550, 400), Some(1));
        swim.link_heard(1, 1_550, &links);
        assert_eq!(swim.next_link(&links, 1_550, 400), Some(2));
        // Without implicit acks, every link in turn.
        let turns: Vec<_> = (0..3)
            .filter_map(|_| swim.next_link(&links, 1_550, 0))
            .collect();
        let mut sorted = turns.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, links, "in turn: {turns:?}");
        // A link gone is forgotten.
        assert_eq!(swim.next_link(&[2, 3], 1_550, 400), Some(2));
        assert!(swim.heard.iter().all(|(p, _)| *p != 1));
    }

    /// Who acks a probe in `missed_after`.
    enum Answer {
        Target,
        Relay,
        Nobody,
    }

    /// One probe of a full view of five, by a node that knows nothing
    /// yet, acked by `answer` 150 ms after the ping: past the ping timeout
    /// (100 ms), before the probe ends (200 ms). Returns the misses counted
    /// once the probe is over.
    fn missed_after(answer: &Answer) -> u64 {
        let config = Config::default();
        let mut members = crate::FullView::new(0, [1, 2, 3, 4, 5]);
        let mut swim: Swim<u32> = Swim::new(0, 0, config.advance(1 << 16));
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut events: Vec<Event<(), u32>> = Vec::new();
        let sent = swim.tick(1_000, &config, &members, &mut rng, &mut events);
        let (target, seq) = sent
            .iter()
            .find_map(|(to, p)| match p {
                Probe::Ping { seq } => Some((*to, *seq)),
                _ => None,
            })
            .expect("a ping");
        let asked = swim.tick(1_100, &config, &members, &mut rng, &mut events);
        let relay = asked
            .iter()
            .find(|(_, p)| matches!(p, Probe::PingReq { .. }))
            .map(|(to, _)| *to)
            .expect("ping requests at the timeout");
        assert_eq!(swim.missed_acks(), 0, "not counted at the timeout");
        let from = match answer {
            Answer::Target => Some(target),
            Answer::Relay => Some(relay),
            Answer::Nobody => None,
        };
        if let Some(from) = from {
            let ack = Probe::Ack { seq };
            swim.on_probe(from, ack, 1_150, &config, &mut members, &mut events);
        }
        swim.tick(1_250, &config, &members, &mut rng, &mut events);
        swim.tick(1_400, &config, &members, &mut rng, &mut events);
        swim.missed_acks()
    }

    /// What counts as a sign of loss (`Config::loss_memory_ms`): a probe
    /// its target never answered itself. An ack after the ping timeout is
    /// late, not lost: on two cores saturated by a thousand agents forming,
    /// counting late acks put most nodes in their lossy mode (two rounds of
    /// "I have"s, spare copies) for the first seconds of writes.
    #[test]
    fn a_late_ack_is_no_missed_ack_but_an_ack_through_a_relay_only_or_none_is() {
        assert_eq!(missed_after(&Answer::Target), 0, "the target answered late");
        assert_eq!(missed_after(&Answer::Relay), 1, "only a relay answered");
        assert_eq!(missed_after(&Answer::Nobody), 1, "nobody answered");
    }

    /// Law: every cycle of a probe order is a permutation of `0..len`, for
    /// explicit shuffles and keyed permutations alike.
    #[test]
    fn every_cycle_of_a_probe_order_is_a_permutation() {
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        for len in [
            1,
            2,
            3,
            5,
            16,
            17,
            1_000,
            LISTED_MAX,
            LISTED_MAX + 1,
            10_007,
        ] {
            let mut order = ProbeOrder::default();
            for cycle in 0..3 {
                let mut seen = vec![false; len];
                for _ in 0..len {
                    let i = order.next_index(len, &mut rng).expect("a non-empty view");
                    assert!(!seen[i], "len {len}, cycle {cycle}: index {i} twice");
                    seen[i] = true;
                }
            }
            // Keyed permutations at small sizes too.
            for _ in 0..3 {
                let bits = usize::BITS - len.saturating_sub(1).leading_zeros();
                let keyed = ProbeOrder {
                    len,
                    next: 0,
                    shuffle: Shuffle::Keyed {
                        half_bits: bits.div_ceil(2),
                        keys: [rng.random(), rng.random(), rng.random(), rng.random()],
                    },
                    seen: len,
                    joined: Vec::new(),
                };
                let mut all: Vec<usize> = (0..len).map(|p| keyed.at(p)).collect();
                all.sort_unstable();
                assert!(all.iter().copied().eq(0..len), "len {len}: keyed order");
            }
        }
        assert_eq!(ProbeOrder::default().next_index(0, &mut rng), None);
    }

    /// Law: the two-map claim store answers as one map of full entries
    /// would (the code before it): the same key, the same claim to pass on
    /// (maker and proof included), the same suspects and dead in the same
    /// order, after any sequence of inserts and removes, with plain,
    /// signed, relayed and suspect claims mixed.
    #[test]
    fn the_claim_store_answers_as_one_map_of_full_entries() {
        let signer = Identity::from_secret([7; 32]);
        let mut rng = Pcg64Mcg::seed_from_u64(13);
        let mut plain = 0;
        for _ in 0..200 {
            let mut claims = Claims::<u32>::new();
            let mut reference: BTreeMap<u32, Known<u32>> = BTreeMap::new();
            for _ in 0..100 {
                let peer = rng.random_range(0..16u32);
                if rng.random_bool(0.2) {
                    let want = reference.remove(&peer).map(|k| k.incarnation);
                    assert_eq!(claims.remove(&peer), want);
                } else {
                    let status = [Status::Alive, Status::Suspect, Status::Dead, Status::Left]
                        [rng.random_range(0..4)];
                    let by = if rng.random_bool(0.7) { peer } else { 99 };
                    let incarnation = rng.random_range(1..4);
                    let claim = MemberUpdate {
                        peer,
                        incarnation,
                        status,
                        by,
                        proof: None,
                    };
                    let proof = rng
                        .random_bool(0.3)
                        .then(|| signer.sign_claim(&claim))
                        .flatten()
                        .map(Box::new);
                    let suspecters = if status == Status::Suspect {
                        vec![by]
                    } else {
                        Vec::new()
                    };
                    let known = Known {
                        incarnation,
                        status,
                        by,
                        proof,
                        since_ms: 5,
                        suspecters,
                        checks: 0,
                    };
                    claims.insert(peer, known.clone());
                    // A plain "alive" takes the small map, and only it.
                    assert_eq!(
                        claims.raised.contains_key(&peer),
                        known.is_plain_alive(peer)
                    );
                    plain += usize::from(known.is_plain_alive(peer));
                    reference.insert(peer, known);
                }
                for peer in 0..16u32 {
                    let want = reference.get(&peer).map(|k| MemberUpdate {
                        peer,
                        incarnation: k.incarnation,
                        status: k.status,
                        by: k.by,
                        proof: k.proof.as_deref().copied(),
                    });
                    assert_eq!(claims.claim(peer), want);
                    let key = want.map_or((0, Status::Alive), |c| (c.incarnation, c.status));
                    assert_eq!(claims.key(&peer), key);
                    assert_eq!(claims.contains(&peer), want.is_some());
                }
                assert_eq!(claims.len(), reference.len());
                let not_alive: Vec<(u32, Status)> = claims
                    .full_entries()
                    .filter(|(_, k)| k.status != Status::Alive)
                    .map(|(p, k)| (*p, k.status))
                    .collect();
                let want: Vec<(u32, Status)> = reference
                    .iter()
                    .filter(|(_, k)| k.status != Status::Alive)
                    .map(|(p, k)| (*p, k.status))
                    .collect();
                assert_eq!(not_alive, want);
            }
        }
        assert!(
            plain > 1_000,
            "{plain} plain claims: the small map went untested"
        );
    }

    /// Law: the ordered queue picks what a vector sorted for every message
    /// picked (the code before it): the same updates, in the same order,
    /// after any sequence of pushes, expiries and takes.
    #[test]
    fn the_ordered_update_queue_picks_what_a_sorted_vector_picks() {
        let mut rng = Pcg64Mcg::seed_from_u64(12);
        for _ in 0..200 {
            let mut queue = UpdateQueue::<u32>::default();
            // (update, sent, rank, urgency)
            let mut reference: Vec<(MemberUpdate<u32>, u32, u64, u8)> = Vec::new();
            for _ in 0..100 {
                match rng.random_range(0..3) {
                    0 => {
                        let peer = rng.random_range(0..20u32);
                        let update = MemberUpdate {
                            peer,
                            incarnation: rng.random_range(0..3),
                            status: Status::Suspect,
                            by: 99,
                            proof: None,
                        };
                        let (urgency, rank) = (rng.random_range(0..2u8), mix(u64::from(peer)));
                        queue.push(update, urgency, rank);
                        reference.retain(|q| q.0.peer != peer);
                        reference.push((update, 0, rank, urgency));
                    }
                    1 => {
                        let limit = rng.random_range(1..6);
                        queue.expire(limit);
                        reference.retain(|q| q.1 < limit);
                    }
                    _ => {
                        let (n, counted) = (rng.random_range(0..8), rng.random_bool(0.8));
                        let mut got = Vec::new();
                        queue.take(n, (0, usize::MAX), counted, &mut got);
                        reference.sort_by_key(|q| (q.3, q.1, q.2));
                        let want: Vec<_> = reference.iter().take(n).map(|q| q.0).collect();
                        for q in reference.iter_mut().take(n) {
                            q.1 += u32::from(counted);
                        }
                        assert_eq!(got, want);
                    }
                }
                assert_eq!(queue.len(), reference.len());
            }
        }
    }

    /// A cycle drawn over less than half of the view starts over, over all
    /// of it: a joiner that probed its seed first (a cycle of one) and then
    /// learned 4 more members probes all 5 in the next 5 probes, the seed
    /// too. Before, the 4 joiners filled the seed's cycle and the seed came
    /// back only in the cycle after (1 time in 5 within those 5 probes).
    #[test]
    fn a_cycle_drawn_over_less_than_half_the_view_starts_over_with_every_member() {
        let mut rng = Pcg64Mcg::seed_from_u64(12);
        for _ in 0..200 {
            let mut order = ProbeOrder::default();
            assert_eq!(order.next_index(1, &mut rng), Some(0), "the seed, alone");
            let mut visited = [0u32; 5];
            for _ in 0..5 {
                visited[order.next_index(5, &mut rng).expect("a member")] += 1;
            }
            assert_eq!(visited, [1; 5], "each of the 5 members once, the seed too");
        }
        // A cycle drawn over half the view or more keeps its joiners: 2 of 10
        // taken, then 5 joined (5 ≤ 10): the cycle goes on.
        let mut order = ProbeOrder::default();
        for _ in 0..2 {
            order.next_index(10, &mut rng);
        }
        order.next_index(15, &mut rng);
        assert_eq!(order.len, 10, "not redrawn");
    }

    /// Members that join mid-cycle are probed in the same cycle, each
    /// once, among the probes left: the cycle of 10 members, 2 of them
    /// taken, then 3 joiners, ends after 8 + 3 probes having visited all 13
    /// once (and each joiner lands at varied places over many cycles).
    #[test]
    fn members_that_join_mid_cycle_are_probed_in_the_same_cycle_at_random_places() {
        let mut rng = Pcg64Mcg::seed_from_u64(11);
        let mut places = [0usize; 11];
        for _ in 0..200 {
            let mut order = ProbeOrder::default();
            let mut visited = vec![0u32; 13];
            for _ in 0..2 {
                visited[order.next_index(10, &mut rng).expect("a member")] += 1;
            }
            for place in &mut places {
                let i = order.next_index(13, &mut rng).expect("a member");
                visited[i] += 1;
                if i == 12 {
                    *place += 1;
                }
            }
            assert!(visited.iter().all(|&n| n == 1), "{visited:?}");
            assert_eq!(order.next, order.len, "the cycle is over");
        }
        // The last joiner was probed at every one of the 11 places left.
        assert!(places.iter().all(|&n| n > 0), "{places:?}");
    }
}
