//! What the core says about its tasks: where they wait (for deadlock reports and the
//! trace), who is still unfinished, and what the end of a run hands back to be dropped
//! outside the borrow.

use super::*;

impl Core {
    /// Whether this run notes where tasks wait: wait sites on, or the trace (which
    /// records them whatever the setting).
    #[inline(always)]
    pub(super) fn notes_waits(&self) -> bool {
        self.wait_sites || self.record_trace
    }

    /// Notes that a detsim future suspends the running task at `site` (see
    /// [`crate::wait`]): one entry written, unless wait sites are off and the run is not
    /// traced.
    #[inline(always)]
    pub(crate) fn note_wait(&mut self, site: WaitSite) {
        if self.notes_waits()
            && let Some(index) = self.current
        {
            let index = index as usize;
            let entry = WaitEntry {
                epoch: self.epoch,
                task: self.slots[index].id,
                site,
                step: self.steps,
            };
            match self.waits.get_mut(index) {
                Some(slot) => *slot = entry,
                None => {
                    // Entries of slots that never waited belong to no run.
                    let filler = WaitEntry { epoch: 0, ..entry };
                    self.waits.resize(index, filler);
                    self.waits.push(entry);
                }
            }
        }
    }

    /// Task `index`'s id, name and spawn location (no position).
    pub(super) fn info(&self, index: u32) -> TaskInfo {
        let cold = &self.cold[index as usize];
        TaskInfo {
            id: self.slots[index as usize].id,
            name: cold.name.clone(),
            spawned_at: cold.location,
            position: None,
        }
    }

    /// Every task not yet finished, in id order, with its position (for deadlock
    /// reports).
    pub(super) fn unfinished_tasks(&self) -> Vec<TaskInfo> {
        let mut tasks: Vec<TaskInfo> = self
            .slots
            .iter()
            .zip(0..)
            .filter(|(s, _)| {
                matches!(
                    s.state,
                    State::Spawned | State::Ready | State::Parked | State::Running | State::Held
                )
            })
            .map(|(slot, index)| TaskInfo {
                position: Some(Box::new(slot.position(self.waits.get(index), self.epoch))),
                ..self.info(index as u32)
            })
            .collect();
        tasks.sort_by_key(|t| t.id);
        tasks
    }

    /// A destructor of task `index`'s future or output panicked outside any poll (see
    /// `Runtime::drop_outside_poll`): traces the panic and names the task.
    pub(crate) fn destructor_panicked(&mut self, index: u32, payload: &Payload) -> TaskInfo {
        let info = self.info(index);
        if self.record_trace {
            let message = payload_str(payload.as_ref())
                .unwrap_or("Box<dyn Any>")
                .to_owned();
            let task = info.id;
            self.record(EventKind::Panic { task, message });
        }
        info
    }

    /// Takes the outcomes of finished tasks whose handles outlive the run (returned from
    /// it, or kept in the test's own state), in id order. Nobody can read them any more,
    /// since every other run refuses the handle: a panic among them fails the run, as a
    /// dropped handle's would, and the outputs are dropped with the run.
    pub(crate) fn take_escaped_outcomes(&mut self) -> Vec<(u32, Pin<Box<dyn ErasedTask>>)> {
        let mut escaped: Vec<(Id, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                let abort_panic = self.cold[*i].abort_panic.is_some();
                s.state == State::Finished && (s.cell.is_some() || abort_panic)
            })
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        escaped.sort_unstable();
        let mut cells = Vec::with_capacity(escaped.len());
        for (_, index) in escaped {
            self.unread_panic_check(index);
            cells.extend(self.slots[index as usize].cell.take().map(|c| (index, c)));
        }
        cells
    }

    /// Every task still pending (not the root), in id order, with its slot.
    pub(crate) fn pending_tasks(&self) -> Vec<(Id, u32)> {
        let mut pending: Vec<(Id, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s.state,
                    State::Spawned | State::Ready | State::Parked | State::Held
                ) && s.cell.is_some()
            })
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        pending.sort_unstable();
        pending
    }

    /// Takes the futures of every task still pending, in id order, marking them finished.
    pub(crate) fn take_pending_cells(&mut self) -> Vec<(u32, Pin<Box<dyn ErasedTask>>)> {
        let pending = self.pending_tasks();
        let mut cells = Vec::with_capacity(pending.len());
        for (task, index) in pending {
            self.record(EventKind::Dropped { task });
            let slot = &mut self.slots[index as usize];
            slot.state = State::Finished;
            slot.cancelled = true;
            cells.extend(slot.cell.take().map(|cell| (index, cell)));
        }
        self.ready.clear();
        cells
    }
}
