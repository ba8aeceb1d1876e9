//! The `merge_laws_<type>` targets: an arbitrary history of ops and syncs
//! on 2 to 6 replicas, read from the fuzzer's bytes, then every law of the
//! law kit (`rumor-laws`) on it. Each type's ops and model are the kit's
//! `rumor_laws::models`, the same ones rumor's proptest and quickcheck law
//! tests use; their `arbitrary` decoding is what `fuzz/corpus/merge_laws_*`
//! was written in.

use rumor_laws::fuzz;
use rumor_laws::models::{
    GCounterModel, LwwMapModel, LwwRegisterModel, MvRegisterModel, OrMapModel, OrSetModel,
    PnCounterModel,
};

/// The merge laws of [`OrMap<u8, OrSet<u8>>`](rumor_crdt::OrMap) over an arbitrary history
/// read from `data`: nested OR-Set operations through keys, and removals of
/// keys.
///
/// ```
/// rumor_fuzz::merge_laws_or_map(&[0, 0, 0, 3, 0, 0, 5, 0, 1, 0, 1, 1, 1, 0, 2, 1, 5]);
/// ```
pub fn merge_laws_or_map(data: &[u8]) {
    fuzz::<OrMapModel<OrSetModel>>(data);
}

/// The merge laws of [`MvRegister<u8>`](rumor_crdt::MvRegister) over an arbitrary history read
/// from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_mv_register(&[0, 0, 0, 5, 0, 1, 0, 1, 1, 1, 0, 2, 1, 5]);
/// ```
pub fn merge_laws_mv_register(data: &[u8]) {
    fuzz::<MvRegisterModel>(data);
}

/// The merge laws of [`GCounter`](rumor_crdt::GCounter) over an arbitrary history read from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_gcounter(&[0, 0, 9, 1, 1, 0, 1, 0, 0]);
/// ```
pub fn merge_laws_gcounter(data: &[u8]) {
    fuzz::<GCounterModel>(data);
}

/// The merge laws of [`PnCounter`](rumor_crdt::PnCounter) over an arbitrary history read from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_pncounter(&[0, 1, 1, 9, 1, 1, 0, 1, 0]);
/// ```
pub fn merge_laws_pncounter(data: &[u8]) {
    fuzz::<PnCounterModel>(data);
}

/// The merge laws of [`LwwRegister<u8>`](rumor_crdt::LwwRegister) over an arbitrary history read
/// from `data`.
///
/// ```
/// rumor_fuzz::merge_laws_lww_register(&[0, 2, 7, 3, 0, 1, 0, 1, 1, 1]);
/// ```
pub fn merge_laws_lww_register(data: &[u8]) {
    fuzz::<LwwRegisterModel>(data);
}

/// The merge laws of [`LwwMap<u8, u8>`](rumor_crdt::LwwMap) over an arbitrary history read from
/// `data`.
///
/// ```
/// rumor_fuzz::merge_laws_lww_map(&[0, 1, 0, 3, 9, 0, 1, 1, 1, 2, 0, 1, 1]);
/// ```
pub fn merge_laws_lww_map(data: &[u8]) {
    fuzz::<LwwMapModel>(data);
}

/// The merge laws of [`OrSet<u8>`](rumor_crdt::OrSet) over an arbitrary history read from
/// `data`.
///
/// ```
/// rumor_fuzz::merge_laws_orset(&[0, 0, 0, 5, 0, 1, 0, 1, 1, 1, 0, 2, 1, 5]);
/// ```
pub fn merge_laws_orset(data: &[u8]) {
    fuzz::<OrSetModel>(data);
}
