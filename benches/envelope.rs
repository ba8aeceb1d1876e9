//! Envelope throughput: seal, and seal then open (with the replay memory in
//! its steady state), for a 100-byte and a 1,200-byte payload, encrypted
//! (XChaCha20-Poly1305) and in plaintext.
//!
//! `cargo bench --bench envelope`; `-- --test` runs each once.
//! Every open is at a fresh millisecond and with a fresh nonce, so it is
//! accepted: the replay memory fills to its bound (16,384 nonces) and then
//! forgets one nonce per envelope, as a busy node's does.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use rand::SeedableRng;
use rumor::crdt::ReplicaId;
use rumor_net::{Cluster, EnvelopeCodec, Key, Keyring, Security};

fn node(security: Security, id: u128) -> EnvelopeCodec {
    EnvelopeCodec::new(security, Cluster::new("bench"), ReplicaId::from_u128(id))
}

fn envelope(c: &mut Criterion) {
    let key = Key::from_bytes([7; 32]);
    let mut group = c.benchmark_group("envelope");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for size in [100usize, 1_200] {
        let payload = vec![0x5a; size];
        group.throughput(Throughput::Bytes(size as u64));
        for (mode, security) in [
            ("encrypted", Security::Keys(Keyring::new(key.clone()))),
            ("plaintext", Security::Plaintext),
        ] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let mut sealer = node(security.clone(), 1);
            let mut now_ms = 1_700_000_000_000u64;
            group.bench_function(format!("seal/{mode}/{size}B"), |b| {
                b.iter(|| black_box(sealer.seal(black_box(&payload), now_ms, &mut rng).unwrap()));
            });
            let mut opener = node(security, 2);
            group.bench_function(format!("seal+open/{mode}/{size}B"), |b| {
                b.iter(|| {
                    now_ms += 1;
                    let sealed = sealer.seal(black_box(&payload), now_ms, &mut rng).unwrap();
                    black_box(opener.open(&sealed, 2_048, now_ms).unwrap())
                });
            });
        }
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    envelope(&mut criterion);
    criterion.final_summary();
}
