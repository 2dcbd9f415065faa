//! `block_in_place`, and a `block_on` of the same simulation inside it.
//!
//! tokio runs `block_in_place`'s closure on the worker thread after handing the
//! worker's other tasks to another thread; inside it, `Handle::block_on` may drive a
//! future to completion. A simulation is one thread, so the closure runs at once while
//! no other task runs, and a nested `block_on` of the same simulation polls its future
//! right there, with tokio's coop budget lifted (as tokio lifts it in
//! `block_in_place`): a future that completes by itself (a `yield_now`, a free lock, a
//! nested `block_in_place`) completes; one that waits for another task, a timer or I/O
//! cannot (nothing else runs meanwhile), and panics saying so instead of hanging.
//!
//! Invariants:
//! - what runs inside is decided by the program alone: no decision of the seed is
//!   drawn, so a nested `block_on` moves no schedule;
//! - the state here is per thread and restored when a call returns or unwinds.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::local;
use crate::runtime::Handle;

thread_local! {
    /// How many `block_in_place` closures run on this thread.
    static IN_PLACE: Cell<u32> = const { Cell::new(0) };
    /// Whether the root future on this thread is a `Handle::block_on`'s, where tokio
    /// allows `block_in_place` on a current-thread runtime.
    static HANDLE_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
}

/// Polls of a nested `block_on`'s future that wake only itself (a future that always
/// yields) before it is reported rather than spun forever.
const MAX_SELF_WAKES: u32 = 1 << 20;

/// What tokio's `block_in_place` is (see [`crate::task::block_in_place`]).
#[track_caller]
pub(crate) fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    if !detsim_runtime::in_simulation() || detsim_runtime::in_session_enter() {
        return f();
    }
    let multi_thread = Handle::try_current()
        .map(|handle| handle.is_multi_thread())
        .unwrap_or(false);
    // tokio allows it on a current-thread runtime in the future of a `Handle::block_on`
    // (not a task: those run only inside `Runtime::block_on`).
    let handle_root = HANDLE_BLOCK_ON.get() && super::try_id().is_none();
    if !(multi_thread || handle_root) || local::in_local_set() {
        panic!("can call blocking only when running on the multi-threaded runtime");
    }
    IN_PLACE.set(IN_PLACE.get() + 1);
    let _restore = Restore(&IN_PLACE);
    detsim_runtime::coop::with_unconstrained(f)
}

/// Whether a `block_on` of `handle`'s runtime, called inside a simulation, is one this
/// module runs: inside a `block_in_place` of a task of that same simulation.
pub(crate) fn runs_block_on(handle: &Handle) -> bool {
    IN_PLACE.get() > 0 && Handle::try_current().is_ok_and(|current| current.id() == handle.id())
}

/// Drives `future` to completion on the spot (see the module's doc).
///
/// # Panics
/// When the future waits for something that cannot happen while the simulation's one
/// thread is blocked here.
#[track_caller]
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    for _ in 0..MAX_SELF_WAKES {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        if !woken.0.swap(false, Ordering::Relaxed) {
            panic!(
                "`block_on` inside `block_in_place` waits for another task, a timer or I/O: \
                 the simulation runs every task on one thread, which this call blocks, so \
                 none of them can run; `.await` the future instead of blocking on it"
            );
        }
    }
    panic!(
        "`block_on` inside `block_in_place` polled its future {MAX_SELF_WAKES} times and it \
         only woke itself: it never completes while the simulation's one thread is blocked"
    )
}

/// Marks the thread's root future as a `Handle::block_on`'s until dropped.
pub(crate) struct HandleBlockOn(bool);

impl HandleBlockOn {
    pub(crate) fn enter(is_handle: bool) -> HandleBlockOn {
        HandleBlockOn(HANDLE_BLOCK_ON.replace(is_handle))
    }
}

impl Drop for HandleBlockOn {
    fn drop(&mut self) {
        HANDLE_BLOCK_ON.set(self.0);
    }
}

/// Takes one off a depth counter when dropped.
struct Restore(&'static std::thread::LocalKey<Cell<u32>>);

impl Drop for Restore {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The waker of a nested `block_on`: notes that the future asked to be polled again.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}
