//! `tokio::task` on detsim: spawning, join handles, `JoinSet`, `LocalSet`, task ids.
//!
//! `JoinHandle`, `JoinError`, `AbortHandle` and `Id` are detsim's own types (they have
//! tokio's methods); `spawn` keeps tokio's `Send + 'static` bounds so that code that
//! compiles here compiles on real tokio. Every task is a detsim task on the
//! simulation's one thread: `spawn_blocking` runs its closure as a task (no thread
//! pool), `block_in_place` runs its closure at once, and `spawn_local` keeps tokio's
//! rules for where it may be called (see `local.rs`).

pub(crate) mod in_place;
mod join_set;
mod local;

use std::future::Future;

pub use detsim_runtime::task::Id;
pub use detsim_runtime::{AbortHandle, JoinError, JoinHandle};
pub use join_set::JoinSet;
pub use local::{LocalEnterGuard, LocalSet};
pub use tokio::task::{LocalKey, futures};

pub use detsim_runtime::coop::{Unconstrained, consume_budget, unconstrained};

/// tokio's cooperative scheduling, on detsim (`detsim_runtime::coop`): a task has a
/// budget of 128 units per poll; the simulated resources (join handles, `JoinSet`,
/// channels and locks, timers, `select!`, `io::empty`…) spend one per ready
/// operation and, once the budget is spent, return `Pending` after waking the task, so
/// an always-ready loop lets other tasks run. [`unconstrained`](coop::unconstrained)
/// lifts the budget, as do [`block_in_place`](super::block_in_place) and
/// [`spawn_blocking`](super::spawn_blocking) (tokio's blocking regions).
pub mod coop {
    pub use detsim_runtime::coop::{
        Coop, RestoreOnPending, Unconstrained, consume_budget, cooperative, has_budget_remaining,
        poll_proceed, unconstrained,
    };
}

/// Spawns `future` as a new task of the simulation, as `tokio::spawn` does: it is
/// scheduled at once and runs when the scheduler picks it (never before the spawning
/// task yields). Dropping the handle detaches the task. Panics outside a simulation.
#[track_caller]
#[inline]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    outside_panics("spawn");
    detsim_runtime::spawn(future)
}

/// Panics at the caller, as tokio does, when `what` is called outside a simulation.
#[track_caller]
#[inline]
pub(crate) fn outside_panics(what: &str) {
    if !detsim_runtime::in_simulation() {
        panic!(
            "`{what}` was called outside a simulation: there is no reactor running, must be \
             called from the context of a Tokio 1.x runtime (a #[tokio::test], \
             #[tokio::main], Runtime::block_on, or under Runtime::enter)"
        );
    }
}

/// Spawns a `!Send` future, as tokio's `spawn_local`: into the current [`LocalSet`]
/// (inside one of its tasks, its `run_until` or under its `enter` guard), else onto the
/// current runtime if it is a `LocalRuntime`, a `#[tokio::test(flavor = "local")]`
/// run, or a run of detsim's own API (`detsim::check`, a `detsim::Builder`), where
/// every task runs on the simulation's thread anyway.
///
/// # Panics
/// With tokio's messages: elsewhere ("`spawn_local` called from outside of a
/// `task::LocalSet` or `runtime::LocalRuntime`"), and under a `LocalRuntime`'s `enter`
/// guard on another thread than the one that built it.
#[track_caller]
#[inline]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    local::spawn_local(future)
}

/// Runs the blocking closure `f` as a simulated task (no thread pool): it starts when
/// the scheduler picks it and runs to completion in one poll, so while it runs no
/// other task does. On Linux with glibc, a real sleep in `f` (`std::thread::sleep`)
/// takes no real time: it moves the clocks `f` reads, and the task then sleeps that
/// long on the virtual clock before its handle is ready, so
/// `timeout(5 ms, spawn_blocking(|| sleep(20 ms)))` elapses, as on tokio (see
/// `detsim_runtime::seal::virtual_sleeps`); while tokio's clock is paused
/// ([`time::pause`](crate::time::pause), `start_paused`), the clock does not move, as
/// tokio's paused clock does not. A runtime's shutdown does not cancel it:
/// it runs in the runtime's next `block_on` (tokio's blocking pool finishes the
/// closures it started; spawned after the shutdown, it is cancelled).
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let handle = detsim_runtime::spawn(async move {
        let (output, slept) =
            detsim_runtime::seal::virtual_sleeps(|| crate::runtime::run_blocking(f));
        // tokio's paused clock stands still while a blocking task runs.
        if !slept.is_zero() && !crate::time::is_paused() {
            detsim_runtime::time::sleep(slept).await;
        }
        crate::runtime::blocking_finished();
        output
    });
    // A runtime's shutdown lets it finish, as tokio's blocking pool does.
    crate::runtime::blocking_spawned(handle.id());
    handle
}

/// Runs `f` at once on the current task, as tokio does on a worker thread: in
/// simulation no other task runs meanwhile. Inside it, tokio's coop budget is lifted,
/// and `Handle::block_on` of the same simulation polls its future on the spot (one that
/// waits for another task, a timer or I/O panics saying so: nothing else can run).
///
/// # Panics
/// As tokio's, inside a current-thread runtime (the default flavor of
/// `#[tokio::test]`) other than in a `Handle::block_on`'s own future, or a `LocalSet`:
/// "can call blocking only when running on the multi-threaded runtime".
#[track_caller]
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    in_place::block_in_place(f)
}

/// Yields to the scheduler: the current task goes to the back of the ready set and
/// other ready tasks may run first. Panics outside a simulation.
pub async fn yield_now() {
    detsim_runtime::yield_now().await;
}

/// The id of the task being polled.
///
/// # Panics
/// Outside a task, as tokio's: outside a simulation, and in the future a `block_on`
/// (or a `#[tokio::test]` body) runs, which tokio does not run as a task.
#[track_caller]
pub fn id() -> Id {
    match try_id() {
        Some(id) => id,
        None => panic!("can't get a task id when not inside a task"),
    }
}

/// The id of the task being polled, or `None` outside a task (as [`id`] panics).
pub fn try_id() -> Option<Id> {
    if !detsim_runtime::in_simulation() || detsim_runtime::in_session_enter() {
        return None;
    }
    let id = detsim_runtime::task::id();
    (id != Id::ROOT).then_some(id)
}
