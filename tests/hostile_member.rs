//! A member that lies (issue 18): each attack is one forged message (or a
//! few) injected into a simulated cluster with `Simulator::inject`, and each
//! test proves that the bound that defends against it holds: the harm the
//! message did before the bound was there is gone.

use std::sync::Arc;

use rumor::crdt::{CausalContext, Crdt, OrSet, ReplicaId};
use rumor::gossip::{
    Body, Config, DeltaId, Event, Identity, MemberUpdate, Membership, Message, Probe, Refused,
    Status, Strategy, SyncBody, Tree,
};
use rumor::sim::{NetConfig, SimConfig, Simulator, Topology};

const VICTIM: u32 = 9;

fn cluster(nodes: u32, seed: u64, node: Config) -> Simulator<OrSet<u64>> {
    Simulator::new(settings(nodes, seed, node), |_| OrSet::new())
}

/// `nodes` nodes that all know each other, 1-5 ms apart, no loss.
fn settings(nodes: u32, seed: u64, node: Config) -> SimConfig {
    SimConfig {
        nodes,
        seed,
        node,
        net: NetConfig {
            latency_ms: (1, 5),
            loss: 0.0,
            duplicate: 0.0,
        },
        ..SimConfig::default()
    }
}

/// A `Sync` that opens an exchange and carries `delta`, nothing else.
fn sync(delta: OrSet<u64>) -> Message<OrSet<u64>, u32> {
    Message::new(Body::Sync(Box::new(SyncBody {
        seq: 0,
        delta,
        sealed: Vec::new(),
        context: None,
        digest: None,
        hop: 0,
        ack: None,
        reply: false,
    })))
}

/// A ping from `from` carrying one forged claim about `peer`.
fn claim(from: u32, peer: u32, incarnation: u64, status: Status) -> Message<OrSet<u64>, u32> {
    let mut message = Message::new(Body::Probe(Probe::Ping { seq: 0 }));
    message.members.push(MemberUpdate {
        peer,
        incarnation,
        status,
        by: from,
        proof: None,
    });
    message
}

/// `claim`, signed with `key` (a valid signature, of the wrong key unless
/// `key` is `peer`'s).
fn signed_claim(
    key: &Identity,
    from: u32,
    peer: u32,
    incarnation: u64,
    status: Status,
) -> Message<OrSet<u64>, u32> {
    let mut message = claim(from, peer, incarnation, status);
    message.members[0].proof = key.sign_claim(&message.members[0]);
    message
}

/// Every node but the victim holds it alive.
fn assert_all_hold_the_victim_alive(sim: &Simulator<OrSet<u64>>) {
    let dead: Vec<u32> = (0..sim.len())
        .filter(|&i| i != VICTIM && sim.node(i).member_status(VICTIM) != Status::Alive)
        .collect();
    assert!(
        dead.is_empty(),
        "{} of {} hold the live victim dead: {dead:?}",
        dead.len(),
        sim.len() - 1
    );
}

/// The victim writes `elements`; then the cluster runs for `ms`. Returns the
/// nodes (victim included) that lack one of them.
fn victim_writes(sim: &mut Simulator<OrSet<u64>>, elements: &[u64], ms: u64) -> Vec<u32> {
    for &x in elements {
        sim.update(VICTIM, |set, me| set.insert(me, x));
        sim.run_for(10);
    }
    sim.run_for(ms);
    (0..sim.len())
        .filter(|&i| !elements.iter().all(|x| sim.state(i).contains(x)))
        .collect()
}

#[test]
fn a_context_holding_the_last_dot_cannot_make_a_writer_reuse_its_dots() {
    let mut sim = cluster(20, 181, Config::default());
    assert_eq!(sim.node(0).config().strategy, Strategy::DeltaOptimized);
    sim.run_for(1_000);
    assert!(victim_writes(&mut sim, &[1], 2_000).is_empty());
    let victim: ReplicaId = sim.replica_id(VICTIM);
    let mut forged = CausalContext::new();
    forged.insert_range(victim, u64::MAX..=u64::MAX);
    sim.inject(sim.now(), 1_000, 0, sync(OrSet::removal(forged)));
    sim.run_for(3_000);
    let lacking = victim_writes(&mut sim, &[2, 3, 4], 5_000);
    assert!(
        lacking.is_empty(),
        "nodes {lacking:?} lack the victim's later writes"
    );
    assert!(
        sim.lost_writes().is_empty(),
        "lost: {:?}",
        sim.lost_writes()
    );
    let highest = sim.state(0).context().max(victim);
    assert!(highest < u64::MAX / 2, "the forged dot spread: {highest}");
    assert_eq!(sim.node(0).refused().deltas, 1);
}

#[test]
fn a_forged_max_incarnation_cannot_keep_a_live_member_dead() {
    let mut sim = cluster(50, 182, Config::default());
    sim.run_for(2_000);
    sim.inject(sim.now(), 3, 0, claim(3, VICTIM, u64::MAX, Status::Dead));
    sim.run_for(75_000);
    assert_all_hold_the_victim_alive(&sim);
    assert!(sim.node(VICTIM).incarnation() < 1 << 62);
}

#[test]
fn a_forged_near_max_incarnation_cannot_make_the_next_suspicion_permanent() {
    let mut sim = cluster(50, 183, Config::default());
    sim.run_for(2_000);
    sim.inject(
        sim.now(),
        3,
        0,
        claim(3, VICTIM, u64::MAX - 1, Status::Suspect),
    );
    sim.run_for(5_000);
    // An honest suspicion: the victim is cut off long enough to be declared
    // dead, then the network heals.
    sim.partition(|i| u32::from(i == VICTIM));
    sim.run_for(10_000);
    sim.heal();
    sim.run_for(30_000);
    assert_all_hold_the_victim_alive(&sim);
}

/// The victim writes `writes` elements from `first` on, one every 50 ms;
/// returns the time each took to reach every node, sorted (`u64::MAX` for
/// one that had not reached every node 5 s after the last write).
fn victim_spread_ms(sim: &mut Simulator<OrSet<u64>>, first: u64, writes: u64) -> Vec<u64> {
    let start = sim.updates().len();
    for x in first..first + writes {
        sim.update(VICTIM, |set, me| set.insert(me, x));
        sim.run_for(50);
    }
    sim.run_for(5_000);
    let mut spread: Vec<u64> = sim.updates()[start..]
        .iter()
        .map(|u| {
            let all = u.reached_ms.iter().all(Option::is_some);
            u.latest_reach_ms().filter(|_| all).unwrap_or(u64::MAX)
        })
        .collect();
    spread.sort_unstable();
    spread
}

#[test]
fn a_forged_eager_id_far_ahead_cannot_make_a_writers_deltas_duplicates() {
    let eager = Config {
        strategy: Strategy::Eager,
        ..Config::default()
    };
    let mut sim = cluster(50, 184, eager);
    sim.run_for(2_000);
    let honest = victim_spread_ms(&mut sim, 0, 20);
    // Something new, so that the forged delta travels the tree.
    let mut content = OrSet::new();
    let forged_delta = content.insert(ReplicaId::from_u128(0xBAD), 1_000_000);
    let id = DeltaId {
        origin: VICTIM,
        epoch: sim.node(VICTIM).epoch(),
        seq: 1_000_000,
    };
    let gossip = Tree::Gossip {
        id,
        delta: Arc::new(forged_delta),
        seal: None,
        hop: 0,
    };
    sim.inject(sim.now(), 3, 0, Message::new(Body::Tree(gossip)));
    sim.run_for(3_000);
    let after = victim_spread_ms(&mut sim, 100, 20);
    let worst = after[after.len() - 1];
    assert!(
        worst <= 4 * honest[honest.len() - 1].max(25),
        "the victim's writes took up to {worst} ms to reach all after the forged id (before: {honest:?})"
    );
    assert_eq!(sim.node(0).refused().ids, 1);
}

#[test]
fn forged_suspecters_do_not_count_as_confirmations() {
    let mut sim = cluster(50, 185, Config::default());
    sim.run_for(2_000);
    let start = sim.member_events().len();
    for _ in 0..60 {
        let incarnation = sim.node(VICTIM).incarnation();
        let mut message = Message::new(Body::Probe(Probe::Ping { seq: 0 }));
        for by in 1_000..1_004 {
            message.members.push(MemberUpdate {
                peer: VICTIM,
                incarnation,
                status: Status::Suspect,
                by,
                proof: None,
            });
        }
        sim.inject(sim.now(), 3, 0, message);
        sim.run_for(1_000);
    }
    let deaths = sim.member_events()[start..]
        .iter()
        .filter(|e| e.event == Event::MemberDown(VICTIM))
        .count();
    assert_eq!(
        deaths, 0,
        "the live victim was declared dead {deaths} times in a minute"
    );
}

/// The largest view among the nodes.
fn largest_view(sim: &Simulator<OrSet<u64>>) -> usize {
    (0..sim.len())
        .map(|i| sim.node(i).members().len())
        .max()
        .unwrap_or(0)
}

#[test]
fn members_never_heard_from_directly_are_forgotten() {
    let config = SimConfig {
        topology: Topology::Seeded { seeds: vec![0] },
        ..settings(100, 186, Config::default())
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    sim.run_for(30_000);
    assert_eq!(largest_view(&sim), 99);
    // 60 members that do not exist, claimed alive to one node.
    let mut message = Message::new(Body::Probe(Probe::Ping { seq: 0 }));
    for fake in 1_000..1_060 {
        message.members.push(MemberUpdate {
            peer: fake,
            incarnation: 1,
            status: Status::Alive,
            by: 3,
            proof: None,
        });
    }
    sim.inject(sim.now(), 3, 0, message);
    sim.run_for(5_000);
    let grown = largest_view(&sim);
    assert!(grown > 99, "the fakes did not spread: {grown}");
    sim.run_for(120_000);
    let largest = largest_view(&sim);
    assert_eq!(
        largest, 99,
        "views hold {largest} members two minutes later"
    );
    // Honest members are still all known and alive.
    let live = sim.node(0).live_members().count();
    assert_eq!(live, 99);
    assert!(sim.node(0).refused().unheard >= 60);
}

/// Messages the cluster sends in `ms` after `forged` (each injected into
/// node 0 from a made-up sender), beyond what the same cluster sends
/// without them; and what node 0 refused.
fn messages_drawn_by(forged: &[Message<OrSet<u64>, u32>], ms: u64) -> (u64, Refused) {
    let mut runs = [
        cluster(20, 187, Config::default()),
        cluster(20, 187, Config::default()),
    ];
    let mut sent = [0; 2];
    for (i, sim) in runs.iter_mut().enumerate() {
        sim.run_for(2_000);
        let before = sim.stats().messages;
        if i == 1 {
            for message in forged {
                sim.inject(sim.now(), 1_000, 0, message.clone());
            }
        }
        sim.run_for(ms);
        sent[i] = sim.stats().messages - before;
    }
    (sent[1].saturating_sub(sent[0]), runs[1].node(0).refused())
}

#[test]
fn a_ping_request_for_an_unknown_target_draws_no_ping() {
    let forged: Vec<_> = (0..50)
        .map(|seq| {
            Message::new(Body::Probe(Probe::PingReq {
                seq,
                target: 5_000 + u32::try_from(seq).unwrap_or(0),
            }))
        })
        .collect();
    let (extra, refused) = messages_drawn_by(&forged, 1_000);
    // At most a nack back to the requester for each.
    assert!(extra <= 50, "50 ping requests drew {extra} messages");
    assert_eq!(refused.ping_reqs, 50);
}

/// A regression found by the CI fuzz smoke (`fuzz/regressions/node_handle/
/// probe-outlives-forgotten-member`): a member learned only from a claim was
/// forgotten while the node's probe of it was in flight; the probe then
/// timed out and suspected the forgotten member from scratch, at incarnation
/// 0, so the node claimed 0 of a member it had claimed at 47, and the
/// member was back in its view.
#[test]
fn a_probe_in_flight_when_its_target_is_forgotten_suspects_no_one() {
    use rumor::gossip::{FullView, Node};
    let config = Config {
        probe_interval_ms: 10_000,
        ping_timeout_ms: 3_000,
        ..Config::default()
    };
    let mut in_flight_at_expiry = 0;
    for seed in 0..16 {
        let view = FullView::new(0, [1]);
        let mut node = Node::new(0u32, OrSet::<u64>::new(), view, config.clone(), seed);
        let _ = node.handle(1, claim(1, VICTIM, 47, Status::Alive), 0);
        assert_eq!(node.member_status(VICTIM), Status::Alive);
        let mut probing_victim = false;
        for now in (100..=200_000).step_by(100) {
            let known_before = node.members().contains(VICTIM);
            let output = node.tick(now);
            for (to, message) in &output.messages {
                if matches!(message.body, Body::Probe(Probe::Ping { .. })) {
                    // The probe of the round: of the victim, or of 1 (which
                    // answers nothing either: only the victim matters here).
                    probing_victim = *to == VICTIM;
                }
                for update in message.members.iter().filter(|u| u.peer == VICTIM) {
                    assert!(
                        update.incarnation >= 47,
                        "seed {seed}, at {now} ms: the node claims {update:?} after claiming 47"
                    );
                }
            }
            if known_before && !node.members().contains(VICTIM) && probing_victim {
                in_flight_at_expiry += 1;
            }
        }
        assert!(
            !node.members().contains(VICTIM),
            "seed {seed}: the member never heard from is back in the view"
        );
    }
    assert!(
        in_flight_at_expiry > 0,
        "no seed had a probe in flight at the expiry"
    );
}

/// The second half of the same fuzz find
/// (`fuzz/regressions/node_handle/forgotten-member-speaks-again`): a member
/// forgotten unheard (last held alive at 47) spoke again, with an
/// incarnation the bound refused. The node knew it afresh at incarnation 0,
/// then declared it dead at 0: back on its claim of 47, and a death at an
/// incarnation every other member ignores.
#[test]
fn a_forgotten_member_that_speaks_again_is_known_from_its_last_incarnation() {
    use rumor::gossip::{FullView, Node};
    let config = Config {
        probe_interval_ms: 1_000,
        ping_timeout_ms: 300,
        suspicion_mult: 1,
        ..Config::default()
    };
    let view = FullView::new(0, [1]);
    let mut node = Node::new(0u32, OrSet::<u64>::new(), view, config, 5);
    let _ = node.handle(1, claim(1, VICTIM, 47, Status::Alive), 0);
    let mut now = 0;
    while node.members().contains(VICTIM) && now < 100_000 {
        now += 100;
        let _ = node.tick(now);
    }
    assert!(!node.members().contains(VICTIM), "never forgotten");
    // It speaks, from an incarnation far beyond what the bound admits.
    let mut ping = Message::new(Body::Probe(Probe::Ping { seq: 1 }));
    ping.incarnation = u64::MAX / 2;
    let _ = node.handle(VICTIM, ping, now);
    assert!(node.members().contains(VICTIM));
    // Then it is silent: the node suspects it and declares it dead, at 47.
    let mut claims = Vec::new();
    for _ in 0..600 {
        now += 100;
        for (_, message) in node.tick(now).messages {
            claims.extend(message.members.iter().filter(|u| u.peer == VICTIM).copied());
        }
    }
    assert_eq!(node.member_status(VICTIM), Status::Dead);
    let stale = claims.iter().find(|u| u.incarnation < 47);
    assert_eq!(stale, None, "a claim below 47, of {} claims", claims.len());
    assert!(claims.iter().any(|u| u.status == Status::Dead));
}

/// A signed cluster (every node has an identity): claims made in another
/// member's name without its key are refused, while a real crash is still
/// detected and a node restarted with a fresh key is taken back.
#[test]
fn signed_claims_refuse_a_death_or_leave_claimed_in_anothers_name_and_still_detect_a_crash() {
    let config = SimConfig {
        signed: true,
        ..settings(30, 187, Config::default())
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    sim.run_for(3_000);
    let refused = |sim: &Simulator<OrSet<u64>>| -> u64 {
        (0..sim.len()).map(|i| sim.node(i).refused().claims).sum()
    };
    assert_eq!(refused(&sim), 0, "an honest signed cluster refused claims");
    let incarnation = sim.node(VICTIM).incarnation();
    // Node 3's address (the cluster key lets it send as anyone) claims the
    // victim dead by 3 (unsigned), and left (signed with a key of its own).
    sim.inject(sim.now(), 3, 0, claim(3, VICTIM, incarnation, Status::Dead));
    let mallory = Identity::from_secret([66; 32]);
    let left = signed_claim(&mallory, 3, VICTIM, incarnation, Status::Left);
    sim.inject(sim.now(), 3, 1, left);
    // A suspicion by members whose keys nobody knows.
    let mut suspicion = Message::new(Body::Probe(Probe::Ping { seq: 0 }));
    for by in 1_000..1_004 {
        let mut update = MemberUpdate {
            peer: VICTIM,
            incarnation,
            status: Status::Suspect,
            by,
            proof: None,
        };
        update.proof = mallory.sign_claim(&update);
        suspicion.members.push(update);
    }
    sim.inject(sim.now(), 3, 2, suspicion);
    sim.run_for(5_000);
    assert_all_hold_the_victim_alive(&sim);
    assert_eq!(
        sim.node(VICTIM).incarnation(),
        incarnation,
        "the victim had to refute a claim nobody should have taken"
    );
    let after = [0, 1, 2].map(|i| sim.node(i).refused().claims);
    assert!(after.iter().all(|&n| n >= 1), "refused: {after:?}");
    // A real crash: its probers' signed suspicions and deaths get through.
    sim.crash(5);
    sim.run_for(15_000);
    let missed: Vec<u32> = (0..sim.len())
        .filter(|&i| i != 5 && sim.node(i).member_status(5) != Status::Dead)
        .collect();
    assert!(
        missed.is_empty(),
        "{missed:?} do not hold the crashed node dead"
    );
    // Back with a fresh key (the simulator draws one per life): taken back
    // by everyone from its own signed claim, which binds the new key.
    sim.restart(5, false);
    sim.run_for(10_000);
    let stale: Vec<u32> = (0..sim.len())
        .filter(|&i| sim.node(i).member_status(5) != Status::Alive)
        .collect();
    assert!(
        stale.is_empty(),
        "{stale:?} do not hold the restarted node alive"
    );
}

/// Suspicions of a live member in the names of real, live members (which
/// the SWIM check that a suspecter is a known live member lets through),
/// forged by a key holder with a key of its own: nodes that know those
/// members' keys take none of them, so the member is never suspected or
/// declared dead.
#[test]
fn forged_suspicions_in_real_members_names_are_refused_by_a_signing_cluster() {
    let config = SimConfig {
        signed: true,
        ..settings(50, 188, Config::default())
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    sim.run_for(3_000);
    // Members whose keys the three targets hold: a key is bound by the
    // first valid proof of it a node sees (`docs/PROTOCOL.md`).
    let names: Vec<u32> = (10..50)
        .filter(|&m| m != VICTIM && (0..3).all(|i| sim.node(i).member_key(m).is_some()))
        .take(4)
        .collect();
    assert_eq!(names.len(), 4, "the targets know too few keys after 3 s");
    let start = sim.member_events().len();
    let mallory = Identity::from_secret([66; 32]);
    for round in 0..60u32 {
        let incarnation = sim.node(VICTIM).incarnation();
        let mut message = Message::new(Body::Probe(Probe::Ping { seq: 0 }));
        for &by in &names {
            let mut update = MemberUpdate {
                peer: VICTIM,
                incarnation,
                status: if round % 2 == 0 {
                    Status::Suspect
                } else {
                    Status::Dead
                },
                by,
                proof: None,
            };
            update.proof = mallory.sign_claim(&update);
            message.members.push(update);
        }
        sim.inject(sim.now(), 3, round % 3, message);
        sim.run_for(1_000);
    }
    let harmed = sim.member_events()[start..]
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::MemberDown(VICTIM) | Event::MemberSuspected(VICTIM)
            )
        })
        .count();
    assert_eq!(
        harmed, 0,
        "the live victim was suspected or declared dead {harmed} times"
    );
    assert_all_hold_the_victim_alive(&sim);
    let refused: u64 = (0..3).map(|i| sim.node(i).refused().claims).sum();
    assert!(
        refused >= 60 * 4,
        "refused only {refused} of 240 forged claims"
    );
}

/// The race that first-sight binding leaves open (`docs/PROTOCOL.md`, "What
/// a member can forge"): a key holder that speaks for a member before the
/// member itself does, with its own key, is bound at the nodes it reached.
/// The member's own signed word, when it comes directly, rebinds its key
/// (a life not below the one held), and the forger's claims in its name are
/// refused there again (until the forger sends another direct self-claim
/// as the member: the last direct self-claim of a life wins).
#[test]
fn a_key_bound_first_by_a_forger_is_rebound_by_the_members_own_word() {
    let config = SimConfig {
        signed: true,
        ..settings(30, 189, Config::default())
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    let mallory = Identity::from_secret([66; 32]);
    // Before any message: the victim's address says it is alive, signed by
    // mallory, to nodes 0 to 2.
    for to in 0..3 {
        sim.inject(
            0,
            VICTIM,
            to,
            signed_claim(&mallory, VICTIM, VICTIM, 0, Status::Alive),
        );
    }
    sim.run_for(1);
    let won: Vec<u32> = (0..3)
        .filter(|&i| sim.node(i).member_key(VICTIM) == Some(mallory.author()))
        .collect();
    assert_eq!(won, [0, 1, 2], "the forger was not first");

    sim.run_for(5_000);
    let real = sim.node(20).member_key(VICTIM);
    assert!(real.is_some() && real != Some(mallory.author()));
    let wrong: Vec<u32> = (0..sim.len())
        .filter(|&i| i != VICTIM && sim.node(i).member_key(VICTIM) != real)
        .collect();
    assert!(
        wrong.is_empty(),
        "{wrong:?} hold another key for the victim"
    );
    // Mallory's word no longer counts: a leave it signs is refused.
    let before: u64 = (0..3).map(|i| sim.node(i).refused().claims).sum();
    for to in 0..3 {
        let left = signed_claim(&mallory, VICTIM, VICTIM, 0, Status::Left);
        sim.inject(sim.now(), VICTIM, to, left);
    }
    sim.run_for(3_000);
    let after: u64 = (0..3).map(|i| sim.node(i).refused().claims).sum();
    assert!(
        after >= before + 3,
        "refused {before} before, {after} after"
    );
    assert_all_hold_the_victim_alive(&sim);
}
