//! The state one `rumor node` shares with its cluster, and how a change that
//! arrives is told apart from what the node already showed.
//!
//! [`AgentState`] is one derived CRDT of three fields:
//! - `values`: an [`LwwMap`] of strings (`set`, `del`, `get`);
//! - `sets`: one [`OrSet`] of `(set name, element)` pairs, so every named
//!   set is add-wins on its own elements (`add`, `rm`);
//! - `counters`: an [`LwwMap`] keyed by `(counter name, replica)` whose
//!   value is that replica's running total (`inc`). Only a replica writes
//!   its own keys, stamped by its node's hybrid logical clock, so its latest
//!   total always wins: per name this is a PN-counter (one entry per
//!   replica), and a counter's value is the sum over replicas. A node takes
//!   a new replica id each time it starts, so a restart adds an entry and
//!   never rewinds one.
//!
//! [`Mirror`] is the printer's copy of the state: each incoming delta is
//! compared with it ([`Mirror::absorb`]) to tell what is new, by whom, and
//! how long after the write (for the types that carry a timestamp: values
//! and counters; an OR-Set element carries its writer's dot but no time,
//! and a removal carries neither).

use rumor_crdt::{Crdt, HlcTimestamp, LwwMap, OrSet, ReplicaId};
use serde::{Deserialize, Serialize};

/// What a node holds: values, named sets and named counters.
#[derive(rumor_crdt::Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AgentState {
    pub(crate) values: LwwMap<String, String>,
    pub(crate) sets: OrSet<(String, String)>,
    pub(crate) counters: LwwMap<(String, ReplicaId), i64>,
}

impl AgentState {
    /// The value of counter `name`: the sum of every replica's total.
    pub(crate) fn counter(&self, name: &str) -> i128 {
        self.counters
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, total)| i128::from(*total))
            .sum()
    }

    /// Every counter's name and value, by name.
    pub(crate) fn counter_values(&self) -> Vec<(String, i128)> {
        let mut out: Vec<(String, i128)> = Vec::new();
        for ((name, _), total) in self.counters.iter() {
            match out.last_mut() {
                Some((last, sum)) if last == name => *sum += i128::from(*total),
                _ => out.push((name.clone(), i128::from(*total))),
            }
        }
        out
    }

    /// The elements of set `name`, in order.
    pub(crate) fn set(&self, name: &str) -> Vec<&str> {
        self.sets
            .iter()
            .filter(|(s, _)| s == name)
            .map(|(_, e)| e.as_str())
            .collect()
    }

    /// The delta of `inc name by` from `me`, stamped `now`; `None` if the
    /// running total would overflow.
    pub(crate) fn increment(
        &mut self,
        me: ReplicaId,
        name: &str,
        by: i64,
        now: HlcTimestamp,
    ) -> Option<Self> {
        let key = (name.to_string(), me);
        let total = self
            .counters
            .get(&key)
            .copied()
            .unwrap_or(0)
            .checked_add(by)?;
        // `now` comes from the node's clock, after every write it holds: never superseded.
        let delta = self.update_counters(|c| c.insert(key, total, now).unwrap_or_default());
        Some(delta)
    }
}

/// One change seen arriving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Set {
        key: String,
        value: String,
        at: HlcTimestamp,
    },
    Del {
        key: String,
        at: HlcTimestamp,
    },
    Inc {
        name: String,
        by: i128,
        value: i128,
        at: HlcTimestamp,
    },
    Add {
        set: String,
        element: String,
        by: Option<ReplicaId>,
    },
    Rm {
        set: String,
        element: String,
    },
}

impl Event {
    /// The replica that wrote it, where the change says.
    fn writer(&self) -> Option<ReplicaId> {
        match self {
            Self::Set { at, .. } | Self::Del { at, .. } | Self::Inc { at, .. } => Some(at.replica),
            Self::Add { by, .. } => *by,
            Self::Rm { .. } => None,
        }
    }

    /// The line printed for it, `now_ms` being the wall clock (ms since
    /// the Unix epoch): how long after the write it is shown.
    pub(crate) fn line(&self, now_ms: u64) -> String {
        let after = |at: &HlcTimestamp| {
            let delay = i128::from(now_ms) - i128::from(at.wall_ms);
            format!("(by {:?}, {delay} ms after the write)", at.replica)
        };
        match self {
            Self::Set { key, value, at } => format!("change: set {key} = {value} {}", after(at)),
            Self::Del { key, at } => format!("change: del {key} {}", after(at)),
            Self::Inc {
                name,
                by,
                value,
                at,
            } => format!("change: inc {name} {by:+} = {value} {}", after(at)),
            Self::Add {
                set,
                element,
                by: Some(by),
            } => format!("change: add {set} {element} (by {by:?})"),
            Self::Add { set, element, .. } => format!("change: add {set} {element}"),
            Self::Rm { set, element } => format!("change: rm {set} {element}"),
        }
    }
}

/// What the node has shown so far: local writes are joined in as they are
/// made, incoming deltas as they are printed.
#[derive(Debug)]
pub(crate) struct Mirror {
    me: ReplicaId,
    state: AgentState,
}

impl Mirror {
    pub(crate) fn new(me: ReplicaId) -> Self {
        Self {
            me,
            state: AgentState::default(),
        }
    }

    /// Joins a local write (nothing to show: its author saw it).
    pub(crate) fn local(&mut self, delta: &AgentState) {
        self.state.join(delta);
    }

    /// Joins `incoming` (a delta, or a whole state after a lag) and returns
    /// what it changed, written elsewhere. Costs a pass over the mirror's
    /// keys per delta with values or sets in it (removals carry no key).
    pub(crate) fn absorb(&mut self, incoming: &AgentState) -> Vec<Event> {
        let mine = &self.state;
        let mut events = Vec::new();
        for (key, value) in incoming.values.iter() {
            let at = incoming.values.timestamp(key);
            if at > mine.values.timestamp(key) {
                events.extend(at.map(|at| Event::Set {
                    key: key.clone(),
                    value: value.clone(),
                    at,
                }));
            }
        }
        if !incoming.values.is_bottom() {
            for (key, _) in mine.values.iter() {
                let at = incoming.values.timestamp(key);
                if at > mine.values.timestamp(key) && incoming.values.get(key).is_none() {
                    events.extend(at.map(|at| Event::Del {
                        key: key.clone(),
                        at,
                    }));
                }
            }
        }
        let mut counted = Vec::new();
        for (key, total) in incoming.counters.iter() {
            let at = incoming.counters.timestamp(key);
            if let Some(at) = at.filter(|at| Some(*at) > mine.counters.timestamp(key)) {
                let before = mine.counters.get(key).copied().unwrap_or(0);
                counted.push((key.0.clone(), i128::from(*total) - i128::from(before), at));
            }
        }
        for element in incoming.sets.iter() {
            if !mine.sets.contains(element) {
                events.push(Event::Add {
                    set: element.0.clone(),
                    element: element.1.clone(),
                    by: incoming.sets.dots(element).first().map(|d| d.replica),
                });
            }
        }
        let held: Vec<(String, String)> = if incoming.sets.is_bottom() {
            Vec::new()
        } else {
            mine.sets.iter().cloned().collect()
        };

        self.state.join(incoming);
        for (set, element) in held {
            if !self.state.sets.contains(&(set.clone(), element.clone())) {
                events.push(Event::Rm { set, element });
            }
        }
        for (name, by, at) in counted {
            let value = self.state.counter(&name);
            events.push(Event::Inc {
                name,
                by,
                value,
                at,
            });
        }
        events.retain(|e| e.writer() != Some(self.me));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumor_crdt::Hlc;

    fn replica(n: u128) -> ReplicaId {
        ReplicaId::from_u128(n)
    }

    #[test]
    fn a_mirror_shows_what_others_wrote_once() {
        let (me, other) = (replica(1), replica(2));
        let mut clock = Hlc::new(other);
        let mut theirs = AgentState::default();
        let set = theirs.update_values(|v| {
            v.insert("color".into(), "blue".into(), clock.now(1_000))
                .unwrap_or_default()
        });
        let inc = theirs
            .increment(other, "hits", 3, clock.now(1_001))
            .expect("no overflow");
        let add = theirs.update_sets(|s| s.insert(other, ("tags".into(), "x".into())));
        let mut mirror = Mirror::new(me);
        let events = mirror.absorb(&set);
        assert_eq!(
            events,
            [Event::Set {
                key: "color".into(),
                value: "blue".into(),
                at: HlcTimestamp::new(1_000, 0, other)
            }]
        );
        assert_eq!(
            events[0].line(1_012),
            "change: set color = blue (by R2, 12 ms after the write)"
        );
        assert!(mirror.absorb(&set).is_empty(), "a duplicate is no change");
        let events = mirror.absorb(&inc);
        assert_eq!(
            events[0].line(1_001),
            "change: inc hits +3 = 3 (by R2, 0 ms after the write)"
        );
        let events = mirror.absorb(&add);
        assert_eq!(events[0].line(0), "change: add tags x (by R2)");

        let del = theirs.update_values(|v| {
            v.remove(&"color".into(), clock.now(1_002))
                .unwrap_or_default()
        });
        let rm = theirs.update_sets(|s| s.remove(&("tags".into(), "x".into())));
        assert_eq!(
            mirror.absorb(&del)[0].line(1_003),
            "change: del color (by R2, 1 ms after the write)"
        );
        assert_eq!(mirror.absorb(&rm)[0].line(0), "change: rm tags x");
        assert_eq!(mirror.state, theirs);
    }

    #[test]
    fn a_mirror_does_not_show_its_own_writes() {
        let me = replica(1);
        let mut clock = Hlc::new(me);
        let mut state = AgentState::default();
        let set = state.update_values(|v| {
            v.insert("k".into(), "v".into(), clock.now(5))
                .unwrap_or_default()
        });
        let inc = state.increment(me, "n", -2, clock.now(6)).expect("fits");
        let add = state.update_sets(|s| s.insert(me, ("s".into(), "e".into())));
        let mut mirror = Mirror::new(me);
        for delta in [&set, &inc, &add] {
            assert!(mirror.absorb(delta).is_empty());
        }
        // A removal names no writer: a local one is joined before it arrives.
        let rm = state.update_sets(|s| s.remove(&("s".into(), "e".into())));
        mirror.local(&rm);
        assert!(mirror.absorb(&rm).is_empty());
    }

    #[test]
    fn counters_sum_every_replica_and_refuse_overflow() {
        let (a, b) = (replica(1), replica(2));
        let (mut ca, mut cb) = (Hlc::new(a), Hlc::new(b));
        let mut x = AgentState::default();
        let mut y = AgentState::default();
        let dx = x.increment(a, "n", 5, ca.now(1)).expect("fits");
        let dy = y.increment(b, "n", -2, cb.now(1)).expect("fits");
        let dx2 = x.increment(a, "n", 1, ca.now(2)).expect("fits");
        // Deltas arrive out of order: the older total loses to the newer one.
        y.join(&dx2);
        y.join(&dx);
        x.join(&dy);
        assert_eq!((x.counter("n"), y.counter("n")), (4, 4));
        assert_eq!(x.counter_values(), [("n".to_string(), 4)]);
        assert!(x.increment(a, "n", i64::MAX, ca.now(3)).is_none());
        assert_eq!(x.counter("n"), 4);
    }
}
