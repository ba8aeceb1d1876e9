//! Protocol configuration.

use rumor_crdt::Advance;

/// How deltas spread. All strategies converge; they differ in what they send,
/// so that each gain can be measured side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Classic state-based gossip: every interval, push-pull the whole state.
    FullState,
    /// Delta-interval anti-entropy (Almeida et al.): push the buffered deltas
    /// a peer has not acknowledged; the peer answers with its own.
    Delta,
    /// [`Strategy::Delta`] plus the optimizations of Enes et al.: no
    /// back-propagation (a delta is never sent back to where it came from),
    /// redundancy removal (only the part of a received delta that was new is
    /// buffered and forwarded), and feedback: a buffered delta stops being
    /// pushed once enough peers reported that it brought them nothing new.
    DeltaOptimized,
    /// Eager forwarding on an epidemic broadcast tree (Plumtree): a write is
    /// pushed at once to the eager neighbors and forwarded on receipt, so it
    /// travels in hops × one-way delay instead of rounds × interval. Lazy
    /// links announce ids and graft what went missing. Anti-entropy stays
    /// underneath as digest exchanges every `digest_every_rounds`.
    Eager,
}

/// Tuning of one node. The defaults suit a LAN swarm of up to a few
/// thousand agents.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Time between two anti-entropy rounds.
    pub interval_ms: u64,
    /// Peers contacted per round.
    pub fanout: usize,
    /// What is sent.
    pub strategy: Strategy,
    /// Rounds a buffered delta is pushed before it is dropped; peers that
    /// missed it are then repaired by a digest exchange.
    pub buffer_ttl_rounds: u64,
    /// With [`Strategy::DeltaOptimized`]: stop pushing a buffered delta after
    /// this many peers reported it redundant.
    pub redundant_stop: u32,
    /// With [`Strategy::DeltaOptimized`]: the same for a delta sealed by its
    /// author. A member that missed a sealed write catches up on the state,
    /// unsealed, which a write policy that takes sealed writes only refuses,
    /// so a sealed write must reach every member by push. Stopped at the
    /// first redundant report, a sealed write missed 5.3 % of 40 members
    /// and 5.6 % of 200 in the simulator (sealed-only policy, 30 and 10
    /// runs); at 4, none of 3,200. It costs a signing cluster about half
    /// again the bytes per update (166 → 248 KB at 200 members, p50 828 →
    /// 1,019 ms): a cluster whose policies take unsealed catch-up can set it
    /// to `redundant_stop`.
    pub sealed_redundant_stop: u32,
    /// Every this many rounds, one exchange carries this node's causal
    /// context, and the peer answers with exactly what this node lacks
    /// (`delta_since`): the repair path for deltas dropped from buffers.
    pub digest_every_rounds: u64,
    /// Largest delta in one message, in encoded bytes. A pushed interval of
    /// buffered deltas stops at this size (at least one delta is always
    /// sent); the rest follows in later rounds, once the peer has
    /// acknowledged. An answer to a context (`delta_since`) larger than this
    /// is split ([`Crdt::split`](rumor_crdt::Crdt::split)) into pieces of at
    /// most this size where the type allows. The default keeps a message
    /// inside one UDP datagram.
    pub max_delta_bytes: usize,
    /// Largest answer to a context (a catch-up), in encoded bytes, sent at
    /// once as pieces of `max_delta_bytes`. What does not fit follows in later
    /// exchanges: the peer's digest still differs, so it asks again.
    pub max_catch_up_bytes: usize,
    /// SWIM: time between two probes of random members.
    pub probe_interval_ms: u64,
    /// SWIM: time without an ack before asking others to probe (ping-req).
    pub ping_timeout_ms: u64,
    /// SWIM: members asked to probe indirectly.
    pub indirect_probes: usize,
    /// Over a partial view ([`HyParView`](crate::HyParView)): a link that
    /// sent this node anything within the last this many milliseconds
    /// (scaled like the probe interval) is not pinged: its message is its
    /// ack. The probe goes to the link heard from longest ago instead of
    /// the next in turn, or to none. Each end proves the direction towards
    /// itself this way; the other direction is the other end's to prove:
    /// the end that hears nothing pings, and drops the link if no answer
    /// comes. 0 pings every link in turn.
    pub implicit_ack_ms: u64,
    /// Lifeguard's local health multiplier, at most: a node that misses
    /// acks and nacks raises its local health score (up to this minus one),
    /// and probes `score + 1` times slower, with `score + 1` times longer
    /// timeouts; each successful probe lowers it again. 1 turns it off.
    pub max_local_health: u32,
    /// SWIM: a suspect confirmed by enough members is declared dead after
    /// `suspicion_mult × log₁₀N` probe intervals without refuting.
    pub suspicion_mult: u32,
    /// SWIM: with a single suspecter, the suspicion timeout is this many
    /// times the minimum; independent confirmations bring it down to the
    /// minimum (Lifeguard).
    pub suspicion_max_mult: u32,
    /// SWIM: each membership update is piggybacked `retransmit_mult × log₁₀N`
    /// times.
    pub retransmit_mult: u32,
    /// Membership updates piggybacked on one message, at most. Each update
    /// goes out `retransmit_mult × log₁₀N` times whatever this is, so it
    /// does not change the bytes a rumor costs, only how fast a burst of
    /// them (a mass crash queues one per victim) drains, and how large a
    /// message grows meanwhile (16 simulated updates are about 130 bytes).
    pub max_piggyback: usize,
    /// The encoded bytes of the membership updates piggybacked on one
    /// message, at most (the first always goes). A signed claim is about
    /// 120 bytes: 16 of them made a probe of about 2 KB, over one datagram,
    /// and the runtime had to shed them into extra datagrams. News messages
    /// ([`Probe::News`](crate::Probe::News)) carry nothing else and are not
    /// held to it: the runtime splits them to fit.
    pub max_piggyback_bytes: usize,
    /// SWIM: while more updates wait than one message carries
    /// (`max_piggyback`), each round also sends them to random live members
    /// in messages of their own ([`Probe::News`](crate::Probe::News)): one
    /// per `max_piggyback` updates waiting, up to this many.
    pub news_fanout: usize,
    /// Membership updates in one news message ([`Probe::News`](crate::Probe::News)),
    /// at most (never fewer than `max_piggyback`). A news message carries
    /// nothing else, so it takes a fuller load than a probe: a join storm
    /// of 1,000 members started at once costs 17 % fewer messages at 48 than
    /// at 16 in the simulator. 48 updates about IPv4 members fit one default
    /// datagram; the runtime splits news about IPv6 members in two.
    pub max_news: usize,
    /// SWIM: every this often, ping one random member held as dead. After
    /// a partition heals, each side holds the other dead and would never
    /// contact it again; the ping carries the death first, the member
    /// refutes, and its answer revives it.
    pub reconnect_interval_ms: u64,
    /// Full views grown from seeds ([`FullView`](crate::FullView)): every
    /// this often, a node exchanges member lists with a random live member
    /// (push-pull), which repairs what the join rumors missed (a member that
    /// joined through a seed that was down, the two sides of a long
    /// partition). 0 turns the periodic exchange off; a node still asks a
    /// seed for its list when it starts.
    pub member_sync_interval_ms: u64,
    /// Members in one page of a member list, at most.
    pub members_per_message: usize,
    /// [`Strategy::Eager`]: neighbors each node keeps (it connects to more
    /// when it has fewer; others may connect to it too).
    pub eager_degree: usize,
    /// [`Strategy::Eager`]: how long an announced delta may take to arrive
    /// on the tree before the announcer is grafted.
    pub graft_timeout_ms: u64,
    /// [`Strategy::Eager`] over a partial view: a new link starts eager
    /// while the node has fewer eager links than this (and asks the other
    /// end to connect), lazy otherwise. 0 starts every link eager, as
    /// Plumtree does, and the first write floods every link before its
    /// duplicates prune them.
    pub eager_links_wanted: usize,
    /// [`Strategy::Eager`]: how long a node waits, after a duplicate came
    /// over a link, before it tells the link's other end to stop pushing (a
    /// prune); the link is demoted here at once. Long enough for the write
    /// whose duplicate it was to finish spreading, so that the prunes do not
    /// share its path; short enough to land before the next write. 0 prunes
    /// at once, as Plumtree does.
    pub prune_delay_ms: u64,
    /// [`Strategy::Eager`]: rounds a received delta is kept for grafts.
    pub eager_keep_rounds: u64,
    /// [`Strategy::Eager`]: a neighbor that announces a delta at least this
    /// many tree hops nearer its writer than the path its first copy took
    /// here becomes an eager link (Plumtree's optimization); 0 turns it off.
    pub shortcut_hops: u32,
    /// [`Strategy::Eager`]: a node announces each delta ("I have") in two
    /// rounds while it has seen loss within this window (a graft it sent,
    /// a graft with ids it was sent, a probe its target never answered
    /// itself; an answer late but within the probe is no loss), in one
    /// otherwise: the second round is for a push or an announcement lost on
    /// the way, and is 60 % of the announcements where nothing is lost.
    /// 0: always two rounds.
    pub loss_memory_ms: u64,
    /// [`Strategy::Eager`] over a partial view: the eager links are one
    /// breadth-first tree rooted at the lowest id, each node's parent its
    /// link nearest the root, announced by [`Tree::Rank`](crate::Tree::Rank)
    /// adverts, instead of Plumtree's tree of first paths reshaped by
    /// shortcuts and duplicates: one copy a node a write instead of about
    /// 1.5, and a shallower tree (1,000 nodes: 6–7 hops from the root, the
    /// shared tree 15–16 hops across). `eager_links_wanted`,
    /// `prune_delay_ms` and `shortcut_hops` then play no part.
    pub rooted_tree: bool,
    /// [`Config::rooted_tree`]: a node that saw loss within
    /// `loss_memory_ms` also pushes each delta to one random lazy link (a
    /// push lost on the tree leaves the subtree below it to the "I have"s,
    /// where Plumtree's duplicates were a second path).
    pub spare_push_on_loss: bool,
    /// [`Config::rooted_tree`]: how often the root tells the tree it lives;
    /// a node that heard nothing of it for three of these takes it for dead.
    pub root_refresh_ms: u64,
    /// [`Strategy::Eager`]: ids taken from one "I have" or graft at most.
    pub max_ids_per_message: usize,
    /// Bound against a lying member: a received delta whose dot counter for
    /// some replica is more than this past the highest this node has seen of
    /// that replica is refused (dropped and counted). Honest catch-up moves
    /// a replica's counter by the writes it missed, so this is large.
    pub max_dot_step: u64,
    /// Bound against a lying member: a claimed incarnation more than this
    /// past the one this node holds of the member (its own, for a claim
    /// about itself) is ignored. Honest members raise theirs by one per
    /// refutation, or come back from a restart with what they had.
    pub max_incarnation_step: u64,
    /// Bound against a lying member, [`Strategy::Eager`]: an eager delta
    /// whose id's `seq` is more than this past the highest this node knows
    /// of the writer's life is not taken as that id (its content is still
    /// joined if new, and sent on as this node's own delta). Without it one
    /// forged id far ahead made every real delta of the writer below it a
    /// duplicate.
    pub max_seq_step: u64,
    /// Bound against a lying member: no dot counter, incarnation or eager
    /// sequence number at or above this is taken from a peer, so the next
    /// dot, a refutation and the next id always exist.
    pub counter_ceiling: u64,
    /// Bound against a lying member, full views that learn their members:
    /// a member learned from others (a rumor, a member list) and not heard
    /// from directly (no message from it, no ack of a probe to it) within
    /// this, or within three probe cycles at the view's size if longer, is
    /// forgotten, and claims about it are ignored until it speaks. Honest
    /// members are probed once a cycle, so made-up "alive" claims can no
    /// longer grow every view forever.
    pub unheard_expiry_ms: u64,
    /// Bound against amplification: the answers to a `Sync` from a sender
    /// that is not a known member (one this node holds alive or suspect,
    /// that it has heard from directly before this message, or was
    /// configured with) total at most this many times the request's
    /// encoded size, piggybacked updates left out. An answer that does not
    /// fit is cut, its requester asked to answer back (one round trip, after
    /// which it is known and gets the whole `delta_since` it lacks), and
    /// counted ([`Refused::answers`](crate::Refused::answers)). A known
    /// member's answer is bounded only by `max_catch_up_bytes`.
    pub max_answer_factor: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            interval_ms: 100,
            fanout: 1,
            strategy: Strategy::DeltaOptimized,
            buffer_ttl_rounds: 30,
            redundant_stop: 1,
            sealed_redundant_stop: 4,
            digest_every_rounds: 10,
            max_delta_bytes: 1_024,
            max_catch_up_bytes: 64 * 1_024,
            probe_interval_ms: 200,
            ping_timeout_ms: 100,
            indirect_probes: 4,
            implicit_ack_ms: 400,
            max_local_health: 8,
            suspicion_mult: 1,
            suspicion_max_mult: 5,
            retransmit_mult: 5,
            max_piggyback: 16,
            max_piggyback_bytes: 960,
            news_fanout: 8,
            max_news: 48,
            reconnect_interval_ms: 1_000,
            member_sync_interval_ms: 30_000,
            members_per_message: 32,
            eager_degree: 4,
            graft_timeout_ms: 20,
            prune_delay_ms: 20,
            eager_links_wanted: 2,
            eager_keep_rounds: 10,
            shortcut_hops: 2,
            loss_memory_ms: 5_000,
            rooted_tree: true,
            spare_push_on_loss: true,
            root_refresh_ms: 1_000,
            max_ids_per_message: 1_024,
            max_dot_step: 1 << 32,
            max_incarnation_step: 1 << 16,
            max_seq_step: 256,
            counter_ceiling: 1 << 62,
            unheard_expiry_ms: 30_000,
            max_answer_factor: 16,
        }
    }
}

impl Config {
    /// The bound on counters received from peers that advance by at most
    /// `step`.
    pub(crate) const fn advance(&self, step: u64) -> Advance {
        Advance {
            step,
            ceiling: self.counter_ceiling,
        }
    }
}
