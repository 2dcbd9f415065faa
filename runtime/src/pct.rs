//! Probabilistic Concurrency Testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
//! "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010).
//!
//! Each task gets a random priority when it is spawned; the highest-priority ready task
//! always runs. `depth − 1` change points are drawn uniformly among the first `k` polls;
//! when the poll at change point `i` (1-based) is chosen, the chosen task's priority
//! drops to `depth − i`, below every other priority.
//!
//! # The bound, in async terms
//! With `n` tasks, a run of `k` polls, and a bug that needs `d` ordering constraints
//! between polls (its depth: `d − 1` places where a specific task must be preempted),
//! one PCT run finds the bug with probability at least `1 / (n · k^(d−1))`: `1/n` for
//! the right task to draw the highest initial priority, and `1/k` for each of the
//! `d − 1` change points to land on the right poll. A poll here is one `poll` of one
//! task, from one `.await` that suspends to the next.
//!
//! # Tasks that yield while staying ready
//! Strict priorities starve the others when the top task busy-waits
//! (`loop { if ready() { break } yield_now().await }`), which would be reported as a
//! livelock that no real executor shows. shuttle demotes a task at *every* yield; that
//! forces strict alternation and hides every bug that needs one task to run several
//! polls uninterrupted. Here each run draws a *patience* `p` from {1, 2, 4, …, 64}
//! (uniformly over the exponents): a task that yields `p` times in a row while other
//! tasks are ready is demoted below every task not yet demoted, and its streak starts
//! over. `p = 1` is shuttle's rule (alternation bugs), large `p` lets a task run long
//! stretches (atomicity bugs). A demoted task drops below *every* other task, those
//! lowered by change points included, and each demotion goes below the last, so a
//! spinner always lets every other ready task run: every seed makes progress. Parking
//! (waiting on a real event) never demotes. Demotions are not change points and do not
//! count against `d`; they only add schedules.
//!
//! Decisions of other kinds than the next task (a `select!` branch, the order of
//! simultaneous deliveries) are uniform draws from the same stream: priorities order
//! tasks, not branches.
//!
//! Invariant: every draw comes from the seed's scheduler stream through
//! [`uniform_index`], in a fixed order (change points, patience, then one priority per
//! spawn, and one draw per non-task decision), so a seed fixes the run.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::choice::{
    Chooser, DecisionKind, PollEnd, ReadyView, SCHEDULER_STREAM, seeded_rng, uniform_index,
};
use crate::task::Id;

/// Priority layout, highest first: initial priorities (`INITIAL + random`), then
/// change-point priorities (`LOWERED + depth − i`), then demoted tasks (counting down
/// from `LOWERED − 1`, the latest demoted lowest).
const INITIAL: u64 = 1 << 62;
const LOWERED: u64 = 1 << 61;
/// The largest patience exponent: patience is 2^0 … 2^6.
const MAX_PATIENCE_EXP: usize = 6;

/// The PCT policy for one run.
#[derive(Debug, Clone)]
pub struct Pct {
    rng: ChaCha8Rng,
    depth: u32,
    /// Priority of each task, indexed by id number; higher runs first.
    priorities: Vec<u64>,
    /// Change-point steps, ascending, with the priority each one assigns.
    change_points: Vec<(u64, u64)>,
    next_change: usize,
    patience: u32,
    /// The task that ran last, and how many times in a row it yielded with others ready.
    streak: (Option<Id>, u32),
    /// Whether others were ready when the last task was chosen.
    contended: bool,
    /// Next demoted priority (counts down, so the latest demoted is the lowest).
    next_demoted: u64,
}

impl Pct {
    /// PCT of `depth` (≥ 1) for `seed`, with change points among the first
    /// `expected_steps` polls (an estimate of the run's length `k`).
    pub fn new(seed: u64, depth: u32, expected_steps: u64) -> Pct {
        assert!(depth >= 1, "PCT depth must be at least 1");
        let mut rng = seeded_rng(seed, SCHEDULER_STREAM);
        let k = expected_steps.max(1);
        let mut change_points: Vec<(u64, u64)> = (1..depth)
            .map(|i| {
                let step = uniform_index(&mut rng, k as usize) as u64;
                (step, LOWERED + u64::from(depth - i))
            })
            .collect();
        change_points.sort_unstable();
        let patience = 1 << uniform_index(&mut rng, MAX_PATIENCE_EXP + 1);
        Pct {
            rng,
            depth,
            priorities: Vec::new(),
            change_points,
            next_change: 0,
            patience,
            streak: (None, 0),
            contended: false,
            next_demoted: LOWERED - 1,
        }
    }

    /// The depth this policy was built with.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Consecutive contended yields after which a task is demoted in this run.
    pub fn patience(&self) -> u32 {
        self.patience
    }

    fn priority(&self, task: Id) -> u64 {
        self.priorities
            .get(task.as_u64() as usize)
            .copied()
            .unwrap_or(0)
    }
}

impl Chooser for Pct {
    fn needs_tasks(&self) -> bool {
        true
    }

    fn on_spawn(&mut self, task: Id) {
        let index = task.as_u64() as usize;
        if self.priorities.len() <= index {
            self.priorities.resize(index + 1, 0);
        }
        self.priorities[index] = INITIAL + (self.rng.next_u64() >> 2);
    }

    fn choose(&mut self, ready: ReadyView<'_>) -> usize {
        if ready.kind() != DecisionKind::Task {
            // Priorities order tasks, not branches or deliveries: those are uniform.
            return uniform_index(&mut self.rng, ready.len());
        }
        let tasks = ready.tasks();
        let (chosen, _) = tasks
            .iter()
            .enumerate()
            .max_by_key(|&(i, &task)| (self.priority(task), std::cmp::Reverse(i)))
            .expect("a chooser is asked only with ready tasks");
        while let Some(&(step, priority)) = self.change_points.get(self.next_change) {
            if step > ready.step() {
                break;
            }
            self.next_change += 1;
            self.priorities[tasks[chosen].as_u64() as usize] = priority;
        }
        self.contended = true;
        chosen
    }

    fn on_poll_end(&mut self, task: Id, end: PollEnd) {
        let contended = std::mem::take(&mut self.contended);
        if end != PollEnd::Yielded || !contended {
            self.streak = (None, 0);
            return;
        }
        let count = if self.streak.0 == Some(task) {
            self.streak.1 + 1
        } else {
            1
        };
        if count < self.patience {
            self.streak = (Some(task), count);
            return;
        }
        self.streak = (None, 0);
        self.priorities[task.as_u64() as usize] = self.next_demoted;
        self.next_demoted = self.next_demoted.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(tasks: &[Id], step: u64) -> ReadyView<'_> {
        ReadyView::new(tasks, step)
    }

    #[test]
    fn the_highest_priority_runs_until_demoted() {
        let tasks = [Id(0), Id(1), Id(2)];
        for seed in 0..50 {
            let mut pct = Pct::new(seed, 1, 10);
            tasks.iter().for_each(|&t| pct.on_spawn(t));
            let top = pct.choose(view(&tasks, 0));
            // A task that parks keeps its priority: it is chosen again and again.
            for step in 1..20 {
                pct.on_poll_end(tasks[top], PollEnd::Parked);
                assert_eq!(pct.choose(view(&tasks, step)), top);
            }
            // A task that keeps yielding with others ready is demoted after `patience`.
            let patience = pct.patience();
            for i in 1..=patience {
                pct.on_poll_end(tasks[top], PollEnd::Yielded);
                let next = pct.choose(view(&tasks, 20 + u64::from(i)));
                assert_eq!(
                    next == top,
                    i < patience,
                    "seed {seed}, yield {i}/{patience}"
                );
            }
        }
    }

    /// A spinner must give way even to a task that a change point lowered below it.
    #[test]
    fn a_demoted_spinner_goes_below_tasks_lowered_by_change_points() {
        let tasks = [Id(0), Id(1)];
        for seed in 0..50 {
            // depth 2, k = 1: the change point lands on the first decision.
            let mut pct = Pct::new(seed, 2, 1);
            tasks.iter().for_each(|&t| pct.on_spawn(t));
            let lowered = pct.choose(view(&tasks, 0));
            pct.on_poll_end(tasks[lowered], PollEnd::Parked);
            let mut ran_lowered = false;
            for step in 1..=u64::from(pct.patience()) + 1 {
                let chosen = pct.choose(view(&tasks, step));
                if chosen == lowered {
                    ran_lowered = true;
                    break;
                }
                pct.on_poll_end(tasks[chosen], PollEnd::Yielded);
            }
            assert!(
                ran_lowered,
                "seed {seed}: the spinner starved the lowered task"
            );
        }
    }

    #[test]
    fn patience_covers_short_and_long_streaks() {
        let patiences: std::collections::BTreeSet<u32> = (0..200)
            .map(|seed| Pct::new(seed, 2, 10).patience())
            .collect();
        assert_eq!(
            patiences.into_iter().collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16, 32, 64]
        );
    }

    #[test]
    fn a_change_point_drops_the_running_task_below_all_others() {
        let tasks = [Id(0), Id(1)];
        // depth 2 with k = 1: the single change point is at step 0.
        let mut pct = Pct::new(3, 2, 1);
        tasks.iter().for_each(|&t| pct.on_spawn(t));
        let first = pct.choose(view(&tasks, 0));
        pct.on_poll_end(tasks[first], PollEnd::Parked);
        assert_eq!(pct.choose(view(&tasks, 1)), 1 - first);
    }
}
