//! Replay protection: a time window checked before decryption, and a
//! bounded memory of the nonces accepted inside it, checked after.
//!
//! Every nonce starts with the sender's wall clock in milliseconds
//! (`sent_ms`). With `now_ms` this node's clock:
//!
//! 1. **Before decryption** ([`ReplayGuard::check_time`]): an envelope with
//!    `sent_ms < now_ms − window_ms` is [`Stale`](Error::Stale), one with
//!    `sent_ms > now_ms + max_future_ms` is [`Future`](Error::Future). Both
//!    cost no cryptography, so a flood of old recordings is cheap to drop.
//! 2. **After decryption** ([`ReplayGuard::remember`]): the sender is now
//!    authenticated. A `(sender, nonce)` already accepted is a
//!    [`Replay`](Error::Replay); so is a nonce whose `sent_ms` is at or below
//!    the sender's *floor* (below). Otherwise the nonce is remembered.
//!
//! # The bound, and why forgetting never lets a replay through
//!
//! The guard remembers at most [`ReplayConfig::max_total`] nonces in all
//! (default 16,384), at most [`ReplayConfig::max_per_sender`] of one sender
//! (1,024), and at most [`ReplayConfig::max_senders`] senders (4,096).
//! That bounds its heap, whatever arrives, to under 50 bytes per nonce and
//! 340 per sender: 2.2 MB at the defaults. (A nonce takes 24 bytes in its
//! sender's queue, which keeps at most twice the slots its nonces need and
//! at least 4: 48 bytes a nonce and 48 a sender; a sender remembered by its
//! floor alone keeps no queue. A sender takes a hash table slot of 65
//! bytes, up to 24/7 of them while the table grows, and an entry of an
//! ordered set, under 60 bytes.) `tests/replay_memory.rs`
//! measures it with a counting allocator: 1.3 MB at the peak with both
//! bounds full (16,384 nonces of 4,096 senders).
//!
//! Nonces are forgotten oldest first: when they fall out of the window,
//! when their sender has more than `max_per_sender`, or when the guard has
//! more than `max_total` (then the oldest nonce of all goes). Each time, the
//! sender's *floor* rises to the forgotten nonce's `sent_ms`, and the
//! sender's envelopes sent at or before its floor are refused from then
//! on. A sender whose nonces are all forgotten is still remembered by its
//! floor alone. When there are more than `max_senders` senders, the one with
//! the lowest floor among those with no nonce left is forgotten entirely,
//! and its floor is folded into a floor shared by every sender the guard
//! does not remember (a sender seen for the first time starts at it). So
//! every nonce ever accepted from a sender is either remembered or at or
//! below that sender's floor: a replay is refused, whatever was forgotten.
//!
//! What forgetting costs is availability, never safety. Each sender's clock
//! moves forward past its own floor, so its new envelopes get through; what
//! is refused is an envelope that arrives after newer ones from the same
//! sender have pushed its memory past it (reordered further than the
//! memory spans), or, once more than `max_senders` senders were seen, one
//! from a forgotten sender whose clock lags the shared floor. A flood of
//! fresh nonces (which only a key holder can make) shrinks the span;
//! honest senders keep working. A sender remembered by its floor alone is
//! forgotten when the floor leaves the window. If this node's clock steps
//! back, envelopes sent at or before the floors are refused until the clock
//! passes them again: the safe side.
//!
//! # Cost
//!
//! A nonce later than every remembered one of its sender (a sender's clock
//! moves forward) costs a hash lookup and a push onto that sender's queue;
//! forgetting the oldest nonce of a sender costs a hash lookup, a pop, and
//! moving the sender in the set that orders senders by their oldest nonce.
//! A nonce that arrives out of order is a binary search and an insertion
//! in its sender's queue.
//!
//! ```
//! use rumor_crdt::ReplicaId;
//! use rumor_net::{Error, Nonce, ReplayConfig, ReplayGuard};
//!
//! let mut guard = ReplayGuard::new(ReplayConfig::default());
//! let alice = ReplicaId::from_u128(1);
//! let nonce = Nonce { sent_ms: 1_000_000, random: [7; 16] };
//! let now_ms = 1_000_050;
//!
//! assert_eq!(guard.check_time(nonce.sent_ms, now_ms), Ok(()));
//! assert_eq!(guard.remember(alice, &nonce, now_ms), Ok(()));
//! assert_eq!(guard.remember(alice, &nonce, now_ms), Err(Error::Replay));
//! assert!(matches!(guard.check_time(nonce.sent_ms, now_ms + 61_000), Err(Error::Stale { .. })));
//! ```

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};

use rumor_crdt::ReplicaId;

use crate::envelope::Nonce;
use crate::Error;

/// The replay window and the bounds of the nonce memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayConfig {
    /// How long ago, by the sender's clock against ours, an envelope may
    /// have been sent (default 60 s). Older ones are
    /// [`Stale`](Error::Stale).
    pub window_ms: u64,
    /// How far ahead of ours the sender's clock may be (default 10 s).
    /// Further ones are [`Future`](Error::Future).
    pub max_future_ms: u64,
    /// The most nonces remembered for one sender (default 1,024; at least 1).
    pub max_per_sender: usize,
    /// The most nonces remembered in all (default 16,384; at least 1).
    pub max_total: usize,
    /// The most senders remembered, with nonces or with a floor only
    /// (default 4,096; at least 1).
    pub max_senders: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            window_ms: 60_000,
            max_future_ms: 10_000,
            max_per_sender: 1_024,
            max_total: 16_384,
            max_senders: 4_096,
        }
    }
}

/// The fewest slots a sender's queue is shrunk to (what a `VecDeque` of
/// small items allocates first): a sender with a nonce or two does not
/// reallocate at each one.
const QUEUE_MIN_SLOTS: usize = 4;

/// What the guard keeps about one sender.
#[derive(Clone, Debug)]
struct Sender {
    /// Its remembered nonces, oldest first (`Nonce` orders by `sent_ms`,
    /// then by the random bytes). A sender's clock moves forward, so a new
    /// nonce usually goes at the back. Empty, with no buffer, when only its
    /// floor is remembered.
    nonces: VecDeque<Nonce>,
    /// Its envelopes sent at or before this are refused.
    floor: Option<u64>,
}

impl Sender {
    /// Whether `nonce` is at or below the floor, or remembered.
    fn refuses(&self, nonce: &Nonce) -> bool {
        self.floor.is_some_and(|floor| nonce.sent_ms <= floor)
            || self.nonces.binary_search(nonce).is_ok()
    }
}

/// The memory of accepted nonces, bounded (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    config: ReplayConfig,
    /// Every remembered sender, with its nonces. The hash order decides
    /// nothing: which sender or nonce to forget is chosen through the
    /// ordered sets below.
    senders: HashMap<ReplicaId, Sender>,
    /// The oldest nonce time of each sender with nonces remembered: where
    /// the oldest nonce of all is. Touched only when a sender's oldest
    /// nonce changes, not when a newer one is remembered.
    oldest: BTreeSet<(u64, ReplicaId)>,
    /// The floor of each sender remembered with no nonce: which to forget
    /// first (the lowest floor).
    idle: BTreeSet<(u64, ReplicaId)>,
    /// How many nonces are remembered, of all senders.
    remembered: usize,
    /// The floor of every sender not remembered.
    floor: Option<u64>,
    /// At or below the first key of `oldest` and of `idle` (`u64::MAX` when
    /// both are empty): before it, [`expire`](Self::expire) has nothing to
    /// forget and looks at neither set. Lowered at every insertion, set
    /// exactly by each expiry that looks; a removal leaves it low, which
    /// costs one look. Walking down to the first key of two B-trees at
    /// every envelope missed the cache in a swarm of 1,000 guards.
    expires_at: u64,
}

impl ReplayGuard {
    /// An empty memory. Bounds below 1 are raised to 1.
    #[must_use]
    pub fn new(config: ReplayConfig) -> Self {
        let config = ReplayConfig {
            max_per_sender: config.max_per_sender.max(1),
            max_total: config.max_total.max(1),
            max_senders: config.max_senders.max(1),
            ..config
        };
        Self {
            config,
            senders: HashMap::new(),
            oldest: BTreeSet::new(),
            idle: BTreeSet::new(),
            remembered: 0,
            floor: None,
            expires_at: u64::MAX,
        }
    }

    /// The configuration in force.
    #[must_use]
    pub const fn config(&self) -> &ReplayConfig {
        &self.config
    }

    /// How many nonces are remembered.
    #[must_use]
    pub const fn remembered(&self) -> usize {
        self.remembered
    }

    /// How many senders are remembered (with nonces, or with a floor only).
    #[must_use]
    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// The check before decryption: whether an envelope sent at `sent_ms`
    /// (the sender's clock) is inside `[now_ms − window, now_ms + skew]`.
    ///
    /// # Errors
    /// [`Error::Stale`] or [`Error::Future`].
    pub const fn check_time(&self, sent_ms: u64, now_ms: u64) -> Result<(), Error> {
        if sent_ms < now_ms.saturating_sub(self.config.window_ms) {
            Err(Error::Stale { sent_ms, now_ms })
        } else if sent_ms > now_ms.saturating_add(self.config.max_future_ms) {
            Err(Error::Future { sent_ms, now_ms })
        } else {
            Ok(())
        }
    }

    /// Whether `sender` already used `nonce` (or one at or below its floor)
    /// as far as this memory knows: [`remember`](Self::remember) would
    /// refuse it. Changes nothing.
    #[must_use]
    pub fn seen(&self, sender: ReplicaId, nonce: &Nonce) -> bool {
        match self.senders.get(&sender) {
            Some(memory) => memory.refuses(nonce),
            None => self.floor.is_some_and(|floor| nonce.sent_ms <= floor),
        }
    }

    /// The check after decryption: refuses a nonce `sender` already used
    /// (or one at or below its floor), and otherwise remembers it. First
    /// forgets what fell out of the window at `now_ms`.
    ///
    /// Call it only for an authenticated envelope that passed
    /// [`check_time`](Self::check_time) at the same `now_ms`.
    ///
    /// # Errors
    /// [`Error::Replay`].
    pub fn remember(&mut self, sender: ReplicaId, nonce: &Nonce, now_ms: u64) -> Result<(), Error> {
        self.expire(now_ms);
        let memory = match self.senders.entry(sender) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                if self.floor.is_some_and(|floor| nonce.sent_ms <= floor) {
                    return Err(Error::Replay);
                }
                entry.insert(Sender {
                    nonces: VecDeque::new(),
                    floor: self.floor,
                })
            }
        };
        if memory.floor.is_some_and(|floor| nonce.sent_ms <= floor) {
            return Err(Error::Replay);
        }
        match memory.nonces.back() {
            // The usual case: the sender's clock moved forward.
            Some(last) if last < nonce => memory.nonces.push_back(*nonce),
            Some(_) => {
                let Err(at) = memory.nonces.binary_search(nonce) else {
                    return Err(Error::Replay);
                };
                let oldest_ms = memory.nonces[0].sent_ms;
                memory.nonces.insert(at, *nonce);
                if nonce.sent_ms < oldest_ms {
                    self.oldest.remove(&(oldest_ms, sender));
                    self.oldest.insert((nonce.sent_ms, sender));
                    self.expires_at = self.expires_at.min(nonce.sent_ms);
                }
            }
            None => {
                if let Some(floor) = memory.floor {
                    self.idle.remove(&(floor, sender));
                }
                memory.nonces.push_back(*nonce);
                self.oldest.insert((nonce.sent_ms, sender));
                self.expires_at = self.expires_at.min(nonce.sent_ms);
            }
        }
        self.remembered += 1;
        if memory.nonces.len() > self.config.max_per_sender {
            self.forget_oldest_of(sender);
        }
        while self.remembered > self.config.max_total && self.forget_oldest_nonce() {}
        while self.senders.len() > self.config.max_senders
            && (self.forget_idle_sender() || self.forget_oldest_nonce())
        {}
        Ok(())
    }

    /// Forgets every nonce sent before `now_ms − window`, and every sender
    /// whose floor is before it: a replay of those is
    /// [`Stale`](Error::Stale) anyway (and refused by the floors if the
    /// clock steps back).
    fn expire(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(self.config.window_ms);
        if horizon <= self.expires_at {
            return;
        }
        while let Some(&(sent_ms, sender)) = self.oldest.first() {
            if sent_ms >= horizon {
                break;
            }
            self.forget_oldest_of(sender);
        }
        while self.idle.first().is_some_and(|&(floor, _)| floor < horizon) {
            self.forget_idle_sender();
        }
        let first = |set: &BTreeSet<(u64, ReplicaId)>| set.first().map_or(u64::MAX, |&(ms, _)| ms);
        self.expires_at = first(&self.oldest).min(first(&self.idle));
    }

    /// Forgets the oldest nonce of all. Returns whether there was one.
    fn forget_oldest_nonce(&mut self) -> bool {
        let Some(&(_, sender)) = self.oldest.first() else {
            return false;
        };
        self.forget_oldest_of(sender);
        true
    }

    /// Forgets `sender`'s oldest nonce and raises its floor to it.
    fn forget_oldest_of(&mut self, sender: ReplicaId) {
        let Some(memory) = self.senders.get_mut(&sender) else {
            return;
        };
        let Some(forgotten) = memory.nonces.pop_front() else {
            return;
        };
        let sent_ms = forgotten.sent_ms;
        let floor = memory.floor.map_or(sent_ms, |floor| floor.max(sent_ms));
        memory.floor = Some(floor);
        self.remembered -= 1;
        // What a burst left behind is released: a queue keeps at most twice
        // the slots its nonces need (or `QUEUE_MIN_SLOTS`), none once the
        // sender is idle. Shrunk to 1.5 times, it is reallocated again only
        // after its length grew by half or fell by a quarter.
        let (len, capacity) = (memory.nonces.len(), memory.nonces.capacity());
        if len == 0 {
            memory.nonces = VecDeque::new();
        } else if capacity > QUEUE_MIN_SLOTS && len * 2 < capacity {
            memory
                .nonces
                .shrink_to((len + len / 2).max(QUEUE_MIN_SLOTS));
        }
        match memory.nonces.front() {
            Some(next) if next.sent_ms == sent_ms => {}
            Some(next) => {
                self.oldest.remove(&(sent_ms, sender));
                self.oldest.insert((next.sent_ms, sender));
                self.expires_at = self.expires_at.min(next.sent_ms);
            }
            None => {
                self.oldest.remove(&(sent_ms, sender));
                self.idle.insert((floor, sender));
                self.expires_at = self.expires_at.min(floor);
            }
        }
    }

    /// Forgets the remembered sender with no nonce and the lowest floor,
    /// folding its floor into the shared one. Returns whether there was one.
    fn forget_idle_sender(&mut self) -> bool {
        let Some((floor, sender)) = self.idle.pop_first() else {
            return false;
        };
        self.senders.remove(&sender);
        self.floor = self.floor.max(Some(floor));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(sent_ms: u64, n: u32) -> Nonce {
        let mut random = [0; 16];
        random[..4].copy_from_slice(&n.to_le_bytes());
        Nonce { sent_ms, random }
    }

    fn guard(max_per_sender: usize, max_total: usize) -> ReplayGuard {
        guard_of(max_per_sender, max_total, 1_000)
    }

    fn guard_of(max_per_sender: usize, max_total: usize, max_senders: usize) -> ReplayGuard {
        ReplayGuard::new(ReplayConfig {
            max_per_sender,
            max_total,
            max_senders,
            ..ReplayConfig::default()
        })
    }

    const NOW: u64 = 1_000_000;

    #[test]
    fn the_window_is_inclusive_at_both_ends() {
        let guard = guard(8, 8);
        assert_eq!(guard.check_time(NOW - 60_000, NOW), Ok(()));
        assert_eq!(guard.check_time(NOW + 10_000, NOW), Ok(()));
        assert_eq!(
            guard.check_time(NOW - 60_001, NOW),
            Err(Error::Stale {
                sent_ms: NOW - 60_001,
                now_ms: NOW
            })
        );
        assert_eq!(
            guard.check_time(NOW + 10_001, NOW),
            Err(Error::Future {
                sent_ms: NOW + 10_001,
                now_ms: NOW
            })
        );
        // Near zero and near the end of time, nothing overflows.
        assert_eq!(guard.check_time(0, 5), Ok(()));
        assert_eq!(guard.check_time(u64::MAX, u64::MAX - 1), Ok(()));
    }

    #[test]
    fn a_nonce_is_refused_the_second_time_and_per_sender() {
        let mut guard = guard(8, 8);
        let (a, b) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
        assert_eq!(guard.remember(a, &nonce(NOW, 1), NOW), Ok(()));
        assert_eq!(guard.remember(a, &nonce(NOW, 1), NOW), Err(Error::Replay));
        assert_eq!(guard.remember(b, &nonce(NOW, 1), NOW), Ok(()));
        assert_eq!(guard.remember(a, &nonce(NOW, 2), NOW), Ok(()));
        assert_eq!(guard.remembered(), 3);
        assert_eq!(guard.senders(), 2);
    }

    #[test]
    fn a_sender_over_its_bound_forgets_its_oldest_and_refuses_it_after() {
        let mut guard = guard(3, 100);
        let a = ReplicaId::from_u128(1);
        for t in 0..5 {
            assert_eq!(guard.remember(a, &nonce(NOW + t, 0), NOW), Ok(()));
        }
        assert_eq!(guard.remembered(), 3);
        // NOW and NOW + 1 were forgotten: both replays are still refused,
        // and so is an unseen nonce sent as early.
        assert_eq!(guard.remember(a, &nonce(NOW, 0), NOW), Err(Error::Replay));
        assert_eq!(
            guard.remember(a, &nonce(NOW + 1, 0), NOW),
            Err(Error::Replay)
        );
        assert_eq!(
            guard.remember(a, &nonce(NOW + 1, 9), NOW),
            Err(Error::Replay)
        );
        // Newer ones are accepted.
        assert_eq!(guard.remember(a, &nonce(NOW + 2, 9), NOW), Ok(()));
        assert_eq!(guard.remember(a, &nonce(NOW + 9, 0), NOW), Ok(()));
    }

    #[test]
    fn the_total_bound_forgets_the_oldest_nonce_of_all_and_its_sender_keeps_its_floor() {
        let mut guard = guard(100, 4);
        let ids: Vec<ReplicaId> = (1..=6).map(ReplicaId::from_u128).collect();
        for (t, id) in ids.iter().enumerate() {
            assert_eq!(
                guard.remember(*id, &nonce(NOW + 10 * t as u64, 0), NOW),
                Ok(())
            );
        }
        assert_eq!(guard.remembered(), 4);
        assert_eq!(
            guard.senders(),
            6,
            "senders 1 and 2 are kept with their floors"
        );
        // Senders 1 and 2 lost their nonces: those, and anything they sent
        // no later, are refused; anything later is not.
        assert_eq!(
            guard.remember(ids[0], &nonce(NOW, 0), NOW),
            Err(Error::Replay)
        );
        assert_eq!(
            guard.remember(ids[1], &nonce(NOW + 10, 0), NOW),
            Err(Error::Replay)
        );
        assert_eq!(
            guard.remember(ids[1], &nonce(NOW + 5, 5), NOW),
            Err(Error::Replay)
        );
        assert_eq!(guard.remember(ids[0], &nonce(NOW + 1, 0), NOW), Ok(()));
    }

    #[test]
    fn the_sender_bound_forgets_the_lowest_floor_first_into_the_shared_floor() {
        let mut guard = guard_of(100, 2, 3);
        let ids: Vec<ReplicaId> = (1..=5).map(ReplicaId::from_u128).collect();
        for (t, id) in ids.iter().enumerate() {
            assert_eq!(
                guard.remember(*id, &nonce(NOW + 10 * t as u64, 0), NOW),
                Ok(())
            );
            assert!(guard.senders() <= 3 && guard.remembered() <= 2);
        }
        // Senders 1 and 2 are forgotten entirely; the shared floor is
        // sender 2's nonce: an unknown sender must be newer.
        assert_eq!(guard.senders(), 3);
        assert_eq!(
            guard.remember(ids[0], &nonce(NOW, 0), NOW),
            Err(Error::Replay)
        );
        assert_eq!(
            guard.remember(ids[1], &nonce(NOW + 10, 0), NOW),
            Err(Error::Replay)
        );
        let stranger = ReplicaId::from_u128(99);
        assert_eq!(
            guard.remember(stranger, &nonce(NOW + 10, 1), NOW),
            Err(Error::Replay)
        );
        assert_eq!(guard.remember(stranger, &nonce(NOW + 11, 1), NOW), Ok(()));
        // Sender 3 is remembered with its floor only, and keeps it.
        assert_eq!(
            guard.remember(ids[2], &nonce(NOW + 20, 0), NOW),
            Err(Error::Replay)
        );
    }

    #[test]
    fn a_sender_with_only_a_floor_is_forgotten_once_the_floor_leaves_the_window() {
        let mut guard = guard(1, 1);
        let (a, b) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
        assert_eq!(guard.remember(a, &nonce(NOW, 0), NOW), Ok(()));
        assert_eq!(guard.remember(b, &nonce(NOW, 0), NOW), Ok(()));
        assert_eq!((guard.senders(), guard.remembered()), (2, 1));
        let later = NOW + 60_001;
        assert_eq!(guard.remember(b, &nonce(later, 0), later), Ok(()));
        assert_eq!((guard.senders(), guard.remembered()), (1, 1));
    }

    #[test]
    fn nonces_leave_the_memory_with_the_window_and_stay_refused_if_the_clock_steps_back() {
        let mut guard = guard(100, 100);
        let a = ReplicaId::from_u128(1);
        assert_eq!(guard.remember(a, &nonce(NOW, 0), NOW), Ok(()));
        let later = NOW + 60_001;
        assert_eq!(guard.remember(a, &nonce(later, 0), later), Ok(()));
        assert_eq!(
            guard.remembered(),
            1,
            "the first nonce left with the window"
        );
        assert_eq!(guard.remember(a, &nonce(NOW, 0), NOW), Err(Error::Replay));
    }

    #[test]
    fn zero_bounds_are_raised_to_one() {
        let mut guard = guard(0, 0);
        let a = ReplicaId::from_u128(1);
        assert_eq!(guard.remember(a, &nonce(NOW, 0), NOW), Ok(()));
        assert_eq!(guard.remembered(), 1);
        assert_eq!(guard.remember(a, &nonce(NOW, 0), NOW), Err(Error::Replay));
    }

    proptest::proptest! {
        /// Against a model that remembers everything: whatever the bounds
        /// and the order of arrival, a nonce accepted once is never
        /// accepted again, and the memory stays within its bounds.
        #[test]
        fn no_replay_is_ever_accepted_and_the_memory_stays_bounded(
            max_per_sender in 1..6usize,
            max_total in 1..12usize,
            max_senders in 1..5usize,
            arrivals in proptest::collection::vec((0..8u128, 0..200u64, 0..3u32, 0..3u64), 1..300),
        ) {
            let mut guard = ReplayGuard::new(ReplayConfig {
                window_ms: 100,
                max_future_ms: 20,
                max_per_sender,
                max_total,
                max_senders,
            });
            let mut accepted = std::collections::BTreeSet::new();
            let mut now = NOW;
            for (sender, age, n, tick) in arrivals {
                now += tick;
                let sender = ReplicaId::from_u128(sender);
                let nonce = nonce(now - age.min(100), n);
                if guard.check_time(nonce.sent_ms, now).is_err() {
                    continue;
                }
                let accepted_before = accepted.contains(&(sender, nonce));
                let outcome = guard.remember(sender, &nonce, now);
                if accepted_before {
                    proptest::prop_assert_eq!(outcome, Err(Error::Replay));
                } else if outcome.is_ok() {
                    accepted.insert((sender, nonce));
                }
                proptest::prop_assert!(guard.remembered() <= max_total);
                proptest::prop_assert!(guard.senders() <= max_senders);
                proptest::prop_assert_eq!(guard.oldest.len() + guard.idle.len(), guard.senders());
            }
        }
    }

    /// The new guard's memory in the reference's terms.
    fn snapshot(guard: &ReplayGuard) -> reference::Snapshot {
        let senders = guard
            .senders
            .iter()
            .map(|(&id, sender)| (id, (sender.floor, sender.nonces.iter().copied().collect())))
            .collect();
        (senders, guard.floor)
    }

    /// The nonce slots the senders' buffers hold, used or not.
    fn nonce_capacity(guard: &ReplayGuard) -> usize {
        guard.senders.values().map(|s| s.nonces.capacity()).sum()
    }

    /// Panics unless the guard's structures agree with each other, and no
    /// queue holds more than twice the slots its nonces need (or
    /// `QUEUE_MIN_SLOTS`), or any when its sender is idle.
    fn assert_consistent(guard: &ReplayGuard) {
        let mut remembered = 0;
        let mut with_nonces = 0;
        for (&id, sender) in &guard.senders {
            let nonces = &sender.nonces;
            remembered += nonces.len();
            assert!(
                nonces.iter().zip(nonces.iter().skip(1)).all(|(a, b)| a < b),
                "{id:?}'s nonces are in order, without repeats"
            );
            if let Some(oldest) = nonces.front() {
                with_nonces += 1;
                assert!(guard.oldest.contains(&(oldest.sent_ms, id)));
                assert!(nonces.capacity() <= (2 * nonces.len()).max(QUEUE_MIN_SLOTS));
            } else {
                let floor = sender.floor.expect("an idle sender has a floor");
                assert!(guard.idle.contains(&(floor, id)));
                assert_eq!(nonces.capacity(), 0, "an idle sender holds no buffer");
            }
        }
        assert_eq!(guard.remembered, remembered);
        assert_eq!(guard.oldest.len(), with_nonces);
        assert_eq!(guard.oldest.len() + guard.idle.len(), guard.senders.len());
    }

    #[test]
    fn a_burst_that_left_with_the_window_leaves_no_large_buffer_behind() {
        let mut guard = guard_of(1_024, 1 << 20, 1 << 10);
        let mut now = NOW;
        // One sender at a time sends 1,024 nonces, one every 30 ms: the
        // window (60 s) holds about two bursts; the older one leaves with it.
        for s in 0..48 {
            let sender = ReplicaId::from_u128(s);
            for k in 0..1_024 {
                now += 30;
                assert_eq!(guard.remember(sender, &nonce(now, k), now), Ok(()));
                assert_consistent(&guard);
            }
        }
        assert!(guard.remembered() <= 2_001);
        assert!(nonce_capacity(&guard) <= 4 * guard.remembered());
        now += 60_001;
        let last = ReplicaId::from_u128(99);
        assert_eq!(guard.remember(last, &nonce(now, 0), now), Ok(()));
        assert_eq!((guard.senders(), guard.remembered()), (1, 1));
        assert!(nonce_capacity(&guard) <= 4);
    }

    #[test]
    fn a_burst_pushed_out_by_the_total_bound_leaves_a_floor_and_no_buffer() {
        let mut guard = guard_of(1_024, 1_024, 1 << 10);
        let mut now = NOW;
        // Each burst pushes the previous one out, oldest first; every sender
        // stays remembered by its floor (all inside the window).
        for s in 0..48 {
            let sender = ReplicaId::from_u128(s);
            for k in 0..1_024 {
                now += 1;
                assert_eq!(guard.remember(sender, &nonce(now, k), now), Ok(()));
                assert_consistent(&guard);
            }
            assert!(nonce_capacity(&guard) <= 4 * guard.remembered());
        }
        assert_eq!(guard.remembered(), 1_024);
        assert_eq!(guard.senders(), 48);
        assert!(
            nonce_capacity(&guard) <= 2 * 1_024,
            "one full buffer, grown by doubling"
        );
    }

    proptest::proptest! {
        /// The per-sender queues behave exactly as the B-tree memory they
        /// replaced: for any arrivals (a few senders, clocks jittering both
        /// ways, repeated nonces, jumps past the window) and any small
        /// bounds, both give the same answer to every `check_time`,
        /// `remember` and `seen`, and hold the same floors and nonces.
        #[test]
        fn new_guard_and_reference_model_agree_on_every_remember(
            max_per_sender in 1..=8usize,
            max_total in 1..=20usize,
            max_senders in 1..=6usize,
            steps in proptest::collection::vec(
                (
                    0..5u128,
                    proptest::prop_oneof![6 => -6..=6i64, 1 => -110..=25i64],
                    0..3u32,
                    proptest::prop_oneof![8 => 0..3u64, 1 => 101..300u64],
                    (0..5u128, -12..=6i64, 0..3u32),
                ),
                1..300,
            ),
        ) {
            let config = ReplayConfig {
                window_ms: 100,
                max_future_ms: 20,
                max_per_sender,
                max_total,
                max_senders,
            };
            let mut guard = ReplayGuard::new(config);
            let mut model = reference::ReplayGuard::new(config);
            let mut now = NOW;
            for (sender, jitter, n, tick, (probe_sender, probe_jitter, probe_n)) in steps {
                now += tick;
                let sender = ReplicaId::from_u128(sender);
                let candidate = nonce(now.saturating_add_signed(jitter), n);
                let in_time = guard.check_time(candidate.sent_ms, now);
                proptest::prop_assert_eq!(&in_time, &model.check_time(candidate.sent_ms, now));
                proptest::prop_assert_eq!(guard.seen(sender, &candidate), model.seen(sender, &candidate));
                if in_time.is_ok() {
                    proptest::prop_assert_eq!(
                        guard.remember(sender, &candidate, now),
                        model.remember(sender, &candidate, now)
                    );
                }
                proptest::prop_assert_eq!(guard.seen(sender, &candidate), model.seen(sender, &candidate));
                let probe_sender = ReplicaId::from_u128(probe_sender);
                let probe = nonce(now.saturating_add_signed(probe_jitter), probe_n);
                proptest::prop_assert_eq!(
                    guard.seen(probe_sender, &probe),
                    model.seen(probe_sender, &probe)
                );
                proptest::prop_assert_eq!(guard.remembered(), model.remembered());
                proptest::prop_assert_eq!(guard.senders(), model.senders());
                proptest::prop_assert_eq!(snapshot(&guard), model.snapshot());
                assert_consistent(&guard);
            }
        }
    }
}

/// The guard as it was before its memory became per-sender queues (the
/// B-tree version, copied verbatim but for visibility and the unused
/// `config`): the model the property test holds the new one to.
#[cfg(test)]
mod reference {
    use std::collections::{BTreeMap, BTreeSet};

    use rumor_crdt::ReplicaId;

    use super::ReplayConfig;
    use crate::envelope::Nonce;
    use crate::Error;

    /// What the guard keeps about one sender.
    #[derive(Clone, Copy, Debug)]
    struct Sender {
        /// How many of its nonces are remembered (0: only its floor is).
        count: usize,
        /// The `sent_ms` of its oldest remembered nonce, if `count > 0` (its
        /// key in `ReplayGuard::oldest`).
        oldest_ms: u64,
        /// Its envelopes sent at or before this are refused.
        floor: Option<u64>,
    }

    /// The memory of accepted nonces, bounded (see the [module docs](self)).
    #[derive(Clone, Debug)]
    pub(super) struct ReplayGuard {
        config: ReplayConfig,
        /// Every remembered nonce, by sender, then time.
        seen: BTreeSet<(ReplicaId, u64, [u8; 16])>,
        /// Every remembered sender.
        senders: BTreeMap<ReplicaId, Sender>,
        /// The oldest nonce time of each sender with nonces remembered: where
        /// the oldest nonce of all is.
        oldest: BTreeSet<(u64, ReplicaId)>,
        /// The floor of each sender remembered with no nonce: which to forget
        /// first (the lowest floor).
        idle: BTreeSet<(u64, ReplicaId)>,
        /// The floor of every sender not remembered.
        floor: Option<u64>,
    }

    impl ReplayGuard {
        /// An empty memory. Bounds below 1 are raised to 1.
        #[must_use]
        pub(super) fn new(config: ReplayConfig) -> Self {
            let config = ReplayConfig {
                max_per_sender: config.max_per_sender.max(1),
                max_total: config.max_total.max(1),
                max_senders: config.max_senders.max(1),
                ..config
            };
            Self {
                config,
                seen: BTreeSet::new(),
                senders: BTreeMap::new(),
                oldest: BTreeSet::new(),
                idle: BTreeSet::new(),
                floor: None,
            }
        }

        /// How many nonces are remembered.
        #[must_use]
        pub(super) fn remembered(&self) -> usize {
            self.seen.len()
        }

        /// How many senders are remembered (with nonces, or with a floor only).
        #[must_use]
        pub(super) fn senders(&self) -> usize {
            self.senders.len()
        }

        /// The check before decryption: whether an envelope sent at `sent_ms`
        /// (the sender's clock) is inside `[now_ms − window, now_ms + skew]`.
        ///
        /// # Errors
        /// [`Error::Stale`] or [`Error::Future`].
        pub(super) const fn check_time(&self, sent_ms: u64, now_ms: u64) -> Result<(), Error> {
            if sent_ms < now_ms.saturating_sub(self.config.window_ms) {
                Err(Error::Stale { sent_ms, now_ms })
            } else if sent_ms > now_ms.saturating_add(self.config.max_future_ms) {
                Err(Error::Future { sent_ms, now_ms })
            } else {
                Ok(())
            }
        }

        /// Whether `sender` already used `nonce` (or one at or below its floor)
        /// as far as this memory knows: [`remember`](Self::remember) would
        /// refuse it. Changes nothing.
        #[must_use]
        pub(super) fn seen(&self, sender: ReplicaId, nonce: &Nonce) -> bool {
            let floor = self.senders.get(&sender).map_or(self.floor, |s| s.floor);
            floor.is_some_and(|floor| nonce.sent_ms <= floor)
                || self.seen.contains(&(sender, nonce.sent_ms, nonce.random))
        }

        /// The check after decryption: refuses a nonce `sender` already used
        /// (or one at or below its floor), and otherwise remembers it. First
        /// forgets what fell out of the window at `now_ms`.
        ///
        /// Call it only for an authenticated envelope that passed
        /// [`check_time`](Self::check_time) at the same `now_ms`.
        ///
        /// # Errors
        /// [`Error::Replay`].
        pub(super) fn remember(
            &mut self,
            sender: ReplicaId,
            nonce: &Nonce,
            now_ms: u64,
        ) -> Result<(), Error> {
            self.expire(now_ms);
            let sent_ms = nonce.sent_ms;
            let entry = (sender, sent_ms, nonce.random);
            let floor = self.senders.get(&sender).map_or(self.floor, |s| s.floor);
            if floor.is_some_and(|floor| sent_ms <= floor) || self.seen.contains(&entry) {
                return Err(Error::Replay);
            }
            self.seen.insert(entry);
            let shared_floor = self.floor;
            let memory = self.senders.entry(sender).or_insert(Sender {
                count: 0,
                oldest_ms: sent_ms,
                floor: shared_floor,
            });
            if memory.count == 0 {
                if let Some(floor) = memory.floor {
                    self.idle.remove(&(floor, sender));
                }
                memory.oldest_ms = sent_ms;
                self.oldest.insert((sent_ms, sender));
            } else if sent_ms < memory.oldest_ms {
                self.oldest.remove(&(memory.oldest_ms, sender));
                memory.oldest_ms = sent_ms;
                self.oldest.insert((sent_ms, sender));
            }
            memory.count += 1;
            if memory.count > self.config.max_per_sender {
                self.forget_oldest_of(sender);
            }
            while self.seen.len() > self.config.max_total {
                self.forget_oldest_nonce();
            }
            while self.senders.len() > self.config.max_senders {
                if !self.forget_idle_sender() {
                    self.forget_oldest_nonce();
                }
            }
            Ok(())
        }

        /// Forgets every nonce sent before `now_ms − window`, and every sender
        /// whose floor is before it: a replay of those is
        /// [`Stale`](Error::Stale) anyway (and refused by the floors if the
        /// clock steps back).
        fn expire(&mut self, now_ms: u64) {
            let horizon = now_ms.saturating_sub(self.config.window_ms);
            while let Some(&(sent_ms, sender)) = self.oldest.first() {
                if sent_ms >= horizon {
                    break;
                }
                self.forget_oldest_of(sender);
            }
            while self.idle.first().is_some_and(|&(floor, _)| floor < horizon) {
                self.forget_idle_sender();
            }
        }

        /// Forgets the oldest nonce of all.
        fn forget_oldest_nonce(&mut self) {
            if let Some(&(_, sender)) = self.oldest.first() {
                self.forget_oldest_of(sender);
            }
        }

        /// Forgets `sender`'s oldest nonce and raises its floor to it.
        fn forget_oldest_of(&mut self, sender: ReplicaId) {
            let range = (sender, 0, [0; 16])..=(sender, u64::MAX, [0xff; 16]);
            let Some(&oldest) = self.seen.range(range.clone()).next() else {
                return;
            };
            self.seen.remove(&oldest);
            let Some(memory) = self.senders.get_mut(&sender) else {
                return;
            };
            let sent_ms = oldest.1;
            memory.count -= 1;
            memory.floor = memory.floor.max(Some(sent_ms));
            self.oldest.remove(&(memory.oldest_ms, sender));
            match self.seen.range(range).next() {
                Some(&(_, next_ms, _)) => {
                    memory.oldest_ms = next_ms;
                    self.oldest.insert((next_ms, sender));
                }
                None => {
                    self.idle.insert((memory.floor.unwrap_or(sent_ms), sender));
                }
            }
        }

        /// Forgets the remembered sender with no nonce and the lowest floor,
        /// folding its floor into the shared one. Returns whether there was one.
        fn forget_idle_sender(&mut self) -> bool {
            let Some((floor, sender)) = self.idle.pop_first() else {
                return false;
            };
            self.senders.remove(&sender);
            self.floor = self.floor.max(Some(floor));
            true
        }
    }

    /// What the memory holds, to compare with the new guard's: each sender's
    /// floor and nonces (oldest first), and the shared floor.
    pub(super) type Snapshot = (BTreeMap<ReplicaId, (Option<u64>, Vec<Nonce>)>, Option<u64>);

    impl ReplayGuard {
        /// What the memory holds (not part of the copy above).
        pub(super) fn snapshot(&self) -> Snapshot {
            let senders = self
                .senders
                .iter()
                .map(|(&id, sender)| {
                    let nonces = self
                        .seen
                        .range((id, 0, [0; 16])..=(id, u64::MAX, [0xff; 16]))
                        .map(|&(_, sent_ms, random)| Nonce { sent_ms, random })
                        .collect();
                    (id, (sender.floor, nonces))
                })
                .collect();
            (senders, self.floor)
        }
    }
}
