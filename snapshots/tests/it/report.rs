//! The failure report: what a user reads when a `check` fails.

use detsim::{Builder, Scheduler};

use crate::programs;

/// The report with the trace file's directory (which depends on the machine) replaced
/// by `<target>/detsim`; the file's name stays.
fn redact_trace_dir(report: &str) -> String {
    let mut lines: Vec<String> = report.lines().map(str::to_owned).collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with("trace file (")) {
        let path = std::path::Path::new(lines[i + 1].trim());
        assert!(
            path.is_file(),
            "the report names a file that exists: {path:?}"
        );
        let name = path.file_name().unwrap().to_string_lossy();
        lines[i + 1] = format!("    <target>/detsim/{name}");
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
