//! The `rumor` command: a swarm of real agents on loopback (`rumor swarm`)
//! and the simulator (`rumor sim`), each printing how fast updates spread,
//! what that cost, and how fast a crashed agent was declared dead.
//!
//! `main` parses, runs one command, and maps what went wrong to a message
//! and an exit code: 0 on success (a closed stdout, as in `rumor swarm |
//! head`, too), 1 when the command failed, 2 for bad arguments.

mod commands;
mod output;
mod plot;
mod report;
mod shared;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  rumor swarm                       200 real agents on 127.0.0.1, authenticated, 10 s
  rumor swarm --agents 1000 --writes-per-sec 5 --loss 0.1 --kill 3
  rumor swarm --agents 20 --duration 2 --json
  rumor sim                         10,000 simulated agents
  rumor sim --compare --plot c.svg  FullState, Delta, DeltaOptimized and Eager side by side
  rumor <command> --help            every option of a command";

/// Delta-state CRDTs and the gossip that spreads them: see how fast a swarm
/// of agents agrees, on this machine or in the simulator.
#[derive(Debug, Parser)]
#[command(name = "rumor", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N agents in this process, each on its own UDP socket on 127.0.0.1,
    /// writing concurrently; prints how long each update took to reach all.
    Swarm(commands::swarm::Args),
    /// The same report from the deterministic simulator, at 10,000 agents
    /// and more.
    Sim(commands::sim::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Swarm(args) => commands::swarm::run(&args),
        Command::Sim(args) => commands::sim::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
