//! `sweep`: a tiny passing test (3 tasks × 5 yields on a shared counter) swept over many
//! seeds, detsim against shuttle's `check_random`, and detsim on two threads against one.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::measure::{clock_name, cpu_time, median_cpu_time, per_second, show};
use crate::summary::Summary;

const TASKS: u32 = 3;
const YIELDS: u32 = 5;

/// The test for detsim (the `madsim` section runs it too).
pub(crate) async fn detsim_body() {
    let counter = Rc::new(Cell::new(0u32));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let counter = Rc::clone(&counter);
            detsim::spawn(async move {
                for _ in 0..YIELDS {
                    counter.set(counter.get() + 1);
                    detsim::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a counting task completes");
    }
    assert_eq!(counter.get(), TASKS * YIELDS);
}

/// The same test for shuttle, with the same scheduling points: `spawn_local`, an
/// `Rc<Cell>` counter, `yield_now`.
fn shuttle_body() {
    shuttle::future::block_on(async {
        let counter = Rc::new(Cell::new(0u32));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let counter = Rc::clone(&counter);
                shuttle::future::spawn_local(async move {
                    for _ in 0..YIELDS {
                        counter.set(counter.get() + 1);
                        shuttle::future::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a counting task completes");
        }
        assert_eq!(counter.get(), TASKS * YIELDS);
    });
}

/// The test as one would write it for shuttle: `Send` tasks and shuttle's atomic, whose
/// every access is a scheduling point of its own (15 more per run).
fn shuttle_atomic_body() {
    use shuttle::sync::atomic::{AtomicU32, Ordering};
    shuttle::future::block_on(async {
        let counter = Arc::new(AtomicU32::new(0));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let counter = Arc::clone(&counter);
                shuttle::future::spawn(async move {
                    for _ in 0..YIELDS {
                        counter.fetch_add(1, Ordering::SeqCst);
                        shuttle::future::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a counting task completes");
        }
        assert_eq!(counter.load(Ordering::SeqCst), TASKS * YIELDS);
    });
}

/// The same test run `runs` times on tokio's current-thread runtime (one runtime for
/// every run, a `LocalSet` per run, `spawn_local`): what a run costs an executor that
/// makes no choice and records nothing.
fn tokio_runs(runs: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    for _ in 0..runs {
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            let counter = Rc::new(Cell::new(0u32));
            let handles: Vec<_> = (0..TASKS)
                .map(|_| {
                    let counter = Rc::clone(&counter);
                    tokio::task::spawn_local(async move {
                        for _ in 0..YIELDS {
                            counter.set(counter.get() + 1);
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.expect("a counting task completes");
            }
            assert_eq!(counter.get(), TASKS * YIELDS);
        });
    }
}

fn detsim_sweep(seeds: u64, jobs: usize) {
    detsim_sweep_with(seeds, jobs, detsim::Scheduler::random());
}

/// The sweep under `scheduler`.
fn detsim_sweep_with(seeds: u64, jobs: usize, scheduler: detsim::Scheduler) {
    let report = detsim::Builder::new()
        .ignore_env()
        .seeds(seeds)
        .scheduler(scheduler)
        .jobs(jobs)
        .explore(detsim_body);
    assert_eq!(report.seeds_run, seeds, "the sweep ran every seed");
    assert!(report.failure.is_none(), "the counting test passes");
}

fn shuttle_config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.silence_warnings = true;
    config
}

fn shuttle_sweep(iterations: usize, body: fn()) {
    let scheduler = shuttle::scheduler::RandomScheduler::new_from_seed(7, iterations);
    let runs = shuttle::Runner::new(scheduler, shuttle_config()).run(body);
    assert_eq!(runs, iterations, "shuttle ran every iteration");
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool, summary: &mut Summary) {
    let seeds: u64 = if quick { 100 } else { 10_000 };
    let reps = if quick { 1 } else { 5 };
    println!(
        "## sweep: {TASKS} tasks × {YIELDS} yields on a shared counter, {seeds} seeds (median of {reps})"
    );
    println!("  (median {} of each side)", clock_name());
    let detsim_one = median_cpu_time(reps, || detsim_sweep(seeds, 1));
    // The default a user gets: three seeds in four are PCT's.
    let detsim_default = median_cpu_time(reps, || {
        detsim_sweep_with(seeds, 1, detsim::Scheduler::portfolio());
    });
    let shuttle_same = median_cpu_time(reps, || shuttle_sweep(seeds as usize, shuttle_body));
    let shuttle_atomic =
        median_cpu_time(reps, || shuttle_sweep(seeds as usize, shuttle_atomic_body));
    let tokio = median_cpu_time(reps, || tokio_runs(seeds));
    let row = |name: &str, time: Duration| {
        println!(
            "  {name:<44} {:>10}  {:>10.0} seeds/s  detsim is {:.1}× this",
            show(time),
            per_second(time, seeds),
            time.as_secs_f64() / detsim_one.as_secs_f64()
        );
    };
    row("detsim explore, jobs(1), random", detsim_one);
    row("detsim explore, jobs(1), default portfolio", detsim_default);
    row("shuttle check_random (spawn_local, Cell)", shuttle_same);
    row("shuttle check_random (spawn, atomics)", shuttle_atomic);
    row("tokio current_thread, no choice (reference)", tokio);
    let ratio = shuttle_same.as_secs_f64() / detsim_one.as_secs_f64();
    summary.add(
        "tiny test seeds/s, detsim / shuttle check_random".to_owned(),
        ratio,
        "≥ 20",
        ratio >= 20.0,
    );
    summary.add(
        "tiny test, tokio runs/s / shuttle seeds/s (reference)".to_owned(),
        shuttle_same.as_secs_f64() / tokio.as_secs_f64(),
        "(none)",
        true,
    );

    parallel(quick, summary);
}

/// The sweep on two threads against one, alternated, on four times the seeds.
pub(crate) fn parallel(quick: bool, summary: &mut Summary) {
    let seeds: u64 = if quick { 100 } else { 10_000 };
    // More seeds and repetitions: two threads are at the mercy of whatever else the
    // machine runs, so the CPU time each side burns is reported too: seeds per
    // CPU-second equal on both sides means the threads cost nothing extra, and the
    // wall-clock speed-up is then what the machine had free.
    let parallel_seeds = seeds * 4;
    let parallel_reps = if quick { 1 } else { 11 };
    println!(
        "  detsim jobs(2) against jobs(1), {parallel_seeds} seeds (median of {parallel_reps}):"
    );
    // Alternate the two, so that a change of load on the machine hits both alike; the
    // speed-up is the median of the pairs' ratios.
    detsim_sweep(parallel_seeds, 2);
    let mut walls = [Vec::new(), Vec::new()];
    let mut cpus = [Duration::ZERO, Duration::ZERO];
    let mut ratios = Vec::new();
    for _ in 0..parallel_reps {
        for (side, jobs) in [(0, 1), (1, 2)] {
            let cpu_before = cpu_time();
            let start = std::time::Instant::now();
            detsim_sweep(parallel_seeds, jobs);
            walls[side].push(start.elapsed());
            if let (Some(before), Some(after)) = (cpu_before, cpu_time()) {
                cpus[side] += after - before;
            }
        }
        let n = walls[0].len() - 1;
        ratios.push(walls[0][n].as_secs_f64() / walls[1][n].as_secs_f64());
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2]
    };
    let (one, two) = (median(&mut walls[0]), median(&mut walls[1]));
    let seeds_total = parallel_seeds * parallel_reps as u64;
    let per_cpu = |cpu: Duration| (!cpu.is_zero()).then(|| per_second(cpu, seeds_total));
    let (one_cpu, two_cpu) = (per_cpu(cpus[0]), per_cpu(cpus[1]));
    let cpu_note = |per_cpu: Option<f64>| {
        per_cpu.map_or_else(String::new, |rate| format!("  {rate:>10.0} seeds/CPU-s"))
    };
    println!(
        "  {:<44} {:>10}  {:>10.0} seeds/s{}",
        "jobs(1)",
        show(one),
        per_second(one, parallel_seeds),
        cpu_note(one_cpu)
    );
    println!(
        "  {:<44} {:>10}  {:>10.0} seeds/s{}",
        "jobs(2)",
        show(two),
        per_second(two, parallel_seeds),
        cpu_note(two_cpu)
    );
    ratios.sort_by(f64::total_cmp);
    let speed_up = ratios[ratios.len() / 2];
    println!(
        "  speed-up jobs(2)/jobs(1) = {speed_up:.2}× wall, median of {} alternating pairs \
         (available parallelism: {}; load average before: {})",
        ratios.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
    summary.add(
        "sweep jobs(2) / jobs(1), wall".to_owned(),
        speed_up,
        "≥ 1.9",
        speed_up >= 1.9,
    );
    if let (Some(one_cpu), Some(two_cpu)) = (one_cpu, two_cpu) {
        // 1.0: two threads do the same work per seed as one, so the wall-clock speed-up
        // is bounded only by the cores the machine has free.
        summary.add(
            "sweep jobs(2) / jobs(1), seeds per CPU-second".to_owned(),
            two_cpu / one_cpu,
            "(≈ 1.0)",
            two_cpu / one_cpu >= 0.9,
        );
    }
}

/// The machine's 1-minute load average (`/proc/loadavg`), or `?`.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// One sweep alone, for a profiler.
pub(crate) fn profile(seeds: u64, jobs: usize, pct: bool) {
    match pct {
        true => detsim_sweep_with(seeds, jobs, detsim::Scheduler::pct(3)),
        false => detsim_sweep(seeds, jobs),
    }
}

/// The tiny test under each of detsim's schedulers, median seeds per second of `reps`.
pub(crate) fn profile_schedulers(seeds: u64, reps: u64) {
    for (name, scheduler) in [
        ("random", detsim::Scheduler::random()),
        ("pct:3", detsim::Scheduler::pct(3)),
        ("portfolio", detsim::Scheduler::portfolio()),
    ] {
        let time = median_cpu_time(reps.max(1) as usize, || {
            detsim_sweep_with(seeds, 1, scheduler);
        });
        println!("{name}: {:.0} seeds/s", per_second(time, seeds));
    }
}

/// Two tasks that yield to each other `polls / 2` times each, on the random scheduler,
/// run as a sweep runs a seed (no trace, no wait sites, no decision list): nearly every
/// poll is the executor's bookkeeping, a decision between two ready tasks and one
/// `yield_now`.
pub(crate) fn yields(polls: u64) {
    let mut rt = detsim_runtime::Runtime::new(7);
    rt.set_wait_sites(false);
    rt.set_record_decisions(false);
    rt.block_on(async move {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                detsim::spawn(async move {
                    for _ in 0..polls / 2 {
                        detsim::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a yielding task completes");
        }
    });
    assert!(rt.polls() >= polls, "every yield was a poll");
}
