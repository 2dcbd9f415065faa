//! The pick: which ready task runs next (the chooser's decision, recorded), the look-ahead
//! that prefetches the likely next pick among many ready tasks, other decisions, and the
//! end of a run's budget.
//!
//! Invariants:
//! - every pick among two or more ready tasks is one recorded decision (when the run
//!   records decisions), whatever the chooser;
//! - a guess made a step ahead is used only while the ready set is unchanged since.

use super::chooser::task_options;
use super::*;

/// From this many ready tasks on, each step guesses the next pick and prefetches it
/// (see `prefetch.rs`). Below, slots and futures mostly stay in cache and the guess
/// costs more than it saves: measured side by side on the development machine, it was
/// 2% slower at 10,000 ready tasks, 5% faster at 30,000 and 1.7× faster at 100,000.
pub(crate) const LOOK_AHEAD_FROM: usize = 16_384;

/// From this many ready tasks on, a task enters the ready set with its future's
/// address as the hint `look_ahead` prefetches; below, nothing is stored (a run that
/// never grows this large never reads a hint, nor pays for the array). A guess that
/// lands on a task queued before the set grew prefetches a stale address: a wasted
/// line fill, nothing else.
pub(super) const HINTS_FROM: usize = LOOK_AHEAD_FROM / 2;

/// The likely next picks, found a step ahead: up to two (FIFO index, position in the
/// ready set) pairs, valid while the ready set's `removals` count is unchanged.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lookahead {
    pub(super) removals: u64,
    /// `(usize::MAX, _)`: no candidate.
    pub(super) candidates: [(usize, usize); 2],
}

impl Core {
    /// Asks the chooser which of the `n` (two or more) ready tasks runs next, by index,
    /// and records the decision.
    #[inline(always)]
    pub(super) fn choose_task(&mut self, n: usize) -> usize {
        self.list_ready_tasks();
        let view = task_options(&self.ready_ids, self.list_ready, n, self.steps);
        let k = self.chooser.choose(view);
        assert!(k < n, "the scheduler chose index {k} among {n} ready tasks");
        self.record_task_decision(n, k);
        k
    }

    /// Takes the next task out of the ready set, for a chooser that tracks it and may
    /// name its pick (`Chooser::choose_ready`; `n` ≥ 2 tasks are ready), and records the
    /// decision: a named pick is found without a search, and its FIFO index is worked
    /// out only for the record.
    #[inline(never)]
    pub(super) fn take_named_pick(&mut self, n: usize) -> u32 {
        self.list_ready_tasks();
        let view = task_options(&self.ready_ids, self.list_ready, n, self.steps);
        let Some(task) = self.chooser.choose_ready(view) else {
            // It answers by index after all (the tasks are listed already).
            let k = self.chooser.choose(view);
            assert!(k < n, "the scheduler chose index {k} among {n} ready tasks");
            self.record_task_decision(n, k);
            return self.take_pick(k);
        };
        let position = self.ready_position(task);
        if self.record_decisions {
            let k = self.ready.rank_at(position);
            self.record_task_decision(n, k);
        }
        self.ready.remove_at(position)
    }

    /// Lists the ready tasks in `ready_ids` if the chooser needs them.
    #[inline]
    pub(super) fn list_ready_tasks(&mut self) {
        if self.list_ready {
            self.ready_ids.clear();
            let slots = &self.slots;
            self.ready_ids
                .extend(self.ready.iter().map(|i| slots[i as usize].id));
        }
    }

    #[inline]
    pub(super) fn record_task_decision(&mut self, n: usize, k: usize) {
        if self.record_decisions {
            self.decisions.push(Decision {
                kind: DecisionKind::Task,
                options: n as u32,
                chosen: k as u32,
            });
        }
    }

    /// The slot task `task` was given, as a chooser that names its pick knows it by id
    /// (the slot may hold another task since).
    pub(super) fn slot_of(&self, task: Id) -> Option<u32> {
        let number = usize::try_from(task.as_u64()).ok()?;
        self.slot_of_id.get(number).copied()
    }

    /// Where ready task `task` is in the ready set, as a chooser named it.
    pub(super) fn ready_position(&mut self, task: Id) -> usize {
        let slot = self.slot_of(task);
        let position = slot.and_then(|slot| {
            let slot_ok = self.slots[slot as usize].id == task;
            slot_ok.then(|| self.ready.position_of(slot)).flatten()
        });
        match position {
            Some(position) => {
                if self.peeked_slot.take() == slot {
                    self.guesses_taken += 1;
                }
                position
            }
            None => panic!("the scheduler chose {task}, which is not ready"),
        }
    }

    /// What the next step is when it polls no task: the run stops (a failure found
    /// outside the poll loop, a deadlock, the budget spent), or timers fire because no
    /// task is ready, or because the ready ones only spun for the run's busy clock
    /// (see `time::advance_when_busy`). `None`: a task of the `n` ready ones is polled.
    #[inline]
    fn next_without_poll(&mut self, n: usize, foreign_wakers: &mut Vec<Waker>) -> Option<Next> {
        if self.failure.is_some()
            && let Some(error) = self.failure.take()
        {
            return Some(Next::Stop(Box::new(error)));
        }
        if n == 0 {
            return Some(match self.fire_timers(foreign_wakers) {
                true => Next::Fire,
                false => Next::Stop(Box::new(RunError::Deadlock {
                    blocked: self.unfinished_tasks(),
                    resources: crate::sync::registry::snapshot(self),
                })),
            });
        }
        if self.steps >= self.limit {
            return Some(Next::Stop(Box::new(self.out_of_budget())));
        }
        // Tasks only spinning: with a busy clock, the time they spin passes.
        if self.steps - self.progress_step >= self.busy_clock && self.fire_timers(foreign_wakers) {
            return Some(Next::Fire);
        }
        None
    }

    /// Picks the next task to poll, firing timers or stopping the run as needed.
    pub(crate) fn next_step(&mut self, foreign_wakers: &mut Vec<Waker>) -> Next {
        let n = self.ready.len();
        if let Some(next) = self.next_without_poll(n, foreign_wakers) {
            return next;
        }
        let first_in_line = match self.record_trace {
            true => self.first_in_line(),
            false => None,
        };
        let index = match n {
            1 => self.take_pick(0),
            _ if self.track_ready => self.take_named_pick(n),
            _ => {
                let k = self.choose_task(n);
                self.take_pick(k)
            }
        };
        // A chooser that does not track the ready set peeks before this task's slot is
        // read, so that the guess's misses and this slot's overlap.
        let look_ahead = n >= LOOK_AHEAD_FROM;
        if look_ahead && !self.track_ready {
            self.look_ahead();
        }
        self.steps += 1;
        self.current = Some(index);
        let quiet = !self.notes_waits();
        let slot = &mut self.slots[index as usize];
        slot.state = State::Running;
        slot.last_poll = self.steps;
        let task = slot.id;
        // The watchdog's view: the task, and where it last waited if the run notes it.
        let site = last_wait_site(&self.waits, self.epoch, index, task, quiet);
        self.beat.poll_begins(task.as_u64(), site);
        let step = Step {
            index,
            address: Address::new(self.thread, index, slot.generation, quiet),
            cell: slot.cell.take(),
        };
        if self.track_ready {
            self.chooser.on_unready(task);
            // After `on_unready`: a chooser that tracks the ready set peeks at it as
            // the next step will find it.
            if look_ahead {
                self.look_ahead();
            }
        }
        if let Some(first_in_line) = first_in_line {
            self.record(EventKind::Poll {
                task,
                ready: n,
                first_in_line,
            });
        }
        Next::Poll(step)
    }

    /// Removes the `k`-th ready task from the ready set, at the position the last
    /// step's guess found if it guessed `k` and nothing was removed since.
    #[inline]
    pub(super) fn take_pick(&mut self, k: usize) -> u32 {
        if self.lookahead.is_some() {
            return self.take_guessed_pick(k);
        }
        self.ready.remove_nth(k)
    }

    /// `take_pick` after a guess (only runs with many ready tasks make one).
    #[inline(never)]
    pub(super) fn take_guessed_pick(&mut self, k: usize) -> u32 {
        if let Some(guess) = self.lookahead.take()
            && guess.removals == self.ready.removals()
            && let Some(&(_, position)) = guess.candidates.iter().find(|(c, _)| *c == k)
        {
            self.guesses_taken += 1;
            return self.ready.remove_at(position);
        }
        self.ready.remove_nth(k)
    }

    /// Guesses the next step's pick and prefetches its slot and future, so that they
    /// arrive while the task just picked is polled. The next step's count of ready
    /// tasks is guessed two ways: this step's task does not come back, or it yields
    /// and comes back at the end of the line; a uniform pick then lands on the same
    /// index or on its neighbour. Tasks that this poll wakes or spawns also join at
    /// the end, after every candidate, so they change the count but not the positions.
    #[inline(never)]
    pub(super) fn look_ahead(&mut self) {
        if self.track_ready {
            self.look_ahead_by_task();
            return;
        }
        let left = self.ready.len();
        let (Some(k0), Some(k1)) = (self.chooser.peek(left), self.chooser.peek(left + 1)) else {
            return;
        };
        if k0 >= left {
            return;
        }
        let p0 = self.ready.nth_position(k0);
        let mut candidates = [(k0, p0), (usize::MAX, 0)];
        if k1 == k0 + 1 && k1 < left {
            candidates[1] = (k1, self.ready.next_position(p0));
        }
        for (k, position) in candidates {
            if k != usize::MAX {
                let index = self.ready.value_at(position) as usize;
                prefetch((&raw const self.slots[index]).addr());
                prefetch(self.ready.hint_at(position));
            }
        }
        self.lookahead = Some(Lookahead {
            removals: self.ready.removals(),
            candidates,
        });
    }

    /// `look_ahead` for a chooser that names its pick: the task it would name now, if
    /// it can tell, is prefetched; no position is guessed, since a named pick is found
    /// without a search.
    pub(super) fn look_ahead_by_task(&mut self) {
        let Some(task) = self.chooser.peek_ready() else {
            return;
        };
        let slot = self.slot_of(task);
        if let Some(slot) = slot {
            prefetch((&raw const self.slots[slot as usize]).addr());
            if let Some(position) = self.ready.position_of(slot) {
                prefetch(self.ready.hint_at(position));
            }
        }
        self.peeked_slot = slot;
    }

    /// The ready task asyncio would run next (for the trace).
    #[cold]
    #[inline(never)]
    pub(super) fn first_in_line(&self) -> Option<Id> {
        self.ready.iter().next().map(|i| self.slots[i as usize].id)
    }

    /// The run's budget ran out: a livelock if the polls of at least the last half of
    /// the budget (or the last 10,000) made no progress, else a long run.
    #[cold]
    pub(super) fn out_of_budget(&self) -> RunError {
        let ready = self.ready.iter().map(|i| self.info(i)).collect();
        let quiet = self.steps - self.progress_step;
        let max_steps = self.limit;
        match quiet >= (max_steps / 2).min(LIVELOCK_QUIET_POLLS) {
            true => RunError::Livelock { max_steps, ready },
            false => RunError::PollBudget { max_steps, ready },
        }
    }

    /// A decision of a kind other than the next task (see [`crate::choice::decide`]).
    pub(crate) fn decide(&mut self, kind: DecisionKind, options: usize) -> usize {
        if options < 2 {
            return 0;
        }
        let view = Options::other(kind, options, self.steps);
        let chosen = self.chooser.choose(view);
        assert!(
            chosen < options,
            "the scheduler chose option {chosen} of {options} ({kind} decision)"
        );
        if self.record_decisions {
            self.decisions.push(Decision {
                kind,
                options: options as u32,
                chosen: chosen as u32,
            });
        }
        let task = self.current_task().unwrap_or(Id::ROOT);
        self.record(EventKind::Decide {
            task,
            kind,
            options,
            chosen,
        });
        chosen
    }
}

/// Where `task` (in slot `index`) last waited in the run of `epoch`, if the run notes
/// wait sites (`quiet`: it does not).
#[inline(always)]
fn last_wait_site(
    waits: &[WaitEntry],
    epoch: u64,
    index: u32,
    task: Id,
    quiet: bool,
) -> Option<&'static std::panic::Location<'static>> {
    match quiet {
        true => None,
        false => waits
            .get(index as usize)
            .filter(|e| e.epoch == epoch && e.task == task)
            .map(|e| e.site.location),
    }
}
