//! `rumor sim`: the swarm's report from the deterministic simulator.

use serde::Serialize;

/// The options of `rumor sim`.
#[derive(Debug, clap::Args, Serialize)]
#[command(after_help = "Examples:\n  rumor sim")]
pub(crate) struct Args {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("`rumor sim` is not there yet")
}
