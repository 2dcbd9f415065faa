//! [`Runtime`]: runs one future to completion on a fresh [`Core`], polling one task at
//! a time.
//!
//! One step of a run: if no task is ready, fire the earliest timers (or fail with a
//! deadlock); ask the chooser which ready task to poll (only when two or more are
//! ready, recording the decision); poll it outside any borrow of the core; settle the
//! outcome (parked, finished, panicked, aborted); apply the wakes the poll caused, in
//! order. The run ends when the root future completes or fails; tasks still pending
//! are then dropped in id order.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};

use crate::choice::{Chooser, Random};
use crate::context::Enter;
use crate::executor::{Core, Next, Step};
use crate::outcome::{Decision, RunError, UserRng};
use crate::trace::Trace;

/// A deterministic single-threaded executor. Same seed, same chooser, same program:
/// the same run, poll for poll.
///
/// ```
/// use detsim_runtime::{Runtime, spawn, yield_now};
///
/// let mut rt = Runtime::new(7);
/// let sum = rt.block_on(async {
///     let a = spawn(async { yield_now().await; 1 });
///     let b = spawn(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 3);
/// ```
pub struct Runtime {
    core: Rc<RefCell<Core>>,
    seed: u64,
    chooser: Option<Box<dyn Chooser>>,
    user_rng: Option<UserRng>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("seed", &self.seed)
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime whose runs choose uniformly at random, from `seed`.
    pub fn new(seed: u64) -> Runtime {
        Runtime {
            core: Rc::new(RefCell::new(Core::new())),
            seed,
            chooser: None,
            user_rng: None,
        }
    }

    /// A runtime whose next run uses `chooser` (and `seed` for [`crate::random`]).
    pub fn with_chooser(seed: u64, chooser: Box<dyn Chooser>) -> Runtime {
        let mut rt = Runtime::new(seed);
        rt.chooser = Some(chooser);
        rt
    }

    /// Prepares the next run: its seed, and the chooser it uses (`None`: random from
    /// the seed). Allocations are kept from run to run.
    pub fn reset(&mut self, seed: u64, chooser: Option<Box<dyn Chooser>>) {
        self.seed = seed;
        self.chooser = chooser;
        self.user_rng = None;
    }

    /// Makes the next run draw [`crate::random`] values from `rng` instead of the seed's
    /// user stream (fuzzing feeds bytes this way).
    pub fn set_user_rng(&mut self, rng: UserRng) {
        self.user_rng = Some(rng);
    }

    /// Fails a run that makes more than `polls` polls (a livelock). Default
    /// [`DEFAULT_MAX_STEPS`].
    pub fn set_max_steps(&mut self, polls: u64) {
        self.core.borrow_mut().max_steps = polls;
    }

    /// Records a [`Trace`] of each run (off by default: a sweep pays only for what it
    /// needs, and a failing seed is replayed with the trace on).
    pub fn set_trace(&mut self, on: bool) {
        self.core.borrow_mut().record_trace = on;
    }

    /// The seed of the next (or last) run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Polls made by the last run.
    pub fn steps(&self) -> u64 {
        self.core.borrow().steps
    }

    /// The decisions of the last run, in order.
    pub fn decisions(&self) -> Vec<Decision> {
        self.core.borrow().decisions.clone()
    }

    /// Takes the trace of the last run, if tracing was on.
    pub fn take_trace(&mut self) -> Option<Trace> {
        let mut core = self.core.borrow_mut();
        core.record_trace.then(|| std::mem::take(&mut core.trace))
    }

    /// Runs `future` to completion as the root task `t0` and returns its output, or
    /// panics: with the original payload if the root panicked, with the run's message
    /// otherwise (an unobserved task panic, a deadlock, a livelock).
    pub fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        match self.run(future) {
            Ok(output) => output,
            Err(RunError::Panic { payload, .. }) => panic::resume_unwind(payload),
            Err(error) => panic!("{error}"),
        }
    }

    /// Runs `future` to completion as the root task `t0`; a failure is returned as data.
    pub fn run<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        let chooser = self
            .chooser
            .take()
            .unwrap_or_else(|| Box::new(Random::new(self.seed)));
        self.core
            .borrow_mut()
            .reset(self.seed, chooser, self.user_rng.take());
        let _enter = Enter::new(self.core.clone());
        let mut root = pin!(Some(future));
        let mut output = None;
        let mut foreign_wakers = Vec::new();
        let outcome = loop {
            let next = self.core.borrow_mut().next_step(&mut foreign_wakers);
            let step = match next {
                Next::Poll(step) => step,
                Next::Fire => {
                    foreign_wakers.drain(..).for_each(Waker::wake);
                    self.core.borrow_mut().apply_wakes(None);
                    continue;
                }
                Next::Stop(error) => break Err(error),
            };
            let Step {
                index,
                mut cell,
                waker,
            } = step;
            let mut cx = Context::from_waker(&waker);
            let result = panic::catch_unwind(AssertUnwindSafe(|| match cell.as_mut() {
                Some(cell) => cell.as_mut().poll_task(&mut cx),
                None => match root.as_mut().as_pin_mut() {
                    Some(root) => root.poll(&mut cx).map(|value| output = Some(value)),
                    None => unreachable!("the root future is polled after it finished"),
                },
            }));
            let settled = self.core.borrow_mut().settle(index, cell, result);
            drop(settled.dropped);
            if let Some(outcome) = settled.outcome {
                break outcome;
            }
        };
        let output = outcome.map(|()| output.take().expect("the root future completed"));
        // Teardown: the root first (it holds most handles), then every pending task.
        root.set(None);
        let late_failure = self.teardown();
        match (output, late_failure) {
            (Ok(_), Some(error)) => Err(error),
            (output, _) => output,
        }
    }

    /// Drops every task still pending, in id order, and clears timers. Returns a failure
    /// that surfaced while dropping (a panic whose handle was dropped unread).
    fn teardown(&mut self) -> Option<RunError> {
        loop {
            let cells = self.core.borrow_mut().take_pending_cells();
            if cells.is_empty() {
                break;
            }
            drop(cells);
        }
        let wakers = self.core.borrow_mut().clear_timers();
        drop(wakers);
        let mut core = self.core.borrow_mut();
        core.apply_wakes(None);
        core.failure.take()
    }
}
