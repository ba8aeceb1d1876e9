//! rumor: delta-state CRDTs and the gossip that spreads their deltas.
//!
//! This facade re-exports the workspace crates:
//! - [`crdt`]: the data types ([`crdt::OrSet`], [`crdt::LwwMap`], counters,
//!   registers), hybrid logical clocks and causal contexts.
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
#![forbid(unsafe_code)]

pub use rumor_crdt as crdt;
pub use rumor_gossip as gossip;

/// The README's examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
