//! `tokio::runtime` on detsim: a [`Handle`] to the simulation the caller runs in, and
//! a [`Runtime`] that is one simulation over all its `block_on` calls.
//!
//! Inside a simulation (a `#[tokio::test]`, `#[tokio::main]`, `Runtime::block_on`, or
//! under a [`Runtime::enter`] guard) [`Handle::current`] works and `spawn` spawns a
//! simulated task. A [`Runtime`] is used as tokio's is: [`Runtime::spawn`] and
//! [`Handle::spawn`] work outside `block_on` too (the task runs in the next
//! `block_on`), tasks left pending by one `block_on` go on in the next, and dropping
//! the runtime drops them. Its simulation runs with seed 0, or the seed of
//! `DETSIM_SEED` (decimal or `0x` hex), on the thread that built it (`session.rs`).
//!
//! Shutting a runtime down (dropping it, [`Runtime::shutdown_timeout`],
//! [`Runtime::shutdown_background`]) is a state of its simulation, as in tokio: its
//! tasks are dropped (not its `spawn_blocking` tasks, which run to their end in the next
//! `block_on`), but [`Handle::block_on`] still runs futures; a task spawned
//! afterwards is cancelled at once (its `JoinHandle` gives a cancelled error), a timer
//! panics with tokio's message, and sockets, stdio and files refuse to start with
//! tokio's errors ([`is_rt_shutdown_err`] recognises them; files give "background task
//! failed").
//! `block_on` inside a simulation is a clear panic: the simulation is one thread, and
//! blocking it would stop every task.

mod builder;
mod session;
mod worker;

pub use builder::{Builder, LocalOptions, LocalRuntime};
pub(crate) use session::{blocking_finished, blocking_spawned, enter_existing, newest};
pub use worker::worker_index;
pub(crate) use worker::{blocking as run_blocking, root as root_future};

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use tokio::runtime::RuntimeFlavor;

use crate::task::JoinHandle;

/// A handle to the running simulation (tokio's `runtime::Handle`).
#[derive(Debug, Clone)]
pub struct Handle {
    id: Id,
    /// What the runtime's handles share: whether it is shut down.
    shared: Arc<Shared>,
    name: Option<Arc<str>>,
    /// Built with `new_multi_thread` (tokio's `RuntimeFlavor` is not `Clone`).
    multi_thread: bool,
    /// tokio's `start_paused`: whether the clock starts frozen (see `time::pause`).
    pub(crate) start_paused: bool,
    /// tokio's `enable_time` (or `enable_all`): without it, creating a timer panics.
    pub(crate) time_enabled: bool,
    /// A local runtime's thread (a `LocalRuntime`, a `#[tokio::test(flavor = "local")]`
    /// run, a run of detsim's own API): where `spawn_local` works without a `LocalSet`.
    pub(crate) local_owner: Option<std::thread::ThreadId>,
    /// tokio's `enable_io` (or `enable_all`): without it, creating a socket panics.
    pub(crate) io_enabled: bool,
}

/// What the handles of one runtime share. The last one to drop ends the runtime's
/// session (after the runtime has shut it down: see `session.rs`).
#[derive(Debug)]
struct Shared {
    id: Id,
    /// Set when the runtime is dropped or shut down; never cleared.
    shut_down: AtomicBool,
}

impl Shared {
    fn new(id: Id) -> Arc<Shared> {
        Arc::new(Shared {
            id,
            shut_down: AtomicBool::new(false),
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A session cannot end inside another run (its teardown would run as that
        // run): it ends with the thread instead.
        let in_run = detsim_runtime::in_simulation() && !detsim_runtime::in_session_enter();
        if self.id != TEST_RUNTIME && !in_run {
            session::end(self.id);
        }
    }
}

/// A runtime's id (tokio's `runtime::Id`): unique among the runtimes of the process.
/// Inside a `#[tokio::test]` sweep, whose runs have no `Runtime` value, the id of the
/// sweep's one implicit runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Id {
    /// A new id, unique in the process. Ids are never observed by the scheduler, so this
    /// shared counter does not make runs depend on each other.
    fn next() -> Id {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Id(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

thread_local! {
    /// The handle of the `Runtime` whose `block_on` runs on this thread.
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// The handle of the `#[tokio::test]` run on this thread, with the run's id.
    static TEST: RefCell<Option<(u64, Handle)>> = const { RefCell::new(None) };
    /// How many enter guards made outside a run are alive on this thread (tokio's
    /// context depth): a guard dropped while it is not the last one panics.
    static ENTER_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Called at the start of each run of a `#[tokio::test]`: the handle its code sees, with
/// the test's `name`, flavor and `start_paused` arguments.
pub(crate) fn enter_test_run(config: crate::__private::TestConfig) {
    crate::simulation::enter_run();
    let handle = Handle {
        id: TEST_RUNTIME,
        shared: Shared::new(TEST_RUNTIME),
        name: config.name.map(Arc::from),
        multi_thread: config.flavor == "multi_thread",
        start_paused: config.start_paused,
        time_enabled: true,
        local_owner: (config.flavor == "local").then(|| std::thread::current().id()),
        io_enabled: true,
    };
    let run = detsim_runtime::run_id();
    TEST.with(|test| *test.borrow_mut() = Some((run, handle)));
    detsim_runtime::set_run_flavor(detsim_runtime::RunFlavor::Tokio);
}

/// The id of the implicit runtime of `#[tokio::test]` runs (no `Runtime` value).
const TEST_RUNTIME: Id = Id(0);

/// What [`Handle::enter`] and [`Runtime::enter`] return: the runtime's simulation is
/// current on this thread until it drops.
///
/// # Panics
/// When dropped while a guard entered after it is still alive, with tokio's message
/// (guards must be dropped in the reverse order of their creation); the thread's
/// current runtime is then left as it was, as tokio leaves it.
#[derive(Debug)]
pub struct EnterGuard<'a> {
    _entered: Entered,
    _handle: PhantomData<&'a Handle>,
}

/// What an [`EnterGuard`] undoes when it drops (a type without the guard's lifetime,
/// so that the runtime may be shut down while a guard of it lives, as in tokio).
#[derive(Debug)]
struct Entered {
    /// `None` inside a run already (a `block_on`). Dropped before `session`: puts back
    /// the thread's previous handle.
    current: Option<Restore>,
    session: Option<detsim_runtime::SessionEnter>,
    /// This guard's place among the thread's guards (`ENTER_DEPTH`); `None` inside a run.
    depth: Option<usize>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let Some(depth) = self.depth else {
            return;
        };
        if ENTER_DEPTH.get() != depth {
            // Left as they are, as tokio leaves them: restoring from the middle of
            // the stack would make a guard entered later current again.
            std::mem::forget(self.current.take());
            std::mem::forget(self.session.take());
            if !std::thread::panicking() {
                panic!(
                    "`EnterGuard` values dropped out of order. Guards returned by \
                     `tokio::runtime::Handle::enter()` must be dropped in the reverse \
                     order as they were acquired."
                );
            }
            return;
        }
        ENTER_DEPTH.set(depth - 1);
    }
}

/// Why [`Handle::try_current`] found no simulation.
#[derive(Debug)]
pub struct TryCurrentError(());

impl TryCurrentError {
    /// Always true: the caller is not inside a simulation.
    pub fn is_missing_context(&self) -> bool {
        true
    }

    /// Always false in simulation.
    pub fn is_thread_local_destroyed(&self) -> bool {
        false
    }
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no detsim simulation running: call this from a task of a \
             #[tokio::test], #[tokio::main] or Runtime::block_on",
        )
    }
}

impl std::error::Error for TryCurrentError {}

const BLOCK_ON_INSIDE: &str = "Cannot start a runtime from within a runtime. This happens \
     because a function (like `block_on`) attempted to block the current thread while the thread \
     is being used to drive asynchronous tasks. If you are in an async function, use `.await` on \
     the future instead of blocking on it. (In detsim, a simulation runs every task on one \
     thread: blocking it would stop them all.)";

impl Handle {
    /// The handle of the simulation the caller runs in.
    ///
    /// # Panics
    /// Outside a simulation.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(error) => panic!("{error}"),
        }
    }

    /// The handle of the simulation the caller runs in, or an error outside one.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        if !detsim_runtime::in_simulation() {
            return Err(TryCurrentError(()));
        }
        let current = CURRENT.with(|current| current.borrow().clone());
        let test = || {
            let run = detsim_runtime::run_id();
            TEST.with(|test| match &*test.borrow() {
                Some((test_run, handle)) if *test_run == run => Some(handle.clone()),
                _ => None,
            })
        };
        // A run of detsim's own API, where every task is local (`detsim::spawn` needs no
        // `Send`).
        Ok(current.or_else(test).unwrap_or_else(|| Handle {
            id: TEST_RUNTIME,
            shared: Shared::new(TEST_RUNTIME),
            name: None,
            multi_thread: false,
            start_paused: false,
            time_enabled: true,
            local_owner: Some(std::thread::current().id()),
            io_enabled: true,
        }))
    }

    /// The runtime's id: handles of one runtime share it, two runtimes differ.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The name given to [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What tokio's metrics would say of the simulation: one worker.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics { _private: () }
    }

    /// Spawns a task into the simulation (see [`crate::task::spawn`]); from outside
    /// it, into this runtime's simulation, where it runs in the next `block_on`. After
    /// the runtime was shut down, the task is dropped at once and its handle gives a
    /// cancelled error, as tokio's.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match detsim_runtime::in_simulation() {
            true => crate::task::spawn(future),
            false => session::spawn(self.id, self.is_shut_down(), future),
        }
    }

    /// Runs a blocking closure as a simulated task (see
    /// [`crate::task::spawn_blocking`]); from outside the simulation, as
    /// [`spawn`](Handle::spawn) does.
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match detsim_runtime::in_simulation() {
            true => crate::task::spawn_blocking(f),
            false => {
                let _enter = self.enter();
                crate::task::spawn_blocking(f)
            }
        }
    }

    /// Outside a simulation, runs `future` as one (see [`Runtime::block_on`]).
    ///
    /// # Panics
    /// Inside a simulation, with a message that says to `.await` instead.
    ///
    /// Inside `block_in_place` in a task of the same simulation, polls `future` on the
    /// spot (see [`crate::task::block_in_place`]).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _handle = crate::task::in_place::HandleBlockOn::enter(true);
        block_on(self, worker::root(None, future))
    }

    /// Makes this runtime's simulation current on this thread until the guard drops:
    /// `tokio::spawn` then spawns into it (the task runs in the next `block_on`), and
    /// `time::Instant::now` reads its clock. Guards nest; inside a run (a `block_on`),
    /// does nothing.
    ///
    /// # Panics
    /// When the guard is dropped out of order (see [`EnterGuard`]).
    pub fn enter(&self) -> EnterGuard<'_> {
        if detsim_runtime::in_simulation() && !detsim_runtime::in_session_enter() {
            return EnterGuard {
                _entered: Entered {
                    current: None,
                    session: None,
                    depth: None,
                },
                _handle: PhantomData,
            };
        }
        let session = session::enter(self.id, self.is_shut_down());
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        let depth = ENTER_DEPTH.get() + 1;
        ENTER_DEPTH.set(depth);
        EnterGuard {
            _entered: Entered {
                current: Some(Restore(previous)),
                session: Some(session),
                depth: Some(depth),
            },
            _handle: PhantomData,
        }
    }

    /// Whether the runtime was shut down (dropped, or `shutdown_*`).
    fn is_shut_down(&self) -> bool {
        self.shared.shut_down.load(Ordering::Relaxed)
    }

    /// The thread of a local runtime (see the field), `None` for other runtimes.
    pub(crate) fn local_owner(&self) -> Option<std::thread::ThreadId> {
        self.local_owner
    }

    /// Whether this handle's runtime is a multi-thread one (as `runtime_flavor`).
    pub(crate) fn is_multi_thread(&self) -> bool {
        self.multi_thread
    }

    /// The flavor the runtime was built with (a simulation runs every flavor on one
    /// thread, its scheduler interleaving tasks at every `.await`).
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        match self.multi_thread {
            true => RuntimeFlavor::MultiThread,
            false => RuntimeFlavor::CurrentThread,
        }
    }
}

#[track_caller]
fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    // Under an `enter` guard the simulation is current, but no `block_on` runs.
    let inside = detsim_runtime::in_simulation() && (session::blocking() || !entered());
    if inside && crate::task::in_place::runs_block_on(handle) {
        return crate::task::in_place::block_on(future);
    }
    assert!(!inside, "{BLOCK_ON_INSIDE}");
    let previous = CURRENT.with(|current| current.replace(Some(handle.clone())));
    let _restore = Restore(previous);
    let io_enabled = handle.io_enabled;
    let future = async move {
        crate::simulation::enter_run();
        if !io_enabled {
            // Sockets of `detsim::net` panic as tokio's do without `enable_io`.
            detsim::net::__disable_io();
        }
        future.await
    };
    session::block_on(handle.id, handle.is_shut_down(), future)
}

/// Whether the thread's current simulation was made current by an `enter` guard, rather
/// than by a `#[tokio::test]` run.
fn entered() -> bool {
    detsim_runtime::in_session_enter()
}

/// Puts back the thread's current handle when a `block_on` or an `enter` guard ends.
#[derive(Debug)]
struct Restore(Option<Handle>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// Whether `error` says the runtime is shut down (tokio's `is_rt_shutdown_err`): the
/// error sockets and stdio give after their runtime was shut down. As tokio's: of kind
/// `Other`, with an inner error that has no source and whose text is exactly
/// "A Tokio 1.x context was found, but it is being shutdown.".
pub fn is_rt_shutdown_err(error: &io::Error) -> bool {
    match error.get_ref() {
        Some(inner) => {
            error.kind() == io::ErrorKind::Other
                && inner.source().is_none()
                && inner.to_string() == detsim_runtime::SHUTDOWN_MESSAGE
        }
        None => false,
    }
}

/// tokio's `RuntimeMetrics`, for the simulation's one thread.
#[derive(Debug, Clone)]
pub struct RuntimeMetrics {
    _private: (),
}

impl RuntimeMetrics {
    /// Always 1: a simulation runs its tasks on one thread.
    pub fn num_workers(&self) -> usize {
        1
    }

    /// Always 0: every task is in the simulation's one ready set, none in a global
    /// queue.
    pub fn global_queue_depth(&self) -> usize {
        0
    }
}

/// tokio's `Runtime`: [`block_on`](Runtime::block_on) runs a future as one simulation.
#[derive(Debug)]
pub struct Runtime {
    handle: Handle,
    /// Dropped by `shutdown_timeout` or `shutdown_background`, which tokio allows
    /// inside a runtime.
    shutting_down: bool,
}

impl Runtime {
    /// A runtime (never fails in simulation).
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    /// Runs `future` as one simulation (seed 0, or `DETSIM_SEED`) and returns its
    /// output; a failure of the run (a panic, a deadlock, a panic nobody observed)
    /// panics with detsim's message.
    ///
    /// # Panics
    /// Inside a simulation, with a message that says to `.await` instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let index = (!self.handle.multi_thread).then_some(0);
        let _handle = crate::task::in_place::HandleBlockOn::enter(false);
        block_on(&self.handle, worker::root(index, future))
    }

    /// Spawns a task into this runtime's simulation (see [`Handle::spawn`]).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure as a simulated task (see [`Handle::spawn_blocking`]).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// See [`Handle::enter`].
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// Shuts the runtime down and drops it: the tasks still pending are dropped (nothing
    /// waits: the simulation's tasks run only inside `block_on`); its handles still
    /// `block_on`, in a shut-down runtime (see the [module docs](self)).
    ///
    /// Inside another runtime's simulation (which tokio allows, unlike a plain drop),
    /// the tasks are dropped at the runtime's next use from outside, or when the thread
    /// ends.
    pub fn shutdown_timeout(mut self, _duration: std::time::Duration) {
        self.shutting_down = true;
    }

    /// Drops the runtime (see [`shutdown_timeout`](Runtime::shutdown_timeout)).
    pub fn shutdown_background(mut self) {
        self.shutting_down = true;
    }

    /// See [`Handle::metrics`].
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }
}

impl Drop for Runtime {
    /// Shuts the runtime's simulation down: its pending tasks are dropped, as tokio
    /// drops them (the session itself ends when the last handle drops). A task's panic
    /// that nobody can read fails here, as it fails a run.
    fn drop(&mut self) {
        let in_run = detsim_runtime::in_simulation() && !detsim_runtime::in_session_enter();
        if in_run && !self.shutting_down && !std::thread::panicking() {
            panic!(
                "Cannot drop a runtime in a context where blocking is not allowed. This \
                 happens when a runtime is dropped from within an asynchronous context."
            );
        }
        self.handle.shared.shut_down.store(true, Ordering::Relaxed);
        // A session cannot shut down inside another run (its tasks would be dropped as
        // that run's): its next use from outside shuts it down (`session::take`).
        if !in_run {
            session::shut_down(self.handle.id);
        }
    }
}
