//! `spawn`: spawn, run and join 10,000 trivial tasks, from a fresh runtime each time.

use std::time::Duration;

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt as _;

use crate::measure::{clock_name, median_cpu_time, ns_per, show};
use crate::summary::Summary;

/// detsim's random scheduler: `Runtime::new(seed).block_on` (the `facade` section's
/// baseline too).
pub(crate) fn detsim(tasks: u64) -> u64 {
    detsim_program(detsim_runtime::Runtime::new(7), tasks)
}

/// detsim's FIFO scheduler (asyncio's order, no decision drawn or recorded): the
/// executor alone, for reference.
fn detsim_fifo(tasks: u64) -> u64 {
    let fifo = Box::new(detsim_runtime::Fifo);
    detsim_program(detsim_runtime::Runtime::with_chooser(7, fifo), tasks)
}

fn detsim_program(mut runtime: detsim_runtime::Runtime, tasks: u64) -> u64 {
    runtime.block_on(async move {
        let handles: Vec<_> = (0..tasks)
            .map(|i| detsim::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.expect("a trivial task completes");
        }
        sum
    })
}

/// tokio's current-thread runtime, `tokio::spawn` (the tasks happen to be `Send`).
fn tokio_spawn(tasks: u64) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async move {
        let handles: Vec<_> = (0..tasks).map(|i| tokio::spawn(async move { i })).collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.expect("a trivial task completes");
        }
        sum
    })
}

/// tokio's current-thread runtime with a `LocalSet` and `spawn_local` (no `Send`, like
/// detsim's `spawn`).
fn tokio_local(tasks: u64) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let handles: Vec<_> = (0..tasks)
            .map(|i| tokio::task::spawn_local(async move { i }))
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.expect("a trivial task completes");
        }
        sum
    })
}

/// `futures::executor::LocalPool` with `spawn_local_with_handle`.
fn local_pool(tasks: u64) -> u64 {
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            spawner
                .spawn_local_with_handle(async move { i })
                .expect("the pool is alive")
        })
        .collect();
    pool.run_until(async move {
        let mut sum = 0;
        for handle in handles {
            sum += handle.await;
        }
        sum
    })
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool, summary: &mut Summary) {
    let tasks: u64 = if quick { 200 } else { 10_000 };
    let reps = if quick { 3 } else { 21 };
    println!(
        "## spawn: spawn + run + join of {tasks} trivial tasks (median {} of {reps})",
        clock_name()
    );
    let expected = tasks * (tasks - 1) / 2;
    for f in [detsim, detsim_fifo, tokio_spawn, tokio_local, local_pool] {
        assert_eq!(f(tasks), expected);
    }
    let rows: [(&str, Duration); 5] = [
        (
            "detsim Runtime (random)",
            median_cpu_time(reps, || detsim(tasks)),
        ),
        (
            "detsim Runtime (fifo, reference)",
            median_cpu_time(reps, || detsim_fifo(tasks)),
        ),
        (
            "tokio current_thread spawn",
            median_cpu_time(reps, || tokio_spawn(tasks)),
        ),
        (
            "tokio LocalSet spawn_local",
            median_cpu_time(reps, || tokio_local(tasks)),
        ),
        (
            "futures LocalPool",
            median_cpu_time(reps, || local_pool(tasks)),
        ),
    ];
    let ours = rows[0].1;
    for (name, time) in rows {
        println!(
            "  {name:<32} {:>10}  {:>7.1} ns/task  detsim/this = {:.2}",
            show(time),
            ns_per(time, tasks),
            ours.as_secs_f64() / time.as_secs_f64()
        );
    }
    println!("  (each run builds its runtime; a ratio below 1 means detsim is faster)");
    // The summary's ratio: detsim against tokio in alternating pairs, so that a drift of
    // the machine's speed during one side's 21 runs does not decide it (one run of this
    // section measured tokio 30% slow and the ratio at 0.97).
    let mut ratios: Vec<f64> = (0..reps)
        .map(|_| {
            let ours = median_cpu_time(3, || detsim(tasks));
            let theirs = median_cpu_time(3, || tokio_spawn(tasks));
            ours.as_secs_f64() / theirs.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    println!("  detsim / tokio current_thread, median of {reps} alternating pairs: {ratio:.2}");
    summary.add(
        format!("spawn-join of {tasks} tasks, detsim / tokio current_thread"),
        ratio,
        "≤ 1.0",
        ratio <= 1.0,
    );
}

/// One spawn-join alone, for a profiler; with `reps`, the median of that many runs'
/// thread CPU time per task, printed, which an A/B comparison of two builds (or a
/// sampling profiler) can use. `fifo`: with the FIFO chooser, the executor alone
/// (against the random pick, what the pick adds).
pub(crate) fn profile(tasks: u64, reps: u64, fifo: bool) {
    let run = if fifo { detsim_fifo } else { detsim };
    if reps == 0 {
        assert_eq!(run(tasks), tasks * (tasks - 1) / 2);
        return;
    }
    let time = median_cpu_time(reps as usize, || {
        assert_eq!(run(tasks), tasks * (tasks - 1) / 2);
    });
    let name = if fifo { "spawn-fifo" } else { "spawn" };
    println!("{name} {tasks}: {:.1} ns/task", ns_per(time, tasks));
}

/// tokio's side of `profile`: its median per task, for the same A/B comparisons.
pub(crate) fn profile_tokio(tasks: u64, reps: u64) {
    if reps == 0 {
        assert_eq!(tokio_spawn(tasks), tasks * (tasks - 1) / 2);
        return;
    }
    let time = median_cpu_time(reps as usize, || {
        assert_eq!(tokio_spawn(tasks), tasks * (tasks - 1) / 2);
    });
    println!("spawn-tokio {tasks}: {:.1} ns/task", ns_per(time, tasks));
}
