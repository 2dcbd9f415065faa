//! [`FuzzFailure`]: a fuzzed run that failed, as data (message, schedule, trace) and as
//! the report a fuzz target panics with (`Display`), which ends with the replay token.

use std::fmt;

use detsim_runtime::{RunError, TaskInfo, Trace};

use crate::replayer::Replayed;
use crate::report::ReportText;
use crate::schedule::Schedule;

#[cfg(doc)]
use super::FALLBACK_SEED;

/// A fuzzed run that failed: what went wrong, and the schedule that replays it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FuzzFailure {
    /// What went wrong in the program's own words (as [`Failure::message`](crate::Failure)).
    pub message: String,
    /// The schedule of the failing run: every decision made (trailing FIFO decisions
    /// trimmed) and every random word returned, with seed [`FALLBACK_SEED`].
    pub schedule: Schedule,
    /// Task polls in the failing run.
    pub steps: u64,
    /// Boxed, so that `Result<(), FuzzFailure>` stays small.
    pub(super) details: Box<Details>,
}

#[derive(Debug, Clone)]
pub(super) struct Details {
    pub(super) location: Option<String>,
    pub(super) task: Option<String>,
    pub(super) trace: Trace,
    pub(super) note: Option<String>,
    /// What each command does, and the command: the report's way back to the crash.
    pub(super) commands: Vec<(String, String)>,
    /// Replaying the schedule failed with the same message.
    pub(super) reproduces: bool,
}

impl FuzzFailure {
    /// The failure `message` of the run `shown` (its trace, polls, and its error's
    /// location and task), whose replay schedule is `schedule`.
    pub(super) fn new(
        message: String,
        schedule: Schedule,
        shown: Replayed,
        reproduces: bool,
    ) -> Self {
        let error = shown.outcome.as_ref().err();
        FuzzFailure {
            message,
            schedule,
            steps: shown.steps,
            details: Box::new(Details {
                location: error.and_then(RunError::location).map(str::to_owned),
                task: error.and_then(RunError::panicked_task).map(TaskInfo::label),
                trace: shown.trace,
                note: None,
                commands: Vec::new(),
                reproduces,
            }),
        }
    }

    /// The replay token of [`schedule`](FuzzFailure::schedule): pass it to
    /// `DETSIM_REPLAY` or [`Builder::replay`](crate::Builder::replay).
    pub fn token(&self) -> String {
        self.schedule.to_token()
    }

    /// `file:line:column` of the panic, when the failure is a panic.
    pub fn location(&self) -> Option<&str> {
        self.details.location.as_deref()
    }

    /// The task that panicked (`t3 worker`), when the failure is a panic.
    pub fn task(&self) -> Option<&str> {
        self.details.task.as_deref()
    }

    /// The timeline of the failing run, recorded while replaying its schedule.
    pub fn trace(&self) -> &Trace {
        &self.details.trace
    }

    /// Whether replaying the schedule reproduced the same failure (it does unless the
    /// body is not deterministic).
    pub fn replays(&self) -> bool {
        self.details.reproduces
    }
}

impl fmt::Display for FuzzFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ReportText {
            headline: format!(
                "detsim: a fuzzed schedule failed ({} polls, {} deviations from FIFO, {} \
                 random words)",
                self.steps,
                self.schedule.deviations(),
                self.schedule.user_words.len()
            ),
            task: self.task(),
            location: self.location(),
            message: &self.message,
            note: self.details.note.as_deref(),
            fresh_process: None,
            commands: (self.details.commands.iter())
                .map(|(intro, command)| (intro.as_str(), command.as_str()))
                .collect(),
            shrink: None,
            trace_file: None,
            trace: self.trace(),
            faults: None,
        }
        .fmt(f)
    }
}
