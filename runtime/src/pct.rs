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
//! # Cost
//! The pick is O(log n) in the number of ready tasks: the chooser follows the ready
//! set (its hook `tracks_ready`) with a max-heap of (priority, FIFO sequence) entries,
//! and names its pick by task (`choose_ready`): the executor finds it
//! without a search and records its FIFO index. A change of priority pushes a new heap
//! entry; entries whose task left the ready set or changed priority since are skipped
//! when they reach the top, and the heap is rebuilt from its live entries when it holds
//! more than twice as many as there are ready tasks (amortized O(1) per entry). The
//! pick's entry stays on top while its task runs, for the task to take back if it
//! yields (the common case: its priority is still the highest).
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
    BuiltIn, Chooser, DecisionKind, Options, PollEnd, SCHEDULER_STREAM, sealed, seeded_rng,
    uniform_index,
};
use crate::prefetch::prefetch;
use crate::quad_heap::QuadHeap;
use crate::task::Id;

/// Priority layout, highest first: initial priorities (`INITIAL + random`), then
/// change-point priorities (`LOWERED + depth − i`), then demoted tasks (counting down
/// from `LOWERED − 1`, the latest demoted lowest).
const INITIAL: u64 = 1 << 62;
const LOWERED: u64 = 1 << 61;
/// The largest patience exponent: patience is 2^0 … 2^6.
const MAX_PATIENCE_EXP: usize = 6;
/// `TaskState::seq` of a task that is not ready.
const NOT_READY: u64 = u64::MAX;

/// What PCT knows of one task.
#[derive(Debug, Clone, Copy)]
struct TaskState {
    /// Higher runs first.
    priority: u64,
    /// When the task last entered the ready set (a counter), or `NOT_READY`.
    seq: u64,
}

/// A heap entry: the highest priority first, then the oldest in the ready set (the
/// lowest FIFO index), then the task, packed into one integer that orders that way:
/// priority in the high 64 bits, the complement of the ready sequence number below,
/// the task in the low 32 bits. Sixteen bytes, four to a cache line, and a comparison
/// is two instructions without a branch (the heap compares random priorities: a
/// branch per field mispredicted about half the time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry(u128);

impl Entry {
    fn new(priority: u64, seq: u64, task: u32) -> Entry {
        let seq = u32::try_from(seq).expect("fewer than 2^32 wakes in a PCT run");
        Entry((u128::from(priority) << 64) | (u128::from(u32::MAX - seq) << 32) | u128::from(task))
    }

    fn priority(self) -> u64 {
        (self.0 >> 64) as u64
    }

    fn seq(self) -> u32 {
        u32::MAX - (self.0 >> 32) as u32
    }

    fn task(self) -> u32 {
        self.0 as u32
    }

    /// Whether the entry still describes a ready task, given what PCT knows of it.
    fn is_live(self, tasks: &[TaskState]) -> bool {
        let state = tasks[self.task() as usize];
        state.seq == u64::from(self.seq()) && state.priority == self.priority()
    }
}

/// The PCT policy for one run.
#[derive(Debug, Clone)]
pub struct Pct {
    rng: ChaCha8Rng,
    depth: u32,
    /// Per task, indexed by id number.
    tasks: Vec<TaskState>,
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
    /// Ready tasks by (priority, FIFO sequence), with stale entries.
    heap: QuadHeap<Entry>,
    /// How many tasks are ready.
    ready: usize,
    next_seq: u64,
}

impl Pct {
    /// PCT of `depth` (≥ 1) for `seed`, with change points among the first
    /// `expected_steps` polls (an estimate of the run's length `k`).
    pub fn new(seed: u64, depth: u32, expected_steps: u64) -> Pct {
        let mut pct = Pct {
            rng: seeded_rng(seed, SCHEDULER_STREAM),
            depth,
            tasks: Vec::new(),
            change_points: Vec::new(),
            next_change: 0,
            patience: 1,
            streak: (None, 0),
            contended: false,
            next_demoted: LOWERED - 1,
            heap: QuadHeap::default(),
            ready: 0,
            next_seq: 0,
        };
        pct.reset(seed, depth, expected_steps);
        pct
    }

    /// Makes this policy what `Pct::new(seed, depth, expected_steps)` returns, keeping
    /// its buffers: a runtime reuses one from run to run (no allocation per run).
    pub fn reset(&mut self, seed: u64, depth: u32, expected_steps: u64) {
        assert!(depth >= 1, "PCT depth must be at least 1");
        let mut rng = seeded_rng(seed, SCHEDULER_STREAM);
        let k = expected_steps.max(1);
        self.change_points.clear();
        self.change_points.extend((1..depth).map(|i| {
            let step = uniform_index(&mut rng, k as usize) as u64;
            (step, LOWERED + u64::from(depth - i))
        }));
        self.change_points.sort_unstable();
        self.patience = 1 << uniform_index(&mut rng, MAX_PATIENCE_EXP + 1);
        self.rng = rng;
        self.depth = depth;
        self.tasks.clear();
        self.next_change = 0;
        self.streak = (None, 0);
        self.contended = false;
        self.next_demoted = LOWERED - 1;
        self.heap.clear();
        self.ready = 0;
        self.next_seq = 0;
    }

    /// The depth this policy was built with.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Consecutive contended yields after which a task is demoted in this run.
    pub fn patience(&self) -> u32 {
        self.patience
    }

    fn state(&mut self, task: Id) -> &mut TaskState {
        let index = number(task) as usize;
        if self.tasks.len() <= index {
            self.tasks.resize(
                index + 1,
                TaskState {
                    priority: 0,
                    seq: NOT_READY,
                },
            );
        }
        &mut self.tasks[index]
    }

    /// The live entry at the top of the heap, dropping stale ones above it (they would
    /// be skipped at any later pop too: a stale entry never becomes live again).
    fn live_top(&mut self) -> Option<Entry> {
        loop {
            let top = *self.heap.peek()?;
            if top.is_live(&self.tasks) {
                return Some(top);
            }
            self.heap.pop();
        }
    }

    /// Prefetches what the pick after the next one will read of PCT's own state, if
    /// it is the heap's runner-up (the best of the top's children), as it is when the
    /// top runs and leaves the ready set: its task state. By then a cold read would
    /// stall the step.
    fn prefetch_runner_up(&self) {
        if let Some(next) = self.heap.runner_up() {
            prefetch((&raw const self.tasks[next.task() as usize]).addr());
        }
    }

    /// Gives `task` a new priority, keeping its place in the heap if it is ready.
    fn set_priority(&mut self, task: Id, priority: u64) {
        let state = self.state(task);
        state.priority = priority;
        let seq = state.seq;
        if seq != NOT_READY {
            self.heap.push(Entry::new(priority, seq, number(task)));
        }
    }
}

/// A task id as a dense index (ids count up from 0 within a run).
fn number(task: Id) -> u32 {
    u32::try_from(task.as_u64()).expect("fewer than 2^32 tasks in a PCT run")
}

impl Chooser for Pct {
    fn on_spawn(&mut self, task: Id) {
        let priority = INITIAL + (self.rng.next_u64() >> 2);
        self.state(task).priority = priority;
    }

    /// For a task decision, PCT's pick is a task, which the executor asks for through
    /// its hook `choose_ready`; asked by index, it finds that task in the options'
    /// listing (so options without one, of a task decision, are a bug of the caller).
    fn choose(&mut self, ready: Options<'_>) -> usize {
        if ready.kind() != DecisionKind::Task {
            // Priorities order tasks, not branches or deliveries: those are uniform.
            return uniform_index(&mut self.rng, ready.len());
        }
        let task = self
            .choose_ready(ready)
            .expect("PCT names a task for every task decision");
        ready
            .tasks()
            .iter()
            .position(|&t| t == task)
            .expect("PCT is asked for a task decision by index only with the ready tasks listed")
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
        let demoted = self.next_demoted;
        self.set_priority(task, demoted);
        self.next_demoted = self.next_demoted.saturating_sub(1);
    }

    #[allow(private_interfaces, reason = "sealed: the hooks stay inside the crate")]
    fn __builtin(&mut self, _: sealed::Seal) -> Option<&mut dyn BuiltIn> {
        Some(self)
    }
}

impl BuiltIn for Pct {
    fn tracks_ready(&self) -> bool {
        true
    }

    fn on_ready(&mut self, task: Id) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let state = self.state(task);
        debug_assert_eq!(state.seq, NOT_READY, "{task} entered the ready set twice");
        state.seq = seq;
        let entry = Entry::new(state.priority, seq, number(task));
        match self.heap.peek() {
            // The task's entry from its last pick is still on top (see `choose_ready`),
            // stale since the task left the ready set: the task takes its place.
            Some(top) if top.task() == number(task) => self.heap.replace_top(entry),
            _ => self.heap.push(entry),
        }
        self.ready += 1;
        if self.heap.len() > 2 * self.ready + 64 {
            let tasks = &self.tasks;
            self.heap.retain(|entry| entry.is_live(tasks));
        }
    }

    fn on_unready(&mut self, task: Id) {
        self.state(task).seq = NOT_READY;
        self.ready -= 1;
    }

    fn choose_ready(&mut self, ready: Options<'_>) -> Option<Id> {
        debug_assert_eq!(ready.kind(), DecisionKind::Task);
        // The pick's entry stays on top, stale once the task leaves the ready set: a
        // task that yields comes back with the same priority, mostly the highest still,
        // and takes the entry's place (`on_ready`) instead of a pop now and a push to
        // the top later, each through every level of the heap. A task that does not
        // come back leaves it to the next pick's `live_top`.
        let top = self
            .live_top()
            .expect("a chooser is asked only with ready tasks")
            .task();
        debug_assert_eq!(self.ready, ready.len(), "PCT lost track of the ready set");
        while let Some(&(step, priority)) = self.change_points.get(self.next_change) {
            if step > ready.poll() {
                break;
            }
            self.next_change += 1;
            self.state(Id(u64::from(top))).priority = priority;
        }
        self.contended = true;
        Some(Id(u64::from(top)))
    }

    /// The heap's top if it is live, else (the entry of the task being polled, which
    /// left the ready set) the best of its children: the pick unless a task of higher
    /// priority becomes ready first, as the task being polled does when it yields.
    /// Pops nothing, so that the polled task's entry stays for it to take back.
    fn peek_ready(&mut self) -> Option<Id> {
        let top = *self.heap.peek()?;
        let next = match top.is_live(&self.tasks) {
            true => {
                self.prefetch_runner_up();
                top
            }
            false => *self.heap.runner_up()?,
        };
        let task = next.task();
        prefetch((&raw const self.tasks[task as usize]).addr());
        Some(Id(u64::from(task)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;

    /// The executor's side of the protocol, with a plain `Vec` as the ready set.
    struct Harness {
        pct: Pct,
        fifo: Vec<Id>,
        step: u64,
    }

    impl Harness {
        fn new(pct: Pct, tasks: usize) -> Harness {
            let mut harness = Harness {
                pct,
                fifo: Vec::new(),
                step: 0,
            };
            for t in 0..tasks as u64 {
                harness.pct.on_spawn(Id(t));
                harness.ready(Id(t));
            }
            harness
        }

        fn ready(&mut self, task: Id) {
            self.fifo.push(task);
            self.pct.on_ready(task);
        }

        /// Asks for a pick (or takes the only ready task) and removes it, checking the
        /// index against a scan of the priorities, as the chooser did before the heap.
        fn pick(&mut self) -> Id {
            let k = if self.fifo.len() == 1 {
                0
            } else {
                let expected = (0..self.fifo.len())
                    .max_by_key(|&i| {
                        let priority = self.pct.tasks[self.fifo[i].as_u64() as usize].priority;
                        (priority, Reverse(i))
                    })
                    .unwrap();
                let k = self.pct.choose(Options::new(&self.fifo, self.step));
                assert_eq!(
                    k, expected,
                    "the pick is the highest priority, oldest first"
                );
                k
            };
            self.step += 1;
            let task = self.fifo.remove(k);
            self.pct.on_unready(task);
            task
        }

        /// Ends the poll of `task`: it yields (back in the ready set) or parks.
        fn end(&mut self, task: Id, end: PollEnd) {
            if end == PollEnd::Yielded {
                self.ready(task);
            }
            self.pct.on_poll_end(task, end);
        }
    }

    #[test]
    fn the_highest_priority_runs_until_demoted() {
        for seed in 0..50 {
            let mut h = Harness::new(Pct::new(seed, 1, 10), 3);
            let top = h.pick();
            // A task that parks keeps its priority: it is chosen again and again.
            for _ in 1..20 {
                h.end(top, PollEnd::Parked);
                h.ready(top);
                assert_eq!(h.pick(), top);
            }
            h.end(top, PollEnd::Parked);
            h.ready(top);
            assert_eq!(h.pick(), top);
            // A task that keeps yielding with others ready is demoted after `patience`.
            let patience = h.pct.patience();
            for i in 1..=patience {
                h.end(top, PollEnd::Yielded);
                let next = h.pick();
                assert_eq!(
                    next == top,
                    i < patience,
                    "seed {seed}, yield {i}/{patience}"
                );
                if next != top {
                    h.end(next, PollEnd::Yielded);
                }
            }
        }
    }

    /// A spinner must give way even to a task that a change point lowered below it.
    #[test]
    fn a_demoted_spinner_goes_below_tasks_lowered_by_change_points() {
        for seed in 0..50 {
            // depth 2, k = 1: the change point lands on the first decision.
            let mut h = Harness::new(Pct::new(seed, 2, 1), 2);
            let lowered = h.pick();
            h.end(lowered, PollEnd::Parked);
            h.ready(lowered);
            let mut ran_lowered = false;
            for _ in 0..=h.pct.patience() {
                let chosen = h.pick();
                if chosen == lowered {
                    ran_lowered = true;
                    break;
                }
                h.end(chosen, PollEnd::Yielded);
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
        // depth 2 with k = 1: the single change point is at step 0.
        let mut h = Harness::new(Pct::new(3, 2, 1), 2);
        let first = h.pick();
        h.end(first, PollEnd::Parked);
        h.ready(first);
        assert_ne!(h.pick(), first);
    }

    /// Many tasks spawning, yielding, parking and waking in a random order: every pick
    /// agrees with a scan of the ready set (checked in `Harness::pick`), through
    /// demotions, change points and heap rebuilds.
    #[test]
    fn picks_agree_with_a_scan_of_the_ready_set() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in 0..20 {
            let mut h = Harness::new(Pct::new(seed, 4, 3_000), 5);
            let mut parked: Vec<Id> = Vec::new();
            let mut spawned = 5;
            for _ in 0..3_000 {
                if h.fifo.is_empty() && parked.is_empty() {
                    let task = Id(spawned);
                    spawned += 1;
                    h.pct.on_spawn(task);
                    h.ready(task);
                } else if h.fifo.is_empty() {
                    let task = parked.swap_remove((next() % parked.len() as u64) as usize);
                    h.ready(task);
                }
                let task = h.pick();
                match next() % 8 {
                    0..=3 => h.end(task, PollEnd::Yielded),
                    4 | 5 => {
                        h.end(task, PollEnd::Parked);
                        parked.push(task);
                    }
                    6 if spawned < 400 => {
                        let child = Id(spawned);
                        spawned += 1;
                        h.pct.on_spawn(child);
                        h.end(task, PollEnd::Parked);
                        parked.push(task);
                        h.ready(child);
                    }
                    _ => h.end(task, PollEnd::Finished),
                }
                // Wake a parked task now and then.
                if !parked.is_empty() && next() % 3 == 0 {
                    let task = parked.swap_remove((next() % parked.len() as u64) as usize);
                    h.ready(task);
                }
            }
            assert!(
                h.pct.heap.len() <= 2 * h.pct.ready + 65,
                "stale entries are dropped"
            );
        }
    }
}
