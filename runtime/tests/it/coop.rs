//! tokio's coop budget on the runtime's resources: each poll of a task has
//! [`coop::BUDGET`] units; a ready join handle, a channel's receive, a tokio-rule sleep
//! and `consume_budget` each spend one, and once they are spent the resource yields
//! (wakes its task and returns `Pending`), so the other tasks run.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use detsim_runtime::coop::{self, BUDGET};
use detsim_runtime::sync::mpsc;
use detsim_runtime::{spawn, time, yield_now};

use crate::util::{Sched, run_ok, schedules};

/// How many of `polls` (each a poll of a resource ready but for the budget) one poll of
/// the task completed before the first `Pending`.
fn ready_before_pending(mut poll: impl FnMut(&mut std::task::Context<'_>) -> bool) -> usize {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    (0..10 * BUDGET as usize)
        .take_while(|_| poll(&mut cx))
        .count()
}

/// A task that awaits finished tasks' handles completes `BUDGET` of them in one poll;
/// the next one yields (under FIFO, a bystander runs before it completes).
#[test]
fn ready_join_handles_spend_the_budget() {
    for sched in schedules() {
        run_ok(sched, async move {
            let mut handles: Vec<_> = (0..2 * BUDGET).map(|i| spawn(async move { i })).collect();
            while !handles.iter().all(|h| h.is_finished()) {
                yield_now().await;
            }
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            let bystander = spawn(async move { r.set(true) });
            let mut next = 0;
            poll_fn(|cx| {
                while next < handles.len() {
                    match std::pin::Pin::new(&mut handles[next]).poll(cx) {
                        Poll::Ready(output) => assert_eq!(output.unwrap(), next as u32),
                        Poll::Pending => return Poll::Ready(()),
                    }
                    next += 1;
                }
                Poll::Ready(())
            })
            .await;
            assert_eq!(next, BUDGET as usize, "ready handles completed in one poll");
            assert!(!coop::has_budget_remaining());
            // The handle that yielded woke the task: awaiting it yields once.
            assert_eq!((&mut handles[next]).await.unwrap(), next as u32);
            assert!(
                ran.get() || sched != Sched::Fifo,
                "the yield let the bystander run"
            );
            bystander.await.unwrap();
        });
    }
}

/// The budget is one per poll, shared by every resource, and full again at the next
/// poll of the task.
#[test]
fn resources_share_one_budget_per_poll() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..BUDGET {
            tx.send(i).unwrap();
        }
        for _ in 0..BUDGET / 2 {
            coop::consume_budget().await;
        }
        let received = ready_before_pending(|cx| rx.poll_recv(cx).is_ready());
        assert_eq!(received, BUDGET as usize / 2);
        let due = time::now();
        let mut sleep = std::pin::pin!(time::sleep_until_coop(due));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending(), "no budget left");
        yield_now().await;
        assert!(coop::has_budget_remaining(), "a new poll, a new budget");
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
    });
}

/// `unconstrained` lifts the budget for what it wraps (1,000 ready receives in one
/// poll), and puts it back after.
#[test]
fn unconstrained_lifts_the_budget() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..1_000 {
            tx.send(()).unwrap();
        }
        coop::unconstrained(poll_fn(|cx| {
            for _ in 0..1_000 {
                assert_eq!(rx.poll_recv(cx), Poll::Ready(Some(())));
            }
            Poll::Ready(())
        }))
        .await;
        for _ in 0..BUDGET {
            coop::consume_budget().await;
        }
        assert!(
            !coop::has_budget_remaining(),
            "outside, the budget counts again"
        );
        let lifted = coop::with_unconstrained(coop::has_budget_remaining);
        assert!(lifted);
    });
}

/// `cooperative` makes any future spend the budget: a loop of always-ready futures
/// wrapped in it yields every `BUDGET` iterations.
#[test]
fn cooperative_futures_yield_when_the_budget_is_spent() {
    run_ok(Sched::Fifo, async {
        let turns = Rc::new(Cell::new(0));
        let t = turns.clone();
        let spinner = spawn(async move {
            loop {
                t.set(t.get() + 1);
                yield_now().await;
            }
        });
        for _ in 0..4 * BUDGET {
            coop::cooperative(std::future::ready(())).await;
        }
        assert_eq!(turns.get(), 3, "one yield per {BUDGET} ready futures");
        spinner.abort();
    });
}

/// A unit that `poll_proceed` took comes back unless the resource made progress; with
/// the budget spent, it says `Pending`.
#[test]
fn poll_proceed_gives_back_a_unit_unless_progress_was_made() {
    run_ok(Sched::Fifo, async {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for _ in 0..BUDGET - 1 {
            coop::consume_budget().await;
        }
        let Poll::Ready(unit) = coop::poll_proceed(&mut cx) else {
            panic!("one unit was left");
        };
        assert!(!coop::has_budget_remaining());
        drop(unit);
        assert!(coop::has_budget_remaining(), "unused, the unit came back");
        let Poll::Ready(unit) = coop::poll_proceed(&mut cx) else {
            panic!("one unit was left");
        };
        unit.made_progress();
        drop(unit);
        assert!(coop::poll_proceed(&mut cx).is_pending());
    });
}

/// Outside a task's poll (no simulation), nothing is budgeted.
#[test]
fn outside_a_task_the_budget_is_unlimited() {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..10 * BUDGET {
        assert!(coop::poll_proceed(&mut cx).is_ready());
    }
    assert!(coop::has_budget_remaining());
}
