//! HyParView partial views (Leitão, Pereira, Rodrigues, DSN 2007): each node
//! knows a small *active* view (its links: gossip, probes and the eager
//! path run over them) and a larger *passive* view (candidates to replace a
//! failed link), so memory and traffic per node stay O(log N) whatever the
//! cluster's size.
//!
//! - **Join.** A new node sends `Join` to a contact. The contact takes it into
//!   its active view and starts `ForwardJoin` random walks through its other
//!   active links; a walk ends (after `active_walk` hops, or at a node with a
//!   single link) with that node taking the joiner in too. On the way, at hop
//!   `passive_walk`, the joiner is put into a passive view. The contact also
//!   sends the joiner its links and a few passive peers (as a
//!   `ShuffleReply`), so the joiner's passive view starts out useful.
//! - **Links are symmetric.** Taking a peer into the active view sends it a
//!   `Neighbor` request (high priority: it must accept), and a full active view
//!   drops a random link, telling it with `Disconnect`.
//! - **Failure.** A link found dead is removed, and a random passive peer is
//!   asked with `Neighbor` (high priority when no link is left); a rejection
//!   or no answer within `neighbor_timeout_ms` moves on to the next.
//! - **Shuffle.** Every `shuffle_every_ms` (jittered), a node sends itself, `shuffle_active`
//!   active and `shuffle_passive` passive peers on a random walk; the walk's
//!   end answers with as many of its passive peers, and both merge what they
//!   got into their passive views.
//!
//! - **Requests from others are bounded** (issue 18: a member that lies). A
//!   request that would change the active view (a `Join`, the end of a
//!   `ForwardJoin` walk, a `Neighbor` request it would accept) spends a token
//!   of its sender's bucket ([`ViewConfig::request_burst`], one token back
//!   every [`ViewConfig::request_refill_ms`]); an empty bucket drops it and
//!   counts it ([`HyParView::refused_requests`]). The buckets are few
//!   (a full one is forgotten, at most 64 are kept), and honest join storms
//!   of 10,000 nodes in 500 ms stay under the default.
//! - **A reserve of links of its own.** A link the node asked for (its
//!   contact's answer to its `Join`, a passive peer that accepted its
//!   `Neighbor`) is *chosen*. A full view makes room by dropping a random
//!   link other than its [`ViewConfig::reserved_chosen`] kept ones: its
//!   chosen links first, and if it chose fewer, its oldest links held for
//!   [`ViewConfig::proven_link_ms`] (a made-up peer fails its probes before
//!   that). Forged walk ends (one every 100 ms, each naming a made-up
//!   joiner, from as many senders as the attacker likes) then displace
//!   only the rest: HyParView's own defence against an eclipse, which
//!   keeps a share of the view for links the node chose. The links of a
//!   join storm are all young, so the storm's displacements are as before.
//!   The rate limit alone still lets a made-up link in every second, and
//!   left the victim without an honest link in up to 4 % of samples, with
//!   writes delayed by seconds; it bounds what each sender costs
//!   (`tests/eclipse.rs`).
//!
//! The state machine takes time and randomness as arguments and returns the
//! messages to send; [`ViewEvent`]s tell the node which links came and went.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::membership::Membership;
use crate::membership::ViewMessages;
use crate::peer::Peer;

/// Unanswered peers remembered for a second strike, at most.
const MAX_STRIKES: usize = 8;

/// Senders whose view requests are metered at once, at most. A sender whose
/// bucket is full again is forgotten; past this many, the fullest bucket
/// goes (it says the least).
const MAX_METERED_SENDERS: usize = 64;

/// Shuffles whose answers a node waits for at most: answers to older ones
/// are taken as unasked for (a shuffle goes out every `shuffle_every_ms`,
/// and its answer comes within a walk's few hops).
const MAX_SHUFFLES_AWAITED: u8 = 3;

/// One sender's view requests: tokens left at `at_ms`.
#[derive(Clone, Copy, Debug)]
struct Bucket<P> {
    sender: P,
    tokens: u32,
    at_ms: u64,
}

/// Partial-view messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum View<P> {
    /// "Let me in": sent by a new node to its contact.
    Join,
    /// A random walk carrying a new node.
    ForwardJoin {
        /// The new node.
        joiner: P,
        /// Hops left.
        ttl: u8,
    },
    /// "Take me into your active view."
    Neighbor {
        /// How much the asker needs the link.
        priority: Priority,
    },
    /// The answer to [`View::Neighbor`].
    NeighborReply {
        /// Whether the sender took us in.
        accepted: bool,
    },
    /// "I dropped you from my active view."
    Disconnect,
    /// A random walk of peers to exchange with the walk's end.
    Shuffle {
        /// The node that started the walk (the answer goes to it).
        origin: P,
        /// Hops left.
        ttl: u8,
        /// The origin and some of its active and passive peers.
        peers: Vec<P>,
    },
    /// The walk's end answers with peers of its passive view.
    ShuffleReply {
        /// The peers.
        peers: Vec<P>,
    },
}

/// How a [`View::Neighbor`] request is weighed by a full active view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Priority {
    /// The asker has two links or more, and room for more: accepted only
    /// into a view with room, as in the paper. (If full views made room,
    /// every replacement would open a hole elsewhere, and holes would wander
    /// the overlay and keep cutting the eager tree.)
    Low,
    /// The asker has at most one link left, or is being joined: always
    /// accepted.
    High,
    /// A full view rewiring one link at random (see
    /// [`ViewConfig::refresh_probability`]): accepted into a full view with
    /// probability [`ViewConfig::accept_when_full`].
    Refresh,
    /// The asker is two links or more short and full views keep refusing
    /// it (see [`ViewConfig::escalate_after`]): taken into one slot over
    /// the active view's capacity, no link dropped for it. A full view
    /// that dropped one would leave its holder a link short, and holes
    /// would wander; near a node flooded with made-up peers, each honest
    /// link it lost so was lost for good (`tests/eclipse.rs`).
    Short,
}

/// A change of a view, for the layers that use it: a partial view's links
/// coming and going, and the members a full view was given rather than
/// learned from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewEvent<P> {
    /// A link came up.
    Up(P),
    /// A link went away (dropped, disconnected, or failed).
    Down(P),
    /// A full view was given this member: a seed it was built with, or a
    /// contact it was asked to join through. Reported once, as
    /// [`Event::MemberJoined`](crate::Event::MemberJoined).
    Joined(P),
}

/// HyParView's sizes and timings.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewConfig {
    /// Active view capacity (≈ log₁₀N + 1; the paper uses 5 for 10,000 nodes);
    /// one link more for a [`Priority::Short`] request.
    pub active: usize,
    /// Passive view capacity (≈ 6 × `active`).
    pub passive: usize,
    /// Length of the join walk.
    pub active_walk: u8,
    /// The join walk's hop at which the joiner enters a passive view.
    pub passive_walk: u8,
    /// Mean time between two shuffles (each wait is drawn from half to one
    /// and a half of it).
    pub shuffle_every_ms: u64,
    /// Active peers sent in a shuffle.
    pub shuffle_active: usize,
    /// Passive peers sent in a shuffle.
    pub shuffle_passive: usize,
    /// How long a `Neighbor` request may go unanswered before the next
    /// candidate is asked.
    pub neighbor_timeout_ms: u64,
    /// Peers taken from one received list, at most (a hostile list costs no
    /// more).
    pub max_peers_per_message: usize,
    /// At each shuffle, a node whose active view is full asks a random
    /// passive peer to become a link with this probability (a link is
    /// dropped to make room). Without it, a group of nodes whose links all
    /// point at each other (bootstrap storms and partitions make them) would
    /// stay cut off from the rest for good. Each refresh replaces two links
    /// and may cut the eager tree (healed at once, at the cost of duplicate
    /// payloads while it re-forms): at 10,000 nodes, 0.2 costs 1.32× the
    /// payload lower bound, 0.05 would cost 1.09× and 0 1.00×. But 0 leaves
    /// groups that formed apart during lossy joins apart, and with 0.05
    /// nearly every view is full, so a node left with two links finds no
    /// view with room for its `Low` requests (one stayed at two links for
    /// 5 s in `tests/partial_view.rs`): the holes refreshes open are where
    /// such nodes get back in.
    pub refresh_probability: f64,
    /// A full active view accepts a refresh request with this probability
    /// (dropping a random link to make room).
    pub accept_when_full: f64,
    /// View requests that would change the active view (a `Join`, a
    /// `ForwardJoin` whose walk ends here, a `Neighbor` request that would
    /// be accepted) taken from one sender in a burst, at most: each sender
    /// has a bucket of this many tokens, one spent per such request and one
    /// regained every `request_refill_ms`. A request that finds the bucket
    /// empty is dropped and counted (a `Neighbor` request is answered with
    /// a rejection, so an honest asker moves on at once); a walk that only
    /// passes through costs nothing. Join storms come closest: 10,000 nodes
    /// joining within 500 ms had no request dropped at 16, 2 at 8 and 367
    /// at 4 (`tests/eclipse.rs` checks it). 0 turns the
    /// limit off.
    pub request_burst: u32,
    /// The time in which one sender's bucket regains one token.
    pub request_refill_ms: u64,
    /// Links this node chose itself (its contact's answer to its `Join`,
    /// and the peers that accepted its `Neighbor` requests) that no request
    /// from others can displace: a full view makes room for a `Join`, the
    /// end of a `ForwardJoin` or a `High` `Neighbor` request by dropping a
    /// link it did not choose, or one of its own beyond this many. Without
    /// it, a stream of forged walks ending here (each naming a made-up
    /// joiner) replaces every honest link with a made-up one: an eclipse.
    /// A node that chose fewer keeps its oldest links proven by
    /// [`ViewConfig::proven_link_ms`] in their place. At most `active - 1`
    /// are kept, so a request from others always finds a link to displace,
    /// as in the paper. 0 turns the reserve off.
    pub reserved_chosen: usize,
    /// A link held this long counts as proven for the reserve: a made-up
    /// peer fails its probes sooner (about a second over five links), so it
    /// never becomes one, and the links of a join storm are all younger, so
    /// the reserve does not change which links the storm's requests
    /// displace.
    pub proven_link_ms: u64,
    /// A node two links or more short of a full active view whose `Low`
    /// requests were refused this many times in a row asks its next
    /// candidate with [`Priority::Short`], which a view takes into one slot
    /// over its capacity (so a view holds at most `active + 1` links). A
    /// mass crash can leave a few survivors linked only with each other:
    /// their views fill up with each other, their passive views hold live
    /// nodes outside, and those, all full, refuse `Low` requests. At 10,000
    /// nodes with every fifth crashed, such a group of 9 stayed apart for
    /// 5–10 s, until a periodic refresh reached outside. A node one link
    /// short does not escalate. 0 never escalates.
    pub escalate_after: u32,
    /// A full view that makes room (for a refresh, a joiner, a `High`
    /// request) drops, among the links it does not keep for the reserve,
    /// one the eager path does not run over if there is one
    /// ([`Membership::keep_links`](crate::Membership::keep_links): on the
    /// rooted tree, its parent and children). Each tree link dropped
    /// re-parents a subtree, whose ranks and adverts follow (1,000 nodes:
    /// about 300 parent changes a second, most set off by the refreshes).
    /// It also keeps a node's tree links against a flood of forged walks
    /// (`tests/eclipse.rs`). Off by default: after a fifth of 100,000
    /// nodes crashed, the survivors' overlay stayed split in two past the
    /// 2 s the scale test allows (a cut-off group's links to the rest are
    /// the ones it is not on its own tree by, so they are the first
    /// dropped); it needs a rule for such bridges first.
    pub keep_tree_links: bool,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            active: 5,
            passive: 30,
            active_walk: 6,
            passive_walk: 3,
            shuffle_every_ms: 2_000,
            shuffle_active: 3,
            shuffle_passive: 4,
            neighbor_timeout_ms: 300,
            max_peers_per_message: 32,
            refresh_probability: 0.2,
            accept_when_full: 0.5,
            request_burst: 16,
            request_refill_ms: 1_000,
            reserved_chosen: 2,
            proven_link_ms: 2_000,
            escalate_after: 3,
            keep_tree_links: false,
        }
    }
}

/// One node's partial views.
#[derive(Clone, Debug)]
pub struct HyParView<P> {
    me: P,
    config: ViewConfig,
    active: Vec<P>,
    passive: Vec<P>,
    /// The `Neighbor` (or `Join`) request in flight: `(peer, sent at)`.
    asking: Option<(P, u64)>,
    /// Passive peers that left a request unanswered once: a second time,
    /// they are dropped. One lost datagram is no proof of death, and a
    /// passive view emptied by losses could never replace a link again.
    strikes: Vec<P>,
    /// The nodes this one joined through: asked again while it has no link.
    contacts: Vec<P>,
    /// The contact of a join not answered yet. The join is sent again until
    /// the contact takes this node in: a node that took links from others
    /// first (it was their contact) would otherwise grow an overlay of its
    /// own, cut off from the contact's.
    joining: Option<P>,
    /// When the next periodic shuffle is due.
    next_shuffle_ms: u64,
    /// When this node last sent a shuffle.
    shuffled_at_ms: u64,
    /// The peers sent in our last shuffle: evicted first when its answer
    /// arrives.
    shuffled: Vec<P>,
    /// Shuffles sent whose answer has not come (at most
    /// `MAX_SHUFFLES_AWAITED`): an answer is taken for each.
    awaited: u8,
    events: Vec<ViewEvent<P>>,
    /// The links (a subset of `active`) this node asked for itself: see
    /// [`ViewConfig::reserved_chosen`].
    chosen: Vec<P>,
    /// Per-sender view request budgets: see [`ViewConfig::request_burst`].
    buckets: Vec<Bucket<P>>,
    /// View requests dropped by the rate limit.
    refused_requests: u64,
    /// When each link came up: `(link, at)`, one per active link.
    since: Vec<(P, u64)>,
    /// This node's `Neighbor` requests refused in a row (see
    /// [`ViewConfig::escalate_after`]).
    refused_in_row: u32,
    /// Links dropped to make room only when no other can be
    /// ([`Membership::keep_links`]).
    busy: Vec<P>,
}

impl<P: Peer> HyParView<P> {
    /// Empty views for node `me`.
    pub fn new(me: P, config: ViewConfig) -> Self {
        Self {
            me,
            config,
            active: Vec::new(),
            passive: Vec::new(),
            asking: None,
            strikes: Vec::new(),
            contacts: Vec::new(),
            joining: None,
            next_shuffle_ms: 0,
            shuffled_at_ms: 0,
            shuffled: Vec::new(),
            awaited: 0,
            events: Vec::new(),
            chosen: Vec::new(),
            buckets: Vec::new(),
            refused_requests: 0,
            since: Vec::new(),
            refused_in_row: 0,
            busy: Vec::new(),
        }
    }

    /// The links this node asked for itself (a subset of the active view).
    pub fn chosen(&self) -> &[P] {
        &self.chosen
    }

    /// View requests dropped because their sender ran over
    /// [`ViewConfig::request_burst`] (shuffle walks that end here
    /// included), and shuffle answers that no shuffle of this node asked
    /// for, from a peer that is neither its contact nor a link.
    pub fn refused_requests(&self) -> u64 {
        self.refused_requests
    }

    /// The active view: this node's links.
    pub fn active(&self) -> &[P] {
        &self.active
    }

    /// The passive view: candidates for new links.
    pub fn passive(&self) -> &[P] {
        &self.passive
    }

    /// The link changes since the last call.
    pub fn take_events(&mut self) -> Vec<ViewEvent<P>> {
        core::mem::take(&mut self.events)
    }

    /// Joins through `contact` at `now_ms`. The request is repeated every
    /// `neighbor_timeout_ms` until the contact answers.
    pub fn join(&mut self, contact: P, now_ms: u64) -> Vec<(P, View<P>)> {
        if contact == self.me {
            return Vec::new();
        }
        if !self.contacts.contains(&contact) {
            self.contacts.push(contact);
        }
        self.add_passive(contact);
        self.joining = Some(contact);
        self.asking = Some((contact, now_ms));
        vec![(contact, View::Join)]
    }

    /// A link was found dead (no answer to probes, or declared dead): drop
    /// it and ask a passive peer to replace it.
    pub fn failed(&mut self, peer: P, now_ms: u64, rng: &mut Pcg64Mcg) -> Vec<(P, View<P>)> {
        self.passive.retain(|p| *p != peer);
        if self.asking.is_some_and(|(p, _)| p == peer) {
            self.asking = None;
        }
        if self.remove_active(peer) {
            // If the peer is alive after all (the probes were lost), it drops
            // its side of the link too: links stay symmetric.
            let mut out = vec![(peer, View::Disconnect)];
            out.extend(self.ask_replacement(now_ms, rng));
            return out;
        }
        Vec::new()
    }

    /// Timers: a shuffle when due, a new candidate when a `Neighbor` request
    /// went unanswered or the active view has room.
    pub fn tick(&mut self, now_ms: u64, rng: &mut Pcg64Mcg) -> Vec<(P, View<P>)> {
        let mut out = Vec::new();
        if let Some((peer, since)) = self.asking {
            if now_ms >= since.saturating_add(self.config.neighbor_timeout_ms) {
                // No answer: the candidate is gone after a second strike.
                self.asking = None;
                if self.strikes.contains(&peer) {
                    self.strikes.retain(|p| *p != peer);
                    self.passive.retain(|p| *p != peer);
                } else {
                    if self.strikes.len() >= MAX_STRIKES {
                        self.strikes.remove(0);
                    }
                    self.strikes.push(peer);
                }
            }
        }
        if self.joining.is_none()
            && self.active.is_empty()
            && self.passive.is_empty()
            && !self.contacts.is_empty()
        {
            // Alone, with no candidate left: join again. (With candidates,
            // the `High` request below is always taken by a live one; a
            // contact may be dead, and a rejoin through it never answered:
            // at 100,000 nodes, one node out of 80,000 stayed alone so.)
            self.joining = Some(self.contacts[0]);
        }
        if let Some(contact) = self.joining {
            if self.asking.is_none() {
                // The join, or the contact's answer, was lost. A node with
                // several contacts tries them in turn.
                let contact = if self.contacts.len() > 1 {
                    self.contacts[rng.random_range(0..self.contacts.len())]
                } else {
                    contact
                };
                self.joining = Some(contact);
                self.asking = Some((contact, now_ms));
                out.push((contact, View::Join));
            }
            return out;
        }
        if self.active.len() < self.config.active {
            out.extend(self.ask_replacement(now_ms, rng));
        }
        // A node short of links with no candidate left shuffles at once (at
        // most once a neighbor timeout), not at its next period: its passive
        // view is where replacements come from. One that joined at the end
        // of a join storm had 3 links and no candidate for a whole second,
        // and when those 3 died it was alone for good (10,000 nodes, a
        // fifth of them crashed, `tests/partial_view.rs`).
        let starved = self.active.len() < self.config.active
            && self.passive.is_empty()
            && now_ms
                >= self
                    .shuffled_at_ms
                    .saturating_add(self.config.neighbor_timeout_ms);
        let due = now_ms >= self.next_shuffle_ms;
        if due || starved {
            // Jittered (half to one and a half periods): nodes that joined
            // together must not shuffle together, or the refreshes below
            // replace many links within one round, and a write then meets a
            // tree cut in many places at once. A node with no link yet sends
            // nothing, and shuffles as soon as it has one.
            let every = self.config.shuffle_every_ms;
            let next = now_ms + every / 2 + rng.random_range(0..=every);
            let shuffle = self.start_shuffle(rng);
            if !shuffle.is_empty() {
                self.next_shuffle_ms = next;
                self.shuffled_at_ms = now_ms;
            }
            out.extend(shuffle);
        }
        if due {
            let full = self.active.len() >= self.config.active;
            if full && rng.random_bool(self.config.refresh_probability.clamp(0.0, 1.0)) {
                out.extend(self.ask_passive(Priority::Refresh, now_ms, rng));
            }
        }
        out
    }

    /// Handles a message from `from`; returns what to send.
    pub fn handle(
        &mut self,
        from: P,
        message: View<P>,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(P, View<P>)> {
        let mut out = Vec::new();
        if from == self.me {
            return out;
        }
        // A peer this node asked (its contact, a passive peer) answers with
        // a `Neighbor` request: that is no request of the peer's own.
        let asked = self.asking.is_some_and(|(p, _)| p == from) || self.joining == Some(from);
        match message {
            View::Join if !self.admit(from, now_ms) => {}
            View::Join => {
                // Seed the joiner's passive view with this node's links and
                // some of its candidates: a node that joined just before
                // a fifth of the cluster crashed may otherwise have no live
                // candidate left to replace its links with.
                let mut seed: Vec<P> = self.active.clone();
                seed.extend(self.random_passive(rng, self.config.shuffle_passive * 2));
                seed.retain(|p| *p != from);
                out.extend(self.add_active(from, false, now_ms, rng));
                out.push((
                    from,
                    View::Neighbor {
                        priority: Priority::High,
                    },
                ));
                if !seed.is_empty() {
                    out.push((from, View::ShuffleReply { peers: seed }));
                }
                let walk = self.config.active_walk;
                for &peer in &self.active {
                    if peer != from {
                        out.push((
                            peer,
                            View::ForwardJoin {
                                joiner: from,
                                ttl: walk,
                            },
                        ));
                    }
                }
            }
            View::ForwardJoin { joiner, ttl } => {
                if joiner == self.me {
                    return out;
                }
                if ttl == 0 || self.active.len() <= 1 {
                    out.extend(self.end_walk(from, joiner, now_ms, rng));
                } else {
                    if ttl == self.config.passive_walk {
                        self.add_passive(joiner);
                    }
                    let next = self.random_active(rng, &[from, joiner]);
                    match next {
                        Some(next) => out.push((
                            next,
                            View::ForwardJoin {
                                joiner,
                                ttl: ttl - 1,
                            },
                        )),
                        None => out.extend(self.end_walk(from, joiner, now_ms, rng)),
                    }
                }
            }
            View::Neighbor { priority } => {
                let accepted = self.active.contains(&from)
                    || self.active.len() < self.config.active
                    || match priority {
                        Priority::High => true,
                        Priority::Low => false,
                        Priority::Refresh => {
                            rng.random_bool(self.config.accept_when_full.clamp(0.0, 1.0))
                        }
                        Priority::Short => self.active.len() <= self.config.active,
                    };
                // Only a request that changes the view spends a token.
                let takes = !self.active.contains(&from);
                let accepted = accepted && (!takes || asked || self.admit(from, now_ms));
                if accepted {
                    // A short node's request takes the slot over capacity.
                    let over = usize::from(priority == Priority::Short);
                    let capacity = self.config.active.saturating_add(over);
                    out.extend(self.add_active_up_to(from, asked, capacity, now_ms, rng));
                }
                out.push((from, View::NeighborReply { accepted }));
            }
            View::NeighborReply { accepted } => {
                let asked = self.asking.is_some_and(|(p, _)| p == from);
                if asked {
                    self.asking = None;
                }
                // A rejection waits for the next tick before the next
                // candidate is asked: one request per tick, never a storm.
                if asked {
                    self.refused_in_row = if accepted {
                        0
                    } else {
                        self.refused_in_row.saturating_add(1)
                    };
                }
                if accepted && asked {
                    out.extend(self.add_active(from, true, now_ms, rng));
                } else if accepted && !self.active.contains(&from) {
                    // The peer took us in, but we dropped it since (or gave up
                    // waiting): undo its side, or the link is one-way.
                    out.push((from, View::Disconnect));
                }
            }
            View::Disconnect => {
                if self.remove_active(from) {
                    self.add_passive(from);
                }
            }
            View::Shuffle { origin, ttl, peers } => {
                let peers = self.bounded(peers);
                let next = self.random_active(rng, &[from, origin]);
                match next {
                    Some(next) if ttl > 0 && self.active.len() > 1 => out.push((
                        next,
                        View::Shuffle {
                            origin,
                            ttl: ttl - 1,
                            peers,
                        },
                    )),
                    // The walk ends here: its peers would enter the passive
                    // view, so it is a view request of its last sender's.
                    _ if origin != self.me && self.admit(from, now_ms) => {
                        let answer = self.random_passive(rng, peers.len());
                        out.push((
                            origin,
                            View::ShuffleReply {
                                peers: answer.clone(),
                            },
                        ));
                        self.merge_passive(&peers, &answer);
                    }
                    _ => {}
                }
            }
            View::ShuffleReply { peers } => {
                // Taken as the answer to this node's shuffle in flight (one
                // answer per shuffle), or from its contact or a link within
                // their request budget (a join's seeds); anything else is
                // a flood of made-up peers into the passive view.
                let known = self.contacts.contains(&from) || self.active.contains(&from);
                let taken = if known {
                    self.admit(from, now_ms)
                } else if self.awaited > 0 {
                    self.awaited -= 1;
                    true
                } else {
                    false
                };
                if taken {
                    let peers = self.bounded(peers);
                    let sent = core::mem::take(&mut self.shuffled);
                    self.merge_passive(&peers, &sent);
                } else if !known {
                    self.refused_requests += 1;
                }
            }
        }
        out
    }

    fn bounded(&self, mut peers: Vec<P>) -> Vec<P> {
        peers.truncate(self.config.max_peers_per_message);
        peers
    }

    /// A join walk from `from` ends here: takes `joiner` in, unless `from`
    /// ran over its budget of view requests.
    fn end_walk(
        &mut self,
        from: P,
        joiner: P,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(P, View<P>)> {
        if self.active.contains(&joiner) || !self.admit(from, now_ms) {
            return Vec::new();
        }
        let mut out = self.add_active(joiner, false, now_ms, rng);
        out.push((
            joiner,
            View::Neighbor {
                priority: Priority::High,
            },
        ));
        out
    }

    /// Whether `from` may send one more view request that changes the
    /// active view at `now_ms`, by its bucket
    /// ([`ViewConfig::request_burst`]); spends a token if so, counts a
    /// refusal if not.
    fn admit(&mut self, from: P, now_ms: u64) -> bool {
        let burst = self.config.request_burst;
        if burst == 0 {
            return true;
        }
        let every = self.config.request_refill_ms.max(1);
        let level = |b: &Bucket<P>| {
            let gained = now_ms.saturating_sub(b.at_ms) / every;
            u64::from(b.tokens)
                .saturating_add(gained)
                .min(u64::from(burst))
        };
        // A full bucket says nothing: forget its sender.
        self.buckets.retain(|b| level(b) < u64::from(burst));
        let i = match self.buckets.iter().position(|b| b.sender == from) {
            Some(i) => i,
            None => {
                if self.buckets.len() >= MAX_METERED_SENDERS {
                    let fullest = (0..self.buckets.len()).max_by_key(|&i| level(&self.buckets[i]));
                    if let Some(i) = fullest {
                        self.buckets.swap_remove(i);
                    }
                }
                self.buckets.push(Bucket {
                    sender: from,
                    tokens: burst,
                    at_ms: now_ms,
                });
                self.buckets.len() - 1
            }
        };
        let bucket = &mut self.buckets[i];
        let gained = now_ms.saturating_sub(bucket.at_ms) / every;
        let tokens = u64::from(bucket.tokens).saturating_add(gained);
        if tokens >= u64::from(burst) {
            bucket.tokens = burst;
            bucket.at_ms = now_ms;
        } else {
            // Keep the part of an interval already waited.
            bucket.tokens = u32::try_from(tokens).unwrap_or(burst);
            bucket.at_ms = bucket.at_ms.saturating_add(gained * every);
        }
        if bucket.tokens == 0 {
            self.refused_requests += 1;
            return false;
        }
        bucket.tokens -= 1;
        true
    }

    /// The chosen links kept from displacement: at most all links but one,
    /// so that a request from others always finds one to displace.
    fn reserved(&self) -> usize {
        self.config
            .reserved_chosen
            .min(self.config.active.max(1) - 1)
    }

    /// The links a full view keeps when it makes room at `now_ms`: up to
    /// [`ViewConfig::reserved_chosen`] links, those this node chose first,
    /// then, if it chose fewer, its oldest links held for at least
    /// [`ViewConfig::proven_link_ms`]. A made-up link fails its probes
    /// within a second or two, so it never grows old; an honest one does.
    fn kept(&self, now_ms: u64) -> Vec<P> {
        let reserved = self.reserved();
        let mut kept: Vec<P> = self.chosen.iter().copied().take(reserved).collect();
        // Before `proven_link_ms` has passed, no link is proven yet.
        let proven = now_ms.checked_sub(self.config.proven_link_ms);
        let mut old: Vec<(P, u64)> = self
            .since
            .iter()
            .copied()
            .filter(|&(p, at)| proven.is_some_and(|t| at <= t) && !kept.contains(&p))
            .collect();
        old.sort_by_key(|&(_, at)| at);
        let room = reserved - kept.len();
        kept.extend(old.into_iter().take(room).map(|(p, _)| p));
        kept
    }

    /// Takes `peer` into the active view, dropping a random link if full;
    /// `chosen` says whether this node asked for it. The links
    /// [`Self::kept`] names are never the one dropped, and the eager path's
    /// ([`Membership::keep_links`]) only when every other is kept.
    fn add_active(
        &mut self,
        peer: P,
        chosen: bool,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(P, View<P>)> {
        self.add_active_up_to(peer, chosen, self.config.active, now_ms, rng)
    }

    /// [`Self::add_active`] into a view of `capacity` links (the active
    /// view's, or one more for a [`Priority::Short`] request).
    fn add_active_up_to(
        &mut self,
        peer: P,
        chosen: bool,
        capacity: usize,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(P, View<P>)> {
        let mut out = Vec::new();
        if peer == self.me || self.active.contains(&peer) {
            return out;
        }
        if self.active.len() >= capacity.max(1) {
            let kept = self.kept(now_ms);
            let mut droppable: Vec<usize> = (0..self.active.len())
                .filter(|&i| !kept.contains(&self.active[i]))
                .collect();
            // A refresh or a newcomer takes the place of a link that
            // carries no pushes if there is one: each tree link dropped
            // re-parents a subtree, its ranks and adverts following.
            if self.config.keep_tree_links
                && droppable
                    .iter()
                    .any(|&i| !self.busy.contains(&self.active[i]))
            {
                droppable.retain(|&i| !self.busy.contains(&self.active[i]));
            }
            let i = match pick(rng, &droppable, 1).first() {
                Some(&i) => i,
                None => rng.random_range(0..self.active.len()),
            };
            let dropped = self.active.swap_remove(i);
            self.chosen.retain(|p| *p != dropped);
            self.since.retain(|(p, _)| *p != dropped);
            self.events.push(ViewEvent::Down(dropped));
            self.add_passive(dropped);
            out.push((dropped, View::Disconnect));
        }
        self.passive.retain(|p| *p != peer);
        self.strikes.retain(|p| *p != peer);
        if self.asking.is_some_and(|(p, _)| p == peer) {
            self.asking = None;
        }
        if self.joining == Some(peer) {
            self.joining = None;
        }
        self.active.push(peer);
        self.since.push((peer, now_ms));
        if chosen {
            self.chosen.push(peer);
        }
        self.events.push(ViewEvent::Up(peer));
        out
    }

    fn remove_active(&mut self, peer: P) -> bool {
        let before = self.active.len();
        self.active.retain(|p| *p != peer);
        self.chosen.retain(|p| *p != peer);
        self.since.retain(|(p, _)| *p != peer);
        let removed = self.active.len() != before;
        if removed {
            self.events.push(ViewEvent::Down(peer));
        }
        removed
    }

    fn add_passive(&mut self, peer: P) {
        if peer == self.me || self.active.contains(&peer) || self.passive.contains(&peer) {
            return;
        }
        if self.passive.len() >= self.config.passive.max(1) {
            self.passive.remove(0);
        }
        self.passive.push(peer);
    }

    /// Adds received peers to the passive view, evicting `prefer_evict`
    /// first when full.
    fn merge_passive(&mut self, received: &[P], prefer_evict: &[P]) {
        for &peer in received {
            if peer == self.me || self.active.contains(&peer) || self.passive.contains(&peer) {
                continue;
            }
            if self.passive.len() >= self.config.passive.max(1) {
                match self.passive.iter().position(|p| prefer_evict.contains(p)) {
                    Some(i) => {
                        self.passive.remove(i);
                    }
                    None => {
                        self.passive.remove(0);
                    }
                }
            }
            self.passive.push(peer);
        }
    }

    /// Asks a random passive peer to become a link, unless a request is in
    /// flight already.
    fn ask_replacement(&mut self, now_ms: u64, rng: &mut Pcg64Mcg) -> Vec<(P, View<P>)> {
        // A node down to one link asks with high priority too: one more lost
        // link would leave it alone. One two links short whose requests
        // keep being refused may be in a group cut off from the rest: it
        // asks for a slot over capacity.
        let escalate = self.config.escalate_after;
        let priority = if self.active.len() <= 1 {
            Priority::High
        } else if escalate > 0
            && self.active.len().saturating_add(2) <= self.config.active
            && self.refused_in_row >= escalate
        {
            Priority::Short
        } else {
            Priority::Low
        };
        self.ask_passive(priority, now_ms, rng)
    }

    /// Asks a random passive peer to become a link with `priority`, unless a
    /// request is in flight already.
    fn ask_passive(
        &mut self,
        priority: Priority,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(P, View<P>)> {
        if self.asking.is_some() || self.passive.is_empty() {
            return Vec::new();
        }
        let i = rng.random_range(0..self.passive.len());
        let peer = self.passive[i];
        self.asking = Some((peer, now_ms));
        vec![(peer, View::Neighbor { priority })]
    }

    fn start_shuffle(&mut self, rng: &mut Pcg64Mcg) -> Vec<(P, View<P>)> {
        let Some(target) = self.random_active(rng, &[]) else {
            return Vec::new();
        };
        let mut peers = vec![self.me];
        let active: Vec<P> = self
            .active
            .iter()
            .copied()
            .filter(|p| *p != target)
            .collect();
        peers.extend(pick(rng, &active, self.config.shuffle_active));
        peers.extend(self.random_passive(rng, self.config.shuffle_passive));
        self.shuffled = peers.clone();
        self.awaited = (self.awaited + 1).min(MAX_SHUFFLES_AWAITED);
        vec![(
            target,
            View::Shuffle {
                origin: self.me,
                ttl: self.config.active_walk,
                peers,
            },
        )]
    }

    fn random_active(&self, rng: &mut Pcg64Mcg, except: &[P]) -> Option<P> {
        let candidates: Vec<P> = self
            .active
            .iter()
            .copied()
            .filter(|p| !except.contains(p))
            .collect();
        pick(rng, &candidates, 1).first().copied()
    }

    fn random_passive(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P> {
        pick(rng, &self.passive, n)
    }
}

/// A partial view as a node's membership: gossip, probes and the eager path
/// use the active view's links.
impl<P: Peer> Membership<P> for HyParView<P> {
    /// A message from an unknown peer does not make it a link: links are
    /// made by the join and `Neighbor` protocol only.
    fn observe(&mut self, _peer: P) -> bool {
        false
    }

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P> {
        pick(rng, &self.active, n)
    }

    fn len(&self) -> usize {
        self.active.len()
    }

    fn get(&self, index: usize) -> Option<P> {
        self.active.get(index).copied()
    }

    fn links(&self) -> Option<&[P]> {
        Some(&self.active)
    }

    fn join(&mut self, contact: P, now_ms: u64, _rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        HyParView::join(self, contact, now_ms)
    }

    fn tick(&mut self, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        HyParView::tick(self, now_ms, rng)
    }

    fn handle(
        &mut self,
        from: P,
        message: View<P>,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> ViewMessages<P> {
        HyParView::handle(self, from, message, now_ms, rng)
    }

    fn failed(&mut self, peer: P, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        HyParView::failed(self, peer, now_ms, rng)
    }

    fn take_events(&mut self) -> Vec<ViewEvent<P>> {
        HyParView::take_events(self)
    }

    fn refused_requests(&self) -> u64 {
        HyParView::refused_requests(self)
    }

    fn keep_links(&mut self, links: &[P]) {
        self.busy.clear();
        self.busy.extend_from_slice(links);
    }
}

/// Up to `n` distinct items of `items`, at random.
fn pick<P: Copy>(rng: &mut Pcg64Mcg, items: &[P], n: usize) -> Vec<P> {
    let mut indices: Vec<usize> = (0..items.len()).collect();
    let n = n.min(items.len());
    for i in 0..n {
        let j = rng.random_range(i..indices.len());
        indices.swap(i, j);
    }
    indices[..n].iter().map(|&i| items[i]).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, VecDeque};

    use rand::SeedableRng;

    use super::*;

    /// A lossless network of `n` views, driven by hand.
    struct Net {
        views: BTreeMap<u32, HyParView<u32>>,
        wire: VecDeque<(u32, u32, View<u32>)>,
        rng: Pcg64Mcg,
        now: u64,
        down: BTreeSet<u32>,
    }

    impl Net {
        fn new() -> Self {
            Self {
                views: BTreeMap::new(),
                wire: VecDeque::new(),
                rng: Pcg64Mcg::seed_from_u64(7),
                now: 0,
                down: BTreeSet::new(),
            }
        }

        fn send(&mut self, from: u32, out: Vec<(u32, View<u32>)>) {
            for (to, message) in out {
                self.wire.push_back((from, to, message));
            }
        }

        fn deliver(&mut self) {
            while let Some((from, to, message)) = self.wire.pop_front() {
                if self.down.contains(&to) {
                    continue;
                }
                let Some(view) = self.views.get_mut(&to) else {
                    continue;
                };
                let out = view.handle(from, message, self.now, &mut self.rng);
                self.send(to, out);
            }
        }

        fn join(&mut self, node: u32, contact: u32) {
            let mut view = HyParView::new(node, ViewConfig::default());
            let out = view.join(contact, self.now);
            self.views.insert(node, view);
            self.send(node, out);
            self.deliver();
        }

        fn tick_all(&mut self) {
            self.now += 100;
            let ids: Vec<u32> = self.views.keys().copied().collect();
            for id in ids {
                if self.down.contains(&id) {
                    continue;
                }
                let view = self.views.get_mut(&id).unwrap_or_else(|| unreachable!());
                let out = view.tick(self.now, &mut self.rng);
                self.send(id, out);
            }
            self.deliver();
        }

        /// The live nodes reachable from `start` over active links.
        fn component(&self, start: u32) -> BTreeSet<u32> {
            let mut seen = BTreeSet::from([start]);
            let mut todo = vec![start];
            while let Some(node) = todo.pop() {
                for &next in self.views[&node].active() {
                    if !self.down.contains(&next) && seen.insert(next) {
                        todo.push(next);
                    }
                }
            }
            seen
        }
    }

    fn grown(n: u32) -> Net {
        let mut net = Net::new();
        net.views
            .insert(0, HyParView::new(0, ViewConfig::default()));
        for node in 1..n {
            let contact = node * 7 % node;
            net.join(node, contact);
            if node % 10 == 0 {
                net.tick_all();
            }
        }
        for _ in 0..30 {
            net.tick_all();
        }
        net
    }

    #[test]
    fn joined_nodes_form_one_component_with_bounded_symmetric_views() {
        let net = grown(300);
        assert_eq!(net.component(0).len(), 300);
        for (id, view) in &net.views {
            assert!(!view.active().is_empty(), "node {id} has no link");
            assert!(view.active().len() <= 6 && view.passive().len() <= 30);
            assert!(!view.active().contains(id) && !view.passive().contains(id));
            for peer in view.active() {
                assert!(
                    net.views[peer].active().contains(id),
                    "link {id} -> {peer} is one-sided"
                );
            }
        }
        // Shuffles filled the passive views.
        let mean_passive =
            net.views.values().map(|v| v.passive().len()).sum::<usize>() as f64 / 300.0;
        assert!(
            mean_passive > 10.0,
            "passive views hold {mean_passive:.1} on average"
        );
    }

    #[test]
    fn a_joiner_gets_candidates_from_its_contact_at_once() {
        let mut net = grown(50);
        net.join(50, 3);
        let passive = net.views[&50].passive();
        let contact_links = net.views[&3].active().len();
        assert!(
            passive.len() >= contact_links,
            "passive {passive:?} after a join through a node with {contact_links} links"
        );
    }

    fn shuffles(out: &[(u32, View<u32>)]) -> usize {
        out.iter()
            .filter(|(_, message)| matches!(message, View::Shuffle { .. }))
            .count()
    }

    #[test]
    fn a_node_that_ticked_before_its_first_link_shuffles_as_soon_as_it_has_one() {
        let mut net = grown(50);
        // Its first round comes before the join is answered: nothing to
        // shuffle with yet. That must not put its first shuffle off by a
        // whole period (1-3 s), in which its passive view stays empty.
        let mut view = HyParView::new(50, ViewConfig::default());
        assert_eq!(shuffles(&view.tick(net.now, &mut net.rng)), 0);
        let out = view.join(3, net.now);
        net.views.insert(50, view);
        net.send(50, out);
        net.deliver();
        assert!(!net.views[&50].active().is_empty());
        net.now += 100;
        let now = net.now;
        let view = net.views.get_mut(&50).unwrap_or_else(|| unreachable!());
        let out = view.tick(now, &mut net.rng);
        assert_eq!(shuffles(&out), 1, "{out:?}");
    }

    #[test]
    fn a_node_short_of_links_with_no_candidate_shuffles_at_once_and_at_most_once_a_timeout() {
        let mut net = grown(50);
        let now = net.now;
        let timeout = ViewConfig::default().neighbor_timeout_ms;
        let view = net.views.get_mut(&7).unwrap_or_else(|| unreachable!());
        // Between two periodic shuffles, short of links, no candidate left.
        view.next_shuffle_ms = now + 10_000;
        view.passive.clear();
        while view.active.len() >= ViewConfig::default().active {
            view.active.pop();
        }
        assert!(!view.active.is_empty());
        let out = view.tick(now, &mut net.rng);
        assert_eq!(shuffles(&out), 1, "{out:?}");
        // Still no candidate (the answer is not in yet): not again before
        // a neighbor timeout has passed, and again once it has.
        let out = view.tick(now + timeout - 1, &mut net.rng);
        assert_eq!(shuffles(&out), 0, "{out:?}");
        let out = view.tick(now + timeout, &mut net.rng);
        assert_eq!(shuffles(&out), 1, "{out:?}");
    }

    /// The `Neighbor` request in `out`, if any: its target and priority.
    fn request(out: &[(u32, View<u32>)]) -> Option<(u32, Priority)> {
        out.iter().find_map(|(to, message)| match message {
            View::Neighbor { priority } => Some((*to, *priority)),
            _ => None,
        })
    }

    #[test]
    fn a_node_two_links_short_asks_for_a_slot_over_capacity_after_refusals_in_a_row_and_one_short_never(
    ) {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let config = ViewConfig::default();
        let after = config.escalate_after;
        assert!(after > 0);
        let mut view = HyParView::new(1u32, config.clone());
        view.active = vec![2, 3, 4];
        view.passive = (10..20).collect();
        view.next_shuffle_ms = u64::MAX / 2;
        let mut now = 1_000;
        // Refused `after` times: then the next request is `Short`.
        let mut priorities = Vec::new();
        for _ in 0..=after {
            let (to, priority) = request(&view.tick(now, &mut rng)).expect("a request");
            priorities.push(priority);
            view.handle(to, View::NeighborReply { accepted: false }, now, &mut rng);
            now += 100;
        }
        let mut expected = vec![Priority::Low; after as usize];
        expected.push(Priority::Short);
        assert_eq!(priorities, expected);
        // Taken: four links, one short. However often it is refused now,
        // it asks with `Low` priority.
        let (to, _) = request(&view.tick(now, &mut rng)).expect("a request");
        view.handle(to, View::NeighborReply { accepted: true }, now, &mut rng);
        assert_eq!(view.active().len(), 4);
        for _ in 0..2 * after {
            now += 100;
            let (to, priority) = request(&view.tick(now, &mut rng)).expect("a request");
            assert_eq!(priority, Priority::Low);
            view.handle(to, View::NeighborReply { accepted: false }, now, &mut rng);
        }
        // Turned off, never.
        let mut off = HyParView::new(
            1u32,
            ViewConfig {
                escalate_after: 0,
                ..config
            },
        );
        off.active = vec![2, 3];
        off.passive = (10..20).collect();
        off.next_shuffle_ms = u64::MAX / 2;
        for _ in 0..10 {
            now += 100;
            let (to, priority) = request(&off.tick(now, &mut rng)).expect("a request");
            assert_eq!(priority, Priority::Low);
            off.handle(to, View::NeighborReply { accepted: false }, now, &mut rng);
        }
    }

    #[test]
    fn a_full_view_takes_a_short_request_into_one_slot_over_capacity_dropping_no_link() {
        let mut rng = Pcg64Mcg::seed_from_u64(6);
        let mut view = HyParView::new(1u32, ViewConfig::default());
        view.active = vec![2, 3, 4, 5, 6];
        let short = |priority| View::Neighbor { priority };
        // `Low` is refused by a full view, `Short` taken with nothing dropped.
        let out = view.handle(7, short(Priority::Low), 0, &mut rng);
        assert!(out.contains(&(7, View::NeighborReply { accepted: false })));
        let out = view.handle(7, short(Priority::Short), 0, &mut rng);
        assert!(out.contains(&(7, View::NeighborReply { accepted: true })));
        assert!(!out.iter().any(|(_, m)| *m == View::Disconnect), "{out:?}");
        assert_eq!(view.active(), [2, 3, 4, 5, 6, 7]);
        // Over capacity already: the next is refused.
        let out = view.handle(8, short(Priority::Short), 0, &mut rng);
        assert!(out.contains(&(8, View::NeighborReply { accepted: false })));
        assert_eq!(view.active().len(), 6);
        // A `High` request still makes room, within the capacity plus one.
        view.handle(9, short(Priority::High), 0, &mut rng);
        assert_eq!(view.active().len(), 6);
        assert!(view.active().contains(&9));
    }

    #[test]
    fn a_full_view_makes_room_by_dropping_a_link_the_eager_path_does_not_run_over() {
        let high = View::Neighbor {
            priority: Priority::High,
        };
        for seed in 0..50 {
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            let config = ViewConfig {
                keep_tree_links: true,
                ..ViewConfig::default()
            };
            let mut view = HyParView::new(1u32, config);
            view.active = vec![2, 3, 4, 5, 6];
            Membership::keep_links(&mut view, &[2, 3, 5, 6]);
            let out = view.handle(7, high.clone(), 0, &mut rng);
            // Link 4 is the only one that carries no pushes: it makes room.
            assert!(out.contains(&(4, View::Disconnect)), "seed {seed}: {out:?}");
            assert_eq!(view.active().len(), 5);
            // With every link busy, one of them makes room all the same.
            Membership::keep_links(&mut view, &[2, 3, 5, 6, 7]);
            view.handle(8, high.clone(), 0, &mut rng);
            assert!(view.active().contains(&8));
            assert_eq!(view.active().len(), 5);
        }
    }

    #[test]
    fn a_node_whose_contact_and_links_all_died_relinks_through_its_passive_view() {
        let mut net = grown(60);
        net.join(60, 0);
        for _ in 0..5 {
            net.tick_all();
        }
        // The contact and every link die at once.
        let dead: Vec<u32> = net.views[&60].active().to_vec();
        net.down.insert(0);
        net.down.extend(dead.iter().copied());
        assert!(net.views[&60]
            .passive()
            .iter()
            .any(|p| !net.down.contains(p)));
        for peer in dead {
            let now = net.now;
            let view = net.views.get_mut(&60).unwrap_or_else(|| unreachable!());
            let out = view.failed(peer, now, &mut net.rng);
            net.send(60, out);
        }
        net.deliver();
        // A `High` request every neighbor timeout (300 ms), dead candidates
        // struck off, never a join through the dead contact.
        for _ in 0..30 {
            net.tick_all();
        }
        let links = net.views[&60].active();
        assert!(!links.is_empty(), "node 60 is still alone");
        assert!(links.iter().all(|p| !net.down.contains(p)), "{links:?}");
    }

    #[test]
    fn failed_links_are_replaced_and_one_component_survives_a_fifth_dying() {
        let mut net = grown(300);
        for node in (0..300).step_by(5) {
            net.down.insert(node);
        }
        // Every live node hears of its dead links (as a failure detector
        // would tell it) and asks passive peers to replace them.
        for _ in 0..10 {
            let ids: Vec<u32> = net.views.keys().copied().collect();
            for id in ids {
                if net.down.contains(&id) {
                    continue;
                }
                let dead: Vec<u32> = net.views[&id]
                    .active()
                    .iter()
                    .copied()
                    .filter(|p| net.down.contains(p))
                    .collect();
                for peer in dead {
                    let now = net.now;
                    let view = net.views.get_mut(&id).unwrap_or_else(|| unreachable!());
                    let out = view.failed(peer, now, &mut net.rng);
                    net.send(id, out);
                }
            }
            net.deliver();
            net.tick_all();
        }
        let live = 300 - net.down.len();
        assert_eq!(
            net.component(1).len(),
            live,
            "the live nodes form one component"
        );
        let links: usize = net
            .views
            .iter()
            .filter(|(id, _)| !net.down.contains(id))
            .map(|(_, v)| v.active().len())
            .sum();
        assert!(
            links as f64 / live as f64 > 3.0,
            "{links} links for {live} nodes"
        );
        for (id, view) in &net.views {
            if !net.down.contains(id) {
                assert!(view.active().iter().all(|p| !net.down.contains(p)));
                assert!(!view.active().is_empty(), "node {id} lost every link");
            }
        }
    }

    #[test]
    fn hostile_lists_are_truncated_and_self_is_never_a_peer() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut view = HyParView::new(1u32, ViewConfig::default());
        let _ = view.join(2, 0); // a contact's answer is taken
        let flood: Vec<u32> = (0..10_000).collect();
        view.handle(2, View::ShuffleReply { peers: flood }, 0, &mut rng);
        assert_eq!(view.refused_requests(), 0);
        assert!(view.passive().len() <= 30);
        assert!(!view.passive().contains(&1));
        let out = view.handle(2, View::ForwardJoin { joiner: 1, ttl: 3 }, 0, &mut rng);
        assert!(out.is_empty() && !view.active().contains(&1));
    }

    #[test]
    fn shuffle_floods_past_a_senders_burst_or_unasked_do_not_fill_the_passive_view() {
        let mut rng = Pcg64Mcg::seed_from_u64(4);
        let mut view = HyParView::new(1u32, ViewConfig::default());
        // Answers nobody asked for, from a stranger: each would replace
        // the passive view with made-up peers.
        for i in 0..50u32 {
            let fakes = (0..32).map(|k| 10_000 + i * 32 + k).collect();
            view.handle(7, View::ShuffleReply { peers: fakes }, 0, &mut rng);
        }
        assert!(view.passive().is_empty(), "{:?}", view.passive());
        assert_eq!(view.refused_requests(), 50);
        // Shuffle walks that end here, from one sender: its burst only.
        for i in 0..50u32 {
            let fakes = (0..8).map(|k| 20_000 + i * 8 + k).collect();
            let walk = View::Shuffle {
                origin: 30_000 + i,
                ttl: 0,
                peers: fakes,
            };
            view.handle(8, walk, 0, &mut rng);
        }
        assert_eq!(view.refused_requests(), 50 + 50 - 16);
        assert!(view.passive().len() <= 30);
    }

    /// A forged walk end naming `joiner`.
    fn walk_end(joiner: u32) -> View<u32> {
        View::ForwardJoin { joiner, ttl: 0 }
    }

    #[test]
    fn walk_ends_from_one_sender_past_its_burst_are_dropped_and_counted() {
        let mut rng = Pcg64Mcg::seed_from_u64(2);
        let mut view = HyParView::new(1u32, ViewConfig::default());
        for i in 0..40 {
            view.handle(2, walk_end(100 + i), 0, &mut rng);
        }
        assert_eq!(view.refused_requests(), 40 - 16);
        // One token back per second.
        for i in 0..10 {
            view.handle(2, walk_end(200 + i), 5_000, &mut rng);
        }
        assert_eq!(view.refused_requests(), 24 + 5);
        // Another sender has a budget of its own; the buckets stay few.
        for sender in 0..10_000 {
            view.handle(1_000 + sender, walk_end(50_000 + sender), 5_000, &mut rng);
        }
        assert_eq!(view.refused_requests(), 29);
        assert!(view.buckets.len() <= MAX_METERED_SENDERS);
        assert!(view.active().len() <= 6 && view.passive().len() <= 30);
    }

    /// Node 1 joined through 2 (a chosen link), then took in 3..=6 at their
    /// request; at `now`, a flood of walk ends from made-up senders.
    fn flooded(config: ViewConfig, now: u64) -> HyParView<u32> {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut view = HyParView::new(1u32, config);
        view.join(2, 0);
        view.handle(
            2,
            View::Neighbor {
                priority: Priority::High,
            },
            0,
            &mut rng,
        );
        for peer in 3..=6 {
            view.handle(
                peer,
                View::Neighbor {
                    priority: Priority::High,
                },
                0,
                &mut rng,
            );
        }
        assert_eq!(view.chosen(), [2]);
        for i in 0..200 {
            view.handle(1_000 + i, walk_end(2_000 + i), now, &mut rng);
        }
        view
    }

    #[test]
    fn forged_walk_ends_never_displace_chosen_or_proven_links() {
        // Within 2 s, only the chosen link is kept.
        let view = flooded(ViewConfig::default(), 1_000);
        assert!(view.active().contains(&2), "{:?}", view.active());
        assert_eq!(view.active().iter().filter(|&&p| p < 1_000).count(), 1);
        // Later, the oldest of the others (3) is proven and kept too.
        let view = flooded(ViewConfig::default(), 10_000);
        assert!(view.active().contains(&2) && view.active().contains(&3));
        // Without the reserve, the flood takes the whole view.
        let off = ViewConfig {
            reserved_chosen: 0,
            ..ViewConfig::default()
        };
        let view = flooded(off, 10_000);
        assert!(
            view.active().iter().all(|&p| p >= 2_000),
            "{:?}",
            view.active()
        );
    }
}
