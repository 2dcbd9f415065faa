//! Shared plumbing: run a program under every scheduler and turn a
//! violation into a proptest failure that says how to replay it.

use std::fmt::Write as _;

use detsim_properties::check::{Checked, Violation};
use detsim_properties::{Program, Run, Sched, interp};
use proptest::test_runner::{Config, TestCaseError};

/// Programs per property when `PROPTEST_CASES` is not set: about 15 s for
/// the whole binary in a debug build on two cores.
pub(crate) const CASES: u32 = 1024;

/// proptest's configuration (which reads `PROPTEST_*`), with [`CASES`]
/// cases unless `PROPTEST_CASES` says otherwise.
pub(crate) fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    config
}

/// A failure message: the violation, how to replay, then the log.
pub(crate) fn explain(sched: Sched, run: &Run, v: &Violation) -> String {
    let mut s = format!(
        "{v}\n  scheduler {sched}, seed {seed:#x} (rerun: `interp::run(&program, Sched::{sched:?}, {seed:#x})` with the minimal program below)\n  verdict: {verdict:?}\n  log:\n",
        seed = run.seed,
        verdict = run.verdict.failure.as_ref().map(|f| &f.message),
    );
    for (i, e) in run.events.iter().enumerate() {
        let mark = if Some(i) == v.at { ">>" } else { "  " };
        let _ = writeln!(s, "  {mark} #{i:<3} {e:?}");
    }
    s
}

/// Runs `program` on `seed` under each scheduler and applies `check`.
pub(crate) fn under_all(
    program: &Program,
    seed: u64,
    check: impl Fn(&Program, Sched, &Run) -> Checked,
) -> Result<(), TestCaseError> {
    for sched in Sched::ALL {
        let run = interp::run(program, sched, seed);
        check(program, sched, &run).map_err(|v| TestCaseError::fail(explain(sched, &run, &v)))?;
    }
    Ok(())
}
