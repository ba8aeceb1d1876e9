//! What signing deltas by their author costs (issue 18, part 3): the CPU a
//! writer spends per write (encode the delta, sign it: ed25519), the CPU a
//! receiver spends per first copy (encode it again, verify strictly, check
//! that every write names the signer), and the bytes a seal adds to an
//! eager-path message. For a one-element delta and a 200-element one.
//!
//! `cargo bench --bench signing`; `-- --test` runs each once. The byte table
//! is printed first.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use rumor::crdt::{codec, Crdt, OrSet};
use rumor::gossip::{Body, DeltaId, Identity, Message, Seal, Tree};

type Set = OrSet<u64>;

/// A delta of `elements` inserts by `identity`'s replica.
fn delta(identity: &Identity, elements: u64) -> Set {
    let mut state = Set::new();
    let mut delta = Set::new();
    for x in 0..elements {
        delta.join(&state.insert(identity.replica_id(), x));
    }
    delta
}

fn message(delta: &Set, seal: Option<Seal>) -> Vec<u8> {
    let message: Message<Set, SocketAddr> = Message::new(Body::Tree(Tree::Gossip {
        id: DeltaId {
            origin: SocketAddr::from(([127, 0, 0, 1], 40_000)),
            epoch: 0x9e37_79b9_7f4a_7c15,
            seq: 1_234,
        },
        delta: Arc::new(delta.clone()),
        seal: seal.map(Arc::new),
        hop: 0,
    }));
    codec::encode(&message).unwrap()
}

fn bytes_table(identity: &Identity) {
    println!("eager-path message bytes (OrSet<u64> delta, SocketAddr peers):");
    println!(
        "{:>10} {:>10} {:>10} {:>8}",
        "elements", "unsigned", "signed", "ratio"
    );
    for elements in [1, 10, 200] {
        let delta = delta(identity, elements);
        let seal = identity.seal(1, 1_234, &codec::encode(&delta).unwrap());
        let (plain, sealed) = (
            message(&delta, None).len(),
            message(&delta, Some(seal)).len(),
        );
        println!(
            "{elements:>10} {plain:>10} {sealed:>10} {:>7.2}x",
            sealed as f64 / plain as f64
        );
    }
}

fn signing(c: &mut Criterion) {
    let identity = Identity::from_secret([7; 32]);
    bytes_table(&identity);
    let epoch = identity.author().epoch(1);
    let mut group = c.benchmark_group("signing");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for elements in [1, 200] {
        let delta = delta(&identity, elements);
        let size = codec::encode(&delta).unwrap().len();
        group.bench_function(format!("sign/{elements}el/{size}B"), |b| {
            b.iter(|| {
                let bytes = codec::encode(black_box(&delta)).unwrap();
                black_box(identity.seal(1, 1_234, &bytes))
            });
        });
        let seal = identity.seal(1, 1_234, &codec::encode(&delta).unwrap());
        let author = identity.author().replica_id();
        group.bench_function(format!("verify/{elements}el/{size}B"), |b| {
            b.iter(|| {
                let bytes = codec::encode(black_box(&delta)).unwrap();
                seal.verify(epoch, 1_234, &bytes).unwrap();
                assert!(delta.authored_only_by(author));
            });
        });
        group.bench_function(format!("encode-only/{elements}el/{size}B"), |b| {
            b.iter(|| black_box(codec::encode(black_box(&delta)).unwrap()));
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    signing(&mut criterion);
    criterion.final_summary();
}
