//! detsim: deterministic simulation testing for async Rust.
//!
//! A test hands detsim an async body. detsim runs it on a single-threaded executor
//! whose scheduler picks the next ready task from a seeded random stream, over many
//! seeds, with virtual time. When a seed fails, the panic names the seed, a shrunk
//! schedule as a replay token, and a command that replays it, step for step, on any
//! machine. The repository's README is the tutorial: set-up, the environment
//! variables, replay, schedulers, sharding, fuzzing.
//!
//! # Design
//! - The executor lives in `detsim-runtime` and its user API is re-exported here:
//!   [`spawn`], [`yield_now`], [`time`], [`task`], [`random`], [`JoinHandle`],
//!   [`JoinError`]. Tasks follow asyncio's `create_task`: scheduled at once, never run
//!   before their creator yields; awaiting a handle gives the output or the original
//!   panic payload; `abort` drops the task's future.
//! - The harness is this crate: [`Builder`] (and [`check`]) resolves a plan from the
//!   code and the `DETSIM_*` environment variables, sweeps seeds, and turns the lowest
//!   failing seed into a [`Failure`]: message, seed, [`Scheduler`] strategy, shrunk
//!   [`Schedule`], [`Trace`], replay command; or explores every schedule within a
//!   bound ([`Builder::exhaustive`]). [`fuzz`] drives a run from fuzzer bytes; [`net`]
//!   is the simulated network.
//! - Extension point: a scheduling policy of your own implements
//!   [`choice::Chooser`] and plugs in with [`Builder::chooser`].
//! - [`Builder::exhaustive`] trades seeds for a proof within a bound: it runs every
//!   schedule with at most `k` deviations from FIFO order, each once, and the
//!   [`Report`]'s [`Coverage`] states what ran.
//!
//! # Determinism
//! A run depends on its seed and the body only: no wall-clock time, no thread RNG, no
//! hash order inside the runtime. A seed's schedule and a replay token stay valid
//! within a major version. A body that brings its own nondeterminism (real time, a
//! `HashMap` with a random hasher) breaks replay; [`Builder::check_determinism`] (or
//! `DETSIM_CHECK_DETERMINISM=1`) finds where.
//!
//! # Example
//! A lost update: an `.await` between the read and the write lets another task run.
//! detsim finds a schedule that shows it within a few seeds and panics with a report
//! (the seed, the message, a `DETSIM_REPLAY=ds3.…` command, the shrunk schedule's trace):
//!
//! ```should_panic
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! detsim::Builder::new().seeds(100).check(|| async {
//!     let hits = Rc::new(Cell::new(0));
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let hits = hits.clone();
//!             detsim::spawn(async move {
//!                 let seen = hits.get();
//!                 detsim::yield_now().await; // another task may run here
//!                 hits.set(seen + 1);
//!             })
//!         })
//!         .collect();
//!     for worker in workers {
//!         worker.await.unwrap();
//!     }
//!     assert_eq!(hits.get(), 3, "lost an update");
//! });
//! ```
//!
//! The report reads like this (abridged):
//!
//! ```text
//! detsim: test `tests::counter` failed on seed 0x0 (scheduler random, 8 polls)
//!
//! task t0 main panicked at tests/counter.rs:18:5:
//!     assertion `left == right` failed: lost an update
//!
//! replay this failure with:
//!     DETSIM_REPLAY=ds3.AQABAQEAACjwBb8 cargo test -p mycrate -- tests::counter --exact
//! or rerun the whole unshrunk seed with:
//!     DETSIM_SEED=0x0 cargo test -p mycrate -- tests::counter --exact
//!
//! shrunk from 8 polls and 2 deviations from FIFO order to 8 polls and 0 deviations from FIFO order (2 replays)
//!
//! trace file (open it in ui.perfetto.dev or chrome://tracing):
//!     /home/me/mycrate/target/detsim-traces/tests__counter-0x0.trace.json
//!
//! trace (last 14 of 14 events):
//!   step        time  task             event
//!      1   0.000000s  t0 main          poll
//!          0.000000s  t0 main          spawn t1 (tests/counter.rs:9:13)
//!      …
//! ```
//!
//! This bug needs no deviation (asyncio's own order loses the update); a failure that
//! does lists each remaining deviation in words before the trace file, with where the
//! tasks stood ([`Failure::explain`]). The trace file opens in ui.perfetto.dev: a track
//! per task, a slice per poll, arrows from wakes to the polls they caused.

mod artifacts;
pub mod assertions;
mod builder;
mod config;
mod explain;
mod explore;
pub mod fuzz;
pub mod history;
mod json;
mod perfetto;
mod progress;
mod replay;
mod replayer;
mod report;
mod results;
mod schedule;
mod scheduler;
mod seed_range;
mod settings;
mod shrink;
mod sweep;
mod verify;

pub use builder::{Builder, DEFAULT_SEED_START, DEFAULT_SEEDS, check};

/// `DETSIM_SEED`, read and checked as every `DETSIM_*` variable is (`None` when unset):
/// for the tokio facade's `#[tokio::main]`, which runs one simulation.
#[doc(hidden)]
pub fn __env_seed() -> Option<u64> {
    config::seed()
}
/// Sets the process's watchdog from `DETSIM_WATCHDOG`, if set, for the facade's
/// `Runtime`s (a `Builder` does the same for its runs). Not part of the API.
#[doc(hidden)]
pub fn __env_watchdog() {
    if let Some(limit) = config::Env::read().watchdog {
        detsim_runtime::seal::set_watchdog(limit);
    }
}
/// Runs an `async fn` as a detsim test: `#[detsim::test]`, or
/// `#[detsim::test(seeds = 500, scheduler = "pct:3")]`. The function becomes a `#[test]`
/// whose body is swept over seeds like [`check`] (the `DETSIM_*` variables override
/// the arguments), failing with the report and its replay command. With
/// `#[detsim::test(exhaustive = 2)]` it explores every schedule within 2 deviations
/// from FIFO order instead ([`Builder::exhaustive`]) and prints the coverage statement. It takes no
/// arguments and returns `()` or a `Result<(), E: Debug>` (an `Err` fails the seed).
///
/// ```
/// #[detsim::test(seeds = 50)]
/// async fn spawned_work_finishes() {
///     let task = detsim::spawn(async { 6 * 7 });
///     assert_eq!(task.await.unwrap(), 42);
/// }
/// # fn main() {}
/// ```
pub use detsim_macros::test;
/// The simulated network (hosts, TCP, UDP, name resolution with tokio's signatures):
/// the `detsim-net` crate.
pub use detsim_net as net;
pub use detsim_net::buggify;
/// A simulated cluster on the network: nodes, partitions, faults, fault plans,
/// liveness (`detsim-net`'s `cluster`).
pub use detsim_net::cluster;
pub use detsim_net::cluster::Faults;
/// Each host's simulated disk, with tokio's `fs` signatures, which a killed node's
/// crash can tear (`detsim-net`'s `fs`; `tokio::fs` under `--cfg detsim`).
pub use detsim_net::fs;
pub use detsim_runtime::{
    AbortHandle, JoinError, JoinHandle, Trace, YieldNow, random, spawn, sync, task, time, wait,
    yield_now,
};
pub use explore::{Coverage, Level};
pub use report::{Failure, FailureKind, Report, ShrinkSummary};
pub use schedule::{Schedule, TokenError};
pub use scheduler::{PORTFOLIO, ParseSchedulerError, Scheduler};
pub use verify::FreshProcess;

pub mod trace {
    //! A failure's timeline, as [`Failure::trace`](crate::Failure::trace) returns it: the
    //! [`Trace`] and the [`Event`]s it is made of.
    pub use detsim_runtime::trace::{Event, EventKind, Trace, TraceTail};
}

pub mod choice {
    //! Scheduling policy, the extension point of
    //! [`Builder::chooser`](crate::Builder::chooser): a [`Chooser`] is asked at every
    //! decision point with two or more options (the next task, and every other
    //! [`DecisionKind`]); [`decide`] makes a decision of another kind from inside a
    //! simulation; a [`Failure`](crate::Failure) lists its run's [`Decision`]s.
    pub use detsim_runtime::Decision;
    #[allow(
        deprecated,
        reason = "the former name of `Options`, kept as a deprecated alias"
    )]
    pub use detsim_runtime::choice::ReadyView;
    pub use detsim_runtime::choice::{Chooser, DecisionKind, Options, PollEnd, decide};
}
