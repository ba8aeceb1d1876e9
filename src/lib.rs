//! rumor: delta-state CRDTs and the gossip that spreads their deltas.
//!
//! This facade re-exports the workspace crates, and is the one dependency an
//! application needs:
//! - [`crdt`] (the `rumor-crdt` crate): the data types ([`crdt::OrSet`],
//!   [`crdt::LwwMap`], [`crdt::OrMap`], counters, registers), hybrid logical clocks and
//!   causal contexts. No I/O, no clock reads.
//! - [`gossip`] (the `rumor-gossip` crate): the sans-io protocol core
//!   ([`gossip::Node`], over a full view or HyParView partial views, with
//!   SWIM failure detection and the eager path).
//! - [`sim`] (the `rumor-sim` crate): the deterministic network simulator,
//!   one driver of that core (thousands of nodes, latency, loss,
//!   partitions, crashes; a seed replays a run).
//! - [`net`] (the `rumor-net` crate): the other driver, for real networks:
//!   the tokio runtime ([`net::Gossip::builder`] → [`net::GossipHandle`]),
//!   over the transports (UDP + TCP on one port, and an in-memory one for
//!   tests) and the authenticated envelope (XChaCha20-Poly1305 under a
//!   keyring, with replay protection).
//! - [`laws`] (the `rumor-laws` crate): the merge-law checks, for rumor's
//!   types and your own `#[derive(Crdt)]` structs, from proptest, quickcheck
//!   or cargo-fuzz (features `proptest`, `quickcheck`, `arbitrary`).
//!
//! The two crates' own documentation names them as `rumor_crdt::` and
//! `rumor_gossip::` (what a dependent of those crates writes). Through this
//! facade the same items are `rumor::crdt::` and `rumor::gossip::`, as in the
//! examples below.
//!
//! A CRDT: every mutator returns the delta it made, and joins converge.
//!
//! ```
//! use rumor::crdt::{Crdt, GCounter, ReplicaId};
//!
//! let mut a = GCounter::new();
//! let delta = a.increment(ReplicaId::from_u128(1), 1);
//! let mut b = GCounter::new();
//! b.join(&delta);
//! assert_eq!(b.value(), 1);
//! ```
//!
//! Two gossip nodes, driven by hand: a [`gossip::Node`] takes time as an
//! argument and returns the messages to send; the driver delivers them.
//!
//! ```
//! use rumor::crdt::{GCounter, ReplicaId};
//! use rumor::gossip::{Config, FullView, Message, Node};
//!
//! let config = Config::default();
//! let mut a = Node::new(1u32, GCounter::new(), FullView::new(1, [2]), config.clone(), 7);
//! let mut b = Node::new(2u32, GCounter::new(), FullView::new(2, [1]), config, 8);
//! a.update(|s| s.increment(ReplicaId::from_u128(1), 5));
//!
//! // a's round, then every message until the network is quiet.
//! let mut wire: Vec<(u32, u32, Message<GCounter, u32>)> =
//!     a.tick(100).messages.into_iter().map(|(to, m)| (1, to, m)).collect();
//! while let Some((from, to, message)) = wire.pop() {
//!     let node = if to == 1 { &mut a } else { &mut b };
//!     for (next, m) in node.handle(from, message, 100).messages {
//!         wire.push((to, next, m));
//!     }
//! }
//! assert_eq!(b.state().value(), 5);
//! ```
//!
//! The simulator runs the same nodes over a lossy network:
//!
//! ```
//! use rumor::crdt::OrSet;
//! use rumor::sim::{NetConfig, SimConfig, Simulator};
//!
//! let net = NetConfig { latency_ms: (1, 5), loss: 0.1, duplicate: 0.0 };
//! let config = SimConfig { nodes: 50, net, ..SimConfig::default() };
//! let mut sim = Simulator::new(config, |_| OrSet::new());
//! sim.update(7, |set, me| set.insert(me, "hello".to_string()));
//! assert!(sim.run_until_delivered(10_000));
//! assert!(sim.converged());
//! assert!(sim.state(0).contains(&"hello".to_string()));
//! ```
#![forbid(unsafe_code)]

pub use rumor_crdt as crdt;
pub use rumor_gossip as gossip;
pub use rumor_laws as laws;
pub use rumor_net as net;
pub use rumor_sim as sim;

/// The README's examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
