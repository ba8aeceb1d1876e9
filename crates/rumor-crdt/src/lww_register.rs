//! Last-writer-wins register.

use serde::{Deserialize, Serialize};

use crate::{Crdt, HlcTimestamp};

/// A register whose latest write, by [`HlcTimestamp`], wins. Equal timestamps
/// cannot come from two different replicas (the replica id is part of the
/// timestamp), so the order is total.
///
/// Its causal summary is the timestamp of the write it holds.
///
/// ```
/// use rumor_crdt::{Crdt, Hlc, LwwRegister, ReplicaId};
///
/// let mut clock_a = Hlc::new(ReplicaId::from_u128(1));
/// let mut clock_b = Hlc::new(ReplicaId::from_u128(2));
/// let mut a = LwwRegister::new();
/// let mut b = LwwRegister::new();
///
/// let d1 = a.set("red", clock_a.now(1_000));
/// let d2 = b.set("blue", clock_b.now(1_005)); // later: wins everywhere
/// a.join(&d2);
/// b.join(&d1);
/// assert_eq!(a.get(), Some(&"blue"));
/// assert_eq!(a, b);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct LwwRegister<T> {
    write: Option<(HlcTimestamp, T)>,
}

impl<T> Default for LwwRegister<T> {
    fn default() -> Self {
        Self { write: None }
    }
}

impl<T> LwwRegister<T> {
    /// An empty register.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value, if any write has been seen.
    #[must_use]
    pub fn get(&self) -> Option<&T> {
        self.write.as_ref().map(|(_, v)| v)
    }

    /// The timestamp of the current value.
    #[must_use]
    pub fn timestamp(&self) -> Option<HlcTimestamp> {
        self.write.as_ref().map(|(ts, _)| *ts)
    }
}

impl<T: Clone> LwwRegister<T> {
    /// Writes `value` at time `ts` and returns the delta. A write older than
    /// the one held loses at once: nothing changes and the delta is empty.
    pub fn set(&mut self, value: T, ts: HlcTimestamp) -> Self {
        if self.timestamp().is_some_and(|held| held >= ts) {
            return Self::default();
        }
        self.write = Some((ts, value));
        self.clone()
    }
}

impl<T: Clone + PartialEq + core::fmt::Debug> Crdt for LwwRegister<T> {
    type Context = Option<HlcTimestamp>;

    fn join(&mut self, other: &Self) {
        if let Some((theirs, value)) = &other.write {
            if self.timestamp().is_none_or(|mine| mine < *theirs) {
                self.write = Some((*theirs, value.clone()));
            }
        }
    }

    fn context(&self) -> Self::Context {
        self.timestamp()
    }

    fn delta_since(&self, seen: &Self::Context) -> Self {
        match (self.timestamp(), seen) {
            (Some(mine), Some(theirs)) if mine <= *theirs => Self::default(),
            _ => self.clone(),
        }
    }

    fn is_bottom(&self) -> bool {
        self.write.is_none()
    }

    fn includes(&self, other: &Self) -> bool {
        match (self.timestamp(), other.timestamp()) {
            (_, None) => true,
            (Some(mine), Some(theirs)) => mine >= theirs,
            (None, Some(_)) => false,
        }
    }
}
