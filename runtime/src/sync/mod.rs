//! tokio's synchronisation primitives, simulated: [`Mutex`], [`RwLock`],
//! [`Semaphore`] (with owned guards and permits), [`Notify`] and [`Barrier`], and the
//! channels [`mpsc`] and [`oneshot`], with tokio's API and semantics, that know who
//! holds them and who waits where.
//!
//! # Design
//! - Every lock is a fair semaphore (`batch.rs`, tokio's `batch_semaphore`): a `Mutex`
//!   is one permit, an `RwLock` `max_readers` permits (a reader takes one, a writer
//!   all of them), a `Semaphore` what it was given. Waiters are served first in, first
//!   out, so a queued writer holds back the readers behind it (write-preferring, as
//!   tokio) and `acquire_many` holds back smaller requests queued after it.
//! - The value behind a lock sits in a `parking_lot` lock that the semaphore's permit
//!   makes uncontended: taking it never blocks, and guards are `Send` as tokio's are.
//! - Every acquisition records its holder: the task and the call site (`lock()`,
//!   `read()`, `acquire()` are `#[track_caller]`). Every wait notes its task and site
//!   ([`crate::wait`]) as a [`WaitKind::Resource`](crate::wait::WaitKind::Resource)
//!   naming the lock in the run's registry (`registry.rs`), so that a deadlock report
//!   shows the wait-for graph: who holds what, acquired where, and who waits for it,
//!   where, cycle by cycle.
//! - A channel wait (`recv`, `send` on a full channel, `closed`, awaiting a `oneshot`)
//!   notes its task and call site; a bounded `mpsc` channel's capacity is one more
//!   fair semaphore, whose holders are the permits reserved and not yet used.
//! - The primitives need no runtime: outside a simulation they work with any executor
//!   (and record no task). Inside one, the `blocking_*` methods panic, as tokio's do
//!   inside a runtime: they would block the simulation's only thread.
//!
//! # Determinism
//! Wakes happen in queue order, inside the poll that releases, so the ready order (and
//! every schedule) is a function of the seed. Nothing here reads a clock or a RNG.

mod barrier;
mod batch;
pub mod broadcast;
pub mod mpsc;
mod mutex;
mod notify;
mod once_cell;
pub mod oneshot;
pub(crate) mod registry;
mod rwlock;
mod semaphore;
mod waiters;
pub mod watch;

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

pub use barrier::{Barrier, BarrierWaitResult};
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard};
pub use notify::{Notified, Notify, OwnedNotified};
pub use once_cell::{OnceCell, SetError, SetOnce, SetOnceError};
pub use registry::{HolderInfo, ResourceInfo};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockMappedWriteGuard, RwLockReadGuard,
    RwLockWriteGuard,
};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::context;
use crate::task::Id;

/// What a semaphore is behind: it decides how reports name it and its holders.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Mutex,
    RwLock {
        max_readers: usize,
    },
    Semaphore,
    /// The capacity of a bounded `mpsc` channel.
    Channel,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Mutex => "Mutex",
            Kind::RwLock { .. } => "RwLock",
            Kind::Semaphore => "Semaphore",
            Kind::Channel => "mpsc channel",
        }
    }

    /// `"read"` or `"write"` for an `RwLock` holder of `permits`.
    pub(crate) fn mode(self, permits: usize) -> Option<&'static str> {
        match self {
            Kind::RwLock { max_readers } if permits >= max_readers => Some("write"),
            Kind::RwLock { .. } => Some("read"),
            _ => None,
        }
    }
}

/// The running task, if a simulation is polling one on this thread.
pub(crate) fn current_task() -> Option<Id> {
    context::try_with_core(|core| core.current_task()).flatten()
}

/// Panics if called inside a simulation: a `blocking_*` method would block the
/// simulation's only thread (tokio panics inside its runtime too).
#[track_caller]
pub(crate) fn assert_not_simulated(what: &str, instead: &str) {
    assert!(
        !context::in_simulation(),
        "Cannot block the current thread from within a runtime: `{what}` was called inside \
         a detsim simulation, where it would block the simulation's only thread; use \
         `{instead}` instead"
    );
}

/// Runs `future` to completion on this thread, parking it between wakes (the
/// `blocking_*` methods, outside a simulation).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// The error of [`Semaphore::acquire`] and friends: the semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// The error of [`Semaphore::try_acquire`] and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free now.
    NoPermits,
}

impl TryAcquireError {
    /// Whether the semaphore was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryAcquireError::Closed)
    }

    /// Whether there were not enough permits.
    pub fn is_no_permits(&self) -> bool {
        matches!(self, TryAcquireError::NoPermits)
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl From<batch::TryError> for TryAcquireError {
    fn from(error: batch::TryError) -> Self {
        match error {
            batch::TryError::Closed => TryAcquireError::Closed,
            batch::TryError::NoPermits => TryAcquireError::NoPermits,
        }
    }
}

/// The error of `try_lock`, `try_read` and `try_write`: the lock is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}

impl std::error::Error for TryLockError {}
