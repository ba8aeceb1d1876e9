//! The `rumor` command: a swarm of real agents on loopback (`rumor swarm`)
//! and the simulator (`rumor sim`), each printing how fast updates spread,
//! what that cost, and how fast a crashed agent was declared dead; one
//! real, long-running agent (`rumor node`) and its keys (`rumor keygen`,
//! `rumor keys`).
//!
//! `main` parses, runs one command, and maps what went wrong to a message
//! and an exit code: 0 on success (a closed stdout, as in `rumor swarm |
//! head`, too), 1 when the command failed, 2 for bad arguments.

mod agent_state;
mod commands;
mod control;
mod output;
mod plot;
mod prometheus;
mod report;
mod request;
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
  rumor keygen --out cluster.key    a new cluster key, in a file only you may read
  rumor node --bind 10.0.0.2:7946 --join 10.0.0.1:7946 --key-file cluster.key
                                    one real agent; type `set k v`, `get k`, `help` on its stdin
  rumor keys list --control /run/rumor.sock
                                    the keyring of a node started with --control
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
    /// One real, long-running agent: joins a cluster, takes commands on
    /// stdin, prints the changes that arrive.
    Node(commands::node::Args),
    /// A new cluster key (printed, or written to a 0600 file).
    Keygen(commands::keygen::Args),
    /// The keyring of a running node, through its control socket.
    Keys(commands::keys::Args),
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
        Command::Node(args) => commands::node::run(&args),
        Command::Keygen(args) => commands::keygen::run(&args),
        Command::Keys(args) => commands::keys::run(&args),
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
