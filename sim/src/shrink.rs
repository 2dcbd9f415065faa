//! Schedule shrinking: from a failing run's decisions to a schedule with as few
//! deviations from FIFO order as replay can show, failing the same way.
//!
//! A *deviation* is a decision that did not take the oldest ready task (index ≠ 0).
//! A candidate is a decision list replayed with the [`Replay`] chooser (past its end,
//! FIFO). It is *kept* when its run fails with the same message at the same location,
//! makes no more polls than the original failing run, and the decisions the run
//! actually made are smaller: fewer deviations, else fewer polls, else smaller
//! indices. Passes, repeated to a fixpoint:
//!
//! 1. revert chunks of deviations (halves, quarters, … single ones: delta debugging);
//! 2. lower each remaining deviation's index (to 1, then by one).
//!
//! At the fixpoint the schedule is 1-minimal: reverting any single deviation makes the
//! failure go away — or keeps it only in a run longer than the original failing run,
//! which shrinking never reports (the two promises, "no more polls than the original"
//! and "1-minimal", can conflict; the poll bound wins, and the property test in
//! `sim/tests/it/shrinking.rs` checks exactly this). Each kept candidate strictly decreases a well-founded
//! order, so shrinking terminates; a budget of replays and of time bounds it anyway,
//! and the result says when it stopped early.

use std::time::{Duration, Instant};

use detsim_runtime::RunError;

#[cfg(doc)]
use detsim_runtime::Replay;

/// Limits on shrinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShrinkBudget {
    /// Replays at most.
    pub(crate) replays: u64,
    /// Wall-clock time at most (a safety net; the replay count is the deterministic bound).
    pub(crate) time: Duration,
}

impl Default for ShrinkBudget {
    fn default() -> Self {
        ShrinkBudget {
            replays: 2_000,
            time: Duration::from_secs(10),
        }
    }
}

/// The failure a candidate must reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

impl Signature {
    /// The signature of a run's failure.
    pub(crate) fn of(error: &RunError) -> Signature {
        Signature {
            message: error.message(),
            location: error.location().map(str::to_owned),
        }
    }
}

/// A schedule and how big it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) decisions: Vec<u32>,
    pub(crate) steps: u64,
}

impl Candidate {
    pub(crate) fn deviations(&self) -> usize {
        self.decisions.iter().filter(|&&d| d != 0).count()
    }

    /// The order shrinking descends: deviations, then polls, then the indices.
    fn key(&self) -> (usize, u64, u64) {
        let weight = self.decisions.iter().map(|&d| u64::from(d)).sum();
        (self.deviations(), self.steps, weight)
    }
}

/// What shrinking found.
#[derive(Debug, Clone)]
pub(crate) struct Shrunk {
    pub(crate) best: Candidate,
    pub(crate) replays: u64,
    /// Why shrinking stopped before its fixpoint, if it did.
    pub(crate) stopped_early: Option<String>,
}

/// Shrinks `start` (a failing run of `seed`) while it keeps failing as `signature`.
/// `run` replays a decision list on the runtime and returns the failure's signature.
pub(crate) fn shrink(
    start: Candidate,
    budget: ShrinkBudget,
    mut run: impl FnMut(&[u32]) -> Option<(Signature, Candidate)>,
    signature: &Signature,
) -> Shrunk {
    let mut state = Shrinker {
        max_steps: start.steps,
        best: trimmed(start),
        replays: 0,
        budget,
        started: Instant::now(),
        stopped_early: None,
    };
    loop {
        let before = state.best.key();
        state.revert_chunks(&mut run, signature);
        state.lower_indices(&mut run, signature);
        if state.stopped_early.is_some() || state.best.key() == before {
            break;
        }
    }
    Shrunk {
        best: state.best,
        replays: state.replays,
        stopped_early: state.stopped_early,
    }
}

fn trimmed(mut candidate: Candidate) -> Candidate {
    while candidate.decisions.last() == Some(&0) {
        candidate.decisions.pop();
    }
    candidate
}

struct Shrinker {
    best: Candidate,
    /// The original run's polls: no kept candidate makes more.
    max_steps: u64,
    replays: u64,
    budget: ShrinkBudget,
    started: Instant,
    stopped_early: Option<String>,
}

impl Shrinker {
    /// Replays `decisions`; keeps them if they fail the same way and are smaller.
    fn attempt(
        &mut self,
        decisions: &[u32],
        run: &mut impl FnMut(&[u32]) -> Option<(Signature, Candidate)>,
        signature: &Signature,
    ) -> bool {
        if self.stopped_early.is_some() {
            return false;
        }
        if self.replays >= self.budget.replays {
            self.stopped_early = Some(format!("replay budget of {} used up", self.budget.replays));
            return false;
        }
        if self.started.elapsed() > self.budget.time {
            self.stopped_early = Some(format!("time budget of {:?} used up", self.budget.time));
            return false;
        }
        self.replays += 1;
        match run(decisions) {
            Some((found, candidate)) if &found == signature => {
                let candidate = trimmed(candidate);
                if candidate.key() < self.best.key() && candidate.steps <= self.max_steps {
                    self.best = candidate;
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    fn deviation_positions(&self) -> Vec<usize> {
        (0..self.best.decisions.len())
            .filter(|&i| self.best.decisions[i] != 0)
            .collect()
    }

    fn revert_chunks(
        &mut self,
        run: &mut impl FnMut(&[u32]) -> Option<(Signature, Candidate)>,
        signature: &Signature,
    ) {
        let mut chunk = self.best.deviations().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < self.best.deviations() && self.stopped_early.is_none() {
                let positions = self.deviation_positions();
                let end = (start + chunk).min(positions.len());
                let mut decisions = self.best.decisions.clone();
                for &p in &positions[start..end] {
                    decisions[p] = 0;
                }
                // On success the deviations shifted down: retry the same chunk index.
                if !self.attempt(&decisions, run, signature) {
                    start += chunk;
                }
            }
            if chunk == 1 || self.stopped_early.is_some() {
                return;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    fn lower_indices(
        &mut self,
        run: &mut impl FnMut(&[u32]) -> Option<(Signature, Candidate)>,
        signature: &Signature,
    ) {
        let mut i = 0;
        while i < self.best.decisions.len() && self.stopped_early.is_none() {
            let current = self.best.decisions[i];
            if current > 1 {
                let mut decisions = self.best.decisions.clone();
                decisions[i] = 1;
                if !self.attempt(&decisions, run, signature) && current > 2 {
                    decisions[i] = current - 1;
                    self.attempt(&decisions, run, signature);
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy "program": it fails iff decisions at positions 3 and 7 are non-zero,
    /// whatever else happens; polls = number of decisions.
    fn toy(decisions: &[u32]) -> Option<(Signature, Candidate)> {
        let at = |i: usize| decisions.get(i).copied().unwrap_or(0);
        (at(3) != 0 && at(7) != 0).then(|| {
            (
                Signature {
                    message: "boom".into(),
                    location: None,
                },
                Candidate {
                    decisions: decisions.to_vec(),
                    steps: decisions.len() as u64,
                },
            )
        })
    }

    #[test]
    fn shrinks_to_the_needed_deviations_with_lowest_indices() {
        let start = Candidate {
            decisions: vec![2, 1, 0, 3, 1, 4, 0, 2, 1, 1, 0, 5],
            steps: 12,
        };
        let signature = toy(&start.decisions).unwrap().0;
        let shrunk = shrink(start, ShrinkBudget::default(), toy, &signature);
        assert_eq!(shrunk.best.decisions, vec![0, 0, 0, 1, 0, 0, 0, 1]);
        assert!(shrunk.stopped_early.is_none());
    }

    #[test]
    fn the_budget_stops_shrinking_and_says_so() {
        let start = Candidate {
            decisions: vec![1; 40],
            steps: 40,
        };
        let signature = toy(&start.decisions).unwrap().0;
        let budget = ShrinkBudget {
            replays: 3,
            time: Duration::from_secs(60),
        };
        let shrunk = shrink(start, budget, toy, &signature);
        assert_eq!(shrunk.replays, 3);
        assert!(shrunk.stopped_early.unwrap().contains("replay budget of 3"));
    }
}
