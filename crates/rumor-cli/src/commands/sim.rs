//! `rumor sim`: the swarm's report from the deterministic simulator
//! (`rumor-sim`), at 10,000 agents and more, in virtual time.
//!
//! The same shared state and writes as `rumor swarm` (positions and task
//! claims), written at a steady rate by random live agents; the simulator
//! records when each agent first held each update (an LWW position counts
//! once the agent holds it or a later write of the same key). Traffic is the
//! simulator's count of messages and encoded bytes (payload and control)
//! from the first write until every live agent held every update. Killed
//! agents are crashed halfway through the writes; the time until each live
//! agent reported them down comes from the nodes' membership events (full
//! views only: a partial view never knows every member).

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rumor_crdt::{Hlc, LwwMap, OrSet};
use rumor_gossip::{Config, Event};
use rumor_sim::{Cpu, Kinds, NetConfig, SimConfig, Simulator, Topology};
use serde::Serialize;

use super::StrategyArg;
use crate::report::{CurvePoint, Dead, KindRate, Percentiles, Report, Run, Traffic, Updates};
use crate::shared::{Claim, Position, Shared};

const EXAMPLES: &str = "\
Examples:
  rumor sim                                  10,000 agents, full views, eager, 1 ms links
  rumor sim --compare                        FullState, Delta, DeltaOptimized, Eager side by side
  rumor sim --partial --agents 100000        HyParView partial views
  rumor sim --signed --strategy eager        every write signed by its author
  rumor sim --loss 0.1 --latency 1-20        10 % loss, latency drawn from 1 to 20 ms
  rumor sim --partition 2000 --churn 0.01    halves split for 2 s; 1 % of agents restart each second
  rumor sim --agents 1000 --partial --cpu 2x22   every message costs 22 µs of one of 2 cores
  rumor sim --agents 1000 --json --seed 3";

/// Virtual time allowed after the last write for every live agent to hold
/// every update.
const DRAIN_MS: u64 = 60_000;
/// Virtual time allowed after the crash for every live agent to report the
/// killed ones down.
const DEAD_MS: u64 = 20_000;

/// The options of `rumor sim`.
#[derive(Debug, clap::Args, Serialize)]
#[command(after_help = EXAMPLES)]
pub(crate) struct Args {
    /// Simulated agents.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub(crate) agents: u32,
    /// Partial views (HyParView) instead of full views: for 100,000 agents
    /// and more.
    #[arg(long)]
    pub(crate) partial: bool,
    /// Every agent signs its writes (ed25519) and accepts only signed
    /// deltas on the eager path: to measure what signing costs.
    #[arg(long)]
    pub(crate) signed: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) gossip: super::GossipArgs,
    /// Run every strategy (full-state, delta, delta-optimized, eager) with
    /// the same seed, side by side in one table.
    #[arg(long, conflicts_with = "strategy")]
    pub(crate) compare: bool,
    /// Updates written, at a steady rate over --duration.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) updates: u64,
    /// Virtual seconds of writing.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = super::seconds)]
    pub(crate) duration: f64,
    /// Share of messages lost (0.1 = 10 %).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = super::probability)]
    pub(crate) loss: f64,
    /// One-way latency in ms: one value, or a range MIN-MAX drawn uniformly
    /// per message.
    #[arg(long, value_name = "MS[-MS]", default_value = "1", value_parser = super::latency)]
    pub(crate) latency: super::Latency,
    /// Model one host's CPU shared by every agent, as `rumor swarm` runs
    /// them: CORESxUS, each message costing US microseconds of one of CORES
    /// cores (sent and handled), and delivered no earlier than the CPU has
    /// done it; eager pushes go first. `2x22` is about `rumor swarm` on 2
    /// cores. Off by default: the simulator's CPU is free.
    #[arg(long, value_name = "CORESxUS", value_parser = cpu)]
    pub(crate) cpu: Option<CpuArg>,
    /// With `--cpu`: every message in one queue, in the order sent (by
    /// default eager pushes go before the rest, as the runtime runs a
    /// forward before the timers queued meanwhile).
    #[arg(long, requires = "cpu")]
    pub(crate) cpu_fifo: bool,
    /// Split the agents in two halves for this many ms from the first write,
    /// then heal.
    #[arg(long, value_name = "MS")]
    pub(crate) partition: Option<u64>,
    /// Share of the live agents crashed each virtual second while writing,
    /// each restarted (with its state) a second later.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = super::probability)]
    pub(crate) churn: f64,
    /// Agents crashed halfway through the writes, for good.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) kill: u32,
    /// Seed of the network, the nodes and the writes: the same seed replays
    /// the same run.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) output: super::OutputArgs,
}

/// A modelled host CPU (`--cpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct CpuArg {
    pub(crate) cores: u32,
    pub(crate) us_per_message: u32,
}

/// Parses `CORESxUS`, for example `2x22`.
fn cpu(text: &str) -> Result<CpuArg, String> {
    let (cores, us) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}` is not CORESxUS (for example 2x22)"))?;
    let number = |t: &str, what: &str, max: u32| {
        t.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("`{t}` is not a number of {what} in 1..={max}"))
    };
    Ok(CpuArg {
        cores: number(cores, "cores", 4_096)?,
        us_per_message: number(us, "microseconds", 1_000_000)?,
    })
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
    let strategies: Vec<StrategyArg> = if args.compare {
        vec![
            StrategyArg::FullState,
            StrategyArg::Delta,
            StrategyArg::DeltaOptimized,
            StrategyArg::Eager,
        ]
    } else {
        vec![args.gossip.strategy]
    };
    let mut runs = Vec::new();
    for strategy in strategies {
        runs.push(simulate(args, strategy));
    }
    let mut settings = serde_json::to_value(args).context("the settings")?;
    if args.compare {
        settings["strategy"] = serde_json::Value::Null;
    }
    let report = Report {
        interrupted: false,
        command: "sim",
        settings,
        runs,
    };
    if let Some(path) = &args.output.plot {
        crate::plot::write_svg(&report, path)?;
    }
    crate::output::print(&report, args.output.json)
}

/// One write in the simulator: its record index, and whether it was a
/// position.
fn write(
    sim: &mut Simulator<Shared>,
    clocks: &mut HashMap<u32, Hlc>,
    agent: u32,
    seq: u32,
    rng: &mut Pcg64Mcg,
    tasks: u32,
) -> Option<usize> {
    let now = sim.now();
    if rng.random_bool(0.5) {
        let replica = sim.replica_id(agent);
        let ts = clocks
            .entry(agent)
            .or_insert_with(|| Hlc::new(replica))
            .now(now);
        let position = Position {
            seq,
            x: rng.random_range(-1_000..1_000),
            y: rng.random_range(-1_000..1_000),
        };
        sim.update(agent, |s, _| Shared {
            positions: s.positions.insert(agent, position, ts).unwrap_or_default(),
            claims: OrSet::new(),
        })
    } else {
        let claim = Claim {
            task: rng.random_range(0..tasks),
            agent,
            seq,
        };
        sim.update(agent, |s, me| Shared {
            positions: LwwMap::new(),
            claims: s.claims.insert(me, claim),
        })
    }
}

#[allow(clippy::too_many_lines)]
fn simulate(args: &Args, strategy: StrategyArg) -> Run {
    let n = args.agents;
    let topology = if args.partial {
        Topology::partial()
    } else {
        Topology::Full
    };
    let warm_up = match &topology {
        Topology::Partial { join_window_ms, .. } => join_window_ms + 1_000,
        _ => 1_000,
    };
    let config = SimConfig {
        nodes: n,
        topology,
        seed: args.seed,
        node: Config {
            interval_ms: args.gossip.interval,
            fanout: args.gossip.fanout as usize,
            strategy: strategy.strategy(),
            ..Config::default()
        },
        net: NetConfig {
            latency_ms: (args.latency.min, args.latency.max),
            // Partial views join without loss; the loss starts with the writes.
            loss: 0.0,
            duplicate: 0.0,
        },
        signed: args.signed,
    };
    let duration_ms = (args.duration * 1_000.0).round() as u64;
    let bar = crate::output::progress(
        warm_up + duration_ms + 5_000,
        "virtual ms",
        args.output.json,
    );
    bar.set_message(format!("{} · {n} agents · building", strategy.name()));
    let mut sim = Simulator::new(config, |_| Shared::default());
    sim.set_cpu(args.cpu.map(|cpu| Cpu {
        cores: cpu.cores,
        us_per_message: cpu.us_per_message,
        pushes_first: !args.cpu_fifo,
    }));
    // No decode-and-compare of every message (the test suites check the codec;
    // a command must not panic on it): the same run, faster. Bytes are still
    // the encoded lengths.
    sim.set_codec(false);
    let mut rng = Pcg64Mcg::seed_from_u64(args.seed ^ 0x005e_ed0f_5717);
    let mut clocks: HashMap<u32, Hlc> = HashMap::new();
    let advance = |sim: &mut Simulator<Shared>, until: u64, bar: &indicatif::ProgressBar| {
        while sim.now() < until {
            let step = (until - sim.now()).min(100);
            sim.run_for(step);
            bar.set_position(sim.now());
        }
    };
    bar.set_message(format!("{} · {n} agents · warming up", strategy.name()));
    advance(&mut sim, warm_up, &bar);
    sim.set_loss(args.loss);

    let start = sim.now();
    let before = sim.stats();
    let tasks = (2 * n).max(4);
    let gap = duration_ms as f64 / args.updates as f64;
    let mut partitioned = false;
    if let Some(ms) = args.partition.filter(|&ms| ms > 0) {
        sim.partition(|i| u32::from(i >= n / 2));
        partitioned = true;
        bar.set_message(format!("{} · partitioned for {ms} ms", strategy.name()));
    }
    let heal_at = start + args.partition.unwrap_or(0);
    let mut killed: Vec<u32> = Vec::new();
    let mut crashed_at = 0;
    let mut churned: HashSet<u32> = HashSet::new();
    let mut down: Vec<u32> = Vec::new();
    let mut next_churn = start + 1_000;
    let mut records: Vec<usize> = Vec::new();
    let mut seqs: HashMap<u32, u32> = HashMap::new();
    let kill_at = args.updates / 2;
    for k in 0..args.updates {
        let due = start + (gap * k as f64).round() as u64;
        while partitioned && heal_at <= due && sim.now() < heal_at {
            advance(&mut sim, heal_at, &bar);
        }
        if partitioned && sim.now() >= heal_at {
            sim.heal();
            partitioned = false;
        }
        while args.churn > 0.0 && next_churn <= due {
            advance(&mut sim, next_churn, &bar);
            for i in down.drain(..) {
                sim.restart(i, true);
            }
            let count = (f64::from(n) * args.churn).round() as u32;
            for _ in 0..count {
                let i = rng.random_range(0..n);
                if sim.is_alive(i) && !killed.contains(&i) {
                    sim.crash(i);
                    down.push(i);
                    churned.insert(i);
                }
            }
            next_churn += 1_000;
        }
        advance(&mut sim, due, &bar);
        if k == kill_at && args.kill > 0 {
            crashed_at = sim.now();
            while killed.len() < args.kill as usize {
                let v = rng.random_range(0..n);
                if sim.is_alive(v) && !killed.contains(&v) {
                    sim.crash(v);
                    killed.push(v);
                }
            }
        }
        let agent = loop {
            let i = rng.random_range(0..n);
            if sim.is_alive(i) {
                break i;
            }
        };
        let seq = seqs.entry(agent).or_default();
        *seq += 1;
        let seq = *seq;
        if let Some(r) = write(&mut sim, &mut clocks, agent, seq, &mut rng, tasks) {
            records.push(r);
        }
    }
    advance(&mut sim, start + duration_ms, &bar);
    if partitioned {
        advance(&mut sim, heal_at, &bar);
        sim.heal();
    }
    for i in down.drain(..) {
        sim.restart(i, true);
    }

    bar.set_message(format!(
        "{} · until every live agent holds every update",
        strategy.name()
    ));
    bar.set_length(sim.now() + 5_000);
    let drain_end = sim.now() + DRAIN_MS;
    while !sim.all_delivered() && sim.now() < drain_end {
        sim.run_for(args.gossip.interval);
        bar.set_position(sim.now());
        if sim.now() + 1_000 > bar.length().unwrap_or(0) {
            bar.set_length(sim.now() + 5_000);
        }
    }
    let after = sim.stats();
    let busy_ms = sim.now() - start;

    // The killed agents, reported down by every live agent (full views).
    let live: Vec<u32> = (0..n).filter(|&i| sim.is_alive(i)).collect();
    let dead = (!killed.is_empty() && !args.partial).then(|| {
        bar.set_message(format!(
            "{} · until the killed are reported down",
            strategy.name()
        ));
        let deadline = crashed_at + DEAD_MS;
        // Per killed agent: the live agents that reported it down, and when the last did.
        let mut by: HashMap<u32, HashSet<u32>> = HashMap::new();
        let mut last: HashMap<u32, u64> = HashMap::new();
        let mut read = 0;
        let mut all_down = |sim: &Simulator<Shared>| -> Vec<Option<u64>> {
            let events = sim.member_events();
            for e in &events[read..] {
                if let Event::MemberDown(v) = e.event {
                    if e.at_ms >= crashed_at && killed.contains(&v) && sim.is_alive(e.observer) {
                        by.entry(v).or_default().insert(e.observer);
                        let l = last.entry(v).or_default();
                        *l = (*l).max(e.at_ms);
                    }
                }
            }
            read = events.len();
            killed
                .iter()
                .map(|v| {
                    let observers = by.get(v).map_or(0, HashSet::len);
                    (observers >= live.len()).then(|| last[v] - crashed_at)
                })
                .collect()
        };
        let mut when = all_down(&sim);
        while when.iter().any(Option::is_none) && sim.now() < deadline {
            sim.run_for(args.gossip.interval.max(100));
            bar.set_position(sim.now());
            when = all_down(&sim);
        }
        let mut detected: Vec<f64> = when.iter().flatten().map(|&ms| ms as f64).collect();
        let live_held_dead = sim
            .member_events()
            .iter()
            .filter_map(|e| match e.event {
                Event::MemberDown(v) if sim.is_alive(v) && !churned.contains(&v) => Some(v),
                _ => None,
            })
            .collect::<HashSet<u32>>()
            .len() as u64;
        Dead {
            killed: killed.len() as u64,
            declared_dead_by_all: detected.len() as u64,
            to_all_ms: Percentiles::of(&mut detected),
            live_held_dead,
        }
    });
    bar.finish_and_clear();

    let mut each = Vec::with_capacity(records.len());
    let mut offsets = Vec::new();
    for &r in &records {
        let record = &sim.updates()[r];
        let mut latest = Some(0);
        for &i in &live {
            match record.reached_ms[i as usize] {
                Some(at) => {
                    let after = at.saturating_sub(record.at_ms);
                    offsets.push(after as f64);
                    latest = latest.map(|l: u64| l.max(after));
                }
                None => latest = None,
            }
        }
        each.push(latest.map(|l| l as f64));
    }
    let mut to_all: Vec<f64> = each.iter().flatten().copied().collect();
    let curve: Vec<CurvePoint> =
        super::swarm::infection_curve(&mut offsets, records.len() * live.len());

    let updates = records.len() as u64;
    let messages = after.messages - before.messages;
    let bytes =
        (after.payload_bytes + after.control_bytes) - (before.payload_bytes + before.control_bytes);
    let per = |total: u64, by: f64| if by > 0.0 { total as f64 / by } else { 0.0 };
    let agent_secs = f64::from(n) * busy_ms as f64 / 1_000.0;
    Run {
        strategy: strategy.name().to_string(),
        agents: n,
        formation_ms: Some(0.0),
        tree_ms: None,
        updates: Updates {
            written: updates,
            reached_all: to_all.len() as u64,
            to_all_ms: Percentiles::of(&mut to_all),
            each_to_all_ms: each,
        },
        traffic: Traffic {
            messages,
            bytes,
            messages_per_update: per(messages, updates as f64),
            bytes_per_update: per(bytes, updates as f64),
            messages_per_agent_per_s: per(messages, agent_secs),
            bytes_per_agent_per_s: per(bytes, agent_secs),
            idle_messages_per_agent_per_s: None,
            idle_bytes_per_agent_per_s: None,
            by_kind: kinds(&before.kinds, &after.kinds)
                .into_iter()
                .map(|(kind, count)| KindRate {
                    kind,
                    messages_per_agent_per_s: per(count, agent_secs),
                    idle_messages_per_agent_per_s: None,
                })
                .collect(),
        },
        dead,
        cpu: None,
        curve,
    }
}

/// The messages of each kind sent between two snapshots.
fn kinds(before: &Kinds, after: &Kinds) -> [(&'static str, u64); 7] {
    [
        ("push", after.pushes - before.pushes),
        ("i-have", after.announcements - before.announcements),
        ("graft", after.grafts - before.grafts),
        (
            "prune",
            after.prunes_and_connects - before.prunes_and_connects,
        ),
        ("probe", after.probes - before.probes),
        ("sync", after.syncs - before.syncs),
        ("view", after.views - before.views),
    ]
}
