//! `rumor swarm`: N agents in this process, each a real `rumor-net` node on
//! its own UDP socket on 127.0.0.1, writing concurrently to one shared state
//! (positions in an `LwwMap`, task claims in an `OrSet`).
//!
//! How it measures:
//! - **update to all**: every agent subscribes to its node's changes and
//!   stamps each update the moment a change holding it arrives (a position
//!   counts as held once the agent holds that write or a later one by the
//!   same writer: last writer wins). An update's time is from just before
//!   its writer's `update()` to the last live agent's stamp. The stamps
//!   include the subscriber's own scheduling on this machine's cores.
//! - **traffic**: the nodes' `stats()` (messages and sealed bytes sent),
//!   from the first write until every live agent held every update; idle
//!   rates from one second without writes before that. Messages are also
//!   split by kind (probe, view, sync, tree: `GossipStats::sent`), so a
//!   reader sees what the writes cost beside failure detection and
//!   membership.
//! - **dead**: agents crashed halfway through the writes (`shutdown()`,
//!   no leave); every live agent's `members()` is polled every 100 ms until
//!   none lists them.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rumor_crdt::{Hlc, LwwMap, OrSet, ReplicaId};
use rumor_gossip::{Config, Identity, TreePlace, ViewConfig};
use rumor_net::{ByKind, Change, Gossip, GossipHandle, GossipStats, Key, Keyring, TransportConfig};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

use crate::report::{
    CpuUse, CurvePoint, Dead, KindRate, Percentiles, Report, Run, Traffic, Updates,
};
use crate::shared::{Claim, Position, Shared};

const EXAMPLES: &str = "\
Examples:
  rumor swarm                                   200 agents, eager, authenticated, 20 writes/s for 10 s
  rumor swarm --agents 1000 --partial           HyParView partial views: a few links per agent
  rumor swarm --agents 1000 --partial --spin-us 300
                                                idle workers spin 300 us before they sleep
  rumor swarm --loss 0.1 --kill 5               10 % of datagrams dropped, 5 agents crashed midway
  rumor swarm --latency 1-20                    each datagram delayed 1 to 20 ms
  rumor swarm --strategy delta --interval 50
  rumor swarm --agents 10 --duration 2 --json   one JSON object on stdout";

/// How long the agents may take to find each other before the writes start
/// anyway.
const FORMATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the agents' places in the rooted tree are read while it forms.
const TREE_SWEEP: Duration = Duration::from_millis(100);
/// How long after the last write the live agents may take to hold every
/// update.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after the last write the swarm first asks every live agent
/// whether it holds every update: a poll reads each agent's state in turn,
/// and begun at once it took the cores from the last writes' waves, which
/// it times (a write reaches every agent in tens of milliseconds).
const DRAIN_SETTLE: Duration = Duration::from_millis(200);
/// How long after the crash the live agents may take to declare the killed
/// ones dead.
const DEAD_TIMEOUT: Duration = Duration::from_secs(20);
/// After Ctrl-C: how long the live agents may take to hold what was written.
const INTERRUPTED_DRAIN: Duration = Duration::from_secs(1);
/// How often membership is polled for the dead.
const MEMBERS_POLL: Duration = Duration::from_millis(100);

/// The options of `rumor swarm`.
#[derive(Debug, clap::Args, Serialize)]
#[command(after_help = EXAMPLES)]
pub(crate) struct Args {
    /// Agents in the swarm, each with its own socket.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub(crate) agents: u32,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) gossip: super::GossipArgs,
    /// Partial views (HyParView) instead of full views: each agent keeps a
    /// few links and gossips, probes and forwards over them only. For
    /// swarms of a thousand agents and more. The swarm counts as formed
    /// once every agent has a link, a killed agent as dead once no agent
    /// keeps a link to it, and a live agent as held dead if none does.
    #[arg(long)]
    pub(crate) partial: bool,
    /// Seconds of writing.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = super::seconds)]
    pub(crate) duration: f64,
    /// Writes per second, all agents together (each write by a random live
    /// agent: its position, or a claim on a random task).
    #[arg(long, value_name = "RATE", default_value_t = 20.0, value_parser = super::rate)]
    pub(crate) writes_per_sec: f64,
    /// Share of datagrams each agent drops before sending (0.1 = 10 %).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = super::probability)]
    pub(crate) loss: f64,
    /// Delay each agent adds to every datagram it sends, in ms: one value,
    /// or a range MIN-MAX drawn uniformly (seeded). 0: none.
    #[arg(long, value_name = "MS[-MS]", default_value = "0", value_parser = super::latency)]
    pub(crate) latency: super::Latency,
    /// Agents crashed halfway through the writes (no leave announced).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) kill: u32,
    /// No encryption and no authentication (by default every agent seals
    /// with a fresh random key).
    #[arg(long)]
    pub(crate) plaintext: bool,
    /// Agents do not sign their writes. By default (unless --plaintext)
    /// each agent signs its eager-path writes with an ed25519 key of its
    /// own and accepts only signed ones: a member holding the cluster key
    /// cannot write in another's name there.
    #[arg(long)]
    pub(crate) unsigned: bool,
    /// Microseconds a runtime worker with nothing to do keeps its CPU
    /// (spinning) before it sleeps. On a virtual machine whose idle CPUs
    /// halt, a datagram that wakes a sleeping worker can wait a millisecond
    /// or more for it, and a write crosses 15 hops and more at 1,000 agents.
    /// With the workers pinned (the default) 300 cost 70 % more CPU and
    /// no less time at 1,000 agents. 0: sleep at once.
    #[arg(long, value_name = "US", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub(crate) spin_us: u64,
    /// Leave the runtime's workers free to run on any CPU. By default each
    /// worker is pinned to a CPU of its own: a worker woken by another is
    /// placed on the waker's CPU (the kernel's wake-affine heuristic), and
    /// both then share it until the load balancer's next tick (4 ms here)
    /// while another CPU idles, stalling every hop they hold.
    #[arg(long)]
    pub(crate) no_pin: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) output: super::OutputArgs,
    /// Seed of the writes, the crashes and the injected loss (random when
    /// not given; the report shows it).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(path) = &args.output.plot {
        crate::plot::check_writable(path)?;
    }
    if u64::from(args.kill) + 2 > u64::from(args.agents) {
        anyhow::bail!(
            "--kill {} leaves fewer than 2 live agents of --agents {}",
            args.kill,
            args.agents
        );
    }
    raise_open_file_limit(args.agents, args.output.json);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if args.spin_us > 0 {
        let spin = Duration::from_micros(args.spin_us);
        builder.on_thread_park(move || {
            // Keeps the CPU busy (and so awake) for a while; the worker then
            // parks as usual, at once if it was woken meanwhile.
            let until = std::time::Instant::now() + spin;
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
        });
    }
    if !args.no_pin {
        pin_workers(&mut builder);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let report = runtime.block_on(swarm(args))?;
    // The nodes have shut down; the runtime's remaining tasks end with it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(path) = &args.output.plot {
        crate::plot::write_svg(&report, path)?;
    }
    crate::output::print(&report, args.output.json)
}

/// One runtime worker per CPU this process may use, each pinned to its own.
/// The workers start when the runtime is built, before any other runtime
/// thread, so the first threads started are the workers; threads started
/// later (the blocking pool, which the swarm does not use) are left as they
/// are. Where the CPUs cannot be listed, or there is only one, nothing is
/// pinned; a pin the OS refuses leaves that worker free.
fn pin_workers(builder: &mut tokio::runtime::Builder) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.len() < 2 {
        return;
    }
    builder.worker_threads(cores.len());
    let started = AtomicUsize::new(0);
    builder.on_thread_start(move || {
        let worker = started.fetch_add(1, Ordering::Relaxed);
        if let Some(&core) = cores.get(worker) {
            // Refused (a CPU set changed meanwhile): the worker runs unpinned.
            let _pinned = core_affinity::set_for_current(core);
        }
    });
}

/// Open files each agent may hold: its UDP socket, its TCP listener, and
/// a few TCP streams (large payloads and catch-ups).
const FILES_PER_AGENT: u64 = 8;

/// Raises the soft limit on open files towards what `agents` agents may
/// need (up to the hard limit); warns when that is not enough.
fn raise_open_file_limit(agents: u32, quiet: bool) {
    let wanted = u64::from(agents) * FILES_PER_AGENT + 256;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted && !quiet => eprintln!(
            "warning: at most {limit} open files (the hard limit); {agents} agents may need \
             {wanted}: raise it (ulimit -Hn) if agents fail to start"
        ),
        Ok(_) => {}
        Err(error) if !quiet => {
            eprintln!("warning: could not raise the open-file limit: {error}");
        }
        Err(_) => {}
    }
}

/// CPU time this process has used (user and system, every thread, those
/// ended included), from `/proc/self/stat`; `None` where there is none.
fn process_cpu_secs() -> Option<f64> {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| cpu_secs_of_stat(&stat))
}

/// Clock ticks a second in `/proc` (`USER_HZ`: 100 on Linux, whatever the
/// kernel's own tick).
const USER_HZ: f64 = 100.0;

/// `utime + stime` of a `/proc/PID/stat` line, in seconds. The command name
/// (field 2, in parentheses) may hold spaces and parentheses itself: the
/// fields are counted after its last `)`.
fn cpu_secs_of_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One agent: its node, and the clock and counter that stamp its writes.
struct Agent {
    index: u32,
    gossip: GossipHandle<Shared>,
    clock: Arc<Mutex<Hlc>>,
    next_seq: u32,
}

/// What kind of write an update was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Position,
    Claim(u32),
}

/// One write, made at `at`.
#[derive(Clone, Copy, Debug)]
struct Written {
    agent: u32,
    seq: u32,
    kind: Kind,
    at: Instant,
}

/// Updates a watcher makes room for at the start, at most (beyond, its
/// maps grow as usual).
const MAX_PRESIZED: usize = 4_096;

/// What one agent saw arrive, and when.
#[derive(Debug, Default)]
struct Seen {
    claims: HashMap<Claim, Instant>,
    /// Per writer: (the writer's newest position seq held, since when),
    /// seqs increasing.
    positions: HashMap<u32, Vec<(u32, Instant)>>,
    lagged: u64,
}

impl Seen {
    /// Room for `writes` updates from the start. Every agent's watcher sees
    /// the same writes in the same order: growing as they come, all 1,000
    /// would rehash their maps at the same write, on the cores that carry
    /// its wave, and add that to the time measured (the writes that brought
    /// the 57th claim and the 57th writer of positions were among the
    /// slowest in every run).
    ///
    /// The tables' memory is written once here too (filled, then cleared:
    /// the room stays): the OS maps a page at its first write, and tables
    /// only made would map theirs at the first claim and the first position
    /// at every agent at once (504 and 465 page faults in writes 0 and 4
    /// of one run, against about 200 in a whole median write).
    fn with_capacity(writes: u64) -> Self {
        let writes = usize::try_from(writes)
            .unwrap_or(usize::MAX)
            .min(MAX_PRESIZED);
        let mut seen = Self {
            claims: HashMap::with_capacity(writes),
            positions: HashMap::with_capacity(writes),
            lagged: 0,
        };
        let now = Instant::now();
        for i in (0..u32::MAX).take(writes) {
            let claim = Claim {
                task: i,
                agent: u32::MAX,
                seq: 0,
            };
            seen.claims.insert(claim, now);
            seen.positions.insert(i, Vec::new());
        }
        seen.claims.clear();
        seen.positions.clear();
        seen
    }

    fn note(&mut self, state: &Shared, now: Instant) -> u64 {
        let mut new = 0;
        for claim in state.claims.iter() {
            if let std::collections::hash_map::Entry::Vacant(e) = self.claims.entry(*claim) {
                e.insert(now);
                new += 1;
            }
        }
        for (writer, position) in state.positions.iter() {
            let held = self.positions.entry(*writer).or_default();
            if held.last().is_none_or(|(seq, _)| *seq < position.seq) {
                held.push((position.seq, now));
                new += 1;
            }
        }
        new
    }

    /// When this agent first held `write`, if it did.
    fn arrival(&self, write: &Written) -> Option<Instant> {
        match write.kind {
            Kind::Claim(task) => self
                .claims
                .get(&Claim {
                    task,
                    agent: write.agent,
                    seq: write.seq,
                })
                .copied(),
            Kind::Position => {
                let held = self.positions.get(&write.agent)?;
                let first = held.partition_point(|(seq, _)| *seq < write.seq);
                held.get(first).map(|(_, at)| *at)
            }
        }
    }
}

/// A flag raised by Ctrl-C: the swarm stops writing and reports what it
/// measured; a second Ctrl-C quits at once (exit 130).
fn on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            raised.store(true, Ordering::Relaxed);
            eprintln!("\ninterrupted: reporting what was written so far (Ctrl-C again to quit)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    flag
}

/// Stamps every change of one agent's state until its node shuts down.
fn watch(gossip: &GossipHandle<Shared>, received: Arc<AtomicU64>, writes: u64) -> JoinHandle<Seen> {
    let mut changes = gossip.subscribe();
    let gossip = gossip.clone();
    tokio::spawn(async move {
        let mut seen = Seen::with_capacity(writes);
        while let Some(change) = changes.recv().await {
            match change {
                Change::Delta(delta) => {
                    let new = seen.note(&delta, Instant::now());
                    received.fetch_add(new, Ordering::Relaxed);
                }
                Change::Lagged(missed) => {
                    // Catch up from the state: what it holds arrived by now at the latest.
                    seen.lagged += missed;
                    let Ok(state) = gossip.read(Clone::clone).await else {
                        break;
                    };
                    let new = seen.note(&state, Instant::now());
                    received.fetch_add(new, Ordering::Relaxed);
                }
            }
        }
        seen
    })
}

/// Messages and bytes sent, summed.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    messages: u64,
    bytes: u64,
    /// Messages by kind, in the order of [`ByKind::KINDS`].
    kinds: [u64; 4],
}

impl Sent {
    fn of(stats: &[GossipStats]) -> Self {
        stats.iter().fold(Self::default(), |mut sum, s| {
            sum.messages += s.messages_out;
            sum.bytes += s.bytes_out;
            for (total, (_, traffic)) in sum.kinds.iter_mut().zip(s.sent.each()) {
                *total += traffic.messages;
            }
            sum
        })
    }

    fn since(self, earlier: Self) -> Self {
        let mut kinds = self.kinds;
        for (now, then) in kinds.iter_mut().zip(earlier.kinds) {
            *now = now.saturating_sub(then);
        }
        Self {
            messages: self.messages.saturating_sub(earlier.messages),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            kinds,
        }
    }
}

/// The agents' counters; a killed agent keeps its last snapshot.
async fn snapshot(agents: &[Agent], last: &mut [GossipStats], live: &[bool]) {
    for (i, agent) in agents.iter().enumerate() {
        if live[i] {
            if let Ok(stats) = agent.gossip.stats().await {
                last[i] = stats;
            }
        }
    }
}

async fn start_agents(args: &Args, seed: u64, key: Option<&Key>) -> anyhow::Result<Vec<Agent>> {
    let config = Config {
        interval_ms: args.gossip.interval,
        fanout: args.gossip.fanout as usize,
        strategy: args.gossip.strategy.strategy(),
        ..Config::default()
    };
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut agents: Vec<Agent> = Vec::with_capacity(args.agents as usize);
    let signed = key.is_some() && !args.unsigned;
    let mut key_rng: StdRng = rand::make_rng();
    let mut join_rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6a6f_696e);
    for index in 0..args.agents {
        let identity = signed.then(|| {
            let mut secret = [0; 32];
            key_rng.fill_bytes(&mut secret);
            Identity::from_secret(secret)
        });
        let me = identity
            .as_ref()
            .map_or_else(ReplicaId::random, Identity::replica_id);
        let transport = TransportConfig {
            loss: args.loss,
            latency: args.latency.injected(),
            loss_seed: seed ^ u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ..TransportConfig::new(localhost)
        };
        let mut builder = Gossip::builder(me, Shared::default())
            .bind(localhost)
            .transport(transport)
            .config(config.clone())
            .cluster("rumor-swarm");
        if args.partial {
            builder = builder.partial_view(ViewConfig::default());
        }
        builder = match key {
            Some(key) => builder.keyring(Keyring::new(key.clone())),
            None => builder.plaintext(),
        };
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        // Join through the first agent and a random one started before, as
        // agents given a list of seeds would. Joining through the one started
        // just before chained the links (agent k to k - 1): right after
        // formation the writes' paths were longer, the longest of 50 writes
        // at 1,000 agents 18 tree hops at the median against 15.5 (p50 of
        // the update-to-all 20.3 -> 17.6 ms, p90 32.5 -> 25.3 ms, 6
        // alternating runs each).
        let earlier = (!agents.is_empty()).then(|| join_rng.random_range(0..agents.len()));
        let seeds: Vec<SocketAddr> = [agents.first(), earlier.and_then(|i| agents.get(i))]
            .into_iter()
            .flatten()
            .map(|a| a.gossip.local_addr())
            .collect();
        let gossip = builder
            .seeds(seeds)
            .start()
            .await
            .with_context(|| format!("agent {index} could not start on 127.0.0.1"))?;
        agents.push(Agent {
            index,
            gossip,
            clock: Arc::new(Mutex::new(Hlc::new(me))),
            next_seq: 0,
        });
    }
    Ok(agents)
}

/// Waits until every agent lists every other (with `partial` views: has a
/// link); the time it took, or `None` after [`FORMATION_TIMEOUT`].
async fn formation(agents: &[Agent], partial: bool) -> Option<Duration> {
    let started = Instant::now();
    let others = if partial { 1 } else { agents.len() - 1 };
    let mut pending: Vec<usize> = (0..agents.len()).collect();
    while started.elapsed() < FORMATION_TIMEOUT {
        let mut still = Vec::new();
        for (k, &i) in pending.iter().enumerate() {
            // A busy node answers late: keep the deadline even within one sweep.
            let left = FORMATION_TIMEOUT.saturating_sub(started.elapsed());
            if left.is_zero() {
                still.extend(&pending[k..]);
                break;
            }
            let members = tokio::time::timeout(left, agents[i].gossip.members()).await;
            let known = members.map_or(0, |m| m.map_or(0, |m| m.len()));
            if known < others {
                // Once one is missing, the sweep can stop: the rest is checked next time.
                still.extend(&pending[k..]);
                break;
            }
        }
        pending = still;
        if pending.is_empty() {
            return Some(started.elapsed());
        }
        sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits, after `formation`, until the agents' places in the rooted tree
/// form one tree ([`TreePlace::formed`]), at most until `deadline`: how long
/// that took from `since`, `None` past the deadline. `Ok(None)` at once where
/// the agents keep no rooted tree (full views, or other strategies).
async fn tree_formation(
    agents: &[Agent],
    since: Instant,
    deadline: Instant,
) -> Result<Option<Duration>, NoTree> {
    let mut places = Vec::with_capacity(agents.len());
    loop {
        places.clear();
        for agent in agents {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, agent.gossip.tree()).await {
                Ok(Ok(Some(place))) => places.push((agent.gossip.local_addr(), place)),
                Ok(Ok(None)) => return Err(NoTree),
                // A stopped agent or the deadline: the tree is not formed.
                Ok(Err(_)) | Err(_) => break,
            }
        }
        if places.len() == agents.len()
            && TreePlace::formed(places.iter().map(|(id, place)| (*id, place)))
        {
            return Ok(Some(since.elapsed()));
        }
        if Instant::now() + TREE_SWEEP >= deadline {
            return Ok(None);
        }
        sleep(TREE_SWEEP).await;
    }
}

/// The agents keep no rooted tree.
struct NoTree;

/// Writes one update through `agent`: its position, or a claim on a task.
fn write(agent: &mut Agent, kind: Kind, rng: &mut impl Rng) -> JoinHandle<Option<Written>> {
    let seq = agent.next_seq;
    agent.next_seq += 1;
    let index = agent.index;
    let gossip = agent.gossip.clone();
    let clock = Arc::clone(&agent.clock);
    let replica = gossip.replica();
    let (x, y) = (
        rng.random_range(-1_000..1_000),
        rng.random_range(-1_000..1_000),
    );
    tokio::spawn(async move {
        let at = Instant::now();
        let result = gossip
            .update(move |state: &mut Shared| match kind {
                Kind::Position => {
                    let ts = clock
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .now(wall_ms());
                    let position = Position { seq, x, y };
                    Shared {
                        // Each agent alone writes its own key, with its own clock: never superseded.
                        positions: state
                            .positions
                            .insert(index, position, ts)
                            .unwrap_or_default(),
                        claims: OrSet::new(),
                    }
                }
                Kind::Claim(task) => Shared {
                    positions: LwwMap::new(),
                    claims: state.claims.insert(
                        replica,
                        Claim {
                            task,
                            agent: index,
                            seq,
                        },
                    ),
                },
            })
            .await;
        result.ok().map(|_| Written {
            agent: index,
            seq,
            kind,
            at,
        })
    })
}

/// Polls the live agents' members until none lists a killed agent; when
/// each was dropped by the last of them (`None`: not before the deadline).
async fn detect_dead(
    survivors: Vec<GossipHandle<Shared>>,
    killed: Vec<SocketAddr>,
    crashed_at: Instant,
    declared: Arc<AtomicU64>,
    interrupted: Arc<AtomicBool>,
) -> Vec<Option<Duration>> {
    let mut when: Vec<Option<Duration>> = vec![None; killed.len()];
    while crashed_at.elapsed() < DEAD_TIMEOUT
        && when.iter().any(Option::is_none)
        && !interrupted.load(Ordering::Relaxed)
    {
        let mut listed: HashSet<SocketAddr> = HashSet::new();
        for gossip in &survivors {
            if let Ok(members) = gossip.members().await {
                listed.extend(members.into_iter().filter(|m| killed.contains(m)));
            }
        }
        let now = crashed_at.elapsed();
        for (i, addr) in killed.iter().enumerate() {
            if when[i].is_none() && !listed.contains(addr) {
                when[i] = Some(now);
                declared.fetch_add(1, Ordering::Relaxed);
            }
        }
        sleep(MEMBERS_POLL).await;
    }
    when
}

/// Whether every live agent holds every update written: its claim count and
/// the sum of its positions' seqs against what was written.
async fn all_hold(survivors: &[&Agent], claims: usize, position_seqs: u64) -> bool {
    for agent in survivors {
        let held = agent
            .gossip
            .read(|s| {
                // seq + 1: a position of seq 0 counts too (summing bare
                // seqs, an agent's first write, seq 0, was never waited for).
                let seqs: u64 = s.positions.iter().map(|(_, p)| u64::from(p.seq) + 1).sum();
                (s.claims.len(), seqs)
            })
            .await;
        if held.map_or(true, |h| h != (claims, position_seqs)) {
            return false;
        }
    }
    true
}

#[allow(clippy::too_many_lines)]
async fn swarm(args: &Args) -> anyhow::Result<Report> {
    // The OS-seeded generator: the key, and the seed when none is given.
    let mut os_rng: StdRng = rand::make_rng();
    let seed = args.seed.unwrap_or_else(|| os_rng.random());
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let key = (!args.plaintext).then(|| Key::generate(&mut os_rng));
    let n = args.agents as usize;
    let writes = (args.duration * args.writes_per_sec).round().max(1.0) as u64;
    let quiet = args.output.json;
    let interrupted = on_ctrl_c();

    let setup = crate::output::progress(u64::from(args.agents), "agents started", quiet);
    let mut agents = start_agents(args, seed, key.as_ref()).await?;
    setup.set_position(u64::from(args.agents));
    setup.set_message("finding each other");
    let received = Arc::new(AtomicU64::new(0));
    let watchers: Vec<JoinHandle<Seen>> = agents
        .iter()
        .map(|a| watch(&a.gossip, Arc::clone(&received), writes))
        .collect();
    let found_from = Instant::now();
    let formed = formation(&agents, args.partial).await;
    if formed.is_none() && !quiet {
        setup.suspend(|| {
            eprintln!(
                "warning: not every agent knew every other after {} s; writing anyway",
                FORMATION_TIMEOUT.as_secs()
            );
        });
    }
    // With a rooted tree, the writes start once it has formed too: before,
    // they measure the overlay still settling (the tree's root elected, its
    // links told), not its steady state.
    setup.set_message("forming the tree");
    let tree = match formed {
        Some(_) => tree_formation(&agents, found_from, found_from + FORMATION_TIMEOUT).await,
        // Past the deadline already: a tree not formed, if the agents keep one.
        None => match agents.first() {
            Some(agent) if matches!(agent.gossip.tree().await, Ok(Some(_))) => Ok(None),
            _ => Err(NoTree),
        },
    };
    setup.finish_and_clear();
    if matches!(tree, Ok(None)) && formed.is_some() && !quiet {
        eprintln!(
            "warning: the agents' rooted tree had not formed after {} s; writing anyway",
            FORMATION_TIMEOUT.as_secs()
        );
    }

    let mut live = vec![true; n];
    let mut last = vec![GossipStats::default(); n];
    snapshot(&agents, &mut last, &live).await;
    let idle_from = (Sent::of(&last), Instant::now());
    let cpu_idle_from = process_cpu_secs();
    sleep(Duration::from_secs(1)).await;
    snapshot(&agents, &mut last, &live).await;
    let busy_from = (Sent::of(&last), Instant::now());
    let cpu_busy_from = process_cpu_secs();
    let idle = busy_from.0.since(idle_from.0);
    let idle_secs = busy_from.1.duration_since(idle_from.1).as_secs_f64();

    // The writes, at a steady rate; the crash halfway.
    let bar = crate::output::progress(writes, "writes", quiet);
    let tasks = (2 * args.agents).max(4);
    let gap = Duration::from_secs_f64(1.0 / args.writes_per_sec);
    let kill_after = writes / 2;
    let declared = Arc::new(AtomicU64::new(0));
    let mut dead_watch = None;
    let mut pending_writes = Vec::with_capacity(writes as usize);
    let start = Instant::now();
    for w in 0..writes {
        let due = start + gap.mul_f64(w as f64);
        tokio::time::sleep_until(due).await;
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        if w == kill_after && args.kill > 0 {
            let mut victims = Vec::new();
            while victims.len() < args.kill as usize {
                let v = rng.random_range(0..n);
                if live[v] && !victims.contains(&v) {
                    victims.push(v);
                }
            }
            snapshot(&agents, &mut last, &live).await;
            let crashed_at = Instant::now();
            for &v in &victims {
                live[v] = false;
                agents[v].gossip.shutdown().await;
            }
            let survivors = (0..n)
                .filter(|&i| live[i])
                .map(|i| agents[i].gossip.clone())
                .collect();
            let killed = victims
                .iter()
                .map(|&v| agents[v].gossip.local_addr())
                .collect();
            dead_watch = Some(tokio::spawn(detect_dead(
                survivors,
                killed,
                crashed_at,
                Arc::clone(&declared),
                Arc::clone(&interrupted),
            )));
        }
        let who = loop {
            let i = rng.random_range(0..n);
            if live[i] {
                break i;
            }
        };
        let kind = if rng.random_bool(0.5) {
            Kind::Position
        } else {
            Kind::Claim(rng.random_range(0..tasks))
        };
        pending_writes.push(write(&mut agents[who], kind, &mut rng));
        bar.set_position(w + 1);
        if w % 16 == 0 {
            bar.set_message(format!(
                "{} held · killed {} · declared dead {}",
                received.load(Ordering::Relaxed),
                if w >= kill_after { args.kill } else { 0 },
                declared.load(Ordering::Relaxed)
            ));
        }
    }
    let mut written = Vec::with_capacity(pending_writes.len());
    for task in pending_writes {
        if let Ok(Some(w)) = task.await {
            written.push(w);
        }
    }

    // Until every live agent holds every update (or the deadline).
    bar.set_message("waiting until every live agent holds every update");
    let survivors: Vec<&Agent> = agents.iter().filter(|a| live[a.index as usize]).collect();
    let claims = written
        .iter()
        .filter(|w| matches!(w.kind, Kind::Claim(_)))
        .count();
    let mut newest: HashMap<u32, u32> = HashMap::new();
    for w in written.iter().filter(|w| w.kind == Kind::Position) {
        let seq = newest.entry(w.agent).or_default();
        *seq = (*seq).max(w.seq);
    }
    let position_seqs: u64 = newest.values().map(|&s| u64::from(s) + 1).sum();
    let drain_from = Instant::now();
    let drain = if interrupted.load(Ordering::Relaxed) {
        INTERRUPTED_DRAIN
    } else {
        DRAIN_TIMEOUT
    };
    sleep(DRAIN_SETTLE.min(drain)).await;
    while drain_from.elapsed() < drain && !all_hold(&survivors, claims, position_seqs).await {
        sleep(Duration::from_millis(20)).await;
    }
    snapshot(&agents, &mut last, &live).await;
    let busy_to = (Sent::of(&last), Instant::now());
    let cpu_busy_to = process_cpu_secs();
    let busy = busy_to.0.since(busy_from.0);
    let busy_secs = busy_to.1.duration_since(busy_from.1).as_secs_f64();

    let dead = match dead_watch {
        Some(task) => {
            bar.set_message("waiting until the killed agents are declared dead");
            let when = task.await.unwrap_or_default();
            Some(when)
        }
        None => None,
    };
    // Live agents that some live agent holds dead; over partial views, that
    // no live agent keeps a link to (a partial view lists its links only).
    let survivor_addrs: Vec<SocketAddr> = survivors.iter().map(|a| a.gossip.local_addr()).collect();
    let mut listed: Vec<(SocketAddr, Vec<SocketAddr>)> = Vec::with_capacity(survivors.len());
    for agent in &survivors {
        if let Ok(members) = agent.gossip.members().await {
            listed.push((agent.gossip.local_addr(), members));
        }
    }
    let live_held_dead: HashSet<SocketAddr> = if args.partial {
        let linked: HashSet<SocketAddr> =
            listed.iter().flat_map(|(_, m)| m.iter().copied()).collect();
        survivor_addrs
            .iter()
            .filter(|a| !linked.contains(a))
            .copied()
            .collect()
    } else {
        listed
            .iter()
            .flat_map(|(me, members)| {
                survivor_addrs
                    .iter()
                    .filter(move |a| *a != me && !members.contains(a))
                    .copied()
            })
            .collect()
    };
    bar.finish_and_clear();

    for agent in &agents {
        agent.gossip.shutdown().await;
    }
    let mut seen = Vec::with_capacity(n);
    for watcher in watchers {
        seen.push(watcher.await.unwrap_or_default());
    }

    // Per update: the time until the last live agent (its writer aside) held it.
    let receivers: Vec<usize> = (0..n).filter(|&i| live[i]).collect();
    let mut each = Vec::with_capacity(written.len());
    let mut offsets: Vec<f64> = Vec::with_capacity(written.len() * receivers.len());
    for w in &written {
        let mut latest = Some(Duration::ZERO);
        for &r in &receivers {
            if r == w.agent as usize {
                offsets.push(0.0);
                continue;
            }
            match seen[r].arrival(w) {
                Some(at) => {
                    let after = at.saturating_duration_since(w.at);
                    offsets.push(after.as_secs_f64() * 1_000.0);
                    latest = latest.map(|l| l.max(after));
                }
                None => latest = None,
            }
        }
        each.push(latest.map(|l| l.as_secs_f64() * 1_000.0));
    }
    let mut to_all: Vec<f64> = each.iter().flatten().copied().collect();
    let curve = infection_curve(&mut offsets, written.len() * receivers.len());
    if !quiet {
        if let Some(note) = behind_note(written.len(), to_all.len(), drain, args) {
            eprintln!("{note}");
        }
    }
    let lagged: u64 = seen.iter().map(|s| s.lagged).sum();
    if lagged > 0 && !quiet {
        eprintln!(
            "note: subscribers lagged by {lagged} changes; those were stamped when read back (later than they arrived)"
        );
    }

    let updates = written.len() as u64;
    let per = |total: u64, by: f64| if by > 0.0 { total as f64 / by } else { 0.0 };
    let run = Run {
        strategy: args.gossip.strategy.name().to_string(),
        agents: args.agents,
        formation_ms: formed.map(|d| d.as_secs_f64() * 1_000.0),
        tree_ms: match tree {
            Ok(tree) => Some(tree.map(|d| d.as_secs_f64() * 1_000.0)),
            Err(NoTree) => None,
        },
        updates: Updates {
            written: updates,
            reached_all: to_all.len() as u64,
            to_all_ms: Percentiles::of(&mut to_all),
            each_to_all_ms: each,
        },
        traffic: Traffic {
            messages: busy.messages,
            bytes: busy.bytes,
            messages_per_update: per(busy.messages, updates as f64),
            bytes_per_update: per(busy.bytes, updates as f64),
            messages_per_agent_per_s: per(busy.messages, n as f64 * busy_secs),
            bytes_per_agent_per_s: per(busy.bytes, n as f64 * busy_secs),
            idle_messages_per_agent_per_s: Some(per(idle.messages, n as f64 * idle_secs)),
            idle_bytes_per_agent_per_s: Some(per(idle.bytes, n as f64 * idle_secs)),
            by_kind: ByKind::KINDS
                .iter()
                .zip(busy.kinds.iter().zip(idle.kinds))
                .map(|(&kind, (&busy, idle))| KindRate {
                    kind,
                    messages_per_agent_per_s: per(busy, n as f64 * busy_secs),
                    idle_messages_per_agent_per_s: Some(per(idle, n as f64 * idle_secs)),
                })
                .collect(),
        },
        dead: dead.map(|when| {
            let mut detected: Vec<f64> = when
                .iter()
                .flatten()
                .map(|d| d.as_secs_f64() * 1_000.0)
                .collect();
            Dead {
                killed: when.len() as u64,
                declared_dead_by_all: detected.len() as u64,
                to_all_ms: Percentiles::of(&mut detected),
                live_held_dead: live_held_dead.len() as u64,
            }
        }),
        cpu: match (cpu_idle_from, cpu_busy_from, cpu_busy_to) {
            (Some(idle_from), Some(busy_from), Some(busy_to)) => CpuUse::of(
                (busy_from - idle_from, idle_secs),
                (busy_to - busy_from, busy_secs),
                updates,
                args.agents,
            ),
            _ => None,
        },
        curve,
    };
    let mut settings = serde_json::to_value(args)?;
    settings["seed"] = seed.into();
    Ok(Report {
        interrupted: interrupted.load(Ordering::Relaxed),
        command: "swarm",
        settings,
        runs: vec![run],
    })
}

/// A note when some updates never reached every live agent: on one
/// machine, almost always the agents falling behind their work (1,000
/// agents signing 20 writes a second overload 2 cores: half the writes take
/// seconds and some never arrive before the deadline).
fn behind_note(written: usize, reached: usize, waited: Duration, args: &Args) -> Option<String> {
    let missed = written.checked_sub(reached).filter(|&m| m > 0)?;
    let lighter = if args.unsigned || args.plaintext {
        "a lower --writes-per-sec or fewer --agents"
    } else {
        "--unsigned (each agent checks every write's signature), a lower --writes-per-sec or fewer --agents"
    };
    Some(format!(
        "note: {missed} of {written} updates had not reached every live agent {} s after the last \
         write: the agents may be falling behind on this machine; try {lighter}",
        waited.as_secs()
    ))
}

/// The share of (update, agent) pairs held, against the time since the
/// write: `offsets` holds one entry per pair that was held, `pairs` counts
/// them all.
pub(crate) fn infection_curve(offsets: &mut [f64], pairs: usize) -> Vec<CurvePoint> {
    if offsets.is_empty() || pairs == 0 {
        return Vec::new();
    }
    offsets.sort_by(f64::total_cmp);
    // Points at quantiles of the arrivals: fine where they are dense, on any scale.
    let last = offsets.len() - 1;
    (0..=200)
        .map(|step| {
            let i = step * last / 200;
            CurvePoint {
                ms: offsets[i],
                share: (i + 1) as f64 / pairs as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(flags: &[&str]) -> Args {
        Cli::parse_from(std::iter::once("swarm").chain(flags.iter().copied())).args
    }

    /// The CPUs the calling thread may run on, as Linux lists them
    /// (`Cpus_allowed_list`, say "0-1" or "3").
    #[cfg(target_os = "linux")]
    fn allowed_cpus() -> String {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .map(|list| list.trim().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn the_cpu_time_is_read_after_the_command_names_last_parenthesis() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 75 0 0 20 0 9 0 1234 0 0";
        assert_eq!(cpu_secs_of_stat(stat), Some(3.25));
        assert_eq!(cpu_secs_of_stat("4242 (short) S 1 2"), None);
        assert_eq!(cpu_secs_of_stat("no parenthesis"), None);
        if cfg!(target_os = "linux") {
            let used = process_cpu_secs().expect("/proc/self/stat on Linux");
            assert!(used >= 0.0);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn each_runtime_worker_is_pinned_to_a_cpu_of_its_own() {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        if cores.len() < 2 {
            return; // nothing to pin on one CPU
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        pin_workers(&mut builder);
        let runtime = builder.enable_all().build().expect("a runtime");
        // Tasks that hold their worker a while, so that every worker takes some.
        let seen: Vec<String> = runtime.block_on(async {
            let tasks: Vec<_> = (0..8 * cores.len())
                .map(|_| {
                    tokio::spawn(async {
                        std::thread::sleep(Duration::from_millis(5));
                        allowed_cpus()
                    })
                })
                .collect();
            let mut seen = Vec::new();
            for task in tasks {
                seen.push(task.await.expect("the task ran"));
            }
            seen
        });
        let ids: HashSet<String> = cores.iter().map(|c| c.id.to_string()).collect();
        for list in &seen {
            assert!(
                ids.contains(list),
                "a worker may run on {list:?}, not one of {ids:?}"
            );
        }
        let distinct: HashSet<&String> = seen.iter().collect();
        assert!(
            distinct.len() > 1,
            "every task ran on a worker pinned to {distinct:?}"
        );
    }

    #[test]
    fn a_watcher_starts_empty_with_room_for_every_write_and_stamps_first_arrivals() {
        let mut seen = Seen::with_capacity(200);
        assert!(seen.claims.is_empty() && seen.positions.is_empty());
        assert!(seen.claims.capacity() >= 200 && seen.positions.capacity() >= 200);
        let me = ReplicaId::from_u128(7);
        let mut clock = Hlc::new(me);
        let mut state = Shared::default();
        let claim = Claim {
            task: 3,
            agent: 7,
            seq: 0,
        };
        let _ = state.claims.insert(me, claim);
        let position = Position { seq: 1, x: 4, y: 5 };
        let _ = state.positions.insert(7, position, clock.now(1_000));
        let first = Instant::now();
        assert_eq!(seen.note(&state, first), 2);
        // Held again later: still arrived at the first stamp.
        assert_eq!(seen.note(&state, first + Duration::from_millis(5)), 0);
        let written = |kind, seq| Written {
            agent: 7,
            seq,
            kind,
            at: first,
        };
        assert_eq!(seen.arrival(&written(Kind::Claim(3), 0)), Some(first));
        // A newer position stands for the older writes it overwrote.
        assert_eq!(seen.arrival(&written(Kind::Position, 0)), Some(first));
        assert_eq!(seen.arrival(&written(Kind::Position, 1)), Some(first));
        assert_eq!(seen.arrival(&written(Kind::Position, 2)), None);
        assert_eq!(seen.arrival(&written(Kind::Claim(4), 0)), None);
        assert!(seen.claims.capacity() >= 200 && seen.positions.capacity() >= 200);
    }

    #[test]
    fn a_run_whose_updates_all_arrived_gets_no_note_and_one_behind_names_the_lighter_settings() {
        let waited = Duration::from_secs(10);
        assert_eq!(behind_note(200, 200, waited, &args(&[])), None);
        let signed = behind_note(200, 186, waited, &args(&[])).expect("14 missed");
        assert!(signed.starts_with("note: 14 of 200 updates had not reached every live agent 10 s"));
        assert!(signed.contains("--unsigned"));
        let unsigned = behind_note(50, 49, waited, &args(&["--unsigned"])).expect("1 missed");
        assert!(unsigned.contains("1 of 50") && !unsigned.contains("--unsigned"));
    }
}
