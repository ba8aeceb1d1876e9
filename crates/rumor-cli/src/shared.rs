//! The state a swarm shares: the agents' positions (an [`LwwMap`]) and the
//! tasks they claim (an [`OrSet`]), as one CRDT.
//!
//! The runtime carries one `Crdt` type per node, and `rumor-crdt` has no
//! product type yet (`#[derive(Crdt)]` is a target of DESIGN §2): this is
//! the pair written by hand, every method field-wise. A delta of one write
//! has the other field at bottom.

use rumor_crdt::{CausalContext, Crdt, HlcTimestamp, LwwMap, OrSet};
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

/// The shared state: positions by agent index, and the claims.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Shared {
    pub(crate) positions: LwwMap<u32, Position>,
    pub(crate) claims: OrSet<Claim>,
}

/// What a [`Shared`] state has seen: each field's causal context.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SharedContext {
    positions: CausalContext,
    claims: CausalContext,
}

impl Crdt for Shared {
    type Context = SharedContext;

    fn join(&mut self, other: &Self) {
        self.positions.join(&other.positions);
        self.claims.join(&other.claims);
    }

    fn context(&self) -> SharedContext {
        SharedContext {
            positions: self.positions.context(),
            claims: self.claims.context(),
        }
    }

    fn delta_since(&self, seen: &SharedContext) -> Self {
        Self {
            positions: self.positions.delta_since(&seen.positions),
            claims: self.claims.delta_since(&seen.claims),
        }
    }

    fn is_bottom(&self) -> bool {
        self.positions.is_bottom() && self.claims.is_bottom()
    }

    fn includes(&self, other: &Self) -> bool {
        self.positions.includes(&other.positions) && self.claims.includes(&other.claims)
    }

    fn missing_from(&self, other: &Self) -> Self {
        Self {
            positions: self.positions.missing_from(&other.positions),
            claims: self.claims.missing_from(&other.claims),
        }
    }

    fn latest_timestamp(&self) -> Option<HlcTimestamp> {
        self.positions.latest_timestamp()
    }

    fn split(&self, parts: usize) -> Vec<Self> {
        // Parts go to the fields that hold something, at most `parts` in all.
        let parts = parts.max(1);
        let (for_positions, for_claims) =
            match (self.positions.is_bottom(), self.claims.is_bottom()) {
                (true, true) => return Vec::new(),
                (false, true) => (parts, 0),
                (true, false) => (0, parts),
                (false, false) if parts == 1 => return vec![self.clone()],
                (false, false) => (parts / 2, parts - parts / 2),
            };
        let mut pieces = Vec::new();
        if for_positions > 0 {
            pieces.extend(
                self.positions
                    .split(for_positions)
                    .into_iter()
                    .map(|p| Self {
                        positions: p,
                        claims: OrSet::new(),
                    }),
            );
        }
        if for_claims > 0 {
            pieces.extend(self.claims.split(for_claims).into_iter().map(|c| Self {
                positions: LwwMap::new(),
                claims: c,
            }));
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumor_crdt::{Hlc, ReplicaId};

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
