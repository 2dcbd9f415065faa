//! Shared helpers: the schedules every property runs under, and small probes.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use detsim_runtime::{Chooser, Fifo, Pct, Random, RunError, Runtime};

/// Seeds of the random scheduler each property runs under.
pub(crate) const SEEDS: u64 = 200;
/// Seeds of the PCT scheduler each property runs under.
pub(crate) const PCT_SEEDS: u64 = 50;

/// One schedule: a policy and, for the seeded ones, its seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sched {
    Fifo,
    Random(u64),
    Pct(u64),
}

impl Sched {
    pub(crate) fn seed(self) -> u64 {
        match self {
            Sched::Fifo => 0,
            Sched::Random(seed) | Sched::Pct(seed) => seed,
        }
    }

    pub(crate) fn chooser(self) -> Box<dyn Chooser> {
        match self {
            Sched::Fifo => Box::new(Fifo),
            Sched::Random(seed) => Box::new(Random::new(seed)),
            Sched::Pct(seed) => Box::new(Pct::new(seed, 3, 64)),
        }
    }

    /// A fresh runtime whose next run follows this schedule.
    pub(crate) fn runtime(self) -> Runtime {
        Runtime::with_chooser(self.seed(), self.chooser())
    }
}

/// `fifo`, then `random` over [`SEEDS`] seeds, then `pct:3` over [`PCT_SEEDS`] seeds.
pub(crate) fn schedules() -> impl Iterator<Item = Sched> {
    std::iter::once(Sched::Fifo)
        .chain((0..SEEDS).map(Sched::Random))
        .chain((0..PCT_SEEDS).map(Sched::Pct))
}

/// Runs `fut` under `sched`; a failed run panics naming the schedule and the failure.
pub(crate) fn run_ok<F: Future>(sched: Sched, fut: F) -> F::Output {
    match sched.runtime().run(fut) {
        Ok(output) => output,
        Err(error) => panic!("under {sched:?}: {error}"),
    }
}

/// Runs `fut` under `sched` and returns how it failed; panics if it did not.
pub(crate) fn run_err<F: Future>(sched: Sched, fut: F) -> RunError {
    match sched.runtime().run(fut) {
        Ok(_) => panic!("under {sched:?}: the run was expected to fail but passed"),
        Err(error) => error,
    }
}

/// Runs the program made by `program` under every schedule; returns each output.
pub(crate) fn run_all<F, Fut>(program: F) -> Vec<(Sched, Fut::Output)>
where
    F: Fn() -> Fut,
    Fut: Future,
{
    schedules().map(|s| (s, run_ok(s, program()))).collect()
}

/// Sets a flag when dropped: shows when a task's future is dropped.
#[derive(Debug)]
pub(crate) struct DropFlag(pub(crate) Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A flag and a guard that raises it when dropped.
pub(crate) fn drop_flag() -> (Rc<Cell<bool>>, DropFlag) {
    let flag = Rc::new(Cell::new(false));
    (flag.clone(), DropFlag(flag))
}

/// The text of a panic payload, for assertions.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string payload>")
        .to_owned()
}
