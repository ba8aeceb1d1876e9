//! One report for every command and every rendering: the table people read,
//! and the JSON object machines read (`--json`), from the same struct.

use std::fmt::Write as _;

use serde::Serialize;

/// What one command measured: its settings and one run per strategy
/// (`swarm` has one; `sim --compare` has four).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// Cut short by Ctrl-C: the numbers cover what was written until then.
    pub(crate) interrupted: bool,
    /// `"swarm"` or `"sim"`.
    pub(crate) command: &'static str,
    /// The options the command ran with.
    pub(crate) settings: serde_json::Value,
    pub(crate) runs: Vec<Run>,
}

/// The numbers of one run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Run {
    /// The dissemination strategy.
    pub(crate) strategy: String,
    pub(crate) agents: u32,
    /// Time (ms) until every agent had found every other (`swarm`; `None`
    /// when they had not by the deadline); 0 where membership is given (`sim`).
    pub(crate) formation_ms: Option<f64>,
    /// Time (ms) from the same start until the agents' rooted tree had
    /// formed (`swarm` over partial views with the rooted tree; the writes
    /// wait for it): `Some(None)` when it had not by the deadline, `None`
    /// where there is no such tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tree_ms: Option<Option<f64>>,
    pub(crate) updates: Updates,
    pub(crate) traffic: Traffic,
    /// Agents crashed on purpose, and how long until all others held them
    /// dead; `None` when none was killed.
    pub(crate) dead: Option<Dead>,
    /// The process's CPU time while idle and while writing (`swarm` on
    /// Linux); `None` where not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu: Option<CpuUse>,
    /// The infection curve: the share of (update, live agent) pairs held,
    /// against the time since the write.
    pub(crate) curve: Vec<CurvePoint>,
}

/// One point of the infection curve.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct CurvePoint {
    /// Time since the write.
    pub(crate) ms: f64,
    /// Share of (update, live agent) pairs held by then, 0 to 1.
    pub(crate) share: f64,
}

/// The updates written, and how long each took to reach every agent.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Updates {
    pub(crate) written: u64,
    /// Updates that reached every agent that was alive at the end.
    pub(crate) reached_all: u64,
    /// Time from the write until the last live agent had it, over the
    /// updates that reached all; `None` when none did.
    pub(crate) to_all_ms: Option<Percentiles>,
    /// Each update's time to all, in the order written (`null` where it
    /// did not reach every live agent): the numbers behind `to_all_ms`, so
    /// that runs can be pooled (a run's p99 of 200 writes is its third
    /// slowest; 10 runs pooled give the 20th slowest of 2,000).
    pub(crate) each_to_all_ms: Vec<Option<f64>>,
}

/// Traffic while updates were written (membership and failure detection
/// included: this is what the network carried).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Traffic {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) messages_per_update: f64,
    pub(crate) bytes_per_update: f64,
    pub(crate) messages_per_agent_per_s: f64,
    pub(crate) bytes_per_agent_per_s: f64,
    /// The same rates with no update written (before the writes began), for
    /// the control traffic alone; `None` where not measured.
    pub(crate) idle_messages_per_agent_per_s: Option<f64>,
    pub(crate) idle_bytes_per_agent_per_s: Option<f64>,
    /// Messages by kind (probe, view, sync, tree), where counted by kind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) by_kind: Vec<KindRate>,
}

/// The messages of one kind, per agent per second, while updates were
/// written and idle.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct KindRate {
    pub(crate) kind: &'static str,
    pub(crate) messages_per_agent_per_s: f64,
    /// `None` where not measured (the simulator's runs).
    pub(crate) idle_messages_per_agent_per_s: Option<f64>,
}

/// CPU time of the whole process (user and system, every thread): in one
/// process, every agent shares the same cores, and on a busy machine the
/// time a write takes to reach everyone is about the CPU it costs over the
/// cores left.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct CpuUse {
    /// Cores kept busy on average in the second before the writes.
    pub(crate) idle_cores: f64,
    /// Cores kept busy on average while writing (until every update had
    /// arrived).
    pub(crate) busy_cores: f64,
    /// CPU time an update cost beyond the idle rate (ms): its copies, their
    /// receptions and forwards, its announcements and prunes, by every agent.
    pub(crate) per_update_ms: f64,
    /// [`per_update_ms`](Self::per_update_ms) over the agents (µs).
    pub(crate) per_update_per_agent_us: f64,
}

impl CpuUse {
    /// From the CPU time used over the idle window (`idle`, `idle_secs` of
    /// wall time) and the writing one (`busy`, `busy_secs`), for `updates`
    /// updates among `agents` agents.
    pub(crate) fn of(
        (idle, idle_secs): (f64, f64),
        (busy, busy_secs): (f64, f64),
        updates: u64,
        agents: u32,
    ) -> Option<Self> {
        if idle_secs <= 0.0 || busy_secs <= 0.0 || updates == 0 || agents == 0 {
            return None;
        }
        let idle_cores = idle / idle_secs;
        let beyond = (busy - idle_cores * busy_secs).max(0.0);
        let per_update_ms = beyond * 1_000.0 / updates as f64;
        Some(Self {
            idle_cores,
            busy_cores: busy / busy_secs,
            per_update_ms,
            per_update_per_agent_us: per_update_ms * 1_000.0 / f64::from(agents),
        })
    }
}

/// Killed agents and their detection.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Dead {
    pub(crate) killed: u64,
    /// Killed agents that every live agent held dead before the deadline.
    pub(crate) declared_dead_by_all: u64,
    /// Time from the crash until the last live agent held it dead.
    pub(crate) to_all_ms: Option<Percentiles>,
    /// Live agents held dead by some live agent at the end (false positives).
    pub(crate) live_held_dead: u64,
}

/// Percentiles of a sample, nearest rank (the smallest value with at least
/// p % of the sample at or below it), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) method: &'static str,
    pub(crate) n: usize,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    /// The percentiles of `sample`; `None` when it is empty.
    pub(crate) fn of(sample: &mut [f64]) -> Option<Self> {
        if sample.is_empty() {
            return None;
        }
        sample.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            // Nearest rank: ceil(p/100 × n), 1-based.
            let n = sample.len() as f64;
            let r = (p / 100.0 * n).ceil().max(1.0) as usize;
            sample[r.min(sample.len()) - 1]
        };
        Some(Self {
            method: "nearest-rank",
            n: sample.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: sample[sample.len() - 1],
        })
    }
}

pub(crate) fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 1_000.0 {
        format!("{value:.1} ms")
    } else {
        format!("{:.2} s", value / 1_000.0)
    }
}

fn count(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn bytes(value: f64) -> String {
    if value >= 10.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", value / (1024.0 * 1024.0))
    } else if value >= 10.0 * 1024.0 {
        format!("{:.1} KiB", value / 1024.0)
    } else {
        format!("{value:.0} B")
    }
}

fn percentile_rows(
    rows: &mut Vec<(String, Vec<String>)>,
    what: &str,
    runs: &[&Option<Percentiles>],
) {
    let pick = |f: fn(&Percentiles) -> f64| -> Vec<String> {
        runs.iter()
            .map(|p| p.as_ref().map_or_else(|| "-".to_string(), |p| ms(f(p))))
            .collect()
    };
    rows.push((format!("{what} p50"), pick(|p| p.p50)));
    rows.push((format!("{what} p90"), pick(|p| p.p90)));
    rows.push((format!("{what} p99"), pick(|p| p.p99)));
    rows.push((format!("{what} max"), pick(|p| p.max)));
}

impl Report {
    /// The table: one row per measure, one column per run.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let runs = &self.runs;
        let each = |f: &dyn Fn(&Run) -> String| runs.iter().map(f).collect::<Vec<_>>();
        rows.push(("strategy".into(), each(&|r| r.strategy.clone())));
        rows.push(("agents".into(), each(&|r| r.agents.to_string())));
        if self.command == "swarm" {
            rows.push((
                "all found each other in".into(),
                each(&|r| {
                    r.formation_ms
                        .map_or_else(|| "not all (deadline)".into(), ms)
                }),
            ));
            if runs.iter().any(|r| r.tree_ms.is_some()) {
                rows.push((
                    "their tree formed in".into(),
                    each(&|r| match r.tree_ms {
                        Some(Some(t)) => ms(t),
                        Some(None) => "not formed (deadline)".into(),
                        None => "no rooted tree".into(),
                    }),
                ));
            }
        }
        rows.push((
            "updates reached all / written".into(),
            each(&|r| format!("{} / {}", r.updates.reached_all, r.updates.written)),
        ));
        let latencies: Vec<&Option<Percentiles>> =
            runs.iter().map(|r| &r.updates.to_all_ms).collect();
        percentile_rows(&mut rows, "update to all", &latencies);
        rows.push((
            "messages per update".into(),
            each(&|r| count(r.traffic.messages_per_update)),
        ));
        rows.push((
            "bytes per update".into(),
            each(&|r| bytes(r.traffic.bytes_per_update)),
        ));
        rows.push((
            "messages per agent per s".into(),
            each(&|r| count(r.traffic.messages_per_agent_per_s)),
        ));
        rows.push((
            "bytes per agent per s".into(),
            each(&|r| bytes(r.traffic.bytes_per_agent_per_s)),
        ));
        if runs
            .iter()
            .any(|r| r.traffic.idle_messages_per_agent_per_s.is_some())
        {
            rows.push((
                "idle: messages per agent per s".into(),
                each(&|r| {
                    r.traffic
                        .idle_messages_per_agent_per_s
                        .map_or_else(|| "-".into(), count)
                }),
            ));
            rows.push((
                "idle: bytes per agent per s".into(),
                each(&|r| {
                    r.traffic
                        .idle_bytes_per_agent_per_s
                        .map_or_else(|| "-".into(), bytes)
                }),
            ));
        }
        let mut kinds: Vec<&'static str> = Vec::new();
        for kind in runs
            .iter()
            .flat_map(|r| r.traffic.by_kind.iter().map(|k| k.kind))
        {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        for kind in kinds {
            let rate = |r: &Run| r.traffic.by_kind.iter().find(|k| k.kind == kind).cloned();
            rows.push((
                format!("  {kind}: messages per agent per s"),
                each(&|r| {
                    rate(r).map_or_else(|| "-".into(), |k| count(k.messages_per_agent_per_s))
                }),
            ));
            rows.push((
                format!("  {kind}: idle"),
                each(&|r| {
                    rate(r)
                        .and_then(|k| k.idle_messages_per_agent_per_s)
                        .map_or_else(|| "-".into(), count)
                }),
            ));
        }
        if runs.iter().any(|r| r.cpu.is_some()) {
            rows.push((
                "CPU: cores busy idle / writing".into(),
                each(&|r| {
                    r.cpu.map_or_else(
                        || "-".into(),
                        |c| format!("{:.2} / {:.2}", c.idle_cores, c.busy_cores),
                    )
                }),
            ));
            rows.push((
                "CPU an update cost beyond idle".into(),
                each(&|r| {
                    r.cpu.map_or_else(
                        || "-".into(),
                        |c| {
                            format!(
                                "{} ({:.1} µs an agent)",
                                ms(c.per_update_ms),
                                c.per_update_per_agent_us
                            )
                        },
                    )
                }),
            ));
        }
        if runs.iter().any(|r| r.dead.is_some()) {
            rows.push((
                "killed: declared dead by all".into(),
                each(&|r| {
                    r.dead.as_ref().map_or_else(
                        || "-".into(),
                        |d| format!("{} / {}", d.declared_dead_by_all, d.killed),
                    )
                }),
            ));
            let none = None;
            let dead: Vec<&Option<Percentiles>> = runs
                .iter()
                .map(|r| r.dead.as_ref().map_or(&none, |d| &d.to_all_ms))
                .collect();
            percentile_rows(&mut rows, "crash to dead by all", &dead);
            rows.push((
                "live agents held dead".into(),
                each(&|r| {
                    r.dead
                        .as_ref()
                        .map_or_else(|| "-".into(), |d| d.live_held_dead.to_string())
                }),
            ));
        }

        let name_width = rows
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..runs.len())
            .map(|i| {
                rows.iter()
                    .map(|(_, v)| v[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        if self.interrupted {
            out.push_str("interrupted (Ctrl-C): a partial report of what was written until then\n");
        }
        for (name, values) in &rows {
            let _ = write!(out, "{name:<name_width$}");
            for (value, width) in values.iter().zip(&widths) {
                let _ = write!(out, "  {value:>width$}");
            }
            out.push('\n');
        }
        out.push_str(
            "percentiles: nearest rank over the updates (n) that reached every live agent\n",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut sample: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&mut sample).expect("a sample");
        assert_eq!(
            (p.n, p.p50, p.p90, p.p99, p.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        let p = Percentiles::of(&mut [7.0]).expect("a sample");
        assert_eq!((p.p50, p.p99, p.max), (7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(&mut []), None);
    }

    #[test]
    fn an_updates_cpu_is_what_the_writing_window_took_beyond_the_idle_rate() {
        // Idle: 0.5 s of CPU in 1 s. Writing: 6 s of CPU in 10 s, of which
        // 5 s is the idle rate: 1 s over 50 updates among 1,000 agents.
        let cpu = CpuUse::of((0.5, 1.0), (6.0, 10.0), 50, 1_000).expect("measured");
        assert!((cpu.idle_cores - 0.5).abs() < 1e-9);
        assert!((cpu.busy_cores - 0.6).abs() < 1e-9);
        assert!((cpu.per_update_ms - 20.0).abs() < 1e-9);
        assert!((cpu.per_update_per_agent_us - 20.0).abs() < 1e-9);
        // Busier idle than writing (noise): no negative cost.
        let cpu = CpuUse::of((1.0, 1.0), (5.0, 10.0), 50, 1_000).expect("measured");
        assert_eq!(cpu.per_update_ms, 0.0);
        assert!(CpuUse::of((0.5, 0.0), (6.0, 10.0), 50, 1_000).is_none());
        assert!(CpuUse::of((0.5, 1.0), (6.0, 10.0), 0, 1_000).is_none());
    }
}
