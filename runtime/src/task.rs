//! Tasks: ids, names, the spawn builder, and the type-erased cell that holds a task's
//! future and then its output.
//!
//! Invariants:
//! - one allocation per task: the future and, once it is done, its output share one
//!   boxed `TaskCell`;
//! - a task's future is dropped exactly once: when it completes, panics or is aborted,
//!   or when the run ends with the task still pending;
//! - ids count up from `t0` (the root future) in spawn order and are never reused
//!   within a run.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::context;
use crate::join::{JoinError, JoinHandle};

/// A panic payload, as `catch_unwind` gives it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// A task's id within one run: `t0` is the root future, then `t1`, `t2`, … in spawn order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub(crate) u64);

impl Id {
    /// The id of the root future handed to `block_on`.
    pub const ROOT: Id = Id(0);

    /// The number behind the id (`t3` → 3).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// The id of the task being polled. Panics outside a simulation.
pub fn id() -> Id {
    context::with_core("detsim::task::id", |core| core.current_id())
}

/// The name of the task being polled, if it has one. Panics outside a simulation.
pub fn name() -> Option<String> {
    context::with_core("detsim::task::name", |core| {
        core.current_name().map(str::to_owned)
    })
}

/// Configures a task before spawning it: `Builder::new().name("x").spawn(fut)`.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    /// A builder with no name set.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the task; the name appears in traces, deadlock reports and `task::name()`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Spawns `future` as a new task with this configuration; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_inner(future, self.name, Location::caller())
    }
}

/// Spawns `future` as a new task and returns a handle that awaits its result.
///
/// As with asyncio's `create_task`, the task is scheduled at once but never runs before
/// the current task yields. Dropping the handle detaches the task. Panics outside a
/// simulation.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_inner(future, None, Location::caller())
}

fn spawn_inner<F>(
    future: F,
    name: Option<String>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let cell: Pin<Box<dyn ErasedTask>> = Box::pin(TaskCell::Running { future });
    let outside_block_on = context::in_session_enter();
    let (key, refused) = context::with_core("detsim::spawn", |core| {
        let key = core.spawn(cell, name, location, None);
        // A shut-down session cancels what is spawned into it, as tokio does.
        let refused = if core.shut_down {
            core.abort(key)
        } else {
            None
        };
        if outside_block_on && refused.is_none() {
            // Nothing runs it until the session's next `block_on`: the watchdog tells
            // a thread that blocks meanwhile.
            core.beat.tasks_wait_for_block_on(true);
        }
        (key, refused)
    });
    if let Some(future) = refused {
        // Dropped outside the executor's borrow, as the cancelled task.
        let _as_task = context::AsTask::enter(key.index);
        drop(future);
    }
    JoinHandle::new(key)
}

pin_project! {
    /// A task's future, then its outcome.
    #[project = CellProj]
    pub(crate) enum TaskCell<F: Future> {
        Running { #[pin] future: F },
        Done { output: Option<Result<F::Output, JoinError>> },
    }
}

/// What the executor needs from a [`TaskCell`] without knowing its output type.
pub(crate) trait ErasedTask {
    /// Polls the future; on `Ready` the output is stored in the cell.
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;

    /// Ends the task without an output (the future is dropped here): a panic or abort.
    fn finish_with(self: Pin<&mut Self>, error: JoinError);

    /// Moves the outcome into `slot`, an `&mut Option<Result<T, JoinError>>`.
    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any);

    /// Takes the panic payload out of a task that panicked and whose outcome is unread.
    fn take_panic(self: Pin<&mut Self>) -> Option<JoinError>;
}

impl<F> ErasedTask for TaskCell<F>
where
    F: Future,
    F::Output: 'static,
{
    fn poll_task(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let output = match self.as_mut().project() {
            CellProj::Running { future } => match future.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return Poll::Pending,
            },
            CellProj::Done { .. } => unreachable!("a finished task was polled"),
        };
        self.set(TaskCell::Done {
            output: Some(Ok(output)),
        });
        Poll::Ready(())
    }

    fn finish_with(mut self: Pin<&mut Self>, error: JoinError) {
        self.set(TaskCell::Done {
            output: Some(Err(error)),
        });
    }

    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any) {
        let slot = slot
            .downcast_mut::<Option<Result<F::Output, JoinError>>>()
            .expect("join handle type matches its task");
        if let CellProj::Done { output } = self.project() {
            *slot = output.take();
        }
    }

    fn take_panic(self: Pin<&mut Self>) -> Option<JoinError> {
        match self.project() {
            CellProj::Done { output } => match output {
                Some(Err(error)) if error.is_panic() => match output.take() {
                    Some(Err(error)) => Some(error),
                    _ => None,
                },
                _ => None,
            },
            CellProj::Running { .. } => None,
        }
    }
}
