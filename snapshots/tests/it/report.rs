//! The failure report: what a user reads when a `check` fails.

use detsim::{Builder, Scheduler};

use crate::programs;

/// The report with the trace file's directory (which depends on the machine) replaced
/// by `<target>/detsim-traces`; the file's name stays.
fn redact_trace_dir(report: &str) -> String {
    let mut lines: Vec<String> = report.lines().map(str::to_owned).collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with("trace file (")) {
        let path = std::path::Path::new(lines[i + 1].trim());
        assert!(
            path.is_file(),
            "the report names a file that exists: {path:?}"
        );
        let name = path.file_name().unwrap().to_string_lossy();
        lines[i + 1] = format!("    <target>/detsim-traces/{name}");
    }
    lines.join("\n") + "\n"
}

#[test]
fn failure_report_of_a_failing_check() {
    let payload = std::panic::catch_unwind(|| {
        Builder::new()
            .seeds(100)
            .jobs(1)
            .scheduler(Scheduler::random())
            .check(programs::readme_counter);
    })
    .expect_err("the README's counter loses an update");
    let report = payload
        .downcast_ref::<String>()
        .expect("the report is a formatted panic");
    insta::assert_snapshot!("failure_report_readme_counter", redact_trace_dir(report));
}

#[test]
fn failure_report_of_the_bank_under_the_default_portfolio() {
    let failure = Builder::new()
        .seeds(100)
        .jobs(2)
        .explore(programs::bank)
        .failure
        .expect("the bank loses money");
    insta::assert_snapshot!(
        "failure_report_bank",
        redact_trace_dir(&failure.to_string())
    );
}

/// The deviations of the bank's shrunk failure, explained. Seed 0xa's failure needs one
/// deviation (on most failing seeds the bank fails in asyncio's own order: a customer
/// who arrives 0 ms later yields to the first teller, as asyncio's `sleep(0)` does).
#[test]
fn the_bank_failure_explains_its_deviation() {
    let failure = Builder::new()
        .seed(0xa)
        .jobs(1)
        .explore(programs::bank)
        .failure
        .expect("the bank loses money");
    assert_eq!(failure.schedule().deviations(), 1);
    insta::assert_snapshot!("explain_bank", failure.explain().join("\n"));
}

/// A zoo bug's report: a missed notification, found by a random sweep, shrunk to the
/// one deviation that makes the notifier run between the waiter's check and its
/// registration; the deadlock says where each task waits.
#[test]
fn failure_report_of_a_zoo_deadlock() {
    let failure = Builder::new()
        .seeds(100)
        .jobs(1)
        .scheduler(Scheduler::random())
        .explore(detsim_zoo::missed_notification)
        .failure
        .expect("a random sweep finds the missed notification");
    let lines = failure.explain();
    assert_eq!(lines.len(), failure.schedule().deviations());
    assert!(lines[0].contains(" ran although "), "{lines:?}");
    assert!(lines[0].contains("waited in yield_now (zoo/src/bugs/missed_notification.rs:"));
    assert!(
        failure
            .message
            .contains("waits in a foreign future (last detsim call: yield_now zoo/src/bugs/"),
        "{}",
        failure.message
    );
    insta::assert_snapshot!(
        "failure_report_missed_notification",
        redact_trace_dir(&failure.to_string())
    );
}

/// The report of a failure found by exhaustive exploration: how far the exploration got
/// instead of a seed, and the usual replay command.
#[test]
fn failure_report_of_an_exhaustive_exploration() {
    let failure = Builder::new()
        .exhaustive(2)
        .jobs(2)
        .explore(programs::bank)
        .failure
        .expect("the bank loses money within two deviations");
    insta::assert_snapshot!(
        "failure_report_bank_exhaustive",
        redact_trace_dir(&failure.to_string())
    );
}
