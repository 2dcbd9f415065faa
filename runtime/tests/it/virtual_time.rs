//! Rule 5, virtual time: time stands still while any task is ready; when none is, the
//! clock jumps to the earliest timer and every timer due then fires together (under
//! fifo in arming order); no sleeper wakes before its deadline.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use detsim_runtime::time::{self, Elapsed, Instant};
use detsim_runtime::trace::EventKind;
use detsim_runtime::{random, spawn, yield_now};
use futures::StreamExt;
use futures::future::{Either, select};

use crate::util::{Sched, run_all, run_err, run_ok, schedules};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn sleep_advances_the_clock_by_exactly_the_duration() {
    run_all(|| async {
        let start = time::now();
        assert_eq!(start, Instant::START);
        time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(time::now() - start, Duration::from_millis(1500));
        time::sleep(Duration::from_secs(3600 * 24 * 365)).await; // a year, at once
        assert_eq!(
            time::now() - start,
            Duration::from_millis(1500) + secs(3600 * 24 * 365)
        );
    });
}

#[test]
fn sleep_until_wakes_at_the_deadline_and_a_past_deadline_yields_once() {
    run_ok(Sched::Fifo, async {
        let deadline = time::now() + secs(10);
        time::sleep_until(deadline).await;
        assert_eq!(time::now(), deadline);
        // A deadline already reached yields once, as asyncio's `sleep(0)`: the task
        // goes to the back of the ready tasks (under FIFO the bystander runs first),
        // and the clock does not move.
        for elapsed in [
            time::sleep_until(deadline - secs(5)),
            time::sleep_until(deadline),
            time::sleep(Duration::ZERO),
        ] {
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            let bystander = spawn(async move { r.set(true) });
            elapsed.await;
            assert!(ran.get(), "an elapsed sleep did not yield");
            assert_eq!(time::now(), deadline);
            bystander.await.unwrap();
        }
    });
}

/// Two tasks ping-ponging on `sleep(Duration::ZERO)` interleave strictly under FIFO,
/// as two asyncio tasks on `sleep(0)` do.
#[test]
fn zero_sleeps_interleave_two_tasks_strictly_under_fifo() {
    run_ok(Sched::Fifo, async {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let task = |name: char| {
            let log = log.clone();
            spawn(async move {
                for _ in 0..3 {
                    log.borrow_mut().push(name);
                    time::sleep(Duration::ZERO).await;
                }
            })
        };
        let (a, b) = (task('a'), task('b'));
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(*log.borrow(), ['a', 'b', 'a', 'b', 'a', 'b']);
    });
}

/// A loop of `sleep(ZERO)` waiting for another task lets it run; one that spins
/// forever is a livelock the poll budget stops.
#[test]
fn a_zero_sleep_loop_lets_others_run_and_a_spinning_one_is_a_livelock() {
    run_all(|| async {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let worker = spawn(async move { d.set(true) });
        while !done.get() {
            time::sleep(Duration::ZERO).await;
        }
        worker.await.unwrap();
    });
    let mut rt = detsim_runtime::Runtime::new(1);
    rt.set_max_polls(1_000);
    let error = rt
        .run(async {
            loop {
                time::sleep(Duration::ZERO).await;
            }
        })
        .unwrap_err();
    assert!(
        matches!(error, detsim_runtime::RunError::Livelock { .. }),
        "{error}"
    );
}

/// Under tokio's rule (the facade's `sleep`), a poll completes up to
/// `READY_SLEEPS_PER_POLL` elapsed sleeps at once (its coop budget), and the next one
/// yields.
#[test]
fn coop_sleeps_complete_at_once_within_the_budget_then_yield() {
    run_ok(Sched::Fifo, async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let bystander = spawn(async move { r.set(true) });
        for _ in 0..time::READY_SLEEPS_PER_POLL {
            time::sleep_until_coop(time::now()).await;
        }
        assert!(!ran.get(), "a sleep within the budget yielded");
        time::sleep_until_coop(time::now()).await;
        assert!(ran.get(), "the sleep over the budget did not yield");
        bystander.await.unwrap();
    });
}

#[test]
fn instant_arithmetic() {
    run_ok(Sched::Fifo, async {
        let a = time::now();
        let b = a + secs(5);
        assert_eq!(b - a, secs(5));
        assert_eq!(b - secs(5), a);
        assert!(a < b);
        assert_eq!(a.max(b), b);
        let mut c = b;
        c += secs(1);
        c -= secs(2);
        assert_eq!(c, a + secs(4));
        assert_eq!(c.duration_since(a), secs(4));
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert_eq!(a.checked_sub(secs(1)), None);
        assert_eq!(b.since_start(), secs(5));
        assert_eq!(format!("{b:?}"), "Instant(5s)");
        let copy = b; // Copy
        assert_eq!(copy, b);
        time::sleep_until(b).await;
        assert_eq!(a.elapsed(), secs(5));
    });
    // Instant − later Instant is a bug in the caller: it panics.
    let (a, b) = (Instant::START, Instant::START + secs(1));
    assert!(std::panic::catch_unwind(|| a - b).is_err());
}

#[test]
fn timeout_returns_the_output_or_elapsed_at_the_deadline() {
    run_all(|| async {
        let ok = time::timeout(secs(2), async {
            time::sleep(secs(1)).await;
            "done"
        })
        .await;
        assert_eq!(ok, Ok("done"));
        assert_eq!(time::now().since_start(), secs(1));

        let late = time::timeout(secs(2), time::sleep(secs(10))).await;
        let _: Elapsed = late.unwrap_err();
        assert_eq!(time::now().since_start(), secs(3));

        // A tie goes to the future: it is polled before the clock is checked.
        assert_eq!(time::timeout(secs(1), time::sleep(secs(1))).await, Ok(()));
        assert_eq!(time::timeout(Duration::ZERO, async { 1 }).await, Ok(1));
        let never = time::timeout(Duration::ZERO, std::future::pending::<()>()).await;
        assert!(never.is_err());
        assert_eq!(time::now().since_start(), secs(4));
        assert_eq!(never.unwrap_err().to_string(), "deadline has elapsed");
    });
}

/// The instants the clock jumped to in a traced run of `fut` under `sched`.
fn time_jumps(sched: Sched, fut: impl Future<Output = ()>) -> Vec<Duration> {
    let mut rt = sched.runtime();
    rt.set_trace(true);
    rt.run(fut).unwrap();
    let trace = rt.take_trace().unwrap();
    trace
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TimeJump { to } => Some(to),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dropped_timer_never_fires() {
    for sched in schedules() {
        let jumps = time_jumps(sched, async {
            let late = time::timeout(secs(1), time::sleep(secs(10))).await;
            assert!(late.is_err());
            drop(time::sleep(secs(5))); // created, never polled: never armed
            let mut armed = Box::pin(time::sleep(secs(7)));
            assert!(futures::poll!(armed.as_mut()).is_pending());
            drop(armed); // armed, then dropped: disarmed
            time::sleep_until(Instant::START + secs(20)).await;
        });
        assert_eq!(jumps, [secs(1), secs(20)], "under {sched:?}");
    }
}

#[test]
fn time_stands_still_while_any_task_is_ready() {
    for (sched, (spins, woke_at, spins_seen)) in run_all(|| async {
        let spins = Rc::new(RefCell::new(Vec::new()));
        let s = spins.clone();
        let spinner = spawn(async move {
            for _ in 0..100 {
                s.borrow_mut().push(time::now());
                yield_now().await;
            }
        });
        let s = spins.clone();
        let sleeper = spawn(async move {
            time::sleep(Duration::from_nanos(1)).await;
            (time::now(), s.borrow().len())
        });
        spinner.await.unwrap();
        let (woke_at, spins_seen) = sleeper.await.unwrap();
        (spins.take(), woke_at, spins_seen)
    }) {
        assert!(
            spins.iter().all(|&t| t == Instant::START),
            "under {sched:?}"
        );
        // The 1 ns timer could only fire once the spinner stopped being ready.
        assert_eq!(spins_seen, 100, "under {sched:?}");
        assert_eq!(woke_at.since_start(), Duration::from_nanos(1));
    }
}

/// What [`same_instant`] observed.
#[derive(Debug)]
struct SameInstant {
    /// Task numbers in the order they armed their timers.
    armed: Vec<usize>,
    /// Task numbers in the order they woke.
    woken: Vec<usize>,
    /// Tasks ready at the first poll after the clock jumped (from the trace).
    ready_after_jump: usize,
}

/// Six tasks arm timers for the same instant, task i after yielding 5 − i times (so,
/// under fifo, in the order 5, 4, …, 0); each checks it wakes exactly at the deadline.
fn same_instant(sched: Sched) -> SameInstant {
    let mut rt = sched.runtime();
    rt.set_trace(true);
    let (armed, woken) = rt
        .run(async {
            let armed = Rc::new(RefCell::new(Vec::new()));
            let woken = Rc::new(RefCell::new(Vec::new()));
            let deadline = Instant::START + secs(1);
            let tasks: Vec<_> = (0..6)
                .map(|i| {
                    let (armed, woken) = (armed.clone(), woken.clone());
                    spawn(async move {
                        for _ in 0..5 - i {
                            yield_now().await;
                        }
                        armed.borrow_mut().push(i);
                        time::sleep_until(deadline).await;
                        assert_eq!(time::now(), deadline);
                        woken.borrow_mut().push(i);
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            (armed.take(), woken.take())
        })
        .unwrap_or_else(|e| panic!("under {sched:?}: {e}"));
    let trace = rt.take_trace().unwrap();
    let events = trace.events();
    let jumps: Vec<usize> = (0..events.len())
        .filter(|&i| matches!(events[i].kind, EventKind::TimeJump { .. }))
        .collect();
    assert_eq!(jumps.len(), 1, "under {sched:?}: the clock jumps once");
    let ready_after_jump = events[jumps[0]..]
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Poll { ready, .. } => Some(ready),
            _ => None,
        })
        .unwrap();
    SameInstant {
        armed,
        woken,
        ready_after_jump,
    }
}

#[test]
fn under_fifo_timers_due_together_fire_in_arming_order() {
    let seen = same_instant(Sched::Fifo);
    assert_eq!(seen.armed, [5, 4, 3, 2, 1, 0]);
    assert_eq!(seen.woken, seen.armed);
    assert_eq!(seen.ready_after_jump, 6);
}

#[test]
fn timers_due_together_fire_together_and_the_scheduler_orders_them() {
    let mut orders = BTreeSet::new();
    for sched in schedules().filter(|s| *s != Sched::Fifo) {
        let seen = same_instant(sched);
        // All six are ready at once: the scheduler chooses among them.
        assert_eq!(seen.ready_after_jump, 6, "under {sched:?}");
        let mut sorted = seen.woken.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5], "under {sched:?}");
        orders.insert(seen.woken);
    }
    assert!(orders.len() > 100, "only {} wake orders", orders.len());
}

#[test]
fn no_sleeper_wakes_before_its_deadline_even_when_woken_early() {
    run_all(|| async {
        let deadline = time::now() + secs(5);
        // Wake the sleeper often, and last 1 µs and 1 ns before its deadline.
        let nags: Vec<Instant> = (1..15)
            .map(|n| Instant::START + Duration::from_millis(333 * n))
            .chain([
                deadline - Duration::from_micros(1),
                deadline - Duration::from_nanos(1),
            ])
            .collect();
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<()>();
        let nagger = spawn(async move {
            for at in nags {
                time::sleep_until(at).await;
                tx.unbounded_send(()).unwrap();
            }
        });
        let mut sleep = Box::pin(time::sleep_until(deadline));
        let mut early_wakes = 0;
        loop {
            match select(sleep.as_mut(), rx.next()).await {
                Either::Left(((), _)) => break,
                Either::Right((Some(()), _)) => {
                    assert!(time::now() < deadline);
                    early_wakes += 1;
                }
                Either::Right((None, _)) => {
                    // The nagger is done: now only the deadline can end the sleep.
                    sleep.as_mut().await;
                    break;
                }
            }
        }
        assert_eq!(time::now(), deadline);
        assert_eq!(early_wakes, 16);
        nagger.await.unwrap();
    });
}

#[test]
fn a_thousand_sleepers_wake_exactly_on_time_in_time_order() {
    let schedules = [Sched::Fifo]
        .into_iter()
        .chain((0..8).map(Sched::Random))
        .chain((0..2).map(Sched::Pct));
    for sched in schedules {
        let (wakes, latest) = run_ok(sched, async {
            let wakes = Rc::new(RefCell::new(Vec::with_capacity(1000)));
            let mut latest = Duration::ZERO;
            let mut tasks = Vec::with_capacity(1000);
            for _ in 0..1000 {
                // Up to 10 s, in whole milliseconds: many ties.
                let d = Duration::from_millis(random::<u64>() % 10_001);
                latest = latest.max(d);
                let wakes = wakes.clone();
                tasks.push(spawn(async move {
                    time::sleep(d).await;
                    assert_eq!(time::now().since_start(), d, "woke off its deadline");
                    wakes.borrow_mut().push(d);
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(time::now().since_start(), latest);
            (wakes.take(), latest)
        });
        assert_eq!(wakes.len(), 1000);
        assert!(
            wakes.is_sorted(),
            "under {sched:?}: a sleeper woke out of time order"
        );
        assert_eq!(*wakes.last().unwrap(), latest);
    }
}

#[test]
fn a_sleep_armed_by_one_task_wakes_the_task_that_awaits_it() {
    run_all(|| async {
        let (tx, rx) = futures::channel::oneshot::channel();
        let armer = spawn(async move {
            let mut sleep = Box::pin(time::sleep(secs(3)));
            assert!(futures::poll!(sleep.as_mut()).is_pending()); // armed, with our waker
            tx.send(sleep).unwrap();
        });
        let waiter = spawn(async move {
            rx.await.unwrap().await;
            time::now().since_start()
        });
        armer.await.unwrap();
        assert_eq!(waiter.await.unwrap(), secs(3));
    });
}

#[test]
fn a_duration_too_long_to_add_means_forever() {
    // `Duration::MAX` is the usual "no timeout"; tokio clamps it to a far future.
    run_all(|| async {
        assert_eq!(time::timeout(Duration::MAX, async { 1 }).await, Ok(1));
        time::sleep(secs(1)).await;
        let (tx, rx) = futures::channel::oneshot::channel::<u8>();
        let waiter = spawn(time::timeout(Duration::MAX, rx));
        time::sleep(secs(1)).await;
        tx.send(7).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(Ok(7)));
        let forever = spawn(time::sleep(Duration::MAX));
        yield_now().await;
        forever.abort();
        assert_eq!(time::now().since_start(), secs(2));
    });
}

/// With a busy clock, tasks that only spin let the clock jump to the next timer after
/// that many quiet polls (and the same seed gives the same run); without one, the
/// same program is a livelock.
#[test]
fn a_busy_clock_lets_time_pass_while_tasks_spin() {
    let program = |busy: Option<u64>| async move {
        time::advance_when_busy(busy);
        let sleeper = spawn(time::sleep(secs(1)));
        let spinner = spawn(async {
            loop {
                yield_now().await;
            }
        });
        let mut spins = 0u64;
        while !sleeper.is_finished() {
            spins += 1;
            yield_now().await;
        }
        spinner.abort();
        assert_eq!(
            time::now().since_start(),
            secs(1),
            "the timer's deadline, exactly"
        );
        spins
    };
    for sched in [Sched::Fifo, Sched::Random(3), Sched::Pct(3)] {
        let spins = run_ok(sched, program(Some(1_000)));
        assert!((400..=1_000).contains(&spins), "{sched:?}: {spins} spins");
        assert_eq!(run_ok(sched, program(Some(1_000))), spins, "{sched:?}");
    }
    let error = run_err(Sched::Fifo, program(None));
    assert!(
        matches!(error, detsim_runtime::RunError::Livelock { .. }),
        "{error}"
    );
}

/// The busy clock counts only polls without progress: tasks that keep waking each
/// other do not make time pass.
#[test]
fn a_busy_clock_waits_for_polls_without_progress() {
    run_ok(Sched::Fifo, async {
        time::advance_when_busy(Some(10));
        let timer = spawn(time::sleep(secs(1)));
        let notify = Rc::new(detsim_runtime::sync::Notify::new());
        let n = notify.clone();
        let waiter = spawn(async move {
            for _ in 0..100 {
                n.notified().await;
            }
        });
        for _ in 0..100 {
            notify.notify_one();
            yield_now().await;
        }
        waiter.await.unwrap();
        assert_eq!(
            time::now().since_start(),
            Duration::ZERO,
            "no quiet stretch yet"
        );
        timer.await.unwrap();
        assert_eq!(time::now().since_start(), secs(1));
    });
}
