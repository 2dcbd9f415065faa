//! `facade`: what the tokio facade (`detsim-tokio` under `--cfg detsim`) adds to
//! detsim's own API, on the same programs in the same process: spawn + run + join of
//! 10,000 trivial tasks, and 1,000 tasks sleeping random durations. The facade's
//! `spawn` is detsim's (with tokio's bounds) and its `JoinHandle` is detsim's own, so
//! the overhead should be noise; `time::sleep` wraps detsim's `Sleep` to give tokio's
//! `Instant` and `reset`.
//!
//! Only a build with `--cfg detsim` has the simulated facade:
//! `CARGO_TARGET_DIR=target/detsim RUSTFLAGS="--cfg detsim" cargo run --release -p
//! detsim-bench facade`. Without the flag `detsim-tokio` is real tokio, and the section
//! says so.

#[cfg(not(detsim))]
pub(crate) fn run(_quick: bool, _summary: &mut crate::summary::Summary) {
    println!("## facade: the tokio facade against detsim's own API");
    println!(
        "  (needs the simulated facade: CARGO_TARGET_DIR=target/detsim \
         RUSTFLAGS=\"--cfg detsim\" cargo run --release -p detsim-bench facade)"
    );
}

#[cfg(detsim)]
pub(crate) use simulated::run;

#[cfg(detsim)]
mod simulated {
    use std::time::Duration;

    use std::hint::black_box;
    use std::time::Instant;

    use crate::measure::{ns_per, show};
    use crate::summary::Summary;

    /// The medians of `a` and `b`, timed alternately (a, b, a, b, …) after a warm-up
    /// of each, so that a change of machine load mid-run weighs on both alike.
    fn paired<T>(
        reps: usize,
        mut a: impl FnMut() -> T,
        mut b: impl FnMut() -> T,
    ) -> (Duration, Duration) {
        black_box(a());
        black_box(b());
        let mut times_a = Vec::with_capacity(reps);
        let mut times_b = Vec::with_capacity(reps);
        for _ in 0..reps.max(1) {
            let start = Instant::now();
            black_box(a());
            times_a.push(start.elapsed());
            let start = Instant::now();
            black_box(b());
            times_b.push(start.elapsed());
        }
        times_a.sort_unstable();
        times_b.sort_unstable();
        (times_a[times_a.len() / 2], times_b[times_b.len() / 2])
    }

    /// detsim's own API: `detsim::spawn`, awaiting each handle.
    fn own_spawn(tasks: u64) -> u64 {
        crate::spawn::detsim(tasks)
    }

    /// The same through the facade: `tokio::spawn`.
    fn facade_spawn(tasks: u64) -> u64 {
        detsim_runtime::Runtime::new(7).block_on(async move {
            let handles: Vec<_> = (0..tasks)
                .map(|i| detsim_tokio::spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.expect("a trivial task completes");
            }
            sum
        })
    }

    /// Sleep durations drawn once, the same for both sides.
    fn durations(tasks: u64) -> Vec<Duration> {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        (0..tasks)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Duration::from_micros(x % 10_000_000)
            })
            .collect()
    }

    fn own_sleep(durations: &[Duration]) -> usize {
        detsim_runtime::Runtime::new(7).block_on(async {
            let handles: Vec<_> = durations
                .iter()
                .map(|&d| detsim::spawn(async move { detsim::time::sleep(d).await }))
                .collect();
            let n = handles.len();
            for handle in handles {
                handle.await.expect("a sleeper completes");
            }
            n
        })
    }

    fn facade_sleep(durations: &[Duration]) -> usize {
        detsim_runtime::Runtime::new(7).block_on(async {
            let handles: Vec<_> = durations
                .iter()
                .map(|&d| detsim_tokio::spawn(async move { detsim_tokio::time::sleep(d).await }))
                .collect();
            let n = handles.len();
            for handle in handles {
                handle.await.expect("a sleeper completes");
            }
            n
        })
    }

    pub(crate) fn run(quick: bool, summary: &mut Summary) {
        let tasks: u64 = if quick { 200 } else { 10_000 };
        let sleepers: u64 = if quick { 100 } else { 1_000 };
        let reps = if quick { 3 } else { 31 };
        println!(
            "## facade: the tokio facade against detsim's own API (medians of {reps}, timed alternately)"
        );
        assert_eq!(own_spawn(tasks), facade_spawn(tasks));
        let (spawn_own, spawn_facade) = paired(reps, || own_spawn(tasks), || facade_spawn(tasks));
        let spawn_ratio = spawn_facade.as_secs_f64() / spawn_own.as_secs_f64();
        println!(
            "  spawn-join {tasks:>6} tasks   detsim::spawn {:>10} ({:>6.1} ns/task)   \
             tokio::spawn {:>10} ({:>6.1} ns/task)   facade/own = {spawn_ratio:.3}",
            show(spawn_own),
            ns_per(spawn_own, tasks),
            show(spawn_facade),
            ns_per(spawn_facade, tasks),
        );
        let durations = durations(sleepers);
        assert_eq!(own_sleep(&durations), facade_sleep(&durations));
        let (sleep_own, sleep_facade) =
            paired(reps, || own_sleep(&durations), || facade_sleep(&durations));
        let sleep_ratio = sleep_facade.as_secs_f64() / sleep_own.as_secs_f64();
        println!(
            "  {sleepers:>5} sleepers up to 10 s detsim::time  {:>10}                    \
             tokio::time  {:>10}                    facade/own = {sleep_ratio:.3}",
            show(sleep_own),
            show(sleep_facade),
        );
        summary.add(
            format!("spawn-join of {tasks} tasks, tokio facade / detsim's own API"),
            spawn_ratio,
            "≤ 1.10",
            spawn_ratio <= 1.10,
        );
    }
}
