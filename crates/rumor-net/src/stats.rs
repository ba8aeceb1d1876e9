//! Counters of what the envelope layer sealed, accepted and refused, and the
//! rate limit on its log lines.
//!
//! Every envelope offered to [`EnvelopeCodec::open`] or
//! [`EnvelopeCodec::open_message`] adds one to exactly one counter: `accepted`
//! or the counter of its rejection [`Reason`]. So `accepted +
//! rejected_total()` is the number of envelopes received.
//!
//! [`EnvelopeCodec::open`]: crate::EnvelopeCodec::open
//! [`EnvelopeCodec::open_message`]: crate::EnvelopeCodec::open_message

use crate::Reason;

/// A snapshot of the counters: plain numbers, no metrics recorder needed.
///
/// ```
/// use rumor_net::{Reason, Stats};
///
/// let stats = Stats::default();
/// assert_eq!(stats.rejected(Reason::Replay), 0);
/// assert_eq!(stats.rejected_total(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Envelopes sealed.
    pub sealed: u64,
    /// Bytes of the envelopes sealed (headers and tags included).
    pub sealed_bytes: u64,
    /// Envelopes accepted (opened, and decoded where a type was asked for).
    pub accepted: u64,
    /// Bytes of the envelopes accepted.
    pub accepted_bytes: u64,
    /// Refused: [`Reason::TooLong`].
    pub too_long: u64,
    /// Refused: [`Reason::TooShort`].
    pub too_short: u64,
    /// Refused: [`Reason::BadMagic`].
    pub bad_magic: u64,
    /// Refused: [`Reason::UnsupportedVersion`].
    pub unsupported_version: u64,
    /// Refused: [`Reason::UnknownFlags`].
    pub unknown_flags: u64,
    /// Refused: [`Reason::PlaintextRefused`].
    pub plaintext_refused: u64,
    /// Refused: [`Reason::EncryptedRefused`].
    pub encrypted_refused: u64,
    /// Refused: [`Reason::WrongCluster`].
    pub wrong_cluster: u64,
    /// Refused: [`Reason::UnknownKey`].
    pub unknown_key: u64,
    /// Refused: [`Reason::Stale`].
    pub stale: u64,
    /// Refused: [`Reason::Future`].
    pub future: u64,
    /// Refused: [`Reason::BadTag`].
    pub bad_tag: u64,
    /// Refused: [`Reason::Replay`].
    pub replay: u64,
    /// Refused: [`Reason::Decode`].
    pub decode: u64,
}

impl Stats {
    /// The counter of one rejection reason.
    #[must_use]
    pub const fn rejected(&self, reason: Reason) -> u64 {
        match reason {
            Reason::TooLong => self.too_long,
            Reason::TooShort => self.too_short,
            Reason::BadMagic => self.bad_magic,
            Reason::UnsupportedVersion => self.unsupported_version,
            Reason::UnknownFlags => self.unknown_flags,
            Reason::PlaintextRefused => self.plaintext_refused,
            Reason::EncryptedRefused => self.encrypted_refused,
            Reason::WrongCluster => self.wrong_cluster,
            Reason::UnknownKey => self.unknown_key,
            Reason::Stale => self.stale,
            Reason::Future => self.future,
            Reason::BadTag => self.bad_tag,
            Reason::Replay => self.replay,
            Reason::Decode => self.decode,
        }
    }

    /// Envelopes refused, for any reason.
    #[must_use]
    pub fn rejected_total(&self) -> u64 {
        Reason::ALL
            .iter()
            .fold(0u64, |sum, &r| sum.saturating_add(self.rejected(r)))
    }

    pub(crate) fn count_rejected(&mut self, reason: Reason) {
        let counter = match reason {
            Reason::TooLong => &mut self.too_long,
            Reason::TooShort => &mut self.too_short,
            Reason::BadMagic => &mut self.bad_magic,
            Reason::UnsupportedVersion => &mut self.unsupported_version,
            Reason::UnknownFlags => &mut self.unknown_flags,
            Reason::PlaintextRefused => &mut self.plaintext_refused,
            Reason::EncryptedRefused => &mut self.encrypted_refused,
            Reason::WrongCluster => &mut self.wrong_cluster,
            Reason::UnknownKey => &mut self.unknown_key,
            Reason::Stale => &mut self.stale,
            Reason::Future => &mut self.future,
            Reason::BadTag => &mut self.bad_tag,
            Reason::Replay => &mut self.replay,
            Reason::Decode => &mut self.decode,
        };
        *counter = counter.saturating_add(1);
    }

    pub(crate) fn count_accepted(&mut self, len: usize) {
        self.accepted = self.accepted.saturating_add(1);
        self.accepted_bytes = self.accepted_bytes.saturating_add(len as u64);
    }

    pub(crate) fn count_sealed(&mut self, len: usize) {
        self.sealed = self.sealed.saturating_add(1);
        self.sealed_bytes = self.sealed_bytes.saturating_add(len as u64);
    }
}

/// At most one log line per rejection reason per interval, each saying how
/// many of that reason were not logged since the last line.
///
/// Time comes in as an argument. A clock that steps back by an interval or
/// more counts as a full interval elapsed, so a step never silences a
/// reason for long.
///
/// ```
/// use rumor_net::{LogLimiter, Reason};
///
/// let mut limiter = LogLimiter::new(10_000);
/// assert_eq!(limiter.admit(Reason::Replay, 0), Some(0)); // the first is logged
/// assert_eq!(limiter.admit(Reason::Replay, 1), None); // then suppressed...
/// assert_eq!(limiter.admit(Reason::Replay, 2), None);
/// assert_eq!(limiter.admit(Reason::BadTag, 3), Some(0)); // (reasons are apart)
/// assert_eq!(limiter.admit(Reason::Replay, 10_000), Some(2)); // ...and counted
/// ```
#[derive(Clone, Debug)]
pub struct LogLimiter {
    interval_ms: u64,
    slots: [Slot; Reason::ALL.len()],
}

/// The rate limit of one kind of log line: when it was last let through,
/// and how many were suppressed since.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Slot {
    last_ms: Option<u64>,
    suppressed: u64,
}

impl Slot {
    /// Whether a line may be logged at `now_ms`, one per `interval_ms`:
    /// `Some(suppressed since the last)`, or `None` (and counted).
    pub(crate) fn admit(&mut self, interval_ms: u64, now_ms: u64) -> Option<u64> {
        match self.last_ms {
            Some(last) if now_ms.abs_diff(last) < interval_ms => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last_ms = Some(now_ms);
                Some(core::mem::take(&mut self.suppressed))
            }
        }
    }
}

impl LogLimiter {
    /// A limiter that lets one line per reason through every `interval_ms`.
    #[must_use]
    pub fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            slots: [Slot::default(); Reason::ALL.len()],
        }
    }

    /// Whether a line for `reason` may be logged at `now_ms`: `Some(n)`,
    /// with `n` the lines suppressed since the last one, or `None` (and the
    /// line is counted as suppressed).
    pub fn admit(&mut self, reason: Reason, now_ms: u64) -> Option<u64> {
        self.slots[reason.index()].admit(self.interval_ms, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter() {
        for (i, &reason) in Reason::ALL.iter().enumerate() {
            let mut stats = Stats::default();
            for _ in 0..=i {
                stats.count_rejected(reason);
            }
            for &other in &Reason::ALL {
                let expected = if other == reason { i as u64 + 1 } else { 0 };
                assert_eq!(stats.rejected(other), expected, "{reason} vs {other}");
            }
            assert_eq!(stats.rejected_total(), i as u64 + 1);
        }
    }

    #[test]
    fn a_clock_stepping_back_does_not_silence_a_reason() {
        let mut limiter = LogLimiter::new(1_000);
        assert_eq!(limiter.admit(Reason::Stale, 50_000), Some(0));
        assert_eq!(limiter.admit(Reason::Stale, 49_500), None);
        assert_eq!(limiter.admit(Reason::Stale, 10_000), Some(1));
    }
}
