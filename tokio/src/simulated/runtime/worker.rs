//! tokio's `runtime::worker_index`: the index of the worker thread the caller runs on,
//! as tokio would give it for the runtime the simulation stands for.
//!
//! A simulation runs every task on one thread, so the answer depends on what tokio's
//! runtime would run the caller on: a spawned task runs on a worker (`Some(0)`); the
//! future of a `block_on` runs on the worker of a current-thread runtime's
//! `Runtime::block_on` (`Some(0)`) but on the calling thread, no worker, for
//! `Handle::block_on` and on a multi-thread runtime (`None`); a `spawn_blocking`
//! closure runs on a blocking thread (`None`).

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::pin;

thread_local! {
    /// While a `block_on`'s own future is polled: the index its caller sees.
    static ROOT: Cell<Option<Option<usize>>> = const { Cell::new(None) };
    /// While a `spawn_blocking` closure runs.
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// `future`, whose polls see `index` as their worker index (a `block_on`'s future).
pub(crate) async fn root<F: Future>(index: Option<usize>, future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let previous = ROOT.replace(Some(index));
        let _restore = Restore(|| ROOT.set(previous));
        future.as_mut().poll(cx)
    })
    .await
}

/// Runs `f` as a `spawn_blocking` closure: on no worker.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let previous = BLOCKING.replace(true);
    let _restore = Restore(|| BLOCKING.set(previous));
    f()
}

/// Runs its closure when dropped (also when unwinding).
struct Restore<F: FnMut()>(F);

impl<F: FnMut()> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// The index of the worker thread the caller runs on, as tokio's
/// `runtime::worker_index`: `Some(0)` in a spawned task and in the future of a
/// current-thread runtime's `Runtime::block_on` (or a `#[tokio::test]` of that
/// flavor); `None` in the future of `Handle::block_on`, of a multi-thread runtime's
/// `block_on`, in a `spawn_blocking` closure, and outside a simulation.
pub fn worker_index() -> Option<usize> {
    if !detsim_runtime::in_simulation() || BLOCKING.get() {
        return None;
    }
    ROOT.get().unwrap_or(Some(0))
}
