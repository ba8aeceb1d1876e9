//! Full-view membership driven by hand and in the simulator: the order in
//! which a node probes and gossips, how members learn of each other from a
//! few seeds, and what a node reports about its members.

use rumor::crdt::GCounter;
use rumor::gossip::{
    Body, Config, Event, FullView, MemberUpdate, Membership, Message, Node, Probe, Status,
};

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
        proof: None,
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
                    let _ = node.handle(to, ack, now + 1);
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
        let _ = node.handle(1, news, 0);
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
    let _ = node.handle(2, news, 0);
    let (_, gossiped) = drive(&mut node, 40);
    for peer in [1, 2] {
        let n = gossiped.iter().filter(|&&p| p == peer).count();
        assert!(n >= 5, "peer {peer} got {n} of 40 rounds: {gossiped:?}");
    }
}

mod seeded {
    use rumor::crdt::GCounter;
    use rumor::gossip::{Config, Membership};
    use rumor::sim::{NetConfig, SimConfig, Simulator, Topology};

    /// `nodes` nodes that each start knowing only `seeds`.
    pub(crate) fn cluster(nodes: u32, seeds: &[u32], seed: u64, loss: f64) -> Simulator<GCounter> {
        let config = SimConfig {
            nodes,
            topology: Topology::Seeded {
                seeds: seeds.to_vec(),
            },
            seed,
            node: Config::default(),
            net: NetConfig {
                latency_ms: (1, 5),
                loss,
                duplicate: 0.0,
            },
            signed: false,
        };
        Simulator::new(config, |_| GCounter::new())
    }

    /// The nodes (among `nodes`) that do not know all `expected` others.
    pub(crate) fn strangers(
        sim: &Simulator<GCounter>,
        nodes: &[u32],
        expected: usize,
    ) -> Vec<(u32, usize)> {
        nodes
            .iter()
            .map(|&i| (i, sim.node(i).members().len()))
            .filter(|&(_, known)| known != expected)
            .collect()
    }
}

/// Issue 14, item 5: a member's "alive at incarnation 0" was never passed
/// on, so a node only ever knew its seeds and the members that wrote to it.
/// A hundred nodes that start at once from one seed or from three know
/// each other within 3 s (30 gossip rounds) without loss, and within 5 s at
/// 10 % loss: over 80 runs (40 seeds, one seed node or three) the last node
/// to know all took 4.2 s at worst, and 12 of the 80 runs still missed a
/// member or two at 3 s (9 before probe cycles took joiners in).
#[test]
fn a_cluster_started_at_once_from_seeds_knows_itself_within_three_seconds_or_five_at_10_percent_loss(
) {
    let all: Vec<u32> = (0..100).collect();
    for (seeds, seed) in [(&[0][..], 1), (&[0, 1, 2][..], 2)] {
        for (loss, within_ms) in [(0.0, 3_000), (0.1, 5_000)] {
            let mut sim = seeded::cluster(100, seeds, seed, loss);
            sim.run_for(within_ms);
            let strangers = seeded::strangers(&sim, &all, 99);
            assert!(
                strangers.is_empty(),
                "seeds {seeds:?}, loss {loss}: (node, members known) {strangers:?}"
            );
        }
    }
}

/// One node joins a running cluster of 100 through a seed: within 1 s (10
/// gossip rounds) it knows every member (the seed's list), and every member
/// knows it (its join spreads as a rumor).
#[test]
fn a_joiner_and_the_cluster_know_each_other_within_one_second() {
    for (seeds, seed) in [(&[0][..], 5), (&[7, 8, 9][..], 6)] {
        let joiner = 100;
        let mut sim = seeded::cluster(101, seeds, seed, 0.0);
        sim.crash(joiner);
        sim.run_for(5_000);
        let cluster: Vec<u32> = (0..100).collect();
        assert!(seeded::strangers(&sim, &cluster, 99).is_empty());
        sim.restart(joiner, false);
        sim.run_for(1_000);
        let everyone: Vec<u32> = (0..=100).collect();
        let strangers = seeded::strangers(&sim, &everyone, 100);
        assert!(
            strangers.is_empty(),
            "seeds {seeds:?}: (node, members known) {strangers:?}"
        );
    }
}

/// Once the members know each other, the seeds are not needed: with all
/// three crashed, a write from node 50 reaches every live node.
#[test]
fn a_write_reaches_every_member_after_the_seeds_crash() {
    let mut sim = seeded::cluster(100, &[0, 1, 2], 3, 0.0);
    sim.run_for(3_000);
    for seed in [0, 1, 2] {
        sim.crash(seed);
    }
    sim.run_for(1_000);
    sim.update(50, |s, me| s.increment(me, 1));
    assert!(
        sim.run_until_delivered(5_000),
        "the write stayed where it was made"
    );
    for i in 3..100 {
        assert_eq!(sim.state(i).value(), 1, "node {i}");
    }
}

/// A node that joins knowing only a seed that is down learns the cluster
/// once the seed is back (the seed restarts knowing nobody, and learns the
/// others as they reconnect to it), and the cluster learns the joiner:
/// within 5 s of the seed's return, on every one of five seeds.
#[test]
fn a_joiner_that_knew_only_a_dead_seed_learns_everyone_once_the_seed_returns() {
    let joiner = 49;
    for seed in 1..=5 {
        let mut sim = seeded::cluster(50, &[0], seed, 0.0);
        // The joiner has not started yet: nobody has heard of it.
        sim.crash(joiner);
        sim.run_for(3_000);
        let others: Vec<u32> = (0..49).collect();
        assert!(seeded::strangers(&sim, &others, 48).is_empty());
        sim.crash(0);
        sim.run_for(5_000);
        // It starts knowing only the dead seed.
        sim.restart(joiner, false);
        sim.run_for(5_000);
        assert_eq!(sim.node(joiner).members().len(), 1, "seed {seed}");
        sim.restart(0, true);
        sim.run_for(5_000);
        let everyone: Vec<u32> = (0..50).collect();
        let strangers = seeded::strangers(&sim, &everyone, 49);
        assert!(
            strangers.is_empty(),
            "seed {seed}: (node, members known) {strangers:?}"
        );
        sim.update(joiner, |s, me| s.increment(me, 1));
        assert!(sim.run_until_delivered(5_000), "seed {seed}");
    }
}

fn joined<S>(events: &[Event<S, u32>]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MemberJoined(p) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Issue 14, item 12: the seeds a `FullView` is built with are members
/// too. A node reports them as `MemberJoined` once, in the output of its
/// first round; a contact given to `join` in the output of the join; a
/// member learned from a message when the message comes.
#[test]
fn seeds_and_contacts_are_reported_joined_once() {
    let mut node = node(0, [1, 2], 1);
    assert_eq!(joined(&node.tick(100).events), vec![1, 2]);
    assert_eq!(joined(&node.tick(200).events), Vec::<u32>::new());
    assert_eq!(joined(&node.join(3, 250).events), vec![3]);
    assert_eq!(joined(&node.join(3, 260).events), Vec::<u32>::new());
    let hello = Message {
        incarnation: 0,
        body: Body::Probe(Probe::Ping { seq: 9 }),
        members: vec![alive(5, 0)],
    };
    assert_eq!(joined(&node.handle(4, hello, 300).events), vec![4, 5]);
    assert_eq!(joined(&node.tick(400).events), Vec::<u32>::new());
}

/// `live_members` lists the members a node holds alive or suspect: not
/// those it holds dead or departed.
#[test]
fn live_members_leave_out_the_dead_and_the_departed() {
    let mut node = node(0, [1, 2, 3, 4], 1);
    let claim = |peer, status| MemberUpdate {
        peer,
        incarnation: 0,
        status,
        by: 1,
        proof: None,
    };
    let news = Message {
        incarnation: 0,
        body: Body::Probe(Probe::Ack { seq: 0 }),
        members: vec![
            claim(2, Status::Dead),
            claim(3, Status::Left),
            claim(4, Status::Suspect),
        ],
    };
    let _ = node.handle(1, news, 100);
    let mut live: Vec<u32> = node.live_members().collect();
    live.sort_unstable();
    assert_eq!(live, vec![1, 4]);
}

/// The updates piggybacked on one message fit `max_piggyback_bytes` (the
/// first always goes), and the ones left over go on the next messages: with
/// a budget of 40 bytes, 16 news of about 10 bytes each go 4 at a time,
/// every one of them in turn. (Signed claims are about 120 bytes: 16 made a
/// probe of 2 KB, over one datagram.)
#[test]
fn piggybacked_updates_fit_the_byte_budget_and_the_rest_go_on_the_next_messages() {
    use rumor::crdt::codec::encoded_len;
    let budget = 40;
    let config = Config {
        max_piggyback_bytes: budget,
        ..Config::default()
    };
    let mut node = Node::new(0, GCounter::new(), FullView::new(0, [1]), config, 3);
    let news: Vec<MemberUpdate<u32>> = (1_000..1_016).map(|p| alive(p, 1)).collect();
    let _ = node.handle(
        1,
        Message {
            incarnation: 0,
            body: Body::Probe(Probe::Ack { seq: 0 }),
            members: news,
        },
        0,
    );
    let mut carried = std::collections::BTreeSet::new();
    let mut most = 0;
    for seq in 1..20 {
        let out = node.handle(1, Message::new(Body::Probe(Probe::Ping { seq })), 10);
        for (_, message) in &out.messages {
            let bytes: usize = message
                .members
                .iter()
                .map(|u| encoded_len(u).expect("encodes"))
                .sum();
            assert!(
                bytes <= budget || message.members.len() == 1,
                "{bytes} bytes in {} updates",
                message.members.len()
            );
            most = most.max(message.members.len());
            carried.extend(message.members.iter().map(|u| u.peer));
        }
    }
    assert!(most < 16, "the budget, not the count, bound the message");
    assert!(most > 1, "as many as fit");
    assert!(
        (1_000..1_016).all(|p| carried.contains(&p)),
        "every news went out: {carried:?}"
    );
}
