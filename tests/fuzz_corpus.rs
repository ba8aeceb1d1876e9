//! Replays the fuzz corpus on stable: every file of `fuzz/corpus/<target>/`
//! (the seed corpus) and of `fuzz/regressions/<target>/` (each minimized
//! crash a fuzzer found, named in that folder's README.md) goes through the
//! same `rumor_fuzz` function the cargo-fuzz target calls. A past crash that
//! comes back fails here, in `cargo test`, without nightly or libFuzzer.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The input files of `dir` (not its notes), in name order; none if it
/// does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && path.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();
    files
}

/// Runs every input of `target` in `kind` (`corpus` or `regressions`);
/// returns how many ran and the failures, as `path: panic message`.
fn replay(kind: &str, name: &str, target: fn(&[u8])) -> (usize, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(name);
    let files = inputs(&dir);
    let mut failures = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| target(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    (files.len(), failures)
}

#[test]
fn every_target_has_a_seed_corpus_and_it_replays_cleanly() {
    let mut failures = Vec::new();
    for &(name, target) in rumor_fuzz::TARGETS {
        let (ran, failed) = replay("corpus", name, target);
        assert!(ran > 0, "fuzz/corpus/{name}/ has no seed inputs");
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_minimized_crash_stays_fixed() {
    let mut failures = Vec::new();
    for &(name, target) in rumor_fuzz::TARGETS {
        failures.extend(replay("regressions", name, target).1);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_folder_under_fuzz_names_a_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz.join(kind)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let folder = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                assert!(
                    rumor_fuzz::TARGETS.iter().any(|(name, _)| *name == folder),
                    "fuzz/{kind}/{folder}/ names no target of rumor_fuzz::TARGETS"
                );
            }
        }
    }
}

/// Regression for the finding in `fuzz/regressions/node_handle`: a peer
/// claims the node is suspect at incarnation `u64::MAX`. The node used to
/// refute with `incarnation + 1`, which panicked with overflow checks on and
/// wrapped to incarnation 0 without them. Such a claim cannot be outlived:
/// it is ignored, and the node keeps its incarnation.
#[test]
fn a_suspicion_of_me_at_the_last_incarnation_neither_panics_nor_resets_my_incarnation() {
    use rumor::crdt::OrSet;
    use rumor::gossip::{Body, Config, FullView, MemberUpdate, Message, Node, Probe, Status};

    let mut node = Node::new(
        1u32,
        OrSet::<u8>::new(),
        FullView::new(1, [2]),
        Config::default(),
        7,
    )
    .with_incarnation(5);
    let forged = MemberUpdate {
        peer: 1,
        incarnation: u64::MAX,
        status: Status::Suspect,
        by: 2,
        proof: None,
    };
    let message = Message {
        incarnation: 0,
        body: Body::Probe(Probe::Ping { seq: 1 }),
        members: vec![forged],
    };
    let _ = node.handle(2, message, 1_000); // its answers are not under test
    assert_eq!(node.incarnation(), 5, "the refutation wrapped around");
    // A legitimate suspicion is still refuted.
    let honest = MemberUpdate {
        incarnation: 5,
        ..forged
    };
    let message = Message {
        incarnation: 0,
        body: Body::Probe(Probe::Ping { seq: 2 }),
        members: vec![honest],
    };
    let _ = node.handle(2, message, 1_100);
    assert_eq!(node.incarnation(), 6);
}

/// The name of a message's kind, for the seed corpus coverage check.
fn kind(message: &rumor::gossip::Message<rumor::crdt::OrSet<u64>, u32>) -> &'static str {
    use rumor::gossip::{Body, Probe, Tree, View};
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

/// The fuzzer mutates the seeds it is given: a message kind no seed has is
/// one it must first stumble on. Every kind has a seed that decodes.
#[test]
fn the_decode_message_seeds_hold_every_message_kind() {
    use std::collections::BTreeSet;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_message");
    let mut seen = BTreeSet::new();
    for path in inputs(&dir) {
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Ok(message) = rumor::crdt::codec::decode(&data, 1 << 16) {
            seen.insert(kind(&message));
        }
    }
    let all = [
        "sync",
        "sync with context",
        "ping",
        "ping-req",
        "ack",
        "members",
        "nack",
        "news",
        "tree gossip",
        "i-have",
        "graft",
        "prune",
        "connect",
        "rank",
        "join",
        "forward-join",
        "neighbor",
        "neighbor-reply",
        "disconnect",
        "shuffle",
        "shuffle-reply",
    ];
    let missing: Vec<&str> = all.into_iter().filter(|k| !seen.contains(k)).collect();
    assert!(missing.is_empty(), "no decode_message seed for {missing:?}");
}
