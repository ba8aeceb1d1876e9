//! Replays input files through one fuzz target's body, outside libFuzzer, so
//! a crash shows its panic message and backtrace in a debug build:
//!
//! ```text
//! cargo run -p rumor-fuzz --example replay -- node_handle fuzz/artifacts/node_handle/crash-…
//! RUMOR_FUZZ_TRACE=1 cargo run -p rumor-fuzz --example replay -- node_handle FILE
//! ```
//!
//! `RUMOR_FUZZ_TRACE` makes `node_handle` print its scenario and every
//! message the node sends.
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: replay TARGET FILE...");
        return ExitCode::from(2);
    };
    let Some(&(_, target)) = rumor_fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = rumor_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("no target {name}: one of {}", names.join(", "));
        return ExitCode::from(2);
    };
    for file in args {
        match std::fs::read(&file) {
            Ok(data) => {
                target(&data);
                eprintln!("{file}: no crash");
            }
            Err(error) => {
                eprintln!("{file}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
