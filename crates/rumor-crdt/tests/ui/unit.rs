use rumor_crdt::Crdt;

#[derive(Crdt, Clone, Debug, Default, PartialEq)]
struct Nothing;

fn main() {}
