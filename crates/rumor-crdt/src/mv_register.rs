//! Multi-value register: every concurrent write is kept until a later write
//! that has seen them replaces them all.

use alloc::vec::Vec;
use core::fmt::Debug;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire::{self, ReplicaLookup, ReplicaTable, SeqWith, Tabled, WireContext, WireDot};
use crate::{CausalContext, Crdt, Dot, ReplicaId};

/// A multi-value register (Almeida et al.'s MVReg, dot-based).
///
/// Each write gets a [`Dot`] and replaces the values its replica has seen;
/// writes that did not see each other are all kept, and [`MvRegister::values`]
/// returns them all, for the application to resolve (by writing the value
/// it chose, which replaces them). No clock is involved: unlike
/// [`LwwRegister`](crate::LwwRegister), no concurrent write is ever lost.
///
/// ```
/// use rumor_crdt::{Crdt, MvRegister, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a = MvRegister::new();
/// let mut b = MvRegister::new();
/// let from_a = a.set(r1, "blue");
/// let from_b = b.set(r2, "green"); // concurrently
/// a.join(&from_b);
/// b.join(&from_a);
/// assert_eq!(a, b);
/// assert_eq!(a.values().collect::<Vec<_>>(), [&"blue", &"green"]);
///
/// let resolved = a.set(r1, "teal"); // a has seen both: it replaces both
/// b.join(&resolved);
/// assert_eq!(b.values().collect::<Vec<_>>(), [&"teal"]);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct MvRegister<T> {
    /// The live writes, by ascending dot (distinct dots, each in `context`).
    entries: Vec<(Dot, T)>,
    context: CausalContext,
}

impl<T> Default for MvRegister<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            context: CausalContext::new(),
        }
    }
}

impl<T: Clone> MvRegister<T> {
    /// An empty register.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `value` on behalf of `replica`, replacing every value this
    /// replica holds, and returns the delta: the new write, with a context
    /// that covers the writes it replaces.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, MvRegister, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut reg = MvRegister::new();
    /// reg.set(r, 1);
    /// let delta = reg.set(r, 2);
    /// assert_eq!(reg.values().collect::<Vec<_>>(), [&2]);
    /// assert_eq!(delta.context().dot_count(), 2); // the new dot, and the one it replaced
    /// ```
    pub fn set(&mut self, replica: ReplicaId, value: T) -> Self {
        let dot = self.context.next_dot(replica);
        let mut context = CausalContext::from_dots(self.entries.iter().map(|(d, _)| *d));
        context.insert(dot);
        self.entries.clear();
        self.entries.push((dot, value.clone()));
        self.context.insert(dot);
        Self {
            entries: alloc::vec![(dot, value)],
            context,
        }
    }

    /// Removes every value this replica holds and returns the delta (no
    /// write; a context that covers the removed ones). A write concurrent
    /// with the clear survives it.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, MvRegister, ReplicaId};
    ///
    /// let mut reg = MvRegister::new();
    /// reg.set(ReplicaId::from_u128(1), "x");
    /// let delta = reg.clear();
    /// assert!(reg.is_empty() && delta.is_empty());
    /// ```
    pub fn clear(&mut self) -> Self {
        let context = CausalContext::from_dots(self.entries.iter().map(|(d, _)| *d));
        self.entries.clear();
        Self {
            entries: Vec::new(),
            context,
        }
    }
}

impl<T> MvRegister<T> {
    /// The values held: one after a write that saw every other, several
    /// after concurrent writes (by ascending dot: the same order at every
    /// replica), none when empty.
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values with the dots of their writes.
    pub fn entries(&self) -> impl Iterator<Item = (Dot, &T)> + '_ {
        self.entries.iter().map(|(d, v)| (*d, v))
    }

    /// How many values are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no value is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn holds(&self, dot: &Dot) -> bool {
        self.entries.binary_search_by(|(d, _)| d.cmp(dot)).is_ok()
    }
}

impl<T: Clone + PartialEq + Debug> Crdt for MvRegister<T> {
    type Context = CausalContext;

    /// A write survives if the other side holds it too or has never seen
    /// it; the contexts unite.
    fn join(&mut self, other: &Self) {
        let mut entries: Vec<(Dot, T)> =
            Vec::with_capacity(self.entries.len() + other.entries.len());
        for (dot, value) in &self.entries {
            if other.holds(dot) || !other.context.contains(dot) {
                entries.push((*dot, value.clone()));
            }
        }
        for (dot, value) in &other.entries {
            if !self.holds(dot) && !self.context.contains(dot) {
                entries.push((*dot, value.clone()));
            }
        }
        entries.sort_by_key(|(dot, _)| *dot);
        self.entries = entries;
        self.context.join(&other.context);
    }

    /// Its context holds every dot it holds (entries included).
    fn advances_within(&self, known: &Self, bound: crate::Advance) -> bool {
        self.context.advances_within(&known.context, bound)
    }

    fn context(&self) -> CausalContext {
        self.context.clone()
    }

    fn observe_dots(&mut self, seen: &CausalContext) {
        self.context.join(seen);
    }

    fn last_dot(&self, replica: ReplicaId) -> u64 {
        self.context.max(replica)
    }

    /// The dots of the values held; the context (the writes replaced or
    /// cleared) may name anyone.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, MvRegister, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut register = MvRegister::new();
    /// register.set(you, "theirs");
    /// let mine = register.set(me, "mine"); // replaces their write
    /// assert!(mine.authored_only_by(me) && !mine.authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: ReplicaId) -> bool {
        self.entries.iter().all(|(d, _)| d.replica == author)
    }

    /// The writes `seen` lacks, and every dot this register has seen except
    /// the live ones `seen` holds too (which the delta must not remove).
    fn delta_since(&self, seen: &CausalContext) -> Self {
        let (known, missing): (Vec<_>, Vec<_>) =
            self.entries.iter().partition(|(d, _)| seen.contains(d));
        let context = self
            .context
            .difference(&CausalContext::from_dots(known.iter().map(|(d, _)| *d)));
        Self {
            entries: missing.into_iter().cloned().collect(),
            context,
        }
    }

    /// Pieces of concurrent writes, each with its own dots as context; the
    /// dots of replaced writes go with the last piece. So any subset of the
    /// pieces removes only what the whole has replaced.
    fn split(&self, parts: usize) -> Vec<Self> {
        if self.is_bottom() {
            return Vec::new();
        }
        if parts < 2 || self.entries.len() < 2 {
            return alloc::vec![self.clone()];
        }
        let dots_of =
            |entries: &[(Dot, T)]| CausalContext::from_dots(entries.iter().map(|(d, _)| *d));
        let chunk = crate::crdt::chunk_len(self.entries.len(), parts);
        let mut pieces: Vec<Self> = self
            .entries
            .chunks(chunk)
            .map(|entries| Self {
                entries: entries.to_vec(),
                context: dots_of(entries),
            })
            .collect();
        let replaced = self.context.difference(&dots_of(&self.entries));
        if let Some(last) = pieces.last_mut() {
            last.context.join(&replaced);
        }
        pieces
    }
}

/// The wire form: the context, then each write's dot and value, by
/// ascending dot (canonical).
type WireBody<T> = (WireContext, Vec<(WireDot, T)>);

impl<T: Serialize> Serialize for MvRegister<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = ReplicaTable::default();
        table.add_context(&self.context);
        table.finish();
        let table = &table;
        let entries = SeqWith(|| self.entries.iter().map(|(d, v)| (table.dot(*d), v)));
        let tabled = Tabled {
            replicas: table.ids(),
            body: (table.context(&self.context), entries),
        };
        tabled.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MvRegister<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Tabled::<WireBody<T>>::deserialize(deserializer)?;
        let lookup = ReplicaLookup::new::<D::Error>(wire.replicas)?;
        let (context, wire_entries) = wire.body;
        let context = lookup.context::<D::Error>(context)?;
        let mut entries: Vec<(Dot, T)> = Vec::with_capacity(wire_entries.len());
        for (dot, value) in wire_entries {
            let dot = lookup.dot::<D::Error>(dot)?;
            if entries.last().is_some_and(|(last, _)| *last >= dot) {
                return Err(D::Error::custom("mv-register: writes not by ascending dot"));
            }
            if !context.contains(&dot) {
                return Err(D::Error::custom(
                    "mv-register: a write outside the causal context",
                ));
            }
            entries.push((dot, value));
        }
        wire::distinct_dots::<D::Error>(entries.iter().map(|(d, _)| *d).collect())?;
        Ok(Self { entries, context })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u128) -> ReplicaId {
        ReplicaId::from_u128(n)
    }

    #[test]
    fn a_write_concurrent_with_a_clear_survives_it() {
        let mut a = MvRegister::new();
        a.set(r(1), 1);
        let mut b = a.clone();
        let clear = a.clear();
        let write = b.set(r(2), 2);
        a.join(&write);
        b.join(&clear);
        assert_eq!(a, b);
        assert_eq!(a.values().copied().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn delta_since_replaces_what_the_other_side_holds_and_keeps_what_it_shares() {
        let mut a = MvRegister::new();
        a.set(r(1), 1);
        let mut b = MvRegister::new();
        b.set(r(2), 2);
        a.join(&b.clone());
        let behind = a.clone();
        // Concurrent values 1 and 2 are shared; then b resolves to 3.
        b.join(&a);
        b.set(r(2), 3);
        let mut caught_up = behind.clone();
        caught_up.join(&b.delta_since(&behind.context()));
        let mut expected = behind;
        expected.join(&b);
        assert_eq!(caught_up, expected);
        assert_eq!(caught_up.values().copied().collect::<Vec<_>>(), [3]);
        // Nothing is missing from a copy that has it all.
        assert!(b.delta_since(&b.context()).is_empty());
    }

    #[test]
    fn the_wire_form_round_trips_and_refuses_a_write_outside_its_context() {
        let mut a = MvRegister::new();
        a.set(r(1), 10u32);
        let mut b = MvRegister::new();
        b.set(r(2), 20u32);
        a.join(&b);
        let bytes = crate::codec::encode(&a).expect("encodes");
        let back: MvRegister<u32> = crate::codec::decode(&bytes, 1 << 10).expect("decodes");
        assert_eq!(back, a);

        // A write at dot (r1, 7), under a context that does not hold it:
        // one that names no replica (the dot's index is unknown), and one
        // that holds only (r1, 1).
        let seventh = Dot {
            replica: r(1),
            counter: 7,
        };
        let first = Dot {
            replica: r(1),
            counter: 1,
        };
        for context in [CausalContext::new(), CausalContext::from_dots([first])] {
            let forged = MvRegister {
                entries: alloc::vec![(seventh, 1u32)],
                context,
            };
            let bytes = crate::codec::encode(&forged).expect("encodes");
            assert!(crate::codec::decode::<MvRegister<u32>>(&bytes, 1 << 10).is_err());
        }
    }
}
