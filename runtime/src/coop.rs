//! tokio's cooperative budget, simulated: each poll of a task may make [`BUDGET`] units
//! of progress through the runtime's resources; past that, a resource returns `Pending`
//! (and wakes the task), so a loop that is always ready still lets the other tasks run.
//!
//! The resources that spend a unit, at the points tokio's do: a [`JoinHandle`] that is
//! ready, the `sync` primitives (channels, locks, permits, `Notify`, `watch`,
//! `broadcast`, `oneshot`), a tokio-rule sleep
//! ([`sleep_until_coop`](crate::time::sleep_until_coop)) that completes,
//! [`consume_budget`], [`cooperative`] futures, and whatever calls [`poll_proceed`].
//! [`unconstrained`] (and [`with_unconstrained`]) lift the budget for what they wrap.
//!
//! Invariants:
//! - the budget belongs to one poll of one task: the executor fills it before each poll
//!   and lifts it after, so nothing carries over between polls, tasks or runs, and code
//!   outside a task's poll (a destructor at teardown, a plain thread) is unconstrained;
//! - spending is counted, never timed: the same program spends the same units at the
//!   same points in every run of a seed, so the budget adds no nondeterminism (and
//!   makes no recorded decision);
//! - a resource that ends `Pending` for want of budget has woken its task first: a
//!   spent budget is a yield, never a lost wake.
//!
//! Cost: a poll sets one thread-local cell before and after; a unit spent is a read
//! and a write of it.
//!
//! [`JoinHandle`]: crate::JoinHandle

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::wait::{self, WaitKind};

/// Units of progress a task makes per poll before its resources yield (tokio's).
pub const BUDGET: u32 = 128;

/// The budget value that means "unconstrained".
const UNCONSTRAINED: u32 = u32::MAX;

thread_local! {
    /// Units left in the poll in progress on this thread ([`UNCONSTRAINED`] outside a
    /// task's poll, and under [`unconstrained`]).
    static LEFT: Cell<u32> = const { Cell::new(UNCONSTRAINED) };
}

/// Fills the budget for a task's poll; returns the budget to put back after it
/// ([`end_poll`]).
#[inline(always)]
pub(crate) fn begin_poll() -> u32 {
    LEFT.replace(BUDGET)
}

/// Puts back the budget [`begin_poll`] returned, once the poll is over.
#[inline(always)]
pub(crate) fn end_poll(outer: u32) {
    LEFT.set(outer);
}

/// Whether the current task has budget left in this poll (always, outside a task's
/// poll and under [`unconstrained`]): tokio's `task::coop::has_budget_remaining`.
pub fn has_budget_remaining() -> bool {
    LEFT.get() > 0
}

/// For a resource's poll: `false` (after waking the task, so that it runs again after
/// a yield) if the current task's budget is spent; otherwise one unit is used and
/// `true`. Always `true` outside a task's poll.
#[inline]
pub(crate) fn proceed(cx: &Context<'_>) -> bool {
    match LEFT.get() {
        UNCONSTRAINED => true,
        0 => {
            cx.waker().wake_by_ref();
            false
        }
        left => {
            LEFT.set(left - 1);
            true
        }
    }
}

/// Spends a unit of the current task's budget for a resource about to make progress,
/// as tokio's `task::coop::poll_proceed`: `Pending` (and the task woken, so it yields)
/// if the budget is spent; otherwise a [`RestoreOnPending`] that gives the unit back
/// when dropped, unless [`made_progress`](RestoreOnPending::made_progress) says the
/// resource did make progress.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    let before = LEFT.get();
    match proceed(cx) {
        true => Poll::Ready(RestoreOnPending {
            before: Cell::new(before),
            _not_send: PhantomData,
        }),
        false => Poll::Pending,
    }
}

/// A unit taken by [`poll_proceed`]: given back when this drops, unless
/// [`made_progress`](RestoreOnPending::made_progress) was called (tokio's type).
#[derive(Debug)]
#[must_use = "dropped at once, it gives the unit back"]
pub struct RestoreOnPending {
    /// The budget before the unit was taken ([`UNCONSTRAINED`]: nothing to restore).
    before: Cell<u32>,
    /// The budget is the current thread's.
    _not_send: PhantomData<*mut ()>,
}

impl RestoreOnPending {
    /// The resource made progress: the unit stays spent.
    pub fn made_progress(&self) {
        self.before.set(UNCONSTRAINED);
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        let before = self.before.get();
        if before != UNCONSTRAINED {
            LEFT.set(before);
        }
    }
}

/// Runs `f` with the budget lifted (tokio's blocking regions and `unconstrained`): no
/// resource it polls yields for want of budget; the budget is put back after.
pub fn with_unconstrained<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.set(self.0);
        }
    }
    let _restore = Restore(LEFT.replace(UNCONSTRAINED));
    f()
}

/// Uses one unit of the current task's budget; once it is spent, yields first (tokio's
/// `task::consume_budget`). Ready at once outside a task's poll.
pub fn consume_budget() -> ConsumeBudget {
    ConsumeBudget { _private: () }
}

/// The future of [`consume_budget`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ConsumeBudget {
    _private: (),
}

impl Future for ConsumeBudget {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match proceed(cx) {
            true => Poll::Ready(()),
            false => {
                wait::record(WaitKind::Yield);
                Poll::Pending
            }
        }
    }
}

/// Opts `future` out of the budget (tokio's `task::unconstrained`): while it is polled,
/// no resource yields for want of budget. It spends none either.
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

/// Makes `future` spend the budget as tokio's resources do (tokio's
/// `task::coop::cooperative`): each poll takes a unit first (a yield if none is left),
/// kept only if the future completes.
pub fn cooperative<F: Future>(future: F) -> Coop<F> {
    Coop { future }
}

pin_project! {
    /// The future of [`unconstrained`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Unconstrained<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self.project().future;
        with_unconstrained(|| future.poll(cx))
    }
}

pin_project! {
    /// The future of [`cooperative`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Coop<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Coop<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Poll::Ready(unit) = poll_proceed(cx) else {
            wait::record(WaitKind::Yield);
            return Poll::Pending;
        };
        let poll = self.project().future.poll(cx);
        if poll.is_ready() {
            unit.made_progress();
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    /// The budget outside a poll is unconstrained; inside, it counts down to zero and
    /// then refuses, and a unit taken and not used comes back.
    #[test]
    fn a_poll_spends_its_units_and_gives_back_unused_ones() {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(has_budget_remaining());
        assert!(proceed(&cx), "unconstrained outside a poll");
        let outer = begin_poll();
        for _ in 0..BUDGET - 1 {
            assert!(proceed(&cx));
        }
        let Poll::Ready(unit) = poll_proceed(&mut cx) else {
            panic!("one unit was left");
        };
        assert!(!has_budget_remaining());
        drop(unit);
        assert!(has_budget_remaining(), "an unused unit comes back");
        let Poll::Ready(unit) = poll_proceed(&mut cx) else {
            panic!("one unit was left");
        };
        unit.made_progress();
        drop(unit);
        assert!(!has_budget_remaining());
        assert!(poll_proceed(&mut cx).is_pending());
        assert!(with_unconstrained(|| proceed(&cx)));
        assert!(!has_budget_remaining(), "the budget is put back after");
        end_poll(outer);
        assert!(has_budget_remaining());
    }
}
