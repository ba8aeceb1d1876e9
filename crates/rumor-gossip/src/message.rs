//! Messages between nodes.

use rumor_crdt::Crdt;
use serde::{Deserialize, Serialize};

/// Acknowledgement of a received [`Sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The acknowledged message's `seq`: the receiver has joined every
    /// buffered delta of the acknowledging node's peer below it.
    pub seq: u64,
    /// The acknowledged delta brought nothing new (feedback for
    /// [`Strategy::DeltaOptimized`](crate::Strategy::DeltaOptimized)).
    pub redundant: bool,
}

/// The one anti-entropy message: a push (the `delta`), a pull request
/// (`reply`), an optional digest (`context`) and an optional ack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, S::Context: Serialize",
    deserialize = "S: Deserialize<'de>, S::Context: Deserialize<'de>"
))]
pub struct Sync<S: Crdt> {
    /// The sender's next buffer sequence number: once the receiver has joined
    /// `delta`, it has every delta the sender buffered below `seq`.
    pub seq: u64,
    /// The deltas the receiver has not acknowledged, joined (or the whole
    /// state, for [`Strategy::FullState`](crate::Strategy::FullState)).
    pub delta: S,
    /// The sender's causal context: answer with `delta_since(context)`.
    pub context: Option<S::Context>,
    /// Acknowledges the receiver's previous message.
    pub ack: Option<Ack>,
    /// Answer with the deltas the sender lacks (the pull half).
    pub reply: bool,
}

/// A message between two nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, S::Context: Serialize",
    deserialize = "S: Deserialize<'de>, S::Context: Deserialize<'de>"
))]
pub enum Message<S: Crdt> {
    /// Delta anti-entropy.
    Sync(Sync<S>),
}

impl<S: Crdt> Message<S> {
    /// The replicated payload carried (the delta), as opposed to control data.
    #[must_use]
    pub fn payload(&self) -> &S {
        match self {
            Message::Sync(sync) => &sync.delta,
        }
    }
}
