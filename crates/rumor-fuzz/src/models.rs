//! The ops of each CRDT type, and its `merge_laws_<type>` target: an
//! arbitrary history of ops and syncs on 2 to 6 replicas, read from the
//! fuzzer's bytes, then every law of the law kit (`rumor-laws`) on it.

use arbitrary::Arbitrary;
use rumor_crdt::{GCounter, LwwMap, LwwRegister, MvRegister, OrMap, OrSet, PnCounter};
use rumor_laws::{fuzz, Model, Writer};

/// Wall times passed to the replicas' clocks are `WALL_BASE_MS` plus a
/// 16-bit offset: clocks jump forward and back, and overlap between replicas.
const WALL_BASE_MS: u64 = 1_700_000_000_000;

/// A timestamp of `writer`'s for a write at wall time `WALL_BASE_MS + offset_ms`.
fn now(writer: &mut Writer, offset_ms: u16) -> rumor_crdt::HlcTimestamp {
    writer.now(WALL_BASE_MS + u64::from(offset_ms))
}

/// Map keys are taken modulo this: few, so that writes to one key collide.
const MAP_KEYS: u8 = 16;

/// An operation on a [`GCounter`].
#[derive(Arbitrary, Clone, Debug)]
enum GCounterOp {
    Increment(u64),
}

/// An operation on a [`PnCounter`].
#[derive(Arbitrary, Clone, Debug)]
enum PnCounterOp {
    Increment(u64),
    Decrement(u64),
}

/// An operation on an [`LwwRegister<u8>`], at a wall-clock offset.
#[derive(Arbitrary, Clone, Debug)]
enum LwwRegisterOp {
    Set { value: u8, wall: u16 },
}

/// An operation on an [`LwwMap<u8, u8>`], at a wall-clock offset.
#[derive(Arbitrary, Clone, Debug)]
enum LwwMapOp {
    Insert { key: u8, value: u8, wall: u16 },
    Remove { key: u8, wall: u16 },
}

/// An operation on an [`OrSet<u8>`]. `RemoveHeld(n)` removes the `n`-th
/// element (modulo their number) the replica holds, so that removals mostly
/// remove something; element `n` when it holds none.
#[derive(Arbitrary, Clone, Debug)]
enum OrSetOp {
    Insert(u8),
    Remove(u8),
    RemoveHeld(u8),
    Clear,
}

/// An operation on an [`MvRegister<u8>`].
#[derive(Arbitrary, Clone, Debug)]
enum MvRegisterOp {
    Set(u8),
    Clear,
}

/// An operation on an [`OrMap<u8, OrSet<u8>>`]: a nested OR-Set operation
/// through a key, or the removal of a key. `RemoveHeld(n)` removes the
/// `n`-th key (modulo their number) the replica holds.
#[derive(Arbitrary, Clone, Debug)]
enum OrMapOp {
    Update(u8, OrSetOp),
    Remove(u8),
    RemoveHeld(u8),
}

struct OrMapModel;
struct MvRegisterModel;
struct GCounterModel;
struct PnCounterModel;
struct LwwRegisterModel;
struct LwwMapModel;
struct OrSetModel;

impl Model for GCounterModel {
    type State = GCounter;
    type Op = GCounterOp;

    fn mutate(counter: &mut GCounter, op: &GCounterOp, writer: &mut Writer) -> GCounter {
        let GCounterOp::Increment(amount) = *op;
        counter.increment(writer.id, amount)
    }

    fn entries(counter: &GCounter) -> usize {
        counter.entries().count()
    }
}

impl Model for PnCounterModel {
    type State = PnCounter;
    type Op = PnCounterOp;

    fn mutate(counter: &mut PnCounter, op: &PnCounterOp, writer: &mut Writer) -> PnCounter {
        match *op {
            PnCounterOp::Increment(amount) => counter.increment(writer.id, amount),
            PnCounterOp::Decrement(amount) => counter.decrement(writer.id, amount),
        }
    }

    fn entries(counter: &PnCounter) -> usize {
        counter.increments().entries().count() + counter.decrements().entries().count()
    }
}

impl Model for LwwRegisterModel {
    type State = LwwRegister<u8>;
    type Op = LwwRegisterOp;

    fn mutate(register: &mut Self::State, op: &LwwRegisterOp, writer: &mut Writer) -> Self::State {
        let LwwRegisterOp::Set { value, wall } = *op;
        register.set(value, now(writer, wall)).unwrap_or_default()
    }

    fn entries(register: &Self::State) -> usize {
        usize::from(register.timestamp().is_some())
    }
}

impl Model for LwwMapModel {
    type State = LwwMap<u8, u8>;
    type Op = LwwMapOp;

    fn mutate(map: &mut Self::State, op: &LwwMapOp, writer: &mut Writer) -> Self::State {
        match *op {
            LwwMapOp::Insert { key, value, wall } => map
                .insert(key % MAP_KEYS, value, now(writer, wall))
                .unwrap_or_default(),
            LwwMapOp::Remove { key, wall } => map
                .remove(&(key % MAP_KEYS), now(writer, wall))
                .unwrap_or_default(),
        }
    }

    fn entries(map: &Self::State) -> usize {
        (0..MAP_KEYS).filter(|k| map.timestamp(k).is_some()).count()
    }

    /// No key's write goes back.
    fn survives(r: &Self::State, _full: &Self::State, partial: &Self::State) -> Result<(), String> {
        match (0..MAP_KEYS).find(|k| partial.timestamp(k) < r.timestamp(k)) {
            Some(k) => Err(format!("key {k}'s write went back")),
            None => Ok(()),
        }
    }
}

impl Model for OrSetModel {
    type State = OrSet<u8>;
    type Op = OrSetOp;

    fn mutate(set: &mut Self::State, op: &OrSetOp, writer: &mut Writer) -> Self::State {
        match *op {
            OrSetOp::Insert(element) => set.insert(writer.id, element),
            OrSetOp::Remove(element) => set.remove(&element),
            OrSetOp::RemoveHeld(n) => {
                let held = set.len();
                let element = match held {
                    0 => n,
                    _ => set.iter().nth(usize::from(n) % held).copied().unwrap_or(n),
                };
                set.remove(&element)
            }
            OrSetOp::Clear => set.clear(),
        }
    }

    /// A split keeps every re-added element in one piece, with the dots the
    /// re-adds replaced: the other elements count one each.
    fn entries(set: &Self::State) -> usize {
        let readded = |e: &u8| set.dots(e).iter().any(|d| set.is_readd(d));
        let plain = set.iter().filter(|e| !readded(e)).count();
        plain + usize::from(set.iter().any(readded))
    }

    /// An element of `r` stays if `r ⊔ s` keeps one of `r`'s dots of it, or
    /// holds it by a re-add `r` lacks (a re-add replaced `r`'s dots in the
    /// same delta). It may go for a while when `s` removed `r`'s dots and
    /// holds it by another add only.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let lost = r.iter().find(|element| {
            let (kept, mine) = (full.dots(element), r.dots(element));
            let must_stay = mine.iter().any(|d| kept.contains(d))
                || kept.iter().any(|d| full.is_readd(d) && !mine.contains(d));
            must_stay && !partial.contains(element)
        });
        match lost {
            Some(element) => Err(format!(
                "element {element} of r, which r ⊔ s keeps, was removed"
            )),
            None => Ok(()),
        }
    }
}

impl Model for MvRegisterModel {
    type State = MvRegister<u8>;
    type Op = MvRegisterOp;

    fn mutate(register: &mut Self::State, op: &MvRegisterOp, writer: &mut Writer) -> Self::State {
        match *op {
            MvRegisterOp::Set(value) => register.set(writer.id, value),
            MvRegisterOp::Clear => register.clear(),
        }
    }

    /// Concurrent writes can go to different pieces.
    fn entries(register: &Self::State) -> usize {
        register.len()
    }

    /// A write of `r` that `r ⊔ s` keeps stays.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let dropped = r.entries().find(|(dot, _)| {
            full.entries().any(|(d, _)| d == *dot) && !partial.entries().any(|(d, _)| d == *dot)
        });
        match dropped {
            Some((dot, value)) => Err(format!(
                "write {dot:?} = {value} of r, which r ⊔ s keeps, was dropped"
            )),
            None => Ok(()),
        }
    }
}

impl Model for OrMapModel {
    type State = OrMap<u8, OrSet<u8>>;
    type Op = OrMapOp;

    fn mutate(map: &mut Self::State, op: &OrMapOp, writer: &mut Writer) -> Self::State {
        match op {
            OrMapOp::Update(key, op) => {
                let id = writer.id;
                map.update(id, key % MAP_KEYS, |set| {
                    OrSetModel::mutate(set, op, writer)
                })
            }
            OrMapOp::Remove(key) => map.remove(&(key % MAP_KEYS)),
            OrMapOp::RemoveHeld(n) => {
                let held = map.len();
                let key = match held {
                    0 => *n,
                    _ => map
                        .keys()
                        .nth(usize::from(*n) % held)
                        .copied()
                        .unwrap_or(*n),
                };
                map.remove(&key)
            }
        }
    }

    /// A split keeps every replacing fragment in one piece, with the tags
    /// they replaced: the other fragments count one each.
    fn entries(map: &Self::State) -> usize {
        let tags: Vec<_> = map.keys().flat_map(|k| map.dots(k)).collect();
        let plain = tags.iter().filter(|t| !map.is_replacing(t)).count();
        plain + usize::from(tags.iter().any(|t| map.is_replacing(t)))
    }

    /// A fragment of `r` that `r ⊔ s` keeps stays, and a key of `r` that
    /// `r ⊔ s` holds by a replacing update `r` lacks stays.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let lost = r.keys().find_map(|key| {
            let kept: Vec<_> = full.dots(key).collect();
            let mine: Vec<_> = r.dots(key).collect();
            let stays: Vec<_> = partial.dots(key).collect();
            let dropped = mine.iter().find(|t| kept.contains(t) && !stays.contains(t));
            let replaced = kept
                .iter()
                .any(|t| full.is_replacing(t) && !mine.contains(t));
            match dropped {
                Some(tag) => Some(format!(
                    "key {key}: fragment {tag:?}, which r ⊔ s keeps, was removed"
                )),
                None if replaced && !partial.contains_key(key) => Some(format!(
                    "key {key}, which r ⊔ s holds by a replacing update, was removed"
                )),
                None => None,
            }
        });
        lost.map_or(Ok(()), Err)
    }
}

/// The merge laws of [`OrMap<u8, OrSet<u8>>`] over an arbitrary history
/// read from `data`: nested OR-Set operations through keys, and removals of
/// keys.
///
/// ```
/// rumor_fuzz::merge_laws_or_map(&[0, 0, 0, 3, 0, 0, 5, 0, 1, 0, 1, 1, 1, 0, 2, 1, 5]);
/// ```
pub fn merge_laws_or_map(data: &[u8]) {
    fuzz::<OrMapModel>(data);
}

/// The merge laws of [`MvRegister<u8>`] over an arbitrary history read
/// from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_mv_register(&[0, 0, 0, 5, 0, 1, 0, 1, 1, 1, 0, 2, 1, 5]);
/// ```
pub fn merge_laws_mv_register(data: &[u8]) {
    fuzz::<MvRegisterModel>(data);
}

/// The merge laws of [`GCounter`] over an arbitrary history read from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_gcounter(&[0, 0, 9, 1, 1, 0, 1, 0, 0]);
/// ```
pub fn merge_laws_gcounter(data: &[u8]) {
    fuzz::<GCounterModel>(data);
}

/// The merge laws of [`PnCounter`] over an arbitrary history read from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_pncounter(&[0, 1, 1, 9, 1, 1, 0, 1, 0]);
/// ```
pub fn merge_laws_pncounter(data: &[u8]) {
    fuzz::<PnCounterModel>(data);
}

/// The merge laws of [`LwwRegister<u8>`] over an arbitrary history read
/// from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_lww_register(&[0, 2, 7, 3, 0, 1, 0, 1, 1, 1]);
/// ```
pub fn merge_laws_lww_register(data: &[u8]) {
    fuzz::<LwwRegisterModel>(data);
}

/// The merge laws of [`LwwMap<u8, u8>`] over an arbitrary history read from
/// `data`.
///
/// ```
/// rumor_fuzz::merge_laws_lww_map(&[0, 1, 0, 3, 9, 0, 1, 1, 1, 2, 0, 1, 1]);
/// ```
pub fn merge_laws_lww_map(data: &[u8]) {
    fuzz::<LwwMapModel>(data);
}

/// The merge laws of [`OrSet<u8>`] over an arbitrary history read from
/// `data`.
///
/// ```
/// rumor_fuzz::merge_laws_orset(&[0, 0, 0, 5, 0, 1, 0, 1, 1, 1, 0, 2, 1, 5]);
/// ```
pub fn merge_laws_orset(data: &[u8]) {
    fuzz::<OrSetModel>(data);
}
