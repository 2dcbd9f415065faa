//! Exhaustive exploration (`Builder::exhaustive`): the number of schedules explored
//! equals a count made by hand, every schedule explored is a different run, the
//! coverage statement claims exactly what ran, failures come with the fewest
//! deviations, budgets stop it honestly, and threads change nothing.
//!
//! # The hand counts
//! In each program the root spawns the workers and then waits for a signal that the
//! last worker to finish sends, so the root is never ready next to a worker and every
//! decision is between workers. Workers log each poll (`a0` is task a's first poll),
//! so a run's log is its order of polls: the run's trace in the program's own words.
//! A decision is an index into the ready tasks, oldest first; a deviation is any
//! non-zero index.
//!
//! - **Two tasks × two yields** (`a`, `b`, three polls each). Both stay ready until
//!   they finish, so every poll while both are unfinished is a decision, and every
//!   interleaving of `aaa` and `bbb` is one schedule: C(6,3) = 20. Under FIFO the first
//!   pick is `a`, and after that the oldest ready task is the one that did not just
//!   run, so the deviations of an interleaving are [it starts with b] + the number of
//!   times a task runs twice in a row before one of them is done. Up to the poll that
//!   finishes one task: 0 deviations: `ababa` (1). 1: `babab`, and from `a` with one
//!   doubled run: `aaba`, `abbab`, `abaa`, `ababb` (5). 2: from `b` with one doubled
//!   run, the mirror images of those four, and from `a` with two extra repeats:
//!   `aaa`, `abbb`, `aabba`, `abbaa` (8). So k = 0, 1, 2 give 1, 6, 14 (and 3, 4 give
//!   5 and 1 more: 20).
//! - **Three tasks × one yield** (two polls each). All schedules: 6!/(2!·2!·2!) = 90
//!   interleavings. FIFO polls a b c a b c with 3, 3, 3, 3, 2 ready tasks at its five
//!   decisions, so one deviation has 2+2+2+2+1 = 9 choices. Two deviations: for each
//!   of those 9 schedules, the choices at the decision points after its deviation (the
//!   ready counts of each run worked out by hand, first deviation at decision 1 to 5):
//!   7 + 7, 5 + 3, 2 + 2, 1 + 1, 0 = 28. So k = 0, 1, 2 give 1, 10, 38.
//! - **Timers**: `a` sleeps 1 s twice, `b` sleeps 2 s, `c` sleeps 3 s. At 0 s all three
//!   are ready (a decision among 3, then among 2); at 1 s `a` wakes alone; at 2 s the
//!   timers of `b` (armed at 0 s) and `a` (armed at 1 s) fire together, a decision
//!   among 2; at 3 s `c` wakes alone. Timers at different instants make no decision.
//!   Deviations: (1 + 2x)(1 + x)(1 + x) = 1 + 4x + 5x² + 2x³, so k = 0, 1, 2 give 1, 5,
//!   10 of the 3!·2 = 12 schedules.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::Duration;

use detsim::Builder;

/// Counts the workers still running; the last one to finish wakes the root.
#[derive(Default)]
struct Done {
    left: Cell<usize>,
    waker: RefCell<Option<Waker>>,
}

impl Done {
    fn finish(&self) {
        self.left.set(self.left.get() - 1);
        if self.left.get() == 0
            && let Some(waker) = self.waker.borrow_mut().take()
        {
            waker.wake();
        }
    }

    async fn all(&self) {
        poll_fn(|cx| {
            if self.left.get() == 0 {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// What a worker does between two of its polls.
#[derive(Clone, Copy)]
enum Pause {
    Yield,
    Sleep(u64),
}

/// Spawns one worker per `(name, pauses)`: it logs `name` and its poll number at every
/// poll, pausing as listed in between. Returns the log of polls once all are done.
async fn workers(plan: &[(&'static str, &[Pause])]) -> Vec<String> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Done::default());
    done.left.set(plan.len());
    for &(name, pauses) in plan {
        let (log, done) = (log.clone(), done.clone());
        let pauses = pauses.to_vec();
        detsim::spawn(async move {
            log.borrow_mut().push(format!("{name}0"));
            for (i, pause) in pauses.into_iter().enumerate() {
                match pause {
                    Pause::Yield => detsim::yield_now().await,
                    Pause::Sleep(secs) => detsim::time::sleep(Duration::from_secs(secs)).await,
                }
                log.borrow_mut().push(format!("{name}{}", i + 1));
            }
            done.finish();
        });
    }
    done.all().await;
    log.take()
}

const Y: Pause = Pause::Yield;

async fn two_tasks_two_yields() -> Vec<String> {
    workers(&[("a", &[Y, Y]), ("b", &[Y, Y])]).await
}

async fn three_tasks_one_yield() -> Vec<String> {
    workers(&[("a", &[Y]), ("b", &[Y]), ("c", &[Y])]).await
}

async fn timers() -> Vec<String> {
    use Pause::Sleep;
    workers(&[
        ("a", &[Sleep(1), Sleep(1)]),
        ("b", &[Sleep(2)]),
        ("c", &[Sleep(3)]),
    ])
    .await
}

/// Explores `program` up to `k` deviations on `jobs` threads; returns the report's
/// schedule count, the coverage statement, and every run's log in the order run.
fn explore<Fut>(program: fn() -> Fut, k: u32, jobs: usize) -> (u64, String, Vec<String>)
where
    Fut: Future<Output = Vec<String>>,
{
    let logs = Mutex::new(Vec::new());
    let report = Builder::new()
        .ignore_env()
        .exhaustive(k)
        .jobs(jobs)
        .explore(|| async {
            let log = program().await;
            logs.lock().unwrap().push(log.join(" "));
        });
    assert!(report.passed());
    let coverage = report
        .coverage()
        .expect("an exhaustive report has a coverage");
    assert!(coverage.is_complete(), "{coverage}");
    assert_eq!(coverage.schedules_run, report.seeds_run);
    (
        report.seeds_run,
        coverage.to_string(),
        logs.into_inner().unwrap(),
    )
}

/// Asserts the counts for k = 0, 1, 2 and `all` for a large k, and that every
/// explored schedule is a different run.
fn assert_counts<Fut>(program: fn() -> Fut, counts: [u64; 3], all: u64)
where
    Fut: Future<Output = Vec<String>>,
{
    for (k, &count) in counts.iter().enumerate() {
        let (run, statement, logs) = explore(program, k as u32, 1);
        assert_eq!(run, count, "k = {k}: {statement}");
        assert_eq!(logs.len() as u64, count);
        let distinct: BTreeSet<&String> = logs.iter().collect();
        assert_eq!(distinct.len(), logs.len(), "k = {k}: a schedule ran twice");
    }
    let (run, statement, logs) = explore(program, 20, 1);
    assert_eq!(run, all, "{statement}");
    assert_eq!(logs.iter().collect::<BTreeSet<_>>().len() as u64, all);
    assert_eq!(
        statement,
        format!(
            "explored all {all} schedules with at most 20 deviations from FIFO order; no failure"
        )
    );
}

#[test]
fn two_tasks_of_two_yields_have_1_6_14_schedules() {
    assert_counts(two_tasks_two_yields, [1, 6, 14], 20);
}

#[test]
fn three_tasks_of_one_yield_have_1_10_38_schedules() {
    assert_counts(three_tasks_one_yield, [1, 10, 38], 90);
}

#[test]
fn timers_make_decisions_only_when_due_together() {
    assert_counts(timers, [1, 5, 10], 12);
}

#[test]
fn the_fifo_schedule_is_asyncios_order_and_one_deviation_lists_are_the_hand_made_ones() {
    let (_, statement, logs) = explore(two_tasks_two_yields, 0, 1);
    assert_eq!(logs, ["a0 b0 a1 b1 a2 b2"]);
    assert_eq!(
        statement,
        "explored the FIFO schedule (0 deviations); no failure"
    );
    let (_, _, logs) = explore(two_tasks_two_yields, 1, 1);
    let one: BTreeSet<String> = logs.into_iter().skip(1).collect();
    // The orders of polls up to the one that finishes a task, then the rest of the other.
    let expected: BTreeSet<String> = [
        "b0 a0 b1 a1 b2 a2",
        "a0 a1 b0 a2 b1 b2",
        "a0 b0 b1 a1 b2 a2",
        "a0 b0 a1 a2 b1 b2",
        "a0 b0 a1 b1 b2 a2",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(one, expected);
}

fn same_on_one_and_two_threads<Fut>(program: fn() -> Fut)
where
    Fut: Future<Output = Vec<String>>,
{
    let (run1, statement1, mut logs1) = explore(program, 2, 1);
    let (run2, statement2, mut logs2) = explore(program, 2, 2);
    assert_eq!((run1, &statement1), (run2, &statement2));
    logs1.sort();
    logs2.sort();
    assert_eq!(logs1, logs2);
}

#[test]
fn the_report_is_the_same_on_one_and_two_threads() {
    same_on_one_and_two_threads(three_tasks_one_yield);
    same_on_one_and_two_threads(timers);
    // A failure: the same schedule, count and token on one and two threads.
    let failing = |jobs| {
        let report = Builder::new()
            .ignore_env()
            .exhaustive(3)
            .jobs(jobs)
            .explore(|| crate::programs::lost_update(3, 1));
        let failure = report
            .failure
            .as_ref()
            .expect("a lost update within 3 deviations");
        (
            report.seeds_run,
            failure.replay_token(),
            report.coverage().unwrap().to_string(),
        )
    };
    assert_eq!(failing(1), failing(2));
}

/// A lost update that needs two deviations: `b`'s read-and-write (its third poll) must
/// fall between `a`'s read and write. FIFO runs a0 b0 a1 b1 b2; after a0 the order is
/// [b, a], b0 is FIFO, then b must be chosen over the older `a` twice.
async fn needs_two_deviations() {
    let counter = Rc::new(Cell::new(0));
    let a = {
        let counter = counter.clone();
        detsim::spawn(async move {
            let seen = counter.get();
            detsim::yield_now().await;
            counter.set(seen + 1);
        })
    };
    let b = {
        let counter = counter.clone();
        detsim::spawn(async move {
            detsim::yield_now().await;
            detsim::yield_now().await;
            counter.set(counter.get() + 1);
        })
    };
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(counter.get(), 2, "lost an update");
}

#[test]
fn a_failure_has_the_fewest_deviations_and_replays() {
    let report = Builder::new()
        .ignore_env()
        .exhaustive(3)
        .explore(needs_two_deviations);
    let failure = report.failure.as_ref().expect("a lost update");
    assert!(failure.message.contains("lost an update"), "{failure}");
    // Bound by bound: nothing with fewer deviations fails, so the first failure has 2.
    assert_eq!(failure.schedule().deviations(), 2);
    let coverage = report.coverage().unwrap();
    assert!(coverage.failed && !coverage.is_complete());
    assert_eq!(coverage.complete_up_to(), Some(1));
    assert_eq!(coverage.levels.len(), 3);
    assert_eq!(report.seeds_run, coverage.schedules_run);
    let below: u64 = coverage.levels[..2]
        .iter()
        .map(|level| level.schedules)
        .sum();
    assert_eq!(report.seeds_run, below + coverage.levels[2].run);
    let text = failure.to_string();
    assert!(text.contains("found by exhaustive exploration"), "{text}");
    assert!(text.contains("the last one failed"), "{text}");
    // The token replays the same failure.
    let replayed = Builder::new()
        .ignore_env()
        .replay(&failure.replay_token(), needs_two_deviations)
        .expect_err("the token fails again");
    assert_eq!(replayed.message, failure.message);
    // With k = 1 the bug is out of reach, and the statement says what was covered.
    let report = Builder::new()
        .ignore_env()
        .exhaustive(1)
        .explore(needs_two_deviations);
    assert!(report.passed());
    let statement = report.coverage().unwrap().to_string();
    assert!(statement.starts_with("explored all "), "{statement}");
    assert!(
        statement.ends_with(" schedules with at most 1 deviation from FIFO order; no failure"),
        "{statement}"
    );
}

#[test]
fn a_schedule_budget_stops_it_and_the_statement_claims_no_more() {
    let logs = Mutex::new(0u64);
    let report = Builder::new()
        .ignore_env()
        .exhaustive(2)
        .exhaustive_budget(20, Duration::from_secs(3600))
        .jobs(2)
        .explore(|| async {
            three_tasks_one_yield().await;
            *logs.lock().unwrap() += 1;
        });
    assert!(report.passed());
    assert_eq!(report.seeds_run, 20);
    assert_eq!(*logs.lock().unwrap(), 20);
    let coverage = report.coverage().unwrap();
    assert!(!coverage.is_complete());
    assert_eq!(coverage.complete_up_to(), Some(1));
    assert_eq!(
        coverage.to_string(),
        "explored 20 schedules: all 10 with at most 1 deviation from FIFO order, then 10 of \
         the 28 with exactly 2 deviations; stopped early: schedule budget of 20 used up; no \
         failure in those, but schedules with at most 2 deviations were not all run"
    );
}

#[test]
fn a_sweep_has_no_coverage() {
    let report = Builder::new().ignore_env().seeds(3).explore(|| async {});
    assert!(report.coverage().is_none());
}

/// Decisions of other kinds (a `select!` branch, a fault) are explored like task
/// choices: a 3-way select and a 2-way fault decision make 3 · 2 = 6 schedules, of
/// which (1 + 2x)(1 + x) = 1 + 3x + 2x² have at most 0, 1, 2 deviations: 1, 4, 6.
#[test]
fn every_kind_of_decision_is_explored() {
    use detsim_runtime::{DecisionKind, decide};
    let runs = |k| {
        let seen = Mutex::new(BTreeSet::new());
        let report = Builder::new().ignore_env().exhaustive(k).explore(|| async {
            let branch = decide(DecisionKind::Select, 3);
            let fault = decide(DecisionKind::Fault, 2);
            seen.lock().unwrap().insert((branch, fault));
        });
        assert!(report.coverage().unwrap().is_complete());
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len() as u64, report.seeds_run, "a schedule ran twice");
        seen
    };
    assert_eq!(runs(0), BTreeSet::from([(0, 0)]));
    assert_eq!(runs(1), BTreeSet::from([(0, 0), (1, 0), (2, 0), (0, 1)]));
    assert_eq!(runs(2).len(), 6);
}

/// A body that changes from run to run cannot be explored: a child schedule's prefix
/// no longer replays, and the failure says so; with the determinism check, the first
/// schedule's two runs already differ.
#[test]
fn a_nondeterministic_body_is_reported_not_explored() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    // Two yielding tasks on the first run, one afterwards: the decision points vanish.
    let body = || async {
        let tasks = if RUNS.fetch_add(1, Ordering::Relaxed) == 0 {
            2
        } else {
            1
        };
        let handles: Vec<_> = (0..tasks)
            .map(|_| detsim::spawn(async { detsim::yield_now().await }))
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    };
    let report = Builder::new()
        .ignore_env()
        .exhaustive(1)
        .jobs(1)
        .explore(body);
    let failure = report.failure.expect("the children do not replay");
    assert_eq!(failure.kind, detsim::FailureKind::Nondeterminism);
    assert!(failure.message.contains("ran differently"), "{failure}");

    static CHECKED: AtomicU64 = AtomicU64::new(0);
    let report = Builder::new()
        .ignore_env()
        .exhaustive(1)
        .check_determinism(true)
        .explore(|| async {
            let n = CHECKED.fetch_add(1, Ordering::Relaxed);
            for _ in 0..n % 2 {
                detsim::yield_now().await;
            }
        });
    let failure = report
        .failure
        .expect("two runs of the FIFO schedule differ");
    assert_eq!(failure.kind, detsim::FailureKind::Nondeterminism);
    assert!(failure.message.contains("nondeterminism"), "{failure}");
    assert_eq!(report.seeds_run, 1);
}
