//! `detsim_runtime::sync`: tokio's semantics (fairness, write preference, cancellation,
//! closing, notifications), and deadlock reports that name who holds what.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::sync::Arc;

use detsim_runtime::sync::{Barrier, Mutex, Notify, RwLock, Semaphore, TryAcquireError};
use detsim_runtime::{Runtime, spawn, task, yield_now};

use crate::util::{Sched, run_all, run_err, run_ok, schedules};

/// Each of `parts` occurs in `message`, in this order.
fn assert_in_order(message: &str, parts: &[String]) {
    let mut from = 0;
    for part in parts {
        match message[from..].find(part.as_str()) {
            Some(i) => from += i + part.len(),
            None => panic!("missing {part:?} (in this order) in:\n{message}"),
        }
    }
}

/// `file:line:` of this file.
fn at(line: u32) -> String {
    format!("{}:{line}:", file!())
}

/// Asserts that `message` says, in order, what alice and bob each hold (acquired
/// where), where each waits, and for whose Mutex; `lines` are alice's acquiring and
/// waiting lines, then bob's.
fn assert_holds_and_waits(message: &str, lines: [u32; 4]) {
    let [alice_holds, alice_waits, bob_holds, bob_waits] = lines;
    assert_in_order(
        message,
        &[
            format!(
                "\n  t1 alice holds the Mutex acquired at {}",
                at(alice_holds)
            ),
            format!(" and waits at {}", at(alice_waits)),
            format!(
                " for the Mutex held by t2 bob (acquired at {}",
                at(bob_holds)
            ),
            format!("\n  t2 bob holds the Mutex acquired at {}", at(bob_holds)),
            format!(" and waits at {}", at(bob_waits)),
            format!(
                " for the Mutex held by t1 alice (acquired at {}",
                at(alice_holds)
            ),
        ],
    );
}

#[test]
fn a_lock_order_deadlock_on_mutexes_names_holders_sites_and_the_cycle() {
    let lines = Rc::new(RefCell::new([0u32; 4]));
    let l = lines.clone();
    let error = run_err(Sched::Fifo, async move {
        let a = Arc::new(Mutex::new(0));
        let b = Arc::new(Mutex::new(0));
        let (a2, b2, l2) = (a.clone(), b.clone(), l.clone());
        let alice = task::Builder::new().name("alice").spawn(async move {
            let (_a, line) = (a.lock().await, line!());
            l.borrow_mut()[0] = line;
            yield_now().await;
            l.borrow_mut()[1] = line!() + 1;
            let _b = b.lock().await;
        });
        let bob = task::Builder::new().name("bob").spawn(async move {
            let (_b, line) = (b2.lock().await, line!());
            l2.borrow_mut()[2] = line;
            yield_now().await;
            l2.borrow_mut()[3] = line!() + 1;
            let _a = a2.lock().await;
        });
        alice.await.unwrap();
        bob.await.unwrap();
    });
    let message = error.message();
    let [alice_holds, alice_waits, bob_holds, bob_waits] = *lines.borrow();
    assert_holds_and_waits(&message, [alice_holds, alice_waits, bob_holds, bob_waits]);
    assert!(
        message.contains("\nwait-for cycle: t1 alice -> t2 bob -> t1 alice (a cycle of 2)\n"),
        "{message}"
    );
    assert!(!message.contains("foreign"), "{message}");
    // The blocked task's own line: what it holds, where it waits, for what, held by whom.
    assert!(
        message.contains(&format!(
            "holds the Mutex created at {}",
            at(alice_holds - 4)
        )),
        "{message}"
    );
    assert!(message.contains("waits in Mutex::lock ("), "{message}");
}

#[test]
fn a_lock_order_deadlock_on_rwlocks_write_then_read_is_a_cycle() {
    let error = run_err(Sched::Fifo, async {
        let a = Arc::new(RwLock::new(0));
        let b = Arc::new(RwLock::new(0));
        let (a2, b2) = (a.clone(), b.clone());
        let alice = task::Builder::new().name("alice").spawn(async move {
            let _a = a.write().await;
            yield_now().await;
            let _b = b.read().await;
        });
        let bob = task::Builder::new().name("bob").spawn(async move {
            let _b = b2.write().await;
            yield_now().await;
            let _a = a2.read().await;
        });
        alice.await.unwrap();
        bob.await.unwrap();
    });
    let message = error.message();
    assert!(
        message.contains("\nwait-for cycle: t1 alice -> t2 bob -> t1 alice (a cycle of 2)"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "\n  t1 alice holds the RwLock (write) acquired at {}",
            file!()
        )),
        "{message}"
    );
    assert!(
        message.contains("for the RwLock (write) held by t2 bob (acquired at"),
        "{message}"
    );
    assert!(message.contains("waits in RwLock::read ("), "{message}");
}

#[test]
fn a_lock_order_deadlock_on_semaphores_names_the_permits() {
    let error = run_err(Sched::Fifo, async {
        let a = Arc::new(Semaphore::new(1));
        let b = Arc::new(Semaphore::new(1));
        let (a2, b2) = (a.clone(), b.clone());
        let alice = task::Builder::new().name("alice").spawn(async move {
            let _a = a.acquire().await.unwrap();
            yield_now().await;
            let _b = b.acquire().await.unwrap();
        });
        let bob = task::Builder::new().name("bob").spawn(async move {
            let _b = b2.acquire_many(1).await.unwrap();
            yield_now().await;
            let _a = a2.acquire().await.unwrap();
        });
        alice.await.unwrap();
        bob.await.unwrap();
    });
    let message = error.message();
    assert!(
        message.contains("\nwait-for cycle: t1 alice -> t2 bob -> t1 alice (a cycle of 2)"),
        "{message}"
    );
    assert!(
        message.contains("\n  t1 alice holds a permit of the Semaphore acquired at"),
        "{message}"
    );
    assert!(
        message.contains("for a permit of the Semaphore held by t1 alice (acquired at"),
        "{message}"
    );
}

#[test]
fn a_task_locking_its_own_mutex_twice_is_a_cycle_of_one() {
    let error = run_err(Sched::Fifo, async {
        let m = Mutex::new(());
        let _first = m.lock().await;
        let _second = m.lock().await;
    });
    let message = error.message();
    assert!(
        message.contains("\nwait-for cycle: t0 main -> t0 main (a cycle of 1)"),
        "{message}"
    );
}

#[test]
fn lock_order_deadlocks_are_reported_with_a_cycle_under_every_schedule() {
    for sched in schedules() {
        let outcome = sched.runtime().run(async {
            let a = Arc::new(Mutex::new(0));
            let b = Arc::new(Mutex::new(0));
            let (a2, b2) = (a.clone(), b.clone());
            let alice = task::Builder::new().name("alice").spawn(async move {
                let _a = a.lock().await;
                yield_now().await;
                let _b = b.lock().await;
            });
            let bob = task::Builder::new().name("bob").spawn(async move {
                let _b = b2.lock().await;
                yield_now().await;
                let _a = a2.lock().await;
            });
            alice.await.unwrap();
            bob.await.unwrap();
        });
        if let Err(error) = outcome {
            let message = error.message();
            assert!(
                message.contains("wait-for cycle: t1 alice -> t2 bob -> t1 alice (a cycle of 2)"),
                "{sched:?}: {message}"
            );
        }
    }
}

#[test]
fn a_mutex_is_granted_in_the_order_tasks_asked_for_it() {
    for (sched, (asked, got)) in run_all(|| async {
        let m = Arc::new(Mutex::new(Vec::new()));
        let asked = Rc::new(RefCell::new(Vec::new()));
        let guard = m.lock().await;
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let (m, asked) = (m.clone(), asked.clone());
                spawn(async move {
                    for _ in 0..i % 3 {
                        yield_now().await;
                    }
                    asked.borrow_mut().push(i);
                    m.lock().await.push(i);
                })
            })
            .collect();
        for _ in 0..5 {
            yield_now().await;
        }
        drop(guard);
        for handle in handles {
            handle.await.unwrap();
        }
        let got = m.lock().await.clone();
        let asked = asked.borrow().clone();
        (asked, got)
    }) {
        assert_eq!(asked, got, "{sched:?}");
    }
}

#[test]
fn a_waiting_writer_holds_back_later_readers() {
    run_ok(Sched::Fifo, async {
        let lock = Arc::new(RwLock::new(0));
        let reader = lock.read().await;
        let l = lock.clone();
        let writer = spawn(async move {
            *l.write().await += 1;
        });
        yield_now().await; // the writer queues behind the reader
        assert!(
            lock.try_read().is_err(),
            "a reader may not pass a waiting writer"
        );
        let l = lock.clone();
        let late_reader = spawn(async move { *l.read().await });
        yield_now().await;
        drop(reader);
        writer.await.unwrap();
        assert_eq!(late_reader.await.unwrap(), 1, "the writer went first");
    });
}

#[test]
fn acquire_many_at_the_head_holds_back_smaller_requests_and_cancelling_it_frees_them() {
    run_ok(Sched::Fifo, async {
        let sem = Arc::new(Semaphore::new(2));
        let two = sem.acquire_many(2).await.unwrap();
        let s = sem.clone();
        let big = spawn(async move { s.acquire_many(3).await.map(|p| p.forget()) });
        yield_now().await;
        two.forget();
        sem.add_permits(2); // two of the three the head waits for
        assert_eq!(sem.available_permits(), 0, "assigned to the head waiter");
        assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::NoPermits));
        let s = sem.clone();
        let small = spawn(async move { s.acquire().await.is_ok() });
        yield_now().await;
        assert!(!small.is_finished(), "queued behind the big request");
        big.abort();
        assert!(
            small.await.unwrap(),
            "the big request's permits went to the next"
        );
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn closing_a_semaphore_fails_its_waiters() {
    run_ok(Sched::Fifo, async {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let waiter = spawn(async move { s.acquire_owned().await.is_err() });
        yield_now().await;
        sem.close();
        assert!(waiter.await.unwrap());
        assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::Closed));
        assert!(sem.is_closed());
    });
}

#[test]
fn notify_one_stores_a_permit_and_notify_waiters_wakes_all() {
    run_all(|| async {
        let notify = Arc::new(Notify::new());
        notify.notify_one();
        notify.notified().await; // the stored permit
        let waiting = Rc::new(std::cell::Cell::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (n, waiting) = (notify.clone(), waiting.clone());
                spawn(async move {
                    let notified = n.notified();
                    waiting.set(waiting.get() + 1);
                    notified.await
                })
            })
            .collect();
        while waiting.get() < 3 {
            yield_now().await;
        }
        notify.notify_waiters();
        for waiter in waiters {
            waiter.await.unwrap();
        }
    });
}

#[test]
fn a_barrier_releases_all_with_one_leader() {
    for (sched, leaders) in run_all(|| async {
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                spawn(async move { b.wait().await.is_leader() })
            })
            .collect();
        let mut leaders = 0;
        for handle in handles {
            leaders += usize::from(handle.await.unwrap());
        }
        leaders
    }) {
        assert_eq!(leaders, 1, "{sched:?}");
    }
}

#[test]
fn blocking_lock_inside_a_simulation_panics_clearly() {
    let error = run_err(Sched::Fifo, async {
        let m = Mutex::new(0);
        let _guard = m.blocking_lock();
    });
    let message = error.message();
    assert!(
        message.contains("Cannot block the current thread from within a runtime"),
        "{message}"
    );
    assert!(message.contains("Mutex::blocking_lock"), "{message}");
}

#[test]
fn the_primitives_work_outside_a_simulation() {
    let m = Mutex::new(1);
    *m.blocking_lock() += 1;
    assert_eq!(*futures::executor::block_on(m.lock()), 2);
    let lock = RwLock::new(3);
    assert_eq!(*lock.blocking_read(), 3);
    let sem = Semaphore::new(1);
    let permit = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_err());
    drop(permit);
    assert_eq!(sem.available_permits(), 1);
    // And a deadlock report names nothing acquired outside the run as a task.
    let mut rt = Runtime::new(1);
    let held = Arc::new(Mutex::new(0));
    let guard = held.try_lock().unwrap();
    let h = held.clone();
    let error = rt.run(async move {
        let _ = h.lock().await;
        pending::<()>().await;
    });
    drop(guard);
    let message = error.unwrap_err().message();
    assert!(
        message.contains("held by code outside the simulation's tasks"),
        "{message}"
    );
}

/// tokio's coop budget: a task that spent its budget yields at a free lock (keeping
/// it), so an always-ready loop of acquisitions lets other tasks run.
#[test]
fn a_task_whose_budget_is_spent_yields_at_a_free_lock() {
    run_ok(Sched::Fifo, async {
        let ran = Rc::new(std::cell::Cell::new(false));
        let r = ran.clone();
        let other = spawn(async move { r.set(true) });
        while detsim_runtime::coop::has_budget_remaining() {
            detsim_runtime::coop::consume_budget().await;
        }
        assert!(!ran.get(), "the budget was spent without a yield");
        let m = Mutex::new(0);
        let guard = m.lock().await;
        assert!(ran.get(), "the lock yielded first");
        assert!(m.try_lock().is_err(), "and was held meanwhile");
        drop(guard);
        other.await.unwrap();
    });
}

#[test]
fn notified_owned_moves_into_a_task_and_a_dropped_notification_passes_on() {
    run_ok(Sched::Fifo, async {
        let notify = Arc::new(Notify::new());
        let first = spawn(notify.clone().notified_owned());
        let n = notify.clone();
        let second = spawn(async move { n.notified_owned().await });
        yield_now().await; // both wait, in this order
        notify.notify_one();
        first.abort(); // notified but never polled again: the notification passes on
        second.await.unwrap();
    });
}

/// Where the root's panic happened, for a root that panics.
fn panic_site<T>(body: impl std::future::Future<Output = T>) -> String {
    let error = run_err(Sched::Fifo, async move {
        body.await;
    });
    error.location().expect("the root panicked").to_owned()
}

#[test]
fn misuse_panics_at_the_callers_line() {
    let line = line!() + 1;
    let site = panic_site(async { RwLock::with_max_readers(0, (u32::MAX >> 3) + 1) });
    assert!(site.starts_with(&at(line)), "{site}");

    let site = panic_site(async {
        let (one, two) = (Semaphore::new(1), Semaphore::new(1));
        let mut permit = one.try_acquire().unwrap();
        permit.merge(two.try_acquire().unwrap());
    });
    assert!(site.starts_with(&at(line + 6)), "{site}");

    let site = panic_site(async {
        let (one, two) = (Arc::new(Semaphore::new(1)), Arc::new(Semaphore::new(1)));
        let mut permit = one.try_acquire_owned().unwrap();
        permit.merge(two.try_acquire_owned().unwrap());
    });
    assert!(site.starts_with(&at(line + 13)), "{site}");

    let site = panic_site(async { Semaphore::new(0).add_permits(usize::MAX) });
    assert!(site.starts_with(&at(line + 17)), "{site}");
}
