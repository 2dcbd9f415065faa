//! Settling a poll: the task's state transition, the wakes its poll caused (applied in
//! order, asyncio's `call_soon` order), and its end in the trace.
//!
//! Invariants:
//! - a future or output leaves the core in the returned [`Settled`], to be dropped
//!   outside the core's borrow;
//! - a panic nobody can read any more fails the run.

use super::*;

impl Core {
    /// Records the end of task `index`'s poll, and where a detsim future left it.
    #[cold]
    #[inline(never)]
    pub(super) fn record_poll_end(&mut self, index: u32, end: PollEnd) {
        let slot = &self.slots[index as usize];
        let task = slot.id;
        let at = match (
            end,
            slot.position(self.waits.get(index as usize), self.epoch),
        ) {
            (PollEnd::Parked, Position::At(site)) => Some(site),
            _ => None,
        };
        self.record(EventKind::PollEnd { task, at });
    }

    /// Settles a poll's outcome and applies the wakes it caused: one state transition
    /// per way a poll can end (tokio's `transition_to_*`), then the bookkeeping every
    /// poll shares.
    pub(crate) fn settle(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        result: std::thread::Result<Poll<()>>,
    ) -> Settled {
        self.current = None;
        let id = self.slots[index as usize].id;
        let mut settled = Settled::nothing();
        let end = match result {
            Ok(Poll::Pending) if self.slots[index as usize].abort_requested => {
                self.transition_to_self_aborted(index, cell, &mut settled)
            }
            Ok(Poll::Pending) => self.transition_to_parked(index, cell),
            Ok(Poll::Ready(())) => self.transition_to_complete(index, cell, &mut settled),
            Err(payload) => self.transition_to_panicked(index, cell, payload, &mut settled),
        };
        self.end_poll(index, id, end);
        if settled.outcome.is_none()
            && self.failure.is_some()
            && let Some(error) = self.failure.take()
        {
            settled.outcome = Some(Err(Box::new(error)));
        }
        settled
    }

    /// `settle` for a poll that returned `Pending` without the task aborting itself (the
    /// common case): parks the task and applies the poll's wakes. Returns false, having
    /// done nothing, if the task aborted itself; `settle` handles that. A failure found
    /// meanwhile stays in `failure`, where the next step finds it.
    #[inline]
    pub(crate) fn settle_parked(
        &mut self,
        index: u32,
        cell: &mut Option<Pin<Box<dyn ErasedTask>>>,
    ) -> bool {
        let slot = &self.slots[index as usize];
        if slot.abort_requested {
            return false;
        }
        let id = slot.id;
        self.current = None;
        let end = self.transition_to_parked(index, cell.take());
        self.end_poll(index, id, end);
        true
    }

    /// The task aborted itself during its poll: its future is dropped (by the caller,
    /// outside the borrow) and it finishes cancelled.
    pub(super) fn transition_to_self_aborted(
        &mut self,
        index: u32,
        mut cell: Option<Pin<Box<dyn ErasedTask>>>,
        settled: &mut Settled,
    ) -> PollEnd {
        let slot = &mut self.slots[index as usize];
        let id = slot.id;
        slot.state = State::Finished;
        slot.cancelled = true;
        settled.dropped = cell.take();
        self.record(EventKind::Abort {
            task: id,
            by: Some(id),
        });
        self.finished(index, settled);
        PollEnd::Finished
    }

    /// The task is pending: its future goes back into its slot until a wake.
    #[inline(always)]
    pub(super) fn transition_to_parked(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
    ) -> PollEnd {
        let slot = &mut self.slots[index as usize];
        slot.state = State::Parked;
        slot.cell = cell;
        PollEnd::Parked
    }

    /// The task returned: its cell now holds the output; the root's return ends the run.
    pub(super) fn transition_to_complete(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        settled: &mut Settled,
    ) -> PollEnd {
        let slot = &mut self.slots[index as usize];
        let id = slot.id;
        slot.state = State::Finished;
        slot.cell = cell;
        self.record(EventKind::Complete { task: id });
        if id == Id::ROOT {
            settled.outcome = Some(Ok(()));
        }
        self.finished(index, settled);
        PollEnd::Finished
    }

    /// The task panicked: a spawned task's cell holds the panic for its joiner; the
    /// root's panic fails the run with its payload.
    pub(super) fn transition_to_panicked(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        payload: Payload,
        settled: &mut Settled,
    ) -> PollEnd {
        let location = context::take_panic_location();
        let id = self.slots[index as usize].id;
        self.slots[index as usize].state = State::Finished;
        if self.record_trace {
            let message = payload_str(payload.as_ref())
                .unwrap_or("Box<dyn Any>")
                .to_owned();
            self.record(EventKind::Panic { task: id, message });
        }
        let slot = &mut self.slots[index as usize];
        match cell {
            None => {
                settled.outcome = Some(Err(Box::new(RunError::Panic {
                    task: self.info(index),
                    payload,
                    location,
                })));
            }
            Some(mut cell) => {
                let error = JoinError::panic(id, payload, location.clone(), self.run_flavor);
                cell.as_mut().finish_with(error);
                slot.cell = Some(cell);
                self.cold[index as usize].panic_location = location;
                self.finished(index, settled);
            }
        }
        PollEnd::Finished
    }

    /// What every poll ends with: the wakes it caused, the trace's end of the poll, the
    /// progress mark of livelock detection, and the chooser's notice.
    #[inline(always)]
    pub(super) fn end_poll(&mut self, index: u32, id: Id, end: PollEnd) {
        let woke_others = self.apply_wakes(Some(id));
        if self.record_trace {
            self.record_poll_end(index, end);
        }
        let end = match end {
            PollEnd::Parked if self.slots[index as usize].state == State::Ready => PollEnd::Yielded,
            end => end,
        };
        if end != PollEnd::Yielded || woke_others {
            self.progress_step = self.steps;
        }
        if self.notify {
            self.chooser.on_poll_end(id, end);
        }
    }

    /// A task finished: wake its joiner, or, if nobody holds its handle, free it (and
    /// fail the run if it panicked: nobody could ever read that panic).
    pub(super) fn finished(&mut self, index: u32, settled: &mut Settled) {
        let slot = &mut self.slots[index as usize];
        if let Some(waker) = slot.join_waker.take() {
            waker.wake();
        }
        if !slot.attached && slot.id != Id::ROOT {
            self.unread_panic_check(index);
            let cell = self.free_slot(index);
            if settled.dropped.is_none() {
                settled.dropped = cell;
            } else {
                drop(cell); // a finished cell holds no future; its output is the only drop
            }
        }
    }

    /// Records a failure if `index` holds a panic that nobody read.
    pub(super) fn unread_panic_check(&mut self, index: u32) {
        if let Some(error) = self.cold[index as usize].abort_panic.take()
            && let Some(error) = self.unread_abort_panic(index, error)
        {
            crate::join::print_contained(&error, "while its future was dropped after an abort");
        }
        let slot = &mut self.slots[index as usize];
        let Some(cell) = slot.cell.as_mut() else {
            return;
        };
        if let Some(error) = cell.as_mut().take_panic()
            && self.failure.is_none()
        {
            self.failure = Some(RunError::Panic {
                task: self.info(index),
                payload: error.into_panic(),
                location: self.cold[index as usize].panic_location.take(),
            });
        }
    }

    /// Timers fired: the run moves on in time, which is progress.
    pub(crate) fn note_progress(&mut self) {
        self.progress_step = self.steps;
    }

    /// Applies queued wakes in order; `by` is the task whose poll caused them. Returns
    /// whether a task other than `by` became ready.
    pub(crate) fn apply_wakes(&mut self, by: Option<Id>) -> bool {
        let mut others = false;
        waker::drain_into(&mut self.wake_buf);
        for i in 0..self.wake_buf.len() {
            let (index, generation) = self.wake_buf[i];
            // A stale waker may come from a run with more slots.
            let Some(slot) = self.slots.get_mut(index as usize) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            match slot.state {
                State::Parked => {
                    let task = slot.id;
                    others |= by != Some(task);
                    self.make_ready(index);
                    if by != Some(task) {
                        self.record(EventKind::Wake { task, by });
                    }
                }
                State::Spawned => {
                    others = true;
                    self.make_ready(index);
                }
                _ => {}
            }
        }
        others
    }
}
