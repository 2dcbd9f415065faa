//! Parallel sweeps and seed ranges: the report never depends on the thread count.

use detsim::{Builder, Scheduler};

use crate::programs::rare_order;

fn sweep(jobs: usize, start: u64, count: u64) -> (u64, Option<(u64, String, String)>) {
    let report = Builder::new()
        .ignore_env()
        .seed_start(start)
        .seeds(count)
        .scheduler(Scheduler::random())
        .jobs(jobs)
        .explore(rare_order);
    let failure = report
        .failure
        .map(|f| (f.seed, f.message.clone(), f.replay_token()));
    (report.seeds_run, failure)
}

#[test]
fn the_report_is_the_same_on_one_two_and_four_threads() {
    let one = sweep(1, 0, 2_000);
    let (_, failure) = &one;
    let seed = failure.as_ref().expect("random finds the rare order").0;
    assert!(
        seed > 0,
        "a bug found on the first seed says little about ordering"
    );
    assert_eq!(one, sweep(2, 0, 2_000));
    assert_eq!(one, sweep(4, 0, 2_000));
}

#[test]
fn the_lowest_failing_seed_of_the_range_is_reported() {
    let (_, first) = sweep(1, 0, 2_000);
    let first = first.unwrap().0;
    // Every seed below it passes; starting just after it finds a later one.
    assert_eq!(sweep(2, 0, first).1, None);
    let (_, later) = sweep(2, first + 1, 5_000);
    assert!(later.unwrap().0 > first);
}

#[test]
fn shards_cover_the_range_a_single_sweep_covers() {
    let (_, whole) = sweep(1, 1_000, 4_000);
    let whole = whole.expect("a failure in 4000 seeds").0;
    let shards: Vec<Option<u64>> = (0..4)
        .map(|shard| sweep(1, 1_000 + shard * 1_000, 1_000).1.map(|f| f.0))
        .collect();
    let lowest = shards.iter().flatten().min().copied();
    assert_eq!(lowest, Some(whole));
}

#[test]
fn seeds_run_counts_up_to_the_failure() {
    let (run, failure) = sweep(2, 100, 3_000);
    let seed = failure.unwrap().0;
    assert_eq!(run, seed - 100 + 1);
    let passing = Builder::new()
        .ignore_env()
        .seeds(321)
        .jobs(2)
        .explore(|| async {});
    assert_eq!(passing.seeds_run, 321);
    assert!(passing.passed());
}
