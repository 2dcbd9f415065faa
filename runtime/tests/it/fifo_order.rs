//! asyncio's order under `fifo` (asyncio-semantics.md): a woken task runs after every
//! task already ready; awaiting a finished task is not a scheduling point (under every
//! scheduler); tasks ping-ponging on `yield_now` interleave strictly.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use detsim_runtime::{spawn, yield_now};
use futures::channel::oneshot;

use crate::util::{Sched, run_all, run_ok};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn push(log: &Log, what: &'static str) {
    log.borrow_mut().push(what);
}

#[test]
fn a_woken_task_runs_after_every_task_already_ready() {
    let log = run_ok(Sched::Fifo, async {
        let log: Log = Rc::default();
        let (tx, rx) = oneshot::channel::<()>();
        let l = log.clone();
        let sleeper = spawn(async move {
            rx.await.unwrap();
            push(&l, "woken");
        });
        yield_now().await; // the sleeper parks on the channel
        let (l1, l2) = (log.clone(), log.clone());
        let b = spawn(async move { push(&l1, "b") });
        let c = spawn(async move { push(&l2, "c") });
        tx.send(()).unwrap(); // woken after b and c were made ready
        push(&log, "root");
        sleeper.await.unwrap();
        b.await.unwrap();
        c.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["root", "b", "c", "woken"]);
}

#[test]
fn wakes_in_one_poll_keep_their_order_and_a_yield_counts_as_one() {
    // The root wakes w2, then w1, then yields: fifo runs w2, w1, then the root.
    let log = run_ok(Sched::Fifo, async {
        let log: Log = Rc::default();
        let (tx1, rx1) = oneshot::channel::<()>();
        let (tx2, rx2) = oneshot::channel::<()>();
        let (l1, l2) = (log.clone(), log.clone());
        let w1 = spawn(async move {
            rx1.await.unwrap();
            push(&l1, "w1");
        });
        let w2 = spawn(async move {
            rx2.await.unwrap();
            push(&l2, "w2");
        });
        yield_now().await; // both park
        tx2.send(()).unwrap();
        tx1.send(()).unwrap();
        yield_now().await;
        push(&log, "root");
        w1.await.unwrap();
        w2.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["w2", "w1", "root"]);
}

#[test]
fn a_task_finishing_wakes_its_awaiter_behind_the_ready_tasks() {
    let log = run_ok(Sched::Fifo, async {
        let log: Log = Rc::default();
        let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
        let awaiter = spawn(async move {
            let inner = spawn(async {});
            inner.await.unwrap(); // parks: the inner task runs after the other two
            push(&l1, "awaiter resumes");
        });
        let other = spawn(async move {
            yield_now().await;
            push(&l2, "other");
        });
        let third = spawn(async move { push(&l3, "third") });
        for task in [awaiter, other, third] {
            task.await.unwrap();
        }
        log.take()
    });
    // awaiter parks on inner; other yields; third runs; inner finishes and wakes the
    // awaiter, which queues behind other.
    assert_eq!(log, ["third", "other", "awaiter resumes"]);
}

#[test]
fn awaiting_a_finished_task_is_not_a_scheduling_point() {
    // Under every scheduler: the await returns at once, nothing else runs in between.
    run_all(|| async {
        let done = spawn(async { 3 });
        while !done.is_finished() {
            yield_now().await;
        }
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        let bystander = spawn(async move { s.set(true) });
        assert_eq!(done.await.unwrap(), 3);
        assert!(
            !started.get(),
            "awaiting a finished task let another task run"
        );
        bystander.await.unwrap();
    });
}

#[test]
fn two_tasks_ping_ponging_on_yield_interleave_strictly() {
    let log = run_ok(Sched::Fifo, async {
        let log: Log = Rc::default();
        let (la, lb) = (log.clone(), log.clone());
        let a = spawn(async move {
            for _ in 0..10 {
                push(&la, "a");
                yield_now().await;
            }
        });
        let b = spawn(async move {
            for _ in 0..10 {
                push(&lb, "b");
                yield_now().await;
            }
        });
        a.await.unwrap();
        b.await.unwrap();
        log.take()
    });
    let expected: Vec<&str> = std::iter::repeat_n(["a", "b"], 10).flatten().collect();
    assert_eq!(log, expected);
}

#[test]
fn three_tasks_and_the_root_rotate_round_robin() {
    let log = run_ok(Sched::Fifo, async {
        let log: Log = Rc::default();
        let names = ["x", "y", "z"];
        let tasks: Vec<_> = names
            .iter()
            .map(|&name| {
                let log = log.clone();
                spawn(async move {
                    for _ in 0..3 {
                        push(&log, name);
                        yield_now().await;
                    }
                })
            })
            .collect();
        for _ in 0..3 {
            push(&log, "root");
            yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        log.take()
    });
    let round = ["root", "x", "y", "z"];
    let expected: Vec<&str> = std::iter::repeat_n(round, 3).flatten().collect();
    assert_eq!(log, expected);
}

/// asyncio schedules a new task's first step with `call_soon` when it is created, in
/// line with the callbacks of futures completed in the same step: a wake followed by
/// a spawn runs the woken task first, a spawn followed by a wake the new task first.
#[test]
fn spawns_and_wakes_of_one_poll_keep_their_order() {
    for wake_first in [true, false] {
        let log = run_ok(Sched::Fifo, async move {
            let log: Log = Rc::default();
            let (tx, rx) = oneshot::channel::<()>();
            let l = log.clone();
            let waiter = spawn(async move {
                rx.await.unwrap();
                push(&l, "woken");
            });
            yield_now().await; // the waiter parks on the channel
            let l = log.clone();
            let spawn_new = move || spawn(async move { push(&l, "spawned") });
            let (new, tx) = if wake_first {
                tx.send(()).unwrap();
                (spawn_new(), None)
            } else {
                (spawn_new(), Some(tx))
            };
            if let Some(tx) = tx {
                tx.send(()).unwrap();
            }
            waiter.await.unwrap();
            new.await.unwrap();
            log.take()
        });
        let expected = if wake_first {
            ["woken", "spawned"]
        } else {
            ["spawned", "woken"]
        };
        assert_eq!(log, expected, "wake first: {wake_first}");
    }
}
