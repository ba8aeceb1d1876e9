use rumor_crdt::{Crdt, GCounter, LwwRegister, OrSet, ReplicaId};

/// A generic struct: each field a CRDT for the parameters given.
#[derive(Crdt, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tagged<T: Ord + Clone + std::fmt::Debug + Default> {
    pub tags: OrSet<T>,
    pub label: LwwRegister<T>,
}

/// A tuple struct: `update_0`, `update_1`.
#[derive(Crdt, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pair(GCounter, Tagged<u8>);

fn main() {
    let mut pair = Pair::default();
    let delta = pair.update_1(|t| t.update_tags(|s| s.insert(ReplicaId::from_u128(1), 3)));
    let _ = pair.update_0(|c| c.increment(ReplicaId::from_u128(1), 1));
    let _: PairContext = delta.context();
    let _: TaggedContext<u8> = pair.1.context();
}
