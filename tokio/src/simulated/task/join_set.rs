//! `JoinSet`: a set of tasks whose results come out in the order they finish.
//!
//! Invariants:
//! - every task of the set is wrapped (a [`Member`]) so that its output goes to the
//!   set's `done` store when it completes, and dropping its future (it completed,
//!   panicked or was aborted) queues its key in the `done` list and wakes whoever waits
//!   in `join_next`: results come out in completion order, in O(1) each;
//! - an output is the set's as soon as the task completes, as tokio's is the join
//!   handle's: it is joined even after the runtime that ran the task was dropped; a
//!   task of a run that is over without an output was cancelled (tokio's
//!   `runtime_gone`); a panic's payload is read from the task's run;
//! - dropping the set aborts every task still in it (tokio's rule).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::{AbortHandle, Id, JoinError, JoinHandle};

/// Tasks that finished, in order, their outputs, and the waker of a pending
/// `join_next`.
struct Done<T> {
    keys: VecDeque<u64>,
    outputs: BTreeMap<u64, T>,
    /// Tasks whose future was dropped while it was being polled: they panicked.
    panicked: BTreeSet<u64>,
    waker: Option<Waker>,
}

impl<T> Default for Done<T> {
    fn default() -> Self {
        Done {
            keys: VecDeque::new(),
            outputs: BTreeMap::new(),
            panicked: BTreeSet::new(),
            waker: None,
        }
    }
}

/// Locks `done`, whatever a panic left in it (every update is one step).
fn lock<T>(done: &Mutex<Done<T>>) -> std::sync::MutexGuard<'_, Done<T>> {
    done.lock().unwrap_or_else(|e| e.into_inner())
}

pin_project! {
    /// A task's future, which gives its output to its set and reports to it when it
    /// is dropped.
    struct Member<F: Future> {
        #[pin]
        future: F,
        guard: Guard<F::Output>,
    }
}

impl<F: Future> Future for Member<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        this.guard.in_poll = true;
        let polled = this.future.poll(cx);
        this.guard.in_poll = false;
        match polled {
            Poll::Ready(output) => {
                lock(&this.guard.done)
                    .outputs
                    .insert(this.guard.key, output);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

struct Guard<T> {
    key: u64,
    done: Arc<Mutex<Done<T>>>,
    /// Set during the future's poll: still set when the future is dropped, the poll
    /// unwound.
    in_poll: bool,
}

impl<T> Drop for Guard<T> {
    fn drop(&mut self) {
        let waker = {
            let mut done = lock(&self.done);
            done.keys.push_back(self.key);
            if self.in_poll {
                done.panicked.insert(self.key);
            }
            done.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A task of the set: its handle, and the run it belongs to.
struct Entry {
    handle: JoinHandle<()>,
    run: u64,
}

impl Entry {
    /// Whether the task's run is the one current on this thread.
    fn is_current_run(&self) -> bool {
        detsim_runtime::in_simulation() && detsim_runtime::run_id() == self.run
    }
}

/// A collection of spawned tasks, awaited in the order they finish (tokio's
/// `JoinSet`). Dropping it aborts the tasks still in it.
pub struct JoinSet<T> {
    tasks: BTreeMap<u64, Entry>,
    done: Arc<Mutex<Done<T>>>,
    next_key: u64,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        JoinSet {
            tasks: BTreeMap::new(),
            done: Arc::default(),
            next_key: 0,
        }
    }

    /// The number of tasks in the set (finished ones count until they are joined).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl<T: 'static> JoinSet<T> {
    /// `future` as a member of the set, for its caller to spawn (directly, so that the
    /// task's spawn location is the caller's) and [`add`](JoinSet::add).
    fn member<F>(&mut self, future: F) -> (u64, Member<F>)
    where
        F: Future<Output = T> + 'static,
    {
        let key = self.next_key;
        self.next_key += 1;
        let guard = Guard {
            key,
            done: self.done.clone(),
            in_poll: false,
        };
        (key, Member { future, guard })
    }

    /// Adds the spawned task of member `key` to the set (called where it was spawned:
    /// in its run).
    fn add(&mut self, key: u64, handle: JoinHandle<()>) -> AbortHandle {
        let abort = handle.abort_handle();
        let run = detsim_runtime::run_id();
        self.tasks.insert(key, Entry { handle, run });
        abort
    }

    /// Spawns `task` into the set (tokio's bounds).
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        let (key, member) = self.member(task);
        self.add(key, detsim_runtime::spawn(member))
    }

    /// Spawns a `!Send` task into the set, where
    /// [`spawn_local`](super::spawn_local) would spawn it.
    ///
    /// # Panics
    /// Where [`spawn_local`](super::spawn_local) does, with tokio's messages.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        let (key, member) = self.member(task);
        self.add(key, super::local::spawn_local(member))
    }

    /// Spawns a `!Send` task into the set, as a task of `local_set`.
    #[track_caller]
    pub fn spawn_local_on<F>(&mut self, task: F, local_set: &super::LocalSet) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        let (key, member) = self.member(task);
        self.add(key, super::local::spawn_local_on(local_set, member))
    }

    /// Spawns `task` into the set, on `handle`'s runtime: inside a simulation, into
    /// it; from outside, into the runtime's, where it runs in the next `block_on` (as
    /// [`Handle::spawn`](crate::runtime::Handle::spawn)).
    #[track_caller]
    pub fn spawn_on<F>(&mut self, task: F, handle: &crate::runtime::Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        let _enter = handle.enter();
        let (key, member) = self.member(task);
        self.add(key, detsim_runtime::spawn(member))
    }

    /// Runs the blocking closure `f` as a task of the set (see
    /// [`spawn_blocking`](super::spawn_blocking)).
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        let (key, member) = self.member(async move { f() });
        self.add(key, detsim_runtime::spawn(member))
    }

    /// Waits for the next task to finish and gives its result; `None` when the set is
    /// empty. Cancel-safe: dropping the future loses no result.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// [`join_next`](JoinSet::join_next), with the id of the task that finished.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// The result of a task that already finished, without waiting; `None` when none
    /// has.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.try_join_next_with_id().map(|r| r.map(|(_, v)| v))
    }

    /// [`try_join_next`](JoinSet::try_join_next), with the task's id.
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        let mut cx = Context::from_waker(Waker::noop());
        // Not budgeted, as tokio's: a call that cannot yield looks at every handle.
        let next = detsim_runtime::coop::with_unconstrained(|| self.next_finished(&mut cx));
        match next {
            Poll::Ready(result) => result,
            Poll::Pending => None,
        }
    }

    /// Polls for the next finished task (tokio's `poll_join_next`).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx)
            .map(|r| r.map(|r| r.map(|(_, v)| v)))
    }

    /// Polls for the next finished task, with its id.
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        // A task's result spends a unit of the coop budget, as tokio's `JoinHandle`
        // does: once it is spent, this yields (the task is woken).
        let Poll::Ready(unit) = detsim_runtime::coop::poll_proceed(cx) else {
            return Poll::Pending;
        };
        match self.next_finished(cx) {
            Poll::Ready(Some(result)) => {
                unit.made_progress();
                Poll::Ready(Some(result))
            }
            _ => Poll::Pending,
        }
    }

    /// Takes the oldest finished task's result; registers `cx` when none has finished.
    fn next_finished(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(Id, T), JoinError>>> {
        loop {
            let mut done = lock(&self.done);
            let Some(key) = done.keys.pop_front() else {
                let replaced = done.waker.replace(cx.waker().clone());
                drop(done);
                // Dropped outside the lock: a waker's destructor may run the task that
                // finishes next (tokio's `replace_parent_waker_drops_outside_lock`).
                drop(replaced);
                return Poll::Pending;
            };
            let output = done.outputs.remove(&key);
            let panicked = done.panicked.remove(&key);
            drop(done);
            // A key whose task already left the set (detached) is skipped.
            let Some(mut entry) = self.tasks.remove(&key) else {
                continue;
            };
            let id = entry.handle.id();
            if let Some(output) = output {
                return Poll::Ready(Some(Ok((id, output))));
            }
            if !entry.is_current_run() {
                // The task's run is over (its runtime was dropped), or is not the one
                // on this thread: without an output, it was cancelled, unless it
                // panicked (the payload stays with its run).
                assert!(
                    !panicked,
                    "a task of this JoinSet ({id}) panicked in a runtime whose run is not \
                     the current one (dropped, or not being driven): join it inside that \
                     runtime's `block_on` to read the panic"
                );
                return Poll::Ready(Some(Err(JoinError::__cancelled(id))));
            }
            match Pin::new(&mut entry.handle).poll(cx) {
                Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                // Completed without giving the set its output: only an abort requested
                // during its last poll ends a task so; it counts as cancelled.
                Poll::Ready(Ok(())) => return Poll::Ready(Some(Err(JoinError::__cancelled(id)))),
                // The task's coop budget is spent (the handle woke it), or the future
                // was dropped but the outcome is not settled yet: look again at the
                // next wake-up.
                Poll::Pending => {
                    self.tasks.insert(key, entry);
                    let mut done = lock(&self.done);
                    done.keys.push_front(key);
                    if panicked {
                        done.panicked.insert(key);
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Aborts every task and waits for them all to finish.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Waits for every task and returns their outputs in the order they finished.
    ///
    /// # Panics
    /// If a task panicked (with its payload) or was cancelled.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut outputs = Vec::with_capacity(self.len());
        while let Some(result) = self.join_next().await {
            match result {
                Ok(output) => outputs.push(output),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(error) => panic!("{error}"),
            }
        }
        outputs
    }

    /// Aborts every task of the set; they stay in it until joined.
    pub fn abort_all(&mut self) {
        self.abort_current_run();
    }

    /// Removes every task from the set without aborting it: they keep running.
    pub fn detach_all(&mut self) {
        self.tasks.clear();
        let mut done = lock(&self.done);
        done.keys.clear();
        done.outputs.clear();
        done.panicked.clear();
    }
}

impl<T> JoinSet<T> {
    /// Aborts the set's tasks of the run current on this thread (a task of a run that
    /// is over has been dropped with it).
    fn abort_current_run(&self) {
        if !detsim_runtime::in_simulation() {
            return;
        }
        for entry in self.tasks.values() {
            if entry.is_current_run() {
                entry.handle.abort();
            }
        }
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_current_run();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}

impl<T, F> Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for future in iter {
            self.spawn(future);
        }
    }
}
