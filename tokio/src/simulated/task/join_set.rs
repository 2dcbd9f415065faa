//! `JoinSet`: a set of tasks whose results come out in the order they finish.
//!
//! Invariants:
//! - every task of the set is wrapped so that dropping its future (it completed,
//!   panicked or was aborted) queues its key in the set's `done` list and wakes
//!   whoever waits in `join_next`: results come out in completion order, in O(1) each;
//! - dropping the set aborts every task still in it (tokio's rule).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::{AbortHandle, Id, JoinError, JoinHandle};

/// Tasks that finished, in order, and the waker of a pending `join_next`.
#[derive(Default)]
struct Done {
    keys: VecDeque<u64>,
    waker: Option<Waker>,
}

pin_project! {
    /// A task's future, which reports to its set when it is dropped.
    struct Member<F> {
        #[pin]
        future: F,
        guard: Guard,
    }
}

impl<F: Future> Future for Member<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

struct Guard {
    key: u64,
    done: Arc<Mutex<Done>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let waker = {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done.keys.push_back(self.key);
            done.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A collection of spawned tasks, awaited in the order they finish (tokio's
/// `JoinSet`). Dropping it aborts the tasks still in it.
pub struct JoinSet<T> {
    tasks: BTreeMap<u64, JoinHandle<T>>,
    done: Arc<Mutex<Done>>,
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
    #[track_caller]
    fn insert<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        let key = self.next_key;
        self.next_key += 1;
        let guard = Guard {
            key,
            done: self.done.clone(),
        };
        let handle = detsim_runtime::spawn(Member { future, guard });
        let abort = handle.abort_handle();
        self.tasks.insert(key, handle);
        abort
    }

    /// Spawns `task` into the set (tokio's bounds).
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.insert(task)
    }

    /// Spawns a `!Send` task into the set.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(task)
    }

    /// Spawns a `!Send` task into the set; the `LocalSet` is not needed in simulation.
    #[track_caller]
    pub fn spawn_local_on<F>(&mut self, task: F, _local_set: &super::LocalSet) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(task)
    }

    /// Spawns `task` into the set; every handle is the same simulation.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, task: F, _handle: &crate::runtime::Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.insert(task)
    }

    /// Runs the blocking closure `f` as a task of the set (see
    /// [`spawn_blocking`](super::spawn_blocking)).
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.insert(async move { f() })
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
        match self.next_finished(&mut cx) {
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
        match self.next_finished(cx) {
            Poll::Ready(Some(result)) => Poll::Ready(Some(result)),
            _ => Poll::Pending,
        }
    }

    /// Takes the oldest finished task's result; registers `cx` when none has finished.
    fn next_finished(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(Id, T), JoinError>>> {
        loop {
            let key = {
                let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
                match done.keys.pop_front() {
                    Some(key) => key,
                    None => {
                        done.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            };
            // A key whose task already left the set (detached) is skipped.
            let Some(handle) = self.tasks.get_mut(&key) else {
                continue;
            };
            let id = handle.id();
            match Pin::new(handle).poll(cx) {
                Poll::Ready(result) => {
                    self.tasks.remove(&key);
                    return Poll::Ready(Some(result.map(|value| (id, value))));
                }
                // The future was dropped but the outcome is not settled yet: look again
                // at the next wake-up.
                Poll::Pending => {
                    let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
                    done.keys.push_front(key);
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
        for handle in self.tasks.values() {
            handle.abort();
        }
    }

    /// Removes every task from the set without aborting it: they keep running.
    pub fn detach_all(&mut self) {
        self.tasks.clear();
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .clear();
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        if detsim_runtime::in_simulation() {
            for handle in self.tasks.values() {
                handle.abort();
            }
        }
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
