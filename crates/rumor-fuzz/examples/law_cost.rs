//! What one `merge_laws_*` fuzz input costs, law by law: a table of the mean
//! time per input of every law of the kit and of `check_all` (which plays the
//! history once for all of them), over the same 200 pseudo-random inputs of
//! 200 to 1,000 bytes (about 40 steps each, as the fuzzer's inputs grow to).
//!
//! ```text
//! cargo run --release -p rumor-fuzz --example law_cost
//! ```
//!
//! Built without the fuzzer's coverage instrumentation, so the times are
//! several times lower than under `fuzz/run.sh`; the ratios between laws
//! are what it is for.

// A bench command: its table is its output.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use rumor_laws::models::{GCounterModel, LwwMapModel, MvRegisterModel, OrMapModel, OrSetModel};
use rumor_laws::{History, Law, Model};

/// Inputs per type.
const INPUTS: usize = 200;

/// The same inputs every run: a linear congruential generator's bytes.
fn inputs<M: Model>() -> Vec<History<M::Op>>
where
    M::Op: for<'a> Arbitrary<'a>,
{
    let mut seed = 12_345_u64;
    let mut byte = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as u8
    };
    (0..INPUTS)
        .filter_map(|i| {
            let bytes: Vec<u8> = (0..200 + (i * 7) % 800).map(|_| byte()).collect();
            History::<M::Op>::arbitrary_take_rest(Unstructured::new(&bytes)).ok()
        })
        .collect()
}

/// Mean time per input of `check` over `inputs`.
fn mean<O>(inputs: &[History<O>], mut check: impl FnMut(&History<O>)) -> Duration {
    let start = Instant::now();
    for history in inputs {
        check(history);
    }
    start.elapsed() / u32::try_from(inputs.len().max(1)).unwrap_or(u32::MAX)
}

/// One column of the table: every law's mean time on `M`'s inputs.
fn column<M: Model>() -> (f64, Vec<Duration>)
where
    M::Op: for<'a> Arbitrary<'a>,
{
    let inputs = inputs::<M>();
    let steps = inputs.iter().map(|h| h.steps.len()).sum::<usize>() as f64;
    let mut times: Vec<Duration> = Law::ALL
        .iter()
        .map(|law| {
            mean(&inputs, |h| {
                law.check::<M>(h).expect("rumor's own types keep every law")
            })
        })
        .collect();
    times.push(mean(&inputs, |h| {
        rumor_laws::check_all::<M>(h).expect("rumor's own types keep every law")
    }));
    (steps / inputs.len().max(1) as f64, times)
}

fn main() {
    let columns = [
        ("GCounter", column::<GCounterModel>()),
        ("LwwMap", column::<LwwMapModel>()),
        ("OrSet", column::<OrSetModel>()),
        ("OrMap", column::<OrMapModel<OrSetModel>>()),
        ("MvRegister", column::<MvRegisterModel>()),
    ];
    print!("{:<56}", "µs per input (mean steps per history)");
    for (name, (steps, _)) in &columns {
        print!("{:>18}", format!("{name} ({steps:.1})"));
    }
    println!();
    let rows = Law::ALL.iter().map(|law| law.name()).chain(["check_all"]);
    for (row, name) in rows.enumerate() {
        print!("{name:<56}");
        for (_, (_, times)) in &columns {
            print!("{:>18.1}", times[row].as_secs_f64() * 1e6);
        }
        println!();
    }
}
