//! Amplification (issue 18, part 2): a small `Sync` must not draw an answer
//! many times its size from a node that does not know its sender, while a
//! member that really is behind still gets the whole `delta_since` it lacks.
//! The node is driven directly (`Node::handle`) and every message is
//! measured by its encoding, so the sizes are exact.

use std::collections::VecDeque;

use rumor::crdt::{codec, CausalContext, Crdt, OrSet, ReplicaId};
use rumor::gossip::{Body, Config, FullView, Message, Node, Probe, SyncBody};

type Set = OrSet<u64>;

/// A sender no node was told of.
const STRANGER: u32 = 1_000;

/// Node 0 of a 20-member full view, holding 6,000 elements written by 20
/// replicas (300 each): a full answer to an empty context is about 31 KB.
fn loaded_node(config: Config) -> Node<Set, u32> {
    let mut state = Set::new();
    for writer in 0..20u64 {
        let me = ReplicaId::from_u128(u128::from(writer) + 1);
        for i in 0..300 {
            let _ = state.insert(me, writer * 1_000 + i);
        }
    }
    assert_eq!(state.len(), 6_000);
    Node::new(0, state, FullView::new(0, 1..20), config, 7)
}

/// A `Sync` that opens an exchange with an empty context: "send me
/// everything".
fn empty_context_sync() -> Message<Set, u32> {
    Message::new(Body::Sync(Box::new(SyncBody {
        seq: 0,
        delta: Set::new(),
        sealed: Vec::new(),
        context: Some(CausalContext::new()),
        digest: None,
        hop: 0,
        ack: None,
        reply: false,
    })))
}

fn encoded_len(message: &Message<Set, u32>) -> usize {
    codec::encode(message).expect("encodes").len()
}

/// The encoded bytes of the messages `node` sends `to` when it handles
/// `message` from `to`, and those messages' deltas joined.
fn answer_to(node: &mut Node<Set, u32>, to: u32, message: Message<Set, u32>) -> (usize, Set) {
    let out = node.handle(to, message, 1_000);
    let mut bytes = 0;
    let mut joined = Set::new();
    for (_, answer) in out.messages.iter().filter(|(peer, _)| *peer == to) {
        bytes += encoded_len(answer);
        if let Some(delta) = answer.payload() {
            joined.join(delta);
        }
    }
    (bytes, joined)
}

#[test]
fn a_small_sync_from_a_stranger_draws_at_most_the_bounded_answer() {
    let request = empty_context_sync();
    let request_len = encoded_len(&request);
    // The defence switched off: the answer the issue measured.
    let unbounded = Config {
        max_answer_factor: usize::MAX,
        ..Config::default()
    };
    let (before, _) = answer_to(&mut loaded_node(unbounded), STRANGER, request.clone());
    assert!(
        before > 30_000,
        "without the bound a {request_len}-byte request drew {before} bytes"
    );

    let config = Config::default();
    let factor = config.max_answer_factor;
    let mut node = loaded_node(config);
    let (after, _) = answer_to(&mut node, STRANGER, request);
    eprintln!(
        "a {request_len}-byte Sync drew {before} bytes ({}x) unbounded, {after} bytes ({:.1}x) bounded",
        before / request_len,
        after as f64 / request_len as f64,
    );
    assert!(
        after <= factor * request_len,
        "a {request_len}-byte request drew {after} bytes, more than {factor}x"
    );
    assert!(
        after > 0,
        "the stranger is still answered, within the bound"
    );
    assert_eq!(node.refused().answers, 1);
}

#[test]
fn a_member_that_is_behind_still_gets_its_whole_catch_up() {
    // Built as a driver builds a restarted node too (a later life): the
    // members it was given keep their proven addresses.
    for later_life in [false, true] {
        let mut node = loaded_node(Config::default());
        if later_life {
            node = node.with_incarnation(4);
        }
        // Member 3 is heard from directly (a ping) before it asks.
        let ping = Message::new(Body::Probe(Probe::Ping { seq: 1 }));
        let _ = node.handle(3, ping, 500);
        let (bytes, joined) = answer_to(&mut node, 3, empty_context_sync());
        assert_eq!(&joined, node.state(), "the catch-up is the whole state");
        assert!(bytes > 30_000, "{bytes} bytes, later life {later_life}");
        assert_eq!(node.refused().answers, 0);
    }
}

#[test]
fn a_joiner_gets_its_whole_catch_up_one_round_trip_later() {
    let mut seed = loaded_node(Config::default());
    let joiner_id = 100;
    let mut joiner = Node::new(
        joiner_id,
        Set::new(),
        FullView::new(joiner_id, [0]),
        Config::default(),
        11,
    );
    // The joiner's first round opens an exchange with its seed (its context,
    // empty); every message between the two is delivered in order.
    let mut wire: VecDeque<(u32, u32, Message<Set, u32>)> = joiner
        .tick(1_000)
        .messages
        .into_iter()
        .map(|(to, m)| (joiner_id, to, m))
        .collect();
    let mut delivered = 0;
    while let Some((from, to, message)) = wire.pop_front() {
        delivered += 1;
        assert!(delivered < 1_000, "the exchange does not end");
        let node = match to {
            0 => &mut seed,
            id if id == joiner_id => &mut joiner,
            _ => continue,
        };
        for (next, m) in node.handle(from, message, 1_000).messages {
            wire.push_back((to, next, m));
        }
    }
    assert_eq!(seed.refused().answers, 1, "the first answer was bounded");
    assert_eq!(joiner.state(), seed.state(), "the joiner caught up");
}

#[test]
fn a_full_state_answer_to_a_stranger_is_bounded_too() {
    use rumor::gossip::Strategy;
    let config = Config {
        strategy: Strategy::FullState,
        ..Config::default()
    };
    let factor = config.max_answer_factor;
    let mut node = loaded_node(config);
    // A full-state round's push-pull, from a sender with an empty state.
    let request = Message::new(Body::Sync(Box::new(SyncBody {
        seq: 0,
        delta: Set::new(),
        sealed: Vec::new(),
        context: None,
        digest: None,
        hop: 0,
        ack: None,
        reply: true,
    })));
    let request_len = encoded_len(&request);
    let first = node.handle(STRANGER, request.clone(), 1_000);
    let bytes: usize = first.messages.iter().map(|(_, m)| encoded_len(m)).sum();
    assert!(
        bytes <= factor * request_len,
        "a {request_len}-byte request drew {bytes} bytes"
    );
    assert_eq!(node.refused().answers, 1);
    // The bounded answer comes with a challenge: a ping whose random `seq`
    // only the holder of the address sees.
    let challenge = first
        .messages
        .iter()
        .find_map(|(to, m)| match m.body {
            Body::Probe(Probe::Ping { seq }) if *to == STRANGER => Some(seq),
            _ => None,
        })
        .expect("a challenge to the stranger");
    // A sender that does not echo it (a forged address) is bounded again:
    // its second request, once answered in full, draws no more than its
    // first.
    for round in 2..5 {
        let (bytes, _) = answer_to(&mut node, STRANGER, request.clone());
        assert!(
            bytes <= factor * request_len,
            "request {round}: {request_len} bytes drew {bytes}"
        );
        assert_eq!(node.refused().answers, round);
    }
    // A wrong echo proves nothing.
    let wrong = Message::new(Body::Probe(Probe::Ack {
        seq: challenge.wrapping_add(1),
    }));
    let _ = node.handle(STRANGER, wrong, 1_000);
    let (bytes, _) = answer_to(&mut node, STRANGER, request.clone());
    assert!(bytes <= factor * request_len, "after a wrong echo: {bytes}");
    // The right one: known from then on, its next round gets the whole state.
    let echo = Message::new(Body::Probe(Probe::Ack { seq: challenge }));
    let _ = node.handle(STRANGER, echo, 1_000);
    let (_, joined) = answer_to(&mut node, STRANGER, request);
    assert_eq!(&joined, node.state());
}

/// An eager node that wrote 100 deltas of 20 elements each (all kept for
/// grafts), and a `Graft` for all of them: a few bytes asking for ~20 KB.
#[test]
fn a_graft_from_a_stranger_draws_at_most_the_bounded_answer() {
    use rumor::gossip::{IdRange, Strategy, Tree};
    let graft_answer = |factor: usize| {
        let config = Config {
            strategy: Strategy::Eager,
            max_answer_factor: factor,
            ..Config::default()
        };
        let mut node = Node::new(0, Set::new(), FullView::new(0, 1..20), config, 7);
        let me = ReplicaId::from_u128(1);
        for k in 0..100u64 {
            let _ = node.update(|s| {
                let mut delta = Set::new();
                for i in 0..20 {
                    delta.join(&s.insert(me, k * 100 + i));
                }
                delta
            });
        }
        let ids = vec![IdRange {
            origin: 0,
            epoch: node.epoch(),
            first: 0,
            last: 99,
            hop: 0,
        }];
        let graft = Message::new(Body::Tree(Tree::Graft { ids }));
        let request = encoded_len(&graft);
        let out = node.handle(STRANGER, graft, 1_000);
        let bytes: usize = out
            .messages
            .iter()
            .filter(|(to, m)| *to == STRANGER && matches!(m.body, Body::Tree(Tree::Gossip { .. })))
            .map(|(_, m)| encoded_len(m))
            .sum();
        (request, bytes, node.refused().answers)
    };
    let (request, before, _) = graft_answer(usize::MAX);
    let (_, after, refused) = graft_answer(Config::default().max_answer_factor);
    eprintln!("a {request}-byte Graft drew {before} bytes unbounded, {after} bytes bounded");
    assert!(
        before > 100 * request,
        "unbounded: {before} bytes for {request}"
    );
    assert!(after <= Config::default().max_answer_factor * request);
    assert!(after > 0, "the stranger still gets what fits");
    assert_eq!(refused, 1);
}

/// A member list from `from` (itself alone), asking for ours or not.
fn member_list(from: u32, reply: bool) -> Message<Set, u32> {
    use rumor::gossip::{MemberUpdate, Status};
    Message::new(Body::Probe(Probe::Members {
        members: vec![MemberUpdate {
            peer: from,
            incarnation: 0,
            status: Status::Alive,
            by: from,
            proof: None,
        }],
        reply,
    }))
}

/// The member-list pages `node` sends `to` when it handles `message`, and
/// whether the first asks for an answer.
fn pages_to(node: &mut Node<Set, u32>, to: u32, message: Message<Set, u32>) -> (usize, bool) {
    let out = node.handle(to, message, 1_000);
    let pages: Vec<bool> = out
        .messages
        .iter()
        .filter_map(|(peer, m)| match &m.body {
            Body::Probe(Probe::Members { reply, .. }) if *peer == to => Some(*reply),
            _ => None,
        })
        .collect();
    (pages.len(), pages.first().copied().unwrap_or(false))
}

/// A member list that asks for ours, from a stranger, to a node that knows
/// 200 members: one page of the seven, asking for the stranger's list; the
/// rest once that answer came and the address echoed the challenge sent
/// with the first page (the stranger receives there), in either order.
/// (Datagrams reorder: a joiner's answer overtook its echo, and its seed
/// kept the rest of its list until the next exchange, a second later.)
#[test]
fn a_member_list_request_from_a_stranger_gets_one_page_until_it_answers() {
    let node = || -> Node<Set, u32> {
        Node::new(
            0,
            Set::new(),
            FullView::new(0, 1..200),
            Config::default(),
            7,
        )
    };
    let mut known = node();
    assert_eq!(pages_to(&mut known, 5, member_list(5, true)), (7, false));
    assert_eq!(known.refused().answers, 0, "a known member gets every page");

    // The first page and a challenge; the challenge's echo.
    let ask = |seed: &mut Node<Set, u32>| {
        let out = seed.handle(STRANGER, member_list(STRANGER, true), 1_000);
        let pages = out
            .messages
            .iter()
            .filter(|(_, m)| matches!(m.body, Body::Probe(Probe::Members { reply: true, .. })))
            .count();
        assert_eq!(pages, 1);
        let challenge = out
            .messages
            .iter()
            .find_map(|(_, m)| match m.body {
                Body::Probe(Probe::Ping { seq }) => Some(seq),
                _ => None,
            })
            .expect("a challenge");
        Message::new(Body::Probe(Probe::Ack { seq: challenge }))
    };

    // The echo, then the answer.
    let mut seed = node();
    let echo = ask(&mut seed);
    assert_eq!(seed.refused().answers, 1);
    assert_eq!(
        pages_to(&mut seed, STRANGER, echo),
        (0, false),
        "no answer yet"
    );
    let rest = pages_to(&mut seed, STRANGER, member_list(STRANGER, false));
    assert_eq!(rest, (7, false));
    let again = pages_to(&mut seed, STRANGER, member_list(STRANGER, false));
    assert_eq!(again, (0, false), "once");

    // The answer, then the echo.
    let mut seed = node();
    let echo = ask(&mut seed);
    let early = pages_to(&mut seed, STRANGER, member_list(STRANGER, false));
    assert_eq!(
        early,
        (0, false),
        "an address that has not echoed draws nothing"
    );
    assert_eq!(pages_to(&mut seed, STRANGER, echo), (7, false));
    let again = pages_to(&mut seed, STRANGER, member_list(STRANGER, false));
    assert_eq!(again, (0, false), "once");

    // A challenge that is not echoed keeps the rest, whatever answers come.
    let mut seed = node();
    let _ = ask(&mut seed);
    for _ in 0..3 {
        let forged = pages_to(&mut seed, STRANGER, member_list(STRANGER, false));
        assert_eq!(forged, (0, false));
    }
    let wrong = Message::new(Body::Probe(Probe::Ack { seq: 12_345 }));
    assert_eq!(
        pages_to(&mut seed, STRANGER, wrong),
        (0, false),
        "a wrong echo"
    );
}
