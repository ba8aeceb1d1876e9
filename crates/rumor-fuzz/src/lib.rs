//! The bodies of rumor's fuzz targets, as plain library functions.
//!
//! Each `pub fn name(data: &[u8])` here is one cargo-fuzz target of the same
//! name in `fuzz/fuzz_targets/` (a three-line file that calls it), and
//! `tests/fuzz_corpus.rs` replays every file of `fuzz/corpus/<name>/` and
//! `fuzz/regressions/<name>/` through it with a plain `cargo test`, on
//! stable. A function returns quietly on input it cannot use and panics on a
//! broken law or invariant; [`TARGETS`] lists them all.
//!
//! | target | what it checks |
//! |---|---|
//! | `merge_laws_<type>` | an arbitrary history of ops and syncs on 2 to 6 replicas, then every law of the law kit (`rumor_laws::fuzz`): join is commutative, associative, idempotent and monotone, with bottom as identity; every mutator's delta joined into the prior state gives the mutated state; `delta_since` extracts exactly (also from stale contexts); `includes`, `missing_from`, `split` and `is_bottom` agree with join; every delivery order of the deltas, and anti-entropy alone, converge |
//! | `merge_laws_inventory` | the same, for [`Inventory`], a `#[derive(Crdt)]` struct: the kit's cargo-fuzz template as a user applies it |
//! | `decode_<type>`, `decode_message` | arbitrary bytes through `codec::decode`: an error or a value, never a panic; a value re-encodes canonically in at most the input's length and is a lawful state |
//! | `open_envelope` | arbitrary bytes as an envelope (with the key, or in plaintext down to the message decoder), or a payload sealed and then one bit flipped: no panic, one counter per envelope, an accepted envelope re-encodes its header and is refused the second time, a flipped encrypted envelope is always refused |
//! | `node_handle` | arbitrary messages, ticks and local writes into a gossip `Node`: no panic; the state only grows, by join, and holds what it was sent and nothing else; incarnations never decrease; every message it sends round-trips on the wire |
//!
//! ```
//! // Any bytes are a valid input: a target either uses them or ignores them.
//! for (name, target) in rumor_fuzz::TARGETS {
//!     target(&[]);
//!     target(&[0x01, 0xff, 0x00, 0x7f, 0x42, 0x10, 0x03]);
//!     assert!(!name.is_empty());
//! }
//! ```

mod decode;
mod envelope;
mod inventory;
mod models;
mod node;

pub use decode::{
    decode_gcounter, decode_lww_map, decode_lww_register, decode_message, decode_mv_register,
    decode_or_map, decode_orset, decode_pncounter,
};
pub use envelope::open_envelope;
pub use inventory::{merge_laws_inventory, Inventory, InventoryOp};
pub use models::{
    merge_laws_gcounter, merge_laws_lww_map, merge_laws_lww_register, merge_laws_mv_register,
    merge_laws_or_map, merge_laws_orset, merge_laws_pncounter,
};
pub use node::node_handle;

/// One fuzz target: its name (also the name of its folders under `fuzz/`)
/// and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name: what `tests/fuzz_corpus.rs` replays and
/// `fuzz/fuzz_targets/` wraps.
pub const TARGETS: &[Target] = &[
    ("merge_laws_gcounter", merge_laws_gcounter),
    ("merge_laws_pncounter", merge_laws_pncounter),
    ("merge_laws_lww_register", merge_laws_lww_register),
    ("merge_laws_lww_map", merge_laws_lww_map),
    ("merge_laws_orset", merge_laws_orset),
    ("merge_laws_mv_register", merge_laws_mv_register),
    ("merge_laws_or_map", merge_laws_or_map),
    ("merge_laws_inventory", merge_laws_inventory),
    ("decode_gcounter", decode_gcounter),
    ("decode_pncounter", decode_pncounter),
    ("decode_lww_register", decode_lww_register),
    ("decode_lww_map", decode_lww_map),
    ("decode_orset", decode_orset),
    ("decode_mv_register", decode_mv_register),
    ("decode_or_map", decode_or_map),
    ("decode_message", decode_message),
    ("open_envelope", open_envelope),
    ("node_handle", node_handle),
];
