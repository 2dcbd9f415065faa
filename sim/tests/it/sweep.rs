//! Seed sweeps: how many seeds run, which failing seed is reported (the lowest, whatever
//! the number of threads), what a failure says, and that its seed reproduces it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use detsim::{Builder, Failure, Scheduler, random, spawn, time, yield_now};

/// Two tasks update a shared counter across an await; fails when an update is lost and
/// the program's own dice say so: both the schedule and the seed's `random` stream
/// decide which seeds fail (about one in a hundred under `random`).
async fn racy_body() {
    let counter = Rc::new(RefCell::new(0u32));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            spawn(async move {
                let read = *counter.borrow();
                yield_now().await;
                *counter.borrow_mut() = read + 1;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let dice = random::<u8>();
    let value = *counter.borrow();
    if value != 2 && dice > 251 {
        panic!("lost an update: counter is {value}, dice {dice}");
    }
}

/// The failure of exactly `seed`, if it fails.
fn run_one(seed: u64) -> Option<Failure> {
    Builder::new()
        .ignore_env()
        .seed(seed)
        .explore(racy_body)
        .failure
}

#[test]
fn a_passing_sweep_runs_every_seed_once() {
    for jobs in [1, 2] {
        let runs = AtomicU64::new(0);
        let report = Builder::new()
            .ignore_env()
            .seeds(300)
            .jobs(jobs)
            .scheduler(Scheduler::random())
            .explore(|| async {
                runs.fetch_add(1, Ordering::Relaxed);
                yield_now().await;
            });
        assert!(report.failure.is_none());
        assert_eq!(report.seeds_run, 300, "jobs({jobs})");
        assert_eq!(runs.load(Ordering::Relaxed), 300, "jobs({jobs})");
    }
    // With PCT in the mix (the default portfolio), one FIFO run before the sweep
    // measures a run's length for PCT's change points.
    let runs = AtomicU64::new(0);
    let report = Builder::new().ignore_env().seeds(300).explore(|| async {
        runs.fetch_add(1, Ordering::Relaxed);
        yield_now().await;
    });
    assert_eq!(report.seeds_run, 300);
    assert_eq!(runs.load(Ordering::Relaxed), 301);
}

#[test]
fn seed_runs_exactly_that_seed_of_the_sweep() {
    let drawn = Mutex::new(Vec::new());
    let body = || async {
        drawn.lock().unwrap().push(random::<u64>());
    };
    let random = Scheduler::random();
    let report = Builder::new()
        .ignore_env()
        .seeds(10)
        .scheduler(random)
        .explore(body);
    assert_eq!(report.seeds_run, 10);
    let sweep = std::mem::take(&mut *drawn.lock().unwrap());
    assert_eq!(sweep.len(), 10);
    let report = Builder::new()
        .ignore_env()
        .seeds(10)
        .seed(5)
        .scheduler(random)
        .explore(body);
    assert_eq!(report.seeds_run, 1);
    assert_eq!(*drawn.lock().unwrap(), [sweep[5]]);
}

#[test]
fn the_lowest_failing_seed_is_reported_whatever_the_thread_count() {
    let failing: Vec<u64> = (0..1000).filter(|&s| run_one(s).is_some()).collect();
    assert!(
        failing.len() >= 3,
        "the race should fail a few seeds: {failing:?}"
    );
    // The first failure is past the first 64-seed chunk, so two threads really race.
    assert!(failing[0] >= 64, "{failing:?}");
    let lowest = failing[0];
    let one = Builder::new()
        .ignore_env()
        .seeds(1000)
        .jobs(1)
        .explore(racy_body);
    let two = Builder::new()
        .ignore_env()
        .seeds(1000)
        .jobs(2)
        .explore(racy_body);
    for (jobs, report) in [(1, &one), (2, &two)] {
        let failure = report.failure.as_ref().expect("a seed fails");
        assert_eq!(failure.seed, lowest, "jobs({jobs})");
        assert_eq!(report.seeds_run, lowest + 1, "jobs({jobs})");
    }
    let (one, two) = (one.failure.unwrap(), two.failure.unwrap());
    assert_eq!(one.message, two.message);
    assert_eq!(one.steps, two.steps);
    assert_eq!(one.trace(), two.trace());
}

#[test]
fn a_failing_seed_reproduces_its_failure() {
    let first = Builder::new()
        .ignore_env()
        .seeds(1000)
        .explore(racy_body)
        .failure
        .unwrap();
    let again = run_one(first.seed).expect("the failing seed fails again");
    assert_eq!(again.seed, first.seed);
    assert_eq!(again.message, first.message);
    // Replaying the seed is itself deterministic, step for step.
    let third = run_one(first.seed).unwrap();
    assert_eq!(third.steps, again.steps);
    assert_eq!(third.trace(), again.trace());
    assert_eq!(third.trace().to_string(), again.trace().to_string());
}

#[test]
fn the_message_is_the_panic_message_without_decoration() {
    let report = Builder::new().ignore_env().seeds(3).explore(|| async {
        let balance: i64 = 10 - std::hint::black_box(11);
        time::sleep(Duration::from_secs(1)).await;
        assert!(
            balance >= 0,
            "balance went negative:\n  balance = {balance}"
        );
    });
    let failure = report.failure.unwrap();
    assert_eq!(failure.message, "balance went negative:\n  balance = -1");
    assert_eq!(failure.seed, 0);
}

#[test]
fn a_deadlock_names_the_blocked_tasks_the_same_way_on_every_seed() {
    let body = || async {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let waiter = detsim::task::Builder::new()
            .name("waiter")
            .spawn(async move { rx.await.unwrap() });
        let _keeps_sender = spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        waiter.await.unwrap();
    };
    let messages: Vec<String> = (0..5)
        .map(|seed| {
            Builder::new()
                .ignore_env()
                .seed(seed)
                .explore(body)
                .failure
                .unwrap()
                .message
        })
        .collect();
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:#?}");
    let message = &messages[0];
    assert!(message.starts_with("deadlock"), "{message}");
    assert!(
        message.contains("t1 waiter (spawned at sim/tests/it/sweep.rs:"),
        "{message}"
    );
    assert!(
        message.contains("t2 (spawned at sim/tests/it/sweep.rs:"),
        "{message}"
    );
    assert!(
        !message.contains("0x") && !message.contains("seed"),
        "{message}"
    );
}

#[test]
fn max_steps_turns_an_endless_run_into_a_livelock_failure() {
    let failure = Builder::new()
        .ignore_env()
        .seeds(2)
        .max_steps(50)
        .explore(|| async {
            let _spinner = spawn(async {
                loop {
                    yield_now().await;
                }
            });
            loop {
                yield_now().await;
            }
        })
        .failure
        .unwrap();
    assert_eq!(failure.steps, 50);
    assert!(
        failure.message.starts_with("livelock"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("50"), "{}", failure.message);
}

#[test]
fn steps_count_the_polls_of_the_failing_run() {
    // Under fifo: the root (spawns, parks on the handle), the task (yields), the task
    // (finishes, wakes the root), the root (panics): four polls.
    let failure = Builder::new()
        .ignore_env()
        .seeds(1)
        .scheduler(Scheduler::fifo())
        .explore(|| async {
            spawn(async { yield_now().await }).await.unwrap();
            panic!("after four polls");
        })
        .failure
        .unwrap();
    assert_eq!(failure.steps, 4);
}

/// Fails when the task spawned second runs before the one spawned first: never under
/// fifo (tasks spawned in one step start in creation order), often under the others.
async fn order_body() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (1..=2)
        .map(|n| {
            let order = order.clone();
            spawn(async move { order.borrow_mut().push(n) })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.borrow(), [1, 2], "the second task ran first");
}

#[test]
fn the_scheduler_setting_is_the_one_used() {
    let fifo = Builder::new()
        .ignore_env()
        .seeds(200)
        .scheduler(Scheduler::fifo())
        .explore(order_body);
    assert!(fifo.failure.is_none());
    for scheduler in [Scheduler::random(), Scheduler::pct(2)] {
        let report = Builder::new()
            .ignore_env()
            .seeds(200)
            .scheduler(scheduler)
            .explore(order_body);
        let failure = report.failure.expect("the order bug is found");
        assert!(failure.message.contains("the second task ran first"));
        assert!(failure.seed < 50, "{scheduler}: seed {}", failure.seed);
    }
}

/// A chooser of the user's that always runs the newest ready task.
struct Newest;

impl detsim::choice::Chooser for Newest {
    fn choose(&mut self, ready: detsim::choice::Options<'_>) -> usize {
        ready.len() - 1
    }
}

/// `Builder::chooser`: a policy of the user's drives the sweep; its failure is named
/// `custom`, shrunk, and replayed by its token like any other.
#[test]
fn a_custom_chooser_drives_the_sweep_and_its_failure_replays() {
    // Assumes the task spawned first runs first once the root yields: true in FIFO
    // order, false when the newest ready task goes first.
    let overtakes = || async {
        let log = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
        let a = spawn({
            let log = log.clone();
            async move { log.borrow_mut().push('a') }
        });
        yield_now().await;
        log.borrow_mut().push('r');
        a.await.unwrap();
        assert_eq!(*log.borrow(), "ar", "the root overtook its task");
    };
    let failure = Builder::new()
        .ignore_env()
        .ignore_env()
        .seeds(3)
        .chooser(|_seed| Box::new(Newest))
        .explore(overtakes)
        .failure
        .expect("running the newest task first lets the root overtake");
    assert_eq!(
        (failure.seed, failure.scheduler.to_string()),
        (0, "custom".to_owned())
    );
    assert!(
        failure.to_string().contains("scheduler custom"),
        "{failure}"
    );
    let again = Builder::new()
        .ignore_env()
        .ignore_env()
        .replay(&failure.replay_token(), overtakes)
        .expect_err("the token replays the failure");
    assert_eq!(again.message, failure.message);
    assert_eq!(again.trace(), failure.trace());
    // FIFO never loses it: the chooser, not the seed, made the failing schedule.
    assert!(
        Builder::new()
            .ignore_env()
            .ignore_env()
            .seeds(3)
            .scheduler(Scheduler::fifo())
            .explore(overtakes)
            .passed()
    );
}

/// A body that captures an `Rc` of the test (not `Sync`) runs with `explore_local`,
/// finds the same failure as a `Sync` body would, and reports it the same way.
#[test]
fn a_body_that_is_not_sync_sweeps_on_one_thread() {
    let bodies_built = Rc::new(std::cell::Cell::new(0u64));
    let report = Builder::new()
        .ignore_env()
        .seeds(1000)
        .scheduler(Scheduler::random())
        .explore_local(|| {
            bodies_built.set(bodies_built.get() + 1);
            racy_body()
        });
    let failure = report.failure.expect("the race fails some seed");
    let sync = Builder::new()
        .ignore_env()
        .seeds(1000)
        .scheduler(Scheduler::random())
        .jobs(1)
        .explore(racy_body)
        .failure
        .expect("the race fails some seed");
    assert_eq!((failure.seed, &failure.message), (sync.seed, &sync.message));
    assert_eq!(failure.replay_token(), sync.replay_token());
    assert!(bodies_built.get() >= report.seeds_run);
}

/// The runs of a sweep see the builder's faults, and nothing of one sweep's faults
/// reaches the next one on the same thread: the plan a failure reports is its own run's.
#[test]
fn each_sweep_runs_with_its_own_faults() {
    use detsim::cluster::{self, Faults, Plan};
    let plan_of = |faults: Option<Faults>| {
        let mut builder = Builder::new().ignore_env().seeds(1).jobs(1);
        if let Some(faults) = faults {
            builder = builder.faults(faults);
        }
        let report = builder.explore(|| async {
            cluster::node("n", || async {}).kill();
            panic!("look at the plan");
        });
        report.failure.expect("the body panics").fault_plan
    };
    let explicit = Plan {
        reorder: 0.5,
        ..Plan::NONE
    };
    for _ in 0..2 {
        assert_eq!(plan_of(Some(Faults::explicit(explicit))), Some(explicit));
        assert_eq!(plan_of(Some(Faults::none())), None);
        assert!(plan_of(None).is_some(), "swarm by default for a cluster");
    }
}

/// PCT's calibration run (one FIFO run of the body) happens once, and only when a
/// PCT seed is swept: the portfolio's seed 0 is random's, so one seed runs the body
/// once; seeds 0 and 1 (PCT's) run it three times.
#[test]
fn the_calibration_run_happens_only_for_pct_seeds() {
    let runs = |seeds: u64, jobs: usize| {
        let bodies = AtomicU64::new(0);
        let report = Builder::new()
            .ignore_env()
            .seeds(seeds)
            .jobs(jobs)
            .explore(|| {
                bodies.fetch_add(1, Ordering::Relaxed);
                async { yield_now().await }
            });
        assert!(report.passed());
        bodies.load(Ordering::Relaxed)
    };
    assert_eq!(runs(1, 1), 1, "seed 0 alone needs no calibration");
    assert_eq!(runs(2, 1), 3, "seed 1 is PCT's: one calibration run");
    assert_eq!(runs(8, 1), 9, "calibrated once for every PCT seed");
    assert_eq!(runs(200, 2), 201, "once, whatever the threads");
    let pct_only = AtomicU64::new(0);
    Builder::new()
        .ignore_env()
        .seeds(1)
        .scheduler(Scheduler::pct(3))
        .check(|| {
            pct_only.fetch_add(1, Ordering::Relaxed);
            async {}
        });
    assert_eq!(
        pct_only.load(Ordering::Relaxed),
        2,
        "a PCT seed is calibrated"
    );
}

/// A sweep that would run past `u64::MAX` is refused before any seed runs, naming both
/// settings; the last range that fits runs every seed it asks for.
#[test]
#[should_panic(expected = "the sweep's seeds would pass u64::MAX")]
fn a_seed_range_past_u64_max_is_refused() {
    Builder::new()
        .ignore_env()
        .seed_start(u64::MAX - 3)
        .seeds(10)
        .explore(|| async { unreachable!("no seed runs") });
}

#[test]
fn the_last_seed_range_that_fits_runs_every_seed() {
    let seen = std::sync::Mutex::new(Vec::new());
    let report = Builder::new()
        .ignore_env()
        .seed_start(u64::MAX - 10)
        .seeds(10)
        .jobs(1)
        .scheduler(Scheduler::random())
        .explore(|| async {
            yield_now().await;
            seen.lock().unwrap().push(detsim::random::<u8>());
        });
    assert_eq!(report.seeds_run, 10);
    assert_eq!(seen.lock().unwrap().len(), 10);
}
