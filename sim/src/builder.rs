//! [`Builder`]: what a test asks for (code settings, overridden by the environment),
//! resolved into [`Settings`] and handed to the sweep, an exhaustive exploration or a
//! token replay.
//!
//! Invariants:
//! - the environment overrides the code, unless [`Builder::ignore_env`] says otherwise;
//!   nothing here reads the environment itself (that is [`crate::config`]);
//! - a builder is a plain value: building it runs nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use detsim_runtime::Chooser;

use crate::config::{Env, ExhaustiveSetting, Unreached, VerifyChild, VerifySetting};
use crate::explore::{self, ExhaustiveBudget};
use crate::replay::{replay_token, write_requested_trace};
use crate::replayer::{Maker, in_place, on_fresh_threads};
use crate::report::{Failure, Report};
use crate::scheduler::Scheduler;
use crate::seed_range::{RangeOrigin, SeedRange};
use crate::settings::{ChooserFactory, Settings};
use crate::shrink::ShrinkBudget;
use crate::sweep::{sweep, sweep_local};
use detsim_net::cluster::Faults;

/// Seeds a sweep runs when neither the code nor `DETSIM_SEEDS` says.
pub const DEFAULT_SEEDS: u64 = 1000;
/// The first seed of a sweep when neither the code nor `DETSIM_SEED_START` says: fixed,
/// so CI runs are reproducible.
pub const DEFAULT_SEED_START: u64 = 0;

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
    unreached: Option<Unreached>,
    expected: Vec<&'static str>,
    allow_threads: bool,
}

impl Builder {
    /// A builder with the defaults: [`DEFAULT_SEEDS`] seeds from [`DEFAULT_SEED_START`],
    /// the [portfolio](Scheduler::portfolio) scheduler,
    /// [`detsim_runtime::DEFAULT_MAX_POLLS`] polls, one thread per core.
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
    /// budget. By default the budget is [`detsim_runtime::DEFAULT_MAX_POLLS`] plus
    /// [`detsim_runtime::DEFAULT_POLLS_PER_TASK`] for each task the run spawns.
    ///
    /// # Panics
    /// If `polls` is 0.
    pub fn max_polls(mut self, polls: u64) -> Self {
        assert!(
            polls > 0,
            "Builder::max_polls: the budget must be at least one poll"
        );
        self.max_steps = Some(polls);
        self
    }

    /// [`max_polls`](Builder::max_polls) under its first name, which the public
    /// contract keeps: a step is one poll of one task.
    pub fn max_steps(self, polls: u64) -> Self {
        self.max_polls(polls)
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

    /// Lets the body start OS threads (`DETSIM_ALLOW_THREADS=1` does the same). By
    /// default, on Linux with glibc, a run that starts one fails with a message naming
    /// the task and the call site: a thread's timing is not decided by the seed. An
    /// allowed thread runs for real, outside the seed's control: a run that depends on
    /// when it wakes a task may differ from run to run (the determinism check and the
    /// fresh-process check of every failure then say so).
    pub fn allow_threads(mut self) -> Self {
        self.allow_threads = true;
        self
    }

    /// The run length (in polls) PCT spreads its change points over. By default a FIFO
    /// run of the body (seed 0) measures it before the sweep.
    pub fn pct_polls(mut self, polls: u64) -> Self {
        self.pct_steps = Some(polls.max(1));
        self
    }

    /// The former name of [`pct_polls`](Builder::pct_polls).
    #[deprecated(since = "0.2.0", note = "renamed `pct_polls`: detsim counts polls")]
    pub fn pct_steps(self, polls: u64) -> Self {
        self.pct_polls(polls)
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

    /// Makes a sweep in which a `sometimes!` or `reachable!` never held pass with a
    /// warning on stderr instead of failing with `never reached in N seeds: <name>`
    /// (`DETSIM_SOMETIMES=warn` does the same; `DETSIM_SOMETIMES=fail` overrides this).
    pub fn sometimes_warn(mut self) -> Self {
        self.unreached = Some(Unreached::Warn);
        self
    }

    /// Names an assertion the sweep must see hold in some seed even if no seed ever
    /// evaluates it (a `reachable!(name)` on a path no seed takes is otherwise unknown
    /// to the sweep): without it, the sweep fails with `never reached in N seeds:
    /// <name>`.
    pub fn expect_reached(mut self, name: &'static str) -> Self {
        self.expected.push(name);
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
        let settings = self.settings(&self.env());
        explore_sync(&settings, &body)
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
        let mut settings = self.settings(&self.env());
        settings.jobs = 1;
        explore_with(&settings, &body, in_place::<F, Fut>, |settings, body| {
            assert!(
                settings.exhaustive.is_none(),
                "detsim: exhaustive exploration needs a Sync body (Builder::explore or \
                 check); explore_local and check_local sweep seeds"
            );
            sweep_local(settings, body)
        })
    }

    /// Like [`explore_local`](Builder::explore_local), then panics with the failure
    /// report if a seed failed: [`check`](Builder::check) for a body that is not `Sync`.
    #[track_caller]
    pub fn check_local<F, Fut>(self, body: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut report = self.explore_local(body);
        if let Some(mut failure) = report.failure.take() {
            failure.check_in_fresh_process();
            panic!("{failure}");
        }
        check_assertions(&report);
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
        let settings = self.settings(&self.env());
        let mut report = explore_sync(&settings, &body);
        if let Some(mut failure) = report.failure.take() {
            failure.check_in_fresh_process();
            panic!("{failure}");
        }
        if settings.check_determinism
            && settings.replay.is_none()
            && let Some(difference) =
                crate::verify::differs_across_processes(&settings, &body, on_fresh_threads)
        {
            match crate::artifacts::test_name() {
                Some(name) => panic!("detsim: test `{name}` failed\n\n{difference}"),
                None => panic!("detsim: the simulation failed\n\n{difference}"),
            }
        }
        if let Some(coverage) = &report.coverage {
            eprintln!("detsim: {coverage}");
        }
        check_assertions(&report);
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
        let settings = self.settings(&self.env());
        let token = settings.replay.clone().unwrap_or_else(|| token.to_owned());
        replay_token(&settings, &token, &body, on_fresh_threads::<F, Fut>)
    }

    /// The environment this builder listens to: none under `ignore_env`. A
    /// `DETSIM_WATCHDOG` there sets the process's watchdog
    /// ([`detsim_runtime::seal::set_watchdog`]; one watchdog per process).
    fn env(&self) -> Env {
        let env = match self.ignore_env {
            true => Env::default(),
            false => Env::read(),
        };
        if let Some(limit) = env.watchdog {
            detsim_runtime::seal::set_watchdog(limit);
        }
        env
    }

    pub(crate) fn settings(&self, env: &Env) -> Settings {
        let (verify, verify_child) = self.verify(env);
        let single = env.seed.or(self.seed);
        let range = self.range(env, single);
        let chooser = self.chooser.clone().filter(|_| env.scheduler.is_none());
        let default = match chooser {
            Some(_) => Scheduler::custom(),
            None => Scheduler::default(),
        };
        Settings {
            range,
            start_random: single.is_none() && env.seed_start_random,
            scheduler: env.scheduler.or(self.scheduler).unwrap_or(default),
            chooser,
            scheduler_from_env: env.scheduler.is_some(),
            max_steps: env.max_steps.or(self.max_steps),
            allow_threads: env.allow_threads.unwrap_or(self.allow_threads),
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
            results: env.results.clone(),
            keep_going: env.results.is_some() && env.stop_at_first != Some(true),
            commit: env.commit.clone(),
            verify,
            verify_child,
            unreached: env.sometimes.or(self.unreached).unwrap_or_default(),
            expected: self.expected.clone(),
        }
    }

    /// The seeds to run: `single` alone, or the range the environment and the code
    /// set (a shard of it under `DETSIM_SHARD`).
    fn range(&self, env: &Env, single: Option<u64>) -> SeedRange {
        match single {
            Some(seed) => SeedRange::new(seed, 1, None, &RangeOrigin::default()),
            None => SeedRange::new(
                env.seed_start
                    .or(self.seed_start)
                    .unwrap_or(DEFAULT_SEED_START),
                env.seeds.or(self.seeds).unwrap_or(DEFAULT_SEEDS),
                env.shard,
                &env.range_origin(self.seed_start, self.seeds),
            ),
        }
    }

    /// Whether a reported failure is checked in a fresh process (within what time, or
    /// why not), and what this process is asked to do if it is such a check's child.
    /// The child is one whatever `ignore_env` says: only detsim sets its variables, and
    /// a child that checked its own failures in a child of its own would never end.
    fn verify(&self, env: &Env) -> (Result<Duration, &'static str>, Option<VerifyChild>) {
        let child = match self.ignore_env {
            true => {
                Env::from_lookup(|name| match crate::verify::is_internal(name) {
                    true => std::env::var(name).ok(),
                    false => None,
                })
                .verify_child
            }
            false => env.verify_child.clone(),
        };
        let verify = match (&child, env.verify) {
            (Some(_), _) => Err("this is the child process of such a check"),
            (None, Some(VerifySetting::Off)) => Err("DETSIM_VERIFY=off"),
            (None, Some(VerifySetting::Within(limit))) => Ok(limit),
            (None, None) => Ok(crate::verify::DEFAULT_LIMIT),
        };
        (verify, child)
    }
}

/// `explore` for a `Sync` body: runs move to fresh threads when they must, and seeds
/// may run on several threads.
fn explore_sync<F, Fut>(settings: &Settings, body: &F) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    explore_with(
        settings,
        body,
        on_fresh_threads::<F, Fut>,
        |settings, body| match settings.exhaustive {
            Some(bound) => explore::exhaustive(settings, bound, body),
            None => sweep(settings, body),
        },
    )
}

/// What `explore` and `explore_local` share: counts the call (see [`crate::verify`]),
/// replays a token or the fresh-process check's token instead of sweeping when asked
/// to, and writes the trace file asked for.
fn explore_with<F, Fut>(
    settings: &Settings,
    body: &F,
    make: Maker<F>,
    sweep: impl FnOnce(&Settings, &F) -> Report,
) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let call = crate::verify::next_call();
    if let Some(child) = settings.verify_child.as_ref().filter(|c| c.call == call) {
        return crate::verify::child_replay(settings, child, body, make);
    }
    let mut report = match &settings.replay {
        Some(token) => Report {
            seeds_run: 1,
            failure: replay_token(settings, token, body, make).err(),
            coverage: None,
            ..Report::default()
        },
        None => sweep(settings, body),
    };
    if let Some(path) = &settings.trace_to {
        write_requested_trace(settings, body, &report, path, make);
    }
    if let Some(failure) = &mut report.failure {
        failure.verify = Some((call, settings.verify));
    }
    report
}

/// What [`Builder::check`] does with the assertions of a report whose seeds passed:
/// panics with `never reached in N seeds: <name>` (a warning instead under
/// `DETSIM_SOMETIMES=warn`), or prints the assertions' counts.
#[track_caller]
fn check_assertions(report: &Report) {
    let test = match crate::artifacts::test_name() {
        Some(name) => format!("test `{name}`"),
        None => "the simulation".to_owned(),
    };
    match &report.never_reached {
        Some(message) if report.unreached_fails => panic!(
            "detsim: {test} failed: {message}\n\n{}\n\nevery sometimes! and reachable! must \
             hold in some seed of a sweep: reach it (more seeds, other faults), or opt out \
             with Builder::sometimes_warn or DETSIM_SOMETIMES=warn",
            report.assertions
        ),
        Some(message) => eprintln!("detsim: warning: {test}: {message}\n{}", report.assertions),
        None if !report.assertions.counts().is_empty() => {
            eprintln!("detsim: {test}: {}", report.assertions)
        }
        None => {}
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
