//! Where tasks wait: the last place each task was suspended by one of detsim's own
//! futures, so that reports can say where a blocked or passed-over task stands.
//!
//! detsim's futures ([`sleep`](crate::time::sleep), [`sleep_until`](crate::time::sleep_until),
//! [`timeout`](crate::time::timeout), [`yield_now`](crate::yield_now), awaiting a
//! [`JoinHandle`](crate::JoinHandle)) take their caller's location with
//! `#[track_caller]` on `poll` (the `.await` site, or the combinator that polls them)
//! and, when they return `Pending`, note a [`WaitSite`] in the running task's slot. A
//! facade's futures (timers, sockets, `select!`) call [`record`] the same way.
//!
//! Invariants:
//! - noting a wait writes one entry of a table beside the task slab (grown up to the
//!   highest slot that waits, and kept from run to run); a poll stores its step in its
//!   slot. A sweep's pass/fail runs skip the entry (`Runtime::set_wait_sites(false)`):
//!   with many tasks polled in random order it is a cache miss per suspension, and a
//!   failing seed is replayed with the trace on, which notes every wait, for its report;
//! - a task's [`Position`] is *current* only if the wait was noted during its last poll;
//!   otherwise its last poll suspended in a future detsim does not know (a foreign
//!   channel, a hand-written future), and the wait is only its last detsim call;
//! - locations are `&'static` and deterministic, so messages naming them compare equal
//!   between a run and its replay.

use std::fmt;
use std::panic::Location;

use crate::context;
use crate::task::Id;

/// What a task waits for, in a [`WaitSite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitKind {
    /// [`sleep`](crate::time::sleep) or [`sleep_until`](crate::time::sleep_until).
    Sleep,
    /// [`timeout`](crate::time::timeout) (its future and its deadline).
    Timeout,
    /// [`yield_now`](crate::yield_now).
    Yield,
    /// Awaiting the [`JoinHandle`](crate::JoinHandle) of this task.
    Join(Id),
    /// A facade's future, by name (`"select!"`, `"TcpStream::read"`, …).
    Other(&'static str),
    /// A lock or semaphore of [`crate::sync`]: `op` is the call (`"Mutex::lock"`,
    /// `"RwLock::read"`, …), `resource` the lock's index in the run's registry, which a
    /// deadlock report reads for its holders.
    Resource {
        /// The call that waits.
        op: &'static str,
        /// The lock's index in the run (see [`crate::sync`]).
        resource: u32,
    },
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitKind::Sleep => f.write_str("in sleep"),
            WaitKind::Timeout => f.write_str("in timeout"),
            WaitKind::Yield => f.write_str("in yield_now"),
            WaitKind::Join(task) => write!(f, "on a JoinHandle of {task}"),
            WaitKind::Other(name) | WaitKind::Resource { op: name, .. } => write!(f, "in {name}"),
        }
    }
}

/// Where and on what a detsim future suspended a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitSite {
    /// What the task waits for.
    pub kind: WaitKind,
    /// Where the future was polled from (the `.await`, or the combinator polling it).
    pub location: &'static Location<'static>,
}

impl fmt::Display for WaitSite {
    /// `on a JoinHandle of t2 (src/lib.rs:42:17)`, `in sleep (src/lib.rs:12:9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.location)
    }
}

/// Where a suspended task stands, as far as detsim knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// Its last poll was suspended by a detsim future.
    At(WaitSite),
    /// Its last poll was suspended by a future detsim does not know; `last` is the last
    /// detsim future that suspended it, if any did.
    Foreign {
        /// The last detsim wait of the task, before its last poll.
        last: Option<WaitSite>,
    },
    /// Spawned, never polled.
    NotStarted,
}

impl Position {
    /// The wait site, when the task is suspended in a detsim future.
    pub fn site(&self) -> Option<&WaitSite> {
        match self {
            Position::At(site) => Some(site),
            _ => None,
        }
    }

    /// The lock (its index in the run's registry) this task waits for, if it does.
    pub fn resource(&self) -> Option<u32> {
        match self.site()?.kind {
            WaitKind::Resource { resource, .. } => Some(resource),
            _ => None,
        }
    }

    /// The task this one waits for through a `JoinHandle`, if it does.
    pub fn joins(&self) -> Option<Id> {
        match self.site()?.kind {
            WaitKind::Join(task) => Some(task),
            _ => None,
        }
    }
}

impl fmt::Display for Position {
    /// `waits on a JoinHandle of t2 (src/lib.rs:42:17)`, `waits in a foreign future
    /// (last detsim call: src/lib.rs:57:9)`, `has not started yet`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::At(site) => write!(f, "waits {site}"),
            Position::Foreign { last: Some(last) } => write!(
                f,
                "waits in a foreign future (last detsim call: {} {})",
                last.kind.name(),
                last.location
            ),
            Position::Foreign { last: None } => f.write_str("waits in a foreign future"),
            Position::NotStarted => f.write_str("has not started yet"),
        }
    }
}

impl WaitKind {
    /// The future's name, as "last detsim call" notes print it.
    pub fn name(&self) -> &'static str {
        match self {
            WaitKind::Sleep => "sleep",
            WaitKind::Timeout => "timeout",
            WaitKind::Yield => "yield_now",
            WaitKind::Join(_) => "JoinHandle",
            WaitKind::Other(name) | WaitKind::Resource { op: name, .. } => name,
        }
    }
}

/// Notes that the running task is suspended here, on `kind`: call it from a future's
/// `poll` (itself `#[track_caller]`) when it returns `Pending`, so that deadlock
/// reports and deviation explanations can say where the task waits. Does nothing
/// outside a simulation or outside a task's poll.
#[track_caller]
pub fn record(kind: WaitKind) {
    record_at(kind, Location::caller());
}

/// [`record`] with an explicit location.
pub fn record_at(kind: WaitKind, location: &'static Location<'static>) {
    context::try_with_core(|core| core.note_wait(WaitSite { kind, location }));
}
