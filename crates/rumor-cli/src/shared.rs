//! The state a swarm shares: the agents' positions (an [`LwwMap`]) and the
//! tasks they claim (an [`OrSet`]), as one CRDT.
//!
//! The runtime carries one `Crdt` type per node: the pair is one derived
//! struct (`#[derive(Crdt)]`).

use rumor_crdt::{LwwMap, OrSet};
use serde::{Deserialize, Serialize};

/// An agent's position, with the writer's sequence number of the write that
/// set it (so a reader can tell which write it holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) seq: u32,
    pub(crate) x: i32,
    pub(crate) y: i32,
}

/// One claim of a task: which task, by which agent, with the agent's
/// sequence number (two agents may claim the same task; both claims stay,
/// and both are counted as updates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Claim {
    pub(crate) task: u32,
    pub(crate) agent: u32,
    pub(crate) seq: u32,
}

/// The shared state: positions by agent index, and the claims. Derived:
/// every `Crdt` method is field-wise, and a delta of one write has the other
/// field at bottom.
#[derive(rumor_crdt::Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Shared {
    pub(crate) positions: LwwMap<u32, Position>,
    pub(crate) claims: OrSet<Claim>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumor_crdt::{Crdt, Hlc, ReplicaId};

    fn replica(n: u128) -> ReplicaId {
        ReplicaId::from_u128(n)
    }

    fn write(state: &mut Shared, clock: &mut Hlc, agent: u32, seq: u32) -> Shared {
        if seq.is_multiple_of(2) {
            let ts = clock.now(1_000 + u64::from(seq));
            let position = Position { seq, x: 1, y: 2 };
            Shared {
                positions: state
                    .positions
                    .insert(agent, position, ts)
                    .unwrap_or_default(),
                claims: OrSet::new(),
            }
        } else {
            let claim = Claim {
                task: seq % 3,
                agent,
                seq,
            };
            Shared {
                positions: LwwMap::new(),
                claims: state.claims.insert(replica(u128::from(agent) + 1), claim),
            }
        }
    }

    #[test]
    fn joining_deltas_in_any_order_gives_the_writers_state() {
        let mut a = Shared::default();
        let mut clock = Hlc::new(replica(1));
        let deltas: Vec<Shared> = (0..8)
            .map(|seq| write(&mut a, &mut clock, 0, seq))
            .collect();
        let mut b = Shared::default();
        for delta in deltas.iter().rev() {
            b.join(delta);
            b.join(delta);
        }
        assert_eq!(a, b);
    }

    #[test]
    fn a_peer_catches_up_from_its_context() {
        let mut a = Shared::default();
        let mut clock = Hlc::new(replica(1));
        for seq in 0..4 {
            write(&mut a, &mut clock, 0, seq);
        }
        let mut b = a.clone();
        for seq in 4..9 {
            write(&mut a, &mut clock, 0, seq);
        }
        let missing = a.delta_since(&b.context());
        b.join(&missing);
        assert_eq!(a, b);
        assert!(a.delta_since(&b.context()).is_bottom());
    }

    #[test]
    fn split_pieces_join_back_to_the_whole() {
        let mut a = Shared::default();
        let mut clock = Hlc::new(replica(1));
        for agent in 0..5 {
            for seq in 0..6 {
                write(&mut a, &mut clock, agent, seq);
            }
        }
        for parts in 1..6 {
            let pieces = a.split(parts);
            assert!(!pieces.is_empty() && pieces.len() <= parts);
            let mut joined = Shared::default();
            for piece in &pieces {
                assert!(a.includes(piece) && !piece.is_bottom());
                joined.join(piece);
            }
            assert_eq!(joined, a);
        }
    }
}
