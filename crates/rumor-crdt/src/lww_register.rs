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
/// let d1 = a.set("red", clock_a.now(1_000)).unwrap();
/// let d2 = b.set("blue", clock_b.now(1_005)).unwrap(); // later: wins everywhere
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
    ///
    /// ```
    /// use rumor_crdt::{Crdt, LwwRegister};
    ///
    /// let register: LwwRegister<u8> = LwwRegister::new();
    /// assert_eq!((register.get(), register.timestamp()), (None, None));
    /// assert!(register.is_bottom());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value, if any write has been seen.
    ///
    /// ```
    /// use rumor_crdt::{HlcTimestamp, LwwRegister, ReplicaId};
    ///
    /// let mut register = LwwRegister::new();
    /// assert_eq!(register.get(), None);
    /// register.set(42, HlcTimestamp::new(1, 0, ReplicaId::from_u128(1))).unwrap();
    /// assert_eq!(register.get(), Some(&42));
    /// ```
    #[must_use]
    pub fn get(&self) -> Option<&T> {
        self.write.as_ref().map(|(_, v)| v)
    }

    /// The timestamp of the current value.
    ///
    /// ```
    /// use rumor_crdt::{HlcTimestamp, LwwRegister, ReplicaId};
    ///
    /// let ts = HlcTimestamp::new(1_000, 0, ReplicaId::from_u128(1));
    /// let mut register = LwwRegister::new();
    /// assert_eq!(register.timestamp(), None);
    /// register.set("on", ts).unwrap();
    /// assert_eq!(register.timestamp(), Some(ts));
    /// ```
    #[must_use]
    pub fn timestamp(&self) -> Option<HlcTimestamp> {
        self.write.as_ref().map(|(ts, _)| *ts)
    }
}

impl<T: Clone> LwwRegister<T> {
    /// Writes `value` at time `ts` and returns the delta. A write not newer
    /// than the one held loses at once: nothing changes, and the error says
    /// which write won. Stamp writes with the replica's [`Hlc`](crate::Hlc)
    /// after it observed what the replica received (a gossip node does it:
    /// `Node::timestamp`), and a local write always wins.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwRegister, ReplicaId, Superseded};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let (old, new) = (clock.now(1_000), clock.now(2_000));
    /// let mut register = LwwRegister::new();
    /// let delta = register.set("new", new)?;
    /// assert_eq!(delta, register); // the delta is the whole register
    /// let lost = register.set("old", old); // older write: loses at once
    /// assert_eq!(lost, Err(Superseded { held: new, attempted: old }));
    /// assert_eq!(register.get(), Some(&"new"));
    /// # Ok::<(), Superseded>(())
    /// ```
    ///
    /// # Errors
    /// [`Superseded`] if the register holds a write at least as new.
    pub fn set(&mut self, value: T, ts: HlcTimestamp) -> Result<Self, Superseded> {
        if let Some(held) = self.timestamp().filter(|held| *held >= ts) {
            return Err(Superseded {
                held,
                attempted: ts,
            });
        }
        self.write = Some((ts, value));
        Ok(self.clone())
    }
}

/// A last-writer-wins write that lost at once: the register, or the map's
/// key, already holds a write stamped at least as late.
///
/// ```
/// use rumor_crdt::{HlcTimestamp, LwwMap, ReplicaId, Superseded};
///
/// let r = ReplicaId::from_u128(1);
/// let mut map = LwwMap::new();
/// map.insert("k", 1, HlcTimestamp::new(200, 0, r))?;
/// let err = map.insert("k", 2, HlcTimestamp::new(100, 0, r)).unwrap_err();
/// assert_eq!(err.held, HlcTimestamp::new(200, 0, r));
/// assert!(err.to_string().contains("loses to the write held"));
/// # Ok::<(), Superseded>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a write stamped {attempted:?} loses to the write held, stamped {held:?}")]
pub struct Superseded {
    /// The timestamp of the write held, which won.
    pub held: HlcTimestamp,
    /// The timestamp of the write that lost.
    pub attempted: HlcTimestamp,
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

    fn latest_timestamp(&self) -> Option<HlcTimestamp> {
        self.timestamp()
    }

    fn is_bottom(&self) -> bool {
        self.write.is_none()
    }

    /// The write held names its writer in its timestamp; an unset register
    /// (bottom) is written by no one.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Hlc, LwwRegister, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut register = LwwRegister::new();
    /// let delta = register.set("on", Hlc::new(me).now(1_000)).unwrap();
    /// assert!(delta.authored_only_by(me) && !delta.authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: crate::ReplicaId) -> bool {
        self.write
            .as_ref()
            .is_none_or(|(ts, _)| ts.replica == author)
    }

    fn includes(&self, other: &Self) -> bool {
        match (self.timestamp(), other.timestamp()) {
            (_, None) => true,
            (Some(mine), Some(theirs)) => mine >= theirs,
            (None, Some(_)) => false,
        }
    }
}
