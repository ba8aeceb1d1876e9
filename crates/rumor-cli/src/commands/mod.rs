//! One module per command, each with its clap `Args` and `run`; the option
//! parsers they share.

pub(crate) mod keygen;
pub(crate) mod keys;
pub(crate) mod node;
pub(crate) mod sim;
pub(crate) mod swarm;

use clap::ValueEnum;
use rumor_gossip::Strategy;
use serde::Serialize;

/// `--strategy`: how deltas spread (`rumor_gossip::Strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum StrategyArg {
    /// Push-pull the whole state every interval.
    FullState,
    /// Delta-interval anti-entropy: push the deltas a peer has not acknowledged.
    Delta,
    /// Delta, without back-propagation, with redundancy removal and feedback.
    DeltaOptimized,
    /// Eager forwarding on a broadcast tree (Plumtree), anti-entropy beneath.
    Eager,
}

impl StrategyArg {
    pub(crate) const fn strategy(self) -> Strategy {
        match self {
            Self::FullState => Strategy::FullState,
            Self::Delta => Strategy::Delta,
            Self::DeltaOptimized => Strategy::DeltaOptimized,
            Self::Eager => Strategy::Eager,
        }
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::FullState => "full-state",
            Self::Delta => "delta",
            Self::DeltaOptimized => "delta-optimized",
            Self::Eager => "eager",
        }
    }
}

/// A latency range in ms.
/// How the agents gossip: the options `rumor swarm` and `rumor sim` share.
#[derive(Debug, clap::Args, Serialize)]
pub(crate) struct GossipArgs {
    /// Milliseconds between two anti-entropy rounds of each agent.
    #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub(crate) interval: u64,
    /// Peers each agent contacts per round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) fanout: u32,
    /// How deltas spread.
    #[arg(long, value_enum, default_value_t = StrategyArg::Eager)]
    pub(crate) strategy: StrategyArg,
}

/// What `rumor swarm` and `rumor sim` print and draw.
#[derive(Debug, clap::Args, Serialize)]
pub(crate) struct OutputArgs {
    /// Print one JSON object instead of the table (and no progress bar).
    #[arg(long)]
    pub(crate) json: bool,
    /// Also draw the infection curve (share of agents holding an update
    /// against the time since it was written, percentiles marked) to this
    /// SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Latency {
    pub(crate) min: u64,
    pub(crate) max: u64,
}

/// `--latency MS` or `--latency MIN-MAX`.
pub(crate) fn latency(text: &str) -> Result<Latency, String> {
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a whole number of milliseconds"))
    };
    let (min, max) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let v = number(text)?;
            (v, v)
        }
    };
    if min > max || max > 60_000 {
        return Err(format!(
            "{min}-{max} ms is not a range of latencies (MIN ≤ MAX ≤ 60000)"
        ));
    }
    Ok(Latency { min, max })
}

impl Latency {
    /// The range as the transport's injected latency.
    pub(crate) const fn injected(self) -> rumor_net::Latency {
        rumor_net::Latency::between(
            std::time::Duration::from_millis(self.min),
            std::time::Duration::from_millis(self.max),
        )
    }
}

/// A probability in [0, 1) (`--loss`).
pub(crate) fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number (expected e.g. 0.1 for 10 %)"))?;
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is not a probability in [0, 1) (0.1 means 10 %)"
        ))
    }
}

/// A positive number of seconds, at most an hour (`--duration`).
pub(crate) fn seconds(text: &str) -> Result<f64, String> {
    positive_at_most(text, 3_600.0, "a number of seconds", " s")
}

/// A positive rate (`--writes-per-sec`), at most 100,000.
pub(crate) fn rate(text: &str) -> Result<f64, String> {
    positive_at_most(text, 100_000.0, "a number", "")
}

/// `text` as a number above 0 and at most `max`; the errors name `what`
/// the text should be and print the value with `unit`.
fn positive_at_most(text: &str, max: f64, what: &str, unit: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not {what}"))?;
    if value > 0.0 && value <= max {
        Ok(value)
    } else {
        Err(format!(
            "{value}{unit} is out of range (more than 0, at most {max})"
        ))
    }
}
