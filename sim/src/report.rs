//! What a sweep hands back: [`Report`], and for a failing seed, [`Failure`] — the data
//! first (seed, message, steps, schedule, trace), and a report a user can act on as
//! its `Display`.

use std::fmt;

use detsim_runtime::trace::EventKind;
use detsim_runtime::{Decision, RunError, TaskInfo, Trace};

use crate::assertions::Assertions;
use crate::explore::Coverage;
use crate::history::CheckError;
use crate::replayer::Replayed;

use crate::schedule::{Outcome, Schedule};
use crate::scheduler::Scheduler;
use crate::verify::FreshProcess;

/// How many trace events the failure report shows.
pub(crate) const REPORT_TRACE_TAIL: usize = 40;
/// Deviations a report explains, the last ones of the run.
pub(crate) const REPORT_DEVIATIONS: usize = 20;

/// The outcome of a sweep.
#[derive(Debug, Default)]
pub struct Report {
    /// Seeds run: the whole range when every seed passed; up to and including the
    /// failing seed otherwise (the same whatever the number of threads). With
    /// `DETSIM_RESULTS` set (and no `DETSIM_STOP_AT_FIRST=1`), a sweep runs on after a
    /// failure, and this is the whole range. In
    /// [exhaustive](crate::Builder::exhaustive) mode, the schedules run, counted the same
    /// way.
    pub seeds_run: u64,
    /// The lowest failing seed's failure, if any seed failed.
    pub failure: Option<Failure>,
    pub(crate) coverage: Option<Coverage>,
    pub(crate) assertions: Assertions,
    /// `never reached in N seeds: <name>`, for a sweep of more than one seed that
    /// passed but in which some `sometimes!` or `reachable!` never held.
    pub(crate) never_reached: Option<String>,
    /// Whether [`never_reached`](Report::never_reached) fails the sweep (it warns
    /// under `DETSIM_SOMETIMES=warn` or `Builder::sometimes_warn`).
    pub(crate) unreached_fails: bool,
}

impl Report {
    /// Whether every seed passed, and (for a sweep of more than one seed) every
    /// `sometimes!` and `reachable!` held in some seed, unless that is only a warning.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && !(self.never_reached.is_some() && self.unreached_fails)
    }

    /// What the sweep's `sometimes!`, `reachable!`, `always!` and `unreachable!` saw:
    /// each with the number of seeds that hit it (up to the failing seed, when one
    /// failed). Empty for an exhaustive exploration and a replay.
    pub fn assertions(&self) -> &Assertions {
        &self.assertions
    }

    /// `never reached in N seeds: <name>` (a line per name) when the sweep ran more
    /// than one seed, every seed passed, and some `sometimes!` or `reachable!` never
    /// held.
    pub fn never_reached(&self) -> Option<&str> {
        self.never_reached.as_deref()
    }

    /// What an [exhaustive](crate::Builder::exhaustive) exploration covered (`None`
    /// for a seed sweep or a replay). Its `Display` is the coverage statement:
    /// "explored all 38 schedules with at most 2 deviations from FIFO order; no
    /// failure", or how far a budget or a failure let it get. In exhaustive mode
    /// [`seeds_run`](Report::seeds_run) counts the schedules run.
    pub fn coverage(&self) -> Option<&Coverage> {
        self.coverage.as_ref()
    }
}

/// What kind of failure a [`Failure`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The body (or a task nobody awaited) panicked.
    Panic,
    /// No task was ready and no timer armed.
    Deadlock,
    /// The run exceeded its poll budget while its tasks only yielded without progress.
    Livelock,
    /// The run exceeded its poll budget while still making progress: a long run.
    PollBudget,
    /// Two runs of the same seed differed.
    Nondeterminism,
    /// A condition required by `cluster::liveness` did not hold within its deadline
    /// after the fault phase ended.
    Liveness,
    /// A recorded [`History`](crate::history::History) was not linearizable, or its
    /// check ran out of budget: the run panicked with a
    /// [`CheckError`](crate::history::CheckError)
    /// ([`History::assert_linearizable`](crate::history::History::assert_linearizable)),
    /// and the message is its text.
    Linearizability,
}

/// The number a replay token gives each [`FailureKind`] (see
/// [`Outcome`](crate::schedule::Outcome)); fixed within a token version.
pub(crate) fn kind_code(kind: FailureKind) -> u8 {
    match kind {
        FailureKind::Panic => 0,
        FailureKind::Deadlock => 1,
        FailureKind::Livelock => 2,
        FailureKind::PollBudget => 3,
        FailureKind::Nondeterminism => 4,
        FailureKind::Liveness => 5,
        FailureKind::Linearizability => 6,
    }
}

/// The [`FailureKind`] of a replay token's code, if it names one.
pub(crate) fn kind_of_code(code: u8) -> Option<FailureKind> {
    [
        FailureKind::Panic,
        FailureKind::Deadlock,
        FailureKind::Livelock,
        FailureKind::PollBudget,
        FailureKind::Nondeterminism,
        FailureKind::Liveness,
        FailureKind::Linearizability,
    ]
    .into_iter()
    .find(|&kind| kind_code(kind) == code)
}

/// How shrinking went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShrinkSummary {
    /// Polls of the failing run before shrinking.
    pub original_steps: u64,
    /// Deviations from FIFO order before shrinking.
    pub original_deviations: usize,
    /// Deviations left in the shrunk schedule.
    pub deviations: usize,
    /// Replays shrinking used.
    pub replays: u64,
    /// Why shrinking stopped before it was done, if it did.
    pub stopped_early: Option<String>,
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
    /// Task polls in the run [`Failure::trace`] shows (the shrunk one, once shrunk).
    pub steps: u64,
    /// The single strategy that made the failing schedule (for a portfolio sweep, the
    /// failing seed's strategy).
    pub scheduler: Scheduler,
    /// What kind of failure this is.
    pub kind: FailureKind,
    /// `file:line:column` of the panic, when the failure is a panic.
    pub location: Option<String>,
    /// The task that panicked (`t3 worker`), when the failure is a panic.
    pub task: Option<String>,
    /// The scheduling decisions of the run [`Failure::trace`] shows.
    pub decisions: Vec<Decision>,
    /// How shrinking went, when it ran.
    pub shrink: Option<ShrinkSummary>,
    /// The fault plan of the failing run, when it had one (see
    /// [`Builder::faults`](crate::Builder::faults)); its `Display` pastes back as
    /// `Builder::faults(…)`'s argument.
    pub fault_plan: Option<detsim_net::cluster::Plan>,
    pub(crate) schedule: Schedule,
    pub(crate) trace: Trace,
    pub(crate) replay_command: String,
    pub(crate) seed_command: Option<String>,
    pub(crate) test_name: Option<String>,
    pub(crate) note: Option<String>,
    /// The trace file the report names: its path, or why it could not be written.
    pub(crate) trace_file: Option<Result<std::path::PathBuf, String>>,
    /// Where the failing run came from, when not from a seed of a sweep
    /// ("in an exhaustive exploration"): replaces the seed in the report's first line.
    pub(crate) origin: Option<String>,
    /// The `Builder::explore` call that found the failure on its thread, and whether to
    /// check it in a fresh process (within a time limit) or why not; `None` for a
    /// failure that did not come from a `Builder` (a fuzzed one).
    pub(crate) verify: Option<(u64, Result<std::time::Duration, &'static str>)>,
    /// What replaying the failure in a fresh process showed, once checked.
    pub(crate) fresh_process: Option<FreshProcess>,
    /// The assertions that held (were reached) in the run shown.
    pub(crate) reached: Vec<&'static str>,
}

/// What a deadlock report adds: only the simulation's own tasks and timers wake a
/// task, so one that waits on a real OS thread looks deadlocked.
const DEADLOCK_HINT: &str = "hint: only the simulation's tasks and timers can wake a task. A task \
     that waits on something only a real OS thread delivers (a foreign thread: a channel fed \
     by std::thread, real I/O, real tokio in a crate that depends on `tokio` directly rather \
     than through detsim-tokio) is reported as deadlocked too; keep real threads and real I/O \
     out of the simulation.";

/// Whether a blocked task of a deadlock waits in a future detsim does not know (a
/// foreign channel, real I/O): only then may a real OS thread be what it waits for, and
/// the report says so. Tasks that all wait on detsim's own futures (its locks, timers,
/// join handles) are deadlocked among themselves.
fn waits_in_foreign_futures(error: &RunError) -> bool {
    match error {
        RunError::Deadlock { blocked, .. } => blocked.iter().any(|task| {
            matches!(
                task.position.as_deref(),
                Some(detsim_runtime::wait::Position::Foreign { .. })
            )
        }),
        _ => false,
    }
}

impl Failure {
    pub(crate) fn new(seed: u64, scheduler: Scheduler, message: String, kind: FailureKind) -> Self {
        Failure {
            seed,
            message,
            steps: 0,
            scheduler,
            kind,
            location: None,
            task: None,
            decisions: Vec::new(),
            shrink: None,
            fault_plan: None,
            schedule: Schedule {
                scheduler,
                seed,
                decisions: Vec::new(),
                user_words: Vec::new(),
            },
            trace: Trace::default(),
            replay_command: String::new(),
            seed_command: None,
            test_name: crate::artifacts::test_name(),
            note: None,
            trace_file: None,
            origin: None,
            verify: None,
            fresh_process: None,
            reached: Vec::new(),
        }
    }

    /// The failure of a run, or `None` if it passed: message, location and task from
    /// its error; trace, polls and decisions from the run.
    pub(crate) fn from_run(seed: u64, scheduler: Scheduler, run: Replayed) -> Option<Self> {
        let error = run.outcome.err()?;
        let check_error = match &error {
            RunError::Panic { payload, .. } => payload.downcast_ref::<CheckError>(),
            _ => None,
        };
        let kind = match error {
            _ if check_error.is_some() => FailureKind::Linearizability,
            RunError::Deadlock { .. } => FailureKind::Deadlock,
            RunError::Livelock { .. } => FailureKind::Livelock,
            RunError::PollBudget { .. } => FailureKind::PollBudget,
            _ if error.is_liveness() => FailureKind::Liveness,
            _ => FailureKind::Panic,
        };
        let message = match check_error {
            Some(check_error) => check_error.to_string(),
            None => error.message(),
        };
        let mut failure = Failure::new(seed, scheduler, message, kind);
        if kind == FailureKind::Deadlock && waits_in_foreign_futures(&error) {
            failure.note = Some(DEADLOCK_HINT.to_owned());
        }
        failure.location = error.location().map(str::to_owned);
        failure.task = error.panicked_task().map(TaskInfo::label);
        failure.trace = run.trace;
        failure.steps = run.steps;
        failure.decisions = run.decisions;
        failure.fault_plan = run.fault_plan;
        failure.reached = run
            .assertions
            .iter()
            .filter(|(_, seen)| seen.held)
            .map(|(&name, _)| name)
            .collect();
        Some(failure)
    }

    /// Two runs of the same seed differed (or the sweep and the replay did).
    pub(crate) fn nondeterminism(
        seed: u64,
        scheduler: Scheduler,
        message: String,
        trace: Trace,
        replay_command: String,
    ) -> Self {
        let mut failure = Failure::new(seed, scheduler, message, FailureKind::Nondeterminism);
        failure.trace = trace;
        failure.replay_command = replay_command;
        failure
    }

    /// The names of the `sometimes!`, `reachable!`, `always!` and `unreachable!`
    /// assertions that held (were reached) in the run [`Failure::trace`] shows, in
    /// order of name: a replay of the failure reaches the same ones.
    pub fn reached(&self) -> &[&'static str] {
        &self.reached
    }

    /// The timeline of the failing run (the shrunk one, once shrunk): `Display` prints it.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The failing schedule (shrunk, once shrunk) as a short ASCII token:
    /// [`Builder::replay`](crate::Builder::replay) and `DETSIM_REPLAY` run it again.
    pub fn replay_token(&self) -> String {
        self.schedule.to_token_with(self.outcome())
    }

    /// What a token of this failure carries so that a replay that fails otherwise can
    /// say how: nothing for nondeterminism, which no replay reproduces as such.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        (self.kind != FailureKind::Nondeterminism)
            .then(|| Outcome::new(kind_code(self.kind), &self.message))
    }

    /// The failing schedule as data.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// A shell command that replays exactly this failure (by its replay token, when it
    /// has one).
    pub fn replay_command(&self) -> &str {
        &self.replay_command
    }

    /// Replays this failure's token in a fresh process of the same test binary (the
    /// same test, alone), unless already done, and returns what it showed; the report
    /// then says `reproduced in a fresh process`, or `did not reproduce in a fresh
    /// process` with the likely causes. [`Builder::check`](crate::Builder::check) does
    /// this before it reports a failure; a caller of
    /// [`Builder::explore`](crate::Builder::explore) may do it before printing one.
    /// `DETSIM_VERIFY=off` turns it off, `DETSIM_VERIFY=<seconds>` sets the child's time
    /// limit (default 120 s).
    pub fn check_in_fresh_process(&mut self) -> &FreshProcess {
        if self.fresh_process.is_none() {
            let verdict = match self.verify {
                _ if self.kind == FailureKind::Nondeterminism => FreshProcess::NotChecked(
                    "a run that differs from itself has no schedule to replay".to_owned(),
                ),
                None => {
                    FreshProcess::NotChecked("the failure did not come from a `Builder`".to_owned())
                }
                Some((_, Err(why))) => FreshProcess::NotChecked(why.to_owned()),
                Some((call, Ok(limit))) => crate::verify::check_in_fresh_process(self, call, limit),
            };
            self.fresh_process = Some(verdict);
        }
        self.fresh_process.as_ref().expect("checked above")
    }

    /// What replaying this failure in a fresh process showed, if that was done (see
    /// [`check_in_fresh_process`](Failure::check_in_fresh_process)).
    pub fn fresh_process(&self) -> Option<&FreshProcess> {
        self.fresh_process.as_ref()
    }

    /// A shell command that reruns the whole failing seed, unshrunk, when the failure
    /// came from a sweep.
    pub fn seed_command(&self) -> Option<&str> {
        self.seed_command.as_deref()
    }
}

impl Failure {
    /// The report's line on how shrinking went.
    fn shrink_line(&self, shrink: &ShrinkSummary) -> String {
        let unchanged =
            shrink.original_steps == self.steps && shrink.original_deviations == shrink.deviations;
        let mut line = match unchanged {
            true => format!(
                "shrinking found nothing smaller than {} polls and {} ({} replays)",
                self.steps,
                deviations(shrink.deviations),
                shrink.replays
            ),
            false => format!(
                "shrunk from {} polls and {} to {} polls and {} ({} replays)",
                shrink.original_steps,
                deviations(shrink.original_deviations),
                self.steps,
                deviations(shrink.deviations),
                shrink.replays
            ),
        };
        if let Some(reason) = &shrink.stopped_early {
            line.push_str(&format!("; stopped early: {reason}"));
        }
        line
    }
}

fn deviations(n: usize) -> String {
    match n {
        1 => "1 deviation from FIFO order".to_owned(),
        n => format!("{n} deviations from FIFO order"),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headline = match &self.test_name {
            Some(name) => format!("detsim: test `{name}` failed"),
            None => "detsim: the simulation failed".to_owned(),
        };
        let mut commands = vec![("replay this failure with:", self.replay_command.as_str())];
        if let Some(seed_command) = &self.seed_command {
            commands.push(("or rerun the whole unshrunk seed with:", seed_command));
        }
        let shrink = self.shrink.as_ref().filter(|s| s.original_deviations > 0);
        ReportText {
            headline: match &self.origin {
                Some(origin) => format!(
                    "{headline} {origin} ({} polls; `detsim::random` draws from seed {:#x})",
                    self.steps, self.seed
                ),
                None => format!(
                    "{headline} on seed {:#x} (scheduler {}, {} polls)",
                    self.seed, self.scheduler, self.steps
                ),
            },
            task: self.task.as_deref(),
            location: self.location.as_deref(),
            message: &self.message,
            note: self.note.as_deref(),
            fresh_process: self.fresh_process.as_ref().map(|verdict| match verdict {
                FreshProcess::DidNotReproduce(_) => format!(
                    "{verdict}\n{}",
                    crate::verify::likely_causes(self.seed_command.as_deref())
                ),
                _ => verdict.to_string(),
            }),
            commands,
            shrink: shrink.map(|shrink| self.shrink_line(shrink)),
            trace_file: self.trace_file.as_ref(),
            trace: &self.trace,
            faults: self.fault_plan.map(|plan| plan.to_string()),
        }
        .fmt(f)
    }
}

/// A failure report's parts, in the order it shows them: the one renderer behind the
/// `Display` of [`Failure`] and of [`FuzzFailure`](crate::fuzz::FuzzFailure).
pub(crate) struct ReportText<'a> {
    /// The first line: what failed, where, and how big the run was.
    pub(crate) headline: String,
    pub(crate) task: Option<&'a str>,
    pub(crate) location: Option<&'a str>,
    pub(crate) message: &'a str,
    pub(crate) note: Option<&'a str>,
    /// What replaying the failure in a fresh process showed, when it was checked.
    pub(crate) fresh_process: Option<String>,
    /// What each command does, and the command.
    pub(crate) commands: Vec<(&'a str, &'a str)>,
    pub(crate) shrink: Option<String>,
    /// The trace file written for the report: its path, or why it could not be.
    pub(crate) trace_file: Option<&'a Result<std::path::PathBuf, String>>,
    pub(crate) trace: &'a Trace,
    /// The run's fault plan, pasteable into `Builder::faults`.
    pub(crate) faults: Option<String>,
}

impl fmt::Display for ReportText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline)?;
        writeln!(f)?;
        match (self.task, self.location) {
            (Some(task), Some(location)) => writeln!(f, "task {task} panicked at {location}:")?,
            (Some(task), None) => writeln!(f, "task {task} panicked:")?,
            _ => {}
        }
        for line in self.message.lines() {
            writeln!(f, "    {line}")?;
        }
        if let Some(note) = self.note {
            writeln!(f)?;
            writeln!(f, "{note}")?;
        }
        if let Some(verdict) = &self.fresh_process {
            writeln!(f)?;
            writeln!(f, "{verdict}")?;
        }
        writeln!(f)?;
        for (intro, command) in &self.commands {
            writeln!(f, "{intro}")?;
            writeln!(f, "    {command}")?;
        }
        if let Some(shrink) = &self.shrink {
            writeln!(f)?;
            writeln!(f, "{shrink}")?;
        }
        self.write_faults(f)?;
        self.write_deviations(f)?;
        self.write_trace_file(f)?;
        writeln!(f)?;
        let events = self.trace.shown_events().count();
        writeln!(
            f,
            "trace (last {} of {events} events):",
            events.min(REPORT_TRACE_TAIL)
        )?;
        write!(f, "{}", self.trace.tail(REPORT_TRACE_TAIL))
    }
}

impl ReportText<'_> {
    /// The run's fault plan and the cluster's events, when the run had faults; what
    /// each crash left of the disks' unsynced changes, whatever the plan. Disk syncs
    /// (`disk: …` notes) stay in the trace.
    fn write_faults(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let notes = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
            self.trace
                .events()
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::Note { text, .. } if keep(text) => {
                        Some(format!("{:>10.6}s  {text}", e.time.as_secs_f64()))
                    }
                    _ => None,
                })
                .collect()
        };
        if let Some(plan) = &self.faults {
            writeln!(f)?;
            writeln!(
                f,
                "fault plan of this run (pass to `Builder::faults` to keep it):"
            )?;
            writeln!(f, "    {plan}")?;
            let notes =
                notes(&|text| !text.starts_with("fault plan:") && !text.starts_with("disk: "));
            if !notes.is_empty() {
                writeln!(f, "cluster events and faults ({}):", notes.len())?;
                write_last(f, &notes, REPORT_TRACE_TAIL, |skip| {
                    format!("    ({skip} earlier not shown)")
                })?;
            }
        } else {
            let crashes = notes(&|text| text.starts_with("crash ") || text.starts_with("kill "));
            if crashes.iter().any(|line| line.contains("  crash ")) {
                writeln!(f)?;
                writeln!(
                    f,
                    "kills and what each crash left on disk ({}):",
                    crashes.len()
                )?;
                write_last(f, &crashes, REPORT_TRACE_TAIL, |skip| {
                    format!("    ({skip} earlier not shown)")
                })?;
            }
        }
        Ok(())
    }

    /// Each deviation from asyncio's order of the run shown, in words (the last ones).
    fn write_deviations(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deviations = crate::explain::deviations(self.trace);
        if !deviations.is_empty() {
            writeln!(f)?;
            writeln!(f, "deviations from asyncio's order in the run below:")?;
            // The last ones, nearest the failure: a report stays short whatever the
            // size of the run (a long unshrunk run has hundreds of thousands).
            write_last(f, &deviations, REPORT_DEVIATIONS, |hidden| {
                format!("  ({hidden} earlier deviations not shown)")
            })?;
        }
        Ok(())
    }

    /// Where the trace file went, or why it could not be written.
    fn write_trace_file(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.trace_file {
            Some(Ok(path)) => {
                writeln!(f)?;
                writeln!(
                    f,
                    "trace file (open it in ui.perfetto.dev or chrome://tracing):"
                )?;
                writeln!(f, "    {}", path.display())?;
            }
            Some(Err(error)) => {
                writeln!(f)?;
                writeln!(f, "trace file not written: {error}")?;
            }
            None => {}
        }
        Ok(())
    }
}

/// Writes the last `keep` of `lines`, indented, after the line `hidden(n)` when it
/// leaves `n` earlier ones out.
fn write_last(
    f: &mut fmt::Formatter<'_>,
    lines: &[String],
    keep: usize,
    hidden: impl Fn(usize) -> String,
) -> fmt::Result {
    let skip = lines.len().saturating_sub(keep);
    if skip > 0 {
        writeln!(f, "{}", hidden(skip))?;
    }
    for line in &lines[skip..] {
        writeln!(f, "  {line}")?;
    }
    Ok(())
}
