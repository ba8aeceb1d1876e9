//! The codec's round-trip law, as a proptest property: everything
//! `codec::encode` produces decodes back equal under `codec::DEFAULT_LIMIT`,
//! and `codec::encoded_len` is the number of bytes written.
//!
//! "Everything" is every value a replica or a node sends: the states that
//! histories of every CRDT type reach (large ones too: thousands of elements,
//! hundreds of replicas, strings of tens of KB), the deltas their mutators
//! return, joined batches of them, catch-ups (`delta_since`), split pieces,
//! causal contexts, and `rumor_gossip::Message`s of every kind carrying them.
//!
//! The histories are this file's own (the shared models of `rumor::laws::models`
//! play three replicas over `u8` values, too small for this law), written
//! against the types' public API only, so the law keeps holding whatever
//! their wire forms become. Numbers are drawn across every varint width.
//!
//! `PROPTEST_CASES` sets the number of cases per type (default 48).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use rumor::crdt::codec::{self, DEFAULT_LIMIT};
use rumor::crdt::{
    Crdt, GCounter, Hlc, HlcTimestamp, LwwMap, LwwRegister, MvRegister, OrMap, OrSet, PnCounter,
    ReplicaId,
};
use rumor::gossip::{
    Ack, Body, DeltaId, IdRange, MemberUpdate, Message, Priority, Probe, RankAdvert, Status,
    SyncBody, Tree, View,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Unix milliseconds: realistic wall times take the widest common varint.
const EPOCH_MS: u64 = 1_700_000_000_000;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    ProptestConfig::with_cases(cases)
}

// ------------------------------------------------------------- the law

/// `value` encodes in `encoded_len(value)` bytes, no more than the default
/// limit, which decode back to `value` under that limit.
fn round_trips<T>(what: &str, value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(value).map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
    let predicted = codec::encoded_len(value).unwrap();
    prop_assert_eq!(predicted, bytes.len(), "{}: encoded_len", what);
    prop_assert!(
        bytes.len() <= DEFAULT_LIMIT,
        "{what}: {} bytes, over the default limit",
        bytes.len()
    );
    match codec::decode::<T>(&bytes, DEFAULT_LIMIT) {
        Ok(back) if back == *value => Ok(()),
        Ok(back) => Err(TestCaseError::fail(format!(
            "{what}: {} bytes decode to another value{}",
            bytes.len(),
            small(&(value, back))
        ))),
        Err(e) => Err(TestCaseError::fail(format!(
            "{what}: {} bytes refused: {e}{}",
            bytes.len(),
            small(value)
        ))),
    }
}

/// `value`'s debug form if it is short enough to read in a failure.
fn small(value: &impl Debug) -> String {
    let text = format!("{value:?}");
    if text.len() <= 2_000 {
        format!("\nvalue: {text}")
    } else {
        format!(" (a {}-character debug form)", text.len())
    }
}

// ----------------------------------------------------------- histories

/// One replica's identity and clock.
struct Writer {
    id: ReplicaId,
    clock: Hlc,
}

/// How histories exercise a type.
trait Model {
    type State: Crdt<Context = Self::Context> + Serialize + DeserializeOwned;
    type Context: Serialize + DeserializeOwned + PartialEq + Debug + Clone;
    type Op: Clone + Debug + 'static;

    /// Ops of a small history, and of a large one (bulk ops that make
    /// thousands of entries).
    fn ops(large: bool) -> BoxedStrategy<Self::Op>;

    /// Applies `op` at `writer`; returns the delta (the join of the deltas,
    /// for a bulk op: what a delta buffer would send).
    fn apply(state: &mut Self::State, op: &Self::Op, writer: &mut Writer) -> Self::State;
}

#[derive(Clone, Debug)]
enum Step<O> {
    /// Replica `replica` (modulo the replicas) applies `op`.
    Mutate { replica: usize, op: O },
    /// Replica `to` joins replica `from`'s state, or only what it lacks.
    Sync {
        to: usize,
        from: usize,
        via_delta: bool,
    },
    /// Every replica applies `op` and replica 0 joins every delta: a state
    /// written by all of them (hundreds of replicas in a large history).
    Round { op: O },
}

#[derive(Clone, Debug)]
struct History<O> {
    replicas: usize,
    steps: Vec<Step<O>>,
}

fn history<M: Model>() -> impl Strategy<Value = History<M::Op>> {
    let shape = |large: bool| {
        let mutate =
            (any::<usize>(), M::ops(large)).prop_map(|(replica, op)| Step::Mutate { replica, op });
        let sync =
            (any::<usize>(), any::<usize>(), any::<bool>()).prop_map(|(to, from, via_delta)| {
                Step::Sync {
                    to,
                    from,
                    via_delta,
                }
            });
        let round = M::ops(false).prop_map(|op| Step::Round { op });
        let step = prop_oneof![8 => mutate, 3 => sync, 1 => round];
        let (replicas, steps) = if large {
            (prop_oneof![1..=3usize, 200..=300usize].boxed(), 1..=12usize)
        } else {
            ((1..=6usize).boxed(), 0..=40usize)
        };
        (replicas, vec(step, steps))
            .prop_map(|(replicas, steps)| History { replicas, steps })
            .boxed()
    };
    prop_oneof![5 => shape(false), 1 => shape(true)]
}

/// What a history gives to encode: the replicas' final states, every delta,
/// and the join of everything (the largest state it reaches).
struct Run<S> {
    finals: Vec<S>,
    deltas: Vec<S>,
    everything: S,
}

fn play<M: Model>(history: &History<M::Op>) -> Run<M::State> {
    let n = history.replicas;
    let mut states = vec![M::State::default(); n];
    let mut writers: Vec<Writer> = (0..n)
        .map(|i| {
            let id = ReplicaId::from_u128(i as u128 + 1);
            Writer {
                id,
                clock: Hlc::new(id),
            }
        })
        .collect();
    let mut deltas = Vec::new();
    for step in &history.steps {
        match step {
            Step::Mutate { replica, op } => {
                let i = replica % n;
                deltas.push(M::apply(&mut states[i], op, &mut writers[i]));
            }
            Step::Sync {
                to,
                from,
                via_delta,
            } => {
                let (to, from) = (to % n, from % n);
                let received = if *via_delta {
                    states[from].delta_since(&states[to].context())
                } else {
                    states[from].clone()
                };
                states[to].join(&received);
            }
            Step::Round { op } => {
                let mut batch = M::State::default();
                for (state, writer) in states.iter_mut().zip(&mut writers) {
                    batch.join(&M::apply(state, op, writer));
                }
                states[0].join(&batch);
                deltas.push(batch);
            }
        }
    }
    let mut everything = M::State::default();
    for state in &states {
        everything.join(state);
    }
    Run {
        finals: states,
        deltas,
        everything,
    }
}

/// Every state, delta, catch-up, piece and context of `run` round-trips.
fn every_value_of<M: Model>(run: &Run<M::State>) -> Result<(), TestCaseError> {
    for (i, delta) in run.deltas.iter().enumerate() {
        round_trips(&format!("delta {i}"), delta)?;
    }
    let finals = &run.finals[..run.finals.len().min(6)];
    for (i, state) in finals.iter().enumerate() {
        round_trips(&format!("replica {i}"), state)?;
        round_trips(&format!("replica {i}'s context"), &state.context())?;
        for (j, peer) in finals.iter().enumerate() {
            let catch_up = run.everything.delta_since(&peer.context());
            round_trips(&format!("catch-up of replica {j}"), &catch_up)?;
            round_trips(
                &format!("replica {i} missing from {j}"),
                &state.missing_from(peer),
            )?;
        }
    }
    round_trips("the join of every replica", &run.everything)?;
    round_trips("its context", &run.everything.context())?;
    for (k, piece) in run.everything.split(4).iter().enumerate() {
        round_trips(&format!("split piece {k}"), piece)?;
    }
    round_trips("bottom", &M::State::default())?;
    round_trips("bottom's context", &M::State::default().context())
}

// ------------------------------------------------------------ messages

/// The control fields of a message of any kind, across every varint width.
#[derive(Clone, Debug)]
struct Control {
    numbers: [u64; 4],
    small: [u8; 2],
    flags: [bool; 3],
    digest: Option<u64>,
    peers: Vec<u32>,
    ids: Vec<IdRange<u32>>,
    members: Vec<MemberUpdate<u32>>,
    priority: Priority,
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![0..=250u64, 251..=65_535u64, any::<u64>(), Just(u64::MAX)]
}

fn peer() -> impl Strategy<Value = u32> {
    prop_oneof![0..=250u32, any::<u32>()]
}

fn control() -> impl Strategy<Value = Control> {
    let id_range = (peer(), number(), number(), number(), any::<u32>()).prop_map(
        |(origin, epoch, first, last, hop)| IdRange {
            origin,
            epoch,
            first,
            last,
            hop,
        },
    );
    let status = prop_oneof![
        Just(Status::Alive),
        Just(Status::Suspect),
        Just(Status::Dead),
        Just(Status::Left)
    ];
    let member = (peer(), number(), status, peer()).prop_map(|(peer, incarnation, status, by)| {
        MemberUpdate {
            peer,
            incarnation,
            status,
            by,
            proof: None,
        }
    });
    let priority = prop_oneof![
        Just(Priority::Low),
        Just(Priority::High),
        Just(Priority::Refresh),
        Just(Priority::Short)
    ];
    (
        [number(), number(), number(), number()],
        any::<[u8; 2]>(),
        any::<[bool; 3]>(),
        proptest::option::of(any::<u64>()),
        vec(peer(), 0..40),
        vec(id_range, 0..300),
        vec(member, 0..300),
        priority,
    )
        .prop_map(
            |(numbers, small, flags, digest, peers, ids, members, priority)| Control {
                numbers,
                small,
                flags,
                digest,
                peers,
                ids,
                members,
                priority,
            },
        )
}

/// One message of every kind, carrying `delta` and `context` where a kind
/// carries a payload.
fn every_kind<S: Crdt>(c: &Control, delta: &S, context: &S::Context) -> Vec<Message<S, u32>> {
    let [a, b, d, e] = c.numbers;
    let [hop, ttl] = c.small;
    let [reply, redundant, accepted] = c.flags;
    let peer = |n: u64| n as u32;
    let sync = |context: Option<S::Context>| {
        Body::Sync(Box::new(SyncBody {
            seq: a,
            delta: delta.clone(),
            sealed: Vec::new(),
            context,
            digest: c.digest,
            hop,
            ack: reply.then_some(Ack { seq: b, redundant }),
            reply,
        }))
    };
    let bodies = vec![
        sync(None),
        sync(Some(context.clone())),
        Body::Probe(Probe::Ping { seq: a }),
        Body::Probe(Probe::PingReq {
            seq: b,
            target: peer(d),
        }),
        Body::Probe(Probe::Ack { seq: e }),
        Body::Probe(Probe::Members {
            members: c.members.clone(),
            reply,
        }),
        Body::Probe(Probe::Nack { seq: d }),
        Body::Probe(Probe::News),
        Body::Tree(Tree::Gossip {
            id: DeltaId {
                origin: peer(a),
                epoch: b,
                seq: d,
            },
            delta: Arc::new(delta.clone()),
            seal: None,
            hop: 0,
        }),
        Body::Tree(Tree::IHave { ids: c.ids.clone() }),
        Body::Tree(Tree::Graft {
            ids: c.ids.iter().rev().copied().collect(),
        }),
        Body::Tree(Tree::Prune),
        Body::Tree(Tree::Connect),
        Body::Tree(Tree::Rank(RankAdvert {
            root: peer(a),
            seq: e,
            rank: u16::try_from(d % 65).unwrap_or(0),
            branch: peer(b),
            parent: reply,
            child: accepted,
        })),
        Body::View(View::Join),
        Body::View(View::ForwardJoin {
            joiner: peer(e),
            ttl,
        }),
        Body::View(View::Neighbor {
            priority: c.priority,
        }),
        Body::View(View::NeighborReply { accepted }),
        Body::View(View::Disconnect),
        Body::View(View::Shuffle {
            origin: peer(b),
            ttl,
            peers: c.peers.clone(),
        }),
        Body::View(View::ShuffleReply {
            peers: c.peers.clone(),
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(k, body)| Message {
            incarnation: e,
            body,
            // Piggybacked updates on some kinds, none on the others.
            members: if k % 2 == 0 {
                c.members.clone()
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// A message's kind. The match is exhaustive: a new kind fails to compile
/// here until `every_kind` builds it.
fn kind<S: Crdt>(message: &Message<S, u32>) -> &'static str {
    match &message.body {
        Body::Sync(sync) if sync.context.is_some() => "sync with context",
        Body::Sync(_) => "sync",
        Body::Probe(Probe::Ping { .. }) => "ping",
        Body::Probe(Probe::PingReq { .. }) => "ping-req",
        Body::Probe(Probe::Ack { .. }) => "ack",
        Body::Probe(Probe::Members { .. }) => "members",
        Body::Probe(Probe::Nack { .. }) => "nack",
        Body::Probe(Probe::News) => "news",
        Body::Tree(Tree::Gossip { .. }) => "tree gossip",
        Body::Tree(Tree::IHave { .. }) => "i-have",
        Body::Tree(Tree::Graft { .. }) => "graft",
        Body::Tree(Tree::Prune) => "prune",
        Body::Tree(Tree::Connect) => "connect",
        Body::Tree(Tree::Rank(_)) => "rank",
        Body::View(View::Join) => "join",
        Body::View(View::ForwardJoin { .. }) => "forward-join",
        Body::View(View::Neighbor { .. }) => "neighbor",
        Body::View(View::NeighborReply { .. }) => "neighbor-reply",
        Body::View(View::Disconnect) => "disconnect",
        Body::View(View::Shuffle { .. }) => "shuffle",
        Body::View(View::ShuffleReply { .. }) => "shuffle-reply",
    }
}

/// Messages of every kind carrying the run's largest catch-up and a
/// replica's context round-trip.
fn every_message_of<M: Model>(run: &Run<M::State>, c: &Control) -> Result<(), TestCaseError> {
    let context = run.finals[0].context();
    let payloads = [
        run.everything.delta_since(&context),
        run.deltas.last().cloned().unwrap_or_default(),
    ];
    for delta in &payloads {
        let messages = every_kind(c, delta, &context);
        let kinds: BTreeSet<&str> = messages.iter().map(kind).collect();
        prop_assert_eq!(kinds.len(), messages.len(), "a kind is missing");
        for message in &messages {
            round_trips(&format!("{} message", kind(message)), message)?;
        }
    }
    Ok(())
}

// -------------------------------------------------------------- models

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0..=300u64, 2 => any::<u64>(), 1 => Just(u64::MAX)]
}

fn wall_ms() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => 0..=300u64,
        4 => EPOCH_MS..=EPOCH_MS + 100_000,
        1 => u64::MAX - 300..=u64::MAX,
    ]
}

/// Short strings (ASCII or any printable Unicode), strings around the
/// one-byte length boundary (250), and, in large histories, long ones.
fn text(large: bool) -> BoxedStrategy<String> {
    let long: usize = if large { 70_000 } else { 600 };
    prop_oneof![
        4 => "[a-z]{0,6}",
        2 => "\\PC{0,12}",
        1 => (any::<char>(), 245..=260usize).prop_map(|(c, n)| c.to_string().repeat(n)),
        1 => (any::<char>(), 0..=long).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
    .boxed()
}

/// How many entries one bulk op makes.
fn bulk(large: bool) -> impl Strategy<Value = u64> {
    if large {
        1_000..=3_000u64
    } else {
        0..=40u64
    }
}

struct GCounterModel;

impl Model for GCounterModel {
    type State = GCounter;
    type Context = GCounter;
    type Op = u64;

    fn ops(_large: bool) -> BoxedStrategy<u64> {
        amount().boxed()
    }

    fn apply(state: &mut GCounter, &amount: &u64, writer: &mut Writer) -> GCounter {
        state.increment(writer.id, amount)
    }
}

struct PnCounterModel;

impl Model for PnCounterModel {
    type State = PnCounter;
    type Context = PnCounter;
    /// `(decrement, amount)`.
    type Op = (bool, u64);

    fn ops(_large: bool) -> BoxedStrategy<(bool, u64)> {
        (any::<bool>(), amount()).boxed()
    }

    fn apply(
        state: &mut PnCounter,
        &(down, amount): &(bool, u64),
        writer: &mut Writer,
    ) -> PnCounter {
        if down {
            state.decrement(writer.id, amount)
        } else {
            state.increment(writer.id, amount)
        }
    }
}

struct LwwRegisterModel;

impl Model for LwwRegisterModel {
    type State = LwwRegister<String>;
    type Context = Option<HlcTimestamp>;
    /// `(value, wall_ms)`.
    type Op = (String, u64);

    fn ops(large: bool) -> BoxedStrategy<(String, u64)> {
        (text(large), wall_ms()).boxed()
    }

    fn apply(
        state: &mut LwwRegister<String>,
        (value, wall_ms): &(String, u64),
        writer: &mut Writer,
    ) -> LwwRegister<String> {
        state
            .set(value.clone(), writer.clock.now(*wall_ms))
            .unwrap_or_default()
    }
}

struct MvRegisterModel;

impl Model for MvRegisterModel {
    type State = MvRegister<String>;
    type Context = rumor::crdt::CausalContext;
    /// A value to write, or `None` for a clear.
    type Op = Option<String>;

    fn ops(large: bool) -> BoxedStrategy<Option<String>> {
        prop_oneof![6 => text(large).prop_map(Some), 1 => Just(None)].boxed()
    }

    fn apply(
        state: &mut MvRegister<String>,
        op: &Option<String>,
        writer: &mut Writer,
    ) -> MvRegister<String> {
        match op {
            Some(value) => state.set(writer.id, value.clone()),
            None => state.clear(),
        }
    }
}

#[derive(Clone, Debug)]
enum MapOp {
    Insert {
        key: String,
        value: String,
        wall_ms: u64,
    },
    Remove {
        key: String,
        wall_ms: u64,
    },
    /// Writes keys `prefix0 .. prefix{count - 1}`; every third one removed.
    Bulk {
        prefix: String,
        count: u64,
        wall_ms: u64,
    },
}

struct LwwMapModel;

impl Model for LwwMapModel {
    type State = LwwMap<String, String>;
    type Context = rumor::crdt::CausalContext;
    type Op = MapOp;

    fn ops(large: bool) -> BoxedStrategy<MapOp> {
        let key = || prop_oneof![3 => "[a-d]", 1 => text(false)];
        prop_oneof![
            4 => (key(), text(large), wall_ms())
                .prop_map(|(key, value, wall_ms)| MapOp::Insert { key, value, wall_ms }),
            2 => (key(), wall_ms()).prop_map(|(key, wall_ms)| MapOp::Remove { key, wall_ms }),
            1 => ("[a-z]{0,3}", bulk(large), wall_ms())
                .prop_map(|(prefix, count, wall_ms)| MapOp::Bulk { prefix, count, wall_ms }),
        ]
        .boxed()
    }

    fn apply(state: &mut Self::State, op: &MapOp, writer: &mut Writer) -> Self::State {
        match op {
            MapOp::Insert {
                key,
                value,
                wall_ms,
            } => state
                .insert(key.clone(), value.clone(), writer.clock.now(*wall_ms))
                .unwrap_or_default(),
            MapOp::Remove { key, wall_ms } => state
                .remove(key, writer.clock.now(*wall_ms))
                .unwrap_or_default(),
            MapOp::Bulk {
                prefix,
                count,
                wall_ms,
            } => {
                let mut batch = LwwMap::new();
                for n in 0..*count {
                    let key = format!("{prefix}{n}");
                    let ts = writer.clock.now(*wall_ms);
                    batch.join(&if n % 3 == 2 {
                        state.remove(&key, ts).unwrap_or_default()
                    } else {
                        state.insert(key, n.to_string(), ts).unwrap_or_default()
                    });
                }
                batch
            }
        }
    }
}

/// An OR-Set element type, and the `n`-th of many distinct elements.
trait Element: Ord + Clone + Debug + Serialize + DeserializeOwned + 'static {
    fn any(large: bool) -> BoxedStrategy<Self>;
    fn nth(seed: u64, n: u64) -> Self;
}

impl Element for u64 {
    fn any(_large: bool) -> BoxedStrategy<u64> {
        prop_oneof![3 => 0..=8u64, 1 => number()].boxed()
    }

    /// Spread over the varint widths (8, 6, 4 and 2 bytes).
    fn nth(seed: u64, n: u64) -> u64 {
        (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (n % 4 * 16)).wrapping_add(seed % 1_024)
    }
}

impl Element for String {
    fn any(large: bool) -> BoxedStrategy<String> {
        text(large)
    }

    fn nth(seed: u64, n: u64) -> String {
        format!("{:x}·{n}", seed % 0xFFFF)
    }
}

#[derive(Clone, Debug)]
enum SetOp<T> {
    Insert(T),
    Remove(T),
    Clear,
    /// Inserts `count` distinct elements, then removes every fifth.
    Bulk {
        seed: u64,
        count: u64,
    },
}

struct OrSetModel<T>(std::marker::PhantomData<T>);

impl<T: Element> Model for OrSetModel<T> {
    type State = OrSet<T>;
    type Context = rumor::crdt::CausalContext;
    type Op = SetOp<T>;

    fn ops(large: bool) -> BoxedStrategy<SetOp<T>> {
        prop_oneof![
            8 => T::any(large).prop_map(SetOp::Insert),
            3 => T::any(false).prop_map(SetOp::Remove),
            1 => Just(SetOp::Clear),
            2 => (any::<u64>(), bulk(large)).prop_map(|(seed, count)| SetOp::Bulk { seed, count }),
        ]
        .boxed()
    }

    fn apply(state: &mut OrSet<T>, op: &SetOp<T>, writer: &mut Writer) -> OrSet<T> {
        match op {
            SetOp::Insert(element) => state.insert(writer.id, element.clone()),
            SetOp::Remove(element) => state.remove(element),
            SetOp::Clear => state.clear(),
            SetOp::Bulk { seed, count } => {
                let mut batch = OrSet::new();
                for n in 0..*count {
                    batch.join(&state.insert(writer.id, T::nth(*seed, n)));
                }
                for n in (0..*count).step_by(5) {
                    batch.join(&state.remove(&T::nth(*seed, n)));
                }
                batch
            }
        }
    }
}

#[derive(Clone, Debug)]
enum OrMapOp {
    /// A nested OR-Set operation (bulk ones too) through `key`.
    Update(String, SetOp<u64>),
    Remove(String),
    /// Adds one element under each of the keys `prefix0 .. prefix{count - 1}`.
    Bulk {
        prefix: String,
        count: u64,
    },
}

struct OrMapModel;

impl Model for OrMapModel {
    type State = OrMap<String, OrSet<u64>>;
    type Context = rumor::crdt::CausalContext;
    type Op = OrMapOp;

    fn ops(large: bool) -> BoxedStrategy<OrMapOp> {
        let key = || prop_oneof![3 => "[a-d]", 1 => text(false)];
        prop_oneof![
            6 => (key(), OrSetModel::<u64>::ops(false))
                .prop_map(|(key, op)| OrMapOp::Update(key, op)),
            2 => key().prop_map(OrMapOp::Remove),
            1 => ("[a-z]{0,3}", bulk(large))
                .prop_map(|(prefix, count)| OrMapOp::Bulk { prefix, count }),
        ]
        .boxed()
    }

    fn apply(state: &mut Self::State, op: &OrMapOp, writer: &mut Writer) -> Self::State {
        let id = writer.id;
        match op {
            OrMapOp::Update(key, op) => state.update(id, key.clone(), |set| {
                OrSetModel::<u64>::apply(set, op, writer)
            }),
            OrMapOp::Remove(key) => state.remove(key),
            OrMapOp::Bulk { prefix, count } => {
                let mut batch = OrMap::new();
                for n in 0..*count {
                    let element = u64::nth(n, n);
                    batch.join(
                        &state.update(id, format!("{prefix}{n}"), |set| set.insert(id, element)),
                    );
                }
                batch
            }
        }
    }
}

// ---------------------------------------------------------- properties

/// The law for model `M`, over its histories and messages.
macro_rules! every_encoded_state_decodes_back_equal {
    ($($name:ident: $model:ty,)*) => {
        mod every_encoded_state_decodes_back_equal {
            use super::*;

            proptest! {
                #![proptest_config(config())]
                $(
                    #[test]
                    fn $name(history in history::<$model>(), control in control()) {
                        let run = play::<$model>(&history);
                        every_value_of::<$model>(&run)?;
                        every_message_of::<$model>(&run, &control)?;
                    }
                )*
            }
        }
    };
}

every_encoded_state_decodes_back_equal! {
    gcounter: GCounterModel,
    pncounter: PnCounterModel,
    lww_register: LwwRegisterModel,
    mv_register: MvRegisterModel,
    lww_map: LwwMapModel,
    orset_of_numbers: OrSetModel<u64>,
    orset_of_strings: OrSetModel<String>,
    or_map: OrMapModel,
}

/// The sizes the property reaches, checked once so that a change to the
/// generators cannot quietly make them small: a state of thousands of
/// elements and one written by hundreds of replicas both round-trip.
#[test]
fn large_states_round_trip() {
    let history = History {
        replicas: 300,
        steps: vec![
            Step::Mutate {
                replica: 0,
                op: SetOp::Bulk {
                    seed: 7,
                    count: 3_000,
                },
            },
            Step::Round {
                op: SetOp::Insert(u64::MAX),
            },
        ],
    };
    let run = play::<OrSetModel<u64>>(&history);
    assert!(run.everything.len() >= 2_000, "{}", run.everything.len());
    let bytes = codec::encode(&run.everything).unwrap();
    assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
    every_value_of::<OrSetModel<u64>>(&run).unwrap();

    let counters = History {
        replicas: 300,
        steps: vec![
            Step::Round { op: (false, 300) },
            Step::Round { op: (true, 1) },
        ],
    };
    let run = play::<PnCounterModel>(&counters);
    assert_eq!(run.everything.increments().entries().count(), 300);
    every_value_of::<PnCounterModel>(&run).unwrap();
}
