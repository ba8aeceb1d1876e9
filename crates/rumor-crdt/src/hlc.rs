//! Hybrid logical clocks: physical milliseconds plus a logical counter,
//! tie-broken by replica, so that every write has a unique, totally ordered
//! timestamp that stays close to real time.
//!
//! The clock never reads the wall clock itself: the caller passes the current
//! time in milliseconds, which keeps the crate deterministic and `no_std`.
//!
//! # The end of the range
//!
//! Readings are ordered by `(wall_ms, logical)`; the last one is
//! `(u64::MAX, u32::MAX)`, and no reading comes after it. The clock never
//! wraps around and never goes backwards:
//! - [`Hlc::observe`] refuses ([`ClockError::Exhausted`], clock untouched) a
//!   remote reading it could not move past: one at `(u64::MAX, u32::MAX)`,
//!   or any reading once the clock itself is there;
//! - [`Hlc::try_now`] refuses in the same way once the clock is at the last
//!   reading, and [`Hlc::now`] saturates: it returns [`Hlc::last`] again.
//!
//! Only a wall time or a remote reading within 4 billion events of
//! `u64::MAX` milliseconds (584 million years after the epoch) gets there:
//! a broken clock or a hostile peer, whose readings the drift bound of
//! `observe` refuses anyway unless the local wall time is as far out.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::ReplicaId;

/// The default bound on how far ahead of the local clock a remote timestamp
/// may be: 30 seconds. Agents without NTP drift by seconds, not minutes.
///
/// ```
/// use rumor_crdt::{Hlc, HlcTimestamp, ReplicaId, DEFAULT_MAX_DRIFT_MS};
///
/// let mut clock = Hlc::new(ReplicaId::from_u128(1));
/// let other = ReplicaId::from_u128(2);
/// let edge = HlcTimestamp::new(1_000 + DEFAULT_MAX_DRIFT_MS, 0, other);
/// assert!(clock.observe(edge, 1_000).is_ok());
/// let beyond = HlcTimestamp::new(1_001 + DEFAULT_MAX_DRIFT_MS, 0, other);
/// assert!(clock.observe(beyond, 1_000).is_err());
/// ```
pub const DEFAULT_MAX_DRIFT_MS: u64 = 30_000;

/// A hybrid logical clock reading. Ordered by `(wall_ms, logical, replica)`,
/// so two timestamps from different replicas are never equal.
///
/// ```
/// use rumor_crdt::{HlcTimestamp, ReplicaId};
///
/// let early = HlcTimestamp::new(100, 0, ReplicaId::from_u128(9));
/// let late = HlcTimestamp::new(100, 1, ReplicaId::from_u128(1));
/// assert!(early < late);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct HlcTimestamp {
    /// Milliseconds of physical time (any epoch the cluster agrees on).
    pub wall_ms: u64,
    /// Logical counter among readings with the same `wall_ms`.
    pub logical: u32,
    /// The replica whose clock produced the reading; breaks exact ties.
    pub replica: ReplicaId,
}

impl HlcTimestamp {
    /// A timestamp from its parts.
    ///
    /// ```
    /// use rumor_crdt::{HlcTimestamp, ReplicaId};
    ///
    /// let ts = HlcTimestamp::new(1_000, 2, ReplicaId::from_u128(1));
    /// assert_eq!((ts.wall_ms, ts.logical), (1_000, 2));
    /// assert_eq!(format!("{ts:?}"), "1000.2@R1");
    /// ```
    #[must_use]
    pub const fn new(wall_ms: u64, logical: u32, replica: ReplicaId) -> Self {
        Self {
            wall_ms,
            logical,
            replica,
        }
    }
}

impl fmt::Debug for HlcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{:?}", self.wall_ms, self.logical, self.replica)
    }
}

/// Why a remote timestamp was refused.
///
/// ```
/// use rumor_crdt::{ClockError, Hlc, HlcTimestamp, ReplicaId};
///
/// let mut clock = Hlc::with_max_drift(ReplicaId::from_u128(1), 100);
/// let remote = HlcTimestamp::new(1_500, 0, ReplicaId::from_u128(2));
/// let err: ClockError = clock.observe(remote, 1_000).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "remote timestamp 1500 ms is 500 ms ahead of local time 1000 ms (max drift 100 ms)"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// No reading comes after `reading`, `(u64::MAX, u32::MAX)`: the clock
    /// is at the end of its range, or was asked to move past a remote
    /// reading there (see the [module docs](self)). The clock's state was
    /// not touched.
    ///
    /// ```
    /// # use rumor_crdt::{ClockError, Hlc, HlcTimestamp, ReplicaId};
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let before = clock.last();
    /// let last = HlcTimestamp::new(u64::MAX, u32::MAX, ReplicaId::from_u128(2));
    /// let err = clock.observe(last, u64::MAX).unwrap_err();
    /// assert_eq!(err, ClockError::Exhausted { reading: last });
    /// assert_eq!(clock.last(), before); // the clock was not touched
    /// ```
    #[error("no hybrid-clock reading comes after {reading:?}")]
    Exhausted {
        /// The reading that cannot be passed.
        reading: HlcTimestamp,
    },
    /// The remote timestamp is further ahead of local wall time than the
    /// configured drift bound. The clock's state was not touched; the sender's
    /// clock is probably wrong.
    ///
    /// ```
    /// # use rumor_crdt::{ClockError, Hlc, HlcTimestamp, ReplicaId};
    /// let mut clock = Hlc::with_max_drift(ReplicaId::from_u128(1), 100);
    /// let before = clock.last();
    /// let remote = HlcTimestamp::new(1_500, 0, ReplicaId::from_u128(2));
    /// let err = clock.observe(remote, 1_000).unwrap_err();
    /// assert!(matches!(err, ClockError::TooFarAhead { ahead_ms: 500, max_drift_ms: 100, .. }));
    /// assert_eq!(clock.last(), before); // the clock was not touched
    /// ```
    #[error(
        "remote timestamp {remote_ms} ms is {ahead_ms} ms ahead of local time {local_ms} ms \
         (max drift {max_drift_ms} ms)"
    )]
    TooFarAhead {
        /// The remote reading's physical part.
        remote_ms: u64,
        /// The local wall time passed to [`Hlc::observe`].
        local_ms: u64,
        /// `remote_ms - local_ms`.
        ahead_ms: u64,
        /// The bound in force.
        max_drift_ms: u64,
    },
}

/// A hybrid logical clock owned by one replica.
///
/// ```
/// use rumor_crdt::{Hlc, ReplicaId};
///
/// let mut clock = Hlc::new(ReplicaId::from_u128(1));
/// let a = clock.now(1_000);
/// let b = clock.now(1_000); // same millisecond: the logical part advances
/// let c = clock.now(999); // wall clock stepped back: still monotonic
/// assert!(a < b && b < c);
///
/// // A reading from far in the future is refused, and does not drag us along.
/// let liar = rumor_crdt::HlcTimestamp::new(10_000_000, 0, ReplicaId::from_u128(2));
/// assert!(clock.observe(liar, 1_001).is_err());
/// assert!(clock.now(1_001).wall_ms < 10_000_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hlc {
    last: HlcTimestamp,
    max_drift_ms: u64,
}

impl Hlc {
    /// A clock for `replica` with the default drift bound
    /// ([`DEFAULT_MAX_DRIFT_MS`]).
    ///
    /// ```
    /// use rumor_crdt::{Hlc, ReplicaId, DEFAULT_MAX_DRIFT_MS};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let clock = Hlc::new(r);
    /// assert_eq!(clock.replica(), r);
    /// assert_eq!(clock.max_drift_ms(), DEFAULT_MAX_DRIFT_MS);
    /// assert_eq!(clock.last().wall_ms, 0);
    /// ```
    #[must_use]
    pub fn new(replica: ReplicaId) -> Self {
        Self::with_max_drift(replica, DEFAULT_MAX_DRIFT_MS)
    }

    /// A clock that refuses remote readings more than `max_drift_ms` ahead of
    /// local time.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, HlcTimestamp, ReplicaId};
    ///
    /// let mut clock = Hlc::with_max_drift(ReplicaId::from_u128(1), 500);
    /// let remote = HlcTimestamp::new(1_400, 0, ReplicaId::from_u128(2));
    /// assert!(clock.observe(remote, 1_000).is_ok());
    /// let too_far = HlcTimestamp::new(1_501, 0, ReplicaId::from_u128(2));
    /// assert!(clock.observe(too_far, 1_000).is_err());
    /// ```
    #[must_use]
    pub fn with_max_drift(replica: ReplicaId, max_drift_ms: u64) -> Self {
        Self {
            last: HlcTimestamp::new(0, 0, replica),
            max_drift_ms,
        }
    }

    /// The replica this clock belongs to.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(4);
    /// let mut clock = Hlc::new(r);
    /// assert_eq!(clock.replica(), r);
    /// assert_eq!(clock.now(10).replica, r); // every reading carries it
    /// ```
    #[must_use]
    pub fn replica(&self) -> ReplicaId {
        self.last.replica
    }

    /// The last reading handed out or observed.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, HlcTimestamp, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let ts = clock.now(1_000);
    /// assert_eq!(clock.last(), ts);
    /// let remote = HlcTimestamp::new(2_000, 3, ReplicaId::from_u128(2));
    /// let received = clock.observe(remote, 1_990).unwrap();
    /// assert_eq!(clock.last(), received);
    /// ```
    #[must_use]
    pub fn last(&self) -> HlcTimestamp {
        self.last
    }

    /// The drift bound in force.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, ReplicaId, DEFAULT_MAX_DRIFT_MS};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// assert_eq!(Hlc::with_max_drift(r, 250).max_drift_ms(), 250);
    /// assert_eq!(Hlc::new(r).max_drift_ms(), DEFAULT_MAX_DRIFT_MS);
    /// ```
    #[must_use]
    pub fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// A new timestamp for a local event at wall time `wall_ms`; strictly
    /// greater than every timestamp this clock has produced or observed,
    /// except at the very end of the range (see the [module docs](self)),
    /// where it saturates: it returns [`Self::last`] again, never a smaller
    /// reading. [`Self::try_now`] refuses instead.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let a = clock.now(1_000);
    /// assert_eq!((a.wall_ms, a.logical), (1_000, 0));
    /// let b = clock.now(1_000); // same millisecond: the logical part advances
    /// assert_eq!((b.wall_ms, b.logical), (1_000, 1));
    /// let c = clock.now(500); // the wall clock stepped back: still monotonic
    /// assert_eq!((c.wall_ms, c.logical), (1_000, 2));
    /// ```
    pub fn now(&mut self, wall_ms: u64) -> HlcTimestamp {
        self.try_now(wall_ms).unwrap_or(self.last)
    }

    /// Like [`Self::now`], but refuses at the end of the range instead of
    /// saturating: every reading it returns is strictly greater than every
    /// timestamp this clock has produced or observed.
    ///
    /// ```
    /// use rumor_crdt::{ClockError, Hlc, HlcTimestamp, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// assert_eq!(clock.try_now(1_000).map(|t| t.wall_ms), Ok(1_000));
    ///
    /// let end = clock.now(u64::MAX);
    /// let remote = HlcTimestamp::new(u64::MAX, u32::MAX - 1, ReplicaId::from_u128(2));
    /// let received = clock.observe(remote, u64::MAX).unwrap(); // the last reading
    /// assert!(received > end);
    /// assert_eq!(clock.try_now(u64::MAX), Err(ClockError::Exhausted { reading: received }));
    /// assert_eq!(clock.now(u64::MAX), received); // saturates, never wraps
    /// ```
    ///
    /// # Errors
    /// [`ClockError::Exhausted`] if the clock is at its last reading,
    /// `(u64::MAX, u32::MAX)`; the clock is then left unchanged.
    pub fn try_now(&mut self, wall_ms: u64) -> Result<HlcTimestamp, ClockError> {
        let (wall_ms, logical) = if wall_ms > self.last.wall_ms {
            (wall_ms, 0)
        } else {
            successor(self.last.wall_ms, self.last.logical)
                .ok_or(ClockError::Exhausted { reading: self.last })?
        };
        self.last.wall_ms = wall_ms;
        self.last.logical = logical;
        Ok(self.last)
    }

    /// Merges a remote timestamp seen at local wall time `wall_ms`, and returns
    /// a timestamp greater than both (for the receive event).
    ///
    /// ```
    /// use rumor_crdt::{Hlc, HlcTimestamp, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// clock.now(1_000);
    /// let remote = HlcTimestamp::new(1_200, 5, ReplicaId::from_u128(2));
    /// let received = clock.observe(remote, 1_100).unwrap(); // remote is ahead: follow it
    /// assert_eq!((received.wall_ms, received.logical), (1_200, 6));
    /// assert!(received > remote && clock.now(1_100) > received);
    /// ```
    ///
    /// # Errors
    /// The clock is left unchanged on either:
    /// - [`ClockError::TooFarAhead`] if `remote` is more than the drift bound
    ///   ahead of `wall_ms`;
    /// - [`ClockError::Exhausted`] if no reading comes after `remote` or
    ///   after the clock's own last reading (both at `(u64::MAX, u32::MAX)`).
    pub fn observe(
        &mut self,
        remote: HlcTimestamp,
        wall_ms: u64,
    ) -> Result<HlcTimestamp, ClockError> {
        let ahead_ms = remote.wall_ms.saturating_sub(wall_ms);
        if ahead_ms > self.max_drift_ms {
            return Err(ClockError::TooFarAhead {
                remote_ms: remote.wall_ms,
                local_ms: wall_ms,
                ahead_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        // The greatest of the three, then one step past it unless it is the
        // wall time alone (a fresh millisecond).
        let latest = (self.last.wall_ms, self.last.logical).max((remote.wall_ms, remote.logical));
        let (wall_ms, logical) = if wall_ms > latest.0 {
            (wall_ms, 0)
        } else {
            successor(latest.0, latest.1).ok_or(ClockError::Exhausted {
                reading: if latest == (remote.wall_ms, remote.logical) {
                    remote
                } else {
                    self.last
                },
            })?
        };
        self.last.wall_ms = wall_ms;
        self.last.logical = logical;
        Ok(self.last)
    }
}

/// The reading right after `(wall_ms, logical)`: the next logical count, or
/// the next millisecond once 4 billion events have had this one. `None`
/// after the last reading.
fn successor(wall_ms: u64, logical: u32) -> Option<(u64, u32)> {
    match logical.checked_add(1) {
        Some(logical) => Some((wall_ms, logical)),
        None => Some((wall_ms.checked_add(1)?, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: ReplicaId = ReplicaId::from_u128(1);
    const R2: ReplicaId = ReplicaId::from_u128(2);

    /// Issue 14, item 9: observing the last possible reading made the
    /// logical part overflow into `(u64::MAX, 0)`, and `now` then returned a
    /// timestamp below the one observed.
    #[test]
    fn observing_the_last_reading_never_sends_the_clock_backwards() {
        let mut clock = Hlc::new(R1);
        let remote = HlcTimestamp::new(u64::MAX, u32::MAX, R2);
        let observed = clock.observe(remote, u64::MAX);
        if let Ok(received) = observed {
            assert!(received > remote, "received {received:?} <= {remote:?}");
        }
        let next = clock.now(u64::MAX);
        if observed.is_ok() {
            assert!(next > remote, "now() = {next:?} after observing {remote:?}");
        }
    }

    /// A clock pushed to its last reading stays there: `now` never wraps.
    #[test]
    fn a_clock_at_its_last_reading_never_wraps() {
        let mut clock = Hlc::new(R1);
        let remote = HlcTimestamp::new(u64::MAX, u32::MAX - 1, R2);
        let _ = clock.observe(remote, u64::MAX);
        for _ in 0..3 {
            let last = clock.last();
            let next = clock.now(u64::MAX);
            assert!(next >= last, "now() = {next:?} went below {last:?}");
        }
    }
}
