//! `LocalSet`: in simulation every task already runs on one thread, so a `LocalSet`
//! only keeps track of the tasks spawned through it (awaiting the set waits for them).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::JoinHandle;

#[derive(Default)]
struct Live {
    count: usize,
    waker: Option<Waker>,
}

pin_project! {
    struct Tracked<F> {
        #[pin]
        future: F,
        token: Token,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _local = InLocalSet::enter();
        self.project().future.poll(cx)
    }
}

thread_local! {
    /// How many polls of `LocalSet` tasks (or `run_until` futures) are on the stack.
    static IN_LOCAL_SET: Cell<u32> = const { Cell::new(0) };
}

/// Marks a poll inside a `LocalSet` until dropped.
struct InLocalSet;

impl InLocalSet {
    fn enter() -> InLocalSet {
        IN_LOCAL_SET.set(IN_LOCAL_SET.get() + 1);
        InLocalSet
    }
}

impl Drop for InLocalSet {
    fn drop(&mut self) {
        IN_LOCAL_SET.set(IN_LOCAL_SET.get() - 1);
    }
}

/// Whether the caller runs inside a `LocalSet` (a task of one, or `run_until`'s future),
/// where tokio's `block_in_place` panics.
pub(crate) fn in_local_set() -> bool {
    IN_LOCAL_SET.get() > 0
}

/// Counts a live task of the set; dropping it (the task's future ended) wakes the set.
struct Token(Rc<RefCell<Live>>);

impl Drop for Token {
    fn drop(&mut self) {
        let waker = {
            let mut live = self.0.borrow_mut();
            live.count -= 1;
            if live.count == 0 {
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

/// A set of `!Send` tasks (tokio's `LocalSet`). In simulation,
/// [`spawn_local`](super::spawn_local) works anywhere; the set still runs futures with
/// [`run_until`](LocalSet::run_until) and, awaited, waits until the tasks spawned
/// through [`LocalSet::spawn_local`] have finished.
pub struct LocalSet {
    live: Rc<RefCell<Live>>,
    _not_send: PhantomData<*const ()>,
}

/// What [`LocalSet::enter`] returns; nothing to undo in simulation.
#[derive(Debug)]
pub struct LocalEnterGuard {
    _not_send: PhantomData<*const ()>,
}

impl LocalSet {
    /// An empty set.
    pub fn new() -> LocalSet {
        LocalSet {
            live: Rc::default(),
            _not_send: PhantomData,
        }
    }

    /// Enters the set's context (nothing to do in simulation).
    pub fn enter(&self) -> LocalEnterGuard {
        LocalEnterGuard {
            _not_send: PhantomData,
        }
    }

    /// Spawns a `!Send` task tracked by this set.
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.live.borrow_mut().count += 1;
        let token = Token(self.live.clone());
        detsim_runtime::spawn(Tracked { future, token })
    }

    /// Runs `future` to completion; the set's tasks run alongside it.
    pub async fn run_until<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            let _local = InLocalSet::enter();
            future.as_mut().poll(cx)
        })
        .await
    }

    /// Runs `future` on `rt` (see [`Runtime::block_on`](crate::runtime::Runtime::block_on)).
    #[track_caller]
    pub fn block_on<F: Future>(&self, rt: &crate::runtime::Runtime, future: F) -> F::Output {
        rt.block_on(future)
    }
}

impl Future for LocalSet {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut live = self.live.borrow_mut();
        if live.count == 0 {
            Poll::Ready(())
        } else {
            live.waker = Some(cx.waker().clone());
            Poll::Pending
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
            .field("tasks", &self.live.borrow().count)
            .finish()
    }
}
