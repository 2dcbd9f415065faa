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
//!   A wake on the simulation's own thread goes to a thread-local list (no lock, no
//!   atomic read-modify-write: the common case costs a few instructions). A wake from
//!   another OS thread goes to a mutex-guarded list and is delivered too, but its timing
//!   is not part of the seed: keep real threads out of a simulation.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Wake;

thread_local! {
    /// Wakes made on this thread for the simulation running on it, identified by the
    /// address of its `WakeQueue`.
    static LOCAL: RefCell<(usize, Vec<(u32, u32)>)> = const { RefCell::new((0, Vec::new())) };
}

/// Wakes waiting to be applied by the executor, in the order they happened.
#[derive(Debug, Default)]
pub(crate) struct WakeQueue {
    remote: Mutex<Vec<(u32, u32)>>,
    remote_pending: AtomicBool,
}

impl WakeQueue {
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Routes this thread's wakes for `self` to the lock-free local list.
    pub(crate) fn enter(&self) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            local.0 = self.id();
            local.1.clear();
        });
    }

    /// Stops routing this thread's wakes to the local list.
    pub(crate) fn exit(&self) {
        let _ = LOCAL.try_with(|local| local.borrow_mut().0 = 0);
    }

    /// Moves every pending wake into `into` (cleared first): this thread's, in order,
    /// then other threads'.
    pub(crate) fn drain_into(&self, into: &mut Vec<(u32, u32)>) {
        into.clear();
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if local.0 == self.id() {
                std::mem::swap(&mut local.1, into);
            }
        });
        if self.remote_pending.load(Ordering::Relaxed)
            && self.remote_pending.swap(false, Ordering::AcqRel)
        {
            let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
            into.append(&mut remote);
        }
    }

    /// Drops any pending wakes (between runs).
    pub(crate) fn clear(&self) {
        let mut scratch = Vec::new();
        self.drain_into(&mut scratch);
    }

    /// Queues a wake on behalf of the executor (a spawn is scheduled this way).
    pub(crate) fn schedule(&self, wake: (u32, u32)) {
        self.push(wake);
    }

    fn push(&self, wake: (u32, u32)) {
        let local = LOCAL
            .try_with(|local| {
                let mut local = local.borrow_mut();
                let mine = local.0 == self.id();
                if mine {
                    local.1.push(wake);
                }
                mine
            })
            .unwrap_or(false);
        if !local {
            self.remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(wake);
            self.remote_pending.store(true, Ordering::Release);
        }
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

    /// The task has a wake queued (its spawn): further wakes until it is applied are
    /// redundant.
    pub(crate) fn mark_queued(&self) {
        self.queued.store(true, Ordering::Relaxed);
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
        // A load and a store rather than a swap: two threads racing here may queue the
        // task twice, which the executor ignores (the second wake finds it ready).
        if !self.queued.load(Ordering::Acquire) {
            self.queued.store(true, Ordering::Release);
            let generation = self.generation.load(Ordering::Acquire);
            self.queue.push((self.index, generation));
        }
    }
}
