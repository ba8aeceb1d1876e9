use rumor_crdt::{Crdt, GCounter};

#[derive(Crdt, Clone, Debug, Default, PartialEq)]
struct State {
    done: GCounter,
    name: String,
}

fn main() {}
