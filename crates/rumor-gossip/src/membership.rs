//! Who a node can gossip with.
//!
//! Two kinds of view implement [`Membership`]:
//!
//! - **Full views** ([`FullView`], and the implicit [`DenseView`] of the
//!   simulator): every node may pick any other. SWIM runs over the whole
//!   membership: it probes random members, and suspicions and deaths spread
//!   to everyone.
//! - **Partial views** ([`HyParView`](crate::HyParView)): each node knows a
//!   few links (its active view). Gossip, probes and the eager path run over
//!   those links only; a link that fails its probes is replaced from the
//!   passive view, and nothing about it is spread further, so no node ever
//!   holds state about the whole cluster.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::hyparview::{View, ViewEvent};
use crate::peer::Peer;

/// What a membership view sends: `(to, message)` pairs.
pub type ViewMessages<P> = Vec<(P, View<P>)>;

/// A membership view: the peers a node may pick for a gossip round.
///
/// The methods past [`Membership::len`] have do-nothing defaults: a full
/// view needs none of them. A partial view overrides them all, and
/// [`Membership::links`] tells the node which kind it has.
pub trait Membership<P: Peer> {
    /// Records that `peer` exists (a message came from it); returns whether
    /// it was new.
    fn observe(&mut self, peer: P) -> bool;
    /// Up to `n` distinct peers, chosen at random and in random order (all
    /// of them, shuffled, when `n` is at least [`Membership::len`]).
    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P>;
    /// How many peers are in the view.
    fn len(&self) -> usize;
    /// Whether `peer` is in the view. The default walks it.
    fn contains(&self, peer: P) -> bool {
        (0..self.len()).any(|i| self.get(i) == Some(peer))
    }
    /// The peer at `index` (below [`Membership::len`]) in the view's own
    /// order, which only changes when the view does. SWIM walks a shuffled
    /// permutation of these indices, so that it probes every member once per
    /// cycle without copying the view.
    fn get(&self, index: usize) -> Option<P>;
    /// Whether the view is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A partial view's links (its active view), or `None` for a full view.
    /// With links, the eager path's neighbors are exactly these links, and
    /// failure detection is local to them.
    fn links(&self) -> Option<&[P]> {
        None
    }
    /// Whether this full view learns the members from messages, starting
    /// from a few seeds ([`FullView`]). SWIM then exchanges member lists:
    /// on the node's first round (with a seed) and every
    /// [`member_sync_interval_ms`](crate::Config::member_sync_interval_ms).
    /// A view that holds every member from the start ([`DenseView`]) and a
    /// partial view do not.
    fn learns(&self) -> bool {
        false
    }

    /// Removes `peer` from the view; returns whether it was there. Views
    /// that learn their members forget the ones never heard from (see
    /// [`Config::unheard_expiry_ms`](crate::Config::unheard_expiry_ms));
    /// the others keep what they hold.
    fn forget(&mut self, _peer: P) -> bool {
        false
    }

    /// Joins the cluster through `contact`.
    fn join(&mut self, contact: P, _now_ms: u64, _rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        self.observe(contact);
        Vec::new()
    }
    /// Timers (shuffles, replacing missing links), at every gossip round.
    fn tick(&mut self, _now_ms: u64, _rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        Vec::new()
    }
    /// A view message from `from`.
    fn handle(
        &mut self,
        _from: P,
        _message: View<P>,
        _now_ms: u64,
        _rng: &mut Pcg64Mcg,
    ) -> ViewMessages<P> {
        Vec::new()
    }
    /// The link to `peer` failed its probes: drop it and look for another.
    fn failed(&mut self, _peer: P, _now_ms: u64, _rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        Vec::new()
    }
    /// Changes since the last call: links that came up or went down (a
    /// partial view), members a full view was given (its seeds, a contact).
    fn take_events(&mut self) -> Vec<ViewEvent<P>> {
        Vec::new()
    }
    /// The links the eager path runs over (the rooted tree's parent and
    /// children, see [`Config::rooted_tree`](crate::Config::rooted_tree)):
    /// a partial view that drops a link to make room for another drops one
    /// of the rest if it can. Full views have no links to drop.
    fn keep_links(&mut self, _links: &[P]) {}
    /// View requests refused so far: a partial view's rate limit and
    /// reserve of chosen links (see
    /// [`ViewConfig::request_burst`](crate::ViewConfig::request_burst)).
    /// A full view takes no view requests.
    fn refused_requests(&self) -> u64 {
        0
    }
}

/// Every peer ever seen, in the order first seen: a full view grown from
/// seeds. The node learns the other members from SWIM (joins spread as
/// "alive" rumors, and member lists are exchanged, see
/// [`Membership::learns`]).
///
/// The seeds, and a contact given to [`Node::join`](crate::Node::join), are
/// reported once as [`Event::MemberJoined`](crate::Event::MemberJoined):
/// the seeds in the output of the node's first round, a contact in the
/// output of the join. Members learned later are reported as they are
/// learned.
#[derive(Clone, Debug)]
pub struct FullView<P> {
    me: P,
    order: Vec<P>,
    known: BTreeSet<P>,
    /// Members given (seeds, contacts) and not reported yet.
    given: Vec<ViewEvent<P>>,
}

impl<P: Peer> FullView<P> {
    /// A view for node `me` that starts with `seeds` (`me` among them is
    /// left out).
    pub fn new(me: P, seeds: impl IntoIterator<Item = P>) -> Self {
        let mut view = Self {
            me,
            order: Vec::new(),
            known: BTreeSet::new(),
            given: Vec::new(),
        };
        for seed in seeds {
            if view.observe(seed) {
                view.given.push(ViewEvent::Joined(seed));
            }
        }
        view
    }

    /// The peers, in the order first seen.
    pub fn peers(&self) -> &[P] {
        &self.order
    }
}

impl<P: Peer> Membership<P> for FullView<P> {
    fn observe(&mut self, peer: P) -> bool {
        if peer == self.me || !self.known.insert(peer) {
            return false;
        }
        self.order.push(peer);
        true
    }

    fn contains(&self, peer: P) -> bool {
        self.known.contains(&peer)
    }

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P> {
        sample_indices(rng, self.order.len(), n)
            .into_iter()
            .map(|i| self.order[i])
            .collect()
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn get(&self, index: usize) -> Option<P> {
        self.order.get(index).copied()
    }

    fn learns(&self) -> bool {
        true
    }

    fn forget(&mut self, peer: P) -> bool {
        if !self.known.remove(&peer) {
            return false;
        }
        self.order.retain(|p| *p != peer);
        true
    }

    fn join(&mut self, contact: P, _now_ms: u64, _rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        if self.observe(contact) {
            self.given.push(ViewEvent::Joined(contact));
        }
        Vec::new()
    }

    fn take_events(&mut self) -> Vec<ViewEvent<P>> {
        core::mem::take(&mut self.given)
    }
}

/// The implicit full view of a simulated cluster whose nodes are numbered
/// `0..size`: every other node, without storing a list (10,000 nodes ×
/// 10,000 peers would not fit in memory otherwise).
#[derive(Clone, Copy, Debug)]
pub struct DenseView {
    me: u32,
    size: u32,
}

impl DenseView {
    /// The view of node `me` in a cluster of `size` nodes.
    #[must_use]
    pub fn new(me: u32, size: u32) -> Self {
        Self { me, size }
    }
}

impl Membership<u32> for DenseView {
    fn observe(&mut self, _peer: u32) -> bool {
        false
    }

    fn contains(&self, peer: u32) -> bool {
        peer != self.me && peer < self.size
    }

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<u32> {
        let others = self.size.saturating_sub(1) as usize;
        sample_indices(rng, others, n)
            .into_iter()
            .filter_map(|i| self.get(i))
            .collect()
    }

    fn len(&self) -> usize {
        self.size.saturating_sub(1) as usize
    }

    /// Every node but `me`, in id order.
    fn get(&self, index: usize) -> Option<u32> {
        let i = u32::try_from(index).ok()?;
        let peer = if i >= self.me { i.checked_add(1)? } else { i };
        (peer < self.size).then_some(peer)
    }
}

/// `n` distinct indices below `len` (all of them if `n >= len`), in random
/// order. Floyd's algorithm draws the subset in exactly `n` steps; a
/// Fisher–Yates pass then shuffles it (the subset alone comes out in an
/// order biased towards the end of the range).
fn sample_indices(rng: &mut Pcg64Mcg, len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    let mut chosen: Vec<usize> = if n == len {
        (0..len).collect()
    } else {
        let mut chosen = Vec::with_capacity(n);
        for j in len - n..len {
            let t = rng.random_range(0..=j);
            chosen.push(if chosen.contains(&t) { j } else { t });
        }
        chosen
    };
    for i in (1..chosen.len()).rev() {
        chosen.swap(i, rng.random_range(0..=i));
    }
    chosen
}

/// One of two kinds of view, chosen when the node is built: for a driver
/// that lets its user pick a full view or a partial one (the tokio runtime's
/// [`FullView`] or [`HyParView`](crate::HyParView)) without making every
/// type above it generic. Every method is the chosen view's.
///
/// ```
/// use rumor_gossip::{FullView, HyParView, Membership, OneOf, ViewConfig};
///
/// type AnyView = OneOf<FullView<u32>, HyParView<u32>>;
/// let full: AnyView = OneOf::First(FullView::new(1, [2, 3]));
/// let partial: AnyView = OneOf::Second(HyParView::new(1, ViewConfig::default()));
/// assert_eq!((full.len(), full.links()), (2, None));
/// assert_eq!(partial.links(), Some(&[][..]));
/// assert!(full.learns() && !partial.learns());
/// ```
#[derive(Clone, Debug)]
pub enum OneOf<A, B> {
    /// The first kind.
    First(A),
    /// The second kind.
    Second(B),
}

/// `view.method(args)` on whichever view `$self` holds.
macro_rules! either {
    ($self:expr, $view:ident => $call:expr) => {
        match $self {
            OneOf::First($view) => $call,
            OneOf::Second($view) => $call,
        }
    };
}

impl<P: Peer, A: Membership<P>, B: Membership<P>> Membership<P> for OneOf<A, B> {
    fn observe(&mut self, peer: P) -> bool {
        either!(self, v => v.observe(peer))
    }

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P> {
        either!(self, v => v.sample(rng, n))
    }

    fn len(&self) -> usize {
        either!(self, v => v.len())
    }

    fn contains(&self, peer: P) -> bool {
        either!(self, v => v.contains(peer))
    }

    fn get(&self, index: usize) -> Option<P> {
        either!(self, v => v.get(index))
    }

    fn links(&self) -> Option<&[P]> {
        either!(self, v => v.links())
    }

    fn learns(&self) -> bool {
        either!(self, v => v.learns())
    }

    fn forget(&mut self, peer: P) -> bool {
        either!(self, v => v.forget(peer))
    }

    fn join(&mut self, contact: P, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        either!(self, v => v.join(contact, now_ms, rng))
    }

    fn tick(&mut self, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        either!(self, v => v.tick(now_ms, rng))
    }

    fn handle(
        &mut self,
        from: P,
        message: View<P>,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> ViewMessages<P> {
        either!(self, v => v.handle(from, message, now_ms, rng))
    }

    fn failed(&mut self, peer: P, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<P> {
        either!(self, v => v.failed(peer, now_ms, rng))
    }

    fn take_events(&mut self) -> Vec<ViewEvent<P>> {
        either!(self, v => v.take_events())
    }

    fn refused_requests(&self) -> u64 {
        either!(self, v => v.refused_requests())
    }

    fn keep_links(&mut self, links: &[P]) {
        either!(self, v => v.keep_links(links));
    }
}
