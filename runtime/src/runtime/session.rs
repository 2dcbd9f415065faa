//! Sessions: one run that lasts over several `block_on` calls, as a tokio `Runtime`
//! outlives its `block_on`s (the tokio facade's `Runtime` is built on them).
//!
//! A session starts with [`Runtime::start_session`] (a fresh run: its seed, chooser and
//! clock), drives a root future per [`Runtime::session_block_on`], and ends with
//! [`Runtime::end_session`], which drops the tasks still pending, as dropping a tokio
//! runtime does. Between two `block_on`s nothing runs: tasks spawned meanwhile (inside a
//! [`Runtime::session_enter`] guard) wait in the ready set, and timers keep their
//! deadlines. Each `block_on`'s future is the root task `t0` in turn.
//!
//! A session can be shut down ([`Runtime::shutdown_session`], as tokio's
//! `Runtime::shutdown_timeout`) before it ends: its pending tasks are dropped, but the
//! run goes on, so that `block_on` still runs futures in it and join handles still read
//! their tasks. A task spawned into a shut-down session is cancelled at once, and
//! resources ask [`is_shut_down`] to refuse to start, with tokio's error
//! ([`shutdown_error`]).
//!
//! Outside its `block_on`s, on its thread, a session's virtual clock is the one
//! `std::time::Instant` reads (see `seal.rs`): it stands still between two of them.
//!
//! A [`JoinHandle`](crate::JoinHandle) used outside any simulation finds its session
//! among this thread's sessions in progress, by the run's epoch, and reads its task
//! there; the handle of a run that has ended gives a cancelled error (the end of a run
//! drops its tasks, as dropping a tokio runtime does).
//!
//! Invariants:
//! - a session's first `block_on` is exactly [`Runtime::run`]'s loop: a program that
//!   calls `block_on` once makes the same run, decision for decision, either way;
//! - a failed `block_on` (a panic of its future, a deadlock, a task's unobserved panic)
//!   leaves the session to be ended: its tasks are dropped by `end_session`;
//! - shutting down changes nothing that was decided: it drops the pending tasks in id
//!   order, as the end of a session does, and draws no decision.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::{Rc, Weak};

use super::{ROOT_INDEX, Runtime};
use crate::context::{self, Enter};
use crate::executor::Core;
use crate::outcome::RunError;

thread_local! {
    /// This thread's sessions in progress, by run epoch: where a `JoinHandle` used
    /// outside any simulation finds its task.
    static LIVE: RefCell<Vec<(u64, Weak<RefCell<Core>>)>> = const { RefCell::new(Vec::new()) };
}

/// tokio's text for a runtime that is shut down (its `RUNTIME_SHUTTING_DOWN_ERROR`):
/// code written for tokio, and `tokio::runtime::is_rt_shutdown_err`, recognise it.
pub const SHUTDOWN_MESSAGE: &str = "A Tokio 1.x context was found, but it is being shutdown.";

/// Whether the current simulation is a session that was shut down
/// ([`Runtime::shutdown_session`]); false outside a simulation.
pub fn is_shut_down() -> bool {
    context::try_with_core(|core| core.shut_down).unwrap_or(false)
}

/// The error a resource of a shut-down session gives instead of starting: kind
/// `Other`, whose inner error displays [`SHUTDOWN_MESSAGE`] and has no source, as
/// tokio's does.
pub fn shutdown_error() -> io::Error {
    io::Error::other(ShutDown)
}

/// The inner error of [`shutdown_error`].
#[derive(Debug)]
struct ShutDown;

impl fmt::Display for ShutDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHUTDOWN_MESSAGE)
    }
}

impl std::error::Error for ShutDown {}

/// Whether run `run` (a [`run_id`](crate::run_id)) is in progress on this thread: the
/// current simulation's run, or a session between two `block_on`s. A run that has ended
/// (its runtime dropped) is not; nor is a run of another thread.
pub fn run_in_progress(run: u64) -> bool {
    if context::try_with_core(|core| core.epoch() == run).unwrap_or(false) {
        return true;
    }
    LIVE.try_with(|live| {
        live.borrow()
            .iter()
            .any(|(epoch, core)| *epoch == run && core.strong_count() > 0)
    })
    .unwrap_or(false)
}

/// Outside any simulation, makes the session of run `epoch` current until the guard
/// drops, if it is in progress on this thread. `None` inside a simulation (nothing to
/// do) and for a run that has ended.
pub(crate) fn enter_session_of(epoch: u64) -> Option<SessionEnter> {
    if context::in_simulation() {
        return None;
    }
    let core = LIVE
        .try_with(|live| {
            let live = live.borrow();
            let (_, core) = live.iter().find(|(e, _)| *e == epoch)?;
            core.upgrade()
        })
        .ok()
        .flatten()?;
    Some(SessionEnter {
        core: core.clone(),
        _previous: Restore(Some(context::swap_current(Some(core)))),
    })
}

impl Runtime {
    /// Starts a session: a fresh run (this runtime's seed and next chooser) that
    /// [`session_block_on`](Runtime::session_block_on) drives and
    /// [`end_session`](Runtime::end_session) ends.
    pub fn start_session(&mut self) {
        self.begin_run();
        let beat = self.core.borrow().beat.clone();
        beat.run_starts(self.seed);
        let epoch = self.core.borrow().epoch();
        crate::seal::show_session_clock(epoch, 0);
        let core = Rc::downgrade(&self.core);
        LIVE.with(|live| {
            let mut live = live.borrow_mut();
            live.retain(|(_, core)| core.strong_count() > 0);
            live.push((epoch, core));
        });
    }

    /// Runs `future` as the session's root task until it completes, with the tasks
    /// spawned so far; the tasks it leaves pending stay for the next `block_on`. A
    /// failure is returned as data; the session should then be ended.
    pub fn session_block_on<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        // Inside a `session_enter` guard, the core is current but not entered as a run.
        let _restore = Restore(Some(context::swap_current(None)));
        let _enter = Enter::new(self.core.clone());
        self.core.borrow().beat.tasks_wait_for_block_on(false);
        crate::seal::set_allow_threads(self.allow_threads);
        {
            let mut core = self.core.borrow_mut();
            core.rearm_root();
            core.apply_wakes(None);
        }
        let mut root = pin!(Some(future));
        let mut output = None;
        let outcome = self.drive(root.as_mut(), &mut output);
        let root_failure = self.drop_outside_poll(ROOT_INDEX, || root.set(None));
        {
            let core = self.core.borrow();
            crate::seal::show_session_clock(core.epoch(), core.now().as_nanos());
        }
        if let Some(refused) = crate::seal::take_refused_thread() {
            return Err(RunError::Thread {
                task: refused.task,
                site: refused.site,
            });
        }
        outcome?;
        match root_failure {
            Some(error) => Err(error),
            None => Ok(output.take().expect("the root future completed")),
        }
    }

    /// Makes the session current on this thread until the guard drops, outside any
    /// `block_on`: `spawn`, `time::now` and the other free functions reach it. What is
    /// spawned waits for the next `block_on`. Guards nest (the previous simulation is
    /// current again when one drops).
    pub fn session_enter(&self) -> SessionEnter {
        SessionEnter {
            core: self.core.clone(),
            _previous: Restore(Some(context::swap_current(Some(self.core.clone())))),
        }
    }

    /// Ends the session: drops the root's and every pending task's future (in id order)
    /// and the run's state; returns a failure that surfaced on the way (a task's panic
    /// nobody can read any more, a destructor that panicked).
    pub fn end_session(&mut self) -> Option<RunError> {
        let epoch = self.core.borrow().epoch();
        crate::seal::hide_session_clock(epoch);
        let _ = LIVE.try_with(|live| live.borrow_mut().retain(|(e, _)| *e != epoch));
        self.core.borrow().beat.tasks_wait_for_block_on(false);
        let _restore = Restore(Some(context::swap_current(None)));
        let _enter = Enter::new(self.core.clone());
        self.teardown()
    }

    /// Whether the session was shut down ([`shutdown_session`](Runtime::shutdown_session)).
    pub fn is_session_shut_down(&self) -> bool {
        self.core.borrow().shut_down
    }

    /// Shuts the session down, as tokio's `Runtime::shutdown_timeout` does: aborts every
    /// pending task but those `keep` names (a facade's blocking tasks, which tokio lets
    /// finish), in id order, dropping their futures and waking whoever awaits them; from
    /// then on a task spawned into the session is cancelled at once and
    /// [`is_shut_down`] is true in it. The run goes on: `session_block_on` still runs
    /// futures (and the kept tasks), and join handles read their tasks (cancelled ones,
    /// or the output of tasks that finished before). Returns a failure that surfaced on
    /// the way (a destructor that panicked, a task's panic nobody can read any more).
    pub fn shutdown_session(&mut self, keep: impl Fn(crate::task::Id) -> bool) -> Option<RunError> {
        let _restore = Restore(Some(context::swap_current(None)));
        let _enter = Enter::new(self.core.clone());
        self.core.borrow_mut().shut_down = true;
        self.core.borrow().beat.tasks_wait_for_block_on(false);
        let mut failure = None;
        let pending = self.core.borrow().pending_tasks();
        for (id, index) in pending {
            if keep(id) {
                continue;
            }
            // A destructor that ran before may have ended this task already; a slot it
            // freed and a spawn reused holds a task cancelled at its spawn.
            let dropped = self.core.borrow_mut().abort_index(index);
            if let Some(cell) = dropped {
                let error = self.drop_outside_poll(index, || drop(cell));
                failure = failure.or(error);
            }
        }
        let mut core = self.core.borrow_mut();
        core.apply_wakes(None);
        core.failure.take().or(failure)
    }
}

/// What [`Runtime::session_enter`] returns: the session stays current on this thread
/// until it drops.
pub struct SessionEnter {
    core: Rc<RefCell<Core>>,
    /// Dropped after `Drop::drop` has run: the previous simulation is current again.
    _previous: Restore,
}

/// Makes the simulation it holds current again when dropped.
struct Restore(Option<Option<Rc<RefCell<Core>>>>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            context::swap_current(previous);
        }
    }
}

impl std::fmt::Debug for SessionEnter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEnter").finish_non_exhaustive()
    }
}

impl Drop for SessionEnter {
    fn drop(&mut self) {
        // Spawns made under the guard join the ready set now, in order.
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.apply_wakes(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::rc::Rc;
    use std::task::Poll;

    use crate::{Runtime, spawn, yield_now};

    /// A program with choices: three tasks yielding in turns.
    async fn program() -> u32 {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                spawn(async move {
                    for _ in 0..3 {
                        yield_now().await;
                    }
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    }

    #[test]
    fn a_sessions_first_block_on_is_the_same_run_as_run() {
        let mut plain = Runtime::new(11);
        assert_eq!(plain.run(program()).unwrap(), 3);
        let mut session = Runtime::new(11);
        session.start_session();
        assert_eq!(session.session_block_on(program()).unwrap(), 3);
        assert_eq!(plain.decisions(), session.decisions());
        assert!(!plain.decisions().is_empty());
        assert!(session.end_session().is_none());
    }

    #[test]
    fn tasks_outlive_a_block_on_and_end_with_the_session() {
        let mut rt = Runtime::new(3);
        rt.start_session();
        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let steps = Rc::new(Cell::new(0));
        // Spawned outside any block_on: it runs in the first one.
        let early = {
            let _enter = rt.session_enter();
            let steps = steps.clone();
            spawn(async move {
                steps.set(steps.get() + 1);
                7
            })
        };
        assert_eq!(steps.get(), 0, "nothing runs outside block_on");
        let flag = Flag(dropped.clone());
        rt.session_block_on(async move {
            drop(spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await;
            }));
        })
        .unwrap();
        assert_eq!(rt.session_block_on(early).unwrap().unwrap(), 7);
        assert_eq!(steps.get(), 1);
        assert!(!dropped.get(), "a pending task lives on between block_ons");
        let late = {
            let _enter = rt.session_enter();
            spawn(async {})
        };
        assert!(rt.end_session().is_none());
        assert!(dropped.get(), "ending the session drops its pending tasks");
        // After the run, as tokio allows: nothing to abort, and the task is over.
        late.abort();
        assert!(late.is_finished());
    }

    #[test]
    fn a_shut_down_session_cancels_its_tasks_and_goes_on() {
        let mut rt = Runtime::new(5);
        rt.start_session();
        let (pending, finished) = {
            let _enter = rt.session_enter();
            (spawn(std::future::pending::<()>()), spawn(async { 9 }))
        };
        assert!(!super::is_shut_down(), "outside a simulation");
        rt.session_block_on(yield_now()).unwrap();
        assert!(rt.shutdown_session(|_| false).is_none());
        assert!(rt.is_session_shut_down());
        // Read from outside any block_on: the handles find their session.
        assert!(pending.is_finished());
        let late = {
            let _enter = rt.session_enter();
            assert!(super::is_shut_down());
            spawn(async { 1 })
        };
        let (pending, finished, late) = rt
            .session_block_on(async { (pending.await, finished.await, late.await) })
            .unwrap();
        assert!(pending.unwrap_err().is_cancelled());
        assert_eq!(finished.unwrap(), 9, "an output read after the shutdown");
        assert!(
            late.unwrap_err().is_cancelled(),
            "spawned after the shutdown"
        );
        assert!(rt.end_session().is_none());
    }

    #[test]
    fn a_session_is_in_progress_until_it_ends() {
        let mut rt = Runtime::new(5);
        rt.start_session();
        let run = {
            let _enter = rt.session_enter();
            crate::run_id()
        };
        assert!(super::run_in_progress(run), "between two block_ons");
        let inside = rt.session_block_on(async move { super::run_in_progress(run) });
        assert!(inside.unwrap());
        assert!(rt.end_session().is_none());
        assert!(!super::run_in_progress(run), "ended");
    }

    #[test]
    fn a_shutdown_keeps_the_tasks_it_is_told_to() {
        let mut rt = Runtime::new(5);
        rt.start_session();
        let (kept, dropped) = {
            let _enter = rt.session_enter();
            let kept = spawn(async {
                yield_now().await;
                3
            });
            (kept, spawn(std::future::pending::<()>()))
        };
        let keep = kept.id();
        assert!(rt.shutdown_session(|task| task == keep).is_none());
        let (kept, dropped) = rt
            .session_block_on(async { (kept.await, dropped.await) })
            .unwrap();
        assert_eq!(kept.unwrap(), 3, "a kept task runs on after the shutdown");
        assert!(dropped.unwrap_err().is_cancelled());
        assert!(rt.end_session().is_none());
    }

    #[test]
    fn a_join_handle_outside_reads_its_session_then_its_end() {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut rt = Runtime::new(5);
        rt.start_session();
        let mut done = {
            let _enter = rt.session_enter();
            spawn(async { 2 })
        };
        let mut aborted = {
            let _enter = rt.session_enter();
            spawn(std::future::pending::<()>())
        };
        let mut pending = {
            let _enter = rt.session_enter();
            spawn(std::future::pending::<()>())
        };
        aborted.abort();
        rt.session_block_on(yield_now()).unwrap();
        let done = std::pin::Pin::new(&mut done).poll(&mut cx);
        assert!(matches!(done, Poll::Ready(Ok(2))));
        let aborted = std::pin::Pin::new(&mut aborted).poll(&mut cx);
        assert!(matches!(aborted, Poll::Ready(Err(e)) if e.is_cancelled()));
        let waiting = std::pin::Pin::new(&mut pending).poll(&mut cx);
        assert!(waiting.is_pending(), "nothing runs it outside block_on");
        assert!(rt.end_session().is_none());
        let ended = std::pin::Pin::new(&mut pending).poll(&mut cx);
        assert!(matches!(ended, Poll::Ready(Err(e)) if e.is_cancelled()));
    }
}
