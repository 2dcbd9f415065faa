//! Probabilistic Concurrency Testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
//! "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010).
//!
//! Each task gets a random priority when it is spawned; the highest-priority ready task
//! always runs. `depth − 1` change points are drawn uniformly among the first `k` polls;
//! when the poll at a change point `i` (1-based) is chosen, the chosen task's priority
//! drops to `depth − i`, below every initial priority.
//!
//! The bound, in async terms: with `n` tasks, a run of `k` polls, and a bug that needs
//! `d` ordering constraints between polls (its depth), one PCT run finds it with
//! probability at least `1 / (n · k^(d−1))`: `1/n` for the right task to start with the
//! highest priority, and `1/k` for each of the `d − 1` change points to land on the
//! right poll.
//!
//! A task that yields (`yield_now`: it woke itself during its poll) drops to the lowest
//! priority, below every change point, as shuttle's PCT does on a yield. Strict
//! priorities would otherwise let a task spinning on `yield_now` starve the very task
//! it waits for, and report a livelock no fair schedule has. Yielded tasks tie at the
//! lowest priority and run in FIFO order among themselves.
//!
//! Invariant: every draw comes from the seed's scheduler stream through
//! [`uniform_index`], in a fixed order (change points first, then one priority per
//! spawn), so a seed fixes the run.

use rand_chacha::ChaCha8Rng;

use crate::choice::{Chooser, PollEnd, ReadyView, SCHEDULER_STREAM, seeded_rng, uniform_index};
use crate::task::Id;

/// The priority of a task that yielded: below every initial and change-point priority.
const YIELDED: u64 = 0;

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
}

impl Pct {
    /// PCT of `depth` (≥ 1) for `seed`, with change points among the first
    /// `expected_steps` polls (an estimate of the run's length).
    pub fn new(seed: u64, depth: u32, expected_steps: u64) -> Pct {
        assert!(depth >= 1, "PCT depth must be at least 1");
        let mut rng = seeded_rng(seed, SCHEDULER_STREAM);
        let k = expected_steps.max(1);
        let mut change_points: Vec<(u64, u64)> = (1..depth)
            .map(|i| {
                let step = uniform_index(&mut rng, k as usize) as u64;
                (step, u64::from(depth - i))
            })
            .collect();
        change_points.sort_unstable();
        Pct {
            rng,
            depth,
            priorities: Vec::new(),
            change_points,
            next_change: 0,
        }
    }

    /// The depth this policy was built with.
    pub fn depth(&self) -> u32 {
        self.depth
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
        // Initial priorities sit above every change-point priority (< depth).
        let draw = self.rng_u64() >> 1;
        self.priorities[index] = u64::from(self.depth) + draw;
    }

    fn on_poll_end(&mut self, task: Id, end: PollEnd) {
        if end == PollEnd::Yielded
            && let Some(priority) = self.priorities.get_mut(task.as_u64() as usize)
        {
            *priority = YIELDED;
        }
    }

    fn choose(&mut self, ready: ReadyView<'_>) -> usize {
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
            let task = tasks[chosen];
            self.priorities[task.as_u64() as usize] = priority;
        }
        chosen
    }
}

impl Pct {
    fn rng_u64(&mut self) -> u64 {
        use rand::Rng;
        self.rng.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::Pct;
    use crate::{Runtime, spawn, yield_now};

    /// A task spinning on `yield_now` until another sets a flag must not starve it,
    /// whatever the priorities: under strict priorities this was a livelock.
    #[test]
    fn a_task_spinning_on_yield_does_not_starve_the_others() {
        for depth in 1..=4 {
            for seed in 0..100 {
                let mut rt = Runtime::with_chooser(seed, Box::new(Pct::new(seed, depth, 64)));
                rt.set_max_steps(10_000);
                let outcome = rt.run(async {
                    let flag = Rc::new(Cell::new(false));
                    let f = flag.clone();
                    let setter = spawn(async move { f.set(true) });
                    while !flag.get() {
                        yield_now().await;
                    }
                    setter.await.unwrap();
                });
                assert!(outcome.is_ok(), "pct:{depth} seed {seed}: {outcome:?}");
            }
        }
    }
}
