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
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::executor::JoinPoll;
use crate::task::{Id, Payload};
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
            // Dropped outside the executor's borrow, as the aborted task.
            let _as_task = context::AsTask::enter(self.key.index);
            drop(future);
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
            let _as_task = context::AsTask::enter(self.key.index);
            drop(future);
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
    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.spent, "JoinHandle polled after it completed");
        let mut slot: Option<Result<T, JoinError>> = None;
        let key = self.key;
        let _session = crate::runtime::enter_session_of(key.epoch);
        if !context::in_simulation() {
            self.spent = true;
            return Poll::Ready(Err(JoinError::cancelled(key.id)));
        }
        let location = Location::caller();
        let (polled, freed) = context::with_core("awaiting a JoinHandle", |core| {
            let polled = core.poll_join(key, cx, &mut slot as &mut dyn Any);
            if let (JoinPoll::Pending, _) = polled {
                let kind = WaitKind::Join(key.id);
                core.note_wait(WaitSite { kind, location });
            }
            polled
        });
        drop(freed); // the task's cell is dropped outside the executor's borrow
        let result = match polled {
            JoinPoll::Pending => return Poll::Pending,
            JoinPoll::Output => slot.expect("a finished task's outcome is read once"),
            JoinPoll::Cancelled => Err(JoinError::cancelled(key.id)),
        };
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
        let freed = context::try_with_core(|core| core.detach(self.key));
        drop(freed);
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
    pub(crate) fn cancelled(id: Id) -> Self {
        JoinError {
            id,
            repr: Repr::Cancelled,
            location: None,
        }
    }

    pub(crate) fn panic(id: Id, payload: Payload, location: Option<String>) -> Self {
        JoinError {
            id,
            repr: Repr::Panic {
                message: payload_str(payload.as_ref()).map(str::to_owned),
                payload: std::sync::Mutex::new(payload),
            },
            location,
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
