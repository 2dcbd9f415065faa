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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use crate::artifacts::{replay_command, seed_vars, token_command};
use crate::assertions::Tally;
use crate::config::Unreached;
use crate::progress::Progress;
use crate::replayer::{Maker, Replayed, Replayer, Source, divergence, in_place, on_fresh_threads};
use crate::report::{Failure, Report, ShrinkSummary};
use crate::results;
use crate::schedule::Schedule;
use crate::scheduler::Scheduler;
use crate::seed_range::SeedRange;
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
    /// How this sweep makes its replayers.
    make: Maker<F>,
}

impl<'a, F, Fut> Exec<'a, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    fn new(plan: &'a Settings, body: &'a F, make: Maker<F>) -> Self {
        Exec {
            plan,
            body,
            expected_steps: OnceLock::new(),
            make,
        }
    }

    /// PCT's estimate of a run's length ([`calibrate`], once).
    fn expected_steps(&self) -> u64 {
        *self
            .expected_steps
            .get_or_init(|| calibrate(self.plan, self.body, self.make))
    }

    fn replayer(&self) -> Replayer<'_, F> {
        (self.make)(self.body, self.plan.max_steps, self.plan.faults)
            .allow_threads(self.plan.allow_threads)
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
pub(crate) fn calibrate<F, Fut>(plan: &Settings, body: &F, make: Maker<F>) -> u64
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
    let run = make(body, plan.max_steps, plan.faults)
        .allow_threads(plan.allow_threads)
        .run(fifo, false);
    run.steps.max(2)
}

/// Sweeps the plan's seeds; the lowest failing seed wins, whatever the thread count.
pub(crate) fn sweep<F, Fut>(plan: &Settings, body: &F) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let exec = Exec::new(plan, body, on_fresh_threads::<F, Fut>);
    let state = SweepState::new(plan);
    let jobs = plan
        .jobs
        .min(plan.range.count.div_ceil(CHUNK) as usize)
        .max(1);
    on_threads(jobs, || state.work(&exec));
    state.finish(&exec)
}

/// [`sweep`] on the calling thread only: what a body that is not `Sync` can have.
pub(crate) fn sweep_local<F, Fut>(plan: &Settings, body: &F) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let exec = Exec::new(plan, body, in_place::<F, Fut>);
    let state = SweepState::new(plan);
    state.work(&exec);
    state.finish(&exec)
}

/// The seeds of a sweep, shared by its threads: chunks of the range's indices claimed
/// in order, the lowest failing index so far (or, when the sweep keeps going, every
/// failing index), progress.
struct SweepState {
    range: SeedRange,
    keep_going: bool,
    /// Read before every seed by every thread, written only when a seed fails (and
    /// never when the sweep keeps going): kept on a cache line of its own, away from
    /// the counters written at every chunk.
    lowest_failure: CacheLine<AtomicU64>,
    next_chunk: AtomicU64,
    /// Every failing index, when the sweep keeps going after a failure.
    failing: Mutex<Vec<u64>>,
    progress: Progress,
    started: (Instant, SystemTime),
    /// What the assertions saw, by chunk (its first seed): only the chunks up to the
    /// lowest failing seed count, so the counts do not depend on the threads.
    tallies: Mutex<Vec<(u64, Tally)>>,
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
            range: plan.range,
            keep_going: plan.keep_going,
            lowest_failure: CacheLine(AtomicU64::new(u64::MAX)),
            next_chunk: AtomicU64::new(0),
            failing: Mutex::new(Vec::new()),
            progress: Progress::new(plan.range.count),
            started: (Instant::now(), SystemTime::now()),
            tallies: Mutex::new(Vec::new()),
        }
    }

    /// One thread's share: claims chunks of seeds until the range is done or a lower
    /// seed than any left has failed (unless the sweep keeps going after failures).
    fn work<F, Fut>(&self, exec: &Exec<'_, F>)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut replayer = exec.replayer();
        let count = self.range.count;
        loop {
            let first = self.next_chunk.fetch_add(CHUNK, Ordering::Relaxed);
            if first >= count || first > self.lowest_failure.0.load(Ordering::Relaxed) {
                return;
            }
            let last = first.saturating_add(CHUNK).min(count);
            let mut failures = 0;
            let mut tally = Tally::default();
            let mut stop = false;
            for k in first..last {
                if k > self.lowest_failure.0.load(Ordering::Relaxed) {
                    stop = true;
                    break;
                }
                let failed = exec.fails(&mut replayer, self.range.seed(k));
                tally.add(&replayer.take_assertions());
                if failed {
                    if self.keep_going {
                        failures += 1;
                        self.failing
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(k);
                        continue;
                    }
                    self.lowest_failure.0.fetch_min(k, Ordering::Relaxed);
                    self.progress.advance(k - first + 1, 1);
                    stop = true;
                    break;
                }
            }
            if !tally.is_empty() {
                let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
                tallies.push((first, tally));
            }
            if stop {
                return;
            }
            self.progress.advance(last - first, failures);
        }
    }

    /// The report: every seed passed, or the lowest failing seed's failure. With a
    /// results directory, the sweep's record goes there first.
    fn finish<F, Fut>(self, exec: &Exec<'_, F>) -> Report
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        self.progress.finish();
        let mut failing = self.failing.into_inner().unwrap_or_else(|p| p.into_inner());
        failing.sort_unstable();
        let lowest = match self.lowest_failure.0.into_inner() {
            u64::MAX => failing.first().copied(),
            k => Some(k),
        };
        // Seeds covered: the whole range, unless the sweep stopped at a failure.
        let covered = match (self.keep_going, lowest) {
            (false, Some(k)) => k + 1,
            _ => self.range.count,
        };
        let mut failure = lowest.map(|k| {
            let mut failure = describe_failure(exec, self.range.seed(k));
            failure.write_trace_file();
            failure
        });
        if let Some(dir) = &exec.plan.results {
            record_results(
                exec,
                dir,
                &failing,
                covered,
                self.started,
                &mut failure,
                |k| self.range.seed(k),
            );
        }
        // The assertions' counts: every chunk when the sweep kept going, else the
        // chunks up to the lowest failing index (the same whatever the threads).
        let counted_to = match (self.keep_going, lowest) {
            (false, Some(k)) => k,
            _ => u64::MAX,
        };
        let tallies = self.tallies.into_inner().unwrap_or_else(|e| e.into_inner());
        let total = tallies
            .into_iter()
            .filter(|(first, _)| *first <= counted_to)
            .fold(Tally::default(), |mut total, (_, tally)| {
                total.merge(&tally);
                total
            });
        let mut report = Report {
            seeds_run: covered,
            failure,
            ..Report::default()
        };
        report.assertions = total.finish(covered, &exec.plan.expected);
        if report.failure.is_none() && self.range.count > 1 {
            report.never_reached = report.assertions.never_reached_message();
            report.unreached_fails = exec.plan.unreached == Unreached::Fail;
        }
        report
    }
}

/// Writes the sweep's result record to `dir` (every failing index in `failing`, the
/// lowest one's `failure` first), and tells the report where it went.
fn record_results<F, Fut>(
    exec: &Exec<'_, F>,
    dir: &std::path::Path,
    failing: &[u64],
    covered: u64,
    started: (Instant, SystemTime),
    failure: &mut Option<Failure>,
    seed_of: impl Fn(u64) -> u64,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let others: Vec<Failure> = failing
        .iter()
        .skip(1)
        .map(|&k| failure_of_seed(exec, seed_of(k)))
        .collect();
    let failures: Vec<&Failure> = failure.iter().chain(&others).collect();
    let written = results::write(dir, exec.plan, covered, &failures, started);
    let file = written.unwrap_or_else(|error| {
        panic!(
            "detsim: DETSIM_RESULTS={}: cannot write this sweep's result record: {error}",
            dir.display()
        )
    });
    let (failed, distinct) = (failures.len(), results::distinct(&failures));
    if let Some(failure) = failure {
        let line = format!(
            "{failed} of {covered} seeds failed ({distinct} distinct failure{}); every one is \
             in the result record in {}",
            if distinct == 1 { "" } else { "s" },
            file.display()
        );
        failure.note = Some(match failure.note.take() {
            Some(note) => format!("{note}\n{line}"),
            None => line,
        });
    }
}

/// The [`Failure`] of a failing seed for a result record, without the report's work
/// (no trace, no shrinking): one more run of the seed. Its replay command reruns the
/// seed (`DETSIM_SEED=…`).
fn failure_of_seed<F, Fut>(exec: &Exec<'_, F>, seed: u64) -> Failure
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let plan = exec.plan;
    let scheduler = plan.scheduler.for_seed(seed);
    let run = exec.replayer().run(exec.source(seed), false);
    let schedule = run.schedule(scheduler, seed, false);
    let seed_command = replay_command(&seed_vars(plan, seed));
    let mut failure = Failure::from_run(seed, scheduler, run).unwrap_or_else(|| {
        Failure::nondeterminism(
            seed,
            scheduler,
            "the seed failed in the sweep but passed when replayed: the test is not \
             deterministic"
                .to_owned(),
            Default::default(),
            seed_command.clone(),
        )
    });
    failure.schedule = schedule;
    failure.replay_command = seed_command;
    failure
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
            "hint: look for a static shared between runs, real threads, real time, a thread RNG or HashMap iteration \
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
    failure.replay_command = token_command(&failure);
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
