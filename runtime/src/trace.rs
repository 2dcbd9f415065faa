//! The trace: a timeline of one run, recorded when the runtime is asked to.
//!
//! Every spawn, poll, completion, panic, abort, wake and time jump is an [`Event`]
//! stamped with the poll count and the virtual time. `Display` prints one event a line:
//!
//! ```text
//!   step          time  task             event
//!      1     0.000000s  t0 main          poll
//!            0.000000s  t0 main          spawn t1 worker (src/lib.rs:10:5)
//! ```
//!
//! Invariant: a trace holds nothing that varies between runs of the same seed (no
//! addresses, no wall-clock time), so two traces compare equal exactly when the runs
//! made the same steps.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::choice::DecisionKind;
use crate::task::Id;
use crate::wait::WaitSite;

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Polls made so far (the poll that caused this event, or the last one).
    pub step: u64,
    /// Virtual time since the start of the run.
    pub time: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, in an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// `parent` spawned `task` at `location`.
    Spawn {
        /// The new task.
        task: Id,
        /// The task that spawned it (`t0` for the root future).
        parent: Id,
        /// The new task's name, if it was given one.
        name: Option<String>,
        /// Where `spawn` was called.
        location: &'static Location<'static>,
    },
    /// `task` was polled; this poll is step number `Event::step`, chosen among `ready`
    /// ready tasks.
    Poll {
        /// The polled task.
        task: Id,
        /// How many tasks were ready when it was chosen.
        ready: usize,
        /// The task first in line (asyncio's choice: the ready set's oldest entry);
        /// `task` itself unless the scheduler deviated.
        first_in_line: Id,
    },
    /// The poll of `task` returned, and the wakes it caused were applied. Not shown by
    /// the timeline `Display` (the next line starts another poll or a clock jump).
    PollEnd {
        /// The task.
        task: Id,
        /// Where a detsim future suspended it in this poll, if one did and the poll
        /// returned `Pending`; `None` when it finished or a foreign future suspended it.
        at: Option<WaitSite>,
    },
    /// `task` returned its output.
    Complete {
        /// The task.
        task: Id,
    },
    /// `task` panicked with `message`.
    Panic {
        /// The task.
        task: Id,
        /// The panic message (or a placeholder when the payload is not a string).
        message: String,
    },
    /// `task` was aborted; its future was dropped.
    Abort {
        /// The task.
        task: Id,
        /// The task that called `abort`, if any was running.
        by: Option<Id>,
    },
    /// `task` became ready again.
    Wake {
        /// The woken task.
        task: Id,
        /// The running task that woke it; `None` for a timer.
        by: Option<Id>,
    },
    /// No task was ready, so the clock jumped forward to the next timer.
    TimeJump {
        /// The new virtual time.
        to: Duration,
    },
    /// `task` made a decision of `kind` (not a task pick): option `chosen` (0-based;
    /// 0 is the default order) of `options`.
    Decide {
        /// The task that asked (`t0` when no task was running).
        task: Id,
        /// What was decided.
        kind: DecisionKind,
        /// How many options there were.
        options: usize,
        /// The option chosen.
        chosen: usize,
    },
    /// The run ended with `task` still pending; its future was dropped.
    Dropped {
        /// The task.
        task: Id,
    },
    /// Something a crate built on the runtime reports (a node killed, paused or
    /// restarted, a link partitioned, a fault injected), in its own words.
    Note {
        /// The task that was running (`t0` when none was).
        task: Id,
        /// What happened.
        text: String,
    },
    /// A span begins: a stretch of the run that the trace file draws as a slice,
    /// until its [`EventKind::SpanEnd`] (a lock held or waited for, an operation of a
    /// recorded history; see [`begin_span`]). Not shown by the timeline `Display`.
    SpanBegin {
        /// The span.
        span: SpanId,
        /// The task it belongs to (that holds the lock, that invoked the operation).
        task: Id,
        /// Where the trace file draws it.
        track: SpanTrack,
        /// What it is (`holds the Mutex created at src/bank.rs:12:13 …`).
        name: String,
    },
    /// Span `span` ends. Not shown by the timeline `Display`.
    SpanEnd {
        /// The span.
        span: SpanId,
        /// What the slice's name gains at its end (an operation's result), if anything.
        outcome: Option<String>,
    },
    /// Span `span` is marked: the trace file highlights it and shows `text` (the
    /// operations of a linearizability violation). Not shown by the timeline `Display`.
    SpanMark {
        /// The span.
        span: SpanId,
        /// Why it is marked.
        text: String,
    },
}

/// A span of a traced run ([`EventKind::SpanBegin`]): numbered from 0 in each run, in
/// the order spans begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanId(pub u64);

/// Where the trace file draws a span.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpanTrack {
    /// Beside its task's track, in a track of the task's own for such spans (locks
    /// held and waited for).
    Task,
    /// In a track named `track`, in a group of tracks named `group` (the clients of a
    /// recorded history: group `history 1`, track `client 3`).
    Named {
        /// The group (a process, in the trace file).
        group: String,
        /// The track (a thread of that process).
        track: String,
    },
}

/// Whether the current simulation records a trace (and so [`begin_span`] records
/// spans); `false` outside a simulation and while its executor is busy.
pub fn is_traced() -> bool {
    crate::context::try_with_free_core(|core| core.record_trace).unwrap_or(false)
}

/// Begins a span of the running task (`t0` when none runs) on `track`, named `name`
/// (called only when the run is traced): its id, or `None` when the run is not traced
/// (or this is called outside a simulation, or while its executor is busy). End it
/// with [`end_span`].
pub fn begin_span(track: SpanTrack, name: impl FnOnce() -> String) -> Option<SpanId> {
    crate::context::try_with_free_core(|core| {
        let task = core.current_task().unwrap_or(Id::ROOT);
        core.begin_span(task, track, name)
    })
    .flatten()
}

/// Ends `span`; `outcome` (called only when the run is traced) is what its slice's name
/// gains at its end (an operation's result), if anything.
pub fn end_span(span: SpanId, outcome: impl FnOnce() -> Option<String>) {
    crate::context::try_with_free_core(|core| {
        if core.record_trace {
            core.record(EventKind::SpanEnd {
                span,
                outcome: outcome(),
            });
        }
    });
}

/// Marks `span` for the trace file to highlight, saying why (`text`).
pub fn mark_span(span: SpanId, text: impl FnOnce() -> String) {
    crate::context::try_with_free_core(|core| {
        if core.record_trace {
            core.record(EventKind::SpanMark { span, text: text() });
        }
    });
}

impl Event {
    /// Whether the timeline `Display` prints this event.
    pub fn is_shown(&self) -> bool {
        !matches!(
            self.kind,
            EventKind::PollEnd { .. }
                | EventKind::SpanBegin { .. }
                | EventKind::SpanEnd { .. }
                | EventKind::SpanMark { .. }
        )
    }
}

/// The timeline of one run. `Display` prints it one event a line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    events: Vec<Event>,
    /// Task names, indexed by id number (`None`: unnamed).
    names: Vec<Option<String>>,
    /// The name of each task's node, indexed by id number (`None`: no node).
    nodes: Vec<Option<String>>,
    /// Spans begun so far.
    spans: u64,
}

impl Trace {
    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The name of `task`, if it had one.
    pub fn name(&self, task: Id) -> Option<&str> {
        self.names
            .get(task.as_u64() as usize)
            .and_then(|n| n.as_deref())
    }

    /// The name of the node `task` runs on, if it runs on one (see [`crate::node`]).
    pub fn node(&self, task: Id) -> Option<&str> {
        self.nodes
            .get(task.as_u64() as usize)
            .and_then(|n| n.as_deref())
    }

    /// The events the timeline `Display` shows (every event but [`EventKind::PollEnd`]).
    pub fn shown_events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.events.iter().filter(|e| e.is_shown())
    }

    /// A view that prints only the last `n` shown events (with a note of how many were
    /// left out).
    pub fn tail(&self, n: usize) -> TraceTail<'_> {
        TraceTail { trace: self, n }
    }

    /// The index of the first event at which `self` and `other` differ, if they do.
    pub fn first_difference(&self, other: &Trace) -> Option<usize> {
        let common = self.events.len().min(other.events.len());
        (0..common)
            .find(|&i| self.events[i] != other.events[i])
            .or((self.events.len() != other.events.len()).then_some(common))
    }

    pub(crate) fn clear(&mut self) {
        self.events.clear();
        self.names.clear();
        self.nodes.clear();
        self.spans = 0;
    }

    /// The id of the next span.
    pub(crate) fn next_span(&mut self) -> SpanId {
        self.spans += 1;
        SpanId(self.spans - 1)
    }

    pub(crate) fn set_node(&mut self, task: Id, node: &str) {
        let index = task.as_u64() as usize;
        if self.nodes.len() <= index {
            self.nodes.resize(index + 1, None);
        }
        self.nodes[index] = Some(node.to_owned());
    }

    pub(crate) fn name_task(&mut self, task: Id, name: Option<&str>) {
        let index = task.as_u64() as usize;
        if self.names.len() <= index {
            self.names.resize(index + 1, None);
        }
        self.names[index] = name.map(str::to_owned);
    }

    pub(crate) fn push(&mut self, step: u64, time: Duration, kind: EventKind) {
        self.events.push(Event { step, time, kind });
    }

    /// Writes one event as a line of the timeline (nothing for an event that is not
    /// [shown](Event::is_shown)).
    pub fn write_event(&self, f: &mut impl fmt::Write, event: &Event) -> fmt::Result {
        let Some((task, what)) = self.columns(&event.kind) else {
            return Ok(());
        };
        let step = match event.kind {
            EventKind::Poll { .. } => event.step.to_string(),
            _ => String::new(),
        };
        let time = format!(
            "{}.{:06}s",
            event.time.as_secs(),
            event.time.subsec_micros()
        );
        // Continuation lines of a multi-line message line up under the event column.
        let what = what.replace('\n', &format!("\n{:39}", ""));
        writeln!(f, "{step:>6}  {time:>12}  {task:<16} {what}")
    }

    /// The task and event columns of an event's timeline line; `None` for an event
    /// that is not shown.
    fn columns(&self, kind: &EventKind) -> Option<(String, String)> {
        let label = |task: Id| match self.name(task) {
            Some(name) => format!("{task} {name}"),
            None => task.to_string(),
        };
        Some(match kind {
            EventKind::PollEnd { .. }
            | EventKind::SpanBegin { .. }
            | EventKind::SpanEnd { .. }
            | EventKind::SpanMark { .. } => return None,
            EventKind::Poll { task, ready, .. } => (
                label(*task),
                if *ready > 1 {
                    format!("poll (1 of {ready} ready)")
                } else {
                    "poll".to_owned()
                },
            ),
            EventKind::Spawn {
                task,
                parent,
                location,
                ..
            } => (
                label(*parent),
                format!("spawn {} ({location})", label(*task)),
            ),
            EventKind::Complete { task } => (label(*task), "done".to_owned()),
            EventKind::Panic { task, message } => (label(*task), format!("panicked: {message}")),
            EventKind::Abort { task, by } => match by {
                Some(by) => (label(*by), format!("abort {}", label(*task))),
                None => (label(*task), "aborted".to_owned()),
            },
            EventKind::Wake { task, by } => match by {
                Some(by) => (label(*by), format!("wake {}", label(*task))),
                None => (label(*task), "timer fired".to_owned()),
            },
            EventKind::TimeJump { .. } => (String::new(), "clock advances".to_owned()),
            EventKind::Decide {
                task,
                kind,
                options,
                chosen,
            } => (
                label(*task),
                format!("{kind}: option {} of {options}", chosen + 1),
            ),
            EventKind::Dropped { task } => {
                (label(*task), "dropped unfinished at end of run".to_owned())
            }
            EventKind::Note { task, text } => (label(*task), text.clone()),
        })
    }

    fn write_header(f: &mut impl fmt::Write) -> fmt::Result {
        writeln!(f, "{:>6}  {:>12}  {:<16} event", "step", "time", "task")
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Trace::write_header(f)?;
        for event in self.shown_events() {
            self.write_event(f, event)?;
        }
        Ok(())
    }
}

/// The last events of a [`Trace`], from [`Trace::tail`].
#[derive(Debug, Clone, Copy)]
pub struct TraceTail<'a> {
    trace: &'a Trace,
    n: usize,
}

impl fmt::Display for TraceTail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.trace.shown_events().count();
        let skip = shown.saturating_sub(self.n);
        if skip > 0 {
            writeln!(f, "  ({skip} earlier events not shown)")?;
        }
        Trace::write_header(f)?;
        for event in self.trace.shown_events().skip(skip) {
            self.trace.write_event(f, event)?;
        }
        Ok(())
    }
}
