//! What a `JoinHandle` asks of the core: abort, is it finished, its outcome, detach.
//!
//! Invariants: a task with a live handle keeps its slot until the handle reads the
//! outcome or is dropped; a panic whose last handle is dropped unread fails the run.

use std::any::Any;
use std::pin::Pin;
use std::task::Context;

use super::{Core, JoinPoll, Settled, State};
use crate::join::{JoinError, RunFlavor, TaskKey};
use crate::outcome::RunError;
use crate::task::{ErasedTask, Payload};
use crate::trace::EventKind;

impl Core {
    pub(crate) fn abort(&mut self, key: TaskKey) -> Option<Pin<Box<dyn ErasedTask>>> {
        self.assert_same_run(key, "JoinHandle::abort");
        let index = self.key_slot(key)?;
        self.abort_index(index)
    }

    /// Aborts the task in slot `index`: its future, to drop outside the borrow, unless
    /// it is running (then it ends after its poll) or already finished.
    pub(crate) fn abort_index(&mut self, index: u32) -> Option<Pin<Box<dyn ErasedTask>>> {
        let by = self.current_task();
        let slot = &mut self.slots[index as usize];
        match slot.state {
            State::Finished | State::Vacant => None,
            State::Running => {
                slot.abort_requested = true;
                None
            }
            State::Ready | State::Parked | State::Spawned | State::Held => {
                if slot.state == State::Held {
                    self.unhold(index);
                }
                let slot = &mut self.slots[index as usize];
                if slot.state == State::Ready {
                    let task = slot.id;
                    self.ready.remove(index);
                    if self.track_ready {
                        self.chooser.on_unready(task);
                    }
                }
                let slot = &mut self.slots[index as usize];
                slot.state = State::Finished;
                slot.cancelled = true;
                let cell = slot.cell.take();
                let task = slot.id;
                self.record(EventKind::Abort { task, by });
                let mut settled = Settled {
                    dropped: cell,
                    outcome: None,
                };
                self.finished(index, &mut settled);
                settled.dropped
            }
        }
    }

    pub(crate) fn is_finished(&self, key: TaskKey) -> bool {
        self.assert_same_run(key, "JoinHandle::is_finished");
        match self.key_slot(key) {
            Some(index) => self.slots[index as usize].state == State::Finished,
            None => true,
        }
    }

    pub(crate) fn poll_join(
        &mut self,
        key: TaskKey,
        cx: &mut Context<'_>,
        out: &mut dyn Any,
    ) -> (JoinPoll, Option<Pin<Box<dyn ErasedTask>>>) {
        self.assert_same_run(key, "awaiting a JoinHandle");
        let index = self
            .key_slot(key)
            .expect("a task with a live JoinHandle keeps its slot");
        let slot = &mut self.slots[index as usize];
        if slot.state != State::Finished {
            match &slot.join_waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => slot.join_waker = Some(cx.waker().clone()),
            }
            return (JoinPoll::Pending, None);
        }
        let polled = if slot.cancelled {
            match self.cold[index as usize].abort_panic.take() {
                Some(error) => JoinPoll::Panicked(error),
                None => JoinPoll::Cancelled,
            }
        } else {
            if let Some(cell) = slot.cell.as_mut() {
                cell.as_mut().take_output(out);
            }
            JoinPoll::Output
        };
        slot.attached = false;
        (polled, self.free_slot(index))
    }

    pub(crate) fn detach(&mut self, key: TaskKey) -> Option<Pin<Box<dyn ErasedTask>>> {
        let index = self.key_slot(key)?;
        let slot = &mut self.slots[index as usize];
        slot.attached = false;
        slot.join_waker = None;
        if slot.state != State::Finished {
            return None;
        }
        self.unread_panic_check(index);
        self.free_slot(index)
    }
}

impl Core {
    /// Task `key`'s future panicked while it was dropped after an abort: the panic goes
    /// to its handle, or, if the handle is gone already (an `AbortHandle` aborted it),
    /// it is an unread panic (see [`Core::unread_abort_panic`]).
    pub(crate) fn abort_panicked(
        &mut self,
        key: TaskKey,
        payload: Payload,
        location: Option<String>,
    ) -> Option<JoinError> {
        let error = JoinError::panic(key.id, payload, location, self.run_flavor);
        match self.key_slot(key) {
            Some(index) if self.slots[index as usize].attached => {
                self.cold[index as usize].abort_panic = Some(error);
                None
            }
            _ => self.unread_abort_panic(key.index, error),
        }
    }

    /// A panic while an aborted task's future was dropped that nobody can read: in a
    /// detsim run it fails the run; in a tokio run it is returned, to be printed (tokio
    /// contains it).
    pub(crate) fn unread_abort_panic(&mut self, index: u32, error: JoinError) -> Option<JoinError> {
        if self.run_flavor == RunFlavor::Tokio {
            return Some(error);
        }
        if self.failure.is_none() {
            let location = error.location().map(str::to_owned);
            self.failure = Some(RunError::Panic {
                task: self.info(index),
                payload: error.into_panic(),
                location,
            });
        }
        None
    }
}
