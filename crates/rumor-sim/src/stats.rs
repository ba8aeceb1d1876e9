//! What a run records: traffic counters (`Stats`), membership events,
//! each update's spread (`UpdateRecord`), and the byte meter that also
//! passes every message through the codec (`Meter`).

use std::sync::Arc;

use rumor_crdt::{codec, Crdt};
use rumor_gossip::{Body, Event, Message, Output, Tree};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Traffic counters over the whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages handed to the network.
    pub messages: u64,
    /// Messages the network dropped (loss, partition, dead receiver).
    pub dropped: u64,
    /// Encoded bytes of the replicated payload (deltas or states).
    pub payload_bytes: u64,
    /// Encoded bytes of everything else (sequence numbers, acks, digests).
    pub control_bytes: u64,
    /// Messages delivered to a live node.
    pub delivered: u64,
    /// Messages handed to the network, by what they are about.
    pub kinds: Kinds,
}

/// Messages counted by what they are about: the eager path's pushes,
/// announcements, grafts, prunes and connects; probes (pings, acks, ping
/// requests, nacks, member lists, news); anti-entropy; partial-view
/// membership.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    /// Eager-path pushes ([`Tree::Gossip`]).
    pub pushes: u64,
    /// "I have"s ([`Tree::IHave`]).
    pub announcements: u64,
    /// Grafts ([`Tree::Graft`]).
    pub grafts: u64,
    /// Prunes and connects ([`Tree::Prune`], [`Tree::Connect`]).
    pub prunes_and_connects: u64,
    /// SWIM's messages ([`Body::Probe`]).
    pub probes: u64,
    /// Anti-entropy ([`Body::Sync`]).
    pub syncs: u64,
    /// Partial-view membership ([`Body::View`]).
    pub views: u64,
}

impl Kinds {
    /// Counts one message.
    pub(crate) fn count<S: Crdt, P>(&mut self, message: &Message<S, P>) {
        let counter = match &message.body {
            Body::Tree(Tree::Gossip { .. }) => &mut self.pushes,
            Body::Tree(Tree::IHave { .. }) => &mut self.announcements,
            Body::Tree(Tree::Graft { .. }) => &mut self.grafts,
            Body::Tree(Tree::Prune | Tree::Connect | Tree::Rank(_)) => {
                &mut self.prunes_and_connects
            }
            Body::Probe(_) => &mut self.probes,
            Body::Sync(_) => &mut self.syncs,
            Body::View(_) => &mut self.views,
        };
        *counter += 1;
    }
}

/// A membership event one node reported (joins and state changes are not
/// recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEvent {
    /// When.
    pub at_ms: u64,
    /// The node that reported it.
    pub observer: u32,
    /// What it reported: a suspicion, a death, a leave or a return (no
    /// state change is recorded, hence the `()` state type).
    pub event: Event<(), u32>,
}

/// One recorded update and its spread.
#[derive(Clone, Debug)]
pub struct UpdateRecord<S> {
    /// The writing node.
    pub origin: u32,
    /// When it was written.
    pub at_ms: u64,
    /// The delta it produced.
    pub delta: S,
    /// For each node, when it first had the update.
    pub reached_ms: Vec<Option<u64>>,
}

impl<S> UpdateRecord<S> {
    /// Time from the write until the last currently-reached node had it.
    #[must_use]
    pub fn latest_reach_ms(&self) -> Option<u64> {
        self.reached_ms
            .iter()
            .flatten()
            .max()
            .map(|t| t - self.at_ms)
    }
}

/// Counts messages' encoded bytes: the payload (a delta or state) and the
/// rest. An eager-path delta is one `Arc` shared by every copy of it (in the
/// simulator, by every node that forwards it), so its size is encoded once,
/// not once per copy, and the rest is measured with an empty delta in its
/// place. With a [`RoundTrip`], every message is also passed through the
/// codec, and its whole length comes from that encoding.
pub(crate) struct Meter<S: Crdt> {
    pub(crate) bottom: Arc<S>,
    pub(crate) bottom_len: u64,
    /// The last eager-path delta measured, and its size.
    pub(crate) last: Option<(Arc<S>, u64)>,
    pub(crate) round_trip: Option<RoundTrip<S>>,
}

/// [`round_trip`] for one state type: a plain function, so that only
/// [`Simulator::new`] and [`Simulator::set_codec`] need the state's context
/// to decode.
pub(crate) type RoundTrip<S> = fn(&Message<S, u32>) -> u64;

pub(crate) fn encoded_len<T: Serialize + ?Sized>(value: &T) -> u64 {
    codec::encoded_len(value).map_or(0, |n| n as u64)
}

/// Encodes `message`, decodes it back under [`codec::DEFAULT_LIMIT`] and
/// checks that it is equal; returns its encoded length.
///
/// # Panics
/// If `message` cannot be encoded, is refused, or decodes to another value:
/// see [`Simulator::set_codec`].
pub(crate) fn round_trip<S>(message: &Message<S, u32>) -> u64
where
    S: Crdt + Serialize + DeserializeOwned,
    S::Context: Serialize + DeserializeOwned,
{
    let kind = match &message.body {
        Body::Sync(_) => "Sync",
        Body::Probe(_) => "Probe",
        Body::Tree(Tree::Gossip { .. }) => "Tree::Gossip",
        Body::Tree(_) => "Tree",
        Body::View(_) => "View",
    };
    let bytes = codec::encode(message)
        .unwrap_or_else(|e| panic!("simulator codec check: a {kind} message: {e}"));
    match codec::decode::<Message<S, u32>>(&bytes, codec::DEFAULT_LIMIT) {
        Ok(back) if back == *message => bytes.len() as u64,
        Ok(back) => panic!(
            "simulator codec check: a {kind} message of {} bytes decodes to another value\n\
             sent: {}\ngot: {}",
            bytes.len(),
            clipped(message),
            clipped(&back)
        ),
        Err(e) => panic!(
            "simulator codec check: a {kind} message of {} bytes is refused: {e}\nsent: {}",
            bytes.len(),
            clipped(message)
        ),
    }
}

/// `value`'s debug form, cut after 2,000 characters.
pub(crate) fn clipped(value: &impl core::fmt::Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(2_000) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.len()),
        None => text,
    }
}

impl<S> Meter<S>
where
    S: Crdt + Serialize,
    S::Context: Serialize,
{
    pub(crate) fn new(round_trip: Option<RoundTrip<S>>) -> Self {
        let bottom = S::default();
        Self {
            bottom_len: encoded_len(&bottom),
            bottom: Arc::new(bottom),
            last: None,
            round_trip,
        }
    }

    /// `(payload, control)` encoded bytes of every message in `out`.
    pub(crate) fn measure_all(&mut self, out: &mut Output<S, u32>) -> (u64, u64) {
        out.messages
            .iter_mut()
            .fold((0, 0), |(payload, control), (_, message)| {
                let (p, c) = self.measure(message);
                (payload + p, control + c)
            })
    }

    /// `(payload, control)` encoded bytes of `message` (an empty payload
    /// counts as control), after its round trip through the codec if that
    /// is on.
    pub(crate) fn measure(&mut self, message: &mut Message<S, u32>) -> (u64, u64) {
        if let Some(round_trip) = self.round_trip {
            let whole = round_trip(message);
            let payload = match &message.body {
                Body::Tree(Tree::Gossip { delta, .. }) => self.gossip_payload(delta),
                _ => Self::payload_len(message),
            };
            return (payload, whole.saturating_sub(payload));
        }
        let Body::Tree(Tree::Gossip { delta, .. }) = &mut message.body else {
            // bincode writes a message as its fields one after another.
            let whole = encoded_len(&*message);
            let payload = Self::payload_len(message);
            return (payload, whole - payload.min(whole));
        };
        let payload = self.gossip_payload(delta);
        let real = core::mem::replace(delta, Arc::clone(&self.bottom));
        let whole = encoded_len(&*message);
        if let Body::Tree(Tree::Gossip { delta, .. }) = &mut message.body {
            *delta = real;
        }
        if payload == 0 {
            (0, whole)
        } else {
            (payload, whole.saturating_sub(self.bottom_len))
        }
    }

    /// The encoded size of a message's payload (0 for bottom), sealed
    /// deltas included (their seals and ids count as control).
    fn payload_len(message: &Message<S, u32>) -> u64 {
        let plain = match message.payload() {
            Some(delta) if !delta.is_bottom() => encoded_len(delta),
            _ => 0,
        };
        message
            .sealed()
            .iter()
            .fold(plain, |sum, piece| sum + encoded_len(&*piece.delta))
    }

    /// The encoded size of an eager-path delta (0 for bottom), computed once
    /// per shared copy.
    pub(crate) fn gossip_payload(&mut self, delta: &Arc<S>) -> u64 {
        match &self.last {
            Some((last, n)) if Arc::ptr_eq(last, delta) => *n,
            _ => {
                let n = if delta.is_bottom() {
                    0
                } else {
                    encoded_len(&**delta)
                };
                self.last = Some((Arc::clone(delta), n));
                n
            }
        }
    }
}
