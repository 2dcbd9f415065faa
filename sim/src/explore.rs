//! Exhaustive exploration ([`Builder::exhaustive`](crate::Builder::exhaustive)): every
//! schedule of the body with at most `k` deviations from FIFO order, each distinct
//! schedule run exactly once, and a [`Coverage`] statement of what ran.
//!
//! # The tree
//! A run makes one list of *decisions*: at every decision point (two or more ready
//! tasks, and — through `detsim_runtime::choice::decide` — a `select!` branch, a network
//! delivery order, a fault) it answers an index in `0..n`, 0 being the FIFO (asyncio)
//! order. A *deviation* is a non-zero answer, whatever its size: choosing the third
//! ready task is one deviation, as is choosing the second. (Delay bounding, Emmi,
//! Qadeer and Rakamarić, POPL 2011, charges `i` delays for index `i`, because a delayed
//! task there moves to the back of a round-robin queue. In detsim the skipped tasks
//! keep their places, so index `i` is one departure from FIFO, not `i` of them; and for
//! a `select!` branch or a fault there is no order in which index 2 is "twice as far"
//! as index 1. A deviation is also the unit the shrinker and the failure report count.)
//!
//! A schedule is named by its *prefix*: its decisions up to and including its last
//! deviation (the empty prefix is the FIFO schedule). A run replays the prefix, then
//! takes 0 at every later decision point. The children of a schedule with prefix `p`
//! are `p · 0…0 · c` for every decision point after `p` and every `c` in `1..n` there:
//! one more deviation. Every decision list with at most `k` non-zero entries is reached
//! exactly once (its parent is the list with its last deviation set back to 0), so
//! each distinct schedule runs exactly once, and distinct prefixes are distinct
//! schedules (they differ at a decision point both runs reach).
//!
//! # The order, and the reduction
//! The tree is explored bound by bound: all schedules with 0 deviations, then all with
//! 1, … up to `k` (the order of CHESS's iterative context bounding, Musuvathi and
//! Qadeer, PLDI 2007). The first failure found therefore has the fewest deviations any
//! failure has, and a budget that runs out leaves a true statement behind ("all
//! schedules with at most 1 deviation, then 300 of the 2,000 with 2").
//!
//! The reduction is a cache of completed prefixes. A stateless explorer learns the
//! options at a decision point only by running up to it, so a plain depth-first
//! search replays one run per node of the decision tree. Here each run's whole
//! decision list (with the number of options at every point) is kept until its
//! children are listed: the run of `p` completes every prefix `p · 0…0`, so only
//! prefixes that end in a deviation ever run: one run per schedule instead of one per
//! tree node. Each level keeps its schedules as `(parent, position, choice)` triples,
//! 12 bytes a schedule. Nothing is pruned: the set of terminal runs is the plain
//! search's (a test compares the two sets of traces).
//!
//! No reduction that prunes schedules is sound here: sleep sets or partial-order
//! reduction need to know when two polls commute, and tasks share state through
//! `Rc<Cell<_>>` that detsim cannot see; the zoo's lost update has no wake edge
//! between its two tasks, yet only one of their orders shows the bug.
//!
//! # Parallel runs and budgets
//! The schedules of one level are independent: threads claim chunks of them. The
//! report names the lowest failing schedule of the lowest failing level, and counts
//! schedules as if they ran one after another, so it does not depend on the number of
//! threads. A schedule budget keeps the first schedules in this order (deterministic);
//! a time budget is a safety net whose cut depends on the machine, and the statement
//! then says so.
//!
//! Invariants: a [`Coverage`] claims a bound only when every schedule of it ran; the
//! report is the same for any `jobs(n)`.

mod coverage;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use detsim_runtime::{Decision, Trace};

pub use coverage::{Coverage, Level};

use crate::artifacts::token_command;
use crate::progress::Progress;
use crate::replayer::{Replayed, Replayer, Source, divergence};
use crate::report::{Failure, Report};
use crate::schedule::Schedule;
use crate::scheduler::Scheduler;
use crate::settings::Settings;
use crate::sweep::{CacheLine, on_threads, shrink_seed};

/// Schedules a thread claims at a time.
const CHUNK: usize = 16;

/// Limits on an exhaustive exploration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExhaustiveBudget {
    /// Schedules run at most (deterministic).
    pub(crate) schedules: u64,
    /// Wall-clock time at most (a safety net).
    pub(crate) time: Duration,
}

impl Default for ExhaustiveBudget {
    fn default() -> Self {
        ExhaustiveBudget {
            schedules: 1_000_000,
            time: Duration::from_secs(600),
        }
    }
}

/// One schedule of a level `j ≥ 1`: its parent in level `j − 1`, and the deviation it
/// adds, `choice` at decision `position`. Level 0 holds the FIFO schedule alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    parent: u32,
    position: u32,
    choice: u32,
}

/// The schedules listed so far, level by level.
#[derive(Debug)]
struct Tree {
    levels: Vec<Vec<Node>>,
}

impl Tree {
    fn new() -> Tree {
        let fifo = Node {
            parent: 0,
            position: 0,
            choice: 0,
        };
        Tree {
            levels: vec![vec![fifo]],
        }
    }

    /// The prefix of schedule `index` of `level`: its decisions up to its last deviation.
    fn prefix(&self, level: usize, mut index: usize) -> Vec<u32> {
        if level == 0 {
            return Vec::new();
        }
        let last = self.levels[level][index];
        let mut decisions = vec![0; last.position as usize + 1];
        for nodes in self.levels[1..=level].iter().rev() {
            let node = nodes[index];
            decisions[node.position as usize] = node.choice;
            index = node.parent as usize;
        }
        decisions
    }

    /// The first decision point at which schedule `index` of `level` may deviate again.
    fn first_free_position(&self, level: usize, index: usize) -> usize {
        match level {
            0 => 0,
            _ => self.levels[level][index].position as usize + 1,
        }
    }
}

/// What a thread hands back for one chunk of a level.
#[derive(Debug, Default)]
struct ChunkOut {
    first: usize,
    ran: usize,
    children: Vec<Node>,
    children_total: u64,
}

/// The chunks of a level, merged in order of their first schedule.
#[derive(Debug, Default)]
struct Merge {
    next_first: usize,
    pending: BTreeMap<usize, ChunkOut>,
    ran: u64,
    children: Vec<Node>,
    children_total: u64,
}

impl Merge {
    fn push(&mut self, out: ChunkOut, cap: usize) {
        self.ran += out.ran as u64;
        self.pending.insert(out.first, out);
        while let Some(out) = self.pending.remove(&self.next_first) {
            self.next_first += CHUNK;
            self.children_total += out.children_total;
            let room = cap.saturating_sub(self.children.len());
            self.children.extend(out.children.into_iter().take(room));
        }
    }
}

/// How one level went.
#[derive(Debug)]
struct LevelRun {
    ran: u64,
    failure: Option<usize>,
    timed_out: bool,
    children: Vec<Node>,
    children_total: u64,
}

/// One level's work, shared by the threads that run it.
struct LevelJob<'a> {
    tree: &'a Tree,
    level: usize,
    /// How many of the level's schedules to run.
    count: usize,
    list_children: bool,
    /// How many children to keep at most (all are counted).
    child_cap: usize,
    deadline: Option<Instant>,
    next_chunk: AtomicUsize,
    /// Read before every schedule by every thread, written only when one fails: on a
    /// cache line of its own, away from `next_chunk`, written at every chunk.
    lowest_failure: CacheLine<AtomicUsize>,
    timed_out: AtomicBool,
    merge: Mutex<Merge>,
}

impl LevelJob<'_> {
    /// Lists in `out` the children of schedule `index`, which made `decisions`: one per
    /// other option of each decision past its prefix (at most `child_cap` kept).
    fn list_children(&self, index: usize, decisions: &[Decision], out: &mut ChunkOut) {
        let start = self.tree.first_free_position(self.level, index);
        for (position, decision) in decisions.iter().enumerate().skip(start) {
            let options = decision.options;
            out.children_total += u64::from(options.saturating_sub(1));
            for choice in 1..options {
                if out.children.len() >= self.child_cap {
                    break;
                }
                out.children.push(Node {
                    parent: index as u32,
                    position: position as u32,
                    choice,
                });
            }
        }
    }

    /// How the level went, once every thread is done.
    fn finish(self) -> LevelRun {
        let merge = self
            .merge
            .into_inner()
            .expect("a thread of the exploration panicked");
        let failure = match self.lowest_failure.0.into_inner() {
            usize::MAX => None,
            index => Some(index),
        };
        LevelRun {
            ran: merge.ran,
            failure,
            timed_out: self.timed_out.into_inner(),
            children: merge.children,
            children_total: merge.children_total,
        }
    }
}

/// How many children a level may keep when `count` of the `remaining` schedules of the
/// budget run in it (its children run in the next level, so they share what is left).
fn child_cap(remaining: u64, count: usize) -> usize {
    usize::try_from(remaining - count as u64)
        .unwrap_or(usize::MAX)
        .min(u32::MAX as usize)
}

/// Records in `coverage` that `ran` of the `total` schedules of `level` ran.
fn record_level(coverage: &mut Coverage, level: usize, total: u64, ran: u64) {
    coverage.levels.push(Level {
        deviations: level as u32,
        schedules: total,
        run: ran,
    });
    coverage.schedules_run += ran;
}

/// Watches each explored run: its decisions and its trace (tests use it to compare the
/// set of runs with a plain search's).
pub(crate) type Observer<'a> = &'a (dyn Fn(&[Decision], &Trace) + Sync);

/// One exploration: the plan, the body, the bound.
struct Explorer<'a, F> {
    plan: &'a Settings,
    body: &'a F,
    bound: u32,
    budget: ExhaustiveBudget,
    observer: Option<Observer<'a>>,
}

/// Explores every schedule of `body` with at most `bound` deviations (see the module
/// docs) and reports the first failure in that order, with the coverage reached.
pub(crate) fn exhaustive<F, Fut>(plan: &Settings, bound: u32, body: &F) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    explore_observed(plan, bound, body, None)
}

pub(crate) fn explore_observed<F, Fut>(
    plan: &Settings,
    bound: u32,
    body: &F,
    observer: Option<Observer<'_>>,
) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let explorer = Explorer {
        plan,
        body,
        bound,
        budget: plan.exhaustive_budget,
        observer,
    };
    explorer.explore()
}

impl<F, Fut> Explorer<'_, F>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    fn replayer(&self) -> Replayer<'_, F> {
        Replayer::fresh(self.body, self.plan.max_steps, self.plan.faults)
            .allow_threads(self.plan.allow_threads)
    }

    /// The schedule with `prefix`: FIFO past it, the program's random values from the
    /// plan's seed.
    fn schedule(&self, prefix: Vec<u32>) -> Schedule {
        Schedule {
            scheduler: Scheduler::fifo(),
            seed: self.plan.range.seed(0),
            decisions: prefix,
            user_words: Vec::new(),
        }
    }

    /// Runs `schedule` (the trace on when observing, or when asked).
    fn replay(&self, replayer: &mut Replayer<'_, F>, schedule: &Schedule, trace: bool) -> Replayed {
        let run = replayer.run(Source::Schedule(schedule), trace || self.observer.is_some());
        if let Some(observe) = self.observer {
            observe(&run.decisions, &run.trace);
        }
        run
    }

    /// Runs the schedule with `prefix`: its decisions, if it passed and replayed the
    /// prefix exactly; `None` if it failed or ran differently (a nondeterministic body).
    /// With [`Builder::check_determinism`](crate::Builder::check_determinism), each
    /// schedule runs twice with the trace on, and differing runs count as a failure.
    fn run(&self, replayer: &mut Replayer<'_, F>, prefix: Vec<u32>) -> Option<Vec<Decision>> {
        let schedule = self.schedule(prefix);
        let check = self.plan.check_determinism;
        let run = self.replay(replayer, &schedule, check);
        if check {
            let again = replayer.run(Source::Schedule(&schedule), true);
            if divergence(&run, &again, "schedule").is_some() {
                return None;
            }
        }
        (run.outcome.is_ok() && replayed(&run, &schedule.decisions)).then_some(run.decisions)
    }

    fn explore(&self) -> Report {
        let deadline = Instant::now().checked_add(self.budget.time);
        let progress = Progress::exhaustive(self.bound);
        let mut tree = Tree::new();
        let mut coverage = Coverage {
            max_deviations: self.bound,
            seed: self.plan.range.seed(0),
            schedules_run: 0,
            levels: Vec::new(),
            stopped_early: None,
            failed: false,
        };
        let mut level_total: u64 = 1;
        for level in 0..=self.bound as usize {
            let stored = tree.levels[level].len();
            let remaining = self.budget.schedules - coverage.schedules_run;
            let count = (stored as u64).min(remaining) as usize;
            let has_children = level < self.bound as usize;
            let child_cap = match has_children {
                true => child_cap(remaining, count),
                false => 0,
            };
            progress.start_level(level as u32, level_total);
            let run = self.run_level(
                &tree,
                level,
                count,
                has_children,
                child_cap,
                deadline,
                &progress,
            );
            if let Some(index) = run.failure {
                // Every schedule before the failing one ran, unless the time budget cut
                // the level short at the same moment: then count what did run.
                let ran = match run.timed_out {
                    false => index as u64 + 1,
                    true => run.ran,
                };
                record_level(&mut coverage, level, level_total, ran);
                coverage.failed = true;
                progress.finish();
                return self.failed(tree.prefix(level, index), coverage);
            }
            record_level(&mut coverage, level, level_total, run.ran);
            coverage.stopped_early = self.stopped_early(&run, level_total);
            if coverage.stopped_early.is_some() || !has_children || run.children_total == 0 {
                break;
            }
            level_total = run.children_total;
            tree.levels.push(run.children);
        }
        progress.finish();
        Report {
            seeds_run: coverage.schedules_run,
            failure: None,
            coverage: Some(coverage),
            ..Report::default()
        }
    }

    /// The report of a failure found at the schedule with `prefix`.
    fn failed(&self, prefix: Vec<u32>, coverage: Coverage) -> Report {
        let mut failure = self.describe(prefix, &coverage);
        failure.write_trace_file();
        Report {
            seeds_run: coverage.schedules_run,
            failure: Some(failure),
            coverage: Some(coverage),
            ..Report::default()
        }
    }

    /// Why the exploration stops after a level that ran `run` of its `level_total`
    /// schedules, if a budget stops it.
    fn stopped_early(&self, run: &LevelRun, level_total: u64) -> Option<String> {
        if run.timed_out {
            Some(format!("time budget of {:?} used up", self.budget.time))
        } else if run.ran < level_total {
            Some(format!(
                "schedule budget of {} used up",
                coverage::thousands(self.budget.schedules)
            ))
        } else {
            None
        }
    }

    /// Runs the first `count` schedules of `level` on the plan's threads; lists the
    /// children of the passing ones (at most `child_cap` kept, all counted).
    #[allow(
        clippy::too_many_arguments,
        reason = "one level's parameters, used once"
    )]
    fn run_level(
        &self,
        tree: &Tree,
        level: usize,
        count: usize,
        list_children: bool,
        child_cap: usize,
        deadline: Option<Instant>,
        progress: &Progress,
    ) -> LevelRun {
        let job = LevelJob {
            tree,
            level,
            count,
            list_children,
            child_cap,
            deadline,
            next_chunk: AtomicUsize::new(0),
            lowest_failure: CacheLine(AtomicUsize::new(usize::MAX)),
            timed_out: AtomicBool::new(false),
            merge: Mutex::new(Merge::default()),
        };
        let chunks = count.div_ceil(CHUNK);
        let jobs = self.plan.jobs.min(chunks).max(1);
        on_threads(jobs, || self.work(&job, progress));
        job.finish()
    }

    /// One thread's share of `job`: takes chunks of schedules until none is left, a
    /// failure comes before them, or time is up.
    fn work(&self, job: &LevelJob<'_>, progress: &Progress) {
        let mut replayer = self.replayer();
        loop {
            let first = job.next_chunk.fetch_add(CHUNK, Ordering::Relaxed);
            if first >= job.count
                || first > job.lowest_failure.0.load(Ordering::Relaxed)
                || job.timed_out.load(Ordering::Relaxed)
            {
                return;
            }
            let (out, stop) = self.run_chunk(&mut replayer, job, first);
            progress.advance(out.ran as u64, 0);
            job.merge
                .lock()
                .expect("a thread of the exploration panicked")
                .push(out, job.child_cap);
            if stop {
                return;
            }
        }
    }

    /// Runs the chunk of `job` that starts at schedule `first`; also says whether the
    /// thread should stop (a failure, or time up).
    fn run_chunk(
        &self,
        replayer: &mut Replayer<'_, F>,
        job: &LevelJob<'_>,
        first: usize,
    ) -> (ChunkOut, bool) {
        let mut out = ChunkOut {
            first,
            ..ChunkOut::default()
        };
        for index in first..(first + CHUNK).min(job.count) {
            if index > job.lowest_failure.0.load(Ordering::Relaxed) {
                return (out, true);
            }
            if job
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                job.timed_out.store(true, Ordering::Relaxed);
                return (out, true);
            }
            out.ran += 1;
            let Some(decisions) = self.run(replayer, job.tree.prefix(job.level, index)) else {
                job.lowest_failure.0.fetch_min(index, Ordering::Relaxed);
                return (out, true);
            };
            if job.list_children {
                job.list_children(index, &decisions, &mut out);
            }
        }
        (out, false)
    }

    /// The [`Failure`] of the schedule with `prefix`: replayed with the trace on,
    /// shrunk, replayed shrunk for the report's trace.
    fn describe(&self, prefix: Vec<u32>, coverage: &Coverage) -> Failure {
        let schedule = self.schedule(prefix);
        let (seed, scheduler) = (schedule.seed, schedule.scheduler);
        let mut replayer = self.replayer();
        let first = replayer.run(Source::Schedule(&schedule), true);
        let found = format!(
            "found by exhaustive exploration (bound: {} deviations from FIFO order): {coverage}",
            self.bound
        );
        if self.plan.check_determinism {
            let second = replayer.run(Source::Schedule(&schedule), true);
            if let Some(message) = divergence(&first, &second, "schedule") {
                let mut failure =
                    Failure::nondeterminism(seed, scheduler, message, first.trace, String::new());
                failure.note = Some(found);
                failure.origin = Some(ORIGIN.to_owned());
                failure.schedule = schedule;
                failure.replay_command = token_command(&failure);
                return failure;
            }
        }
        let signature = match first.signature() {
            Some(signature) if replayed(&first, &schedule.decisions) => signature,
            _ => {
                let mut failure = Failure::nondeterminism(
                    seed,
                    scheduler,
                    "the body ran differently when the decisions of an explored schedule were \
                     replayed: exhaustive exploration needs a deterministic body"
                        .to_owned(),
                    first.trace,
                    String::new(),
                );
                failure.note = Some(format!(
                    "{found}\nhint: look for real time, real threads, a thread RNG or HashMap \
                     iteration order in the test body"
                ));
                failure.origin = Some(ORIGIN.to_owned());
                failure.schedule = schedule;
                failure.replay_command = token_command(&failure);
                return failure;
            }
        };
        let original = first.schedule(scheduler, seed, false);
        let (shown, schedule, shrink) = match self.plan.shrink.replays {
            0 => (first, original, None),
            _ => shrink_seed(&mut replayer, first, original, self.plan.shrink, &signature),
        };
        let mut failure = Failure::from_run(seed, scheduler, shown).expect("the shown run fails");
        failure.schedule = schedule;
        failure.replay_command = token_command(&failure);
        failure.shrink = shrink;
        failure.note = Some(found);
        failure.origin = Some(ORIGIN.to_owned());
        failure
    }
}

/// How a failure report's first line names an exploration's failing run.
const ORIGIN: &str = "in an exhaustive exploration";

/// Whether `run` made exactly the decisions of `prefix` (then FIFO ones): false when the
/// body is not deterministic.
fn replayed(run: &Replayed, prefix: &[u32]) -> bool {
    run.mismatches == 0
        && run.decisions.len() >= prefix.len()
        && run
            .decisions
            .iter()
            .zip(prefix)
            .all(|(d, &p)| d.chosen == p)
}
