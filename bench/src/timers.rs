//! `timers`: 1,000 tasks sleeping random durations of up to 10 s of simulated time.

use std::time::Duration;

use crate::measure::{median_time, ns_per, show};

/// The sleep durations: a fixed pseudo-random list (SplitMix64), the same for both sides
/// (and for the `madsim` section's, whose madsim side has a copy of this function).
pub(crate) fn durations(tasks: usize) -> Vec<Duration> {
    let mut state = 0x5eed_u64;
    (0..tasks)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            Duration::from_micros(1 + z % 10_000_000)
        })
        .collect()
}

/// detsim's virtual time.
fn detsim(durations: &[Duration]) -> Duration {
    let durations = durations.to_vec();
    detsim_runtime::Runtime::new(11).block_on(async move {
        let start = detsim::time::now();
        let handles: Vec<_> = durations
            .into_iter()
            .map(|d| detsim::spawn(detsim::time::sleep(d)))
            .collect();
        for handle in handles {
            handle.await.expect("a sleeper completes");
        }
        detsim::time::now() - start
    })
}

/// tokio with a paused clock, which jumps ahead whenever the runtime is idle.
fn tokio_paused(durations: &[Duration]) -> Duration {
    let durations = durations.to_vec();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused current-thread runtime builds");
    runtime.block_on(async move {
        let start = tokio::time::Instant::now();
        let handles: Vec<_> = durations
            .into_iter()
            .map(|d| tokio::spawn(tokio::time::sleep(d)))
            .collect();
        for handle in handles {
            handle.await.expect("a sleeper completes");
        }
        start.elapsed()
    })
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool) {
    let tasks = if quick { 50 } else { 1_000 };
    let reps = if quick { 3 } else { 21 };
    let durations = durations(tasks);
    let longest = durations.iter().max().copied().unwrap_or_default();
    println!("## timers: {tasks} tasks sleeping random durations up to 10 s (median of {reps})");
    let simulated = detsim(&durations);
    let paused = tokio_paused(&durations);
    println!(
        "  simulated span: detsim {:.3} s, tokio {:.3} s (longest sleep {:.3} s)",
        simulated.as_secs_f64(),
        paused.as_secs_f64(),
        longest.as_secs_f64()
    );
    let ours = median_time(reps, || detsim(&durations));
    let theirs = median_time(reps, || tokio_paused(&durations));
    println!("  {:<28} {:>10}", "detsim virtual time", show(ours));
    println!("  {:<28} {:>10}", "tokio start_paused(true)", show(theirs));
    println!(
        "  detsim/tokio wall time = {:.2}",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );

    // O(log n) timers: the cost per sleeper should grow slowly with their number.
    let sizes: &[usize] = if quick {
        &[10, 100]
    } else {
        &[1_000, 10_000, 100_000]
    };
    println!("  scaling, ns per sleeper (spawn, sleep, wake, join):");
    for &n in sizes {
        let durations = self::durations(n);
        let reps = if n >= 100_000 { 5 } else { reps };
        let ours = median_time(reps, || detsim(&durations));
        let theirs = median_time(reps, || tokio_paused(&durations));
        println!(
            "    n = {n:>7}: detsim {:>7.1} ns, tokio {:>7.1} ns, detsim/tokio = {:.2}",
            ns_per(ours, n as u64),
            ns_per(theirs, n as u64),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
}
