//! Recorded histories of client operations, and whether they are linearizable.
//!
//! A test records what its clients did — each operation's invocation and completion,
//! in the order they happened, at virtual time — in a [`History`], and asks at the end
//! whether some sequential execution of a [`Model`] explains it: every operation taking
//! effect atomically at one instant between its invocation and its completion, and
//! returning what the client saw. That is linearizability (Herlihy & Wing, 1990), the
//! correctness condition Jepsen's Knossos and Porcupine check.
//!
//! # Design
//! - [`History`] is a cheap, clonable handle (an `Arc`), so every client task can hold
//!   one; [`History::invoke`] records an invocation and returns a [`Pending`]
//!   operation, and [`Pending::complete`] records its result. A `Pending` dropped
//!   without a result (the client timed out, its connection broke, its task was
//!   aborted) is **indeterminate**: it may or may not have taken effect, as Jepsen's
//!   `:info` operations. [`Pending::fail`] records that it certainly did not.
//! - The order of events is the order in which they were recorded (one thread runs a
//!   simulation, so that is the order in which they happened); virtual time is kept for
//!   the report. An operation precedes another when it completed before the other was
//!   invoked.
//! - [`History::check`] decides linearizability exactly: Wing & Gong's search for a
//!   linearization with Lowe's memoization of (set of operations linearized, model
//!   state) pairs, as Porcupine does (`check.rs`). A [`Model`] may split a history into
//!   independent parts checked one by one (P-compositionality, Horn & Kroening 2015):
//!   the key-value model [`Kv`] checks each key alone. An indeterminate operation may
//!   be linearized at any point after its invocation, with whatever result the model
//!   gives, or never. The check leaves out the indeterminate operations that cannot
//!   matter: reads ([`Model::is_read_only`]) and writes whose effect no completed
//!   result could show ([`Model::is_unobserved`]), each of which would double the
//!   search.
//! - The search is exponential in the worst case, so a check has a budget of model
//!   steps ([`DEFAULT_BUDGET`], [`History::check_with_budget`]); a check that would
//!   exceed it fails with [`CheckError::BudgetExceeded`]: it never passes silently.
//! - A violation is reported as the smallest non-linearizable part of the history that
//!   the check finds (the shortest failing prefix of the failing part, then every
//!   operation whose removal keeps it failing removed), per client, as text
//!   ([`Violation`]). [`History::assert_linearizable`] panics with the [`CheckError`]
//!   as a typed payload, which fails a detsim run as
//!   [`FailureKind::Linearizability`](crate::FailureKind::Linearizability).
//!
//! # In the trace file
//! In a traced run (the run a failure's report shows, or one written with
//! `Builder::write_trace_to`), each operation is a span of the runtime's trace
//! ([`detsim_runtime::trace::begin_span`]), so the trace file shows the history as
//! Jepsen's timeline does: a process per history (`history 1`, in the order histories
//! record their first operation), a track per client (`client 3`), and a slice per
//! operation from its invocation to its completion, named by its input and result
//! (`Get(3) -> Value(Some(1))`); an indeterminate one ends where its `Pending` was
//! dropped (`-> ? (indeterminate)`), a failed one says so. A check that finds a
//! violation marks the operations of the smallest failing part: their slices start
//! with `✗` and say why. Recording spans draws nothing: schedules do not change.
//!
//! # Determinism
//! The verdict and the report depend only on the recorded events and the model: the
//! memo table's hash order decides nothing but how fast a repeated state is found.
//!
//! # Example
//! ```
//! use detsim::history::{History, Register, RegisterOp, RegisterRet};
//!
//! let history = History::new();
//! let write = history.invoke(1, RegisterOp::Write(5));
//! let read = history.invoke(2, RegisterOp::Read); // concurrent with the write
//! read.complete(RegisterRet::Value(5));
//! write.complete(RegisterRet::Ok);
//! let stale = history.invoke(3, RegisterOp::Read); // after both
//! stale.complete(RegisterRet::Value(0));
//! let error = history.check(&Register::new(0)).unwrap_err();
//! assert!(error.to_string().contains("not linearizable"), "{error}");
//! ```

mod check;
mod models;
mod violation;

use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use detsim_runtime::trace::{self, SpanId, SpanTrack};

pub use models::{
    Kv, KvOp, KvRet, Model, Partition, Queue, QueueOp, QueueRet, Register, RegisterOp, RegisterRet,
    Set, SetOp, SetRet,
};
pub use violation::{BudgetExceeded, CheckError, Violation, ViolationOp};

/// The model steps a check may take by default before it fails with
/// [`CheckError::BudgetExceeded`]: about a second of search on a slow machine.
pub const DEFAULT_BUDGET: u64 = 10_000_000;

/// A point in a history: its place in the order of events, and the virtual time at
/// which it was recorded (`None` when recorded outside a simulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Event {
    /// The event's position among all the history's events, from 0.
    pub seq: u64,
    /// Virtual time since the start of the run.
    pub at: Option<Duration>,
}

/// What became of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status<O> {
    /// It completed with this result at this event.
    Completed(O, Event),
    /// Its result is unknown: it may or may not have taken effect (its [`Pending`] was
    /// dropped, or is still held).
    Indeterminate,
    /// It certainly did not take effect ([`Pending::fail`]); checks leave it out.
    Failed(Event),
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operation<I, O> {
    /// The client that invoked it.
    pub client: u64,
    /// What the client asked for.
    pub input: I,
    /// When it was invoked.
    pub invoked: Event,
    /// How it ended.
    pub status: Status<O>,
}

impl<I, O> Operation<I, O> {
    /// The result, when the operation completed.
    pub fn output(&self) -> Option<&O> {
        match &self.status {
            Status::Completed(output, _) => Some(output),
            _ => None,
        }
    }

    /// When it completed, if it did.
    pub fn completed(&self) -> Option<Event> {
        match &self.status {
            Status::Completed(_, event) => Some(*event),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Record<I, O> {
    operations: Vec<Operation<I, O>>,
    next_seq: u64,
    /// Each operation's span in a traced run ([`detsim_runtime::trace::begin_span`]).
    spans: Vec<Option<SpanId>>,
    /// The history's group of tracks in the trace file (`history 1`), once it has one.
    group: Option<String>,
}

impl<I, O> Record<I, O> {
    fn event(&mut self) -> Event {
        let seq = self.next_seq;
        self.next_seq += 1;
        let at = detsim_runtime::in_simulation().then(|| detsim_runtime::time::now().since_start());
        Event { seq, at }
    }
}

/// A recorded history of client operations: a clonable handle shared by the clients
/// of a test. See the [module documentation](self).
pub struct History<I, O> {
    record: Arc<Mutex<Record<I, O>>>,
}

impl<I, O> Clone for History<I, O> {
    fn clone(&self) -> Self {
        History {
            record: self.record.clone(),
        }
    }
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History {
            record: Arc::new(Mutex::new(Record {
                operations: Vec::new(),
                next_seq: 0,
                spans: Vec::new(),
                group: None,
            })),
        }
    }
}

impl<I: Debug, O: Debug> Debug for History<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("operations", &self.lock().operations)
            .finish()
    }
}

impl<I, O> History<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Record<I, O>> {
        // A client that panicked while recording leaves a record that is still whole.
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `client` invoked `input` now; complete the returned operation with
    /// its result. Dropped without a result, it is indeterminate.
    ///
    /// In a traced run, the operation is also a span on its client's track of the
    /// trace file (see the [module documentation](self#in-the-trace-file)).
    pub fn invoke(&self, client: u64, input: I) -> Pending<I, O>
    where
        I: Debug,
    {
        let mut record = self.lock();
        let invoked = record.event();
        let span = match detsim_runtime::trace::is_traced() {
            true => {
                let group = record.group.get_or_insert_with(next_group).clone();
                let track = SpanTrack::Named {
                    group,
                    track: format!("client {client}"),
                };
                trace::begin_span(track, || format!("{input:?}"))
            }
            false => None,
        };
        record.spans.push(span);
        record.operations.push(Operation {
            client,
            input,
            invoked,
            status: Status::Indeterminate,
        });
        Pending {
            history: self.clone(),
            index: record.operations.len() - 1,
            span,
        }
    }

    /// How many operations were invoked.
    pub fn len(&self) -> usize {
        self.lock().operations.len()
    }

    /// Whether no operation was invoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The operations so far, in order of invocation.
    pub fn operations(&self) -> Vec<Operation<I, O>>
    where
        I: Clone,
        O: Clone,
    {
        self.lock().operations.clone()
    }

    /// Whether `model` explains the history, within [`DEFAULT_BUDGET`] model steps;
    /// see [`History::check_with_budget`].
    pub fn check<M>(&self, model: &M) -> Result<(), CheckError>
    where
        M: Model<Input = I, Output = O>,
    {
        self.check_with_budget(model, DEFAULT_BUDGET)
    }

    /// Whether `model` explains the history: `Ok` when it is linearizable,
    /// [`CheckError::NotLinearizable`] with the smallest failing part found when it is
    /// not, [`CheckError::BudgetExceeded`] when deciding would take more than `budget`
    /// model steps (in all the model's parts together).
    pub fn check_with_budget<M>(&self, model: &M, budget: u64) -> Result<(), CheckError>
    where
        M: Model<Input = I, Output = O>,
    {
        let record = self.lock();
        let result = check::check(model, &record.operations, budget);
        if let Err(CheckError::NotLinearizable(violation)) = &result {
            for &index in violation.indices() {
                if let Some(span) = record.spans[index] {
                    trace::mark_span(span, || {
                        format!(
                            "in the smallest non-linearizable part found (the {} model{})",
                            violation.model(),
                            match violation.part() {
                                "" => String::new(),
                                part => format!(", {part}"),
                            }
                        )
                    });
                }
            }
        }
        result
    }

    /// Checks the history like [`History::check`] and panics if it fails, with the
    /// [`CheckError`] as the panic's payload: inside a detsim run the failure is a
    /// [`FailureKind::Linearizability`](crate::FailureKind::Linearizability) whose
    /// message is the error's text.
    ///
    /// # Panics
    /// When the history is not linearizable or the check exceeds its budget.
    #[track_caller]
    pub fn assert_linearizable<M>(&self, model: &M)
    where
        M: Model<Input = I, Output = O>,
    {
        if let Err(error) = self.check(model) {
            std::panic::panic_any(error);
        }
    }
}

/// An invoked operation waiting for its result. Dropped without one, the operation is
/// indeterminate: it may or may not have taken effect.
#[must_use = "complete the operation with its result; a dropped pending operation is indeterminate"]
pub struct Pending<I, O> {
    history: History<I, O>,
    index: usize,
    /// Its span in a traced run, until it ends.
    span: Option<SpanId>,
}

impl<I, O> Debug for Pending<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("operation", &self.index)
            .finish_non_exhaustive()
    }
}

impl<I, O> Pending<I, O> {
    /// Records the operation's result, now.
    pub fn complete(mut self, output: O)
    where
        O: Debug,
    {
        if let Some(span) = self.span.take() {
            trace::end_span(span, || Some(format!(" -> {output:?}")));
        }
        let mut record = self.history.lock();
        let event = record.event();
        record.operations[self.index].status = Status::Completed(output, event);
    }

    /// Records that the operation certainly did not take effect (the server refused it
    /// before doing anything); checks leave it out. When unsure, drop it instead.
    pub fn fail(mut self) {
        if let Some(span) = self.span.take() {
            trace::end_span(span, || Some(" -> failed (did not take effect)".to_owned()));
        }
        let mut record = self.history.lock();
        let event = record.event();
        record.operations[self.index].status = Status::Failed(event);
    }

    /// The client that invoked the operation.
    pub fn client(&self) -> u64 {
        self.history.lock().operations[self.index].client
    }
}

impl<I, O> Drop for Pending<I, O> {
    /// Ends the span of an operation dropped without a result: indeterminate.
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            trace::end_span(span, || Some(" -> ? (indeterminate)".to_owned()));
        }
    }
}

/// The next history's group of tracks in this run's trace file: `history 1`, …
fn next_group() -> String {
    struct Histories(std::cell::Cell<u64>);
    let count = detsim_runtime::extension::run_state(|| Histories(std::cell::Cell::new(0)));
    count.0.set(count.0.get() + 1);
    format!("history {}", count.0.get())
}
