//! Each [`Runtime`](super::Runtime)'s simulation: a detsim session (one run over all
//! the runtime's `block_on`s, see `detsim_runtime`'s `runtime/session.rs`), kept in a
//! registry of the thread that built the runtime.
//!
//! A session starts when the runtime is built (seed 0, or `DETSIM_SEED`). Dropping the
//! runtime (or `shutdown_timeout`, `shutdown_background`) shuts it down: the tasks still
//! pending are dropped, as dropping a tokio runtime does, but the session stays while
//! handles of the runtime live, so that `Handle::block_on` still runs futures in it
//! and join handles still read their tasks; what is spawned then is cancelled at once,
//! and resources refuse to start with tokio's errors (see `detsim_runtime`'s
//! `shutdown_session`). The last handle to drop ends the session. `block_on` takes the
//! session out of the registry while it runs (its future may build, use or drop other
//! runtimes) and puts it back after; a `block_on` that fails ends it, and the runtime's
//! next use starts a fresh one (shut down already if the runtime is).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
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
/// a failed `block_on`). When the runtime is `shut` down, so is the session.
#[track_caller]
fn take(id: Id, shut: bool) -> detsim_runtime::Runtime {
    let taken = SESSIONS.with(|sessions| sessions.borrow_mut().remove(&id));
    let mut rt = taken.unwrap_or_else(|| {
        detsim::__env_watchdog();
        let mut rt = detsim_runtime::Runtime::new(seed_from_env());
        rt.start_session();
        // Its `JoinError`s print as tokio's.
        let enter = rt.session_enter();
        detsim_runtime::set_run_flavor(detsim_runtime::RunFlavor::Tokio);
        drop(enter);
        rt
    });
    if shut && !rt.is_session_shut_down() {
        // Shut down inside another runtime's run, where its session could not be.
        if let Some(error) = shutdown(&mut rt) {
            put(id, rt);
            fail(error);
        }
    }
    rt
}

/// Starts runtime `id`'s session when the runtime is built outside any simulation, so
/// that its clock is the one `std::time::Instant` reads on this thread from then on
/// (see `detsim_runtime::seal`); inside one, the session starts at its first use.
pub(super) fn start(id: Id) {
    if !detsim_runtime::in_simulation() {
        let rt = take(id, false);
        put(id, rt);
    }
}

/// The newest runtime whose session lives on this thread (between its `block_on`s):
/// where a `LocalSet` used outside any runtime puts its tasks.
pub(crate) fn newest() -> Option<Id> {
    SESSIONS.with(|sessions| sessions.borrow().keys().next_back().copied())
}

/// Makes runtime `id`'s session current on this thread until the guard drops, if it
/// lives here (`None` otherwise: nothing is started).
pub(crate) fn enter_existing(id: Id) -> Option<detsim_runtime::SessionEnter> {
    SESSIONS.with(|sessions| sessions.borrow().get(&id).map(|rt| rt.session_enter()))
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
pub(super) fn block_on<F: Future>(id: Id, shut: bool, future: F) -> F::Output {
    let mut rt = take(id, shut);
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
pub(super) fn spawn<F>(id: Id, shut: bool, future: F) -> detsim_runtime::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let rt = take(id, shut);
    let enter = rt.session_enter();
    let handle = detsim_runtime::spawn(future);
    drop(enter);
    put(id, rt);
    handle
}

/// Makes runtime `id`'s session current on this thread until the guard drops.
#[track_caller]
pub(super) fn enter(id: Id, shut: bool) -> detsim_runtime::SessionEnter {
    let rt = take(id, shut);
    let enter = rt.session_enter();
    put(id, rt);
    enter
}

/// Shuts runtime `id`'s session down (starting it if it does not live on this thread):
/// drops its pending tasks and keeps it for the runtime's handles. A destructor's panic
/// or a task's panic that nobody can read fails there, as it fails a run (unless the
/// thread is already panicking).
#[track_caller]
pub(super) fn shut_down(id: Id) {
    let mut rt = take(id, false);
    let failure = match rt.is_session_shut_down() {
        true => None,
        false => shutdown(&mut rt),
    };
    put(id, rt);
    if let Some(error) = failure
        && !std::thread::panicking()
    {
        fail(error);
    }
}

/// Ends runtime `id`'s session, if it lives on this thread: drops what is left of its
/// run (the outputs nobody read, run-scoped state). A task's panic that nobody read
/// fails there, as it fails a run (unless the thread is already panicking). Does
/// nothing while the thread's locals are being destroyed.
#[track_caller]
pub(super) fn end(id: Id) {
    let taken = SESSIONS
        .try_with(|sessions| sessions.borrow_mut().remove(&id))
        .ok()
        .flatten();
    if let Some(mut rt) = taken
        && let Some(error) = rt.end_session()
        && !std::thread::panicking()
    {
        fail(error);
    }
}

/// Shuts `rt`'s session down, keeping its blocking tasks: tokio's blocking pool runs a
/// closure it started to its end, and a facade's `spawn_blocking` closure counts as
/// started when it is spawned (tokio starts it on an idle thread at once). They run in
/// the session's next `block_on`, as every simulated task does.
fn shutdown(rt: &mut detsim_runtime::Runtime) -> Option<detsim_runtime::RunError> {
    let blocking = {
        let _enter = rt.session_enter();
        detsim_runtime::extension::try_run_state::<BlockingTasks>()
            .map(|tasks| tasks.0.take())
            .unwrap_or_default()
    };
    rt.shutdown_session(|task| blocking.contains(&task))
}

/// The run's `spawn_blocking` tasks not known to have finished (run-scoped state).
#[derive(Debug, Default)]
struct BlockingTasks(RefCell<BTreeSet<detsim_runtime::task::Id>>);

/// Notes `task`, just spawned by `spawn_blocking`, as one a shutdown keeps.
pub(crate) fn blocking_spawned(task: detsim_runtime::task::Id) {
    if detsim_runtime::in_simulation() {
        let tasks = detsim_runtime::extension::run_state(BlockingTasks::default);
        tasks.0.borrow_mut().insert(task);
    }
}

/// Forgets the current task, a `spawn_blocking` task that has finished its work.
pub(crate) fn blocking_finished() {
    if let Some(tasks) = detsim_runtime::extension::try_run_state::<BlockingTasks>() {
        tasks.0.borrow_mut().remove(&detsim_runtime::task::id());
    }
}

/// `DETSIM_SEED`, else 0: read by detsim's one reader of the environment (decimal or
/// `0x` hex; a malformed value panics naming the variable, the value and the form).
fn seed_from_env() -> u64 {
    detsim::__env_seed().unwrap_or(0)
}
