//! Messages between nodes.

use std::sync::Arc;

use rumor_crdt::Crdt;

use crate::hyparview::View;
use crate::plumtree::{DeltaId, Tree};
use crate::seal::Seal;
use crate::swim::MemberUpdate;
use serde::{Deserialize, Serialize};

/// Acknowledgement of a received [`SyncBody`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The acknowledged message's `seq`: the receiver has joined every
    /// buffered delta of the acknowledging node's peer below it.
    pub seq: u64,
    /// The acknowledged delta brought nothing new (feedback for
    /// [`Strategy::DeltaOptimized`](crate::Strategy::DeltaOptimized)).
    pub redundant: bool,
}

/// One author's delta with the author's seal, as anti-entropy carries it
/// between nodes that sign ([`Node::with_identity`](crate::Node::with_identity)):
/// never joined with other deltas, passed on unchanged by every forwarder,
/// so that each receiver checks who wrote it. Named like an eager-path
/// delta, and deduplicated with them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, P: Serialize",
    deserialize = "S: Deserialize<'de>, P: Deserialize<'de>"
))]
pub struct SealedDelta<S, P> {
    /// Its name: the author, the author's life, and the write's sequence
    /// number there (the one its seal covers).
    pub id: DeltaId<P>,
    /// The delta (on the wire, the delta itself: `Arc` adds nothing).
    pub delta: Arc<S>,
    /// The author's signature over the delta's encoding and the id.
    pub seal: Arc<Seal>,
}

/// The one anti-entropy message: a push (the `delta`), a pull request
/// (`reply`), an optional digest (`context`) and an optional ack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, S::Context: Serialize, P: Serialize",
    deserialize = "S: Deserialize<'de>, S::Context: Deserialize<'de>, P: Deserialize<'de>"
))]
pub struct SyncBody<S: Crdt, P> {
    /// The sender's next buffer sequence number: once the receiver has joined
    /// `delta`, it has every delta the sender buffered below `seq`.
    pub seq: u64,
    /// The deltas the receiver has not acknowledged, joined (or the whole
    /// state, for [`Strategy::FullState`](crate::Strategy::FullState)).
    pub delta: S,
    /// Between nodes that sign: the deltas of the interval that carry their
    /// author's seal (each local write, and each sealed delta received),
    /// one by one and unchanged. `delta` holds the rest of the interval.
    pub sealed: Vec<SealedDelta<S, P>>,
    /// The sender's causal context: answer with `delta_since(context)`.
    pub context: Option<S::Context>,
    /// A 64-bit hash of the sender's causal context (FNV-1a of its
    /// encoding): when nothing hot was exchanged but digests differ, the two
    /// nodes escalate to exchanging contexts. Sent only where the receiver
    /// may compare it: with a `context`, or on a pull request that carries
    /// no delta.
    pub digest: Option<u64>,
    /// Position in the exchange: 0 for the message that opens it, +1 per
    /// answer. Only answers to hops 0 and 1 may carry a context, which bounds
    /// an exchange to five messages.
    pub hop: u8,
    /// Acknowledges the receiver's previous message.
    pub ack: Option<Ack>,
    /// Answer with the deltas the sender lacks (the pull half). Set on an
    /// answer (`hop` 1) only when its sender cut it to its amplification
    /// bound ([`Config::max_answer_factor`](crate::Config::max_answer_factor)):
    /// the receiver answers with its context, and gets the rest.
    pub reply: bool,
}

/// SWIM's messages: failure-detection probes and their nacks (Lifeguard),
/// membership news, and member lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe<P> {
    /// "Are you alive?"; answered with an [`Probe::Ack`] of the same `seq`.
    Ping {
        /// Names the probe.
        seq: u64,
    },
    /// "Ping `target` for me": an indirect probe through a third node.
    PingReq {
        /// The requester's probe, acked back to it if `target` answers.
        seq: u64,
        /// The member to ping.
        target: P,
    },
    /// Answer to a ping.
    Ack {
        /// The answered probe.
        seq: u64,
    },
    /// One page of the sender's member list, over a full view grown from
    /// seeds: every member it holds alive or suspect, itself included, as
    /// `(incarnation, status)` claims by the sender.
    Members {
        /// The page.
        members: Vec<MemberUpdate<P>>,
        /// "Answer with your list" (a node asks when it starts, and now and
        /// then); the answer's pages have it unset.
        reply: bool,
    },
    /// From a relay of a [`Probe::PingReq`]: the target did not answer
    /// the relay's ping within half a ping timeout (Lifeguard). A
    /// requester that gets fewer nacks than it asked relays suspects
    /// itself of losing messages, and slows down.
    Nack {
        /// The requester's probe.
        seq: u64,
    },
    /// Nothing but the membership updates piggybacked on it: sent to a few
    /// random members while a node has more news than its other messages
    /// carry.
    News,
}

/// What a message is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, S::Context: Serialize, P: Serialize",
    deserialize = "S: Deserialize<'de>, S::Context: Deserialize<'de>, P: Deserialize<'de>"
))]
pub enum Body<S: Crdt, P> {
    /// Delta anti-entropy. Boxed: it is the largest body by far, and the
    /// rest (probes, eager-path gossip, membership) are the bulk of the
    /// messages a node sends.
    Sync(Box<SyncBody<S, P>>),
    /// Failure detection.
    Probe(Probe<P>),
    /// The eager path ([`Strategy::Eager`](crate::Strategy::Eager)).
    Tree(Tree<S, P>),
    /// Partial-view membership ([`HyParView`](crate::HyParView)).
    View(View<P>),
}

/// A message between two nodes: a body, and the membership updates
/// piggybacked on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, S::Context: Serialize, P: Serialize",
    deserialize = "S: Deserialize<'de>, S::Context: Deserialize<'de>, P: Deserialize<'de>"
))]
pub struct Message<S: Crdt, P> {
    /// The sender's incarnation: a receiver that holds an older life of the
    /// sender as suspect or dead learns it is alive.
    pub incarnation: u64,
    /// What the message is about.
    pub body: Body<S, P>,
    /// Membership changes the sender is spreading.
    pub members: Vec<MemberUpdate<P>>,
}

impl<S: Crdt, P> Message<S, P> {
    /// A message from incarnation 0 with nothing piggybacked.
    pub fn new(body: Body<S, P>) -> Self {
        Self {
            incarnation: 0,
            body,
            members: Vec::new(),
        }
    }

    /// The replicated payload carried (a delta or state), if any, as opposed
    /// to control data. For a `Sync`, its unsealed part: its sealed deltas
    /// are [`Message::sealed`].
    #[must_use]
    pub fn payload(&self) -> Option<&S> {
        match &self.body {
            Body::Sync(sync) => Some(&sync.delta),
            Body::Tree(Tree::Gossip { delta, .. }) => Some(delta),
            Body::Probe(_) | Body::Tree(_) | Body::View(_) => None,
        }
    }

    /// The sealed deltas a `Sync` carries (none for other bodies).
    #[must_use]
    pub fn sealed(&self) -> &[SealedDelta<S, P>] {
        match &self.body {
            Body::Sync(sync) => &sync.sealed,
            Body::Probe(_) | Body::Tree(_) | Body::View(_) => &[],
        }
    }
}
