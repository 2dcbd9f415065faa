//! [`Builder`], and [`LocalRuntime`] (which [`Builder::build_local`] makes).

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{EnterGuard, Handle, Id, Runtime, RuntimeMetrics, Shared};
use crate::task::JoinHandle;

/// Builds a [`Runtime`] (tokio's `runtime::Builder`); every setting is accepted and
/// none changes the simulation: it always runs on one thread with a virtual clock.
#[derive(Debug)]
pub struct Builder {
    multi_thread: bool,
    name: Option<Arc<str>>,
    start_paused: bool,
    time_enabled: bool,
    io_enabled: bool,
}

impl Builder {
    /// A builder for a current-thread runtime.
    pub fn new_current_thread() -> Builder {
        Builder {
            multi_thread: false,
            name: None,
            start_paused: false,
            time_enabled: false,
            io_enabled: false,
        }
    }

    /// A builder for a multi-thread runtime: in simulation, one thread whose scheduler
    /// interleaves tasks at every `.await`.
    pub fn new_multi_thread() -> Builder {
        Builder {
            multi_thread: true,
            name: None,
            start_paused: false,
            time_enabled: false,
            io_enabled: false,
        }
    }

    /// Names the runtime ([`Handle::name`]).
    ///
    /// # Panics
    /// If the name is blank, as tokio's does.
    #[track_caller]
    pub fn name(&mut self, name: impl Into<String>) -> &mut Self {
        let name = name.into();
        assert!(!name.trim().is_empty(), "runtime name shouldn't be empty");
        self.name = Some(Arc::from(name));
        self
    }

    /// Accepted; no thread is started.
    pub fn thread_name_fn<F>(&mut self, _f: F) -> &mut Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self
    }

    /// Accepted and never called: the simulation starts no thread.
    pub fn on_thread_start<F>(&mut self, _f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self
    }

    /// Accepted and never called: the simulation starts no thread.
    pub fn on_thread_stop<F>(&mut self, _f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self
    }

    /// Accepted and never called: the simulation's thread never parks.
    pub fn on_thread_park<F>(&mut self, _f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self
    }

    /// Accepted and never called: the simulation's thread never parks.
    pub fn on_thread_unpark<F>(&mut self, _f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self
    }

    /// Accepted; no thread is started.
    pub fn thread_keep_alive(&mut self, _duration: std::time::Duration) -> &mut Self {
        self
    }

    /// Accepted; the simulation has one ready set and no global queue.
    ///
    /// # Panics
    /// If 0, as tokio's does.
    #[track_caller]
    pub fn global_queue_interval(&mut self, value: u32) -> &mut Self {
        assert!(value > 0, "global_queue_interval must be greater than 0");
        self
    }

    /// Accepted; simulated I/O is not polled from an event loop.
    ///
    /// # Panics
    /// If 0, as tokio's does.
    #[track_caller]
    pub fn event_interval(&mut self, value: u32) -> &mut Self {
        assert!(value > 0, "event_interval must be greater than 0");
        self
    }

    /// Accepted; simulated I/O is not polled from an event loop.
    ///
    /// # Panics
    /// If 0, as tokio's does.
    #[track_caller]
    pub fn max_io_events_per_tick(&mut self, value: usize) -> &mut Self {
        assert!(value > 0, "max_io_events_per_tick must be non-zero");
        self
    }

    /// Accepted; simulated I/O is not polled from an event loop.
    ///
    /// # Panics
    /// If 0, as tokio's does.
    #[track_caller]
    pub fn max_io_events_per_busy_tick(&mut self, value: usize) -> &mut Self {
        assert!(value > 0, "max_io_events_per_busy_tick must be non-zero");
        self
    }

    /// Enables timers and I/O (both simulated).
    pub fn enable_all(&mut self) -> &mut Self {
        self.time_enabled = true;
        self.io_enabled = true;
        self
    }

    /// Enables I/O (simulated): without it (or [`enable_all`](Self::enable_all)),
    /// creating a socket panics, as on tokio.
    pub fn enable_io(&mut self) -> &mut Self {
        self.io_enabled = true;
        self
    }

    /// Enables timers: without it (or [`enable_all`](Self::enable_all)), creating a
    /// `sleep` or a `timeout` panics, as on tokio. Time is virtual either way.
    pub fn enable_time(&mut self) -> &mut Self {
        self.time_enabled = true;
        self
    }

    /// Whether the clock starts frozen ([`crate::time::pause`]): time is always
    /// virtual, this only decides what `pause`, `resume` and `advance` allow.
    pub fn start_paused(&mut self, start_paused: bool) -> &mut Self {
        self.start_paused = start_paused;
        self
    }

    /// Accepted; a simulation is one thread.
    ///
    /// # Panics
    /// If 0, as tokio's does.
    #[track_caller]
    pub fn worker_threads(&mut self, value: usize) -> &mut Self {
        assert!(value > 0, "Worker threads cannot be set to 0");
        self
    }

    /// Accepted; blocking closures run as simulated tasks.
    ///
    /// # Panics
    /// If 0, as tokio's does.
    #[track_caller]
    pub fn max_blocking_threads(&mut self, value: usize) -> &mut Self {
        assert!(value > 0, "Max blocking threads cannot be set to 0");
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
        // Before the program sets a hook of its own around `block_on` (see
        // `detsim_runtime::install_panic_hook`).
        detsim_runtime::install_panic_hook();
        let id = Id::next();
        super::session::start(id);
        Ok(Runtime {
            handle: Handle {
                id,
                shared: Shared::new(id),
                name: self.name.clone(),
                multi_thread: self.multi_thread,
                start_paused: self.start_paused,
                time_enabled: self.time_enabled,
                local_owner: None,
                io_enabled: self.io_enabled,
            },
            shutting_down: false,
        })
    }

    /// A [`LocalRuntime`] (never fails in simulation).
    pub fn build_local(&mut self, _options: LocalOptions) -> io::Result<LocalRuntime> {
        let mut runtime = self.build()?;
        runtime.handle.local_owner = Some(std::thread::current().id());
        Ok(LocalRuntime {
            runtime,
            _not_send: PhantomData,
        })
    }
}

/// Options of [`Builder::build_local`] (tokio's `LocalOptions`; none changes the
/// simulation).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LocalOptions {}

/// tokio's `LocalRuntime`: a runtime whose tasks need not be `Send`. In simulation every
/// task runs on one thread, so it is a [`Runtime`] without the `Send` bounds.
#[derive(Debug)]
pub struct LocalRuntime {
    runtime: Runtime,
    _not_send: PhantomData<*const ()>,
}

impl LocalRuntime {
    /// A local runtime (never fails in simulation).
    pub fn new() -> io::Result<LocalRuntime> {
        Builder::new_current_thread().build_local(LocalOptions::default())
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        self.runtime.handle()
    }

    /// Spawns a `!Send` task onto this runtime (see [`crate::task::spawn_local`]); from
    /// outside its `block_on`, the task runs in the next one (as [`Runtime::spawn`]).
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match detsim_runtime::in_simulation() {
            true => crate::task::spawn_local(future),
            false => {
                super::session::spawn(self.handle().id(), self.handle().is_shut_down(), future)
            }
        }
    }

    /// See [`Runtime::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.runtime.spawn_blocking(f)
    }

    /// See [`Runtime::block_on`].
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// See [`Runtime::enter`].
    pub fn enter(&self) -> EnterGuard<'_> {
        self.runtime.enter()
    }

    /// See [`Runtime::shutdown_timeout`].
    pub fn shutdown_timeout(self, duration: std::time::Duration) {
        self.runtime.shutdown_timeout(duration);
    }

    /// See [`Runtime::shutdown_background`].
    pub fn shutdown_background(self) {
        self.runtime.shutdown_background();
    }

    /// See [`Handle::metrics`].
    pub fn metrics(&self) -> RuntimeMetrics {
        self.runtime.handle().metrics()
    }
}
