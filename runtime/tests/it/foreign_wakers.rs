//! Wakers are real `std::task::Waker`s: primitives from other crates (futures' channels
//! and locks, tokio::sync) wake detsim tasks correctly under every scheduler; a waker
//! that outlives its task wakes nothing.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use detsim_runtime::{Runtime, spawn, time, yield_now};
use futures::channel::{mpsc, oneshot};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::{SinkExt, lock::Mutex};

use crate::util::{Sched, run_all, run_ok};

#[test]
fn futures_bounded_mpsc_delivers_everything_in_per_sender_order() {
    for (sched, received) in run_all(|| async {
        let (tx, mut rx) = mpsc::channel::<(u32, u32)>(1);
        for producer in 0..3 {
            let mut tx = tx.clone();
            drop(spawn(async move {
                for n in 0..20 {
                    tx.send((producer, n)).await.unwrap();
                    if n % 3 == 0 {
                        yield_now().await;
                    }
                }
            }));
        }
        drop(tx);
        let mut received = Vec::new();
        while let Some(message) = rx.next().await {
            received.push(message);
        }
        received
    }) {
        assert_eq!(received.len(), 60, "under {sched:?}");
        for producer in 0..3 {
            let ns: Vec<u32> = received
                .iter()
                .filter(|m| m.0 == producer)
                .map(|m| m.1)
                .collect();
            assert_eq!(ns, (0..20).collect::<Vec<_>>(), "under {sched:?}");
        }
    }
}

#[test]
fn futures_oneshot_delivers_and_reports_a_dropped_sender() {
    run_all(|| async {
        let (tx, rx) = oneshot::channel::<&str>();
        let (gone_tx, gone_rx) = oneshot::channel::<()>();
        let receiver = spawn(async move { (rx.await, gone_rx.await) });
        yield_now().await;
        tx.send("value").unwrap();
        drop(gone_tx);
        let (value, gone) = receiver.await.unwrap();
        assert_eq!(value, Ok("value"));
        assert_eq!(gone, Err(oneshot::Canceled));
    });
}

#[test]
fn futures_mutex_excludes_and_wakes_every_waiter() {
    run_all(|| async {
        let lock = Rc::new(Mutex::new(0u32));
        let inside = Rc::new(Cell::new(false));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                spawn(async move {
                    for _ in 0..4 {
                        let mut guard = lock.lock().await;
                        assert!(!inside.replace(true), "two tasks hold the lock");
                        let value = *guard;
                        yield_now().await; // hold the lock across a suspension
                        time::sleep(Duration::from_millis(1)).await;
                        *guard = value + 1;
                        inside.set(false);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*lock.lock().await, 20);
        // The lock serialised 20 sections of 1 ms each.
        assert_eq!(time::now().since_start(), Duration::from_millis(20));
    });
}

#[test]
fn tokio_notify_wakes_a_waiter_and_stores_a_permit() {
    run_all(|| async {
        let notify = Rc::new(tokio::sync::Notify::new());
        let n = notify.clone();
        let waiter = spawn(async move {
            n.notified().await; // parked until the root's first notify_one, at 1 s
            let first = time::now().since_start();
            time::sleep_until(time::Instant::START + Duration::from_secs(3)).await;
            n.notified().await; // the permit stored at 2 s: returns at once
            (first, time::now().since_start())
        });
        time::sleep(Duration::from_secs(1)).await;
        notify.notify_one();
        time::sleep(Duration::from_secs(1)).await;
        notify.notify_one(); // nobody waits: a permit is stored
        let (first, second) = waiter.await.unwrap();
        assert_eq!(first, Duration::from_secs(1));
        assert_eq!(second, Duration::from_secs(3));
    });
}

#[test]
fn tokio_mpsc_carries_messages_between_tasks() {
    for (sched, total) in run_all(|| async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(2);
        for producer in 0..4u64 {
            let tx = tx.clone();
            drop(spawn(async move {
                for n in 0..10 {
                    tx.send(producer * 100 + n).await.unwrap();
                }
            }));
        }
        drop(tx);
        let mut total = 0;
        while let Some(n) = rx.recv().await {
            total += n;
        }
        total
    }) {
        assert_eq!(total, 4 * 45 + 100 * 10 * 6, "under {sched:?}");
    }
}

#[test]
fn timers_under_futures_unordered_fire_in_deadline_order() {
    run_all(|| async {
        let mut sleeps: FuturesUnordered<_> = [5u64, 1, 4, 2, 3]
            .into_iter()
            .map(|s| async move {
                time::sleep(Duration::from_secs(s)).await;
                (s, time::now().since_start())
            })
            .collect();
        let mut order = Vec::new();
        while let Some((s, at)) = sleeps.next().await {
            assert_eq!(at, Duration::from_secs(s));
            order.push(s);
        }
        assert_eq!(order, [1, 2, 3, 4, 5]);
    });
}

/// A future that parks forever and counts its polls, handing out its waker.
fn park_forever(
    polls: Rc<Cell<u32>>,
    waker: Rc<RefCell<Option<Waker>>>,
) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        *waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    })
}

#[test]
fn a_waker_that_outlived_its_task_wakes_nothing() {
    run_all(|| async {
        let stale: Rc<RefCell<Option<Waker>>> = Rc::default();
        // A task hands out its waker, then is cancelled.
        let first_polls = Rc::new(Cell::new(0));
        let first = spawn(park_forever(first_polls.clone(), stale.clone()));
        while first_polls.get() == 0 {
            yield_now().await;
        }
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled()); // the slot is free again
        // A new task takes its place.
        let second_polls = Rc::new(Cell::new(0));
        let _second = spawn(park_forever(second_polls.clone(), Rc::default()));
        while second_polls.get() == 0 {
            yield_now().await;
        }
        // Waking the dead task's waker must not poll the new one.
        let waker = stale.borrow_mut().take().unwrap();
        waker.wake_by_ref();
        waker.wake();
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(second_polls.get(), 1);
    });
}

#[test]
fn a_waker_woken_many_times_polls_the_task_once() {
    let polls = run_ok(Sched::Fifo, async {
        let polls = Rc::new(Cell::new(0));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let _task = spawn(park_forever(polls.clone(), waker.clone()));
        yield_now().await;
        let w = waker.borrow_mut().take().unwrap();
        for _ in 0..10 {
            w.wake_by_ref();
        }
        yield_now().await;
        yield_now().await;
        polls.get()
    });
    assert_eq!(polls, 2);
}

/// A task parks until its waker, sent to another OS thread, is woken there: the wake
/// reaches the simulation (the thread is joined inside the poll, so the test does not
/// depend on thread timing). The run allows OS threads: by default it refuses them.
#[test]
fn a_wake_from_another_thread_is_delivered() {
    let mut rt = Sched::Fifo.runtime();
    rt.set_allow_threads(true);
    let polls = rt.block_on(async {
        let polls = Rc::new(Cell::new(0));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let _task = spawn(park_forever(polls.clone(), waker.clone()));
        yield_now().await;
        assert_eq!(polls.get(), 1);
        let waker = waker.borrow_mut().take().unwrap();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        yield_now().await;
        yield_now().await;
        polls.get()
    });
    assert_eq!(polls, 2);
}

/// A waker kept from a run of one runtime, woken during a run of another on the same
/// thread (with fewer task slots), wakes nothing there.
#[test]
fn a_waker_of_another_runtime_wakes_nothing() {
    let stash: Rc<RefCell<Vec<Waker>>> = Rc::default();
    let kept = stash.clone();
    let _ = Runtime::new(1).run(async move {
        for _ in 0..8 {
            let polls = Rc::new(Cell::new(0));
            let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
            drop(spawn(park_forever(polls, waker.clone())));
            while waker.borrow().is_none() {
                yield_now().await;
            }
            kept.borrow_mut().push(waker.borrow_mut().take().unwrap());
        }
    });
    let polls = Runtime::new(2).block_on(async move {
        let polls = Rc::new(Cell::new(0));
        let _task = spawn(park_forever(polls.clone(), Rc::default()));
        yield_now().await;
        for waker in stash.borrow().iter() {
            waker.wake_by_ref();
        }
        yield_now().await;
        yield_now().await;
        polls.get()
    });
    assert_eq!(polls, 1);
}

/// A waker of a simulation thread that has ended wakes nothing, from any thread, and
/// nothing on a thread that runs a simulation later.
#[test]
fn a_waker_of_an_ended_thread_wakes_nothing() {
    let waker = std::thread::spawn(|| {
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let kept = waker.clone();
        let _ = Runtime::new(3).run(async move {
            drop(spawn(park_forever(Rc::default(), kept.clone())));
            while kept.borrow().is_none() {
                yield_now().await;
            }
        });
        waker.borrow_mut().take().unwrap()
    })
    .join()
    .unwrap();
    waker.wake_by_ref();
    let from_new_thread = waker.clone();
    let polls = std::thread::spawn(move || {
        Runtime::new(4).block_on(async move {
            let polls = Rc::new(Cell::new(0));
            let _task = spawn(park_forever(polls.clone(), Rc::default()));
            yield_now().await;
            from_new_thread.wake();
            yield_now().await;
            polls.get()
        })
    })
    .join()
    .unwrap();
    assert_eq!(polls, 1);
}
