//! `seal`: what sealing a run costs (its OS clocks and randomness answered from the run,
//! and a fresh thread for a run after one that drew OS randomness), side by side in one
//! process: each workload sealed and unsealed (`detsim_runtime::__set_sealing`), in
//! alternating rounds, wall time (a fresh thread's work is not the calling thread's CPU
//! time).

use std::time::{Duration, Instant};

use crate::measure::{median, ns_per, show};

/// The tiny test of the `sweep` section plus a `HashMap` of 8 keys per run: a body that
/// draws OS randomness (std's `RandomState` keys), so that every run after the first
/// moves to a fresh thread when sealed.
async fn hash_map_body() {
    let map: std::collections::HashMap<u32, u32> = (0..8).map(|k| (k, k)).collect();
    std::hint::black_box(&map);
    crate::sweep::detsim_body().await;
}

/// The median wall time of `work` sealed and unsealed, over `rounds` alternating pairs
/// (after one warm-up pair).
fn sealed_and_unsealed(rounds: usize, mut work: impl FnMut() + Send) -> (Duration, Duration) {
    let mut time = |sealed: bool| {
        detsim_runtime::__set_sealing(sealed);
        // On a thread of its own, which no earlier workload left with OS randomness
        // drawn (that would move this workload's runs to fresh threads too).
        let start = Instant::now();
        std::thread::scope(|scope| scope.spawn(&mut work).join().expect("the workload passes"));
        let elapsed = start.elapsed();
        detsim_runtime::__set_sealing(true);
        elapsed.as_nanos() as u64
    };
    time(true);
    time(false);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        on.push(time(true));
        off.push(time(false));
    }
    (
        Duration::from_nanos(median(&mut on)),
        Duration::from_nanos(median(&mut off)),
    )
}

fn line(what: &str, (sealed, unsealed): (Duration, Duration), seeds: u64) {
    println!(
        "  {what}: sealed {} ({:.0} ns/seed), unsealed {} ({:.0} ns/seed): {:.2}x",
        show(sealed),
        ns_per(sealed, seeds),
        show(unsealed),
        ns_per(unsealed, seeds),
        sealed.as_secs_f64() / unsealed.as_secs_f64()
    );
}

pub(crate) fn run(quick: bool) {
    let seeds: u64 = if quick { 100 } else { 2_000 };
    let cluster_seeds: u64 = if quick { 10 } else { 200 };
    let rounds = if quick { 1 } else { 9 };
    println!(
        "## seal: sealed runs against unsealed ones, one thread, median of {rounds} alternating rounds"
    );
    fn sweep<Fut: std::future::Future<Output = ()>>(seeds: u64, body: fn() -> Fut) -> impl FnMut() {
        move || {
            detsim::Builder::new()
                .ignore_env()
                .seeds(seeds)
                .jobs(1)
                .check(body)
        }
    }
    line(
        &format!("tiny sweep, {seeds} seeds"),
        sealed_and_unsealed(rounds, sweep(seeds, crate::sweep::detsim_body)),
        seeds,
    );
    line(
        &format!("tiny sweep with a HashMap per run (a fresh thread per seed), {seeds} seeds"),
        sealed_and_unsealed(rounds, sweep(seeds, hash_map_body)),
        seeds,
    );
    line(
        &format!("3-node cluster test, {cluster_seeds} seeds"),
        sealed_and_unsealed(rounds, || {
            detsim::Builder::new()
                .ignore_env()
                .seeds(cluster_seeds)
                .jobs(1)
                .faults(detsim::Faults::none())
                .check(|| crate::cluster::detsim_tcp(10));
        }),
        cluster_seeds,
    );
}

/// The tiny sweep, sealed or not, once: `detsim-bench __profile seal on|off SEEDS`, for
/// callgrind's instruction counts of the two.
pub(crate) fn profile(sealed: bool, seeds: u64) {
    detsim_runtime::__set_sealing(sealed);
    detsim::Builder::new()
        .ignore_env()
        .seeds(seeds)
        .jobs(1)
        .check(crate::sweep::detsim_body);
}
