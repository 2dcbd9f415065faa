//! What a run reports: its decisions, and how it failed ([`RunError`]), naming tasks
//! by [`TaskInfo`].

use std::convert::Infallible;
use std::fmt;
use std::panic::Location;

use rand::TryRng;

use crate::choice::DecisionKind;
use crate::deadlock::deadlock_message;
use crate::join::payload_str;
use crate::sync::ResourceInfo;
use crate::task::{Id, Payload};
use crate::wait::Position;

/// The source behind [`crate::random`]: any infallible `rand` generator.
pub type UserRng = Box<dyn TryRng<Error = Infallible>>;

/// The default poll budget of a run, before it grows with the run's tasks (see
/// [`DEFAULT_POLLS_PER_TASK`]); [`Runtime::set_max_polls`](crate::Runtime::set_max_polls)
/// sets a fixed budget instead.
pub const DEFAULT_MAX_POLLS: u64 = 1_000_000;

/// The former name of [`DEFAULT_MAX_POLLS`].
#[deprecated(
    since = "0.2.0",
    note = "renamed `DEFAULT_MAX_POLLS`: detsim counts polls"
)]
pub const DEFAULT_MAX_STEPS: u64 = DEFAULT_MAX_POLLS;

/// How much the default poll budget grows with each spawned task, so that a big correct
/// program (a million tasks) fits in it while a small one that spins still fails fast.
pub const DEFAULT_POLLS_PER_TASK: u64 = 100;

/// How many tasks a deadlock or poll-budget message names before "and N more".
const LISTED_TASKS: usize = 10;

/// One decision of a run: `chosen` among `options` of a decision of `kind` (for a task
/// decision, the ready tasks in FIFO order). Recorded only when `options >= 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    /// What was decided.
    pub kind: DecisionKind,
    /// How many options there were (ready tasks, for a task decision). Named `ready`
    /// before 0.2.0.
    pub options: u32,
    /// The index chosen, in FIFO order: 0 is asyncio's choice.
    pub chosen: u32,
}

/// A task as reports name it: id, name and where it was spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: Id,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// Where `spawn` was called (`None` for the root future).
    pub spawned_at: Option<&'static Location<'static>>,
    /// Where the task waits (set for the blocked tasks of a [`RunError::Deadlock`]).
    /// Boxed so that a `TaskInfo`, and every `RunError` that holds one, stays as small
    /// as it was: the poll loop moves a `RunError`-sized value every poll.
    pub position: Option<Box<Position>>,
}

/// The name of the root task (`t0`) when it was not given one.
pub(crate) const ROOT_NAME: &str = "main";

impl TaskInfo {
    /// How reports and traces name the task: its id, then its name (`t3 worker`); the
    /// root future is `t0 main`.
    pub fn label(&self) -> String {
        match (&self.name, self.id) {
            (Some(name), id) => format!("{id} {name}"),
            (None, Id::ROOT) => format!("{} {ROOT_NAME}", Id::ROOT),
            (None, id) => id.to_string(),
        }
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())?;
        if let Some(location) = self.spawned_at {
            write!(f, " (spawned at {location})")?;
        }
        Ok(())
    }
}

/// Why a run failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The root future panicked, or a task panicked and nobody can read its panic any
    /// more (its handle was dropped).
    Panic {
        /// The task that panicked (`t0` for the root future).
        task: TaskInfo,
        /// The original payload.
        payload: Payload,
        /// `file:line:column` of the panic, when the panic hook saw it.
        location: Option<String>,
    },
    /// The root future is pending, no task is ready and no timer is armed.
    Deadlock {
        /// Every unfinished task, root first, each with its
        /// [`position`](TaskInfo::position).
        blocked: Vec<TaskInfo>,
        /// The locks and semaphores of [`crate::sync`] that a task of the run waited on,
        /// by their index in the run (what a
        /// [`WaitKind::Resource`](crate::wait::WaitKind::Resource) names), with their
        /// holders when the run stalled.
        resources: Vec<ResourceInfo>,
    },
    /// The run used up its poll budget while its tasks only yielded without progress:
    /// over at least the last half of the budget (or 10,000 polls), every poll ended
    /// with the polled task ready again, and none finished, parked, spawned or woke
    /// another task, and no timer fired.
    Livelock {
        /// The poll budget that ran out.
        max_steps: u64,
        /// The tasks that were still ready.
        ready: Vec<TaskInfo>,
    },
    /// The run used up its poll budget while still making progress (tasks finishing,
    /// parking, waking each other, timers firing): a run longer than the budget rather
    /// than a livelock. Raise the budget with `Builder::max_steps` or `DETSIM_MAX_STEPS`
    /// (or [`Runtime::set_max_steps`](crate::Runtime::set_max_steps)).
    PollBudget {
        /// The poll budget that ran out.
        max_steps: u64,
        /// The tasks that were still ready.
        ready: Vec<TaskInfo>,
    },
    /// A task started an OS thread, which a run refuses unless told otherwise
    /// ([`Runtime::set_allow_threads`](crate::Runtime::set_allow_threads)): the
    /// thread's timing would not be the seed's. The start failed (`pthread_create`
    /// returned `EPERM`, so `std::thread::spawn` panicked), and the run fails with this
    /// error whatever the program made of that. Linux with glibc only (see
    /// [`crate::seal`]).
    Thread {
        /// The task that started the thread, if it was known.
        task: Option<TaskInfo>,
        /// Where (`file:line:column`), when the backtrace could say.
        site: Option<String>,
    },
}

/// The panic payload of a liveness failure (`detsim::cluster::liveness`): a harness
/// tells it from other panics by its type ([`RunError::is_liveness`]), never by the
/// words of its message. Its message is read wherever a string payload's would be
/// ([`RunError::message`], [`JoinError`](crate::JoinError)'s `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessFailure {
    /// What did not hold, in words.
    pub message: String,
}

impl fmt::Display for LivenessFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LivenessFailure {}

impl RunError {
    /// Whether the run failed on a liveness check: a panic whose payload is a
    /// [`LivenessFailure`].
    pub fn is_liveness(&self) -> bool {
        matches!(self, RunError::Panic { payload, .. } if payload.is::<LivenessFailure>())
    }

    /// What went wrong, in the program's own words: the panic message, or a description
    /// of the deadlock or livelock naming the tasks. Free of seeds and step counts, so
    /// a replay of the same failure gives the same message.
    pub fn message(&self) -> String {
        match self {
            RunError::Panic { payload, .. } => payload_str(payload.as_ref())
                .unwrap_or("Box<dyn Any> (a panic payload that is not a string)")
                .to_owned(),
            RunError::Deadlock { blocked, resources } => deadlock_message(blocked, resources),
            RunError::Livelock { max_steps, ready } => format!(
                "livelock: the run did not finish within {max_steps} polls (max_steps), and \
                 in its last polls tasks only yielded without progress; still ready: {}",
                join_tasks(ready)
            ),
            RunError::Thread { task, site } => format!(
                "an OS thread was started inside the simulation{}{}: detsim refused it (its \
                 timing would not be decided by the seed), so starting it failed (std's \
                 thread::spawn panics \"failed to spawn thread\"). Run the work as a task \
                 (detsim::spawn, or spawn_blocking under the tokio facade), or allow OS \
                 threads with Builder::allow_threads() or DETSIM_ALLOW_THREADS=1",
                task.as_ref()
                    .map_or_else(String::new, |task| format!(" by task {task}")),
                site.as_ref()
                    .map_or_else(String::new, |site| format!(" at {site}")),
            ),
            RunError::PollBudget { max_steps, ready } => format!(
                "poll budget exhausted: the run did not finish within {max_steps} polls \
                 (max_steps) though it was still making progress; raise the budget with \
                 Builder::max_steps or DETSIM_MAX_STEPS if the run is just long; still \
                 ready: {}",
                join_tasks(ready)
            ),
        }
    }

    /// Where the panic happened, for a panic; where the thread was started, for a
    /// refused thread.
    pub fn location(&self) -> Option<&str> {
        match self {
            RunError::Panic { location, .. } => location.as_deref(),
            RunError::Thread { site, .. } => site.as_deref(),
            _ => None,
        }
    }

    /// The task that panicked, for a panic.
    pub fn panicked_task(&self) -> Option<&TaskInfo> {
        match self {
            RunError::Panic { task, .. } => Some(task),
            _ => None,
        }
    }
}

/// The first [`LISTED_TASKS`] tasks, then how many more: a message stays short
/// whatever the number of tasks.
fn join_tasks(tasks: &[TaskInfo]) -> String {
    let mut text = tasks
        .iter()
        .take(LISTED_TASKS)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if tasks.len() > LISTED_TASKS {
        text.push_str(&format!("; and {} more", tasks.len() - LISTED_TASKS));
    }
    text
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Panic { task, location, .. } => {
                write!(f, "task {task} panicked")?;
                if let Some(location) = location {
                    write!(f, " at {location}")?;
                }
                write!(f, ": {}", self.message())
            }
            _ => f.write_str(&self.message()),
        }
    }
}

impl std::error::Error for RunError {}
