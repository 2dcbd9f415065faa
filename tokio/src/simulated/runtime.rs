//! `tokio::runtime` on detsim: a [`Handle`] to the simulation the caller runs in, and
//! a [`Runtime`] whose `block_on` runs a future as one simulation.
//!
//! Inside a simulation (a `#[tokio::test]`, `#[tokio::main]`, or `Runtime::block_on`)
//! [`Handle::current`] works and `spawn` spawns a simulated task. `block_on` inside a
//! simulation is a clear panic: the simulation is one thread, and blocking it would
//! stop every task. Outside one, [`Runtime::block_on`] runs the future as a simulation
//! with seed 0, or the seed of `DETSIM_SEED` (decimal or `0x` hex).

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;

pub use tokio::runtime::RuntimeFlavor;

use crate::task::JoinHandle;

/// A handle to the running simulation (tokio's `runtime::Handle`).
#[derive(Debug, Clone)]
pub struct Handle {
    _private: (),
}

/// What [`Handle::enter`] and [`Runtime::enter`] return; nothing to undo in simulation.
#[derive(Debug)]
pub struct EnterGuard<'a> {
    _handle: PhantomData<&'a Handle>,
}

/// Why [`Handle::try_current`] found no simulation.
#[derive(Debug)]
pub struct TryCurrentError(());

impl TryCurrentError {
    /// Always true: the caller is not inside a simulation.
    pub fn is_missing_context(&self) -> bool {
        true
    }

    /// Always false in simulation.
    pub fn is_thread_local_destroyed(&self) -> bool {
        false
    }
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no detsim simulation running: call this from a task of a \
             #[tokio::test], #[tokio::main] or Runtime::block_on",
        )
    }
}

impl std::error::Error for TryCurrentError {}

const BLOCK_ON_INSIDE: &str = "Cannot start a runtime from within a runtime: `block_on` was called \
     inside a detsim simulation, which runs every task on one thread, so blocking it would stop \
     them all; `.await` the future instead";

impl Handle {
    /// The handle of the simulation the caller runs in.
    ///
    /// # Panics
    /// Outside a simulation.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(error) => panic!("{error}"),
        }
    }

    /// The handle of the simulation the caller runs in, or an error outside one.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        if detsim_runtime::in_simulation() {
            Ok(Handle { _private: () })
        } else {
            Err(TryCurrentError(()))
        }
    }

    /// Spawns a task into the simulation (see [`crate::task::spawn`]).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::task::spawn(future)
    }

    /// Runs a blocking closure as a simulated task (see
    /// [`crate::task::spawn_blocking`]).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::task::spawn_blocking(f)
    }

    /// Outside a simulation, runs `future` as one (see [`Runtime::block_on`]).
    ///
    /// # Panics
    /// Inside a simulation, with a message that says to `.await` instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on(future)
    }

    /// Enters the runtime's context (nothing to do in simulation).
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _handle: PhantomData,
        }
    }

    /// Always `CurrentThread`: a simulation is one thread, whatever the flavor asked.
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        RuntimeFlavor::CurrentThread
    }
}

#[track_caller]
fn block_on<F: Future>(future: F) -> F::Output {
    assert!(!detsim_runtime::in_simulation(), "{BLOCK_ON_INSIDE}");
    detsim_runtime::Runtime::new(seed_from_env()).block_on(future)
}

/// `DETSIM_SEED`, else 0: read by detsim's one reader of the environment (decimal or
/// `0x` hex; a malformed value panics naming the variable, the value and the form).
fn seed_from_env() -> u64 {
    detsim::__env_seed().unwrap_or(0)
}

/// Builds a [`Runtime`] (tokio's `runtime::Builder`); every setting is accepted and
/// none changes the simulation: it always runs on one thread with a virtual clock.
#[derive(Debug)]
pub struct Builder {
    _private: (),
}

impl Builder {
    /// A builder for a current-thread runtime.
    pub fn new_current_thread() -> Builder {
        Builder { _private: () }
    }

    /// A builder for a multi-thread runtime: in simulation, one thread whose scheduler
    /// interleaves tasks at every `.await`.
    pub fn new_multi_thread() -> Builder {
        Builder { _private: () }
    }

    /// Accepted; every driver is simulated.
    pub fn enable_all(&mut self) -> &mut Self {
        self
    }

    /// Accepted; I/O is simulated.
    pub fn enable_io(&mut self) -> &mut Self {
        self
    }

    /// Accepted; time is virtual.
    pub fn enable_time(&mut self) -> &mut Self {
        self
    }

    /// Accepted; time is always virtual (and auto-advances).
    pub fn start_paused(&mut self, _start_paused: bool) -> &mut Self {
        self
    }

    /// Accepted; a simulation is one thread.
    pub fn worker_threads(&mut self, _count: usize) -> &mut Self {
        self
    }

    /// Accepted; blocking closures run as simulated tasks.
    pub fn max_blocking_threads(&mut self, _count: usize) -> &mut Self {
        self
    }

    /// Accepted; no thread is started.
    pub fn thread_name(&mut self, _name: impl Into<String>) -> &mut Self {
        self
    }

    /// Accepted; no thread is started.
    pub fn thread_stack_size(&mut self, _size: usize) -> &mut Self {
        self
    }

    /// The runtime (never fails in simulation).
    pub fn build(&mut self) -> io::Result<Runtime> {
        Ok(Runtime {
            handle: Handle { _private: () },
        })
    }
}

/// tokio's `Runtime`: [`block_on`](Runtime::block_on) runs a future as one simulation.
#[derive(Debug)]
pub struct Runtime {
    handle: Handle,
}

impl Runtime {
    /// A runtime (never fails in simulation).
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    /// Runs `future` as one simulation (seed 0, or `DETSIM_SEED`) and returns its
    /// output; a failure of the run (a panic, a deadlock, a panic nobody observed)
    /// panics with detsim's message.
    ///
    /// # Panics
    /// Inside a simulation, with a message that says to `.await` instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on(future)
    }

    /// Spawns a task into the running simulation.
    ///
    /// # Panics
    /// Outside a simulation: spawn from inside `block_on` instead (there is no
    /// simulation to hold the task before it starts).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::task::spawn(future)
    }

    /// Runs a blocking closure as a simulated task of the running simulation.
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::task::spawn_blocking(f)
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Enters the runtime's context (nothing to do in simulation).
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// Drops the runtime: a simulation ends with its `block_on`, so nothing is left.
    pub fn shutdown_timeout(self, _duration: std::time::Duration) {}

    /// Drops the runtime (see [`shutdown_timeout`](Runtime::shutdown_timeout)).
    pub fn shutdown_background(self) {}
}
