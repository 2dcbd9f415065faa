//! Wakers: real `std::task::Waker`s, so any runtime-agnostic future (futures' channels
//! and locks, tokio::sync, async-channel) can wake a detsim task.
//!
//! Invariants:
//! - a wake only queues `(slot index, generation)`; the executor applies it after the
//!   current poll, so waking never re-enters the executor;
//! - a task is queued at most once until the executor takes the wake (`queued` flag);
//! - waking a finished task, or a waker that outlived its task, is a no-op: the
//!   generation no longer matches the slot;
//! - the queue keeps wake order, which is what makes the ready order deterministic.
//!   (A wake from another OS thread is delivered too, but its timing is not part of the
//!   seed: keep real threads out of a simulation.)

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Wake;

/// Wakes waiting to be applied by the executor, in the order they happened.
#[derive(Debug, Default)]
pub(crate) struct WakeQueue {
    wakes: Mutex<Vec<(u32, u32)>>,
}

impl WakeQueue {
    /// Moves every pending wake into `into` (cleared first).
    pub(crate) fn drain_into(&self, into: &mut Vec<(u32, u32)>) {
        into.clear();
        let mut wakes = self.wakes.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *wakes, into);
    }

    /// Drops any pending wakes (between runs).
    pub(crate) fn clear(&self) {
        self.wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The waker of one task slot. It is reused for the slot's next task when nobody else
/// holds it any more, which saves an allocation per spawn.
#[derive(Debug)]
pub(crate) struct TaskWaker {
    index: u32,
    generation: AtomicU32,
    queued: AtomicBool,
    queue: Arc<WakeQueue>,
}

impl TaskWaker {
    pub(crate) fn new(index: u32, generation: u32, queue: Arc<WakeQueue>) -> Self {
        TaskWaker {
            index,
            generation: AtomicU32::new(generation),
            queued: AtomicBool::new(false),
            queue,
        }
    }

    /// Points a recycled waker at the slot's new task.
    pub(crate) fn recycle(&self, generation: u32) {
        self.generation.store(generation, Ordering::Relaxed);
        self.queued.store(false, Ordering::Relaxed);
    }

    /// The executor took this task's wake; the next wake queues it again.
    pub(crate) fn clear_queued(&self) {
        self.queued.store(false, Ordering::Relaxed);
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            let generation = self.generation.load(Ordering::Acquire);
            self.queue
                .wakes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((self.index, generation));
        }
    }
}
