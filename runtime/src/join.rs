//! Join handles and join errors: how a task's result reaches whoever awaits it.
//!
//! Invariants:
//! - awaiting a finished task returns at once, without suspending (asyncio: awaiting a
//!   done task is not a scheduling point);
//! - the output is moved out exactly once; a panic payload reaches the awaiter intact;
//! - a panic nobody can read any more (its handle was dropped unread) fails the run.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::executor::JoinPoll;
use crate::task::{ErasedTask, Id, Payload};
use crate::wait::{WaitKind, WaitSite};

/// Where a task lives in its run's slab: index, generation and run epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
    pub(crate) epoch: u64,
    pub(crate) id: Id,
}

/// Awaits a spawned task: resolves to `Ok(output)`, or `Err(JoinError)` if the task
/// panicked or was aborted. Dropping the handle detaches the task; it keeps running.
pub struct JoinHandle<T> {
    key: TaskKey,
    /// The outcome has been read (or the handle is otherwise spent).
    spent: bool,
    _output: PhantomData<fn() -> T>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(key: TaskKey) -> Self {
        JoinHandle {
            key,
            spent: false,
            _output: PhantomData,
        }
    }

    /// Cancels the task: its future is dropped before its next poll, and awaiting this
    /// handle gives a cancelled [`JoinError`]. Does nothing if the task already finished.
    /// Outside any simulation, aborts the task in its session if the session is in
    /// progress on this thread (a tokio facade `Runtime` between two `block_on`s), and
    /// does nothing after its run ended (as tokio allows: a run's end drops its tasks).
    pub fn abort(&self) {
        if self.spent {
            return;
        }
        let _session = crate::runtime::enter_session_of(self.key.epoch);
        if !context::in_simulation() {
            return;
        }
        let dropped = context::with_core("JoinHandle::abort", |core| core.abort(self.key));
        if let Some(future) = dropped {
            drop_aborted(self.key, future);
        }
    }

    /// Whether the task has finished: completed, panicked or been cancelled. Outside
    /// any simulation, asked of its session if it is in progress on this thread, and
    /// true after its run ended.
    pub fn is_finished(&self) -> bool {
        if self.spent {
            return true;
        }
        let _session = crate::runtime::enter_session_of(self.key.epoch);
        !context::in_simulation()
            || context::with_core("JoinHandle::is_finished", |core| core.is_finished(self.key))
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.key.id
    }

    /// A handle that can abort the task (and ask whether it finished) without owning
    /// its result, as tokio's `JoinHandle::abort_handle`.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle { key: self.key }
    }
}

/// Aborts a task without awaiting it: what [`JoinHandle::abort_handle`] gives. It may
/// outlive the task and its join handle; aborting a task that finished does nothing.
#[derive(Clone)]
pub struct AbortHandle {
    key: TaskKey,
}

impl AbortHandle {
    /// Cancels the task, as [`JoinHandle::abort`] does. Does nothing if the task already
    /// finished, or outside the run that spawned it.
    pub fn abort(&self) {
        let dropped = context::try_with_core(|core| {
            if core.is_same_run(self.key) {
                core.abort(self.key)
            } else {
                None
            }
        })
        .flatten();
        if let Some(future) = dropped {
            drop_aborted(self.key, future);
        }
    }

    /// Whether the task has finished: completed, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        context::with_core("AbortHandle::is_finished", |core| {
            core.is_finished(self.key)
        })
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.key.id
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.key.id)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// Notes its caller (the `.await`) as where the task waits while the task runs.
    ///
    /// Outside any simulation (polled by another executor), reads the task in its
    /// session if the session is in progress on this thread (nothing runs there until
    /// its next `block_on`), and gives a cancelled error once its run has ended: the end
    /// of a run drops its tasks, as dropping a tokio runtime does.
    ///
    /// Spends a unit of the coop budget when ready, and yields instead once the poll's
    /// budget is spent (see [`crate::coop`]), as tokio's does.
    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.spent, "JoinHandle polled after it completed");
        let mut slot: Option<Result<T, JoinError>> = None;
        let key = self.key;
        let _session = crate::runtime::enter_session_of(key.epoch);
        if !context::in_simulation() {
            self.spent = true;
            return Poll::Ready(Err(JoinError::cancelled(key.id, RunFlavor::Detsim)));
        }
        let location = Location::caller();
        let Poll::Ready(unit) = crate::coop::poll_proceed(cx) else {
            crate::wait::record_at(WaitKind::Join(key.id), location);
            return Poll::Pending;
        };
        let (polled, freed, text) = context::with_core("awaiting a JoinHandle", |core| {
            let (polled, freed) = core.poll_join(key, cx, &mut slot as &mut dyn Any);
            if let JoinPoll::Pending = polled {
                let kind = WaitKind::Join(key.id);
                core.note_wait(WaitSite { kind, location });
            }
            (polled, freed, core.run_flavor)
        });
        drop(freed); // the task's cell is dropped outside the executor's borrow
        let result = match polled {
            JoinPoll::Pending => return Poll::Pending,
            JoinPoll::Output => slot.expect("a finished task's outcome is read once"),
            JoinPoll::Cancelled => Err(JoinError::cancelled(key.id, text)),
            JoinPoll::Panicked(error) => Err(error),
        };
        unit.made_progress();
        self.spent = true;
        Poll::Ready(result)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.spent {
            return;
        }
        let _session = crate::runtime::enter_session_of(self.key.epoch);
        let detached = context::try_with_core(|core| (core.detach(self.key), core.run_flavor));
        if let Some((Some(cell), flavor)) = detached {
            drop_output(self.key, cell, flavor);
        }
    }
}

/// Drops an aborted task's future, outside the executor's borrow and as that task (so
/// that `task::id()` in a destructor names it). A panic of its destructors is caught,
/// as tokio catches it, and goes to the task's handle (see `Core::abort_panicked`).
fn drop_aborted(key: TaskKey, future: Pin<Box<dyn ErasedTask>>) {
    context::forget_panic_location();
    let dropped = {
        let _as_task = context::AsTask::enter(key.index);
        panic::catch_unwind(AssertUnwindSafe(|| drop(future)))
    };
    if let Err(payload) = dropped {
        let location = context::take_panic_location();
        let unread = context::with_core("JoinHandle::abort", |core| {
            core.abort_panicked(key, payload, location)
        });
        if let Some(error) = unread {
            print_contained(&error, "while its future was dropped after an abort");
        }
    }
}

/// Drops a finished task's cell (its unread output) with its handle, as that task. In
/// a [`RunFlavor::Tokio`] run a panic of the output's destructors is contained, as
/// tokio contains it; in a detsim run it goes on in the task that dropped the handle.
fn drop_output(key: TaskKey, cell: Pin<Box<dyn ErasedTask>>, flavor: RunFlavor) {
    let _as_task = context::AsTask::enter(key.index);
    if flavor == RunFlavor::Detsim {
        drop(cell);
        return;
    }
    context::forget_panic_location();
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(cell))) {
        let location = context::take_panic_location();
        let error = JoinError::panic(key.id, payload, location, flavor);
        print_contained(&error, "while its output was dropped with its JoinHandle");
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.key.id)
            .finish_non_exhaustive()
    }
}

/// Why a task gave no output: it panicked, or it was aborted.
///
/// `Send + Sync` as tokio's, so that `handle.await?` converts into `anyhow::Error` or
/// `Box<dyn Error + Send + Sync>`: the payload (only `Send`) sits behind a mutex that is
/// locked only to take it out, and the panic message is kept beside it.
pub struct JoinError {
    id: Id,
    repr: Repr,
    /// Where the task panicked, when the panic hook saw it.
    location: Option<String>,
    /// How it prints: the flavor of the run it comes from.
    text: RunFlavor,
}

/// Whose rules a run follows where tokio's and detsim's differ about joins and
/// panics; set for the current run with [`set_run_flavor`].
///
/// | | `Detsim` (the default) | `Tokio` (the tokio facade's runs) |
/// | --- | --- | --- |
/// | [`JoinError`]'s `Display` | `task t1 panicked at src/lib.rs:4:5: boom` | `task 1 panicked with message "boom"` |
/// | [`JoinError`]'s `Debug` | `JoinError::Panic(t1, "boom", at src/lib.rs:4:5)` | `JoinError::Panic(Id(1), "boom", ...)` |
/// | a panic while an aborted task's future is dropped, or while a finished task's output is dropped with its `JoinHandle`, that no handle can read | fails the run | printed on stderr, the run goes on |
///
/// Either way a panic while an aborted task's future is dropped is caught and handed
/// to its `JoinHandle` as a panic [`JoinError`] (as tokio does), and
/// [`JoinError::location`] says where a task panicked. A task's own panic that nobody
/// reads fails the run in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunFlavor {
    /// detsim's rules: no panic is left unread, texts name the task as `t1` and where
    /// it panicked.
    #[default]
    Detsim,
    /// tokio's, for code written and tested against tokio: its exact texts, and the
    /// panics of destructors tokio runs for a task are contained as tokio contains them.
    Tokio,
}

/// Makes the current run follow `flavor`'s rules from now on (a run starts with
/// [`RunFlavor::Detsim`]); the tokio facade sets [`RunFlavor::Tokio`] at the start of
/// each of its runs.
///
/// # Panics
/// Outside a simulation.
pub fn set_run_flavor(flavor: RunFlavor) {
    context::with_core("detsim_runtime::set_run_flavor", |core| {
        core.run_flavor = flavor;
    });
}

/// Prints a panic tokio would contain and nobody can read (see [`RunFlavor::Tokio`]),
/// as tokio's panic hook would have printed it.
pub(crate) fn print_contained(error: &JoinError, during: &str) {
    let location = error.location.as_deref().unwrap_or("an unknown location");
    let message = error.panic_message().unwrap_or("Box<dyn Any>");
    eprintln!(
        "detsim: task {} panicked at {location} {during}: {message}\n(nobody can read it \
         any more; as on tokio, the run goes on)",
        error.id
    );
}

enum Repr {
    Cancelled,
    Panic {
        payload: std::sync::Mutex<Payload>,
        /// The payload's text, when it is a string.
        message: Option<String>,
    },
}

impl JoinError {
    /// The error of task `id` cancelled outside the run's own bookkeeping, with tokio's
    /// text: the tokio facade's `JoinSet` gives it for a task whose runtime was dropped
    /// before it finished. Not part of the API.
    #[doc(hidden)]
    pub fn __cancelled(id: Id) -> Self {
        JoinError::cancelled(id, RunFlavor::Tokio)
    }

    pub(crate) fn cancelled(id: Id, text: RunFlavor) -> Self {
        JoinError {
            id,
            repr: Repr::Cancelled,
            location: None,
            text,
        }
    }

    pub(crate) fn panic(
        id: Id,
        payload: Payload,
        location: Option<String>,
        text: RunFlavor,
    ) -> Self {
        JoinError {
            id,
            repr: Repr::Panic {
                message: payload_str(payload.as_ref()).map(str::to_owned),
                payload: std::sync::Mutex::new(payload),
            },
            location,
            text,
        }
    }

    /// `file:line:column` where the task panicked, for a panic the panic hook saw (so
    /// that a root that unwraps the error still tells where the task failed).
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// Whether the task was aborted before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The id of the task that failed.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The original panic payload, to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The panic payload if the task panicked, or the error back if it was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload is a string (as `panic!` makes it).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic { message, .. } => message.as_deref(),
            Repr::Cancelled => None,
        }
    }
}

/// The text of a panic payload, when it is a `&str` or `String`.
pub(crate) fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .or_else(|| {
            payload
                .downcast_ref::<crate::outcome::LivenessFailure>()
                .map(|l| l.message.as_str())
        })
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text == RunFlavor::Tokio {
            let id = self.id.as_u64();
            return match (&self.repr, self.panic_message()) {
                (Repr::Cancelled, _) => write!(f, "task {id} was cancelled"),
                (Repr::Panic { .. }, Some(message)) => {
                    write!(f, "task {id} panicked with message {message:?}")
                }
                (Repr::Panic { .. }, None) => write!(f, "task {id} panicked"),
            };
        }
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic { .. } => {
                write!(f, "task {} panicked", self.id)?;
                if let Some(location) = &self.location {
                    write!(f, " at {location}")?;
                }
                match self.panic_message() {
                    Some(message) => write!(f, ": {message}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text == RunFlavor::Tokio {
            let id = self.id.as_u64();
            return match (&self.repr, self.panic_message()) {
                (Repr::Cancelled, _) => write!(f, "JoinError::Cancelled(Id({id}))"),
                (Repr::Panic { .. }, Some(message)) => {
                    write!(f, "JoinError::Panic(Id({id}), {message:?}, ...)")
                }
                (Repr::Panic { .. }, None) => write!(f, "JoinError::Panic(Id({id}), ...)"),
            };
        }
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Panic { .. } => {
                write!(f, "JoinError::Panic({}, ", self.id)?;
                match self.panic_message() {
                    Some(message) => write!(f, "{message:?}")?,
                    None => f.write_str("..")?,
                }
                match &self.location {
                    Some(location) => write!(f, ", at {location})"),
                    None => f.write_str(")"),
                }
            }
        }
    }
}

impl std::error::Error for JoinError {}

/// As tokio does, so that `handle.await?` works in a function returning `io::Result`.
impl From<JoinError> for std::io::Error {
    fn from(error: JoinError) -> std::io::Error {
        let message = match &error.repr {
            Repr::Cancelled => "task was cancelled",
            Repr::Panic { .. } => "task panicked",
        };
        std::io::Error::other(message)
    }
}

/// `JoinError` is `Send + Sync` (as tokio's), so `?` converts it into `anyhow::Error` or
/// `Box<dyn Error + Send + Sync>`: this fails to compile if it stops being so.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<JoinError>();
};
