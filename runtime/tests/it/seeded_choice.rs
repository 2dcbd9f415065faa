//! Rule 4, seeded choice: same seed and program, the same trace and decisions bit for
//! bit (fresh runtime or reused); different seeds choose differently; the program's own
//! `random` stream does not depend on the scheduler.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use detsim_runtime::{
    Decision, Fifo, Random, Replay, Runtime, Trace, random, spawn, time, yield_now,
};
use futures::StreamExt;
use futures::channel::mpsc;

use crate::util::{SEEDS, Sched};

/// A program with every kind of event: nested spawns, channels, random sleeps, yields,
/// an abort and a read panic. Returns the order in which the collector heard workers.
async fn workload() -> Vec<(u32, u32)> {
    let (tx, mut rx) = mpsc::unbounded::<(u32, u32)>();
    for worker in 0..4 {
        let tx = tx.clone();
        drop(spawn(async move {
            for n in 0..4 {
                if random::<bool>() {
                    time::sleep(Duration::from_micros(random::<u64>() % 3)).await;
                }
                yield_now().await;
                tx.unbounded_send((worker, n)).unwrap();
            }
            let helper = spawn(async move { worker * 2 });
            assert_eq!(helper.await.unwrap(), worker * 2);
        }));
    }
    drop(tx);
    let doomed = spawn(async { time::sleep(Duration::from_secs(1)).await });
    let failing = spawn(async {
        yield_now().await;
        panic!("expected")
    });
    let mut heard = Vec::new();
    while let Some(message) = rx.next().await {
        heard.push(message);
    }
    doomed.abort();
    assert!(failing.await.unwrap_err().is_panic());
    heard
}

/// One traced run of [`workload`] on `rt` with `sched`'s chooser.
fn traced(rt: &mut Runtime, sched: Sched) -> (Vec<(u32, u32)>, Trace, Vec<Decision>) {
    rt.reset(sched.seed(), Some(sched.chooser()));
    rt.set_trace(true);
    let heard = rt.run(workload()).unwrap();
    (heard, rt.take_trace().unwrap(), rt.decisions())
}

#[test]
fn the_same_seed_gives_the_same_trace_and_decisions() {
    let mut reused = Runtime::new(0);
    for seed in 0..50 {
        for sched in [Sched::Random(seed), Sched::Pct(seed)] {
            let first = traced(&mut Runtime::new(seed), sched);
            let second = traced(&mut Runtime::new(seed), sched);
            assert_eq!(first.1.first_difference(&second.1), None, "under {sched:?}");
            assert_eq!(first, second, "under {sched:?}");
            // A runtime reused from run to run (as a sweep does) gives the same runs.
            assert_eq!(traced(&mut reused, sched), first, "under {sched:?}, reused");
        }
    }
}

#[test]
fn a_reused_runtime_forgets_a_failed_run() {
    let fresh = traced(&mut Runtime::new(7), Sched::Random(7));
    let mut rt = Runtime::new(0);
    // Leave everything behind: parked tasks, armed timers, stashed wakers, a panic...
    let stash: Rc<RefCell<Vec<std::task::Waker>>> = Rc::default();
    let s = stash.clone();
    rt.reset(3, None);
    let error = rt.run(async move {
        for _ in 0..5 {
            drop(spawn(time::sleep(Duration::from_secs(5))));
        }
        std::future::poll_fn(|cx| {
            s.borrow_mut().push(cx.waker().clone());
            std::task::Poll::Ready(())
        })
        .await;
        yield_now().await;
        panic!("left behind");
    });
    assert!(error.is_err());
    // ...and a deadlock.
    rt.reset(4, None);
    assert!(rt.run(std::future::pending::<()>()).is_err());
    let again = traced(&mut rt, Sched::Random(7));
    assert_eq!(again, fresh);
    // Stale wakers from earlier runs are harmless.
    stash.borrow().iter().for_each(|w| w.wake_by_ref());
    assert_eq!(traced(&mut rt, Sched::Random(7)), fresh);
}

#[test]
fn different_seeds_choose_differently() {
    let mut runs = BTreeSet::new();
    let mut decisions = BTreeSet::new();
    for seed in 0..SEEDS {
        let (heard, _, chosen) = traced(&mut Runtime::new(seed), Sched::Random(seed));
        let chosen: Vec<u32> = chosen.iter().map(|d| d.chosen).collect();
        runs.insert(heard);
        decisions.insert(chosen);
    }
    assert_eq!(
        decisions.len() as u64,
        SEEDS,
        "two seeds made the same decisions"
    );
    assert!(
        runs.len() as u64 > SEEDS * 9 / 10,
        "{} distinct runs",
        runs.len()
    );
}

#[test]
fn runtime_new_is_the_random_scheduler_of_the_seed() {
    for seed in 0..20 {
        let mut default = Runtime::new(seed);
        default.set_trace(true);
        default.run(workload()).unwrap();
        let explicit = traced(&mut Runtime::new(0), Sched::Random(seed));
        assert_eq!(default.take_trace().unwrap(), explicit.1);
    }
}

#[test]
fn fifo_makes_only_zero_decisions_and_random_covers_every_index() {
    let (_, _, decisions) = traced(&mut Runtime::new(0), Sched::Fifo);
    assert!(!decisions.is_empty());
    assert!(decisions.iter().all(|d| d.chosen == 0 && d.options >= 2));
    let mut chosen_among_three = [0u32; 3];
    for seed in 0..SEEDS {
        let (_, _, decisions) = traced(&mut Runtime::new(0), Sched::Random(seed));
        for d in decisions.iter().filter(|d| d.options == 3) {
            chosen_among_three[d.chosen as usize] += 1;
        }
    }
    assert!(
        chosen_among_three.iter().all(|&c| c > 50),
        "{chosen_among_three:?}"
    );
}

#[test]
fn replaying_the_decisions_reproduces_the_run() {
    for seed in 0..30 {
        let (heard, trace, decisions) = traced(&mut Runtime::new(0), Sched::Random(seed));
        let replay = Replay::new(decisions.iter().map(|d| d.chosen).collect());
        let mismatches = replay.mismatches();
        let mut rt = Runtime::with_chooser(seed, Box::new(replay));
        rt.set_trace(true);
        assert_eq!(rt.run(workload()).unwrap(), heard);
        assert_eq!(rt.take_trace().unwrap(), trace);
        assert_eq!(rt.decisions(), decisions);
        assert_eq!(mismatches.get(), 0);
    }
    // Decisions out of range for the program (it changed since they were recorded)
    // are clamped and counted, and the run goes on.
    let replay = Replay::new(vec![9; 50]);
    let mismatches = replay.mismatches();
    let mut rt = Runtime::with_chooser(1, Box::new(replay));
    rt.run(workload()).unwrap();
    assert!(mismatches.get() > 0);
    // An empty replay is fifo.
    let mut rt = Runtime::with_chooser(5, Box::new(Replay::new(Vec::new())));
    rt.set_trace(true);
    rt.run(workload()).unwrap();
    let mut fifo = Runtime::with_chooser(5, Box::new(Fifo));
    fifo.set_trace(true);
    fifo.run(workload()).unwrap();
    assert_eq!(rt.take_trace(), fifo.take_trace());
}

/// The values `random` gave, in the order they were drawn by three interleaved tasks.
/// The first draw comes after a number of polls that depends on the schedule.
async fn draws() -> Vec<u64> {
    let drawn = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let drawn = drawn.clone();
            spawn(async move {
                for _ in 0..i {
                    yield_now().await;
                }
                for _ in 0..5 {
                    drawn.borrow_mut().push(random());
                    yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    drawn.borrow_mut().push(random());
    drawn.take()
}

#[test]
fn user_randomness_does_not_depend_on_the_scheduler() {
    let mut per_seed = BTreeSet::new();
    for seed in 0..SEEDS {
        let mut fifo = Runtime::with_chooser(seed, Box::new(Fifo));
        let expected = fifo.run(draws()).unwrap();
        for sched in [Sched::Random(seed), Sched::Pct(seed)] {
            let mut rt = sched.runtime();
            assert_eq!(rt.run(draws()).unwrap(), expected, "under {sched:?}");
        }
        let mut random_rt = Runtime::with_chooser(seed, Box::new(Random::new(seed ^ 0xff)));
        assert_eq!(random_rt.run(draws()).unwrap(), expected);
        per_seed.insert(expected);
    }
    assert_eq!(
        per_seed.len() as u64,
        SEEDS,
        "two seeds drew the same values"
    );
}

#[test]
fn random_values_have_the_documented_ranges() {
    let mut rt = Runtime::new(11);
    rt.block_on(async {
        let mut saw = (false, false);
        for _ in 0..200 {
            let x: f64 = random();
            assert!((0.0..1.0).contains(&x));
            if random::<bool>() {
                saw.0 = true;
            } else {
                saw.1 = true;
            }
        }
        assert_eq!(saw, (true, true));
        let _: (u8, u16, u32, u128, i64, char) = random();
    });
}
