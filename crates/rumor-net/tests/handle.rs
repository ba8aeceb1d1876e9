//! What the handle adds to the core, end to end over loopback UDP: writes
//! stamped by the node's own clock, and the incarnation a member starts at
//! and takes back from its peers after a restart.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumor_crdt::{Hlc, LwwMap, ReplicaId};
use rumor_net::{Gossip, GossipHandle, Key, Keyring};

type Map = LwwMap<String, u32>;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

fn wall_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn node(
    id: u128,
    bind: SocketAddr,
    seeds: &[SocketAddr],
    incarnation: u64,
) -> GossipHandle<Map> {
    Gossip::builder(ReplicaId::from_u128(id), Map::new())
        .bind(bind)
        .seeds(seeds.iter().copied())
        .keyring(Keyring::new(Key::from_bytes([5; 32])))
        .cluster("handle-tests")
        .incarnation(incarnation)
        .start()
        .await
        .expect("the node starts")
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// [`support::eventually_async`] within [`WAIT`].
async fn eventually<F, Fut>(what: &str, condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    support::eventually_async(what, WAIT, condition).await
}

async fn speed(node: &GossipHandle<Map>) -> Option<u32> {
    node.read(|s| s.get(&"speed".to_string()).copied())
        .await
        .expect("the node answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stamped_by_the_node_wins_over_a_peer_whose_clock_runs_ahead() {
    let a = node(1, loopback(), &[], 0).await;
    let b = node(2, loopback(), &[a.local_addr()], 0).await;
    // b's clock runs 10 s ahead of a's (within the clock's drift bound, 30 s).
    let ahead = Hlc::new(b.replica()).now(wall_ms() + 10_000);
    b.update(move |s| s.insert("speed".to_string(), 1, ahead).unwrap_or_default())
        .await
        .expect("b writes");
    eventually("a to have b's write", || async {
        speed(&a).await == Some(1)
    })
    .await;

    // Stamped by an application clock that never saw b's write, a's write
    // is superseded: the mutator gets nothing to apply.
    let own = Hlc::new(a.replica()).now(wall_ms());
    let lost = a
        .update(move |s| s.insert("speed".to_string(), 2, own).unwrap_or_default())
        .await
        .expect("a writes");
    assert!(lost.is_empty(), "an application clock behind b's loses");
    assert_eq!(speed(&a).await, Some(1));

    // Stamped by the node's clock, which observed b's write, it wins, here
    // and at b.
    let won = a
        .update_stamped(|s, now| s.insert("speed".to_string(), 3, now).unwrap_or_default())
        .await
        .expect("a writes");
    assert_eq!(won.get(&"speed".to_string()), Some(&3));
    assert_eq!(speed(&a).await, Some(3));
    eventually("b to take a's stamped write", || async {
        speed(&b).await == Some(3)
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_below_its_incarnation_takes_it_back_from_its_peers() {
    let a = node(1, loopback(), &[], 0).await;
    let b = node(2, loopback(), &[a.local_addr()], 4).await;
    assert_eq!(b.stats().await.expect("b answers").incarnation, 4);
    let addr = b.local_addr();
    eventually("a to hold b alive", || async {
        a.members().await.expect("a answers").contains(&addr)
    })
    .await;
    b.shutdown().await;

    // A new life on the same address that forgot its incarnation (and so
    // takes a new replica id), stamped 0.
    let b = node(3, addr, &[a.local_addr()], 0).await;
    eventually("b to take its last life's incarnation back", || async {
        b.stats().await.expect("b answers").incarnation >= 4
    })
    .await;
    eventually("a to hold b alive again", || async {
        a.members().await.expect("a answers").contains(&addr)
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}
