//! Every reported failure is replayed in a fresh process, and the report says whether
//! it reproduced there; a replay token whose run passes says so. Each test runs this
//! test binary again as a child process, filtered to one `#[ignore]`d probe below,
//! which `check`s a body; the probe's own check then runs the binary once more, as
//! `Builder::check` does for every failure it reports.

use std::sync::atomic::{AtomicU64, Ordering};

use detsim::{Builder, FreshProcess, Scheduler, spawn, yield_now};

/// [`crate::run_probe`] for probe `name` of this module: what it printed.
fn run_probe(name: &str, vars: &[(&str, &str)]) -> String {
    crate::run_probe(&format!("fresh::{name}"), vars).1
}

/// A lost update: `t1` reads, yields, writes; `t2` yields twice, then increments at
/// once. In asyncio's (FIFO) order `t1` writes before `t2` increments; a schedule that
/// runs all of `t2` between `t1`'s read and write loses an update. Fails on some seed,
/// the same way in every process.
async fn lost_update() {
    let counter = std::rc::Rc::new(std::cell::Cell::new(0));
    let c1 = counter.clone();
    let t1 = spawn(async move {
        let read = c1.get();
        yield_now().await;
        c1.set(read + 1);
    });
    let c2 = counter.clone();
    let t2 = spawn(async move {
        yield_now().await;
        yield_now().await;
        c2.set(c2.get() + 1);
    });
    t1.await.unwrap();
    t2.await.unwrap();
    assert_eq!(counter.get(), 2, "lost update");
}

#[test]
#[ignore = "a probe run by the fresh-process tests in a child process"]
fn deterministic_failure_probe() {
    Builder::new()
        .seeds(100)
        .scheduler(Scheduler::random())
        .check(lost_update);
}

#[test]
#[ignore = "a probe run by the fresh-process tests in a child process"]
fn ignore_env_probe() {
    Builder::new()
        .ignore_env()
        .seeds(100)
        .scheduler(Scheduler::random())
        .check(lost_update);
}

/// Runs of the body in this process so far: a static shared between runs.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[test]
#[ignore = "a probe run by the fresh-process tests in a child process"]
fn static_dependent_probe() {
    Builder::new()
        .seeds(100)
        .scheduler(Scheduler::random())
        .check(|| async {
            // Fails from the third run of this process on: in the sweep, and when the
            // sweep replays the failing seed in this process, but never as the only run
            // of a fresh process.
            let run = RUNS.fetch_add(1, Ordering::Relaxed);
            yield_now().await;
            assert!(run < 2, "the cache is full");
        });
}

#[test]
fn a_deterministic_failure_reproduces_in_a_fresh_process() {
    let text = run_probe("deterministic_failure_probe", &[]);
    assert!(text.contains("lost update"), "{text}");
    assert!(text.contains("\nreproduced in a fresh process\n"), "{text}");
    assert!(!text.contains("did not reproduce"), "{text}");
}

#[test]
fn a_failure_that_depends_on_a_static_is_reported_as_not_reproducing() {
    let text = run_probe("static_dependent_probe", &[]);
    assert!(text.contains("the cache is full"), "{text}");
    assert!(
        text.contains("did not reproduce in a fresh process: the replay passed there"),
        "{text}"
    );
    assert!(
        text.contains("likely causes: a `static` shared between runs"),
        "{text}"
    );
    assert!(
        text.contains("run the seed alone, in a process of its own, with:\n    DETSIM_SEED="),
        "{text}"
    );
}

/// The child finds the failing call under `ignore_env` too (and checks nothing in a
/// child of its own).
#[test]
fn a_builder_that_ignores_the_environment_is_checked_too() {
    let text = run_probe("ignore_env_probe", &[]);
    assert!(text.contains("lost update"), "{text}");
    assert!(text.contains("\nreproduced in a fresh process\n"), "{text}");
}

#[test]
fn the_check_can_be_turned_off() {
    let text = run_probe("deterministic_failure_probe", &[("DETSIM_VERIFY", "off")]);
    assert!(text.contains("lost update"), "{text}");
    assert!(
        text.contains("not checked in a fresh process: DETSIM_VERIFY=off"),
        "{text}"
    );
}

#[test]
fn a_replay_that_passes_says_so() {
    // The failing token with its decisions dropped replays asyncio's order, under
    // which the update is not lost.
    let failing = Builder::new()
        .seeds(100)
        .scheduler(Scheduler::random())
        .explore(lost_update)
        .failure
        .expect("the lost update is found");
    let mut schedule = failing.schedule().clone();
    schedule.decisions.clear();
    let token = schedule.to_token();
    let text = run_probe("deterministic_failure_probe", &[("DETSIM_REPLAY", &token)]);
    assert!(
        text.contains("detsim: the replayed schedule passed: the failure did not reproduce"),
        "{text}"
    );
    assert!(text.contains("test result: ok"), "{text}");
}

#[test]
fn explore_leaves_the_check_to_the_caller() {
    let mut failure = Builder::new()
        .seeds(100)
        .scheduler(Scheduler::random())
        .explore(lost_update)
        .failure
        .expect("the lost update is found");
    assert_eq!(failure.fresh_process(), None);
    assert!(!failure.to_string().contains("fresh process"));
    // Checked here, the child is this test run alone: it makes the same `explore` call
    // first and replays the token there.
    assert_eq!(failure.check_in_fresh_process(), &FreshProcess::Reproduced);
    assert!(
        failure
            .to_string()
            .contains("\nreproduced in a fresh process\n")
    );
}

/// The threads the runs of a sweep ran on, by run; each run draws OS randomness when
/// `draws`, as a body that makes a `HashMap` does.
fn threads_of_runs(draws: bool) -> Vec<(std::thread::ThreadId, Option<String>)> {
    let threads = std::sync::Mutex::new(Vec::new());
    let report = Builder::new()
        .ignore_env()
        .seeds(5)
        .jobs(1)
        .scheduler(Scheduler::random())
        .explore(|| async {
            let thread = std::thread::current();
            (threads.lock().unwrap()).push((thread.id(), thread.name().map(str::to_owned)));
            if draws {
                detsim_runtime::__note_os_randomness_for_tests();
            }
            yield_now().await;
        });
    assert!(report.passed());
    threads.into_inner().unwrap()
}

/// A run after one that drew OS randomness on its thread runs on a fresh thread, named
/// as the test's (reports name the test by it); a body that never draws stays on one.
#[test]
fn a_run_after_a_draw_of_os_randomness_gets_a_fresh_thread() {
    let quiet = threads_of_runs(false);
    assert_eq!(quiet.len(), 5);
    assert!(quiet.iter().all(|(id, _)| *id == quiet[0].0), "{quiet:?}");

    let drawing = threads_of_runs(true);
    assert_eq!(drawing.len(), 5);
    let mut ids: Vec<_> = drawing.iter().map(|(id, _)| *id).collect();
    ids.sort_by_key(|id| format!("{id:?}"));
    ids.dedup();
    assert_eq!(
        ids.len(),
        5,
        "every run on a thread of its own: {drawing:?}"
    );
    let name = std::thread::current().name().map(str::to_owned);
    assert!(drawing.iter().all(|(_, n)| *n == name), "{drawing:?}");
}

/// How many times the body yields: fixed within one process, different in the child
/// process of a check, as a `static` cache filled from the process's own state is.
fn yields_of_this_process() -> u32 {
    static YIELDS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *YIELDS.get_or_init(|| match std::env::var_os("DETSIM_VERIFY_CHILD") {
        Some(_) => 3,
        None => 2,
    })
}

#[test]
#[ignore = "a probe run by the fresh-process tests in a child process"]
fn process_dependent_probe() {
    Builder::new()
        .seeds(5)
        .check_determinism(true)
        .check(|| async {
            for _ in 0..yields_of_this_process() {
                yield_now().await;
            }
        });
}

#[test]
#[ignore = "a probe run by the fresh-process tests in a child process"]
fn deterministic_passing_probe() {
    Builder::new()
        .seeds(5)
        .check_determinism(true)
        .check(|| async {
            let worker = spawn(async {
                for _ in 0..3 {
                    yield_now().await;
                }
            });
            yield_now().await;
            worker.await.unwrap();
        });
}

/// `DETSIM_CHECK_DETERMINISM=1` also compares a seed's run across two processes:
/// a run that is stable within one process but not across them fails, naming the
/// first line of the trace that differs; a deterministic body passes.
#[test]
fn the_determinism_check_compares_two_processes() {
    let text = run_probe("process_dependent_probe", &[]);
    assert!(
        text.contains("nondeterminism: seed 0x0 runs differently in two processes"),
        "{text}"
    );
    assert!(
        text.contains("this process:    ") && text.contains("a fresh process: "),
        "{text}"
    );
    assert!(text.contains("test result: FAILED"), "{text}");
    let text = run_probe("deterministic_passing_probe", &[]);
    assert!(text.contains("test result: ok"), "{text}");
}

/// The iteration order of a fresh `HashMap` of 16 keys in each run of a sweep, in
/// seed order (FIFO runs seeds in order on one thread, with no calibration run).
fn hash_orders(start: u64, seeds: u64) -> Vec<Vec<u32>> {
    let orders = std::sync::Mutex::new(Vec::new());
    let report = Builder::new()
        .ignore_env()
        .seed_start(start)
        .seeds(seeds)
        .jobs(1)
        .scheduler(Scheduler::fifo())
        .explore(|| async {
            let map: std::collections::HashMap<u32, ()> = (0..16).map(|k| (k, ())).collect();
            orders.lock().unwrap().push(map.keys().copied().collect());
            yield_now().await;
        });
    assert!(report.passed());
    orders.into_inner().unwrap()
}

/// With the OS's randomness sealed, a `HashMap`'s order is a function of the seed: seed
/// 3 iterates the same way alone and after seeds 0 to 2 ran on the same thread (whose
/// `RandomState` keys, drawn once per thread, a later run must not inherit).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_seed_iterates_a_hash_map_the_same_way_whatever_ran_before_it() {
    let after_others = hash_orders(0, 4);
    let alone = hash_orders(3, 1);
    assert_eq!(after_others[3], alone[0]);
    assert_ne!(
        after_others[2], after_others[3],
        "seeds differ in their order"
    );
}
