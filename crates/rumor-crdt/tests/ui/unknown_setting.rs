use rumor_crdt::{Crdt, GCounter};

#[derive(Crdt, Clone, Debug, Default, PartialEq)]
#[crdt(path = "rumor_crdt")]
struct State {
    done: GCounter,
}

fn main() {}
