//! Replaying what a test asked for by name: a replay token (`DETSIM_REPLAY`,
//! [`Builder::replay`](crate::Builder::replay)), and the trace file of a run that
//! `DETSIM_TRACE` / [`Builder::write_trace_to`](crate::Builder::write_trace_to) asked
//! for.

use std::future::Future;

use crate::artifacts::{test_name, token_command};
use crate::replayer::{Maker, Source};
use crate::report::{Failure, Report};
use crate::schedule::Schedule;
use crate::scheduler::Scheduler;
use crate::settings::Settings;
use crate::sweep::calibrate;

/// Runs a token's schedule once, with the trace on.
#[allow(
    clippy::result_large_err,
    reason = "the Failure is the product, not an exceptional path"
)]
pub(crate) fn replay_token<F, Fut>(
    plan: &Settings,
    token: &str,
    body: &F,
    make: Maker<F>,
) -> Result<(), Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let schedule = Schedule::parse(token).unwrap_or_else(|error| panic!("{error}"));
    let run = make(body, plan.max_steps, plan.faults)
        .allow_threads(plan.allow_threads)
        .run(Source::Schedule(&schedule), true);
    let mismatches = run.mismatches;
    let Some(mut failure) = Failure::from_run(schedule.seed, schedule.scheduler, run) else {
        eprintln!("{}", passed_replay_message(mismatches));
        return Ok(());
    };
    failure.replay_command = token_command(&schedule);
    if mismatches > 0 {
        failure.note = Some(format!(
            "note: {mismatches} decision(s) of the replay token chose a task that was not \
             there; the token was made by another test, or this test changed since (run it \
             with the `-- <test name> --exact` filter of the command that printed it)"
        ));
    }
    failure.schedule = schedule;
    failure.write_trace_file();
    Err(failure)
}

/// What a replay that passed says on stderr: a token that reproduces nothing is never
/// silent.
fn passed_replay_message(mismatches: u64) -> String {
    let mut message =
        "detsim: the replayed schedule passed: the failure did not reproduce".to_owned();
    if mismatches > 0 {
        message.push_str(&format!(
            " ({mismatches} decision(s) of the token chose a task that was not there: the \
             token was made by another test, or this test changed since)"
        ));
    }
    message
}

/// Writes the trace file `DETSIM_TRACE` / [`Builder::write_trace_to`] asked for: the
/// failure's run, or else the replay token's or the first seed's run (an exhaustive
/// exploration's: the FIFO schedule), traced once more.
pub(crate) fn write_requested_trace<F, Fut>(
    plan: &Settings,
    body: &F,
    report: &Report,
    path: &std::path::Path,
    make: Maker<F>,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let written = match &report.failure {
        Some(failure) => failure.write_trace(path),
        None => {
            let mut replayer =
                make(body, plan.max_steps, plan.faults).allow_threads(plan.allow_threads);
            let (seed, scheduler, run) = match &plan.replay {
                Some(token) => {
                    let schedule = Schedule::parse(token).unwrap_or_else(|error| panic!("{error}"));
                    let run = replayer.run(Source::Schedule(&schedule), true);
                    (schedule.seed, schedule.scheduler, run)
                }
                None => {
                    // An exhaustive exploration's first schedule is the FIFO one.
                    let scheduler = match plan.exhaustive {
                        Some(_) => Scheduler::fifo(),
                        None => plan.scheduler.for_seed(plan.range.seed(0)),
                    };
                    let seed = plan.range.seed(0);
                    let expected_steps = calibrate(plan, body, make);
                    let source = Source::Seed {
                        scheduler,
                        seed,
                        expected_steps,
                    };
                    (seed, scheduler, replayer.run(source, true))
                }
            };
            let title = match test_name() {
                Some(name) => format!("detsim: {name}, seed {seed:#x} ({scheduler}), passed"),
                None => format!("detsim: seed {seed:#x} ({scheduler}), passed"),
            };
            crate::perfetto::write(&run.trace, &title, path)
        }
    };
    if let Err(error) = written {
        eprintln!(
            "detsim: could not write the trace file {}: {error}",
            path.display()
        );
    }
}
