//! The harness: [`Builder`] resolves what to run (code settings, overridden by the
//! environment), sweeps the seeds on one or more threads, and turns the lowest failing
//! seed into a [`Failure`] by replaying it with the trace on.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use detsim_runtime::{RunError, Runtime};

use crate::config::Env;
use crate::report::{Failure, Report};
use crate::scheduler::Scheduler;

/// Seeds a sweep runs when neither the code nor `DETSIM_SEEDS` says.
pub const DEFAULT_SEEDS: u64 = 1000;
/// The first seed of a sweep when neither the code nor `DETSIM_SEED_START` says: fixed,
/// so CI runs are reproducible.
pub const DEFAULT_SEED_START: u64 = 0;
/// Seeds a thread claims at a time in a parallel sweep.
const CHUNK: u64 = 64;

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
}

impl Builder {
    /// A builder with the defaults: [`DEFAULT_SEEDS`] seeds from [`DEFAULT_SEED_START`],
    /// the random scheduler, [`detsim_runtime::DEFAULT_MAX_STEPS`] polls, one thread.
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

    /// Runs the seeds of a sweep on this many threads (`DETSIM_JOBS` overrides). The
    /// report does not depend on it.
    pub fn jobs(mut self, threads: usize) -> Self {
        assert!(threads > 0, "Builder::jobs: at least one thread");
        self.jobs = Some(threads);
        self
    }

    /// Runs `body` over the seeds and reports the lowest failing seed, if any.
    pub fn explore<F, Fut>(self, body: F) -> Report
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        let env = Env::read();
        let plan = self.plan(&env);
        sweep(&plan, &body)
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
            jobs: env.jobs.or(self.jobs).unwrap_or(1),
        }
    }
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

/// Runs one seed on `rt`.
fn run_seed<F, Fut>(rt: &mut Runtime, plan: &Plan, seed: u64, body: &F) -> Result<(), RunError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    rt.reset(seed, Some(plan.scheduler.chooser(seed)));
    rt.run(async { body().await })
}

fn new_runtime(plan: &Plan) -> Runtime {
    let mut rt = Runtime::new(plan.start);
    rt.set_max_steps(plan.max_steps);
    rt
}

/// Sweeps the plan's seeds; the lowest failing seed wins, whatever the thread count.
pub(crate) fn sweep<F, Fut>(plan: &Plan, body: &F) -> Report
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let end = plan.start.saturating_add(plan.count);
    let lowest_failure = AtomicU64::new(u64::MAX);
    let jobs = plan.jobs.min(plan.count.div_ceil(CHUNK) as usize).max(1);
    if jobs == 1 {
        let mut rt = new_runtime(plan);
        for seed in plan.start..end {
            if run_seed(&mut rt, plan, seed, body).is_err() {
                lowest_failure.store(seed, Ordering::Relaxed);
                break;
            }
        }
    } else {
        let next_chunk = AtomicU64::new(plan.start);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    let mut rt = new_runtime(plan);
                    loop {
                        let first = next_chunk.fetch_add(CHUNK, Ordering::Relaxed);
                        if first >= end || first > lowest_failure.load(Ordering::Relaxed) {
                            break;
                        }
                        for seed in first..first.saturating_add(CHUNK).min(end) {
                            if seed > lowest_failure.load(Ordering::Relaxed) {
                                return;
                            }
                            if run_seed(&mut rt, plan, seed, body).is_err() {
                                lowest_failure.fetch_min(seed, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
    match lowest_failure.into_inner() {
        u64::MAX => Report {
            seeds_run: plan.count,
            failure: None,
        },
        seed => Report {
            seeds_run: seed - plan.start + 1,
            failure: Some(describe_failure(plan, seed, body)),
        },
    }
}

/// Replays a failing seed with the trace on and builds its [`Failure`].
fn describe_failure<F, Fut>(plan: &Plan, seed: u64, body: &F) -> Failure
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut rt = new_runtime(plan);
    rt.set_trace(true);
    let outcome = run_seed(&mut rt, plan, seed, body);
    let trace = rt.take_trace().unwrap_or_default();
    let (message, location, task, note) = match &outcome {
        Err(error) => (
            error.message(),
            error.location().map(str::to_owned),
            error.panicked_task().map(|t| {
                let mut label = t.id.to_string();
                if let Some(name) = &t.name {
                    label = format!("{label} {name}");
                } else if t.id == detsim_runtime::task::Id::ROOT {
                    label.push_str(" main");
                }
                label
            }),
            None,
        ),
        Ok(()) => (
            "the seed failed in the sweep but passed when replayed: the test is not \
             deterministic"
                .to_owned(),
            None,
            None,
            Some(
                "hint: look for real time, real threads, a thread RNG or HashMap iteration \
                 order in the test body; DETSIM_CHECK_DETERMINISM=1 pinpoints the first \
                 divergent step"
                    .to_owned(),
            ),
        ),
    };
    let test_name = test_name();
    Failure {
        seed,
        message,
        steps: rt.steps(),
        scheduler: plan.scheduler,
        location,
        task,
        decisions: rt.decisions(),
        trace,
        replay_command: replay_command(plan, seed, test_name.as_deref()),
        test_name,
        note,
    }
}

/// The running test's name: libtest names each test's thread after the test.
fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}

/// A command that reruns exactly `seed` of this test.
fn replay_command(plan: &Plan, seed: u64, test_name: Option<&str>) -> String {
    let mut vars = format!("DETSIM_SEED={seed:#x}");
    if plan.scheduler_from_env {
        vars.push_str(&format!(" DETSIM_SCHEDULER={}", plan.scheduler));
    }
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    if let Some(name) = test_name {
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
