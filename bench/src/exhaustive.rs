//! `exhaustive`: detsim's exhaustive exploration on the bug zoo and on a passing test.
//!
//! Per bug: the smallest bound `k` (deviations from FIFO order) at which exhaustive
//! exploration finds the bug, and the schedules it runs until the first failure, next
//! to the seeds detsim's random and PCT sweeps need (median over starting seeds, PCT
//! the best depth of 1–3 per bug), shuttle's random and PCT schedulers, and shuttle's
//! DFS (`check_dfs`: every schedule, depth first, no bound) where it finishes within
//! the cap.
//!
//! Then the reduction: exhausting a bound with one run per schedule (the cache of
//! completed prefixes) against a plain stateless search that runs every node of the
//! decision tree, on the zoo (bound k − 1, where every schedule passes) and on the
//! sweep section's passing test.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use detsim::{Builder, Scheduler};
use detsim_runtime::{Replay, Runtime};
use shuttle::scheduler::DfsScheduler;

use crate::measure::{geometric_mean, median, show};
use crate::shuttle_zoo;
use crate::zoo::{ShuttleScheduler, detsim_search, shuttle_search};

/// The largest bound tried.
const MAX_BOUND: u32 = 16;

/// What exhaustive exploration found on one bug.
struct Found {
    /// The bound of the first failure, if one was found.
    k: Option<u32>,
    schedules: u64,
    wall: Duration,
    /// The largest bound fully explored without a failure, when none was found.
    complete_up_to: Option<u32>,
}

fn explore(bug: detsim_zoo::Bug, budget: u64) -> Found {
    let clock = Instant::now();
    let report = Builder::new()
        .ignore_env()
        .exhaustive(MAX_BOUND)
        .exhaustive_budget(budget, Duration::from_secs(120))
        .jobs(1)
        .shrink_budget(0, Duration::ZERO)
        .explore(|| (bug.body)());
    let wall = clock.elapsed();
    let coverage = report
        .coverage()
        .expect("an exhaustive report has a coverage");
    Found {
        k: report
            .failure
            .is_some()
            .then(|| coverage.levels.last().map_or(0, |level| level.deviations)),
        schedules: report.seeds_run,
        wall,
        complete_up_to: coverage.complete_up_to(),
    }
}

/// A plain stateless search over the decision tree, bounded by `bound` deviations: it
/// runs every node (each prefix, deviating or not) to learn the options at its next
/// decision. Returns its runs and how many of them were leaves (whole schedules), or
/// `None` if a run failed or `cap` runs were not enough.
fn plain_search<F, Fut>(bound: u32, body: &F, cap: u64) -> Option<(u64, u64)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut rt = Runtime::new(0);
    let (mut runs, mut leaves) = (0, 0);
    let mut stack = vec![Vec::<u32>::new()];
    while let Some(prefix) = stack.pop() {
        if runs == cap {
            return None;
        }
        rt.reset(
            0,
            detsim_runtime::ChooserSpec::Custom(Box::new(Replay::new(prefix.clone()))),
        );
        rt.run(async { body().await }).ok()?;
        runs += 1;
        let decisions = rt.decisions();
        let Some(next) = decisions.get(prefix.len()) else {
            leaves += 1;
            continue;
        };
        let deviations = prefix.iter().filter(|&&d| d != 0).count() as u32;
        for choice in (0..next.options).rev() {
            if deviations + u32::from(choice != 0) <= bound {
                let mut child = prefix.clone();
                child.push(choice);
                stack.push(child);
            }
        }
    }
    Some((runs, leaves))
}

/// Schedules with at most `bound` deviations by exhaustive exploration, and its time.
fn cached_count<F, Fut>(bound: u32, body: &F) -> (u64, Duration)
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let clock = Instant::now();
    let report = Builder::new()
        .ignore_env()
        .exhaustive(bound)
        .jobs(1)
        .explore(body);
    let wall = clock.elapsed();
    assert!(report.passed(), "a bound below the bug's passes");
    (report.seeds_run, wall)
}

/// shuttle's DFS on a port: iterations until the first failure, and whether it found
/// one (`false`: the cap came first, or the search ran out of schedules).
fn shuttle_dfs(body: shuttle_zoo::Body, cap: u64) -> (u64, bool, Duration) {
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.silence_warnings = true;
    let iterations = Arc::new(AtomicU64::new(0));
    let counted = {
        let iterations = Arc::clone(&iterations);
        move || {
            iterations.fetch_add(1, Ordering::Relaxed);
            body();
        }
    };
    let cap_iterations = usize::try_from(cap).expect("the cap fits a usize");
    let clock = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        shuttle::Runner::new(DfsScheduler::new(Some(cap_iterations), false), config).run(counted);
    }));
    (
        iterations.load(Ordering::Relaxed),
        outcome.is_err(),
        clock.elapsed(),
    )
}

/// The median of `searches` seeds-to-failure, `None` if the median search missed.
fn median_of(searches: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    let mut firsts: Vec<u64> = searches.map(|s| s.unwrap_or(u64::MAX)).collect();
    let middle = median(&mut firsts);
    (middle != u64::MAX).then_some(middle)
}

fn cell(value: Option<u64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool, cap: u64, starts: u64) {
    let (cap, starts, budget, dfs_cap) = if quick {
        (cap.min(200), starts.min(3), 2_000, 2_000)
    } else {
        (cap, starts, 1_000_000, 100_000)
    };
    println!(
        "## exhaustive: every schedule within k deviations from FIFO order, on the zoo \
         (k up to {MAX_BOUND}, budget {budget} schedules)"
    );
    println!(
        "  schedules: run until the first failure, bound by bound (time: the search and \
         the failure report with its trace file; k >j: not found, every schedule within j \
         deviations passed); seeds: median over {starts} starting seeds, cap {cap}; pct = \
         best depth of 1-3; s:dfs = shuttle check_dfs iterations, cap {dfs_cap} (— = not \
         found)"
    );
    println!(
        "  {:<22} {:>3} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "bug", "k", "schedules", "time", "d:random", "d:pct", "s:random", "s:pct", "s:dfs"
    );
    let quiet = crate::QuietPanics::new();
    let shuttle_bodies = shuttle_zoo::all();
    let start_seed = |i: u64| 1 + i * 1_000_003;
    let mut below = Vec::new();
    let (mut ours, mut dfs) = (Vec::new(), Vec::new());
    for bug in detsim_zoo::all() {
        let Some(&(_, shuttle_body)) = shuttle_bodies.iter().find(|(name, _)| *name == bug.name)
        else {
            panic!("shuttle_zoo has no {}", bug.name);
        };
        let found = explore(bug, budget);
        let detsim_median =
            |scheduler| {
                median_of((0..starts).map(|i| {
                    detsim_search(bug, Some(scheduler), start_seed(i), cap).seeds_to_failure
                }))
            };
        let shuttle_median = |scheduler| {
            median_of((0..starts).map(|i| {
                shuttle_search(shuttle_body, scheduler, start_seed(i), cap).seeds_to_failure
            }))
        };
        let d_random = detsim_median(Scheduler::random());
        let d_pct = (1..=3)
            .filter_map(|d| detsim_median(Scheduler::pct(d)))
            .min();
        let s_random = shuttle_median(ShuttleScheduler::Random);
        let s_pct = (1..=3)
            .filter_map(|d| shuttle_median(ShuttleScheduler::Pct(d)))
            .min();
        let (iterations, dfs_found, _) = shuttle_dfs(shuttle_body, dfs_cap);
        let k = match (found.k, found.complete_up_to) {
            (Some(k), _) => k.to_string(),
            (None, Some(j)) => format!(">{j}"),
            (None, None) => "?".to_owned(),
        };
        println!(
            "  {:<22} {k:>3} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            bug.name,
            found.schedules,
            show(found.wall),
            cell(d_random),
            cell(d_pct),
            cell(s_random),
            cell(s_pct),
            cell(dfs_found.then_some(iterations)),
        );
        if found.k.is_some() {
            ours.push(found.schedules as f64);
        }
        if dfs_found {
            dfs.push(iterations as f64);
        }
        if let Some(k) = found.k.filter(|&k| k >= 1) {
            below.push((bug, k - 1));
        }
    }
    println!(
        "  geometric mean of schedules to the first failure: exhaustive {:.1} over the {} bugs \
         it found; shuttle dfs {:.1} over the {} it found within its cap",
        geometric_mean(&ours),
        ours.len(),
        geometric_mean(&dfs),
        dfs.len()
    );

    println!(
        "  the reduction: runs to exhaust a bound where every schedule passes, one run per \
         schedule (prefix cache) vs one per decision-tree node (plain)"
    );
    println!(
        "    {:<28} {:>3} {:>10} {:>10} {:>8} {:>9}",
        "body", "k", "schedules", "plain runs", "ratio", "time"
    );
    let plain_cap = budget * 100;
    let line =
        |name: &str, k: u32, (schedules, wall): (u64, Duration), plain: Option<(u64, u64)>| {
            let (plain_runs, ratio) = match plain {
                Some((runs, leaves)) => {
                    assert_eq!(leaves, schedules, "{name}: the plain search's leaves");
                    (
                        runs.to_string(),
                        format!("{:.1}×", runs as f64 / schedules as f64),
                    )
                }
                None => ("—".to_owned(), "—".to_owned()),
            };
            println!(
                "    {name:<28} {k:>3} {schedules:>10} {plain_runs:>10} {ratio:>8} {:>9}",
                show(wall)
            );
        };
    for (bug, k) in below {
        let body = || (bug.body)();
        line(
            bug.name,
            k,
            cached_count(k, &body),
            plain_search(k, &body, plain_cap),
        );
    }
    let bounds = if quick { 1 } else { 3 };
    for k in 1..=bounds {
        line(
            "3 tasks × 5 yields (sweep)",
            k,
            cached_count(k, &passing_body),
            plain_search(k, &passing_body, plain_cap),
        );
    }
    drop(quiet);
    let (iterations, found, wall) = shuttle_dfs(passing_shuttle_body, dfs_cap);
    println!(
        "    shuttle check_dfs on the same passing test: {iterations} iterations in {} ({}), \
         of 18!/(6!)^3 = 17,153,136 interleavings",
        show(wall),
        if found {
            "a failure?"
        } else if iterations >= dfs_cap {
            "stopped at the cap"
        } else {
            "finished"
        }
    );
}

/// The sweep section's passing test: 3 tasks × 5 yields on a shared counter.
async fn passing_body() {
    let counter = Rc::new(Cell::new(0u32));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let counter = Rc::clone(&counter);
            detsim::spawn(async move {
                for _ in 0..5 {
                    counter.set(counter.get() + 1);
                    detsim::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a counting task completes");
    }
    assert_eq!(counter.get(), 15);
}

fn passing_shuttle_body() {
    shuttle::future::block_on(async {
        let counter = Rc::new(Cell::new(0u32));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let counter = Rc::clone(&counter);
                shuttle::future::spawn_local(async move {
                    for _ in 0..5 {
                        counter.set(counter.get() + 1);
                        shuttle::future::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a counting task completes");
        }
        assert_eq!(counter.get(), 15);
    });
}
