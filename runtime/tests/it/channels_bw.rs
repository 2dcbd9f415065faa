//! `detsim_runtime::sync::{broadcast, watch}`: lagging, closing and versions as tokio
//! defines them, cancellation safety, and reports of tasks waiting on them.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use detsim_runtime::sync::{broadcast, oneshot, watch};
use detsim_runtime::{spawn, task, time, yield_now};
use futures::future::{Either, select};

use crate::util::{Sched, run_all, run_err, run_ok};

#[test]
fn broadcast_delivers_every_value_to_every_receiver_in_order() {
    for (sched, got) in run_all(|| async {
        let (tx, rx) = broadcast::channel::<u32>(16);
        let readers: Vec<_> = (0..3)
            .map(|i| {
                let mut rx = match i {
                    0 => rx.resubscribe(),
                    _ => tx.subscribe(),
                };
                spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        assert_eq!(tx.receiver_count(), 3);
        for i in 0..10 {
            tx.send(i).unwrap();
            if i % 3 == 0 {
                yield_now().await;
            }
        }
        drop(tx);
        let mut all = Vec::new();
        for reader in readers {
            all.push(reader.await.unwrap());
        }
        all
    }) {
        for got in got {
            assert_eq!(got, (0..10).collect::<Vec<_>>(), "{sched:?}");
        }
    }
}

#[test]
fn a_broadcast_receiver_that_falls_behind_lags_and_resumes_at_the_oldest_value() {
    run_ok(Sched::Fifo, async {
        // Capacity 3 rounds up to 4, as tokio's.
        let (tx, mut rx) = broadcast::channel::<u32>(3);
        let mut late = tx.subscribe();
        for i in 0..6 {
            assert_eq!(tx.send(i).unwrap(), 2);
        }
        assert_eq!(rx.len(), 6);
        assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Lagged(2)));
        assert_eq!(rx.recv().await, Ok(2));
        assert_eq!(
            late.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(2))
        );
        assert_eq!(late.try_recv(), Ok(2));
        assert_eq!(tx.len(), 3, "values 3..6 not yet seen by both");
        drop(late);
        assert_eq!(tx.len(), 3, "rx has not seen them either");
        for expected in 3..6 {
            assert_eq!(rx.recv().await, Ok(expected));
        }
        assert!(tx.is_empty());
        assert_eq!(rx.try_recv(), Err(broadcast::error::TryRecvError::Empty));
        drop(tx);
        assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Closed));
        assert!(rx.is_closed());
    });
}

#[test]
fn a_broadcast_value_is_dropped_once_every_receiver_saw_it() {
    run_ok(Sched::Fifo, async {
        #[derive(Clone)]
        struct Counted(Rc<Cell<u32>>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let drops = Rc::new(Cell::new(0));
        let (tx, mut a) = broadcast::channel::<Counted>(4);
        let mut b = tx.subscribe();
        let _ = tx.send(Counted(drops.clone()));
        drop(a.recv().await.unwrap());
        assert_eq!(drops.get(), 1, "the clone a received");
        drop(b.recv().await.unwrap());
        assert_eq!(
            drops.get(),
            3,
            "b's clone, and the kept value once both saw it"
        );
        let _ = tx.send(Counted(drops.clone()));
        drop((a, b));
        assert_eq!(
            drops.get(),
            4,
            "dropping the receivers drops what they did not see"
        );
        assert!(tx.send(Counted(drops.clone())).is_err(), "no receiver");
        tx.closed().await;
    });
}

#[test]
fn broadcast_recv_is_cancellation_safe_in_a_select() {
    for (sched, got) in run_all(|| async {
        let (tx, mut rx) = broadcast::channel::<u32>(64);
        spawn(async move {
            for i in 0..20 {
                if detsim_runtime::random::<bool>() {
                    time::sleep(Duration::from_millis(3)).await;
                }
                tx.send(i).unwrap();
            }
        });
        let mut got = Vec::new();
        loop {
            let tick = time::sleep(Duration::from_millis(1));
            match select(Box::pin(rx.recv()), Box::pin(tick)).await {
                Either::Left((Ok(i), _)) => got.push(i),
                Either::Left((Err(_), _)) => break,
                Either::Right(_) => {}
            }
        }
        got
    }) {
        assert_eq!(got, (0..20).collect::<Vec<_>>(), "{sched:?}");
    }
}

#[test]
fn watch_versions_changed_and_borrow_and_update() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = watch::channel(0u32);
        assert!(!rx.has_changed().unwrap());
        assert!(!rx.borrow().has_changed());
        tx.send(1).unwrap();
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow().has_changed(), "borrow does not mark it seen");
        {
            let seen = rx.borrow_and_update();
            assert!(seen.has_changed());
            assert_eq!(*seen, 1);
        }
        assert!(!rx.has_changed().unwrap());
        rx.mark_changed();
        rx.changed().await.unwrap();
        assert!(
            !tx.send_if_modified(|_| false),
            "not modified: no new version"
        );
        assert!(!rx.has_changed().unwrap());
        tx.send_modify(|v| *v += 1);
        let mut second = tx.subscribe();
        assert!(
            !second.has_changed().unwrap(),
            "a new receiver saw the current value"
        );
        rx.mark_unchanged();
        assert_eq!(tx.send_replace(7), 2);
        assert_eq!(*second.borrow_and_update(), 7);
        assert_eq!(*rx.wait_for(|v| *v == 7).await.unwrap(), 7);
        let waiter = spawn(async move { *second.wait_for(|v| *v >= 10).await.unwrap() });
        for v in 8..12 {
            tx.send(v).unwrap();
            yield_now().await;
        }
        assert_eq!(waiter.await.unwrap(), 10);
        drop(tx);
        assert!(rx.has_changed().is_err());
        assert!(
            rx.changed().await.is_ok(),
            "a change not yet seen comes first"
        );
        assert!(rx.changed().await.is_err());
    });
}

#[test]
fn watch_changed_wakes_every_receiver_and_closed_waits_for_the_last() {
    for (sched, seen) in run_all(|| async {
        let (tx, rx) = watch::channel(0u32);
        let watchers: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = rx.clone();
                spawn(async move {
                    let mut seen = Vec::new();
                    while rx.changed().await.is_ok() {
                        let v = *rx.borrow_and_update();
                        seen.push(v);
                        if v == 5 {
                            break;
                        }
                    }
                    seen
                })
            })
            .collect();
        drop(rx);
        yield_now().await;
        for v in 1..=5 {
            tx.send(v).unwrap();
        }
        // Every watcher sees 5 and drops its receiver: then the sender is closed.
        tx.closed().await;
        assert!(tx.is_closed());
        assert!(tx.send(6).is_err(), "no receiver");
        let mut seen = Vec::new();
        for w in watchers {
            seen.push(w.await.unwrap());
        }
        seen
    }) {
        for s in seen {
            // Each saw the last value (maybe without the intermediate ones).
            assert_eq!(s.last(), Some(&5), "{sched:?}");
        }
    }
}

#[test]
fn setting_a_watch_value_while_a_ref_is_held_panics_clearly_in_a_simulation() {
    let error = run_err(Sched::Fifo, async {
        let (tx, rx) = watch::channel(0u32);
        let held = rx.borrow();
        tx.send(1).unwrap();
        drop(held);
    });
    assert!(
        error
            .message()
            .contains("while a `watch::Ref` of it is held"),
        "{}",
        error.message()
    );
}

#[test]
fn tasks_waiting_on_broadcast_and_watch_are_reported_where_they_wait() {
    let error = run_err(Sched::Fifo, async {
        let (_btx, mut brx) = broadcast::channel::<u32>(4);
        let (_wtx, mut wrx) = watch::channel(0u32);
        task::Builder::new().name("alice").spawn(async move {
            let _ = brx.recv().await;
        });
        task::Builder::new().name("bob").spawn(async move {
            let _ = wrx.changed().await;
        });
        let (_tx, rx) = oneshot::channel::<()>();
        let _ = rx.await;
    });
    let message = error.message();
    for part in [
        format!("t1 alice (spawned at {}", file!()),
        format!("waits in broadcast::Receiver::recv ({}", file!()),
        format!("waits in watch::Receiver::changed ({}", file!()),
    ] {
        assert!(message.contains(&part), "missing {part:?} in:\n{message}");
    }
    assert!(!message.contains("foreign"), "{message}");
}

#[test]
fn once_cell_runs_one_initializer_and_hands_over_in_order_when_cancelled() {
    for (sched, (value, runs)) in run_all(|| async {
        let cell = std::sync::Arc::new(detsim_runtime::sync::OnceCell::<u32>::new());
        let runs = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (cell, runs) = (cell.clone(), runs.clone());
                spawn(async move {
                    *cell
                        .get_or_init(|| async move {
                            runs.set(runs.get() + 1);
                            time::sleep(Duration::from_millis(1)).await;
                            i
                        })
                        .await
                })
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
        (values[0], runs.get())
    }) {
        assert_eq!(runs, 1, "{sched:?}");
        assert!(value < 4, "{sched:?}");
    }
    let order = run_ok(Sched::Fifo, async {
        let cell = std::sync::Arc::new(detsim_runtime::sync::OnceCell::<&str>::new());
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let spawn_init = |name: &'static str| {
            let (cell, order) = (cell.clone(), order.clone());
            spawn(async move {
                *cell
                    .get_or_init(|| async move {
                        order.borrow_mut().push(name);
                        time::sleep(Duration::from_secs(1)).await;
                        name
                    })
                    .await
            })
        };
        let first = spawn_init("first");
        let second = spawn_init("second");
        let third = spawn_init("third");
        yield_now().await;
        assert!(matches!(
            cell.set("x"),
            Err(detsim_runtime::sync::SetError::InitializingError("x"))
        ));
        first.abort();
        assert_eq!(second.await.unwrap(), "second");
        assert_eq!(third.await.unwrap(), "second");
        assert!(cell.set("y").unwrap_err().is_already_init_err());
        order.borrow().clone()
    });
    assert_eq!(order, ["first", "second"]);
}

#[test]
fn set_once_wakes_every_waiter_and_waits_are_reported() {
    run_ok(Sched::Fifo, async {
        let cell = std::sync::Arc::new(detsim_runtime::sync::SetOnce::<u32>::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let cell = cell.clone();
                spawn(async move { *cell.wait().await })
            })
            .collect();
        yield_now().await;
        cell.set(4).unwrap();
        assert_eq!(cell.set(5), Err(detsim_runtime::sync::SetOnceError(5)));
        for w in waiters {
            assert_eq!(w.await.unwrap(), 4);
        }
    });
    let error = run_err(Sched::Fifo, async {
        let cell = detsim_runtime::sync::SetOnce::<u32>::new();
        let once = detsim_runtime::sync::OnceCell::<u32>::new();
        let never = || async {
            let (_tx, rx) = oneshot::channel::<u32>();
            rx.await.unwrap()
        };
        let init = once.get_or_init(never);
        futures::future::join3(cell.wait(), init, once.get_or_init(never)).await;
    });
    let message = error.message();
    // The last wait its poll noted: the second initializer, queued behind the first.
    let part = format!("waits in OnceCell::get_or_init ({}", file!());
    assert!(message.contains(&part), "{message}");
    assert!(!message.contains("foreign"), "{message}");
}

/// `Semaphore::const_new` builds a semaphore in a `static` (its state is made at first
/// use), with the creation site a report names.
#[test]
fn a_const_semaphore_in_a_static_works_and_is_reported() {
    static PERMITS: detsim_runtime::sync::Semaphore = detsim_runtime::sync::Semaphore::const_new(1);
    let line = line!() - 1;
    let error = run_err(Sched::Fifo, async {
        let _held = PERMITS.acquire().await.unwrap();
        assert_eq!(PERMITS.available_permits(), 0);
        let _again = PERMITS.acquire().await.unwrap();
    });
    let message = error.message();
    let created = format!("the Semaphore created at {}:{line}:", file!());
    assert!(message.contains(&created), "{message}");
    assert!(message.contains("a cycle of 1"), "{message}");
}

/// Where tokio leaves the order open, receivers waiting on one channel are woken in the
/// order they began to wait (so FIFO runs them in that order).
#[test]
fn receivers_waiting_on_one_channel_wake_in_the_order_they_waited() {
    let order = run_ok(Sched::Fifo, async {
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let (btx, _) = broadcast::channel::<u32>(4);
        let (wtx, wrx) = watch::channel(0u32);
        let mut tasks = Vec::new();
        for name in ["a", "b", "c"] {
            let (mut brx, mut wrx, order) = (btx.subscribe(), wrx.clone(), order.clone());
            tasks.push(spawn(async move {
                brx.recv().await.unwrap();
                order.borrow_mut().push(format!("broadcast {name}"));
                wrx.changed().await.unwrap();
                order.borrow_mut().push(format!("watch {name}"));
            }));
        }
        yield_now().await;
        btx.send(1).unwrap();
        yield_now().await;
        wtx.send(1).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        order.borrow().clone()
    });
    assert_eq!(
        order,
        [
            "broadcast a",
            "broadcast b",
            "broadcast c",
            "watch a",
            "watch b",
            "watch c"
        ]
    );
}
