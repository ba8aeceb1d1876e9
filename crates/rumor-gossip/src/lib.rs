//! The sans-io gossip core of rumor: spreads the deltas of any
//! [`rumor_crdt::Crdt`] between replicas by delta-interval anti-entropy,
//! SWIM failure detection, HyParView partial views and an eager broadcast
//! tree. The deterministic network simulator that drives thousands of these
//! nodes is the `rumor-sim` crate (`rumor::sim`).
//!
//! A [`Node`] is a plain state machine: [`Node::update`] applies a local
//! write, [`Node::tick`] runs a gossip round, [`Node::handle`] takes a
//! message. Each returns an [`Output`]: messages to send, events to report.
//! Time and randomness come from outside, so the same seeds replay the same
//! run, and no peer input can make the node panic.
//!
//! Applications use this crate through the `rumor` facade, where it is
//! `rumor::gossip` and the CRDTs are `rumor::crdt`: write
//! `use rumor::gossip::{Config, FullView, Node};` and
//! `use rumor::crdt::GCounter;` where the examples in this crate's
//! documentation, which compile against this crate and `rumor-crdt` alone,
//! write `rumor_gossip::` and `rumor_crdt::`. The `rumor` crate's
//! documentation has the same examples with the facade's paths.
//!
//! A [`Node`]'s type is `Node<S, P, M>`: the replicated state `S` (any
//! [`Crdt`](rumor_crdt::Crdt)), the peer address `P` ([`Peer`]), and the
//! membership `M` ([`Membership`]): a full view ([`FullView`], the default,
//! or [`DenseView`] for large simulations) or a HyParView partial view
//! ([`HyParView`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod buffer;
mod config;
mod hyparview;
mod membership;
mod message;
mod node;
mod peer;
mod plumtree;
mod rank;
mod seal;
mod swim;

pub use config::{Config, Strategy};
pub use hyparview::{HyParView, Priority, View, ViewConfig, ViewEvent};
pub use membership::{DenseView, FullView, Membership, OneOf, ViewMessages};
pub use message::{Ack, Body, Message, Probe, SealedDelta, SyncBody};
pub use node::{Event, Node, Output, Refused, WritePolicy};
pub use peer::Peer;
pub use plumtree::{DeltaId, IdRange, Tree};
pub use rank::{RankAdvert, TreePlace};
pub use seal::{AuthorKey, Identity, Proof, Seal, SealError};
pub use swim::{MemberUpdate, Status};
