//! The harness: [`Builder`] resolves what to run (code settings, overridden by the
//! environment), sweeps the seeds on one or more threads, and turns the lowest failing
//! seed into a [`Failure`]: it replays the seed with the trace on, shrinks its
//! schedule, and replays the shrunk schedule for the trace the report shows.
//!
//! Invariants:
//! - the report depends only on the plan and the body, never on the number of threads
//!   or their timing: it names the lowest failing seed of the range;
//! - a passing seed pays only for its run: each thread reuses one runtime, and no trace
//!   is recorded until a seed fails.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use detsim_runtime::{RunError, Runtime};

use crate::config::Env;
use crate::progress::Progress;
use crate::report::{Failure, FailureKind, Report, ShrinkSummary};
use crate::schedule::{Schedule, WordRng};
use crate::scheduler::Scheduler;
use crate::shrink::{self, Candidate, ShrinkBudget, Signature};

/// Seeds a sweep runs when neither the code nor `DETSIM_SEEDS` says.
pub const DEFAULT_SEEDS: u64 = 1000;
/// The first seed of a sweep when neither the code nor `DETSIM_SEED_START` says: fixed,
/// so CI runs are reproducible.
pub const DEFAULT_SEED_START: u64 = 0;
/// Seeds a thread claims at a time in a parallel sweep.
const CHUNK: u64 = 64;
/// The seed of the FIFO calibration run that estimates a run's length for PCT.
const CALIBRATION_SEED: u64 = 0;

/// Configures and runs a simulation test. Every setting has an environment variable
/// that overrides it (see the crate docs).
#[derive(Debug, Clone, Default)]
pub struct Builder {
    seeds: Option<u64>,
    seed: Option<u64>,
    seed_start: Option<u64>,
    scheduler: Option<Scheduler>,
    max_steps: Option<u64>,
    jobs: Option<usize>,
    check_determinism: Option<bool>,
    pct_steps: Option<u64>,
    shrink: Option<ShrinkBudget>,
    trace_to: Option<std::path::PathBuf>,
}

/// Everything a sweep needs, resolved from the builder and the environment.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) scheduler: Scheduler,
    pub(crate) scheduler_from_env: bool,
    pub(crate) max_steps: u64,
    pub(crate) jobs: usize,
    pub(crate) check_determinism: bool,
    pub(crate) pct_steps: Option<u64>,
    pub(crate) shrink: ShrinkBudget,
    pub(crate) replay: Option<String>,
    /// Where to write the trace file of the run asked for (`DETSIM_TRACE`).
    pub(crate) trace_to: Option<std::path::PathBuf>,
}

impl Builder {
    /// A builder with the defaults: [`DEFAULT_SEEDS`] seeds from [`DEFAULT_SEED_START`],
    /// the [portfolio](Scheduler::portfolio) scheduler,
    /// [`detsim_runtime::DEFAULT_MAX_STEPS`] polls, one thread per core.
    pub fn new() -> Self {
        Builder::default()
    }

    /// How many seeds a sweep runs (`DETSIM_SEEDS` overrides).
    pub fn seeds(mut self, count: u64) -> Self {
        assert!(count > 0, "Builder::seeds: a sweep needs at least one seed");
        self.seeds = Some(count);
        self
    }

    /// Runs exactly this one seed (`DETSIM_SEED` overrides).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The first seed of a sweep (`DETSIM_SEED_START` overrides): with
    /// [`seeds`](Builder::seeds) it selects any range, to shard a long sweep.
    pub fn seed_start(mut self, start: u64) -> Self {
        self.seed_start = Some(start);
        self
    }

    /// The scheduling policy (`DETSIM_SCHEDULER` overrides).
    pub fn scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Fails a run that makes more than `polls` polls: a livelock.
    pub fn max_steps(mut self, polls: u64) -> Self {
        assert!(
            polls > 0,
            "Builder::max_steps: the budget must be at least one poll"
        );
        self.max_steps = Some(polls);
        self
    }

    /// Runs the seeds of a sweep on this many threads (`DETSIM_JOBS` overrides;
    /// default: the machine's parallelism). The report does not depend on it.
    pub fn jobs(mut self, threads: usize) -> Self {
        assert!(threads > 0, "Builder::jobs: at least one thread");
        self.jobs = Some(threads);
        self
    }

    /// Runs every seed twice and fails, naming the first differing event, when the two
    /// traces differ (`DETSIM_CHECK_DETERMINISM=1` turns it on).
    pub fn check_determinism(mut self, on: bool) -> Self {
        self.check_determinism = Some(on);
        self
    }

    /// The run length (in polls) PCT spreads its change points over. By default a FIFO
    /// run of the body (seed 0) measures it before the sweep.
    pub fn pct_steps(mut self, polls: u64) -> Self {
        self.pct_steps = Some(polls.max(1));
        self
    }

    /// Limits shrinking of a failing schedule to `replays` replays and `time` of wall
    /// clock (default 2000 replays, 10 s). `replays = 0` turns shrinking off.
    pub fn shrink_budget(mut self, replays: u64, time: std::time::Duration) -> Self {
        self.shrink = Some(ShrinkBudget { replays, time });
        self
    }

    /// Writes a trace file (see [`Failure::write_trace`]) of one run to `path`, whether
    /// it passes or fails (`DETSIM_TRACE=<path>` does the same and overrides): the
    /// failing run when a seed fails (shrunk, as the report shows it), else the run of
    /// the replay token, else the run of the sweep's first seed — with
    /// [`seed`](Builder::seed) or `DETSIM_SEED`, the seed asked for. A failure's report
    /// names a trace file under the target directory anyway; this is for looking at a
    /// run that did not fail.
    pub fn write_trace_to(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trace_to = Some(path.into());
        self
    }

    /// Runs `body` over the seeds and reports the lowest failing seed, if any. With
    /// `DETSIM_REPLAY` set, runs exactly that schedule instead.
    pub fn explore<F, Fut>(self, body: F) -> Report
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        let plan = self.plan(&Env::read());
        let report = match &plan.replay {
            Some(token) => Report {
                seeds_run: 1,
                failure: replay_token(&plan, token, &body).err(),
            },
            None => sweep(&plan, &body),
        };
        if let Some(path) = &plan.trace_to {
            write_requested_trace(&plan, &body, &report, path);
        }
        report
    }

    /// Like [`explore`](Builder::explore), then panics with the failure report if a
    /// seed failed.
    #[track_caller]
    pub fn check<F, Fut>(self, body: F)
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        if let Some(failure) = self.explore(body).failure {
            panic!("{failure}");
        }
    }

    /// Runs exactly the schedule of a replay token (from [`Failure::replay_token`];
    /// `DETSIM_REPLAY` overrides it). Past the token's last decision the run continues
    /// in FIFO order.
    ///
    /// # Panics
    /// If the token is malformed or truncated, with a message that says so.
    #[allow(
        clippy::result_large_err,
        reason = "the public contract returns the Failure by value"
    )]
    pub fn replay<F, Fut>(self, token: &str, body: F) -> Result<(), Failure>
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        let plan = self.plan(&Env::read());
        let token = plan.replay.clone().unwrap_or_else(|| token.to_owned());
        replay_token(&plan, &token, &body)
    }

    pub(crate) fn plan(&self, env: &Env) -> Plan {
        let single = env.seed.or(self.seed);
        let (start, count) = match single {
            Some(seed) => (seed, 1),
            None => (
                env.seed_start
                    .or(self.seed_start)
                    .unwrap_or(DEFAULT_SEED_START),
                env.seeds.or(self.seeds).unwrap_or(DEFAULT_SEEDS),
            ),
        };
        Plan {
            start,
            count,
            scheduler: env.scheduler.or(self.scheduler).unwrap_or_default(),
            scheduler_from_env: env.scheduler.is_some(),
            max_steps: self.max_steps.unwrap_or(detsim_runtime::DEFAULT_MAX_STEPS),
            jobs: env.jobs.or(self.jobs).unwrap_or_else(parallelism),
            check_determinism: env
                .check_determinism
                .or(self.check_determinism)
                .unwrap_or(false),
            pct_steps: self.pct_steps,
            shrink: self.shrink.unwrap_or_default(),
            replay: env.replay.clone(),
            trace_to: env.trace.clone().or_else(|| self.trace_to.clone()),
        }
    }
}

/// The machine's parallelism, read once: `available_parallelism` reads cgroup files on
/// every call, which would cost a short sweep more than its runs.
fn parallelism() -> usize {
    static PARALLELISM: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PARALLELISM.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Runs `body` over the seeds with [`Builder::new`]'s settings and panics with the
/// failure report if a seed fails.
#[track_caller]
pub fn check<F, Fut>(body: F)
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    Builder::new().check(body)
}

/// One plan and body, ready to run seeds.
struct Exec<'a, F> {
    plan: &'a Plan,
    body: &'a F,
    /// PCT's estimate of a run's length.
    expected_steps: u64,
}

impl<F, Fut> Exec<'_, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    fn runtime(&self) -> Runtime {
        let mut rt = Runtime::new(self.plan.start);
        rt.set_max_steps(self.plan.max_steps);
        rt
    }

    /// Runs `seed` with its strategy's chooser.
    fn run(&self, rt: &mut Runtime, seed: u64) -> Result<(), RunError> {
        let scheduler = self.plan.scheduler.for_seed(seed);
        rt.reset(seed, Some(scheduler.chooser(seed, self.expected_steps)));
        let body = self.body;
        rt.run(async { body().await })
    }

    /// Whether `seed` fails (or, when checking determinism, runs differently twice).
    fn fails(&self, rt: &mut Runtime, seed: u64) -> bool {
        if !self.plan.check_determinism {
            return self.run(rt, seed).is_err();
        }
        self.divergence(rt, seed).is_some() || self.run(rt, seed).is_err()
    }

    /// Runs `seed` twice with the trace on; describes the first difference, if any.
    fn divergence(&self, rt: &mut Runtime, seed: u64) -> Option<(String, detsim_runtime::Trace)> {
        rt.set_trace(true);
        let first_outcome = self.run(rt, seed).err().map(|e| e.message());
        let first = rt.take_trace().unwrap_or_default();
        let second_outcome = self.run(rt, seed).err().map(|e| e.message());
        let second = rt.take_trace().unwrap_or_default();
        rt.set_trace(false);
        let event = match first.first_difference(&second) {
            Some(event) => event,
            None if first_outcome != second_outcome => first.events().len(),
            None => return None,
        };
        let line = |trace: &detsim_runtime::Trace| match trace.events().get(event) {
            Some(e) => {
                let mut line = String::new();
                let _ = trace.write_event(&mut line, e);
                line.trim().to_owned()
            }
            None => "(the run ended here)".to_owned(),
        };
        let step = first
            .events()
            .get(event)
            .or(second.events().get(event))
            .map_or(0, |e| e.step);
        let message = format!(
            "nondeterminism: two runs of the same seed diverged at event {event} (poll {step}):\n\
             first run:  {}\nsecond run: {}",
            line(&first),
            line(&second)
        );
        Some((message, first))
    }
}

/// Estimates a run's length for PCT: the polls of one FIFO run of the body.
fn calibrate<F, Fut>(plan: &Plan, body: &F) -> u64
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
    let mut rt = Runtime::new(CALIBRATION_SEED);
    rt.set_max_steps(plan.max_steps);
    rt.reset(
        CALIBRATION_SEED,
        Some(Scheduler::fifo().chooser(CALIBRATION_SEED, 1)),
    );
    let _ = rt.run(async { body().await });
    rt.steps().max(2)
}

/// Sweeps the plan's seeds; the lowest failing seed wins, whatever the thread count.
pub(crate) fn sweep<F, Fut>(plan: &Plan, body: &F) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let exec = Exec {
        plan,
        body,
        expected_steps: calibrate(plan, body),
    };
    let end = plan.start.saturating_add(plan.count);
    let lowest_failure = AtomicU64::new(u64::MAX);
    let next_chunk = AtomicU64::new(plan.start);
    let progress = Progress::new(plan.count);
    let worker = || {
        let mut rt = exec.runtime();
        loop {
            let first = next_chunk.fetch_add(CHUNK, Ordering::Relaxed);
            if first >= end || first > lowest_failure.load(Ordering::Relaxed) {
                return;
            }
            let last = first.saturating_add(CHUNK).min(end);
            for seed in first..last {
                if seed > lowest_failure.load(Ordering::Relaxed) {
                    return;
                }
                if exec.fails(&mut rt, seed) {
                    lowest_failure.fetch_min(seed, Ordering::Relaxed);
                    progress.advance(seed - first + 1, 1);
                    return;
                }
            }
            progress.advance(last - first, 0);
        }
    };
    let jobs = plan.jobs.min(plan.count.div_ceil(CHUNK) as usize).max(1);
    if jobs == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(worker);
            }
        });
    }
    progress.finish();
    match lowest_failure.into_inner() {
        u64::MAX => Report {
            seeds_run: plan.count,
            failure: None,
        },
        seed => {
            let mut failure = describe_failure(&exec, seed);
            failure.write_trace_file();
            Report {
                seeds_run: seed - plan.start + 1,
                failure: Some(failure),
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
    let mut rt = exec.runtime();
    if plan.check_determinism
        && let Some((message, trace)) = exec.divergence(&mut rt, seed)
    {
        let mut failure = Failure::new(seed, scheduler, message, FailureKind::Nondeterminism);
        failure.trace = trace;
        failure.replay_command = replay_command(plan, &seed_vars(plan, seed));
        return failure;
    }
    rt.set_trace(true);
    let outcome = exec.run(&mut rt, seed);
    let trace = rt.take_trace().unwrap_or_default();
    let error = match outcome {
        Err(error) => error,
        Ok(()) => {
            let mut failure = Failure::new(
                seed,
                scheduler,
                "the seed failed in the sweep but passed when replayed: the test is not \
                 deterministic"
                    .to_owned(),
                FailureKind::Nondeterminism,
            );
            failure.note = Some(
                "hint: look for real time, real threads, a thread RNG or HashMap iteration \
                 order in the test body; DETSIM_CHECK_DETERMINISM=1 names the first step at \
                 which two runs differ"
                    .to_owned(),
            );
            failure.trace = trace;
            failure.replay_command = replay_command(plan, &seed_vars(plan, seed));
            return failure;
        }
    };
    let signature = Signature::of(&error);
    let original = Candidate::of_last_run(&rt);
    let mut failure = Failure::from_error(seed, scheduler, &error);
    failure.trace = trace;
    failure.steps = original.steps;
    failure.decisions = rt.decisions();
    failure.schedule = Schedule {
        scheduler,
        seed,
        decisions: original.decisions.clone(),
        user_words: Vec::new(),
    };
    failure.schedule.trim();
    if plan.shrink.replays > 0 {
        let mut shrink_rt = exec.runtime();
        let body = exec.body;
        let shrunk = shrink::shrink(
            original.clone(),
            plan.shrink,
            |decisions| shrink::replay_on(&mut shrink_rt, seed, decisions, body),
            &signature,
        );
        // The report shows the shrunk run: replay it with the trace on.
        rt.reset(
            seed,
            Some(Box::new(detsim_runtime::Replay::new(
                shrunk.best.decisions.clone(),
            ))),
        );
        rt.set_trace(true);
        let replayed = rt.run(async { body().await });
        if let Err(error) = replayed
            && error.message() == signature.message
        {
            failure.trace = rt.take_trace().unwrap_or_default();
            failure.steps = rt.steps();
            failure.decisions = rt.decisions();
            failure.schedule.decisions = shrunk.best.decisions.clone();
        }
        failure.shrink = Some(ShrinkSummary {
            original_steps: original.steps,
            original_deviations: original.deviations(),
            deviations: failure.schedule.deviations(),
            replays: shrunk.replays,
            stopped_early: shrunk.stopped_early,
        });
    }
    let token = failure.schedule.to_token();
    failure.replay_command = replay_command(plan, &format!("DETSIM_REPLAY={token}"));
    failure.seed_command = Some(replay_command(plan, &seed_vars(plan, seed)));
    failure
}

/// Runs a token's schedule once, with the trace on.
#[allow(
    clippy::result_large_err,
    reason = "the Failure is the product, not an exceptional path"
)]
fn replay_token<F, Fut>(plan: &Plan, token: &str, body: &F) -> Result<(), Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let schedule = Schedule::parse(token).unwrap_or_else(|error| panic!("{error}"));
    let mut rt = Runtime::new(schedule.seed);
    rt.set_max_steps(plan.max_steps);
    rt.set_trace(true);
    let replay = detsim_runtime::Replay::new(schedule.decisions.clone());
    let mismatches = replay.mismatches();
    rt.reset(schedule.seed, Some(Box::new(replay)));
    if !schedule.user_words.is_empty() {
        rt.set_user_rng(Box::new(WordRng::new(
            schedule.user_words.clone(),
            schedule.seed,
        )));
    }
    let error = match rt.run(async { body().await }) {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    let mut failure = Failure::from_error(schedule.seed, schedule.scheduler, &error);
    failure.trace = rt.take_trace().unwrap_or_default();
    failure.steps = rt.steps();
    failure.decisions = rt.decisions();
    failure.replay_command =
        replay_command(plan, &format!("DETSIM_REPLAY={}", schedule.to_token()));
    if mismatches.get() > 0 {
        failure.note = Some(format!(
            "note: {} decision(s) of the replay token chose a task that was not there; the \
             token was made by another test, or this test changed since (run it with the \
             `-- <test name> --exact` filter of the command that printed it)",
            mismatches.get()
        ));
    }
    failure.schedule = schedule;
    failure.write_trace_file();
    Err(failure)
}

/// Writes the trace file `DETSIM_TRACE` / [`Builder::write_trace_to`] asked for: the
/// failure's run, or else the replay token's or the first seed's run, traced once more.
fn write_requested_trace<F, Fut>(plan: &Plan, body: &F, report: &Report, path: &std::path::Path)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let written = match &report.failure {
        Some(failure) => failure.write_trace(path),
        None => {
            let mut rt = Runtime::new(plan.start);
            rt.set_max_steps(plan.max_steps);
            let (seed, scheduler) = match &plan.replay {
                Some(token) => {
                    let schedule = Schedule::parse(token).unwrap_or_else(|error| panic!("{error}"));
                    rt.reset(
                        schedule.seed,
                        Some(Box::new(detsim_runtime::Replay::new(
                            schedule.decisions.clone(),
                        ))),
                    );
                    if !schedule.user_words.is_empty() {
                        rt.set_user_rng(Box::new(WordRng::new(
                            schedule.user_words.clone(),
                            schedule.seed,
                        )));
                    }
                    (schedule.seed, schedule.scheduler)
                }
                None => {
                    let scheduler = plan.scheduler.for_seed(plan.start);
                    let expected = calibrate(plan, body);
                    rt.reset(plan.start, Some(scheduler.chooser(plan.start, expected)));
                    (plan.start, scheduler)
                }
            };
            rt.set_trace(true);
            let _ = rt.run(async { body().await });
            let trace = rt.take_trace().unwrap_or_default();
            let title = match test_name() {
                Some(name) => format!("detsim: {name}, seed {seed:#x} ({scheduler}), passed"),
                None => format!("detsim: seed {seed:#x} ({scheduler}), passed"),
            };
            crate::perfetto::write(&trace, &title, path)
        }
    };
    if let Err(error) = written {
        eprintln!(
            "detsim: could not write the trace file {}: {error}",
            path.display()
        );
    }
}

fn seed_vars(plan: &Plan, seed: u64) -> String {
    let mut vars = format!("DETSIM_SEED={seed:#x}");
    if plan.scheduler_from_env {
        vars.push_str(&format!(" DETSIM_SCHEDULER={}", plan.scheduler));
    }
    vars
}

/// A command that reruns this test with `vars` set.
fn replay_command(_plan: &Plan, vars: &str) -> String {
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    if let Some(name) = test_name() {
        return format!("{vars} cargo test{package} -- {name} --exact");
    }
    let exe = std::env::current_exe().ok();
    let example = exe.as_ref().and_then(|path| {
        let parent = path.parent()?.file_name()?;
        (parent == "examples").then(|| path.file_stem()?.to_str().map(str::to_owned))?
    });
    match example {
        Some(example) => format!("{vars} cargo run{package} --example {example}"),
        None => {
            let args: Vec<String> = std::env::args().collect();
            format!("{vars} {}", args.join(" "))
        }
    }
}

/// The running test's name: libtest names each test's thread after the test.
pub(crate) fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}
