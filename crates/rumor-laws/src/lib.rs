//! Checks every merge law of a delta-state CRDT — rumor's own types, or your
//! own `#[derive(Crdt)]` struct — over histories of operations on several
//! replicas. Reached through the facade as `rumor::laws`.
//!
//! You say how to play your type's operations (a [`Model`]: one method);
//! a [`History`] is a list of [`Step`]s on 2 to 6 replicas (a mutation by
//! one replica, or a sync of a full state or of `delta_since(receiver's
//! context)` from one replica into another) plus a seed. The laws play it
//! and check, on every state and delta it reached ([`Law::ALL`]):
//!
//! - join commutative, associative, idempotent, monotone (the model's own
//!   [`Model::keeps`] included), with bottom as its identity;
//! - delta-mutator equivalence: `prior ⊔ delta == mutated`;
//! - exact extraction: `a ⊔ b.delta_since(&a.context()) == a ⊔ b`, also
//!   from contexts many steps stale;
//! - `includes`, `missing_from`, `split` and `is_bottom` agree with join;
//!   any subset of a split's pieces is safe to join ([`Model::survives`]);
//! - strong eventual consistency: the deltas delivered in any order, with
//!   duplicates, converge; so do replicas repaired by anti-entropy alone.
//!
//! Each law is a plain function returning `Result<(), `[`LawViolation`]`>`
//! (the law's name and the states that break it); [`check_all`] runs them
//! all, [`assert_laws`] and [`assert_law`] panic instead. Histories come from
//! any tool, each behind a feature: `proptest` ([`history()`], a strategy),
//! `quickcheck` (`History<O>: quickcheck::Arbitrary`), `arbitrary`
//! (`History<O>: arbitrary::Arbitrary`, and [`fuzz`], the body of a
//! cargo-fuzz target).
//!
//! ```
//! use rumor_crdt::{Crdt, GCounter, LwwMap, OrSet};
//! use rumor_laws::{History, Model, Step, Writer};
//!
//! #[derive(Crdt, Clone, Debug, Default, PartialEq)]
//! struct Inventory {
//!     restocked: GCounter,
//!     tags: OrSet<u8>,
//!     prices: LwwMap<u8, u32>,
//! }
//!
//! #[derive(Clone, Debug)]
//! enum InventoryOp {
//!     Restock(u64),
//!     Tag(u8),
//!     Untag(u8),
//!     Price { item: u8, price: u32, wall_ms: u64 },
//! }
//!
//! impl Model for Inventory {
//!     type State = Self;
//!     type Op = InventoryOp;
//!     fn mutate(s: &mut Self, op: &InventoryOp, w: &mut Writer) -> Self {
//!         match *op {
//!             InventoryOp::Restock(n) => s.update_restocked(|c| c.increment(w.id, n)),
//!             InventoryOp::Tag(t) => s.update_tags(|set| set.insert(w.id, t)),
//!             InventoryOp::Untag(t) => s.update_tags(|set| set.remove(&t)),
//!             InventoryOp::Price { item, price, wall_ms } => s.update_prices(|m| {
//!                 // A write older than the one held is refused: no delta.
//!                 m.insert(item, price, w.now(wall_ms)).unwrap_or_default()
//!             }),
//!         }
//!     }
//! }
//!
//! let steps = vec![
//!     Step::Mutate { replica: 0, op: InventoryOp::Tag(1) },
//!     Step::Mutate { replica: 1, op: InventoryOp::Price { item: 1, price: 5, wall_ms: 10 } },
//!     Step::Sync { to: 1, from: 0, via_delta: true, observe_clock: true },
//!     Step::Mutate { replica: 1, op: InventoryOp::Untag(1) },
//!     Step::Mutate { replica: 0, op: InventoryOp::Restock(3) },
//! ];
//! let history = History { replicas: 2, steps, seed: 42 };
//! assert_eq!(rumor_laws::check_all::<Inventory>(&history), Ok(()));
//! ```
//!
//! # cargo fuzz on a derived struct, in five lines
//!
//! With the struct and its [`Model`] above in your crate, and
//! `#[derive(arbitrary::Arbitrary)]` added to its operation type:
//!
//! 1. `cargo fuzz init` (once), and in `fuzz/Cargo.toml` depend on your
//!    crate and on `rumor = { version = "0.1", features = ["arbitrary"] }`;
//! 2. write `fuzz/fuzz_targets/merge_laws_inventory.rs`:
//!
//! ```ignore
//! #![no_main]
//! use my_app::Inventory; // #[derive(Crdt)], and `impl rumor::laws::Model for Inventory`
//! libfuzzer_sys::fuzz_target!(|data: &[u8]| rumor::laws::fuzz::<Inventory>(data));
//! ```
//!
//! 3. `cargo fuzz run merge_laws_inventory`. A crash prints the
//!    [`LawViolation`]: the law and the states that break it. Replay its
//!    input in a plain `#[test]` with `rumor::laws::fuzz::<Inventory>(&bytes)`.
//!
//! The models of rumor's own types (their operations, and what "nothing
//! was lost" means for each) are `rumor_laws::models` (feature `models`): rumor's
//! law tests and fuzz targets both use them.
//!
//! rumor's own `fuzz/fuzz_targets/merge_laws_inventory.rs` is exactly this
//! file (its struct is `rumor_fuzz::Inventory`).
//!
//! The same model under proptest or quickcheck:
//!
//! ```ignore
//! proptest! {
//!     #[test]
//!     fn inventory_obeys_every_law(history in rumor::laws::history(any::<InventoryOp>())) {
//!         rumor::laws::check_all::<Inventory>(&history).map_err(|e| TestCaseError::fail(e.to_string()))?;
//!     }
//! }
//! // quickcheck, with `InventoryOp: quickcheck::Arbitrary`:
//! fn prop(history: rumor::laws::History<InventoryOp>) -> bool {
//!     rumor::laws::check_all::<Inventory>(&history).is_ok()
//! }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "arbitrary")]
mod arbitrary;
mod checks;
mod history;
mod laws;
#[cfg(feature = "models")]
pub mod models;
#[cfg(feature = "proptest")]
mod proptest;
#[cfg(feature = "quickcheck")]
mod quickcheck;

#[cfg(feature = "arbitrary")]
pub use crate::arbitrary::fuzz;
pub use crate::history::{
    replica_id, run, History, Model, Mutation, Run, Step, Writer, MAX_REPLICAS, MAX_STEPS,
    MIN_REPLICAS,
};
pub use crate::laws::*;
#[cfg(feature = "proptest")]
pub use crate::proptest::history;
