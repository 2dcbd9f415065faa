//! `LocalSet` and `spawn_local`: tokio's rules for `!Send` tasks, on a simulation that
//! runs every task on one thread.
//!
//! A `LocalSet`'s tasks are simulated tasks like any other; the set keeps track of
//! them (awaiting it waits for them, dropping it aborts them) and is the *current*
//! set while one of them is polled, while `run_until`'s (or `block_on`'s) future is
//! polled, and under its `enter` guard, as tokio's is.
//!
//! Invariants:
//! - [`spawn_local`](super::spawn_local) spawns into the current set, else into a
//!   `LocalRuntime` (or a `#[tokio::test(flavor = "local")]` run, or a run of detsim's
//!   own API, where every task is local) on the thread that built it; elsewhere it
//!   panics with tokio's messages;
//! - a set's live tasks are exactly the entries of its `tasks` map: a task's [`Token`]
//!   removes its entry when the task's future is dropped, and the last one wakes a
//!   task awaiting the set;
//! - dropping the set aborts its tasks, with the set current, so that their
//!   destructors see what tokio's do (`block_in_place` panics there);
//! - tasks spawned into a set outside any simulation go to the newest runtime alive on
//!   the thread (they run in its next `block_on`), and the set is bound to it: driving
//!   it on another runtime panics, dropping it aborts them there.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::{AbortHandle, JoinHandle};

/// tokio's panic for `spawn_local` outside a `LocalSet` and a `LocalRuntime`.
const OUTSIDE_LOCAL: &str =
    "`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`";

/// tokio's panic for `spawn_local` under a `LocalRuntime`'s `enter` guard on another
/// thread than the one that built it.
const OTHER_THREAD: &str =
    "Local tasks can only be spawned on a LocalRuntime from the thread the runtime was created on";

/// The tasks of a set that are still alive, and the waker of a task awaiting the set.
#[derive(Default)]
struct Live {
    tasks: BTreeMap<u64, AbortHandle>,
    next_key: u64,
    waker: Option<Waker>,
    /// The runtime whose simulation holds the tasks spawned outside any simulation
    /// (see [`spawn_into`]).
    bound: Option<crate::runtime::Id>,
}

/// A set's shared state: its tasks and the context they run in hold it.
type Shared = Rc<RefCell<Live>>;

pin_project! {
    /// A task of a set: polled with the set current.
    struct Tracked<F> {
        #[pin]
        future: F,
        token: Token,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _current = Current::enter(Some(this.token.live.clone()));
        this.future.poll(cx)
    }
}

thread_local! {
    /// The set current on this thread (see the module docs).
    static CURRENT: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// Makes a set (or none) current until dropped, then puts the previous one back.
struct Current(Option<Shared>);

impl Current {
    fn enter(set: Option<Shared>) -> Current {
        Current(CURRENT.with(|current| current.replace(set)))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let previous = self.0.take();
        // During the thread's teardown there is nothing to put back.
        let _ = CURRENT.try_with(|current| current.replace(previous));
    }
}

/// The set current on this thread, if any.
fn current() -> Option<Shared> {
    CURRENT
        .try_with(|current| current.borrow().clone())
        .ok()
        .flatten()
}

/// Whether the caller runs inside a `LocalSet` (a task of one, `run_until`'s future, or
/// under its `enter` guard), where tokio's `block_in_place` panics.
pub(crate) fn in_local_set() -> bool {
    current().is_some()
}

/// A live task of a set: dropping it (the task's future ended) removes the task from
/// the set, and the last one wakes the set.
struct Token {
    live: Shared,
    key: u64,
}

impl Drop for Token {
    fn drop(&mut self) {
        let waker = {
            let mut live = self.live.borrow_mut();
            live.tasks.remove(&self.key);
            if live.tasks.is_empty() {
                live.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Spawns `future` as a task of `set`. Outside any simulation (tokio queues the task
/// in the set until the set is driven), into the simulation of the newest runtime
/// alive on this thread, where the task waits for that runtime's next `block_on`; the
/// set is then bound to that runtime, and driving it elsewhere panics.
///
/// # Panics
/// Outside any simulation, when no runtime lives on this thread (built before the
/// spawn), or the set's runtime is gone.
#[track_caller]
fn spawn_into<F>(set: &Shared, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    if !detsim_runtime::in_simulation() {
        let bound = set.borrow().bound;
        let Some(runtime) = bound.or_else(crate::runtime::newest) else {
            panic!(
                "`spawn_local` was called on a LocalSet outside any runtime, with no runtime \
                 built on this thread yet: in simulation a LocalSet's tasks are tasks of a \
                 runtime's simulation, so build the runtime first (its next `block_on` \
                 runs them), or spawn them from inside it (in `LocalSet::run_until` or \
                 `LocalSet::block_on`)"
            );
        };
        let Some(_enter) = crate::runtime::enter_existing(runtime) else {
            panic!(
                "`spawn_local` was called on a LocalSet outside any runtime, and the runtime \
                 its first tasks were spawned into (runtime {runtime}) is gone"
            );
        };
        set.borrow_mut().bound = Some(runtime);
        return spawn_into(set, future);
    }
    let key = {
        let mut live = set.borrow_mut();
        live.next_key += 1;
        live.next_key
    };
    let token = Token {
        live: set.clone(),
        key,
    };
    let handle = detsim_runtime::spawn(Tracked { future, token });
    set.borrow_mut().tasks.insert(key, handle.abort_handle());
    handle
}

/// tokio's `task::spawn_local`: into the current `LocalSet`, else into the current
/// runtime if it is local (see the module docs).
///
/// # Panics
/// With tokio's messages: outside a `LocalSet` and a `LocalRuntime`, or under a
/// `LocalRuntime`'s `enter` guard on another thread than the one that built it.
#[track_caller]
pub(crate) fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    if let Some(set) = current() {
        return spawn_into(&set, future);
    }
    match crate::runtime::Handle::try_current() {
        Ok(handle) => match handle.local_owner() {
            Some(owner) if owner == std::thread::current().id() => detsim_runtime::spawn(future),
            Some(_) => panic!("{OTHER_THREAD}"),
            None => panic!("{OUTSIDE_LOCAL}"),
        },
        Err(_) => panic!("{OUTSIDE_LOCAL}"),
    }
}

/// A set of `!Send` tasks (tokio's `LocalSet`): [`spawn_local`](super::spawn_local)
/// inside it (in one of its tasks, in [`run_until`](LocalSet::run_until), or under
/// [`enter`](LocalSet::enter)) spawns into it; awaited, it waits until its tasks have
/// finished; dropped, it aborts them. Its tasks run in the simulation that drives it,
/// interleaved with every other task by the seed's scheduler.
pub struct LocalSet {
    live: Shared,
    _not_send: PhantomData<*const ()>,
}

/// What [`LocalSet::enter`] returns: the set is current until it drops.
pub struct LocalEnterGuard {
    _current: Current,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for LocalEnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEnterGuard").finish()
    }
}

impl LocalSet {
    /// An empty set.
    pub fn new() -> LocalSet {
        LocalSet {
            live: Rc::default(),
            _not_send: PhantomData,
        }
    }

    /// Makes the set current until the guard drops: `spawn_local` spawns into it.
    pub fn enter(&self) -> LocalEnterGuard {
        LocalEnterGuard {
            _current: Current::enter(Some(self.live.clone())),
            _not_send: PhantomData,
        }
    }

    /// Spawns a `!Send` task into this set. Outside any runtime's `block_on`, the task
    /// goes to the simulation of the newest runtime alive on this thread and runs in its
    /// next `block_on` (tokio keeps it in the set until the set is driven); the set
    /// must then be driven on that runtime.
    ///
    /// # Panics
    /// Outside any simulation when no runtime was built on this thread yet, or the
    /// set's runtime is gone.
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_into(&self.live, future)
    }

    /// Runs `future` to completion with the set current; the set's tasks run alongside
    /// it.
    ///
    /// # Panics
    /// On another runtime than the one its tasks spawned outside any runtime went to
    /// (see [`LocalSet::spawn_local`]).
    pub async fn run_until<F: Future>(&self, future: F) -> F::Output {
        self.run_until_inner(future).await
    }

    async fn run_until_inner<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut checked = false;
        std::future::poll_fn(|cx| {
            if !checked && let Ok(handle) = crate::runtime::Handle::try_current() {
                self.check_driver(handle.id());
                checked = true;
            }
            let _current = Current::enter(Some(self.live.clone()));
            future.as_mut().poll(cx)
        })
        .await
    }

    /// Runs `future` on `rt` with the set current (see
    /// [`Runtime::block_on`](crate::runtime::Runtime::block_on)).
    ///
    /// # Panics
    /// As [`run_until`](LocalSet::run_until).
    #[track_caller]
    pub fn block_on<F: Future>(&self, rt: &crate::runtime::Runtime, future: F) -> F::Output {
        self.check_driver(rt.handle().id());
        rt.block_on(self.run_until_inner(future))
    }

    /// Panics if the set's tasks went to a runtime (see [`spawn_into`]) other than
    /// `driver`.
    #[track_caller]
    fn check_driver(&self, driver: crate::runtime::Id) {
        let bound = self.live.borrow().bound;
        if let Some(bound) = bound
            && bound != driver
        {
            panic!(
                "this LocalSet's tasks were spawned outside any runtime, into the newest \
                 runtime of this thread (runtime {bound}), where they run; drive the set \
                 there, not on runtime {driver}"
            );
        }
    }
}

impl Future for LocalSet {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut live = self.live.borrow_mut();
        if live.tasks.is_empty() {
            Poll::Ready(())
        } else {
            live.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for LocalSet {
    /// Aborts the set's tasks still alive, with the set current (their futures are
    /// dropped now, unless one is being polled). A destructor's panic goes to the
    /// task's join handle, as tokio's; should an abort raise one (detsim's own runs
    /// raise it where the task is aborted), it is raised here once every task is
    /// aborted.
    fn drop(&mut self) {
        let tasks: Vec<AbortHandle> = self.live.borrow().tasks.values().cloned().collect();
        if tasks.is_empty() {
            return;
        }
        // Outside any simulation, in the runtime the tasks went to.
        let bound = self.live.borrow().bound;
        let _session = match detsim_runtime::in_simulation() {
            true => None,
            false => bound.and_then(crate::runtime::enter_existing),
        };
        let _current = Current::enter(Some(self.live.clone()));
        let mut first_panic = None;
        for task in tasks {
            let aborted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.abort()));
            if let Err(payload) = aborted {
                first_panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = first_panic
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(payload);
        }
    }
}

impl Default for LocalSet {
    fn default() -> Self {
        LocalSet::new()
    }
}

impl fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSet")
            .field("tasks", &self.live.borrow().tasks.len())
            .finish()
    }
}

/// Spawns `future` into `set` (tokio's `JoinSet::spawn_local_on`).
#[track_caller]
pub(crate) fn spawn_local_on<F>(set: &LocalSet, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_into(&set.live, future)
}
