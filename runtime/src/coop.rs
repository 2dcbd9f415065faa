//! tokio's cooperative budget, simulated: a task may make [`BUDGET`] units of progress
//! per poll through [`consume_budget`]; past that, `consume_budget` yields once, so a
//! loop that is always ready still lets the other tasks run (as in tokio, where a
//! resource returns `Pending` once the task's budget is spent).
//!
//! Invariants:
//! - the budget belongs to one poll of one task: it is full again at the next poll
//!   (keyed by the run and its poll count, so nothing carries over between polls, tasks
//!   or runs);
//! - outside a simulation's task, and inside [`with_unlimited_budget`], the budget is
//!   unlimited.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::wait::{self, WaitKind};

/// Units of progress a task makes per poll before [`consume_budget`] yields (tokio's).
pub const BUDGET: u32 = 128;

thread_local! {
    /// `(run epoch, poll count, units left)` of the poll in progress on this thread.
    static LEFT: Cell<(u64, u64, u32)> = const { Cell::new((0, 0, BUDGET)) };
    /// How many [`with_unlimited_budget`] calls are running on this thread.
    static UNLIMITED: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` with an unlimited budget, as tokio runs the closure of `block_in_place`
/// (a loop that drives futures to completion inside it never has to yield).
pub fn with_unlimited_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            UNLIMITED.set(UNLIMITED.get() - 1);
        }
    }
    UNLIMITED.set(UNLIMITED.get() + 1);
    let _restore = Restore;
    f()
}

/// The current poll, if a task of a simulation is being polled (and its budget is
/// not lifted by [`with_unlimited_budget`]).
fn current_poll() -> Option<(u64, u64)> {
    if UNLIMITED.get() > 0 {
        return None;
    }
    context::try_with_core(|core| {
        core.current_task()
            .is_some()
            .then(|| (core.epoch(), core.steps))
    })
    .flatten()
}

/// Units left in the current poll's budget (`None`: unlimited).
fn left() -> Option<(u64, u64, u32)> {
    let (epoch, step) = current_poll()?;
    let (e, s, left) = LEFT.get();
    Some(match (e, s) == (epoch, step) {
        true => (epoch, step, left),
        false => (epoch, step, BUDGET),
    })
}

/// Whether the current task has budget left in this poll (always, outside a task).
pub fn has_budget_remaining() -> bool {
    left().is_none_or(|(_, _, left)| left > 0)
}

/// Uses one unit of the current task's budget; once it is spent, yields first (tokio's
/// `task::consume_budget`). Ready at once outside a simulation's task.
pub fn consume_budget() -> ConsumeBudget {
    ConsumeBudget { yielded: false }
}

/// For a resource's poll: `false` (and a wake, so the task runs again after a
/// yield) if the current task's budget is spent; otherwise one unit is used and
/// `true`. Always `true` outside a simulation's task.
pub(crate) fn poll_proceed(cx: &Context<'_>) -> bool {
    let Some((epoch, step, left)) = left() else {
        return true;
    };
    if left == 0 {
        cx.waker().wake_by_ref();
        return false;
    }
    LEFT.set((epoch, step, left - 1));
    true
}

/// The future of [`consume_budget`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ConsumeBudget {
    yielded: bool,
}

impl Future for ConsumeBudget {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some((epoch, step, left)) = left() else {
            return Poll::Ready(());
        };
        if left == 0 && !self.yielded {
            self.yielded = true;
            wait::record(WaitKind::Yield);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        LEFT.set((epoch, step, left.saturating_sub(1)));
        Poll::Ready(())
    }
}
