//! [`Settings`]: everything one sweep, exploration or replay needs, resolved from the
//! [`Builder`](crate::Builder) and the environment; the builder's own chooser factory.

use std::fmt;
use std::sync::Arc;

use detsim_runtime::Chooser;

use crate::explore::ExhaustiveBudget;
use crate::scheduler::Scheduler;
use crate::seed_range::SeedRange;
use crate::shrink::ShrinkBudget;
use detsim_net::cluster::Faults;

/// Makes a [`Builder::chooser`]'s chooser for each seed.
#[derive(Clone)]
pub(crate) struct ChooserFactory(pub(crate) Arc<dyn Fn(u64) -> Box<dyn Chooser> + Send + Sync>);

impl fmt::Debug for ChooserFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChooserFactory")
    }
}

/// Everything a sweep needs, resolved from the builder and the environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The seeds of a sweep (one seed under `DETSIM_SEED`); its first seed is the seed
    /// of an exhaustive exploration's program and of a requested trace.
    pub(crate) range: SeedRange,
    /// Whether the range's start was drawn at random (`DETSIM_SEED_START=random`).
    pub(crate) start_random: bool,
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
    /// Where a sweep appends its result record (`DETSIM_RESULTS`).
    pub(crate) results: Option<std::path::PathBuf>,
    /// Whether a sweep runs every seed of its range after a failure: with a results
    /// directory, unless `DETSIM_STOP_AT_FIRST=1`.
    pub(crate) keep_going: bool,
    /// The commit under test, when the environment names it.
    pub(crate) commit: Option<String>,
    /// Whether a reported failure is replayed in a fresh process: within this time
    /// limit, or (`Err`) why not.
    pub(crate) verify: Result<std::time::Duration, &'static str>,
    /// Set in the child process of such a check (see [`crate::verify`]).
    pub(crate) verify_child: Option<crate::config::VerifyChild>,
    /// Whether a `sometimes!` that never held fails the sweep.
    pub(crate) unreached: crate::config::Unreached,
    /// Names a sweep must see hold even when no seed evaluates them.
    pub(crate) expected: Vec<&'static str>,
    /// Whether runs may start OS threads ([`Builder::allow_threads`]).
    pub(crate) allow_threads: bool,
}
