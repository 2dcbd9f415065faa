//! The deterministic executor behind detsim: one thread, one task polled at a time,
//! every choice of the next task made by a seeded, replaceable policy.
//!
//! # Design
//! - [`Runtime`] owns a `Core`: the task slab (one boxed cell per task holding its
//!   future and then its output), the [`ready`](crate::choice::Options) set in FIFO
//!   order, the timers, the [`Chooser`] and the [`Trace`]. `block_on`/`run` poll the root
//!   future as task `t0` and every spawned task on the same thread.
//! - Free functions ([`spawn`], [`yield_now`], [`time::now`], [`random`], [`task::id`])
//!   find the running simulation through a thread-local and panic with a clear message
//!   outside one.
//! - Tasks follow asyncio's `create_task`: scheduled at once, never run before their
//!   creator yields; a [`JoinHandle`] gives the output or the original panic payload;
//!   `abort` drops the future; a dropped handle detaches the task; a panic nobody can
//!   read fails the run; so do deadlocks and runs longer than the poll budget.
//! - Time is virtual ([`time`]): it stands still while a task is ready and jumps to the
//!   next timer when none is.
//!
//! # Determinism
//! Nothing in this crate reads the clock, the environment, a thread RNG or a hash
//! map's order. Given the seed and the chooser, a program's run — every poll, wake and
//! timer — is the same on every machine. Scheduler randomness and the program's own
//! randomness ([`random`]) are separate ChaCha8 streams of the seed.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use detsim_runtime::{Runtime, spawn, time};
//!
//! let mut rt = Runtime::new(42);
//! let elapsed = rt.block_on(async {
//!     let start = time::now();
//!     let sleeper = spawn(async { time::sleep(Duration::from_secs(3600)).await; 7 });
//!     assert_eq!(sleeper.await.unwrap(), 7);
//!     time::now() - start
//! });
//! assert_eq!(elapsed, Duration::from_secs(3600)); // an hour, in no time
//! ```

pub mod choice;
mod context;
pub mod coop;
mod deadlock;
mod entropy;
mod executor;
pub mod extension;
mod join;
pub mod node;
mod outcome;
mod pct;
mod prefetch;
mod quad_heap;
mod ready;
mod runtime;
#[allow(unsafe_code)]
pub mod seal;
mod slab;
pub mod sync;
pub mod task;
pub mod time;
pub mod trace;
pub mod wait;
mod waker;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use rand::distr::{Distribution, StandardUniform};

#[allow(deprecated, reason = "the former name, kept as a deprecated alias")]
pub use choice::ReadyView;
pub use choice::{
    Chooser, ChooserSpec, DecisionKind, Fifo, Options, PollEnd, Random, Replay, decide,
};
pub use context::{in_session_enter, in_simulation, install_panic_hook};
pub use entropy::thread_drew_os_randomness;
#[doc(hidden)]
pub use entropy::{__note_os_randomness_for_tests, __set_sealing};
pub use join::{AbortHandle, JoinError, JoinHandle, RunFlavor, set_run_flavor};
#[allow(deprecated, reason = "the former name, kept as a deprecated alias")]
pub use outcome::DEFAULT_MAX_STEPS;
pub use outcome::{
    DEFAULT_MAX_POLLS, DEFAULT_POLLS_PER_TASK, Decision, LivenessFailure, RunError, TaskInfo,
    UserRng,
};
pub use pct::Pct;
pub use runtime::{
    Runtime, SHUTDOWN_MESSAGE, SessionEnter, is_shut_down, run_in_progress, shutdown_error,
};
pub use task::spawn;
pub use trace::Trace;

/// Yields to the scheduler: the current task goes to the back of the ready set and
/// other ready tasks may run first (asyncio's `await asyncio.sleep(0)`). Panics when
/// polled outside a simulation.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    /// Notes its caller (the `.await`) as where the task waits until it runs again.
    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        if waker::is_quiet(cx.waker()) {
            // A detsim task in a run that notes no wait sites: nothing to tell the core.
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let location = std::panic::Location::caller();
        // Outside a simulation this would quietly yield to some other executor.
        context::with_core("detsim::yield_now", |core| {
            core.note_wait(wait::WaitSite {
                kind: wait::WaitKind::Yield,
                location,
            })
        });
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A number that identifies the run in progress, unique in the process (two runs of the
/// same seed get different ones). State that lives outside the runtime but belongs to
/// one run (a simulated network, a pending ctrl-c) keys on it, so that the next seed
/// starts afresh. Panics outside a simulation.
pub fn run_id() -> u64 {
    context::with_core("detsim::run_id", |core| core.epoch())
}

/// A random value from the simulation's own stream: deterministic per seed, and
/// independent of the scheduler's choices. Panics outside a simulation.
pub fn random<T>() -> T
where
    StandardUniform: Distribution<T>,
{
    let mut rng = context::with_core("detsim::random", |core| core.take_user_rng());
    let value = StandardUniform.sample(&mut rng);
    context::with_core("detsim::random", |core| core.put_user_rng(rng));
    value
}
