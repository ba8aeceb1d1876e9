//! What a node calls its peers.

use core::fmt::Debug;
use core::hash::Hash;

/// The address of a peer: anything small, copyable and ordered (a dense
/// index in the simulator, a socket address and id in the runtime).
pub trait Peer: Copy + Eq + Ord + Hash + Debug + 'static {}

impl<T: Copy + Eq + Ord + Hash + Debug + 'static> Peer for T {}
