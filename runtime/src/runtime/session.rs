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
//! Invariants:
//! - a session's first `block_on` is exactly [`Runtime::run`]'s loop: a program that
//!   calls `block_on` once makes the same run, decision for decision, either way;
//! - a failed `block_on` (a panic of its future, a deadlock, a task's unobserved panic)
//!   leaves the session to be ended: its tasks are dropped by `end_session`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;

use super::{ROOT_INDEX, Runtime};
use crate::context::{self, Enter};
use crate::executor::Core;
use crate::outcome::RunError;

impl Runtime {
    /// Starts a session: a fresh run (this runtime's seed and next chooser) that
    /// [`session_block_on`](Runtime::session_block_on) drives and
    /// [`end_session`](Runtime::end_session) ends.
    pub fn start_session(&mut self) {
        self.begin_run();
        let beat = self.core.borrow().beat.clone();
        beat.run_starts(self.seed);
    }

    /// Runs `future` as the session's root task until it completes, with the tasks
    /// spawned so far; the tasks it leaves pending stay for the next `block_on`. A
    /// failure is returned as data; the session should then be ended.
    pub fn session_block_on<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        // Inside a `session_enter` guard, the core is current but not entered as a run.
        let _restore = Restore(Some(context::swap_current(None)));
        let _enter = Enter::new(self.core.clone());
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
        let _restore = Restore(Some(context::swap_current(None)));
        let _enter = Enter::new(self.core.clone());
        self.teardown()
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
    use std::rc::Rc;

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
}
