//! A tree rooted at the lowest id, for the eager path over partial views
//! ([`Config::rooted_tree`](crate::Config::rooted_tree)).
//!
//! Plumtree's tree grows from the first write's paths and is reshaped by
//! every writer's shortcuts: with many writers it keeps about 1.5 eager
//! copies a node a write, and a write still crosses 15–16 hops. Here every
//! node instead picks one parent among its links, the one nearest a common
//! root, as a distance-vector routing protocol does (RPL's ranks, the
//! spanning tree protocol's root): the root is the lowest id heard of, a
//! node's rank is its parent's plus one, and the eager links are the parent
//! and the children. That is one breadth-first spanning tree: one copy a
//! node a write, and a write's path is at most twice the root's depth.
//!
//! Nothing depends on the root for correctness: the deltas still go over
//! the links as "I have"s, and a node cut off grafts. The root only gives
//! the tree its shape.
//!
//! - **Adverts.** A node tells each link its root, the root's sequence
//!   number, its rank, whether the link is its parent and whether it is its
//!   child; its children also get each new sequence number, at its next
//!   round. A change of parent goes at once to the two links it concerns
//!   (pushes follow it); the rest at most once per hold, so that a node whose root or rank
//!   changes many times while the overlay forms tells its links the last
//!   (1,000 nodes forming: 73,000 adverts in 1.5 s instead of 85,000, which
//!   on two modelled cores set off a collapse on three seeds of four). A
//!   link that has this node wrong (the `child` flag) hears it again; so
//!   does one that comes up after its other end's advert arrived.
//! - **Catch-up.** A link that becomes a tree link is pushed the deltas of
//!   this round and the last that it is not known to hold: a write may
//!   have passed while the tree changed (without it, 8 of 50 writes left
//!   one node to an "I have", 45–65 ms instead of 15–22).
//! - **Root liveness.** The root raises its sequence number every refresh
//!   (its clock's milliseconds) and tells its children at its round; each
//!   passes it on at its own next round, so that it takes a few hundred
//!   milliseconds down the tree instead of crossing it as a wave. A
//!   node that heard no new number for three refreshes takes its root for
//!   dead (up to that number), and is its own root until it hears of a lower
//!   live one.
//! - **Loops.** A node never takes a child as its parent, and a rank at
//!   [`MAX_RANK`] is no path: a loop formed while adverts cross counts
//!   itself up to it and breaks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Peer;

/// The highest rank that is still a path to the root.
pub(crate) const MAX_RANK: u16 = 64;

/// A node's place in the rooted tree, as it tells one of its links
/// ([`Tree::Rank`](crate::Tree::Rank); see
/// [`Config::rooted_tree`](crate::Config::rooted_tree)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankAdvert<P> {
    /// The sender's root: the lowest id it heard of, alive.
    pub root: P,
    /// The root's latest sequence number the sender heard.
    pub seq: u64,
    /// The sender's hops from the root.
    pub rank: u16,
    /// The sender's ancestor at rank 1 (itself at rank 1, the root at
    /// rank 0): a node's descendants are all on its branch.
    pub branch: P,
    /// Whether the receiver is the sender's parent.
    pub parent: bool,
    /// Whether the receiver is the sender's child, as far as the sender
    /// knows: a child that finds itself unknown says so again.
    pub child: bool,
}

/// The name used within this module.
pub(crate) type Advert<P> = RankAdvert<P>;

/// Where a node stands in the rooted tree, as it knows it
/// ([`Node::tree_place`](crate::Node::tree_place)).
///
/// The tree has formed once every node names the same root, every node but
/// the root has a parent, and each parent counts that node among its
/// children: from then on a write crosses each node once, down and up the
/// tree. While it forms, writes still arrive (by "I have"s and grafts), later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreePlace<P> {
    /// The lowest live id this node heard of.
    pub root: P,
    /// Hops from the root ([`MAX_RANK`], 64, while it has no path to it).
    pub rank: u16,
    /// The link nearest the root; `None` at the root (or with no path).
    pub parent: Option<P>,
    /// The links whose last advert named this node their parent.
    pub children: Vec<P>,
}

impl<P: Peer> TreePlace<P> {
    /// Whether `places` (every live node's, with its id) form one tree: one
    /// root that is among them, and every other node with a path to it and
    /// a parent that counts it among its children.
    pub fn formed<'a>(places: impl IntoIterator<Item = (P, &'a TreePlace<P>)>) -> bool
    where
        P: 'a,
    {
        let places: BTreeMap<P, &TreePlace<P>> = places.into_iter().collect();
        let Some(root) = places.values().next().map(|p| p.root) else {
            return false;
        };
        let root_is_live = places.get(&root).is_some_and(|p| p.parent.is_none());
        root_is_live
            && places.iter().all(|(id, place)| {
                place.root == root
                    && (*id == root
                        || place.rank < MAX_RANK
                            && place.parent.is_some_and(|parent| {
                                places.get(&parent).is_some_and(|p| p.children.contains(id))
                            }))
            })
    }
}

/// One link: what it last told us and what we last told it.
#[derive(Clone, Copy, Debug)]
struct Link<P> {
    peer: P,
    heard: Option<Advert<P>>,
    told: Option<Advert<P>>,
}

/// A node's place in the rooted tree.
#[derive(Debug)]
pub(crate) struct Ranking<P> {
    me: P,
    root: P,
    seq: u64,
    rank: u16,
    branch: P,
    parent: Option<P>,
    links: Vec<Link<P>>,
    /// When the root's sequence number last rose here (or this node took
    /// the root); as the root, when it last raised it.
    fresh_ms: u64,
    /// Roots taken for dead, up to a sequence number, with when (forgotten
    /// after a while, so that a root back from the dead with a lower number
    /// is not shut out forever).
    dead: Vec<(P, u64, u64)>,
    /// A poisoned node (no path that cannot be through its descendants)
    /// takes any path after this.
    poisoned_until: u64,
    /// How long a poison is given to spread.
    hold_ms: u64,
    /// Adverts from peers that were no links yet.
    early: Vec<(P, Advert<P>)>,
    /// Adverts other than a parent's change wait for this.
    next_flush: u64,
    /// Whether some wait.
    held: bool,
    /// When the parent was last told again for want of refreshes.
    nudged_ms: u64,
    /// Whether the next adverts are the round's, the only ones that carry
    /// a new sequence number alone (see [`Ranking::adverts`]).
    round: bool,
}

/// Adverts kept from peers not linked yet, at most.
const MAX_EARLY: usize = 8;

/// Roots remembered as dead, at most.
const MAX_DEAD: usize = 16;

impl<P: Peer> Ranking<P> {
    /// A node on its own: its own root.
    pub(crate) fn new(me: P, now_ms: u64, hold_ms: u64) -> Self {
        Self {
            me,
            root: me,
            seq: now_ms,
            rank: 0,
            branch: me,
            parent: None,
            links: Vec::new(),
            fresh_ms: now_ms,
            dead: Vec::new(),
            poisoned_until: 0,
            hold_ms,
            early: Vec::new(),
            next_flush: 0,
            held: false,
            nudged_ms: 0,
            round: false,
        }
    }

    /// The current root.
    #[cfg(test)]
    pub(crate) fn root(&self) -> P {
        self.root
    }

    /// This node's rank.
    #[cfg(test)]
    pub(crate) fn rank(&self) -> u16 {
        self.rank
    }

    /// The parent, if this node is not the root.
    #[cfg(test)]
    pub(crate) fn parent(&self) -> Option<P> {
        self.parent
    }

    /// Where this node stands: its root, rank, parent and children.
    pub(crate) fn place(&self) -> TreePlace<P> {
        TreePlace {
            root: self.root,
            rank: self.rank,
            parent: self.parent,
            children: self.children().collect(),
        }
    }

    /// Whether `peer` is this node's parent or one of its children: a link
    /// of the tree, eager.
    pub(crate) fn is_tree_link(&self, peer: P) -> bool {
        self.parent == Some(peer) || self.is_child(peer)
    }

    fn is_child(&self, peer: P) -> bool {
        self.children().any(|child| child == peer)
    }

    /// The links whose last advert named this node their parent.
    fn children(&self) -> impl Iterator<Item = P> + '_ {
        self.links
            .iter()
            .filter(|l| l.heard.is_some_and(|h| h.parent))
            .map(|l| l.peer)
    }

    /// When a poisoned node looks for a path again, if it is poisoned.
    pub(crate) fn poisoned_until(&self) -> Option<u64> {
        (self.rank == MAX_RANK && self.root != self.me).then_some(self.poisoned_until)
    }

    /// Looks for a path again, if the node is poisoned and its hold is over.
    pub(crate) fn retry(&mut self, now_ms: u64) {
        if self.poisoned_until().is_some_and(|until| until <= now_ms) {
            self.choose(now_ms);
            if self.rank == MAX_RANK {
                // Still no path: the next try a hold later.
                self.poisoned_until = now_ms.saturating_add(self.hold_ms);
            }
        }
    }

    /// Tells `peer` this node's advert again (at once): it pushed to this
    /// node over a link that is not on the tree here, so it takes this node
    /// for its child (a lost advert).
    pub(crate) fn nudge(&mut self, peer: P) {
        if let Some(link) = self.links.iter_mut().find(|l| l.peer == peer) {
            link.told = None;
        }
    }

    /// Whether `peer`'s last advert took this node for its child (a push
    /// over a non-tree link from a peer that does not is a spare copy).
    pub(crate) fn takes_for_child(&self, peer: P) -> bool {
        self.links
            .iter()
            .any(|l| l.peer == peer && l.heard.is_some_and(|h| h.child))
    }

    /// A new link.
    pub(crate) fn link_up(&mut self, peer: P, now_ms: u64) {
        if peer != self.me && !self.links.iter().any(|l| l.peer == peer) {
            let heard = self
                .early
                .iter()
                .position(|(p, _)| *p == peer)
                .map(|at| self.early.swap_remove(at).1);
            self.links.push(Link {
                peer,
                heard,
                told: None,
            });
        }
        self.choose(now_ms);
    }

    /// A link gone.
    pub(crate) fn link_down(&mut self, peer: P, now_ms: u64) {
        self.links.retain(|l| l.peer != peer);
        self.choose(now_ms);
    }

    /// `advert` came from `from`. An advert from a node that is not a link
    /// (yet) is ignored: its link's [`Ranking::link_up`] asks it again.
    pub(crate) fn heard(&mut self, from: P, advert: Advert<P>, now_ms: u64) {
        let Some(link) = self.links.iter_mut().find(|l| l.peer == from) else {
            // The link may come up here after the other end's advert
            // (the view's answer and the advert race): kept for then.
            self.early.retain(|(p, _)| *p != from);
            if self.early.len() >= MAX_EARLY {
                self.early.remove(0);
            }
            self.early.push((from, advert));
            return;
        };
        link.heard = Some(advert);
        if advert.child != (self.parent == Some(from)) {
            // The other end has us wrong (a link it lost and made again, an
            // advert lost): it hears ours again.
            link.told = None;
        }
        if advert.root > self.root {
            // A link with a worse root hears ours again (it may have taken
            // ours for dead, and this advert carries a newer number).
            link.told = None;
        }
        if let Some(at) = self
            .dead
            .iter()
            .position(|&(root, seq, _)| root == advert.root && advert.seq > seq)
        {
            self.dead.swap_remove(at);
        }
        if advert.root == self.root && advert.seq > self.seq && self.root != self.me {
            self.seq = advert.seq;
            self.fresh_ms = now_ms;
        }
        self.choose(now_ms);
    }

    /// The round: the root raises its sequence number every `refresh_ms`;
    /// another node that heard no new one for three of them takes its root
    /// for dead.
    pub(crate) fn tick(&mut self, now_ms: u64, refresh_ms: u64) {
        self.round = true;
        self.dead
            .retain(|&(_, _, at)| now_ms.saturating_sub(at) < refresh_ms.saturating_mul(30));
        if self.root == self.me {
            if now_ms.saturating_sub(self.fresh_ms) >= refresh_ms {
                self.seq = self.seq.max(now_ms);
                self.fresh_ms = now_ms;
            }
            return;
        }
        // A parent that does not know this node for its child (the advert
        // that said so was lost, or crossed one of its own) hears it again
        // every round until it does.
        if let Some(parent) = self.parent {
            if !self.takes_for_child(parent) {
                self.nudge(parent);
            }
        }
        let quiet = now_ms.saturating_sub(self.fresh_ms);
        if quiet > refresh_ms.saturating_mul(3) / 2
            && now_ms.saturating_sub(self.nudged_ms) >= refresh_ms
        {
            // No refresh for a refresh and a half: the parent may not know
            // this node for its child (an advert lost). It hears it again.
            self.nudged_ms = now_ms;
            if let Some(parent) = self.parent {
                self.nudge(parent);
            }
        }
        if quiet > refresh_ms.saturating_mul(3) {
            if self.dead.len() >= MAX_DEAD {
                self.dead.remove(0);
            }
            self.dead.push((self.root, self.seq, now_ms));
            self.choose(now_ms);
        }
    }

    fn is_dead(&self, root: P, seq: u64) -> bool {
        self.dead.iter().any(|&(r, s, _)| r == root && seq <= s)
    }

    /// Whether `advert` offers a path: not from a child, not through a
    /// root taken for dead, below the highest rank.
    fn usable(&self, advert: &Advert<P>) -> bool {
        !advert.parent && advert.rank < MAX_RANK && !self.is_dead(advert.root, advert.seq)
    }

    /// Picks the root and the parent from what the links said.
    fn choose(&mut self, now_ms: u64) {
        let best_root = self
            .links
            .iter()
            .filter_map(|l| l.heard.filter(|h| self.usable(h)).map(|h| h.root))
            .min()
            .filter(|root| *root < self.me);
        let Some(root) = best_root else {
            if self.root != self.me {
                self.root = self.me;
                self.seq = now_ms;
                self.fresh_ms = now_ms;
            }
            self.rank = 0;
            self.branch = self.me;
            self.parent = None;
            return;
        };
        // The parent: the lowest rank, the current parent on a tie. Within
        // the same root, a node that lost its parent takes only a link
        // ranked no higher than itself (none of its descendants is); with
        // none, it poisons its rank (its children look elsewhere or poison
        // theirs) and takes any path once the poison had time to spread.
        let current = self.parent;
        let same_root = root == self.root;
        let parent_left = current.is_none_or(|p| {
            !self
                .links
                .iter()
                .any(|l| l.peer == p && l.heard.is_some_and(|h| h.root == root && self.usable(&h)))
        });
        let bound = if !same_root || !parent_left {
            // A new root (no path to it goes through this node), or the
            // parent is there: the lowest rank is the parent's or below.
            u16::MAX
        } else if self.rank == MAX_RANK {
            if now_ms < self.poisoned_until {
                return;
            }
            u16::MAX
        } else {
            self.rank
        };
        // A link on another branch is no descendant: its path to the root
        // does not come through here, whatever its rank.
        let branch = (self.rank < MAX_RANK).then_some(self.branch);
        let best = self
            .links
            .iter()
            .filter_map(|l| {
                l.heard
                    .filter(|h| {
                        h.root == root
                            && self.usable(h)
                            && (h.rank <= bound || branch.is_some_and(|b| b != h.branch))
                    })
                    .map(|h| (l.peer, h))
            })
            .min_by_key(|(peer, h)| (h.rank, Some(*peer) != current, *peer));
        let Some((parent, advert)) = best else {
            // Poisoned: no path for now.
            if self.rank != MAX_RANK {
                self.poisoned_until = now_ms.saturating_add(self.hold_ms);
            }
            self.root = root;
            self.parent = None;
            self.rank = MAX_RANK;
            return;
        };
        if root != self.root {
            self.root = root;
            self.seq = advert.seq;
            self.fresh_ms = now_ms;
        } else if advert.seq > self.seq {
            self.seq = advert.seq;
            self.fresh_ms = now_ms;
        }
        self.parent = Some(parent);
        self.rank = advert.rank + 1;
        self.branch = if advert.rank == 0 {
            self.me
        } else {
            advert.branch
        };
    }

    /// When the adverts held back are due, if any are.
    pub(crate) fn adverts_due(&self) -> Option<u64> {
        self.held.then_some(self.next_flush)
    }

    /// The adverts to send at `now_ms`: to every link told something else
    /// before (or nothing), and each new sequence number to the children.
    /// A change of parent goes at once to the links it concerns; a change
    /// of root, rank or branch at most once per hold (`hold_ms`), so that a
    /// node whose rank or root changes many times while the tree forms
    /// tells its links the last; a new sequence number alone only at this
    /// node's round (the first call after [`Ranking::tick`]). Passed on at
    /// once, the root's refresh would cross the tree as fast as a write,
    /// a wave of one advert a node every second that a write meeting it
    /// queues behind (1,000 agents on two cores: 1,300 adverts within the
    /// write's 19 ms, against 12–15 ms for the writes that met none). At
    /// each node's round, at its own phase, it goes down one rank a round
    /// and spreads over a few hundred milliseconds.
    pub(crate) fn adverts(&mut self, now_ms: u64) -> Vec<(P, Advert<P>)> {
        let (root, seq, rank, parent, branch) =
            (self.root, self.seq, self.rank, self.parent, self.branch);
        let flush = now_ms >= self.next_flush;
        let round = core::mem::take(&mut self.round);
        self.held = false;
        let mut flushed = false;
        let mut out = Vec::new();
        for link in &mut self.links {
            let child = link.heard.is_some_and(|h| h.parent);
            let advert = Advert {
                root,
                seq,
                rank,
                branch,
                parent: parent == Some(link.peer),
                child,
            };
            let (urgent, stale, refresh) = match link.told {
                None => (true, true, false),
                Some(told) => (
                    told.parent != advert.parent || told.child != child,
                    told.root != root || told.rank != rank || told.branch != branch,
                    child && told.seq < seq,
                ),
            };
            if urgent || stale && flush || refresh && round {
                flushed |= urgent || stale;
                link.told = Some(advert);
                out.push((link.peer, advert));
            } else if stale {
                self.held = true;
            }
        }
        if flush && flushed {
            self.next_flush = now_ms.saturating_add(self.hold_ms);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers every advert among `nodes` (links given by `links`) until
    /// none is left; returns how many were sent.
    fn settle(nodes: &mut [Ranking<u32>], now_ms: u64) -> usize {
        let mut sent = 0;
        for _ in 0..1_000 {
            let mut any = false;
            for i in 0..nodes.len() {
                for (to, advert) in nodes[i].adverts(u64::MAX) {
                    any = true;
                    sent += 1;
                    let from = nodes[i].me;
                    nodes[to as usize].heard(from, advert, now_ms);
                }
            }
            if !any {
                return sent;
            }
        }
        panic!("the adverts never settled");
    }

    fn ring(n: u32, now_ms: u64) -> Vec<Ranking<u32>> {
        let mut nodes: Vec<Ranking<u32>> = (0..n).map(|i| Ranking::new(i, now_ms, 50)).collect();
        for i in 0..n {
            let next = (i + 1) % n;
            nodes[i as usize].link_up(next, now_ms);
            nodes[next as usize].link_up(i, now_ms);
        }
        nodes
    }

    fn advert(root: u32, rank: u16) -> Advert<u32> {
        Advert {
            root,
            seq: 0,
            rank,
            branch: root,
            parent: false,
            child: false,
        }
    }

    #[test]
    fn a_change_of_parent_goes_at_once_and_a_change_of_rank_once_a_hold() {
        let mut node = Ranking::new(5, 0, 50);
        for link in [1, 2, 3] {
            node.link_up(link, 0);
        }
        node.heard(1, advert(0, 3), 0);
        assert_eq!((node.parent(), node.rank()), (Some(1), 4));
        let first: Vec<u32> = node.adverts(0).iter().map(|(to, _)| *to).collect();
        assert_eq!(first, [1, 2, 3], "every link told once");
        // A nearer link: the parent changes; the old and the new parent
        // hear it at once, link 3 (only the rank changed) after the hold.
        node.heard(2, advert(0, 1), 1);
        assert_eq!((node.parent(), node.rank()), (Some(2), 2));
        let now: Vec<(u32, bool)> = node
            .adverts(1)
            .iter()
            .map(|(to, a)| (*to, a.parent))
            .collect();
        assert_eq!(now, [(1, false), (2, true)]);
        assert_eq!(node.adverts_due(), Some(50));
        assert!(node.adverts(49).is_empty());
        let later = node.adverts(50);
        assert_eq!(later.len(), 1);
        assert_eq!((later[0].0, later[0].1.rank), (3, 2));
        assert_eq!(node.adverts_due(), None);
    }

    #[test]
    fn a_ring_settles_on_the_lowest_id_with_ranks_as_hops() {
        let mut nodes = ring(9, 0);
        settle(&mut nodes, 0);
        for (i, node) in nodes.iter().enumerate() {
            let hops = u16::try_from(i.min(9 - i)).expect("small");
            assert_eq!((node.root(), node.rank()), (0, hops), "node {i}");
        }
        // 8 tree links: every node but the root has a parent, and each
        // link is a tree link at both ends.
        for (i, node) in nodes.iter().enumerate().skip(1) {
            let parent = node.parent().expect("a parent below the root");
            assert!(nodes[parent as usize].is_tree_link(i as u32));
        }
        assert!(nodes[0].parent().is_none());
    }

    fn formed(nodes: &[Ranking<u32>]) -> bool {
        let places: Vec<TreePlace<u32>> = nodes.iter().map(Ranking::place).collect();
        TreePlace::formed(places.iter().enumerate().map(|(i, p)| (i as u32, p)))
    }

    #[test]
    fn formed_holds_once_the_adverts_settled_and_not_while_one_is_unheard() {
        let mut nodes = ring(9, 0);
        assert!(!formed(&nodes), "nine roots of their own");
        // Every advert but node 1's delivered: node 0 does not yet count
        // node 1 as its child, so the tree has not formed.
        for _ in 0..20 {
            for i in 0..nodes.len() {
                for (to, advert) in nodes[i].adverts(u64::MAX) {
                    if i != 1 {
                        nodes[to as usize].heard(i as u32, advert, 0);
                    }
                }
            }
        }
        assert_eq!(nodes[1].place().parent, Some(0));
        assert!(!nodes[0].place().children.contains(&1));
        assert!(!formed(&nodes), "node 1 is not its parent's child yet");
        nodes[1].nudge(0);
        settle(&mut nodes, 0);
        assert!(formed(&nodes));
        let root = nodes[0].place();
        assert_eq!((root.root, root.rank, root.parent), (0, 0, None));
        assert_eq!(root.children, [1, 8]);
        // A node that is missing, or one that names another root: no tree.
        assert!(!formed(&nodes[1..]), "the root is not among them");
        nodes[4] = Ranking::new(4, 0, 50);
        assert!(!formed(&nodes), "node 4 is its own root");
        assert!(!TreePlace::<u32>::formed([]), "no nodes, no tree");
    }

    #[test]
    fn a_dead_root_is_replaced_by_the_next_lowest_id_after_three_refreshes() {
        let mut nodes = ring(6, 0);
        settle(&mut nodes, 0);
        // Node 0 dies: its links go down at its neighbors.
        nodes[1].link_down(0, 10);
        nodes[5].link_down(0, 10);
        let mut now = 10;
        for _ in 0..40 {
            now += 100;
            for node in nodes.iter_mut().skip(1) {
                node.tick(now, 1_000);
            }
            // Delivered among the living only.
            for i in 1..6 {
                for (to, advert) in nodes[i].adverts(u64::MAX) {
                    if to != 0 {
                        nodes[to as usize].heard(i as u32, advert, now);
                    }
                }
            }
        }
        for (i, node) in nodes.iter().enumerate().skip(1) {
            assert_eq!(node.root(), 1, "node {i}");
            assert!(node.rank() < 5, "node {i} at rank {}", node.rank());
        }
    }

    /// One round at `now_ms`: every node ticks and sends its round's
    /// adverts, then they are delivered (and whatever they set off).
    /// Returns how many were sent.
    fn round(nodes: &mut [Ranking<u32>], now_ms: u64) -> usize {
        let mut sent = Vec::new();
        for node in nodes.iter_mut() {
            node.tick(now_ms, 1_000);
            let from = node.me;
            sent.extend(
                node.adverts(now_ms)
                    .into_iter()
                    .map(|(to, a)| (from, to, a)),
            );
        }
        let count = sent.len();
        for (from, to, advert) in sent {
            nodes[to as usize].heard(from, advert, now_ms);
        }
        count + settle(nodes, now_ms)
    }

    #[test]
    fn the_root_refresh_goes_down_the_tree_alone_one_rank_a_round() {
        let mut nodes = ring(7, 0);
        settle(&mut nodes, 0);
        // Out of their rounds, the nodes that hear the new number keep it
        // for their next: the refresh goes down one rank a round.
        for rank in 0..=3_u64 {
            let sent = round(&mut nodes, 1_000);
            let heard: Vec<usize> = (0..7).filter(|&i| nodes[i].seq == 1_000).collect();
            let want: Vec<usize> = (0..7)
                .filter(|&i| i.min(7 - i) as u64 <= rank + 1)
                .collect();
            assert_eq!(heard, want, "after round {rank}");
            let children = if rank < 3 { 2 } else { 0 };
            assert_eq!(sent, children, "one advert to each child of rank {rank}");
        }
        // No node takes the root for dead while refreshes come: rounds of
        // 100 ms for 10 s, a refresh a second (the last's two rounds down
        // the tree included), six adverts each.
        let mut sent = 0;
        for step in 1..=102 {
            sent += round(&mut nodes, 1_000 + step * 100);
        }
        assert!(nodes.iter().all(|n| n.root() == 0 && n.rank() < 4));
        assert_eq!(sent, 60, "six adverts a refresh, nothing else");
    }
}
