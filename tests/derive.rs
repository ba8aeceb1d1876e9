//! `#[derive(Crdt)]` beyond the merge laws (which `tests/laws_*.rs` check
//! on a derived struct of four fields): tuple structs, generic structs,
//! derived structs nested in derived structs, the generated context, the
//! codec at large sizes, `split` and `latest_timestamp`, and a derived
//! state driven by gossip nodes.

use rumor::crdt::{
    codec, Crdt, GCounter, Hlc, LwwMap, LwwRegister, OrMap, OrSet, PnCounter, ReplicaId,
};
use rumor::gossip::{Config, FullView, Node, Strategy};
use serde::{Deserialize, Serialize};

#[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Pair(GCounter, OrSet<String>);

#[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tagged<T: Ord + Clone + std::fmt::Debug + Default> {
    tags: OrSet<T>,
    label: LwwRegister<T>,
}

#[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Fleet {
    robots: Tagged<u32>,
    pair: Pair,
    balance: PnCounter,
}

/// The state of seed scenario §8, as the README's example keeps it.
#[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Swarm {
    positions: LwwMap<u32, (i32, i32)>,
    obstacles: OrSet<(i32, i32)>,
    claims: OrSet<(u32, u32)>,
    finished: GCounter,
}

fn r(n: u128) -> ReplicaId {
    ReplicaId::from_u128(n)
}

#[test]
fn a_tuple_struct_joins_and_extracts_field_by_field() {
    let mut a = Pair::default();
    let mut b = Pair::default();
    let da = a.update_0(|c| c.increment(r(1), 2));
    let db = b.update_1(|s| s.insert(r(2), "x".to_string()));
    assert!(da.1.is_bottom() && db.0.is_bottom());
    a.join(&db);
    b.join(&da);
    assert_eq!(a, b);
    assert_eq!(a.0.value(), 2);
    assert!(a.1.contains(&"x".to_string()));
    let context: PairContext = a.context();
    assert!(a.delta_since(&context).is_bottom());
}

#[test]
fn derived_structs_nest_and_a_nested_removal_is_exact() {
    let mut a = Fleet::default();
    let stamp = Hlc::new(r(1)).now(1_000);
    let _ = a.update_robots(|t| t.update_tags(|s| s.insert(r(1), 7)));
    let _ = a.update_robots(|t| t.update_label(|l| l.set(3, stamp).unwrap_or_default()));
    let mut b = a.clone();
    let seen = b.context();
    let removed = a.update_robots(|t| t.update_tags(|s| s.remove(&7)));
    assert!(removed.pair.is_bottom() && removed.balance.is_bottom());
    let _ = a.update_balance(|c| c.decrement(r(1), 4));
    // b, which saw the insert, catches up from its context alone.
    b.join(&a.delta_since(&seen));
    assert_eq!(b, a);
    assert!(!b.robots.tags.contains(&7));
    assert_eq!(b.balance.value(), -4);
    assert_eq!(b.robots.label.get(), Some(&3));
    assert_eq!(a.latest_timestamp(), Some(stamp));
}

#[test]
fn a_large_derived_state_round_trips_through_the_bounded_codec() {
    let mut swarm = Swarm::default();
    let mut clock = Hlc::new(r(1));
    for robot in 0..20_000u32 {
        let x = i32::try_from(robot).unwrap_or_default();
        let at = clock.now(1_000 + u64::from(robot));
        let _ = swarm.update_positions(|m| m.insert(robot, (x, -x), at).unwrap_or_default());
        let _ = swarm.update_obstacles(|s| s.insert(r(1), (x, x)));
        let _ =
            swarm.update_claims(|s| s.insert(r(u128::from(robot % 7) + 1), (robot, robot % 100)));
        let _ = swarm.update_finished(|c| c.increment(r(u128::from(robot % 5) + 1), 1));
    }
    let bytes = codec::encode(&swarm).expect("encodes");
    let back: Swarm = codec::decode(&bytes, codec::DEFAULT_LIMIT).expect("decodes");
    assert_eq!(back, swarm);
    let context = codec::encode(&swarm.context()).expect("the context encodes");
    let context: SwarmContext = codec::decode(&context, codec::DEFAULT_LIMIT).expect("decodes");
    assert!(swarm.delta_since(&context).is_bottom());
    // Truncated, it is refused with an error, not a panic.
    assert!(codec::decode::<Swarm>(&bytes[..bytes.len() / 2], codec::DEFAULT_LIMIT).is_err());
}

#[test]
fn split_gives_at_most_the_parts_asked_for_and_they_join_back_to_the_whole() {
    let mut swarm = Swarm::default();
    let mut clock = Hlc::new(r(1));
    for n in 0..200u32 {
        let at = clock.now(1_000);
        let x = i32::try_from(n).unwrap_or_default();
        let _ = swarm.update_positions(|m| m.insert(n, (x, x), at).unwrap_or_default());
        let _ = swarm.update_obstacles(|s| s.insert(r(2), (x, 0)));
    }
    let _ = swarm.update_finished(|c| c.increment(r(3), 9));
    for parts in [1, 2, 3, 5, 8, 64] {
        let pieces = swarm.split(parts);
        assert!(
            !pieces.is_empty() && pieces.len() <= parts,
            "{} pieces for {parts}",
            pieces.len()
        );
        let mut joined = Swarm::default();
        for piece in pieces.iter().rev() {
            assert!(swarm.includes(piece));
            joined.join(piece);
        }
        assert_eq!(joined, swarm, "{parts} parts");
    }
    assert!(Swarm::default().split(4).is_empty());
}

/// Three gossip nodes hold a `Swarm`; each writes to every field; deltas
/// travel encoded, as on a wire; all end equal, field by field.
#[test]
fn a_derived_state_of_four_fields_converges_field_by_field_over_gossip() {
    type SwarmNode = Node<Swarm, u32, FullView<u32>>;
    let config = Config {
        strategy: Strategy::Eager,
        ..Config::default()
    };
    let mut nodes: Vec<SwarmNode> = (0..3u32)
        .map(|i| {
            let others = (0..3u32).filter(move |&j| j != i);
            Node::new(
                i,
                Swarm::default(),
                FullView::new(i, others),
                config.clone(),
                u64::from(i),
            )
            .with_clock(Hlc::new(r(u128::from(i) + 1)))
        })
        .collect();
    let mut wire = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let me = r(i as u128 + 1);
        let robot = u32::try_from(i).unwrap_or_default();
        let at = node.timestamp(1_000).expect("a clock");
        let x = i32::try_from(i).unwrap_or_default();
        for out in [
            node.update(|s| {
                s.update_positions(|m| m.insert(robot, (x, x), at).unwrap_or_default())
            }),
            node.update(|s| s.update_obstacles(|o| o.insert(me, (x, 1)))),
            node.update(|s| s.update_claims(|c| c.insert(me, (robot, 1)))),
            node.update(|s| s.update_finished(|c| c.increment(me, 1))),
        ] {
            wire.extend(
                out.messages
                    .into_iter()
                    .map(|(to, m)| (robot, to, codec::encode(&m).expect("encodes"))),
            );
        }
    }
    // Deliver until quiet (bounded), then a few rounds of anti-entropy.
    let mut now = 1_000;
    for _ in 0..50 {
        if wire.is_empty() {
            now += 100;
            for (i, node) in nodes.iter_mut().enumerate() {
                let from = u32::try_from(i).unwrap_or_default();
                let out = node.tick(now);
                wire.extend(
                    out.messages
                        .into_iter()
                        .map(|(to, m)| (from, to, codec::encode(&m).expect("encodes"))),
                );
            }
        }
        for (from, to, bytes) in std::mem::take(&mut wire) {
            let message = codec::decode(&bytes, codec::DEFAULT_LIMIT).expect("decodes");
            let node = &mut nodes[to as usize];
            let out = node.handle(from, message, now);
            wire.extend(
                out.messages
                    .into_iter()
                    .map(|(next, m)| (to, next, codec::encode(&m).expect("encodes"))),
            );
        }
    }
    for node in &nodes[1..] {
        assert_eq!(node.state(), nodes[0].state());
    }
    let state = nodes[0].state();
    assert_eq!(state.positions.len(), 3);
    assert_eq!(state.obstacles.len(), 3);
    assert_eq!(state.claims.len(), 3);
    assert_eq!(state.finished.value(), 3);
}

/// A delta through one field costs on the wire what that field's delta
/// costs, plus a few bytes for each other field at bottom (measured: 29
/// bytes alone, 38 in the struct, with three other fields).
#[test]
fn a_one_field_delta_of_a_derived_struct_is_the_field_delta_plus_a_few_bytes() {
    let mut swarm = Swarm::default();
    for n in 0..1_000 {
        let _ = swarm.update_obstacles(|s| s.insert(r(1), (n, n)));
    }
    let mut field = None;
    let delta = swarm.update_obstacles(|s| {
        let d = s.insert(r(2), (-1, -1));
        field = Some(d.clone());
        d
    });
    let whole = codec::encode(&delta).expect("encodes").len();
    let alone = codec::encode(&field.expect("the field delta"))
        .expect("encodes")
        .len();
    eprintln!("one OR-Set insert: {alone} bytes alone, {whole} bytes in the derived struct");
    assert!(whole <= alone + 3 * 4, "{whole} bytes against {alone}");
}

/// An `OrMap` as a field: per-robot task sets beside a counter.
#[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Board {
    tasks: OrMap<u32, OrSet<String>>,
    done: GCounter,
}

#[test]
fn an_or_map_field_of_a_derived_struct_keeps_add_wins_keys_and_shares_its_context() {
    let (r1, r2) = (r(1), r(2));
    let mut a = Board::default();
    let first = a.update_tasks(|m| m.update(r1, 7, |s| s.insert(r1, "scan".into())));
    assert!(first.done.is_bottom());
    let mut b = a.clone();
    let removal = a.update_tasks(|m| m.remove(&7));
    let concurrent = b.update_tasks(|m| m.update(r2, 7, |s| s.insert(r2, "charge".into())));
    let counted = b.update_done(|c| c.increment(r2, 1));
    a.join(&concurrent);
    a.join(&counted);
    b.join(&removal);
    assert_eq!(a, b);
    let tasks: Vec<String> = a
        .tasks
        .get(&7)
        .unwrap_or_default()
        .iter()
        .cloned()
        .collect();
    assert_eq!(tasks, ["charge"]);
    // The derive forwards the nested-dot hooks to the map field.
    let mut copy = Board::default();
    copy.observe_dots(&a.tasks.context());
    assert_eq!(copy.last_dot(r2), a.tasks.context().max(r2));
    let behind = Board::default();
    let mut caught_up = behind.clone();
    caught_up.join(&a.delta_since(&behind.context()));
    assert_eq!(caught_up, a);
    let bytes = codec::encode(&a).expect("encodes");
    assert_eq!(
        codec::decode::<Board>(&bytes, codec::DEFAULT_LIMIT).expect("decodes"),
        a
    );
}
