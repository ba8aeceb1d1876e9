//! Full-view membership driven by hand and in the simulator: the order in
//! which a node probes and gossips, how members learn of each other from a
//! few seeds, and what a node reports about its members.

use rumor::crdt::GCounter;
use rumor::gossip::{Body, Config, FullView, MemberUpdate, Message, Node, Probe, Status};

type TestNode = Node<GCounter, u32>;

fn node(me: u32, peers: impl IntoIterator<Item = u32>, seed: u64) -> TestNode {
    Node::new(
        me,
        GCounter::new(),
        FullView::new(me, peers),
        Config::default(),
        seed,
    )
}

/// A member update saying `peer` is alive at `incarnation`.
fn alive(peer: u32, incarnation: u64) -> MemberUpdate<u32> {
    MemberUpdate {
        peer,
        incarnation,
        status: Status::Alive,
        by: peer,
    }
}

/// Ticks `node` every 100 ms for `rounds` rounds, answering every ping at
/// once; returns the targets of its probes (pings answered), in order, and
/// the targets of its gossip (`Sync` messages).
fn drive(node: &mut TestNode, rounds: u64) -> (Vec<u32>, Vec<u32>) {
    let (mut probed, mut gossiped) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let now = round * 100;
        let out = node.tick(now);
        for (to, message) in out.messages {
            match message.body {
                Body::Probe(Probe::Ping { seq }) => {
                    probed.push(to);
                    let ack = Message {
                        incarnation: node_incarnation(to),
                        body: Body::Probe(Probe::Ack { seq }),
                        members: Vec::new(),
                    };
                    node.handle(to, ack, now + 1);
                }
                Body::Sync(_) => gossiped.push(to),
                _ => {}
            }
        }
    }
    (probed, gossiped)
}

/// The incarnation every peer of these tests answers with.
fn node_incarnation(_peer: u32) -> u64 {
    1
}

/// SWIM (Das et al. §4.3) probes round-robin over a shuffled member list:
/// every member is probed once per `members` probes, whatever the cluster's
/// size, in an order that changes from cycle to cycle.
#[test]
fn probes_visit_every_member_once_per_cycle_in_a_shuffled_order() {
    for members in 2u32..=9 {
        let peers: Vec<u32> = (1..=members).collect();
        let mut node = node(0, peers.clone(), u64::from(members));
        // Every peer is known at incarnation 1 (the stored, non-default
        // state that used to defeat the sampler).
        let news = Message {
            incarnation: 1,
            body: Body::Probe(Probe::Ack { seq: 0 }),
            members: peers.iter().map(|&p| alive(p, 1)).collect(),
        };
        node.handle(1, news, 0);
        let cycles = 6;
        // One probe every two rounds (probe interval 200 ms, round 100 ms).
        let (probed, _) = drive(&mut node, 2 * u64::from(members) * cycles);
        assert!(
            probed.len() >= (members as usize) * cycles as usize,
            "{members} members: {} probes",
            probed.len()
        );
        let mut orders = Vec::new();
        for cycle in probed.chunks(members as usize).take(cycles as usize) {
            let mut sorted = cycle.to_vec();
            sorted.sort_unstable();
            assert_eq!(
                sorted, peers,
                "{members} members: a cycle of probes {cycle:?}"
            );
            orders.push(cycle.to_vec());
        }
        orders.sort();
        orders.dedup();
        assert!(
            orders.len() > 1,
            "{members} members: the same order every cycle: {orders:?}"
        );
    }
}

/// Gossip targets come from the same sampler: in a three-node cluster with a
/// restarted member, a node's rounds go to both of its peers.
#[test]
fn gossip_rounds_reach_both_peers_of_a_three_node_cluster_after_a_restart() {
    let mut node = node(0, [1, 2], 3);
    let news = Message {
        incarnation: 1,
        body: Body::Probe(Probe::Ack { seq: 0 }),
        members: vec![alive(2, 1)],
    };
    node.handle(2, news, 0);
    let (_, gossiped) = drive(&mut node, 40);
    for peer in [1, 2] {
        let n = gossiped.iter().filter(|&&p| p == peer).count();
        assert!(n >= 5, "peer {peer} got {n} of 40 rounds: {gossiped:?}");
    }
}
