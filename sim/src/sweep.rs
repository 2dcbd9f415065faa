//! The sweep: runs the seeds of [`Settings`] on one or more threads, and turns the
//! lowest failing seed into a [`Failure`]: it replays the seed with the trace on,
//! shrinks its schedule, and replays the shrunk schedule for the trace the report
//! shows.
//!
//! Invariants:
//! - the report depends only on the settings and the body, never on the number of
//!   threads or their timing: it names the lowest failing seed of the range;
//! - a passing seed pays only for its run: each thread reuses one runtime, and no trace
//!   is recorded until a seed fails.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::artifacts::{replay_command, seed_vars, token_command};
use crate::progress::Progress;
use crate::replayer::{Replayed, Replayer, Source, divergence};
use crate::report::{Failure, Report, ShrinkSummary};
use crate::schedule::Schedule;
use crate::scheduler::Scheduler;
use crate::settings::{ChooserFactory, Settings};
use crate::shrink::{self, ShrinkBudget, Signature};

/// Seeds a thread claims at a time in a parallel sweep.
const CHUNK: u64 = 64;
/// The seed of the FIFO calibration run that estimates a run's length for PCT.
const CALIBRATION_SEED: u64 = 0;

/// One plan and body, ready to run seeds.
struct Exec<'a, F> {
    plan: &'a Settings,
    body: &'a F,
    /// PCT's estimate of a run's length, measured when the first PCT seed needs it: a
    /// sweep none of whose seeds is PCT's (one seed of the portfolio, seed 0 random)
    /// spares the calibration run. The estimate is the same whenever it is made.
    expected_steps: OnceLock<u64>,
}

impl<'a, F, Fut> Exec<'a, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    fn new(plan: &'a Settings, body: &'a F) -> Self {
        Exec {
            plan,
            body,
            expected_steps: OnceLock::new(),
        }
    }

    /// PCT's estimate of a run's length ([`calibrate`], once).
    fn expected_steps(&self) -> u64 {
        *self
            .expected_steps
            .get_or_init(|| calibrate(self.plan, self.body))
    }

    fn replayer(&self) -> Replayer<'_, F> {
        Replayer::new(self.body, self.plan.max_steps, self.plan.faults)
    }

    /// What runs `seed`: its strategy (and PCT's length estimate), or the builder's own
    /// chooser.
    fn source(&self, seed: u64) -> Source<'static> {
        if let Some(ChooserFactory(make)) = &self.plan.chooser {
            return Source::Custom {
                seed,
                chooser: make(seed),
                rng: None,
            };
        }
        let scheduler = self.plan.scheduler.for_seed(seed);
        Source::Seed {
            scheduler,
            seed,
            // Only PCT reads the estimate.
            expected_steps: match scheduler.uses_pct() {
                true => self.expected_steps(),
                false => 1,
            },
        }
    }

    /// Whether `seed` fails (or, when checking determinism, runs differently twice).
    fn fails(&self, replayer: &mut Replayer<'_, F>, seed: u64) -> bool {
        if !self.plan.check_determinism {
            return replayer.fails(self.source(seed));
        }
        let first = replayer.run(self.source(seed), true);
        let second = replayer.run(self.source(seed), true);
        first.outcome.is_err() || divergence(&first, &second, "seed").is_some()
    }
}

/// Estimates a run's length for PCT: the polls of one FIFO run of the body.
pub(crate) fn calibrate<F, Fut>(plan: &Settings, body: &F) -> u64
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(steps) = plan.pct_steps {
        return steps;
    }
    if !plan.scheduler.uses_pct() {
        return 1;
    }
    let fifo = Source::Seed {
        scheduler: Scheduler::fifo(),
        seed: CALIBRATION_SEED,
        expected_steps: 1,
    };
    let run = Replayer::new(body, plan.max_steps, plan.faults).run(fifo, false);
    run.steps.max(2)
}

/// Sweeps the plan's seeds; the lowest failing seed wins, whatever the thread count.
pub(crate) fn sweep<F, Fut>(plan: &Settings, body: &F) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let exec = Exec::new(plan, body);
    let state = SweepState::new(plan);
    let jobs = plan.jobs.min(plan.count.div_ceil(CHUNK) as usize).max(1);
    on_threads(jobs, || state.work(&exec));
    state.finish(&exec)
}

/// [`sweep`] on the calling thread only: what a body that is not `Sync` can have.
pub(crate) fn sweep_local<F, Fut>(plan: &Settings, body: &F) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let exec = Exec::new(plan, body);
    let state = SweepState::new(plan);
    state.work(&exec);
    state.finish(&exec)
}

/// The seeds of a sweep, shared by its threads: chunks claimed in order, the lowest
/// failing seed so far, progress.
struct SweepState {
    start: u64,
    count: u64,
    end: u64,
    /// Read before every seed by every thread, written only when a seed fails: kept on
    /// a cache line of its own, away from the counters written at every chunk.
    lowest_failure: CacheLine<AtomicU64>,
    next_chunk: AtomicU64,
    progress: Progress,
}

/// A value alone on its cache line (128 bytes: two lines, for the adjacent-line
/// prefetcher), so that writes to its neighbours do not evict it from other cores.
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub(crate) T);

/// Runs `work` on `jobs` threads, the calling thread one of them (all of it for one
/// job): it is already running, while a new thread may take a while to get a core.
pub(crate) fn on_threads(jobs: usize, work: impl Fn() + Sync) {
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            scope.spawn(&work);
        }
        work();
    });
}

impl SweepState {
    fn new(plan: &Settings) -> Self {
        SweepState {
            start: plan.start,
            count: plan.count,
            end: plan.start.saturating_add(plan.count),
            lowest_failure: CacheLine(AtomicU64::new(u64::MAX)),
            next_chunk: AtomicU64::new(plan.start),
            progress: Progress::new(plan.count),
        }
    }

    /// One thread's share: claims chunks of seeds until the range is done or a lower
    /// seed than any left has failed.
    fn work<F, Fut>(&self, exec: &Exec<'_, F>)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut replayer = exec.replayer();
        loop {
            let first = self.next_chunk.fetch_add(CHUNK, Ordering::Relaxed);
            if first >= self.end || first > self.lowest_failure.0.load(Ordering::Relaxed) {
                return;
            }
            let last = first.saturating_add(CHUNK).min(self.end);
            for seed in first..last {
                if seed > self.lowest_failure.0.load(Ordering::Relaxed) {
                    return;
                }
                if exec.fails(&mut replayer, seed) {
                    self.lowest_failure.0.fetch_min(seed, Ordering::Relaxed);
                    self.progress.advance(seed - first + 1, 1);
                    return;
                }
            }
            self.progress.advance(last - first, 0);
        }
    }

    /// The report: every seed passed, or the lowest failing seed's failure.
    fn finish<F, Fut>(self, exec: &Exec<'_, F>) -> Report
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        self.progress.finish();
        match self.lowest_failure.0.into_inner() {
            u64::MAX => Report {
                seeds_run: self.count,
                failure: None,
                coverage: None,
            },
            seed => {
                let mut failure = describe_failure(exec, seed);
                failure.write_trace_file();
                Report {
                    seeds_run: seed - self.start + 1,
                    failure: Some(failure),
                    coverage: None,
                }
            }
        }
    }
}

/// Builds the [`Failure`] of a failing seed: replays it with the trace on, shrinks its
/// schedule, and replays the shrunk schedule for the report's trace.
fn describe_failure<F, Fut>(exec: &Exec<'_, F>, seed: u64) -> Failure
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let plan = exec.plan;
    let scheduler = plan.scheduler.for_seed(seed);
    let mut replayer = exec.replayer();
    let seed_command = replay_command(&seed_vars(plan, seed));
    let first = replayer.run(exec.source(seed), true);
    if plan.check_determinism {
        let second = replayer.run(exec.source(seed), true);
        if let Some(message) = divergence(&first, &second, "seed") {
            return Failure::nondeterminism(seed, scheduler, message, first.trace, seed_command);
        }
    }
    let Some(signature) = first.signature() else {
        let mut failure = Failure::nondeterminism(
            seed,
            scheduler,
            "the seed failed in the sweep but passed when replayed: the test is not \
             deterministic"
                .to_owned(),
            first.trace,
            seed_command,
        );
        failure.note = Some(
            "hint: look for real time, real threads, a thread RNG or HashMap iteration \
             order in the test body; DETSIM_CHECK_DETERMINISM=1 names the first step at \
             which two runs differ"
                .to_owned(),
        );
        return failure;
    };
    let original = first.schedule(scheduler, seed, false);
    let (shown, schedule, shrink) = match plan.shrink.replays {
        0 => (first, original, None),
        _ => shrink_seed(&mut replayer, first, original, plan.shrink, &signature),
    };
    let mut failure = Failure::from_run(seed, scheduler, shown).expect("the shown run fails");
    failure.schedule = schedule;
    failure.shrink = shrink;
    failure.replay_command = token_command(&failure.schedule);
    failure.seed_command = Some(seed_command);
    failure
}

/// Shrinks a failing seed's schedule; returns the run to show (the shrunk one, when it
/// fails the same way), its schedule and how shrinking went.
pub(crate) fn shrink_seed<F, Fut>(
    replayer: &mut Replayer<'_, F>,
    first: Replayed,
    original: Schedule,
    budget: ShrinkBudget,
    signature: &Signature,
) -> (Replayed, Schedule, Option<ShrinkSummary>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let start = first.candidate();
    let shrunk = shrink::shrink(
        start.clone(),
        budget,
        |decisions| replayer.try_decisions(&original, decisions),
        signature,
    );
    let smaller = Schedule {
        decisions: shrunk.best.decisions.clone(),
        ..original.clone()
    };
    // The report shows the shrunk run: replay it with the trace on.
    let replayed = replayer.run(Source::Schedule(&smaller), true);
    let (shown, schedule) = match replayed.fails_as(signature) {
        true => (replayed, smaller),
        false => (first, original),
    };
    let summary = ShrinkSummary {
        original_steps: start.steps,
        original_deviations: start.deviations(),
        deviations: schedule.deviations(),
        replays: shrunk.replays,
        stopped_early: shrunk.stopped_early,
    };
    (shown, schedule, Some(summary))
}
