//! The failure report `check` panics with: what a user reads to act on a failure. It
//! names the test, the seed in hex, the scheduler and the poll count, says where the
//! panic happened and what it said, gives a `DETSIM_SEED=0x… cargo test` command to
//! replay it, and ends with the tail of the trace.

use std::panic::{self, AssertUnwindSafe};

use detsim::{Builder, Failure, Scheduler, spawn, yield_now};

use crate::panic_text;

/// Fails on every seed: a task panics, the root re-raises it.
async fn failing_body() {
    let worker = detsim::task::Builder::new().name("worker").spawn(async {
        yield_now().await;
        assert_eq!(1 + 1, 3, "arithmetic is broken");
    });
    yield_now().await;
    if let Err(error) = worker.await {
        panic::resume_unwind(error.into_panic());
    }
}

/// The report `check` panicked with.
fn report_of(check: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(check)).expect_err("check panics");
    panic_text(payload.as_ref())
}

fn this_test() -> String {
    std::thread::current().name().unwrap().to_owned()
}

#[test]
fn check_panics_with_a_report_a_user_can_act_on() {
    let builder = || {
        Builder::new()
            .ignore_env()
            .seeds(10)
            .scheduler(Scheduler::pct(2))
    };
    let failure: Failure = builder().explore(failing_body).failure.unwrap();
    let report = report_of(|| builder().check(failing_body));
    let expect = |needle: &str| assert!(report.contains(needle), "no `{needle}` in:\n{report}");
    let name = this_test();
    expect(&format!("test `{name}` failed"));
    expect(&format!("seed {:#x}", failure.seed));
    expect("scheduler pct:2");
    expect(&format!("{} polls", failure.steps));
    expect("arithmetic is broken");
    expect(failure.message.lines().next().unwrap());
    expect(&format!("DETSIM_SEED={:#x} ", failure.seed));
    expect(" cargo test");
    expect(&format!("{name} --exact"));
    expect(failure.replay_command());
    expect("trace (last ");
    expect("t1 worker        panicked: assertion `left == right` failed: arithmetic is broken");
    let last_event = failure
        .trace()
        .to_string()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    assert!(
        report.trim_end().ends_with(last_event.trim_end()),
        "{report}"
    );
}

#[test]
fn the_report_says_where_the_panic_happened() {
    let line = line!() + 3;
    let body = || async {
        yield_now().await;
        panic!("located");
    };
    let report = report_of(|| Builder::new().ignore_env().seeds(3).check(body));
    let location = format!("{}:{line}:", file!());
    assert!(report.contains(&location), "no `{location}` in:\n{report}");
    assert!(report.contains("t0 main"), "{report}");
    assert!(report.contains("scheduler random"), "{report}");
}

#[test]
fn the_free_check_function_reports_like_the_builder() {
    let report = report_of(|| {
        detsim::check(|| async {
            let _t = spawn(async {});
            panic!("free check failed");
        })
    });
    assert!(report.contains("free check failed"), "{report}");
    assert!(
        report.contains(&format!("test `{}` failed", this_test())),
        "{report}"
    );
    assert!(report.contains("DETSIM_SEED=0x0 cargo test"), "{report}");
}

#[test]
fn a_deadlock_report_names_the_tasks() {
    let report = report_of(|| {
        Builder::new().ignore_env().seeds(1).check(|| async {
            detsim::task::Builder::new()
                .name("stuck")
                .spawn(std::future::pending::<()>())
                .await
                .unwrap();
        })
    });
    assert!(report.contains("deadlock"), "{report}");
    assert!(
        report.contains("t1 stuck (spawned at sim/tests/it/report.rs:"),
        "{report}"
    );
}

/// A sweep runs each seed without noting wait sites; the report of a failing seed comes
/// from its traced replay and still says where each blocked task waits.
#[test]
fn a_deadlock_found_by_a_sweep_says_where_tasks_wait() {
    let failure = detsim::Builder::new()
        .ignore_env()
        .seeds(4)
        .explore(|| async {
            let stuck = detsim::task::Builder::new()
                .name("stuck")
                .spawn(std::future::pending::<()>());
            stuck.await.unwrap();
        })
        .failure
        .expect("every seed deadlocks");
    let text = failure.to_string();
    assert!(
        text.contains("t0 main waits on a JoinHandle of t1 stuck ("),
        "{text}"
    );
}
