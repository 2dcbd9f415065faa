//! Trace snapshots: each program under fixed seeds and each scheduler.

use std::future::Future;

use detsim::Scheduler;
use detsim_runtime::Runtime;

use crate::programs;

/// PCT's run-length estimate for these small programs (fixed, so the snapshots do not
/// depend on a calibration run).
const PCT_STEPS: u64 = 16;

fn schedulers() -> [Scheduler; 3] {
    [Scheduler::fifo(), Scheduler::random(), Scheduler::pct(2)]
}

/// Runs `body` once with the trace on; the trace `Display`, then the outcome.
fn traced<T: std::fmt::Debug>(
    scheduler: Scheduler,
    seed: u64,
    body: impl Future<Output = T>,
) -> String {
    let mut rt = Runtime::new(seed);
    rt.reset(seed, Some(scheduler.chooser(seed, PCT_STEPS)));
    rt.set_trace(true);
    let outcome = match rt.run(body) {
        Ok(value) => format!("ok: {value:?}"),
        Err(error) => format!("failed: {error}"),
    };
    let trace = rt.take_trace().expect("tracing was on");
    format!(
        "scheduler {scheduler}, seed {seed}, {} polls\n{trace}\n{outcome}\n",
        rt.polls()
    )
}

fn snapshot_all<T: std::fmt::Debug, Fut: Future<Output = T>>(
    name: &str,
    seed: u64,
    body: impl Fn() -> Fut,
) {
    for scheduler in schedulers() {
        let label = scheduler.to_string().replace(':', "");
        insta::assert_snapshot!(
            format!("{name}-{label}-seed{seed}"),
            traced(scheduler, seed, body())
        );
    }
}

#[test]
fn readme_counter() {
    snapshot_all("readme_counter", 1, programs::readme_counter);
}

#[test]
fn bank_demo() {
    snapshot_all("bank", 1, programs::bank);
}

#[test]
fn timers() {
    snapshot_all("timers", 3, programs::timers);
}

#[test]
fn panic_and_abort() {
    snapshot_all("panic_and_abort", 5, programs::panic_and_abort);
}

#[test]
fn random_draws() {
    snapshot_all("random", 42, programs::draws_random);
}

#[test]
fn many_ready_tasks() {
    snapshot_all("many_ready", 7, programs::many_ready);
}
