//! `zoo`: seeds until the first failure, per zoo bug, for detsim's schedulers and
//! shuttle's, each the median over several starting seeds.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use detsim::{Builder, Scheduler};
use detsim_zoo::Bug;
use shuttle::scheduler::{PctScheduler, RandomScheduler};

use crate::measure::{geometric_mean, median, show};
use crate::shuttle_zoo;

/// What one search found: the seeds (iterations) it ran up to and including the first
/// failure, or `None` if the cap came first, and its wall time.
pub(crate) struct Search {
    pub(crate) seeds_to_failure: Option<u64>,
    seeds_run: u64,
    wall: Duration,
}

/// detsim: a sweep from `start`, `cap` seeds at most, stopping at the first failure.
/// Shrinking is off: it is what happens after the search (timed on its own, see
/// [`report_time`]).
pub(crate) fn detsim_search(
    bug: Bug,
    scheduler: Option<Scheduler>,
    start: u64,
    cap: u64,
) -> Search {
    let mut builder = Builder::new()
        .ignore_env()
        .seed_start(start)
        .seeds(cap)
        .jobs(1)
        .shrink_budget(0, Duration::ZERO);
    if let Some(scheduler) = scheduler {
        builder = builder.scheduler(scheduler);
    }
    let clock = Instant::now();
    let report = builder.explore(|| (bug.body)());
    let wall = clock.elapsed();
    Search {
        seeds_to_failure: report.failure.map(|failure| failure.seed - start + 1),
        seeds_run: report.seeds_run,
        wall,
    }
}

/// The wall time of a default `explore` of `bug` from seed 0: the search, then the
/// failure report (a replay with the trace on, and shrinking with the default budget).
/// `None` if the default scheduler does not find the bug within `cap` seeds.
fn report_time(bug: Bug, cap: u64) -> Option<Duration> {
    let clock = Instant::now();
    let report = Builder::new()
        .ignore_env()
        .seeds(cap)
        .explore(|| (bug.body)());
    let wall = clock.elapsed();
    report.failure.is_some().then_some(wall)
}

/// Which of shuttle's schedulers.
#[derive(Clone, Copy)]
pub(crate) enum ShuttleScheduler {
    Random,
    Pct(usize),
}

/// shuttle: one `Runner` with a scheduler seeded by `seed`, `cap` iterations at most,
/// counting iterations until the body panics.
pub(crate) fn shuttle_search(
    body: shuttle_zoo::Body,
    scheduler: ShuttleScheduler,
    seed: u64,
    cap: u64,
) -> Search {
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
    let outcome = catch_unwind(AssertUnwindSafe(|| match scheduler {
        ShuttleScheduler::Random => {
            let scheduler = RandomScheduler::new_from_seed(seed, cap_iterations);
            shuttle::Runner::new(scheduler, config).run(counted);
        }
        ShuttleScheduler::Pct(depth) => {
            let scheduler = PctScheduler::new_from_seed(seed, depth, cap_iterations);
            shuttle::Runner::new(scheduler, config).run(counted);
        }
    }));
    let wall = clock.elapsed();
    let seeds_run = iterations.load(Ordering::Relaxed);
    Search {
        seeds_to_failure: outcome.is_err().then_some(seeds_run),
        seeds_run,
        wall,
    }
}

/// One column of the table: a tool and scheduler, its medians per bug, and its time.
struct Column {
    label: String,
    medians: Vec<Option<u64>>,
    seeds_run: u64,
    wall: Duration,
}

impl Column {
    fn new(label: String) -> Self {
        Column {
            label,
            medians: Vec::new(),
            seeds_run: 0,
            wall: Duration::ZERO,
        }
    }

    /// Records the searches of one bug: their median (a search that hit the cap sorts
    /// last), their seeds and time.
    fn push(&mut self, searches: Vec<Search>) -> (u64, Duration) {
        let mut firsts: Vec<u64> = searches
            .iter()
            .map(|search| search.seeds_to_failure.unwrap_or(u64::MAX))
            .collect();
        let middle = median(&mut firsts);
        self.medians.push((middle != u64::MAX).then_some(middle));
        let seeds_run: u64 = searches.iter().map(|search| search.seeds_run).sum();
        let wall: Duration = searches.iter().map(|search| search.wall).sum();
        self.seeds_run += seeds_run;
        self.wall += wall;
        (seeds_run, wall)
    }

    /// The geometric mean of the medians, a bug not found counting as `cap` (so the mean
    /// is then a lower bound).
    fn geometric_mean(&self, cap: u64) -> (f64, bool) {
        let values: Vec<f64> = self
            .medians
            .iter()
            .map(|m| m.unwrap_or(cap) as f64)
            .collect();
        let capped = self.medians.iter().any(Option::is_none);
        (geometric_mean(&values), capped)
    }

    fn micros_per_seed(&self) -> f64 {
        self.wall.as_secs_f64() * 1e6 / self.seeds_run.max(1) as f64
    }
}

fn cell(median: Option<u64>) -> String {
    median.map_or_else(|| "—".to_string(), |m| m.to_string())
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool, cap: u64, starts: u64) {
    let (cap, starts) = if quick {
        (cap.min(200), starts.min(3))
    } else {
        (cap, starts)
    };
    println!(
        "## zoo: seeds until the first failure, median over {starts} starting seeds, cap {cap} (— = not found within the cap)"
    );
    let detsim_schedulers: Vec<(String, Option<Scheduler>)> = vec![
        ("random".into(), Some(Scheduler::random())),
        ("pct:1".into(), Some(Scheduler::pct(1))),
        ("pct:2".into(), Some(Scheduler::pct(2))),
        ("pct:3".into(), Some(Scheduler::pct(3))),
        ("default".into(), None),
        // No randomness: one seed says all there is to say.
        ("fifo".into(), Some(Scheduler::fifo())),
    ];
    let shuttle_schedulers = [
        ("random", ShuttleScheduler::Random),
        ("pct:1", ShuttleScheduler::Pct(1)),
        ("pct:2", ShuttleScheduler::Pct(2)),
        ("pct:3", ShuttleScheduler::Pct(3)),
    ];
    let mut detsim_columns: Vec<Column> = detsim_schedulers
        .iter()
        .map(|(label, _)| Column::new(format!("d:{label}")))
        .collect();
    let mut shuttle_columns: Vec<Column> = shuttle_schedulers
        .iter()
        .map(|(label, _)| Column::new(format!("s:{label}")))
        .collect();
    let shuttle_bodies = shuttle_zoo::all();
    let bugs = detsim_zoo::all();

    let header: Vec<&str> = detsim_columns
        .iter()
        .chain(&shuttle_columns)
        .map(|column| column.label.as_str())
        .collect();
    print!("  {:<22}", "bug");
    for label in &header {
        print!(" {label:>9}");
    }
    println!("   µs/seed: detsim shuttle");

    let quiet = crate::QuietPanics::new();
    for bug in &bugs {
        let Some(&(_, shuttle_body)) = shuttle_bodies.iter().find(|(name, _)| *name == bug.name)
        else {
            panic!("shuttle_zoo has no {}", bug.name);
        };
        let start_seed = |i: u64| 1 + i * 1_000_003;
        let mut ours = (0, Duration::ZERO);
        for ((label, scheduler), column) in detsim_schedulers.iter().zip(&mut detsim_columns) {
            let (starts, cap) = if label == "fifo" {
                (1, 1)
            } else {
                (starts, cap)
            };
            let searches = (0..starts)
                .map(|i| detsim_search(*bug, *scheduler, start_seed(i), cap))
                .collect();
            let (seeds, wall) = column.push(searches);
            ours = (ours.0 + seeds, ours.1 + wall);
        }
        let mut theirs = (0, Duration::ZERO);
        for ((_, scheduler), column) in shuttle_schedulers.iter().zip(&mut shuttle_columns) {
            let searches = (0..starts)
                .map(|i| shuttle_search(shuttle_body, *scheduler, start_seed(i), cap))
                .collect();
            let (seeds, wall) = column.push(searches);
            theirs = (theirs.0 + seeds, theirs.1 + wall);
        }
        print!("  {:<22}", bug.name);
        for column in detsim_columns.iter().chain(&shuttle_columns) {
            print!(" {:>9}", cell(*column.medians.last().expect("just pushed")));
        }
        let per_seed =
            |(seeds, wall): (u64, Duration)| wall.as_secs_f64() * 1e6 / seeds.max(1) as f64;
        println!("   {:>7.2} {:>7.2}", per_seed(ours), per_seed(theirs));
    }
    let mut reports: Vec<(Duration, &str)> = bugs
        .iter()
        .filter_map(|bug| Some((report_time(*bug, cap)?, bug.name)))
        .collect();
    drop(quiet);

    print!("  {:<22}", "geometric mean");
    for column in detsim_columns.iter().chain(&shuttle_columns) {
        let (mean, capped) = column.geometric_mean(cap);
        let shown = format!("{}{mean:.1}", if capped { "≥" } else { "" });
        print!(" {shown:>9}");
    }
    println!();

    println!(
        "  seeds to first failure, detsim/shuttle (geometric means; below 1 = detsim needs fewer):"
    );
    for (ours, theirs) in detsim_columns.iter().zip(&shuttle_columns) {
        let (a, a_capped) = ours.geometric_mean(cap);
        let (b, b_capped) = theirs.geometric_mean(cap);
        let note = if a_capped || b_capped {
            " (a capped side: bounds, not exact)"
        } else {
            ""
        };
        println!(
            "    {:<10} vs {:<10} {:.2}{note}",
            ours.label,
            theirs.label,
            a / b
        );
    }
    let best = |columns: &[Column]| -> (f64, usize) {
        let per_bug: Vec<Option<u64>> = (0..bugs.len())
            .map(|i| columns.iter().filter_map(|column| column.medians[i]).min())
            .collect();
        let missed = per_bug.iter().filter(|m| m.is_none()).count();
        let values: Vec<f64> = per_bug.iter().map(|m| m.unwrap_or(cap) as f64).collect();
        (geometric_mean(&values), missed)
    };
    let (ours_best, ours_missed) = best(&detsim_columns);
    let (theirs_best, theirs_missed) = best(&shuttle_columns);
    println!(
        "  the best scheduler per bug (an oracle's pick), geometric mean: detsim {ours_best:.1} \
         ({ours_missed} bugs not found), shuttle {theirs_best:.1} ({theirs_missed} not found), \
         detsim/shuttle = {:.2}",
        ours_best / theirs_best
    );
    reports.sort_unstable();
    if let Some(&(slowest, slowest_bug)) = reports.last() {
        println!(
            "  a default explore from seed 0, failure report and shrinking included: median {}, slowest {} ({slowest_bug}), over the {} bugs it found",
            show(reports[reports.len() / 2].0),
            show(slowest),
            reports.len()
        );
    }
    println!(
        "  wall time per seed over all searches (no shrinking; where a bug falls in a few seeds, \
         this is mostly each tool's fixed cost per search):"
    );
    for column in detsim_columns.iter().chain(&shuttle_columns) {
        println!(
            "    {:<10} {:>8.2} µs/seed over {} seeds",
            column.label,
            column.micros_per_seed(),
            column.seeds_run
        );
    }
    let ours: Vec<f64> = detsim_columns.iter().map(Column::micros_per_seed).collect();
    let theirs: Vec<f64> = shuttle_columns
        .iter()
        .map(Column::micros_per_seed)
        .collect();
    println!(
        "    per-seed time, geometric mean over schedulers: detsim {:.2} µs, shuttle {:.2} µs, shuttle/detsim = {:.1}×",
        geometric_mean(&ours),
        geometric_mean(&theirs),
        geometric_mean(&theirs) / geometric_mean(&ours)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shuttle port has its bug: shuttle's random scheduler finds it, and every zoo
    /// bug has a port.
    #[test]
    fn shuttle_ports_fail() {
        let bodies = shuttle_zoo::all();
        assert_eq!(bodies.len(), detsim_zoo::all().len());
        crate::install_panic_hook();
        let quiet = crate::QuietPanics::new();
        let missed: Vec<&str> = detsim_zoo::all()
            .iter()
            .filter(|bug| {
                let (_, body) = bodies
                    .iter()
                    .find(|(name, _)| *name == bug.name)
                    .unwrap_or_else(|| panic!("shuttle_zoo has no {}", bug.name));
                shuttle_search(*body, ShuttleScheduler::Random, 1, 20_000)
                    .seeds_to_failure
                    .is_none()
            })
            .map(|bug| bug.name)
            .collect();
        drop(quiet);
        assert!(missed.is_empty(), "shuttle never failed on {missed:?}");
    }
}
