use rumor_crdt::{Crdt, GCounter, PnCounter};

#[derive(Crdt, Clone, Debug, PartialEq)]
enum State {
    Up(GCounter),
    Down(PnCounter),
}

fn main() {}
