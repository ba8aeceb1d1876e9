//! The delta buffer: deltas joined since the oldest one still worth pushing,
//! numbered by a local sequence, each tagged with where it came from.

use std::collections::VecDeque;

use rumor_crdt::{codec, Crdt};
use serde::Serialize;

use crate::peer::Peer;

struct Entry<S, P> {
    seq: u64,
    /// The peer it was received from; `None` for local writes.
    origin: Option<P>,
    delta: S,
    /// Encoded size of `delta`.
    bytes: usize,
    born_round: u64,
    redundant_hits: u32,
}

/// A cached interval from the first buffered entry.
struct Head<S> {
    join: S,
    /// The first sequence not included.
    until: u64,
    /// Encoded bytes of the included entries.
    taken: usize,
    /// The cap it was built under.
    max_bytes: usize,
}

/// Buffered deltas in sequence order.
pub(crate) struct DeltaBuffer<S, P> {
    entries: VecDeque<Entry<S, P>>,
    next_seq: u64,
    /// The interval from the first entry with nothing skipped, built on
    /// demand, extended by `push` and dropped when entries expire: most
    /// intervals in a large cluster go to peers with no ack yet.
    head: Option<Head<S>>,
}

impl<S: Crdt + Serialize, P: Peer> DeltaBuffer<S, P> {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 0,
            head: None,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn push(&mut self, origin: Option<P>, delta: S, round: u64) {
        let bytes = codec::encoded_len(&delta).unwrap_or(usize::MAX);
        if let Some(head) = &mut self.head {
            // A head that stopped early at the cap stays as it is.
            let fits = head.taken == 0 || head.taken.saturating_add(bytes) <= head.max_bytes;
            if head.until == self.next_seq && fits {
                head.join.join(&delta);
                head.taken = head.taken.saturating_add(bytes);
                head.until = self.next_seq + 1;
            }
        }
        self.entries.push_back(Entry {
            seq: self.next_seq,
            origin,
            delta,
            bytes,
            born_round: round,
            redundant_hits: 0,
        });
        self.next_seq += 1;
    }

    /// The join of the entries from `from_seq` on, skipping those that came
    /// from `peer` when `skip_peer_origin` (no back-propagation), taking
    /// entries in order while their encoded sizes add up to at most
    /// `max_bytes` (always at least one). Returns the join and the sequence
    /// it covers up to: the `seq` the peer will acknowledge.
    pub(crate) fn interval(
        &mut self,
        peer: P,
        from_seq: u64,
        skip_peer_origin: bool,
        max_bytes: usize,
    ) -> (S, u64) {
        let start = self.entries.partition_point(|e| e.seq < from_seq);
        let skips = skip_peer_origin && self.entries.iter().any(|e| e.origin == Some(peer));
        if start == 0 && !skips {
            if let Some(head) = self.head.as_ref().filter(|h| h.max_bytes == max_bytes) {
                return (head.join.clone(), head.until);
            }
            let (join, until, taken) = self.join_from(0, None, max_bytes);
            self.head = Some(Head {
                join: join.clone(),
                until,
                taken,
                max_bytes,
            });
            return (join, until);
        }
        let skip = skip_peer_origin.then_some(peer);
        let (join, until, _) = self.join_from(start, skip, max_bytes);
        (join, until)
    }

    /// Joins entries from index `start` on, skipping those from `skip`,
    /// while their sizes add up to at most `max_bytes` (at least one):
    /// `(join, first sequence not included, bytes included)`.
    fn join_from(&self, start: usize, skip: Option<P>, max_bytes: usize) -> (S, u64, usize) {
        let mut out = S::default();
        let mut taken = 0usize;
        for entry in self.entries.range(start..) {
            if skip.is_some() && entry.origin == skip {
                continue;
            }
            if taken > 0 && taken.saturating_add(entry.bytes) > max_bytes {
                return (out, entry.seq, taken);
            }
            taken = taken.saturating_add(entry.bytes);
            out.join(&entry.delta);
        }
        (out, self.next_seq, taken)
    }

    /// Counts a "brought nothing new" report against the entries that a
    /// message covering `[from_seq, to_seq)` carried.
    pub(crate) fn mark_redundant(&mut self, from_seq: u64, to_seq: u64) {
        let start = self.entries.partition_point(|e| e.seq < from_seq);
        for entry in self.entries.range_mut(start..) {
            if entry.seq >= to_seq {
                break;
            }
            entry.redundant_hits = entry.redundant_hits.saturating_add(1);
        }
    }

    /// Drops entries older than `ttl_rounds`, and (when `redundant_stop` is
    /// set) those enough peers reported redundant.
    pub(crate) fn expire(&mut self, round: u64, ttl_rounds: u64, redundant_stop: Option<u32>) {
        let before = self.entries.len();
        self.entries.retain(|e| {
            round.saturating_sub(e.born_round) < ttl_rounds
                && redundant_stop.is_none_or(|stop| e.redundant_hits < stop)
        });
        if self.entries.len() != before {
            self.head = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use rumor_crdt::{GCounter, ReplicaId};

    use super::*;

    fn delta(replica: u128) -> GCounter {
        GCounter::new().increment(ReplicaId::from_u128(replica), 1)
    }

    /// The interval computed from scratch, for comparison with the cached one.
    fn fresh(buffer: &DeltaBuffer<GCounter, u32>, max_bytes: usize) -> (GCounter, u64) {
        let (join, until, _) = buffer.join_from(0, None, max_bytes);
        (join, until)
    }

    #[test]
    fn cached_head_matches_a_fresh_join_as_entries_arrive_and_expire() {
        let mut buffer = DeltaBuffer::<GCounter, u32>::new();
        let one = codec::encoded_len(&delta(1)).unwrap_or(0);
        // Room for three one-increment deltas, not four.
        let cap = 3 * one + one / 2;
        for (round, replica) in (1..=6).enumerate() {
            buffer.push(Some(9), delta(replica), round as u64);
            let cached = buffer.interval(1, 0, true, cap);
            assert_eq!(cached, fresh(&buffer, cap), "after {replica} pushes");
            // Asked twice, the cache answers the same.
            assert_eq!(buffer.interval(1, 0, true, cap), cached);
        }
        assert_eq!(buffer.interval(1, 0, true, cap).1, 3, "stopped at the cap");
        buffer.expire(3, 2, None); // drops the entries born in rounds 0 and 1
        let cached = buffer.interval(1, 0, true, cap);
        assert_eq!(cached, fresh(&buffer, cap));
        assert_eq!(cached.1, 5);
        assert_eq!(cached.0.value(), 3);
    }

    #[test]
    fn interval_skips_what_came_from_the_peer_itself() {
        let mut buffer = DeltaBuffer::<GCounter, u32>::new();
        buffer.push(Some(7), delta(1), 0);
        buffer.push(None, delta(2), 0);
        let (join, until) = buffer.interval(7, 0, true, usize::MAX);
        assert_eq!((join.value(), until), (1, 2));
        let (join, _) = buffer.interval(7, 0, false, usize::MAX);
        assert_eq!(join.value(), 2);
    }
}
