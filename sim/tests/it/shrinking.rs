//! Shrinking: the reported schedule fails the same way, is no bigger than the original,
//! and is 1-minimal (reverting any remaining deviation makes the failure go away).

use detsim::{Builder, Failure, Schedule, Scheduler};
use proptest::prelude::*;

use crate::programs::lost_update;

type Body = Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Sync>;

/// Replays `decisions` for `failure`'s seed: the failure's message, location and polls.
fn replay_message(
    failure: &Failure,
    decisions: Vec<u32>,
    body: impl Fn() -> Body,
) -> Option<(String, Option<String>, u64)> {
    let schedule = Schedule {
        scheduler: failure.scheduler,
        seed: failure.seed,
        decisions,
        user_words: vec![],
    };
    let run = body();
    Builder::new()
        .ignore_env()
        .replay(&schedule.to_token(), run)
        .err()
        .map(|f| (f.message, f.location, f.steps))
}

/// Checks the shrinking guarantees on `failure`.
fn check_shrunk(failure: &Failure, body: impl Fn() -> Body + Copy) {
    let summary = failure.shrink.as_ref().expect("sweeps shrink by default");
    let shrunk = failure.schedule().decisions.clone();
    assert!(summary.deviations <= summary.original_deviations);
    assert!(failure.steps <= summary.original_steps);
    assert_eq!(
        summary.deviations,
        shrunk.iter().filter(|&&d| d != 0).count()
    );
    assert!(summary.stopped_early.is_none(), "{summary:?}");
    // The token fails with the same message at the same location.
    let target = (failure.message.clone(), failure.location.clone());
    let (message, location, steps) = replay_message(failure, shrunk.clone(), body).unwrap();
    assert_eq!((message, location), target);
    assert_eq!(steps, failure.steps);
    // 1-minimal: reverting any one deviation loses this failure, or needs a run longer
    // than the original failing one.
    for (i, &d) in shrunk.iter().enumerate() {
        if d == 0 {
            continue;
        }
        let mut reverted = shrunk.clone();
        reverted[i] = 0;
        if let Some((message, location, steps)) = replay_message(failure, reverted, body)
            && (message, location) == target
        {
            assert!(
                steps > summary.original_steps,
                "reverting deviation {i} of {shrunk:?} still fails the same way in {steps} polls"
            );
        }
    }
}

fn boxed_lost_update(tasks: usize, gap: usize) -> Body {
    Box::new(move || Box::pin(lost_update(tasks, gap)))
}

proptest! {
    // 24 cases by default; PROPTEST_CASES=1000 for a soak run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
    ))]

    #[test]
    fn shrunk_schedules_replay_the_failure_and_are_one_minimal(
        tasks in 2usize..5,
        gap in 1usize..3,
        start in 0u64..10_000,
        strategy in 0usize..3,
    ) {
        let scheduler = [Scheduler::random(), Scheduler::pct(2), Scheduler::portfolio()][strategy];
        let body = boxed_lost_update(tasks, gap);
        let report = Builder::new().ignore_env().seed_start(start).seeds(300).scheduler(scheduler).explore(&*body);
        let failure = report.failure.expect("a lost update is found in 300 seeds");
        check_shrunk(&failure, move || boxed_lost_update(tasks, gap));
    }
}

#[test]
fn the_report_says_how_far_the_schedule_shrank() {
    let failure = Builder::new()
        .ignore_env()
        .seeds(100)
        .scheduler(Scheduler::random())
        .explore(|| lost_update(4, 2))
        .failure
        .unwrap();
    let summary = failure.shrink.clone().unwrap();
    let report = failure.to_string();
    assert!(
        report.contains(&format!(
            "shrunk from {} polls and {}",
            summary.original_steps, summary.original_deviations
        )),
        "{report}"
    );
}

#[test]
fn a_shrink_budget_stops_early_and_the_report_says_so() {
    let failure = Builder::new()
        .ignore_env()
        .seeds(100)
        .scheduler(Scheduler::random())
        .shrink_budget(1, std::time::Duration::from_secs(60))
        .explore(|| lost_update(4, 2))
        .failure
        .unwrap();
    let summary = failure.shrink.clone().unwrap();
    assert_eq!(summary.replays, 1);
    let reason = summary.stopped_early.expect("one replay is not enough");
    assert!(reason.contains("replay budget of 1"), "{reason}");
    assert!(
        failure
            .to_string()
            .contains("stopped early: replay budget of 1")
    );
    // Even an unfinished shrink reports a schedule that fails the same way.
    let again = Builder::new()
        .ignore_env()
        .replay(&failure.replay_token(), || lost_update(4, 2))
        .unwrap_err();
    assert_eq!(again.message, failure.message);
}

#[test]
fn a_failure_with_nothing_to_shrink_says_nothing_about_shrinking() {
    let failure = Builder::new()
        .ignore_env()
        .seeds(1)
        .scheduler(Scheduler::fifo())
        .explore(|| lost_update(2, 1))
        .failure
        .expect("FIFO alternation loses an update");
    assert_eq!(failure.shrink.as_ref().unwrap().original_deviations, 0);
    assert!(!failure.to_string().contains("shrunk from"), "{failure}");
}
