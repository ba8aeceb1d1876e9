//! Scenarios: a list of [`Step`]s run against a [`Simulator`], each check
//! failing with the step that broke and why.

use rumor_crdt::{Crdt, ReplicaId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Simulator, Stats};

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Each listed node writes once (through the scenario's write function).
    Write(Vec<u32>),
    /// Every live node writes once.
    WriteEverywhere,
    /// Lets `ms` milliseconds of virtual time pass.
    Run(u64),
    /// Splits the cluster in two: nodes below `first` on one side.
    Split {
        /// Nodes `0..first` form one side, the rest the other.
        first: u32,
    },
    /// Heals every partition.
    Heal,
    /// Crashes the listed nodes.
    Crash(Vec<u32>),
    /// Restarts the listed nodes, with or without their state.
    Restart {
        /// The nodes.
        nodes: Vec<u32>,
        /// Whether they come back with their replicated state.
        keep_state: bool,
    },
    /// Sets the loss probability.
    Loss(f64),
    /// Runs until every update has reached every live node; fails after
    /// `within_ms`.
    AwaitDelivery {
        /// The time allowed.
        within_ms: u64,
    },
    /// Checks that every live node holds the same state, and that no write
    /// held by a live node is missing from another.
    AssertConverged,
}

/// What a scenario measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Traffic over the whole scenario.
    pub stats: Stats,
    /// Updates written.
    pub updates: usize,
    /// Virtual time at the end.
    pub end_ms: u64,
}

/// The step that failed, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("step {index} ({step:?}) failed: {reason}")]
pub struct ScenarioError {
    /// Index of the failing step.
    pub index: usize,
    /// The failing step.
    pub step: Step,
    /// What was wrong.
    pub reason: String,
}

impl<S> Simulator<S>
where
    S: Crdt + Serialize + DeserializeOwned + Send + Sync + 'static,
    S::Context: Serialize + Send,
{
    /// Runs `steps` in order. `write(state, replica, n)` performs the `n`-th
    /// write of the scenario on a node's state and returns its delta.
    ///
    /// ```
    /// use rumor_crdt::OrSet;
    /// use rumor_sim::{SimConfig, Simulator, Step};
    ///
    /// let mut sim = Simulator::new(SimConfig { nodes: 20, ..SimConfig::default() }, |_| OrSet::new());
    /// let outcome = sim
    ///     .run_steps(
    ///         &[
    ///             Step::Split { first: 10 },
    ///             Step::WriteEverywhere,
    ///             Step::Run(2_000),
    ///             Step::Heal,
    ///             Step::AwaitDelivery { within_ms: 30_000 },
    ///             Step::AssertConverged,
    ///         ],
    ///         |set, me, n| set.insert(me, n),
    ///     )
    ///     .unwrap();
    /// assert_eq!(sim.state(0).len(), 20);
    /// assert_eq!(outcome.updates, 20);
    /// ```
    ///
    /// # Errors
    /// The first step whose check failed.
    pub fn run_steps(
        &mut self,
        steps: &[Step],
        mut write: impl FnMut(&mut S, ReplicaId, u64) -> S,
    ) -> Result<Outcome, ScenarioError> {
        let mut written = 0u64;
        let mut do_write = |sim: &mut Self, node: u32| {
            sim.update(node, |state, me| write(state, me, written));
            written += 1;
        };
        for (index, step) in steps.iter().enumerate() {
            let fail = |reason: String| ScenarioError {
                index,
                step: step.clone(),
                reason,
            };
            match step {
                Step::Write(nodes) => {
                    for &node in nodes {
                        do_write(self, node);
                    }
                }
                Step::WriteEverywhere => {
                    for node in 0..self.len() {
                        do_write(self, node);
                    }
                }
                Step::Run(ms) => self.run_for(*ms),
                Step::Split { first } => {
                    let first = *first;
                    self.partition(move |i| u32::from(i >= first));
                }
                Step::Heal => self.heal(),
                Step::Crash(nodes) => nodes.iter().for_each(|&n| self.crash(n)),
                Step::Restart { nodes, keep_state } => {
                    nodes.iter().for_each(|&n| self.restart(n, *keep_state));
                }
                Step::Loss(loss) => self.set_loss(*loss),
                Step::AwaitDelivery { within_ms } => {
                    if !self.run_until_delivered(*within_ms) {
                        let behind = self
                            .updates()
                            .iter()
                            .map(|u| {
                                u.reached_ms
                                    .iter()
                                    .enumerate()
                                    .filter(|(i, r)| r.is_none() && self.slots[*i].alive)
                                    .count()
                            })
                            .max()
                            .unwrap_or(0);
                        return Err(fail(format!(
                            "not delivered within {within_ms} ms: up to {behind} live nodes lack an update"
                        )));
                    }
                }
                Step::AssertConverged => {
                    let missing = self.missing_writes();
                    if !missing.is_empty() {
                        return Err(fail(format!(
                            "{} (update, node) pairs missing, first {:?}",
                            missing.len(),
                            &missing[..missing.len().min(5)]
                        )));
                    }
                    if !self.converged() {
                        return Err(fail("live replicas differ".into()));
                    }
                }
            }
        }
        Ok(Outcome {
            stats: self.stats(),
            updates: self.updates().len(),
            end_ms: self.now(),
        })
    }
}
