//! Replaying what a test asked for by name: a replay token (`DETSIM_REPLAY`,
//! [`Builder::replay`](crate::Builder::replay)), and the trace file of a run that
//! `DETSIM_TRACE` / [`Builder::write_trace_to`](crate::Builder::write_trace_to) asked
//! for.

use std::future::Future;

use crate::artifacts::{test_name, token_command};
use crate::replayer::{Maker, Source};
use crate::report::{Failure, FailureKind, Report, kind_of_code};
use crate::schedule::{Outcome, Schedule};
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
    let (schedule, expected) =
        Schedule::parse_with_outcome(token).unwrap_or_else(|error| panic!("{error}"));
    let run = make(body, plan.max_steps, plan.faults)
        .allow_threads(plan.allow_threads)
        .run(Source::Schedule(&schedule), true);
    let mismatches = run.mismatches;
    let Some(mut failure) = Failure::from_run(schedule.seed, schedule.scheduler, run) else {
        eprintln!("{}", passed_replay_message(mismatches, expected));
        return Ok(());
    };
    failure.schedule = schedule;
    failure.replay_command = token_command(&failure);
    let mut notes = Vec::new();
    if let Some(expected) = expected
        && failure.outcome() != Some(expected)
    {
        notes.push(failed_differently(expected, &failure));
    }
    if mismatches > 0 {
        notes.push(format!(
            "note: {mismatches} decision(s) of the replay token chose a task that was not \
             there; the token was made by another test, or this test changed since (run it \
             with the `-- <test name> --exact` filter of the command that printed it)"
        ));
    }
    failure.note = (!notes.is_empty()).then(|| notes.join("\n"));
    failure.write_trace_file();
    Err(failure)
}

/// What a replay says when it failed otherwise than the run that made its token.
fn failed_differently(expected: Outcome, failure: &Failure) -> String {
    let now = kind_phrase(failure.kind);
    let how = match kind_of_code(expected.kind) {
        Some(kind) if kind == failure.kind => {
            format!("{now} as that run did, but with another message")
        }
        Some(kind) => format!("{now}, where that run ended in {}", kind_phrase(kind)),
        None => format!("{now}, where that run ended otherwise"),
    };
    format!(
        "note: this replay failed differently from the run that made its token: {how}; {}",
        crate::verify::likely_causes(None)
    )
}

/// A failure kind as a report's sentence names it.
fn kind_phrase(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Panic => "a panic",
        FailureKind::Deadlock => "a deadlock",
        FailureKind::Livelock => "a livelock",
        FailureKind::PollBudget => "its poll budget running out",
        FailureKind::Nondeterminism => "nondeterminism",
        FailureKind::Liveness => "a liveness failure",
        FailureKind::Linearizability => "a linearizability failure",
    }
}

/// What a replay that passed says on stderr: a token that reproduces nothing is never
/// silent.
fn passed_replay_message(mismatches: u64, expected: Option<Outcome>) -> String {
    let mut message =
        "detsim: the replayed schedule passed: the failure did not reproduce".to_owned();
    if let Some(kind) = expected.and_then(|outcome| kind_of_code(outcome.kind)) {
        message.push_str(&format!(
            " (the run that made the token ended in {})",
            kind_phrase(kind)
        ));
    }
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
