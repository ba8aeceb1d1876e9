//! What a running node reports: [`GossipStats`], a plain snapshot, and the
//! same counters published through the [`metrics`] facade.
//!
//! The facade records nothing until the application installs a recorder
//! (for example `metrics-exporter-prometheus`); without one, publishing
//! costs a few relaxed loads per round. Names and labels:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `rumor_messages_sent_total`, `rumor_bytes_sent_total` | counter | `kind`: `probe`, `view`, `sync`, `tree` |
//! | `rumor_messages_received_total`, `rumor_bytes_received_total` | counter | `kind` |
//! | `rumor_envelopes_rejected_total` | counter | `reason`: [`Reason::as_str`] |
//! | `rumor_transport_dropped_total` | counter | `reason`: [`DropReason::as_str`] |
//! | `rumor_messages_unsendable_total` | counter | `reason`: `encode`, `refused` |
//! | `rumor_members` | gauge | `status`: `alive`, `suspect`, `dead`, `left` |
//! | `rumor_queue_depth` | gauge | `queue`: `commands`, `datagrams`, `frames` |
//!
//! Counters go up by what changed since the last publication and gauges
//! move by the difference, so several nodes in one process add up (a
//! stopped node takes its gauges back out).

use rumor_gossip::{Body, Message, Refused, Status};

use crate::{DropReason, Reason, Stats, TransportStats};

/// Messages and their bytes (sealed, as on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages.
    pub messages: u64,
    /// Their bytes, sealed.
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, bytes: usize) {
        self.messages = self.messages.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
    }
}

/// Traffic by kind of message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByKind {
    /// Failure detection (SWIM probes, acks, nacks, news).
    pub probe: Traffic,
    /// Partial-view membership (HyParView).
    pub view: Traffic,
    /// Anti-entropy (digests, deltas, full states).
    pub sync: Traffic,
    /// The eager broadcast tree (pushes, announcements, grafts, prunes).
    pub tree: Traffic,
}

impl ByKind {
    /// The label of each kind, in the order of [`ByKind::each`].
    pub const KINDS: [&'static str; 4] = ["probe", "view", "sync", "tree"];

    /// The traffic of each kind, labelled.
    #[must_use]
    pub const fn each(&self) -> [(&'static str, Traffic); 4] {
        [
            (Self::KINDS[0], self.probe),
            (Self::KINDS[1], self.view),
            (Self::KINDS[2], self.sync),
            (Self::KINDS[3], self.tree),
        ]
    }

    /// Every kind together.
    #[must_use]
    pub fn total(&self) -> Traffic {
        self.each()
            .iter()
            .fold(Traffic::default(), |sum, (_, t)| Traffic {
                messages: sum.messages.saturating_add(t.messages),
                bytes: sum.bytes.saturating_add(t.bytes),
            })
    }

    pub(super) fn count<S: crate::State, P>(&mut self, message: &Message<S, P>, bytes: usize) {
        let traffic = match message.body {
            Body::Probe(_) => &mut self.probe,
            Body::View(_) => &mut self.view,
            Body::Sync(_) => &mut self.sync,
            Body::Tree(_) => &mut self.tree,
        };
        traffic.add(bytes);
    }
}

/// The members a node holds, by status (itself excluded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberCounts {
    /// Answering probes.
    pub alive: u64,
    /// Missed a probe; dead unless they refute in time.
    pub suspect: u64,
    /// Declared failed.
    pub dead: u64,
    /// Left on purpose.
    pub left: u64,
}

impl MemberCounts {
    /// Counts `alive` live members and the others' statuses.
    pub(super) fn new(alive: usize, others: impl Iterator<Item = Status>) -> Self {
        let mut counts = Self {
            alive: alive as u64,
            ..Self::default()
        };
        for status in others {
            let counter = match status {
                Status::Alive => &mut counts.alive,
                Status::Suspect => &mut counts.suspect,
                Status::Dead => &mut counts.dead,
                Status::Left => &mut counts.left,
            };
            *counter += 1;
        }
        counts
    }

    const fn each(&self) -> [(&'static str, u64); 4] {
        [
            ("alive", self.alive),
            ("suspect", self.suspect),
            ("dead", self.dead),
            ("left", self.left),
        ]
    }
}

/// A snapshot of a node's counters: plain numbers, no metrics recorder
/// needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// This member's incarnation: it rises when the member refutes a
    /// suspicion or learns of a higher one from an earlier life.
    pub incarnation: u64,
    /// Lifeguard's local health score (`Node::local_health`): 0 when this
    /// node's probes are answered in time; higher when it misses acks and
    /// nacks, is suspected, or its task runs late (then it probes `score +
    /// 1` times slower and waits as much longer for acks).
    pub local_health: u32,
    /// What the core's bounds against a lying member refused, by bound
    /// (`Node::refused`): forged dots, incarnations and eager ids, members
    /// never heard from, ping requests for strangers, oversized answers.
    pub bounds: Refused,
    /// Messages handed to the transport (`sent.total().messages`).
    pub messages_out: u64,
    /// Bytes of those messages, sealed.
    pub bytes_out: u64,
    /// Messages received, opened and decoded (`received.total().messages`).
    pub messages_in: u64,
    /// Bytes of those messages, sealed.
    pub bytes_in: u64,
    /// What was handed to the transport, by kind.
    pub sent: ByKind,
    /// What was received, opened and decoded, by kind.
    pub received: ByKind,
    /// Messages that could not be encoded or sealed (too large).
    pub encode_failed: u64,
    /// Messages the transport refused to queue (full queue, too large, ...;
    /// by reason in `transport.dropped`).
    pub send_refused: u64,
    /// The envelope's counters: what was sealed, accepted, and refused by
    /// reason (wrong key, replay, undecodable, ...).
    pub envelope: Stats,
    /// The transport's counters, its queue depths among them.
    pub transport: TransportStats,
    /// The members this node holds, by status.
    pub members: MemberCounts,
    /// Commands (updates, reads, ...) waiting for the node task.
    pub commands_queued: u64,
    /// Subscriptions open on the node's changes.
    pub subscribers: u64,
}

impl GossipStats {
    /// Envelopes received and refused, for any reason.
    #[must_use]
    pub fn refused_total(&self) -> u64 {
        self.envelope.rejected_total()
    }

    pub(super) fn count_sent<S: crate::State, P>(&mut self, message: &Message<S, P>, bytes: usize) {
        self.sent.count(message, bytes);
        self.messages_out = self.messages_out.saturating_add(1);
        self.bytes_out = self.bytes_out.saturating_add(bytes as u64);
    }

    pub(super) fn count_received<S: crate::State, P>(
        &mut self,
        message: &Message<S, P>,
        bytes: usize,
    ) {
        self.received.count(message, bytes);
        self.messages_in = self.messages_in.saturating_add(1);
        self.bytes_in = self.bytes_in.saturating_add(bytes as u64);
    }
}

/// Publishes snapshots through the `metrics` facade: remembers the last
/// one, so counters go up by the difference and gauges move by it.
#[derive(Debug, Default)]
pub(super) struct Publisher {
    last: GossipStats,
}

/// How much `now` is past `before` (counters only go up; a reset, which
/// does not happen, publishes nothing).
const fn gain(now: u64, before: u64) -> u64 {
    now.saturating_sub(before)
}

/// Moves a gauge from `before` to `now`.
fn shift(gauge: &metrics::Gauge, now: u64, before: u64) {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    if now >= before {
        gauge.increment((now - before) as f64);
    } else {
        gauge.decrement((before - now) as f64);
    }
}

impl Publisher {
    /// Publishes what changed since the last call.
    pub(super) fn publish(&mut self, now: &GossipStats) {
        let last = &self.last;
        for ((kind, sent), (_, before)) in now.sent.each().into_iter().zip(last.sent.each()) {
            metrics::counter!("rumor_messages_sent_total", "kind" => kind)
                .increment(gain(sent.messages, before.messages));
            metrics::counter!("rumor_bytes_sent_total", "kind" => kind)
                .increment(gain(sent.bytes, before.bytes));
        }
        let received = now.received.each().into_iter().zip(last.received.each());
        for ((kind, got), (_, before)) in received {
            metrics::counter!("rumor_messages_received_total", "kind" => kind)
                .increment(gain(got.messages, before.messages));
            metrics::counter!("rumor_bytes_received_total", "kind" => kind)
                .increment(gain(got.bytes, before.bytes));
        }
        for reason in Reason::ALL {
            let more = gain(
                now.envelope.rejected(reason),
                last.envelope.rejected(reason),
            );
            if more > 0 {
                metrics::counter!("rumor_envelopes_rejected_total", "reason" => reason.as_str())
                    .increment(more);
            }
        }
        for reason in DropReason::ALL {
            let more = gain(
                now.transport.dropped(reason),
                last.transport.dropped(reason),
            );
            if more > 0 {
                metrics::counter!("rumor_transport_dropped_total", "reason" => reason.as_str())
                    .increment(more);
            }
        }
        for ((bound, n), (_, before)) in now.bounds.each().into_iter().zip(last.bounds.each()) {
            if n > before {
                metrics::counter!("rumor_refused_by_bound_total", "bound" => bound)
                    .increment(n - before);
            }
        }
        let unsendable = [
            ("encode", now.encode_failed, last.encode_failed),
            ("refused", now.send_refused, last.send_refused),
        ];
        for (reason, n, before) in unsendable {
            if n > before {
                metrics::counter!("rumor_messages_unsendable_total", "reason" => reason)
                    .increment(n - before);
            }
        }
        self.gauges(now);
        self.last = *now;
    }

    /// Moves the gauges to `now`'s values.
    fn gauges(&self, now: &GossipStats) {
        let last = &self.last;
        shift(
            &metrics::gauge!("rumor_local_health"),
            u64::from(now.local_health),
            u64::from(last.local_health),
        );
        for ((status, n), (_, before)) in now.members.each().into_iter().zip(last.members.each()) {
            shift(
                &metrics::gauge!("rumor_members", "status" => status),
                n,
                before,
            );
        }
        let queues = [
            ("commands", now.commands_queued, last.commands_queued),
            (
                "datagrams",
                now.transport.queued_datagrams,
                last.transport.queued_datagrams,
            ),
            (
                "frames",
                now.transport.queued_frames,
                last.transport.queued_frames,
            ),
        ];
        for (queue, n, before) in queues {
            shift(
                &metrics::gauge!("rumor_queue_depth", "queue" => queue),
                n,
                before,
            );
        }
    }

    /// Takes this node's gauges back out (it stops).
    pub(super) fn retire(&mut self) {
        let last = self.last;
        let retired = GossipStats {
            members: MemberCounts::default(),
            commands_queued: 0,
            transport: TransportStats {
                queued_datagrams: 0,
                queued_frames: 0,
                ..last.transport
            },
            ..last
        };
        self.gauges(&retired);
        self.last = retired;
    }
}
