//! `merge_laws_inventory`: the law kit's cargo-fuzz template (see the
//! `rumor-laws` crate docs) applied to a `#[derive(Crdt)]` struct, as a user
//! would apply it to theirs. `fuzz/fuzz_targets/merge_laws_inventory.rs` is
//! the template's target file, word for word.

use arbitrary::Arbitrary;
use rumor_crdt::{Crdt, LwwMap, MvRegister, OrSet, PnCounter};
use rumor_laws::{Model, Writer};

/// Prices are kept for item numbers taken modulo this: few, so that
/// writes to one item collide.
const ITEMS: u8 = 8;

/// A shop's replicated state: four CRDTs made one by `#[derive(Crdt)]`.
///
/// ```
/// use rumor_crdt::{Crdt, ReplicaId};
///
/// let mut shop = rumor_fuzz::Inventory::default();
/// let delta = shop.update_tags(|tags| tags.insert(ReplicaId::from_u128(1), 7));
/// assert!(delta.tags.contains(&7) && delta.stock.is_bottom());
/// ```
#[derive(Crdt, Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// Units in stock.
    pub stock: PnCounter,
    /// Tags, add-wins.
    pub tags: OrSet<u8>,
    /// Price per item, last writer wins.
    pub prices: LwwMap<u8, u16>,
    /// The shop's note; concurrent notes are all kept.
    pub note: MvRegister<u8>,
}

/// An operation on an [`Inventory`], read from the fuzzer's bytes.
#[derive(Arbitrary, Clone, Debug)]
pub enum InventoryOp {
    /// `stock.increment`.
    Restock(u8),
    /// `stock.decrement`.
    Sell(u8),
    /// `tags.insert`.
    Tag(u8),
    /// `tags.remove`.
    Untag(u8),
    /// `prices.insert` of item `item % 8`, at a wall time that jumps
    /// forward and back.
    Price {
        /// The item.
        item: u8,
        /// Its price.
        price: u16,
        /// The writer's wall clock, in ms.
        wall_ms: u16,
    },
    /// `note.set`.
    Note(u8),
}

impl Model for Inventory {
    type State = Self;
    type Op = InventoryOp;

    fn mutate(shop: &mut Self, op: &InventoryOp, writer: &mut Writer) -> Self {
        let me = writer.id;
        match *op {
            InventoryOp::Restock(n) => shop.update_stock(|s| s.increment(me, n.into())),
            InventoryOp::Sell(n) => shop.update_stock(|s| s.decrement(me, n.into())),
            InventoryOp::Tag(tag) => shop.update_tags(|tags| tags.insert(me, tag)),
            InventoryOp::Untag(tag) => shop.update_tags(|tags| tags.remove(&tag)),
            InventoryOp::Price {
                item,
                price,
                wall_ms,
            } => {
                let at = writer.now(wall_ms.into());
                // A write older than the one held is refused: no delta.
                shop.update_prices(|p| p.insert(item % ITEMS, price, at).unwrap_or_default())
            }
            InventoryOp::Note(note) => shop.update_note(|n| n.set(me, note)),
        }
    }
}

/// Every merge law of [`Inventory`] over an arbitrary history read from
/// `data`: `rumor_laws::fuzz::<Inventory>`, which the fuzz target calls.
///
/// ```
/// rumor_fuzz::merge_laws_inventory(&[1, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 1, 0, 1, 1]);
/// ```
pub fn merge_laws_inventory(data: &[u8]) {
    rumor_laws::fuzz::<Inventory>(data);
}
