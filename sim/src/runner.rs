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

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use detsim_runtime::Chooser;

use crate::config::{Env, ExhaustiveSetting};
use crate::explore::{self, ExhaustiveBudget};
use crate::progress::Progress;
use crate::replayer::{Replayed, Replayer, Source, divergence};
use crate::report::{Failure, Report, ShrinkSummary};
use crate::schedule::Schedule;
use crate::scheduler::Scheduler;
use crate::shrink::{self, ShrinkBudget, Signature};
use detsim_net::cluster::Faults;

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
/// that overrides it (see the crate docs), unless [`ignore_env`](Builder::ignore_env)
/// says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    ignore_env: bool,
    chooser: Option<ChooserFactory>,
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
    exhaustive: Option<u32>,
    exhaustive_budget: Option<ExhaustiveBudget>,
    faults: Option<Faults>,
}

/// Makes a [`Builder::chooser`]'s chooser for each seed.
#[derive(Clone)]
pub(crate) struct ChooserFactory(Arc<dyn Fn(u64) -> Box<dyn Chooser> + Send + Sync>);

impl fmt::Debug for ChooserFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChooserFactory")
    }
}

/// Everything a sweep needs, resolved from the builder and the environment.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) scheduler: Scheduler,
    pub(crate) scheduler_from_env: bool,
    /// The poll budget; `None`: the runtime's default, which grows with the tasks.
    pub(crate) max_steps: Option<u64>,
    pub(crate) jobs: usize,
    pub(crate) check_determinism: bool,
    pub(crate) pct_steps: Option<u64>,
    pub(crate) shrink: ShrinkBudget,
    pub(crate) replay: Option<String>,
    /// A [`Builder::chooser`]'s factory, unless `DETSIM_SCHEDULER` overrides it.
    pub(crate) chooser: Option<ChooserFactory>,
    /// Where to write the trace file of the run asked for (`DETSIM_TRACE`).
    pub(crate) trace_to: Option<std::path::PathBuf>,
    /// Exhaustive exploration up to this many deviations instead of a seed sweep.
    pub(crate) exhaustive: Option<u32>,
    pub(crate) exhaustive_budget: ExhaustiveBudget,
    /// The faults of every run (`None`: the default, swarm for bodies that create a
    /// cluster node and none otherwise).
    pub(crate) faults: Option<Faults>,
}

impl Builder {
    /// A builder with the defaults: [`DEFAULT_SEEDS`] seeds from [`DEFAULT_SEED_START`],
    /// the [portfolio](Scheduler::portfolio) scheduler,
    /// [`detsim_runtime::DEFAULT_MAX_STEPS`] polls, one thread per core.
    pub fn new() -> Self {
        Builder::default()
    }

    /// The faults every run injects: [`Faults::none`], [`Faults::swarm`] (a plan drawn
    /// per seed) or [`Faults::explicit`]. By default, a body that creates a cluster node
    /// runs under swarm faults and any other body under none. `DETSIM_FAULTS=none|swarm`
    /// overrides.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
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
        self.chooser = None;
        self
    }

    /// Fails a run that makes more than `polls` polls (`DETSIM_MAX_STEPS` overrides):
    /// a livelock if its last polls made no progress, else a run longer than its
    /// budget. By default the budget is [`detsim_runtime::DEFAULT_MAX_STEPS`] plus
    /// [`detsim_runtime::DEFAULT_POLLS_PER_TASK`] for each task the run spawns.
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

    /// Uses exactly what the code sets and ignores every `DETSIM_*` variable: for a test
    /// that pins a claim (this seed finds that bug; this schedule replays) and must not
    /// change meaning when a user runs the suite with `DETSIM_SEEDS=100000`.
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Uses a scheduling policy of your own: `make(seed)` builds the chooser of each
    /// seed's run (see [`choice::Chooser`](crate::choice::Chooser); it is asked at every
    /// decision point, for tasks and for every other
    /// [`DecisionKind`](crate::choice::DecisionKind)). Its failures are
    /// recorded, shrunk and replayed like any other's; reports name the strategy
    /// `custom`. `DETSIM_SCHEDULER` overrides it, as it overrides
    /// [`scheduler`](Builder::scheduler); a later call of either replaces the other.
    ///
    /// The chooser must be a function of the seed and the calls it receives (no clock,
    /// no thread RNG), or seeds stop replaying.
    pub fn chooser<M>(mut self, make: M) -> Self
    where
        M: Fn(u64) -> Box<dyn Chooser> + Send + Sync + 'static,
    {
        self.chooser = Some(ChooserFactory(Arc::new(make)));
        self.scheduler = None;
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

    /// Explores every schedule with at most `max_deviations` deviations from FIFO order
    /// instead of sweeping seeds (`DETSIM_EXHAUSTIVE=k` overrides; `DETSIM_EXHAUSTIVE=off`
    /// turns it off).
    ///
    /// A deviation is a decision that did not take option 0 (the oldest ready task, a
    /// `select!`'s first branch, the earliest delivery, no fault): every kind of
    /// decision counts the same, one deviation whatever the index. Each distinct
    /// schedule runs once, bound by bound (all with 0 deviations, then 1, …), so the
    /// first failure found has as few deviations as any failure of the body. The
    /// [`Report`]'s [`coverage`](Report::coverage) says what ran: "explored all 38
    /// schedules with at most 2 deviations from FIFO order; no failure" — or, when
    /// [`exhaustive_budget`](Builder::exhaustive_budget) stops it, how far it got.
    ///
    /// The seed-sweep settings do not apply; [`seed`](Builder::seed) (or `DETSIM_SEED`,
    /// default 0) is the seed of the program's own [`random`](crate::random) values in
    /// every schedule, and [`jobs`](Builder::jobs) spreads each bound's schedules over
    /// threads (the report does not depend on it).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let report = detsim::Builder::new().exhaustive(2).explore(|| async {
    ///     let hits = Rc::new(Cell::new(0));
    ///     let workers: Vec<_> = (0..2)
    ///         .map(|_| {
    ///             let hits = hits.clone();
    ///             detsim::spawn(async move {
    ///                 detsim::yield_now().await;
    ///                 hits.set(hits.get() + 1);
    ///             })
    ///         })
    ///         .collect();
    ///     for worker in workers {
    ///         worker.await.unwrap();
    ///     }
    ///     assert_eq!(hits.get(), 2);
    /// });
    /// let coverage = report.coverage().unwrap();
    /// assert!(report.passed() && coverage.is_complete());
    /// assert!(coverage.to_string().starts_with("explored all"));
    /// ```
    pub fn exhaustive(mut self, max_deviations: u32) -> Self {
        self.exhaustive = Some(max_deviations);
        self
    }

    /// Limits an exhaustive exploration to `schedules` schedules and `time` of wall
    /// clock (default 1,000,000 schedules, 10 minutes). The schedule count is the
    /// deterministic bound: the same schedules run on every machine and any number of
    /// threads; the time is a safety net. Either way the coverage statement says how far
    /// the exploration got and claims no bound it did not finish.
    pub fn exhaustive_budget(mut self, schedules: u64, time: std::time::Duration) -> Self {
        assert!(
            schedules > 0,
            "Builder::exhaustive_budget: the budget must be at least one schedule"
        );
        self.exhaustive_budget = Some(ExhaustiveBudget { schedules, time });
        self
    }

    /// Runs `body` over the seeds and reports the lowest failing seed, if any. With
    /// `DETSIM_REPLAY` set, runs exactly that schedule instead. In
    /// [exhaustive](Builder::exhaustive) mode, explores the schedules instead of seeds.
    pub fn explore<F, Fut>(self, body: F) -> Report
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        let plan = self.plan(&self.env());
        let report = match &plan.replay {
            Some(token) => Report {
                seeds_run: 1,
                failure: replay_token(&plan, token, &body).err(),
                coverage: None,
            },
            None => match plan.exhaustive {
                Some(bound) => explore::exhaustive(&plan, bound, &body),
                None => sweep(&plan, &body),
            },
        };
        if let Some(path) = &plan.trace_to {
            write_requested_trace(&plan, &body, &report, path);
        }
        report
    }

    /// [`explore`](Builder::explore) for a body that is not `Sync`: one that captures an
    /// `Rc` or a `Cell` of the test function, say. The sweep runs on the calling
    /// thread ([`jobs`](Builder::jobs) and `DETSIM_JOBS` do not apply); seeds,
    /// replay, shrinking, reports and the determinism check are the same.
    ///
    /// [`explore`] and [`check`](Builder::check) take `F: Fn() -> Fut + Sync`, because
    /// they may run seeds on several threads; such a body passed to them fails to
    /// compile with ``error[E0277]: `Rc<…>` cannot be shared between threads safely``
    /// (or ``… `Cell<…>` …``), pointing at the closure: use this method, or
    /// [`check_local`](Builder::check_local), instead.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let runs = Rc::new(Cell::new(0)); // not Sync
    /// let report = detsim::Builder::new().seeds(10).explore_local(|| {
    ///     runs.set(runs.get() + 1);
    ///     async { detsim::yield_now().await }
    /// });
    /// assert!(report.passed());
    /// assert!(runs.get() >= report.seeds_run); // one body per seed (and PCT's calibration)
    /// ```
    ///
    /// The same body handed to [`check`](Builder::check) does not compile:
    ///
    /// ```compile_fail,E0277
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let runs = Rc::new(Cell::new(0));
    /// detsim::Builder::new().check(|| {
    ///     runs.set(runs.get() + 1); // `Rc<Cell<i32>>` cannot be shared between threads safely
    ///     async {}
    /// });
    /// ```
    ///
    /// # Panics
    /// Under [`exhaustive`](Builder::exhaustive) (or `DETSIM_EXHAUSTIVE`), which needs a
    /// `Sync` body: with a message that says so.
    ///
    /// [`explore`]: Builder::explore
    pub fn explore_local<F, Fut>(self, body: F) -> Report
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut plan = self.plan(&self.env());
        plan.jobs = 1;
        let report = match &plan.replay {
            Some(token) => Report {
                seeds_run: 1,
                failure: replay_token(&plan, token, &body).err(),
                coverage: None,
            },
            None => {
                assert!(
                    plan.exhaustive.is_none(),
                    "detsim: exhaustive exploration needs a Sync body (Builder::explore or \
                     check); explore_local and check_local sweep seeds"
                );
                sweep_local(&plan, &body)
            }
        };
        if let Some(path) = &plan.trace_to {
            write_requested_trace(&plan, &body, &report, path);
        }
        report
    }

    /// Like [`explore_local`](Builder::explore_local), then panics with the failure
    /// report if a seed failed: [`check`](Builder::check) for a body that is not `Sync`.
    #[track_caller]
    pub fn check_local<F, Fut>(self, body: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        if let Some(failure) = self.explore_local(body).failure {
            panic!("{failure}");
        }
    }

    /// Like [`explore`](Builder::explore), then panics with the failure report if a
    /// seed failed. An [exhaustive](Builder::exhaustive) exploration that passes prints
    /// its coverage statement to stderr (shown by `cargo test -- --nocapture`).
    #[track_caller]
    pub fn check<F, Fut>(self, body: F)
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        let report = self.explore(body);
        if let Some(failure) = report.failure {
            panic!("{failure}");
        }
        if let Some(coverage) = report.coverage {
            eprintln!("detsim: {coverage}");
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
        let plan = self.plan(&self.env());
        let token = plan.replay.clone().unwrap_or_else(|| token.to_owned());
        replay_token(&plan, &token, &body)
    }

    /// The environment this builder listens to: none under `ignore_env`.
    fn env(&self) -> Env {
        match self.ignore_env {
            true => Env::default(),
            false => Env::read(),
        }
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
        let chooser = self.chooser.clone().filter(|_| env.scheduler.is_none());
        let default = match chooser {
            Some(_) => Scheduler::custom(),
            None => Scheduler::default(),
        };
        Plan {
            start,
            count,
            scheduler: env.scheduler.or(self.scheduler).unwrap_or(default),
            chooser,
            scheduler_from_env: env.scheduler.is_some(),
            max_steps: env.max_steps.or(self.max_steps),
            jobs: env.jobs.or(self.jobs).unwrap_or_else(parallelism),
            check_determinism: env
                .check_determinism
                .or(self.check_determinism)
                .unwrap_or(false),
            pct_steps: self.pct_steps,
            shrink: self.shrink.unwrap_or_default(),
            replay: env.replay.clone(),
            trace_to: env.trace.clone().or_else(|| self.trace_to.clone()),
            exhaustive: match env.exhaustive {
                Some(ExhaustiveSetting::Off) => None,
                Some(ExhaustiveSetting::Bound(k)) => Some(k),
                None => self.exhaustive,
            },
            exhaustive_budget: self.exhaustive_budget.unwrap_or_default(),
            faults: env.faults.or(self.faults),
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
        Source::Seed {
            scheduler: self.plan.scheduler.for_seed(seed),
            seed,
            expected_steps: self.expected_steps,
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
    let fifo = Source::Seed {
        scheduler: Scheduler::fifo(),
        seed: CALIBRATION_SEED,
        expected_steps: 1,
    };
    let run = Replayer::new(body, plan.max_steps, plan.faults).run(fifo, false);
    run.steps.max(2)
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
    let state = SweepState::new(plan);
    let jobs = plan.jobs.min(plan.count.div_ceil(CHUNK) as usize).max(1);
    on_threads(jobs, || state.work(&exec));
    state.finish(&exec)
}

/// [`sweep`] on the calling thread only: what a body that is not `Sync` can have.
fn sweep_local<F, Fut>(plan: &Plan, body: &F) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let exec = Exec {
        plan,
        body,
        expected_steps: calibrate(plan, body),
    };
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
    fn new(plan: &Plan) -> Self {
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
    let run =
        Replayer::new(body, plan.max_steps, plan.faults).run(Source::Schedule(&schedule), true);
    let mismatches = run.mismatches;
    let Some(mut failure) = Failure::from_run(schedule.seed, schedule.scheduler, run) else {
        return Ok(());
    };
    failure.replay_command = token_command(&schedule);
    if mismatches > 0 {
        failure.note = Some(format!(
            "note: {mismatches} decision(s) of the replay token chose a task that was not \
             there; the token was made by another test, or this test changed since (run it \
             with the `-- <test name> --exact` filter of the command that printed it)"
        ));
    }
    failure.schedule = schedule;
    failure.write_trace_file();
    Err(failure)
}

/// Writes the trace file `DETSIM_TRACE` / [`Builder::write_trace_to`] asked for: the
/// failure's run, or else the replay token's or the first seed's run (an exhaustive
/// exploration's: the FIFO schedule), traced once more.
fn write_requested_trace<F, Fut>(plan: &Plan, body: &F, report: &Report, path: &std::path::Path)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let written = match &report.failure {
        Some(failure) => failure.write_trace(path),
        None => {
            let mut replayer = Replayer::new(body, plan.max_steps, plan.faults);
            let (seed, scheduler, run) = match &plan.replay {
                Some(token) => {
                    let schedule = Schedule::parse(token).unwrap_or_else(|error| panic!("{error}"));
                    let run = replayer.run(Source::Schedule(&schedule), true);
                    (schedule.seed, schedule.scheduler, run)
                }
                None => {
                    // An exhaustive exploration's first schedule is the FIFO one.
                    let scheduler = match plan.exhaustive {
                        Some(_) => Scheduler::fifo(),
                        None => plan.scheduler.for_seed(plan.start),
                    };
                    let seed = plan.start;
                    let expected_steps = calibrate(plan, body);
                    let source = Source::Seed {
                        scheduler,
                        seed,
                        expected_steps,
                    };
                    (seed, scheduler, replayer.run(source, true))
                }
            };
            let title = match test_name() {
                Some(name) => format!("detsim: {name}, seed {seed:#x} ({scheduler}), passed"),
                None => format!("detsim: seed {seed:#x} ({scheduler}), passed"),
            };
            crate::perfetto::write(&run.trace, &title, path)
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

/// The longest replay token a report prints inline; a longer one is written to a file
/// and the command names the file (`DETSIM_REPLAY=@path`), so that a report stays
/// readable whatever the size of the run.
pub(crate) const INLINE_TOKEN_MAX: usize = 1_000;

/// A command that replays `schedule` exactly: `DETSIM_REPLAY=<token>`, or for a token
/// longer than [`INLINE_TOKEN_MAX`], `DETSIM_REPLAY=@<file>` after writing the token to
/// [`token_file`] (inline after all, with a note, if the file cannot be written).
pub(crate) fn token_command(schedule: &Schedule) -> String {
    let token = schedule.to_token();
    if token.len() <= INLINE_TOKEN_MAX {
        return replay_command(&format!("DETSIM_REPLAY={token}"));
    }
    let path = token_file(test_name().as_deref(), schedule.seed);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, format!("{token}\n")));
    match written {
        Ok(()) => replay_command(&format!("DETSIM_REPLAY=@{}", path.display())),
        Err(error) => format!(
            "{}\n    (the {}-character token could not be written to {}: {error})",
            replay_command(&format!("DETSIM_REPLAY={token}")),
            token.len(),
            path.display()
        ),
    }
}

/// Where a long replay token goes: `detsim-replays/<test>-seed-<seed>.token` in the
/// target directory (`CARGO_TARGET_DIR`, else the directory above the test executable's
/// `deps/`, else the system's temporary directory), as an absolute path.
pub(crate) fn token_file(test: Option<&str>, seed: u64) -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let dir = exe.parent()?;
            Some(match dir.file_name() {
                Some(name) if name == "deps" || name == "examples" => dir.parent()?.to_owned(),
                _ => dir.to_owned(),
            })
        })
        .unwrap_or_else(std::env::temp_dir);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let test: String = test
        .unwrap_or("simulation")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join("detsim-replays")
        .join(format!("{test}-seed-{seed:#x}.token"))
}

/// A command that reruns this test with `vars` set.
pub(crate) fn replay_command(vars: &str) -> String {
    let vars = &with_build_flags(vars);
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

/// `vars`, plus `RUSTFLAGS="--cfg detsim"` when this is the tokio facade's simulated
/// build (RUSTFLAGS reach every crate of a build, this one too): without the flag,
/// `cargo test` would rebuild the test against real tokio and replay nothing.
fn with_build_flags(vars: &str) -> String {
    if cfg!(detsim) {
        format!("{vars} RUSTFLAGS=\"--cfg detsim\"")
    } else {
        vars.to_owned()
    }
}

/// The running test's name: libtest names each test's thread after the test.
pub(crate) fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}
