//! The delta buffer: deltas joined since the oldest one still worth pushing,
//! numbered by a local sequence, each tagged with where it came from.
//! Deltas sealed by their author are never joined: an interval carries them
//! one by one, as they came.

use std::collections::VecDeque;

use rumor_crdt::{codec, Crdt};
use serde::Serialize;

use crate::message::SealedDelta;
use crate::peer::Peer;

/// What a sealed delta's id adds to its size, about: the origin, the epoch
/// (8 bytes as a varint at most) and the sequence number.
const SEALED_ID_BYTES: usize = 24;

/// A buffered delta: joined into intervals, or carried as it is.
pub(crate) enum Buffered<S, P> {
    Plain(S),
    Sealed(SealedDelta<S, P>),
}

/// An interval: the join of its plain deltas, its sealed ones as they are,
/// and the first sequence not included (the `seq` the peer acknowledges).
pub(crate) struct Interval<S, P> {
    pub(crate) delta: S,
    pub(crate) sealed: Vec<SealedDelta<S, P>>,
    pub(crate) until: u64,
}

struct Entry<S, P> {
    seq: u64,
    /// The peer it was received from; `None` for local writes.
    origin: Option<P>,
    delta: Buffered<S, P>,
    /// Encoded size of `delta`.
    bytes: usize,
    born_round: u64,
    redundant_hits: u32,
}

/// A cached interval from the first buffered entry.
struct Head<S, P> {
    join: S,
    sealed: Vec<SealedDelta<S, P>>,
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
    head: Option<Head<S, P>>,
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

    pub(crate) fn push(&mut self, origin: Option<P>, delta: Buffered<S, P>, round: u64) {
        let bytes = match &delta {
            Buffered::Plain(delta) => codec::encoded_len(delta),
            // The seal, and about as much for the id.
            Buffered::Sealed(sealed) => codec::encoded_len(&*sealed.delta)
                .map(|bytes| bytes + crate::seal::SEAL_BYTES + SEALED_ID_BYTES),
        }
        .unwrap_or(usize::MAX);
        if let Some(head) = &mut self.head {
            // A head that stopped early at the cap stays as it is.
            let fits = head.taken == 0 || head.taken.saturating_add(bytes) <= head.max_bytes;
            if head.until == self.next_seq && fits {
                match &delta {
                    Buffered::Plain(delta) => head.join.join(delta),
                    Buffered::Sealed(sealed) => head.sealed.push(sealed.clone()),
                }
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

    /// The interval of the entries from `from_seq` on, skipping those that
    /// came from `peer` when `skip_peer_origin` (no back-propagation),
    /// taking entries in order while their encoded sizes add up to at most
    /// `max_bytes` (always at least one).
    pub(crate) fn interval(
        &mut self,
        peer: P,
        from_seq: u64,
        skip_peer_origin: bool,
        max_bytes: usize,
    ) -> Interval<S, P> {
        let start = self.entries.partition_point(|e| e.seq < from_seq);
        let skips = skip_peer_origin && self.entries.iter().any(|e| e.origin == Some(peer));
        if start == 0 && !skips {
            if let Some(head) = self.head.as_ref().filter(|h| h.max_bytes == max_bytes) {
                return Interval {
                    delta: head.join.clone(),
                    sealed: head.sealed.clone(),
                    until: head.until,
                };
            }
            let (interval, taken) = self.join_from(0, None, max_bytes);
            self.head = Some(Head {
                join: interval.delta.clone(),
                sealed: interval.sealed.clone(),
                until: interval.until,
                taken,
                max_bytes,
            });
            return interval;
        }
        let skip = skip_peer_origin.then_some(peer);
        self.join_from(start, skip, max_bytes).0
    }

    /// Joins entries from index `start` on, skipping those from `skip`,
    /// while their sizes add up to at most `max_bytes` (at least one):
    /// the interval, and the bytes it includes.
    fn join_from(
        &self,
        start: usize,
        skip: Option<P>,
        max_bytes: usize,
    ) -> (Interval<S, P>, usize) {
        let mut out = Interval {
            delta: S::default(),
            sealed: Vec::new(),
            until: self.next_seq,
        };
        let mut taken = 0usize;
        for entry in self.entries.range(start..) {
            if skip.is_some() && entry.origin == skip {
                continue;
            }
            if taken > 0 && taken.saturating_add(entry.bytes) > max_bytes {
                out.until = entry.seq;
                return (out, taken);
            }
            taken = taken.saturating_add(entry.bytes);
            match &entry.delta {
                Buffered::Plain(delta) => out.delta.join(delta),
                Buffered::Sealed(sealed) => out.sealed.push(sealed.clone()),
            }
        }
        (out, taken)
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

    /// Drops entries older than `ttl_rounds`, and (when `stops` is set)
    /// those enough peers reported redundant: `stops.0` for plain deltas,
    /// `stops.1` for sealed ones (see `Config::sealed_redundant_stop`).
    pub(crate) fn expire(&mut self, round: u64, ttl_rounds: u64, stops: Option<(u32, u32)>) {
        let before = self.entries.len();
        self.entries.retain(|e| {
            let stop = stops.map(|(plain, sealed)| match e.delta {
                Buffered::Plain(_) => plain,
                Buffered::Sealed(_) => sealed,
            });
            round.saturating_sub(e.born_round) < ttl_rounds
                && stop.is_none_or(|stop| e.redundant_hits < stop)
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
        let (interval, _) = buffer.join_from(0, None, max_bytes);
        (interval.delta, interval.until)
    }

    fn interval(
        buffer: &mut DeltaBuffer<GCounter, u32>,
        peer: u32,
        skip: bool,
        cap: usize,
    ) -> (GCounter, u64) {
        let interval = buffer.interval(peer, 0, skip, cap);
        (interval.delta, interval.until)
    }

    #[test]
    fn cached_head_matches_a_fresh_join_as_entries_arrive_and_expire() {
        let mut buffer = DeltaBuffer::<GCounter, u32>::new();
        let one = codec::encoded_len(&delta(1)).unwrap_or(0);
        // Room for three one-increment deltas, not four.
        let cap = 3 * one + one / 2;
        for (round, replica) in (1..=6).enumerate() {
            buffer.push(Some(9), Buffered::Plain(delta(replica)), round as u64);
            let cached = interval(&mut buffer, 1, true, cap);
            assert_eq!(cached, fresh(&buffer, cap), "after {replica} pushes");
            // Asked twice, the cache answers the same.
            assert_eq!(interval(&mut buffer, 1, true, cap), cached);
        }
        assert_eq!(
            interval(&mut buffer, 1, true, cap).1,
            3,
            "stopped at the cap"
        );
        buffer.expire(3, 2, None); // drops the entries born in rounds 0 and 1
        let cached = interval(&mut buffer, 1, true, cap);
        assert_eq!(cached, fresh(&buffer, cap));
        assert_eq!(cached.1, 5);
        assert_eq!(cached.0.value(), 3);
    }

    #[test]
    fn interval_skips_what_came_from_the_peer_itself() {
        let mut buffer = DeltaBuffer::<GCounter, u32>::new();
        buffer.push(Some(7), Buffered::Plain(delta(1)), 0);
        buffer.push(None, Buffered::Plain(delta(2)), 0);
        let (join, until) = interval(&mut buffer, 7, true, usize::MAX);
        assert_eq!((join.value(), until), (1, 2));
        let (join, _) = interval(&mut buffer, 7, false, usize::MAX);
        assert_eq!(join.value(), 2);
    }
}
