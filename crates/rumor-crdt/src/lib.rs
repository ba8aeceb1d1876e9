//! Delta-state CRDTs: replicated data types that merge without coordination,
//! and ship small deltas instead of whole states.
//!
//! Every type here is a join-semilattice ([`Crdt::join`] is commutative,
//! associative and idempotent), every mutator returns the **delta** it made,
//! and [`Crdt::delta_since`] extracts exactly what a peer with a given
//! [`Crdt::context`] is missing. The crate does no I/O, never reads a clock
//! (time is passed in), and builds for `no_std` + `alloc` with the default
//! `std` feature turned off.
//!
//! | type | semantics |
//! |---|---|
//! | [`GCounter`] | grow-only counter |
//! | [`PnCounter`] | counter with increments and decrements |
//! | [`LwwRegister`] | last writer wins, by hybrid logical clock |
//! | [`LwwMap`] | map of LWW registers; removals are timestamped writes |
//! | [`OrSet`] | add-wins observed-remove set, no tombstones |
//! | [`MvRegister`] | keeps every concurrent write |
//! | [`OrMap`] | add-wins map of nested CRDTs, one causal context |
//!
//! # Tutorial: three replicas, an unreliable network, one answer
//!
//! Three agents keep a shared set. Each mutation returns a delta; the network
//! below delivers those deltas late, out of order and more than once. Joins
//! do not care: every replica ends with the same set.
//!
//! ```
//! use rumor_crdt::{codec, Crdt, OrSet, ReplicaId};
//!
//! let ids = [1, 2, 3].map(ReplicaId::from_u128);
//! let mut replicas = [OrSet::new(), OrSet::new(), OrSet::new()];
//! let mut in_flight = Vec::new(); // (to, encoded delta)
//!
//! // Concurrent writes on all three replicas.
//! let mut send = |from: usize, delta: OrSet<String>, in_flight: &mut Vec<(usize, Vec<u8>)>| {
//!     let bytes = codec::encode(&delta).unwrap();
//!     for to in 0..3 {
//!         if to != from {
//!             in_flight.push((to, bytes.clone()));
//!         }
//!     }
//! };
//! let d = replicas[0].insert(ids[0], "lidar".to_string());
//! send(0, d, &mut in_flight);
//! let d = replicas[1].insert(ids[1], "camera".to_string());
//! send(1, d, &mut in_flight);
//! let d = replicas[2].insert(ids[2], "gps".to_string());
//! send(2, d, &mut in_flight);
//! let d = replicas[1].remove(&"camera".to_string());
//! send(1, d, &mut in_flight);
//!
//! // The network reverses the order and duplicates everything.
//! in_flight.reverse();
//! let duplicates = in_flight.clone();
//! in_flight.extend(duplicates);
//!
//! for (to, bytes) in in_flight {
//!     let delta: OrSet<String> = codec::decode(&bytes, 64 * 1024).unwrap();
//!     replicas[to].join(&delta);
//! }
//!
//! assert_eq!(replicas[0], replicas[1]);
//! assert_eq!(replicas[1], replicas[2]);
//! let items: Vec<&String> = replicas[0].iter().collect();
//! assert_eq!(items, ["gps", "lidar"]);
//! ```
//!
//! A replica that was away catches up from its [`Crdt::context`] alone:
//!
//! ```
//! use rumor_crdt::{Crdt, OrSet, ReplicaId};
//!
//! let me = ReplicaId::from_u128(1);
//! let mut fresh = OrSet::new();
//! for n in 0..1_000u32 {
//!     fresh.insert(me, n);
//! }
//! let mut behind = fresh.clone();
//! for n in 0..10u32 {
//!     fresh.remove(&n);
//! }
//! fresh.insert(me, 5_000);
//!
//! // `behind` sends its context; `fresh` answers with only what is missing.
//! let missing = fresh.delta_since(&behind.context());
//! assert_eq!(missing.len(), 1);
//! behind.join(&missing);
//! assert_eq!(behind, fresh);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
// `#[derive(Crdt)]` names this crate `::rumor_crdt`, here too (in its tests
// and doctests).
#[allow(unused_extern_crates)]
extern crate self as rumor_crdt;

mod advance;
pub mod codec;
mod context;
mod crdt;
mod dot_store;
mod gcounter;
mod hlc;
mod lww_map;
mod lww_register;
mod mv_register;
mod or_map;
mod orset;
mod pncounter;
mod replica;
mod wire;

/// What `#[derive(Crdt)]` expands to uses; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use alloc::vec::Vec;
    pub use serde;

    use crate::Crdt;

    /// At most `parts` pieces: neighbours joined. A group is the join of
    /// pieces, so any subset of groups is the join of a subset of pieces,
    /// which is what [`Crdt::split`] promises.
    pub fn group_pieces<T: Crdt>(pieces: Vec<T>, parts: usize) -> Vec<T> {
        let parts = parts.max(1);
        if pieces.len() <= parts {
            return pieces;
        }
        let per = pieces.len().div_ceil(parts);
        pieces
            .chunks(per)
            .map(|group| {
                let mut joined = T::default();
                for piece in group {
                    joined.join(piece);
                }
                joined
            })
            .collect()
    }
}

pub use advance::Advance;
pub use context::CausalContext;
pub use crdt::Crdt;
pub use gcounter::GCounter;
pub use hlc::{ClockError, Hlc, HlcTimestamp, DEFAULT_MAX_DRIFT_MS};
pub use lww_map::LwwMap;
pub use lww_register::{LwwRegister, Superseded};
pub use mv_register::MvRegister;
pub use or_map::OrMap;
pub use orset::OrSet;
pub use pncounter::PnCounter;
pub use replica::{Dot, ReplicaId};
/// `#[derive(Crdt)]`: a struct whose fields are all CRDTs becomes one CRDT,
/// field by field, with a delta constructor per field (`update_<field>`) and
/// a generated context struct (`<Name>Context`).
///
/// ```
/// use rumor_crdt::{codec, Crdt, GCounter, OrSet, ReplicaId};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
/// struct Swarm {
///     cells: OrSet<(i32, i32)>,
///     done: GCounter,
/// }
///
/// let me = ReplicaId::from_u128(1);
/// let mut mine = Swarm::default();
/// let delta = mine.update_cells(|cells| cells.insert(me, (3, 4)));
/// assert!(delta.done.is_bottom()); // the other fields are at bottom
///
/// // The delta travels (here through the bounded codec) and joins elsewhere.
/// let bytes = codec::encode(&delta).unwrap();
/// let mut theirs = Swarm::default();
/// theirs.join(&codec::decode::<Swarm>(&bytes, codec::DEFAULT_LIMIT).unwrap());
/// let more = theirs.update_done(|done| done.increment(ReplicaId::from_u128(2), 1));
/// mine.join(&more);
/// theirs.join(&mine.delta_since(&theirs.context()));
/// assert_eq!(mine, theirs);
/// ```
#[cfg(feature = "derive")]
pub use rumor_derive::Crdt;
