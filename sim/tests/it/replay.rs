//! Replay: a failure's token and its seed reproduce the same failure, step for step.

use detsim::{Builder, Scheduler};

use crate::programs::{lost_update, rare_order};

#[test]
fn token_replays_the_reported_failure_exactly() {
    for scheduler in [
        Scheduler::random(),
        Scheduler::pct(2),
        Scheduler::portfolio(),
    ] {
        let failure = Builder::new()
            .ignore_env()
            .seeds(500)
            .jobs(1)
            .scheduler(scheduler)
            .explore(rare_order)
            .failure
            .unwrap_or_else(|| panic!("{scheduler} finds the rare order in 500 seeds"));
        let token = failure.replay_token();
        assert!(token.starts_with("ds3."));
        let again = Builder::new()
            .ignore_env()
            .replay(&token, rare_order)
            .expect_err("the token fails again");
        assert_eq!(again.message, failure.message);
        assert_eq!(again.location, failure.location);
        assert_eq!(again.steps, failure.steps);
        assert_eq!(
            again.trace(),
            failure.trace(),
            "same trace, event for event"
        );
        assert_eq!(again.replay_token(), token);
    }
}

#[test]
fn seed_replays_the_unshrunk_failure() {
    let failure = Builder::new()
        .ignore_env()
        .seeds(200)
        .explore(|| lost_update(3, 1))
        .failure
        .expect("a lost update is found");
    let again = Builder::new()
        .ignore_env()
        .seed(failure.seed)
        .explore(|| lost_update(3, 1))
        .failure
        .expect("the seed fails again");
    assert_eq!(again.seed, failure.seed);
    assert_eq!(again.scheduler, failure.scheduler);
    assert_eq!(again.message, failure.message);
    assert_eq!(again.replay_token(), failure.replay_token());
}

#[test]
fn past_the_end_of_the_token_the_run_continues_in_fifo_order() {
    // An empty schedule is pure FIFO: asyncio's order. FIFO interleaves the two
    // tasks strictly, so their read-write windows overlap and the run fails exactly as
    // a FIFO sweep's does.
    let fifo = Builder::new()
        .ignore_env()
        .seed(0)
        .scheduler(Scheduler::fifo())
        .explore(|| lost_update(2, 1))
        .failure
        .expect("strict alternation loses an update");
    let empty = detsim::Schedule {
        scheduler: Scheduler::fifo(),
        seed: 0,
        decisions: vec![],
        user_words: vec![],
    };
    let replayed = Builder::new()
        .ignore_env()
        .replay(&empty.to_token(), || lost_update(2, 1))
        .expect_err("the FIFO schedule fails");
    assert_eq!(replayed.trace(), fifo.trace());
    assert!(replayed.decisions.iter().all(|d| d.chosen == 0));
}

#[test]
fn a_passing_schedule_replays_as_ok() {
    let schedule = detsim::Schedule {
        scheduler: Scheduler::random(),
        seed: 3,
        decisions: vec![1, 0, 2],
        user_words: vec![],
    };
    assert!(
        Builder::new()
            .ignore_env()
            .replay(&schedule.to_token(), || async {})
            .is_ok()
    );
}

#[test]
fn a_damaged_token_is_a_clear_token_error() {
    let token = Builder::new()
        .ignore_env()
        .seeds(200)
        .explore(|| lost_update(3, 1))
        .failure
        .unwrap()
        .replay_token();
    for bad in [&token[..token.len() - 2], "ds3.@@@", "seed=42"] {
        let payload = std::panic::catch_unwind(|| {
            let _ = Builder::new()
                .ignore_env()
                .replay(bad, || lost_update(3, 1));
        })
        .expect_err("a bad token panics");
        let message = payload.downcast_ref::<String>().expect("a formatted panic");
        assert!(message.starts_with("bad detsim replay token"), "{message}");
        assert!(message.contains("copy the whole token"), "{message}");
    }
}

/// Runs this test binary again with `vars` set, on one ignored helper test.
fn rerun_self(test: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in [
        "DETSIM_SEED",
        "DETSIM_SEEDS",
        "DETSIM_SEED_START",
        "DETSIM_SCHEDULER",
        "DETSIM_JOBS",
        "DETSIM_REPLAY",
        "DETSIM_CHECK_DETERMINISM",
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    let output = command.output().expect("the test binary reruns");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// Helper for the env-var tests: a failing check under whatever DETSIM_* is set.
#[test]
#[ignore = "run by the env tests in a child process"]
fn child_lost_update_check() {
    detsim::Builder::new()
        .seeds(300)
        .check(|| lost_update(3, 1));
}

#[test]
fn detsim_replay_and_detsim_seed_from_the_report_reproduce_the_failure() {
    let (passed, report) = rerun_self("replay::child_lost_update_check", &[]);
    assert!(!passed, "the sweep fails:\n{report}");
    let command_with = |var: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(var))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the report has a {var} command:\n{report}"))
            .to_owned()
    };
    let token = command_with("DETSIM_REPLAY=");
    let seed = command_with("DETSIM_SEED=");
    assert!(
        report.contains("-- replay::child_lost_update_check --exact"),
        "{report}"
    );
    let panic_line = |text: &str| {
        text.lines()
            .find(|l| l.contains("panicked at") && l.contains("programs.rs"))
            .map(str::to_owned)
    };
    let (passed, replayed) = rerun_self(
        "replay::child_lost_update_check",
        &[("DETSIM_REPLAY", token.as_str())],
    );
    assert!(!passed);
    assert_eq!(panic_line(&replayed), panic_line(&report), "{replayed}");
    assert!(
        replayed.contains(&format!("DETSIM_REPLAY={token}")),
        "{replayed}"
    );
    let (passed, reseeded) = rerun_self(
        "replay::child_lost_update_check",
        &[("DETSIM_SEED", seed.as_str())],
    );
    assert!(!passed);
    assert!(reseeded.contains(&format!("on seed {seed}")), "{reseeded}");
    let (_, bad) = rerun_self(
        "replay::child_lost_update_check",
        &[("DETSIM_REPLAY", "ds3.nonsense")],
    );
    assert!(
        bad.contains("bad detsim replay token `ds3.nonsense`"),
        "{bad}"
    );
}

#[test]
fn a_token_from_another_test_is_flagged_in_the_report() {
    // A schedule that asks for the 5th ready task where this body never has more than 3.
    let foreign = detsim::Schedule {
        scheduler: Scheduler::random(),
        seed: 1,
        decisions: vec![4, 4, 4],
        user_words: vec![],
    };
    let always_fails = || async {
        let a = detsim::spawn(detsim::yield_now());
        let b = detsim::spawn(detsim::yield_now());
        a.await.unwrap();
        b.await.unwrap();
        panic!("fails on every schedule");
    };
    let failure = Builder::new()
        .ignore_env()
        .replay(&foreign.to_token(), always_fails)
        .expect_err("the body fails on every schedule");
    let report = failure.to_string();
    assert!(
        report.contains("decision(s) of the replay token chose a task that was not there"),
        "{report}"
    );
    // A token made by this test has no such note.
    let own = Builder::new()
        .ignore_env()
        .seeds(200)
        .explore(|| lost_update(2, 1))
        .failure
        .unwrap();
    let again = Builder::new()
        .ignore_env()
        .replay(&own.replay_token(), || lost_update(2, 1))
        .unwrap_err();
    assert!(!again.to_string().contains("not there"), "{again}");
}

/// A bug that only a non-default answer of two `decide` calls shows (as a `select!`
/// that must take its second branch twice would): found by a sweep, replayed exactly by
/// the token, and shrunk to exactly those two deviations.
#[test]
fn decisions_of_other_kinds_are_found_replayed_and_shrunk() {
    use detsim_runtime::DecisionKind;
    use detsim_runtime::choice::decide;
    let body = || async {
        let mut picks = Vec::new();
        for _ in 0..4 {
            picks.push(decide(DecisionKind::Select, 3));
            detsim::yield_now().await;
        }
        // The message must not name the picks: shrinking keeps the same message.
        assert!(
            !(picks[1] == 2 && picks[3] == 1),
            "these branches lose the write"
        );
    };
    let failure = Builder::new()
        .ignore_env()
        .seeds(500)
        .jobs(1)
        .scheduler(Scheduler::random())
        .explore(body)
        .failure
        .expect("a random sweep finds the two-branch bug in 500 seeds");
    let shrunk = failure.schedule();
    assert_eq!(shrunk.deviations(), 2, "{:?}", failure.decisions);
    let again = Builder::new()
        .ignore_env()
        .replay(&failure.replay_token(), body)
        .expect_err("the token fails again");
    assert_eq!(again.message, failure.message);
    assert_eq!(again.trace(), failure.trace());
    let selects: Vec<_> = again
        .decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::Select)
        .map(|d| d.chosen)
        .collect();
    assert_eq!(selects, vec![0, 2, 0, 1]);
}

/// A replay whose run fails otherwise than the run that made its token says how: the
/// token carries that run's kind of failure and a checksum of its message.
#[test]
fn a_replay_that_fails_differently_says_how() {
    let failure = Builder::new()
        .ignore_env()
        .seeds(1)
        .explore(|| async { panic!("the first way") })
        .failure
        .expect("every seed fails");
    let token = failure.replay_token();
    let same = Builder::new()
        .ignore_env()
        .replay(&token, || async { panic!("the first way") })
        .expect_err("it fails again");
    assert!(!same.to_string().contains("failed differently"), "{same}");
    let other_message = Builder::new()
        .ignore_env()
        .replay(&token, || async { panic!("another way") })
        .expect_err("it fails again");
    assert!(
        other_message.to_string().contains(
            "note: this replay failed differently from the run that made its token: a panic \
             as that run did, but with another message; likely causes:"
        ),
        "{other_message}"
    );
    let other_kind = Builder::new()
        .ignore_env()
        .replay(&token, std::future::pending::<()>)
        .expect_err("it deadlocks");
    assert!(
        other_kind.to_string().contains(
            "note: this replay failed differently from the run that made its token: a \
             deadlock, where that run ended in a panic;"
        ),
        "{other_kind}"
    );
}
