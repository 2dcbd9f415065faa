//! The event log the interpreter records, and what a run leaves behind.
//!
//! Events are plain data so that the checks can be fed a doctored log in
//! tests. Task ids are interned per run ([`IdKey`] indexes the order in which
//! ids were first seen) and instants are durations since the root's first
//! poll, so two logs of the same run compare equal with `==`.

use std::time::Duration;

use crate::program::NodeIx;

/// A `detsim::task::Id`, interned: the n-th distinct id seen in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdKey(pub u32);

/// How a poll of a task's future ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PollEnd {
    /// `Poll::Pending`.
    Pending,
    /// `Poll::Ready`: the task finished.
    Ready,
    /// The poll unwound (the task panicked).
    Panicked,
}

/// What a task waits for at an `.await`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wait {
    /// `yield_now`.
    Yield,
    /// A sleep until this instant.
    Timer(Duration),
    /// A child's join handle.
    Join(NodeIx),
    /// A child's join handle, with a time-out at this instant.
    JoinOrTimer(NodeIx, Duration),
    /// A channel message from this node.
    Recv(NodeIx),
}

/// What awaiting a join handle gave.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `Ok(value)`.
    Value(u64),
    /// `Err(e)` with `e.is_panic()`; the payload if it was a `String`.
    Panic(Option<String>),
    /// `Err(e)` with `e.is_cancelled()`.
    Cancelled,
    /// `Err(e)` that is neither (never valid).
    Other(String),
}

/// One thing that happened in a run, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The executor began polling the node's future.
    PollStart {
        /// The task.
        node: NodeIx,
        /// `detsim::task::id()` during the poll.
        id: IdKey,
        /// `detsim::time::now()` during the poll.
        at: Duration,
    },
    /// The poll ended.
    PollEnd {
        /// The task.
        node: NodeIx,
        /// How.
        end: PollEnd,
    },
    /// `parent` spawned `child`; the handle's `id()`.
    Spawn {
        /// The spawning task.
        parent: NodeIx,
        /// The new task.
        child: NodeIx,
        /// `JoinHandle::id`.
        id: IdKey,
    },
    /// The node is about to `.await` on something.
    Wait {
        /// The task.
        node: NodeIx,
        /// On what.
        on: Wait,
    },
    /// The `.await` the node last waited on completed.
    Resume {
        /// The task.
        node: NodeIx,
        /// `detsim::time::now()` then.
        at: Duration,
    },
    /// The node's future returned this value.
    Return {
        /// The task.
        node: NodeIx,
        /// Its output.
        value: u64,
    },
    /// The node is about to panic: with its own payload (`origin == node`),
    /// or resuming the payload of a child's panic that began in `origin`.
    Panic {
        /// The task.
        node: NodeIx,
        /// The node whose `Panic` op created the payload.
        origin: NodeIx,
    },
    /// `parent` called `abort()` on `child`'s handle.
    Abort {
        /// The aborting task.
        parent: NodeIx,
        /// The aborted task.
        child: NodeIx,
        /// Called while dropping `parent`'s unfinished future (see
        /// [`Program::abort_on_drop`](crate::Program::abort_on_drop)).
        on_drop: bool,
    },
    /// Awaiting `child`'s handle in `parent` gave this.
    Join {
        /// The awaiting task.
        parent: NodeIx,
        /// The awaited task.
        child: NodeIx,
        /// What it gave.
        outcome: Outcome,
    },
    /// Awaiting `child`'s handle in `parent` timed out.
    TimedOut {
        /// The awaiting task.
        parent: NodeIx,
        /// The awaited task.
        child: NodeIx,
    },
    /// The node drew a value from `detsim::random`.
    Random {
        /// The task.
        node: NodeIx,
        /// The value.
        value: u64,
    },
    /// The node sent its link's message.
    Send {
        /// The sender.
        from: NodeIx,
        /// The receiver.
        to: NodeIx,
        /// `Ok` from `oneshot::Sender::send`.
        delivered: bool,
    },
    /// The node dropped a sender without sending.
    Hangup {
        /// The sender's holder.
        from: NodeIx,
        /// The receiver's holder.
        to: NodeIx,
    },
    /// The node's receive completed.
    Received {
        /// The receiver.
        node: NodeIx,
        /// The sender.
        from: NodeIx,
        /// The message, or `None` when the sender hung up.
        message: Option<u64>,
    },
    /// The executor began dropping the node's future.
    DropStart {
        /// The task.
        node: NodeIx,
        /// Whether the future had returned or panicked before.
        finished: bool,
    },
    /// The node's future is dropped.
    DropEnd {
        /// The task.
        node: NodeIx,
    },
}

impl Event {
    /// The node the event is about (the one running, for events inside a
    /// poll).
    pub fn node(&self) -> NodeIx {
        match *self {
            Event::PollStart { node, .. }
            | Event::PollEnd { node, .. }
            | Event::Wait { node, .. }
            | Event::Resume { node, .. }
            | Event::Return { node, .. }
            | Event::Panic { node, .. }
            | Event::Random { node, .. }
            | Event::Received { node, .. }
            | Event::DropStart { node, .. }
            | Event::DropEnd { node } => node,
            Event::Spawn { parent, .. }
            | Event::Abort { parent, .. }
            | Event::Join { parent, .. }
            | Event::TimedOut { parent, .. } => parent,
            Event::Send { from, .. } | Event::Hangup { from, .. } => from,
        }
    }
}

/// What `detsim::Builder::explore` reported, copied out of its `Report`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// `Report::seeds_run`.
    pub seeds_run: u64,
    /// `Report::failure`, if any.
    pub failure: Option<FailureInfo>,
}

/// The parts of a `detsim::Failure` the checks look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FailureInfo {
    /// `Failure::seed`.
    pub seed: u64,
    /// `Failure::message`.
    pub message: String,
    /// `Failure::steps`.
    pub steps: u64,
    /// `Failure::trace().to_string()`.
    pub trace: String,
}

/// One run of a program: the log of its first execution of the body, and
/// the harness's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The seed the run was asked for.
    pub seed: u64,
    /// The events, in order, including drops at the runtime's teardown.
    pub events: Vec<Event>,
    /// The harness's verdict.
    pub verdict: Verdict,
}

/// The scheduling-visible projection of a log: which node the executor
/// polled (and at what virtual time), or dropped unfinished, in order, up to
/// the end of the root's last poll. [`crate::model`] predicts this sequence
/// under `fifo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A poll of the node at this virtual time.
    Poll(NodeIx, Duration),
    /// The node's unfinished future was dropped (aborted).
    Drop(NodeIx),
}

/// Projects a log onto its [`Step`]s (see there).
pub fn schedule(events: &[Event]) -> Vec<Step> {
    let mut out = Vec::new();
    for e in events {
        match *e {
            Event::PollStart { node, at, .. } => out.push(Step::Poll(node, at)),
            Event::DropStart {
                node,
                finished: false,
            } => out.push(Step::Drop(node)),
            Event::PollEnd {
                node: 0,
                end: PollEnd::Ready | PollEnd::Panicked,
            } => break,
            _ => {}
        }
    }
    out
}
