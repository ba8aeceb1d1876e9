use rumor_crdt::{Crdt, OrSet};

// Generic: the bound `Vec<T>: Crdt` is not false for every `T` up front, so
// the error comes where the type is used as a CRDT, and names the field.
#[derive(Crdt, Clone, Debug, Default, PartialEq)]
struct Tagged<T: Ord + Clone + std::fmt::Debug + Default> {
    tags: OrSet<T>,
    order: Vec<T>,
}

fn main() {
    let tagged = Tagged::<u8>::default();
    let _ = tagged.context();
}
