//! What a sweep hands back: [`Report`], and for a failing seed, [`Failure`] — the data
//! first (seed, message, steps, trace, decisions), and a report a user can act on as
//! its `Display`.

use std::fmt;

use detsim_runtime::{Decision, Trace};

use crate::scheduler::Scheduler;

/// How many trace events the failure report shows.
pub(crate) const REPORT_TRACE_TAIL: usize = 40;

/// The outcome of a sweep.
#[derive(Debug)]
pub struct Report {
    /// Seeds run: the whole range when every seed passed; up to and including the
    /// failing seed otherwise (the same whatever the number of threads).
    pub seeds_run: u64,
    /// The lowest failing seed's failure, if any seed failed.
    pub failure: Option<Failure>,
}

impl Report {
    /// Whether every seed passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// A failing run: what went wrong, and everything needed to see it again.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Failure {
    /// The seed of the failing run.
    pub seed: u64,
    /// What went wrong in the program's own words: its panic message, or the runtime's
    /// deadlock / livelock description naming the tasks. No seed or step count, so a
    /// replay of the same failure gives the same message.
    pub message: String,
    /// Task polls in the failing run.
    pub steps: u64,
    /// The policy that made the failing schedule.
    pub scheduler: Scheduler,
    /// `file:line:column` of the panic, when the failure is a panic.
    pub location: Option<String>,
    /// The task that panicked (`t3 worker`), when the failure is a panic.
    pub task: Option<String>,
    /// The scheduling decisions of the failing run, in order.
    pub decisions: Vec<Decision>,
    pub(crate) trace: Trace,
    pub(crate) replay_command: String,
    pub(crate) test_name: Option<String>,
    pub(crate) note: Option<String>,
}

impl Failure {
    /// The timeline of the failing run (`Display` prints it).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// A shell command that runs exactly this failing seed again.
    pub fn replay_command(&self) -> &str {
        &self.replay_command
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test_name {
            Some(name) => write!(f, "detsim: test `{name}` failed")?,
            None => write!(f, "detsim: the simulation failed")?,
        }
        writeln!(
            f,
            " on seed {:#x} (scheduler {}, {} polls)",
            self.seed, self.scheduler, self.steps
        )?;
        writeln!(f)?;
        match (&self.task, &self.location) {
            (Some(task), Some(location)) => writeln!(f, "task {task} panicked at {location}:")?,
            (Some(task), None) => writeln!(f, "task {task} panicked:")?,
            _ => {}
        }
        for line in self.message.lines() {
            writeln!(f, "    {line}")?;
        }
        if let Some(note) = &self.note {
            writeln!(f)?;
            writeln!(f, "{note}")?;
        }
        writeln!(f)?;
        writeln!(f, "replay this failure with:")?;
        writeln!(f, "    {}", self.replay_command)?;
        writeln!(f)?;
        let events = self.trace.events().len();
        writeln!(
            f,
            "trace (last {} of {events} events):",
            events.min(REPORT_TRACE_TAIL)
        )?;
        write!(f, "{}", self.trace.tail(REPORT_TRACE_TAIL))
    }
}
