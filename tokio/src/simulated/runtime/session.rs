//! Each [`Runtime`](super::Runtime)'s simulation: a detsim session (one run over all
//! the runtime's `block_on`s, see `detsim_runtime`'s `runtime/session.rs`), kept in a
//! registry of the thread that built the runtime.
//!
//! A session starts when the runtime is built (seed 0, or `DETSIM_SEED`) and ends when
//! it is dropped, which drops the tasks still pending, as dropping a tokio runtime
//! does. `block_on` takes the session out of the registry while it runs (its future
//! may build, use or drop other runtimes) and puts it back after; a `block_on` that
//! fails ends it, and the runtime's next use starts a fresh one.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;

use super::Id;

thread_local! {
    static SESSIONS: RefCell<BTreeMap<Id, detsim_runtime::Runtime>> =
        const { RefCell::new(BTreeMap::new()) };
    /// Whether a `Runtime::block_on` runs on this thread.
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Takes runtime `id`'s session out of the registry (a session that is not there is
/// started: the runtime is used on another thread than the one that built it, or after
/// a failed `block_on`).
fn take(id: Id) -> detsim_runtime::Runtime {
    let taken = SESSIONS.with(|sessions| sessions.borrow_mut().remove(&id));
    taken.unwrap_or_else(|| {
        let mut rt = detsim_runtime::Runtime::new(seed_from_env());
        rt.start_session();
        rt
    })
}

/// Puts runtime `id`'s session back.
fn put(id: Id, rt: detsim_runtime::Runtime) {
    SESSIONS.with(|sessions| sessions.borrow_mut().insert(id, rt));
}

/// Whether a `Runtime::block_on` runs on this thread.
pub(super) fn blocking() -> bool {
    BLOCKING.get()
}

/// Runs `future` to completion in runtime `id`'s session; panics as `block_on` does
/// with the run's failure (the payload of a panic of `future`, or the run's message).
#[track_caller]
pub(super) fn block_on<F: Future>(id: Id, future: F) -> F::Output {
    let mut rt = take(id);
    let was_blocking = BLOCKING.replace(true);
    let result = rt.session_block_on(future);
    BLOCKING.set(was_blocking);
    match result {
        Ok(output) => {
            put(id, rt);
            output
        }
        Err(error) => {
            // The session is over: its tasks are dropped now, a fresh one starts on the
            // runtime's next use.
            drop(rt.end_session());
            drop(rt);
            fail(error)
        }
    }
}

/// Panics with a failed run's error: a panic's own payload (the task, location and
/// message printed first, as `detsim_runtime::Runtime::block_on` does), else the run's
/// message. A message payload is raised again at the caller of `block_on`, so that
/// the panic hook sees it there (tokio's `block_on` panics where it is called; a hook
/// that captures panic locations finds the caller's file).
#[track_caller]
fn fail(error: detsim_runtime::RunError) -> ! {
    match error {
        error @ detsim_runtime::RunError::Panic { .. } => {
            eprintln!("{error}");
            let detsim_runtime::RunError::Panic { payload, .. } = error else {
                unreachable!("matched a panic above")
            };
            let payload = match payload.downcast::<String>() {
                Ok(message) => std::panic::panic_any(*message),
                Err(payload) => payload,
            };
            match payload.downcast::<&'static str>() {
                Ok(message) => std::panic::panic_any(*message),
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        error => panic!("{error}"),
    }
}

/// Spawns `future` into runtime `id`'s session from outside its `block_on`: the task
/// waits for the next `block_on`.
#[track_caller]
pub(super) fn spawn<F>(id: Id, future: F) -> detsim_runtime::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let rt = take(id);
    let enter = rt.session_enter();
    let handle = detsim_runtime::spawn(future);
    drop(enter);
    put(id, rt);
    handle
}

/// Makes runtime `id`'s session current on this thread until the guard drops.
pub(super) fn enter(id: Id) -> detsim_runtime::SessionEnter {
    let rt = take(id);
    let enter = rt.session_enter();
    put(id, rt);
    enter
}

/// Ends runtime `id`'s session, if it lives on this thread: drops its tasks. A task's
/// panic that nobody read fails there, as it fails a run (unless the thread is
/// already panicking).
#[track_caller]
pub(super) fn end(id: Id) {
    let taken = SESSIONS.with(|sessions| sessions.borrow_mut().remove(&id));
    if let Some(mut rt) = taken
        && let Some(error) = rt.end_session()
        && !std::thread::panicking()
    {
        fail(error);
    }
}

/// `DETSIM_SEED`, else 0: read by detsim's one reader of the environment (decimal or
/// `0x` hex; a malformed value panics naming the variable, the value and the form).
fn seed_from_env() -> u64 {
    detsim::__env_seed().unwrap_or(0)
}
