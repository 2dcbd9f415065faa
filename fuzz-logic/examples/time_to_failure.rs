//! Seeds (and wall time) until the first failure with detsim's seeded schedulers, on the
//! bugs the schedule fuzz targets fuzz: the numbers to hold against the time to the
//! first crash of `cargo fuzz run schedule` / `cargo fuzz run lease` (fuzz/README.md).
//!
//! `cargo run --release -p detsim-fuzz-logic --example time_to_failure [max seeds]`
//!
//! Also runs "blind" fuzzing: uniformly random byte strings through `detsim::fuzz::run`,
//! with no coverage feedback, to tell the byte mapping's share from libFuzzer's.

use std::future::Future;
use std::time::{Duration, Instant};

use detsim::{Builder, Scheduler};
use detsim_fuzz_logic::{bank, lease};

fn sweep<F, Fut>(bug: &str, scheduler: Scheduler, max_seeds: u64, body: F)
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let report = Builder::new()
        .seeds(max_seeds)
        .scheduler(scheduler)
        .explore(body);
    let elapsed = start.elapsed();
    let outcome = match &report.failure {
        Some(_) => format!("failed at seed {}", report.seeds_run),
        None => format!("no failure in {} seeds", report.seeds_run),
    };
    println!(
        "{bug:<6} {scheduler:<8} {outcome:<32} {:>10.3} s  ({:.0} seeds/s)",
        elapsed.as_secs_f64(),
        report.seeds_run as f64 / elapsed.as_secs_f64()
    );
}

fn blind<F, Fut>(bug: &str, max_inputs: u64, len: usize, body: F)
where
    F: Fn() -> Fut + Copy,
    Fut: Future<Output = ()>,
{
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let start = Instant::now();
    let mut found = None;
    for i in 1..=max_inputs {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if detsim::fuzz::run(&data, body).is_err() {
            found = Some(i);
            break;
        }
    }
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    let runs = found.unwrap_or(max_inputs);
    let outcome = match found {
        Some(i) => format!("failed at input {i}"),
        None => format!("no failure in {max_inputs} inputs"),
    };
    println!(
        "{bug:<6} {:<8} {outcome:<32} {:>10.3} s  ({:.0} inputs/s)",
        format!("blind{len}"),
        elapsed.as_secs_f64(),
        runs as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let max_seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    println!("bug    strategy outcome                          wall time");
    for scheduler in [Scheduler::random(), Scheduler::pct(2), Scheduler::pct(3)] {
        sweep("bank", scheduler, max_seeds, bank::one_day);
    }
    blind("bank", max_seeds, 32, bank::one_day);
    for scheduler in [Scheduler::random(), Scheduler::pct(1), Scheduler::pct(3)] {
        sweep("lease", scheduler, max_seeds, lease::failover);
    }
    blind("lease", max_seeds, 256, lease::failover);
}
