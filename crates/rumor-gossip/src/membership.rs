//! Who a node can gossip with.
//!
//! This first implementation is a full view without failure detection: peers
//! are learned from seeds and from every message received. SWIM (probe,
//! indirect probe, suspicion, incarnations) will implement the same trait.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::Peer;

/// A membership view: the peers a node may pick for a gossip round.
pub trait Membership<P: Peer> {
    /// Records that `peer` exists (a message came from it); returns whether
    /// it was new.
    fn observe(&mut self, peer: P) -> bool;
    /// Up to `n` distinct live peers, chosen at random.
    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P>;
    /// How many peers are in the view.
    fn len(&self) -> usize;
    /// Whether the view is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every peer ever seen, in the order first seen.
#[derive(Clone, Debug)]
pub struct FullView<P> {
    me: P,
    order: Vec<P>,
    known: BTreeSet<P>,
}

impl<P: Peer> FullView<P> {
    /// A view for node `me` that starts with `seeds`.
    pub fn new(me: P, seeds: impl IntoIterator<Item = P>) -> Self {
        let mut view = Self {
            me,
            order: Vec::new(),
            known: BTreeSet::new(),
        };
        for seed in seeds {
            view.observe(seed);
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

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<P> {
        sample_indices(rng, self.order.len(), n)
            .into_iter()
            .map(|i| self.order[i])
            .collect()
    }

    fn len(&self) -> usize {
        self.order.len()
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

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<u32> {
        let others = self.size.saturating_sub(1) as usize;
        sample_indices(rng, others, n)
            .into_iter()
            .map(|i| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                if i >= self.me {
                    i + 1
                } else {
                    i
                }
            })
            .collect()
    }

    fn len(&self) -> usize {
        self.size.saturating_sub(1) as usize
    }
}

/// `n` distinct indices below `len` (all of them if `n >= len`).
fn sample_indices(rng: &mut Pcg64Mcg, len: usize, n: usize) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    let mut chosen = Vec::with_capacity(n);
    while chosen.len() < n {
        let i = rng.random_range(0..len);
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}
