//! The network model: latency, loss and duplication (`NetConfig`), who
//! knows whom (`Topology`, `SimView`), and the run's settings (`SimConfig`).

use rand_pcg::Pcg64Mcg;
use rumor_gossip::Config;
use rumor_gossip::{
    DenseView, FullView, HyParView, Membership, View, ViewConfig, ViewEvent, ViewMessages,
};

/// The network's behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way latency range in milliseconds, inclusive; drawn uniformly per
    /// message, so messages on one link can overtake each other.
    pub latency_ms: (u64, u64),
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a delivered message is delivered twice.
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency_ms: (1, 1),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// How the simulated nodes know each other.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Topology {
    /// Every node knows every other ([`DenseView`]); SWIM runs over the whole
    /// membership.
    #[default]
    Full,
    /// Full views ([`FullView`]) that start from `seeds`: node `i` knows
    /// the seeds (itself left out) and learns the other members as SWIM
    /// spreads their joins. A restarted node starts from the seeds again.
    Seeded {
        /// The members every node starts with.
        seeds: Vec<u32>,
    },
    /// HyParView partial views ([`HyParView`]): gossip, probes and the eager
    /// path use each node's few links.
    Partial {
        /// The views' sizes and timings.
        view: ViewConfig,
        /// Node `i > 0` joins at `i × join_window_ms / nodes`, through a
        /// random node below it: a cluster grown one node after another (a
        /// contact that is still joining itself would know too few nodes to
        /// pass the joiner on).
        join_window_ms: u64,
    },
}

impl Topology {
    /// Partial views with the default [`ViewConfig`], the nodes joining over
    /// the first second.
    #[must_use]
    pub fn partial() -> Self {
        Self::Partial {
            view: ViewConfig::default(),
            join_window_ms: 1_000,
        }
    }
}

/// The membership of a simulated node: the [`Topology`] it was built with.
// Every node of one simulation has the same variant, and boxing the partial
// view would add a pointer chase to each message a node handles.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SimView {
    /// A full view.
    Full(DenseView),
    /// A full view grown from seeds.
    Seeded(FullView<u32>),
    /// A partial view.
    Partial(HyParView<u32>),
}

impl SimView {
    /// The partial view, if the topology is partial.
    #[must_use]
    pub fn partial(&self) -> Option<&HyParView<u32>> {
        match self {
            Self::Full(_) | Self::Seeded(_) => None,
            Self::Partial(view) => Some(view),
        }
    }
}

impl Membership<u32> for SimView {
    fn observe(&mut self, peer: u32) -> bool {
        match self {
            Self::Full(v) => v.observe(peer),
            Self::Seeded(v) => v.observe(peer),
            Self::Partial(v) => Membership::observe(v, peer),
        }
    }

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<u32> {
        match self {
            Self::Full(v) => v.sample(rng, n),
            Self::Seeded(v) => v.sample(rng, n),
            Self::Partial(v) => Membership::sample(v, rng, n),
        }
    }

    fn contains(&self, peer: u32) -> bool {
        match self {
            Self::Full(v) => v.contains(peer),
            Self::Seeded(v) => v.contains(peer),
            Self::Partial(v) => Membership::contains(v, peer),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Full(v) => v.len(),
            Self::Seeded(v) => v.len(),
            Self::Partial(v) => Membership::len(v),
        }
    }

    fn get(&self, index: usize) -> Option<u32> {
        match self {
            Self::Full(v) => v.get(index),
            Self::Seeded(v) => v.get(index),
            Self::Partial(v) => Membership::get(v, index),
        }
    }

    fn learns(&self) -> bool {
        matches!(self, Self::Seeded(_))
    }

    fn forget(&mut self, peer: u32) -> bool {
        match self {
            Self::Seeded(v) => v.forget(peer),
            Self::Full(_) | Self::Partial(_) => false,
        }
    }

    fn links(&self) -> Option<&[u32]> {
        match self {
            Self::Full(_) | Self::Seeded(_) => None,
            Self::Partial(v) => Some(v.active()),
        }
    }

    fn join(&mut self, contact: u32, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<u32> {
        match self {
            Self::Full(v) => Membership::join(v, contact, now_ms, rng),
            Self::Seeded(v) => Membership::join(v, contact, now_ms, rng),
            Self::Partial(v) => Membership::join(v, contact, now_ms, rng),
        }
    }

    fn tick(&mut self, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<u32> {
        match self {
            Self::Full(_) | Self::Seeded(_) => Vec::new(),
            Self::Partial(v) => Membership::tick(v, now_ms, rng),
        }
    }

    fn handle(
        &mut self,
        from: u32,
        message: View<u32>,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> ViewMessages<u32> {
        match self {
            Self::Full(_) | Self::Seeded(_) => Vec::new(),
            Self::Partial(v) => Membership::handle(v, from, message, now_ms, rng),
        }
    }

    fn failed(&mut self, peer: u32, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<u32> {
        match self {
            Self::Full(_) | Self::Seeded(_) => Vec::new(),
            Self::Partial(v) => Membership::failed(v, peer, now_ms, rng),
        }
    }

    fn take_events(&mut self) -> Vec<ViewEvent<u32>> {
        match self {
            Self::Full(_) => Vec::new(),
            Self::Seeded(v) => Membership::take_events(v),
            Self::Partial(v) => Membership::take_events(v),
        }
    }

    fn refused_requests(&self) -> u64 {
        match self {
            Self::Full(_) | Self::Seeded(_) => 0,
            Self::Partial(v) => v.refused_requests(),
        }
    }

    fn keep_links(&mut self, links: &[u32]) {
        if let Self::Partial(v) = self {
            Membership::keep_links(v, links);
        }
    }
}

/// A simulation's setup.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: u32,
    /// How they know each other.
    pub topology: Topology,
    /// Seed of the network and of every node.
    pub seed: u64,
    /// Every node's protocol configuration.
    pub node: Config,
    /// The network.
    pub net: NetConfig,
    /// Every node signs its writes and accepts only signed deltas on the
    /// eager path ([`Node::with_identity`](rumor_gossip::Node::with_identity)),
    /// with a key drawn from the seed, the node and its incarnation; it
    /// writes as that key's replica id ([`Simulator::replica_id`](crate::Simulator::replica_id)).
    pub signed: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 100,
            topology: Topology::Full,
            seed: 1,
            node: Config::default(),
            net: NetConfig::default(),
            signed: false,
        }
    }
}
