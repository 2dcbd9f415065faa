//! The failure report: what a user reads when a `check` fails.

use detsim::{Builder, Scheduler};

use crate::programs;

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
    insta::assert_snapshot!("failure_report_readme_counter", report);
}

#[test]
fn failure_report_of_the_bank_under_the_default_portfolio() {
    let failure = Builder::new()
        .seeds(100)
        .jobs(2)
        .explore(programs::bank)
        .failure
        .expect("the bank loses money");
    insta::assert_snapshot!("failure_report_bank", failure.to_string());
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
    insta::assert_snapshot!("failure_report_bank_exhaustive", failure.to_string());
}
