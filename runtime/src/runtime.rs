//! [`Runtime`]: runs one future to completion on a fresh [`Core`], polling one task at
//! a time.
//!
//! One step of a run: if no task is ready, fire the earliest timers (or fail with a
//! deadlock); ask the chooser which ready task to poll (only when two or more are
//! ready, recording the decision); poll it outside any borrow of the core; settle the
//! outcome (parked, finished, panicked, aborted); apply the wakes the poll caused, in
//! order. The run ends when the root future completes or fails; tasks still pending
//! are then dropped in id order.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::choice::{Chooser, ChooserSpec};
use crate::context::{self, AsTask, Enter};
use crate::executor::{Core, Next, Step};
use crate::outcome::{Decision, RunError, UserRng};
use crate::task::ErasedTask;
use crate::trace::Trace;
use crate::waker;

mod session;

pub(crate) use session::enter_session_of;
pub use session::{SHUTDOWN_MESSAGE, SessionEnter, is_shut_down, run_in_progress, shutdown_error};

/// The slot of the root future (task `t0`).
const ROOT_INDEX: u32 = 0;

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
    /// The next run's chooser.
    chooser: ChooserSpec,
    user_rng: Option<UserRng>,
    /// Whether runs may start OS threads (see [`Runtime::set_allow_threads`]).
    allow_threads: bool,
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
            chooser: ChooserSpec::Random,
            user_rng: None,
            allow_threads: false,
        }
    }

    /// A runtime whose next run uses `chooser` (and `seed` for [`crate::random`]).
    pub fn with_chooser(seed: u64, chooser: Box<dyn Chooser>) -> Runtime {
        let mut rt = Runtime::new(seed);
        rt.chooser = ChooserSpec::Custom(chooser);
        rt
    }

    /// Prepares the next run: its seed, and the chooser it uses, named by a
    /// [`ChooserSpec`] (`ChooserSpec::Random` or `None`: random from the seed; a
    /// `Box<dyn Chooser>` or `Some` of one: that chooser). Allocations are kept from run
    /// to run, and a built-in chooser of the same kind as the last run's is reset in
    /// place (a sweep's PCT seeds allocate nothing for it).
    ///
    /// ```
    /// use detsim_runtime::{ChooserSpec, Runtime, spawn};
    ///
    /// let mut rt = Runtime::new(0);
    /// for seed in 0..4 {
    ///     rt.reset(seed, ChooserSpec::Pct { depth: 2, expected_polls: 10 });
    ///     assert_eq!(rt.block_on(async { spawn(async { 1 }).await.unwrap() }), 1);
    /// }
    /// ```
    ///
    /// # Panics
    /// When the run starts, if a PCT spec's `depth` is 0 (as [`Pct::new`](crate::Pct::new)).
    pub fn reset(&mut self, seed: u64, spec: impl Into<ChooserSpec>) {
        self.seed = seed;
        self.chooser = spec.into();
        self.user_rng = None;
    }

    /// Sets the input of type `T` that every later run reads with
    /// [`extension::run_input`](crate::extension::run_input) (`None`: removes it);
    /// returns the previous one. Per-run settings of crates built on the runtime (the
    /// fault mode of `detsim-net`'s cluster, for one) go in this way.
    pub fn set_run_input<T: Any + Clone>(&mut self, value: Option<T>) -> Option<T> {
        let mut core = self.core.borrow_mut();
        let id = TypeId::of::<T>();
        let previous = core
            .run_inputs
            .iter()
            .position(|(key, _)| *key == id)
            .map(|i| core.run_inputs.remove(i).1)
            .and_then(|old| old.downcast_ref::<T>().cloned());
        if let Some(value) = value {
            core.run_inputs.push((id, Rc::new(value)));
        }
        previous
    }

    /// Takes the output of type `T` the last run left with
    /// [`extension::set_run_output`](crate::extension::set_run_output) (the fault plan a
    /// cluster run used, for one); `None` if it left none.
    pub fn take_run_output<T: Any>(&mut self) -> Option<T> {
        let mut core = self.core.borrow_mut();
        let i = core
            .run_outputs
            .iter()
            .position(|(key, _)| *key == TypeId::of::<T>())?;
        core.run_outputs
            .remove(i)
            .1
            .downcast::<T>()
            .ok()
            .map(|b| *b)
    }

    /// Prepares the next run under PCT: `reset(seed, ChooserSpec::Pct { depth,
    /// expected_polls })`.
    ///
    /// # Panics
    /// When the run starts, if `depth` is 0 (as [`Pct::new`](crate::Pct::new)).
    #[deprecated(
        since = "0.2.0",
        note = "use `reset(seed, ChooserSpec::Pct { depth, expected_polls })`"
    )]
    pub fn reset_pct(&mut self, seed: u64, depth: u32, expected_polls: u64) {
        self.reset(
            seed,
            ChooserSpec::Pct {
                depth,
                expected_polls,
            },
        );
    }

    /// Makes the next run draw [`crate::random`] values from `rng` instead of the seed's
    /// user stream (fuzzing feeds bytes this way).
    pub fn set_user_rng(&mut self, rng: UserRng) {
        self.user_rng = Some(rng);
    }

    /// Fails a run that makes more than `polls` polls: [`RunError::Livelock`] if its
    /// last polls made no progress, [`RunError::PollBudget`] otherwise. By default the
    /// budget is [`DEFAULT_MAX_POLLS`](crate::DEFAULT_MAX_POLLS) plus
    /// [`DEFAULT_POLLS_PER_TASK`](crate::DEFAULT_POLLS_PER_TASK) for each spawned task.
    pub fn set_max_polls(&mut self, polls: u64) {
        self.core.borrow_mut().max_steps = Some(polls);
    }

    /// The former name of [`set_max_polls`](Runtime::set_max_polls).
    #[deprecated(since = "0.2.0", note = "renamed `set_max_polls`: detsim counts polls")]
    pub fn set_max_steps(&mut self, polls: u64) {
        self.set_max_polls(polls);
    }

    /// Lets runs start OS threads (`std::thread::spawn`). By default a run refuses them
    /// on Linux with glibc: the start fails, and so does the run, with
    /// [`RunError::Thread`] naming the task and the call site. An allowed thread runs
    /// for real, outside the seed's control: its wakes are delivered, but when they
    /// arrive is up to the OS, so a run that depends on them may differ between runs.
    pub fn set_allow_threads(&mut self, on: bool) {
        self.allow_threads = on;
    }

    /// Records a [`Trace`] of each run (off by default: a sweep pays only for what it
    /// needs, and a failing seed is replayed with the trace on).
    pub fn set_trace(&mut self, on: bool) {
        self.core.borrow_mut().record_trace = on;
    }

    /// Notes where each task waits (on by default), for the positions in deadlock
    /// messages; a traced run notes them whatever this says. A sweep that only asks
    /// whether each seed passes turns it off: noting costs a write per suspension, to a
    /// table that a run with many tasks touches in random order.
    pub fn set_wait_sites(&mut self, on: bool) {
        self.core.borrow_mut().wait_sites = on;
    }

    /// Records each run's decisions (on by default), for [`Runtime::decisions`]. A sweep
    /// that only asks whether each seed passes turns it off (a failing seed is run
    /// again for its report, with recording on).
    pub fn set_record_decisions(&mut self, on: bool) {
        self.core.borrow_mut().record_decisions = on;
    }

    /// The seed of the next (or last) run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Polls made by the last run.
    pub fn polls(&self) -> u64 {
        self.core.borrow().steps
    }

    /// The former name of [`polls`](Runtime::polls).
    #[deprecated(since = "0.2.0", note = "renamed `polls`: detsim counts polls")]
    pub fn steps(&self) -> u64 {
        self.polls()
    }

    /// The decisions of the last run, in order (none if it ran with
    /// [`set_record_decisions(false)`](Runtime::set_record_decisions)).
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
    ///
    /// A root panic is printed to stderr (task, location, message) before it is resumed:
    /// inside a simulation the panic hook only records where panics happen, and
    /// `resume_unwind` does not call the hook, so without this a failed `assert!` in the
    /// root would fail the test with no message at all.
    pub fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        match self.run(future) {
            Ok(output) => output,
            Err(error @ RunError::Panic { .. }) => {
                eprintln!("{error}");
                let RunError::Panic { payload, .. } = error else {
                    unreachable!("matched a panic above")
                };
                panic::resume_unwind(payload)
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// Runs `future` to completion as the root task `t0`; a failure is returned as data.
    pub fn run<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        self.begin_run();
        let beat = self.core.borrow().beat.clone();
        beat.run_starts(self.seed);
        let _enter = Enter::new(self.core.clone());
        crate::seal::set_allow_threads(self.allow_threads);
        let mut root = pin!(Some(future));
        let mut output = None;
        let outcome = self.drive(root.as_mut(), &mut output);
        let output = outcome.map(|()| output.take().expect("the root future completed"));
        self.end_run(output, root)
    }

    /// Polls tasks, `root` as `t0`, until `root` completes (its output in `output`) or
    /// the run fails. The caller has entered the core.
    fn drive<F: Future>(
        &mut self,
        mut root: Pin<&mut Option<F>>,
        output: &mut Option<F::Output>,
    ) -> Result<(), RunError> {
        let beat = self.core.borrow().beat.clone();
        let mut foreign_wakers = Vec::new();
        loop {
            let step = match self.next_step(&mut foreign_wakers) {
                Next::Poll(step) => step,
                Next::Fire => {
                    self.fire(&mut foreign_wakers);
                    continue;
                }
                Next::Stop(error) => break Err(*error),
            };
            let Step {
                index,
                address,
                mut cell,
            } = step;
            let waker = waker::waker(address);
            let mut cx = Context::from_waker(&waker);
            context::forget_panic_location();
            // Each poll has tokio's coop budget (see `coop.rs`), lifted again after it.
            let outer_budget = crate::coop::begin_poll();
            let result = panic::catch_unwind(AssertUnwindSafe(|| match cell.as_mut() {
                Some(cell) => cell.as_mut().poll_task(&mut cx),
                None => match root.as_mut().as_pin_mut() {
                    Some(root) => root.poll(&mut cx).map(|value| *output = Some(value)),
                    None => unreachable!("the root future is polled after it finished"),
                },
            }));
            crate::coop::end_poll(outer_budget);
            beat.poll_ends();
            // The common end of a poll, a task parked, settles without building a
            // `Settled`; a failure it leaves is found by the next step.
            if let Ok(Poll::Pending) = result
                && self.core.borrow_mut().settle_parked(index, &mut cell)
            {
                continue;
            }
            if let Some(outcome) = self.settle(index, cell, result) {
                break outcome;
            }
        }
    }

    /// The end of a run: teardown, the root first (it holds most handles), then every
    /// pending task; then the verdict, which a failure in teardown or a refused OS
    /// thread overrides.
    fn end_run<F: Future>(
        &mut self,
        output: Result<F::Output, RunError>,
        mut root: Pin<&mut Option<F>>,
    ) -> Result<F::Output, RunError> {
        let root_failure = self.drop_outside_poll(ROOT_INDEX, || root.set(None));
        let late_failure = self.teardown();
        // A refused OS thread decides the verdict, whatever the program made of the
        // refusal (a panic, an error it handled, a deadlock after it).
        if let Some(refused) = crate::seal::take_refused_thread() {
            return Err(RunError::Thread {
                task: refused.task,
                site: refused.site,
            });
        }
        match (output, root_failure.or(late_failure)) {
            (Ok(_), Some(error)) => Err(error),
            (output, _) => output,
        }
    }

    /// Readies the core for a new run: this run's chooser (by default, a random one from
    /// the seed), its seed and its user RNG.
    fn begin_run(&mut self) {
        let chooser = std::mem::replace(&mut self.chooser, ChooserSpec::Random);
        // Run-scoped state left by a run that unwound before its teardown.
        let stale = self.core.borrow_mut().take_extensions();
        drop(stale);
        self.core.borrow_mut().run_outputs.clear();
        self.core
            .borrow_mut()
            .reset(self.seed, chooser, self.user_rng.take());
    }

    /// What the run does next.
    #[inline]
    fn next_step(&mut self, foreign_wakers: &mut Vec<Waker>) -> Next {
        self.core.borrow_mut().next_step(foreign_wakers)
    }

    /// Fires the timers whose wakers `next_step` left in `foreign_wakers`.
    fn fire(&mut self, foreign_wakers: &mut Vec<Waker>) {
        foreign_wakers.drain(..).for_each(Waker::wake);
        let mut core = self.core.borrow_mut();
        core.apply_wakes(None);
        core.note_progress();
    }

    /// Settles the poll of task `index`, dropping its future outside the poll if it
    /// finished; `Some` with the run's outcome when the run ends there.
    #[inline]
    fn settle(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        result: std::thread::Result<Poll<()>>,
    ) -> Option<Result<(), RunError>> {
        let settled = self.core.borrow_mut().settle(index, cell, result);
        let dropped = settled.dropped.and_then(|cell| {
            let failure = self.drop_outside_poll(index, || drop(cell));
            // What the destructors woke (a detached task's output that sends on a
            // channel, say) is ready for the next pick, as a poll's own wakes are.
            self.core.borrow_mut().apply_wakes(None);
            failure
        });
        match (settled.outcome, dropped) {
            (Some(Err(error)), _) => Some(Err(*error)),
            (_, Some(error)) => Some(Err(error)),
            (Some(Ok(())), None) => Some(Ok(())),
            (None, None) => None,
        }
    }

    /// Runs `drop`, which drops task `index`'s future or output outside any poll (a
    /// detached task's output, a task that aborted itself, the tasks left at the end),
    /// as that task: `task::id()` in a destructor names it. A destructor that panics
    /// there fails the run as that task's panic, rather than unwinding out of `run` with
    /// the run half torn down.
    fn drop_outside_poll(&self, index: u32, drop: impl FnOnce()) -> Option<RunError> {
        context::forget_panic_location();
        let payload = panic::catch_unwind(AssertUnwindSafe(|| {
            let _as_task = AsTask::enter(index);
            drop();
        }))
        .err()?;
        let task = self.core.borrow_mut().destructor_panicked(index, &payload);
        Some(RunError::Panic {
            task,
            payload,
            location: context::take_panic_location(),
        })
    }

    /// Drops every task still pending, in id order, then the outcomes nobody can read
    /// any more, and clears timers. Returns a failure that surfaced on the way (a panic
    /// whose handle was dropped unread or outlives the run, a destructor that panicked).
    fn teardown(&mut self) -> Option<RunError> {
        let mut failure = None;
        loop {
            let cells = self.core.borrow_mut().take_pending_cells();
            if cells.is_empty() {
                break;
            }
            for (index, cell) in cells {
                let error = self.drop_outside_poll(index, || drop(cell));
                failure = failure.or(error);
            }
        }
        let escaped = self.core.borrow_mut().take_escaped_outcomes();
        for (index, cell) in escaped {
            let error = self.drop_outside_poll(index, || drop(cell));
            failure = failure.or(error);
        }
        // Run-scoped state goes after the tasks (their destructors may still use it) and
        // before the timers are cleared (it may hold timers of its own).
        let extensions = self.core.borrow_mut().take_extensions();
        for (_, value) in extensions {
            let error = self.drop_outside_poll(ROOT_INDEX, || drop(value));
            failure = failure.or(error);
        }
        let wakers = self.core.borrow_mut().clear_timers();
        drop(wakers);
        let mut core = self.core.borrow_mut();
        core.apply_wakes(None);
        core.failure.take().or(failure)
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::Runtime;
    use crate::{Pct, spawn, yield_now};

    /// With more tasks ready than the look-ahead's threshold, most picks are found at
    /// the position the previous step guessed, under random and PCT; with fewer, no
    /// guess is made. (`tests/it/look_ahead.rs` checks that guessing changes no run.)
    #[test]
    fn big_runs_take_most_picks_where_the_guess_found_them() {
        let program = |tasks: u32| async move {
            let handles: Vec<_> = (0..tasks)
                .map(|_| spawn(async { yield_now().await }))
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        };
        let threshold = crate::executor::LOOK_AHEAD_FROM;
        let big = threshold as u32 + 4_000;
        // The share of the steps that follow a step with enough ready tasks to guess
        // whose pick the guess found.
        let share = |rt: &Runtime| {
            let decisions = rt.decisions();
            let guessing = decisions.iter().filter(|d| d.options as usize > threshold);
            let guessed = rt.core.borrow().guesses_taken;
            guessed as f64 / guessing.count() as f64
        };
        let mut rt = Runtime::new(3);
        rt.block_on(program(big));
        assert!(share(&rt) > 0.9, "random: {}", share(&rt));
        let expected_steps = 4 * u64::from(big);
        let mut rt = Runtime::with_chooser(3, Box::new(Pct::new(3, 3, expected_steps)));
        rt.block_on(program(big));
        assert!(share(&rt) > 0.4, "pct: {}", share(&rt));
        let mut rt = Runtime::new(3);
        rt.block_on(program(1_000));
        assert_eq!(
            rt.core.borrow().guesses_taken,
            0,
            "no guess below the threshold"
        );
    }

    #[test]
    #[ignore = "run in a child process by block_on_prints_a_root_panic_before_resuming_it"]
    fn child_root_assertion_fails() {
        Runtime::new(1).block_on(async {
            let sum = 1 + 1;
            assert_eq!(sum, 3, "the message a user must see");
        });
    }

    /// What a user sees when an assertion fails in the root: the message and where.
    #[test]
    fn block_on_prints_a_root_panic_before_resuming_it() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "runtime::tests::child_root_assertion_fails",
            ])
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let text =
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        assert!(text.contains("1 failed"), "{text}");
        assert!(text.contains("the message a user must see"), "{text}");
        assert!(
            text.contains(&format!("task t0 main panicked at {}:", file!())),
            "{text}"
        );
    }
}
