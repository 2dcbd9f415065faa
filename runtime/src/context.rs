//! The thread's current simulation, and the panic hook that captures panic locations.
//!
//! Invariants:
//! - at most one simulation is entered on a thread at a time; free functions (`spawn`,
//!   `time::now`, …) reach it through a thread-local and panic with a clear message
//!   when there is none;
//! - the executor's `RefCell<Core>` is borrowed only inside `with_core` closures, which
//!   never run user code, so a poll, a wake or a destructor can always re-enter.

use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::rc::Rc;
use std::sync::Once;

use crate::executor::Core;

thread_local! {
    static CURRENT: RefCell<Option<Rc<RefCell<Core>>>> = const { RefCell::new(None) };
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
    /// Whether a run (not a session's `enter` guard) made the current simulation current.
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether `LAST_PANIC_LOCATION` may hold a location: read before every poll, a
    /// plain flag with no destructor, so the common case costs a load.
    static HAS_PANIC_LOCATION: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on the current simulation's core. Panics, naming `what`, outside one.
pub(crate) fn with_core<R>(what: &str, f: impl FnOnce(&mut Core) -> R) -> R {
    CURRENT.with(|current| {
        let current = current.borrow();
        let Some(core) = current.as_ref() else {
            panic!(
                "`{what}` was called outside a detsim simulation; call it from a future run by \
                 `detsim::check`, a `detsim::Builder`, or `Runtime::block_on`"
            )
        };
        let mut core = core.borrow_mut();
        f(&mut core)
    })
}

/// Runs `f` on the current simulation's core, if there is one.
pub(crate) fn try_with_core<R>(f: impl FnOnce(&mut Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            let current = current.borrow();
            current.as_ref().map(|core| f(&mut core.borrow_mut()))
        })
        .ok()
        .flatten()
}

/// Runs `f` on the current simulation's core, if there is one and it is not borrowed
/// (a destructor may run while the executor is busy). Never panics.
pub(crate) fn try_with_free_core<R>(f: impl FnOnce(&mut Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            let current = current.try_borrow().ok()?;
            let mut core = current.as_ref()?.try_borrow_mut().ok()?;
            Some(f(&mut core))
        })
        .ok()
        .flatten()
}

/// The current simulation's virtual time, or `None` outside one or while its core is
/// borrowed. Never panics: the interposed clocks (`seal.rs`) call it from anywhere.
pub(crate) fn try_now() -> Option<crate::time::Instant> {
    CURRENT
        .try_with(|current| {
            let current = current.try_borrow().ok()?;
            let core = current.as_ref()?.try_borrow().ok()?;
            Some(core.now())
        })
        .ok()
        .flatten()
}

/// The task being polled on this thread, or `None` (outside a simulation or a poll, or
/// while the core is borrowed). Never panics.
pub(crate) fn try_current_task() -> Option<crate::TaskInfo> {
    CURRENT
        .try_with(|current| {
            let current = current.try_borrow().ok()?;
            let core = current.as_ref()?.try_borrow().ok()?;
            core.current_info()
        })
        .ok()
        .flatten()
}

/// Whether this thread is inside a simulation.
pub fn in_simulation() -> bool {
    CURRENT
        .try_with(|current| current.borrow().is_some())
        .unwrap_or(false)
}

/// Makes `core` the thread's current simulation (outside any run's poll loop: a
/// session's `enter` guard); returns the previous one.
pub(crate) fn swap_current(core: Option<Rc<RefCell<Core>>>) -> Option<Rc<RefCell<Core>>> {
    CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), core))
}

/// Whether the thread's current simulation was made current by a session's `enter`
/// guard (`Runtime::session_enter`) rather than by a run: tasks can be spawned, but no
/// task is being polled.
pub fn in_session_enter() -> bool {
    in_simulation() && !IN_RUN.get()
}

/// Marks the thread as inside a simulation until dropped.
#[derive(Debug)]
pub(crate) struct Enter {
    quiet_before: bool,
    in_run_before: bool,
}

impl Enter {
    pub(crate) fn new(core: Rc<RefCell<Core>>) -> Enter {
        install_panic_hook();
        crate::seal::enter(core.borrow().seed());
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            assert!(
                current.is_none(),
                "a detsim simulation cannot run inside another one on the same thread"
            );
            *current = Some(core);
        });
        Enter {
            quiet_before: QUIET_PANICS.replace(true),
            in_run_before: IN_RUN.replace(true),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        QUIET_PANICS.set(self.quiet_before);
        IN_RUN.set(self.in_run_before);
        crate::seal::leave();
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

/// Makes a task the current one until dropped: the executor drops a task's future or
/// output "as" that task, even outside its poll (an abort by another task, the end of
/// the run), so that `task::id()` in a destructor names the task, as in tokio.
#[derive(Debug)]
pub(crate) struct AsTask {
    previous: Option<u32>,
}

impl AsTask {
    pub(crate) fn enter(index: u32) -> AsTask {
        AsTask {
            previous: with_core("detsim", |core| core.swap_current(Some(index))),
        }
    }
}

impl Drop for AsTask {
    fn drop(&mut self) {
        try_with_core(|core| core.swap_current(self.previous));
    }
}

/// Forgets where the last panic happened. Called before every poll: a panic that the
/// program caught itself must not lend its location to a later failure that has none
/// (a payload re-raised with `resume_unwind` does not pass through the hook).
#[inline]
pub(crate) fn forget_panic_location() {
    if HAS_PANIC_LOCATION.get() {
        HAS_PANIC_LOCATION.set(false);
        let _ = LAST_PANIC_LOCATION.try_with(|location| location.borrow_mut().take());
    }
}

/// Where the last panic caught inside a simulation on this thread happened.
pub(crate) fn take_panic_location() -> Option<String> {
    HAS_PANIC_LOCATION.set(false);
    LAST_PANIC_LOCATION.with(|location| location.borrow_mut().take())
}

/// Installs (once per process) a panic hook that, on a thread inside a simulation,
/// records the panic's location instead of printing it: a panic there is data for the
/// run's outcome. Elsewhere it defers to the hook that was installed before.
///
/// A run installs it when it starts; a program that sets a hook of its own around a
/// run (to capture a panic's location, say) calls this first, so that its hook replaces
/// detsim's for its duration rather than being wrapped by it (the tokio facade's
/// `Runtime` does it when built).
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let quiet = QUIET_PANICS.try_with(Cell::get).unwrap_or(false);
            if quiet {
                let location = info.location().map(ToString::to_string);
                let _ = LAST_PANIC_LOCATION.try_with(|last| *last.borrow_mut() = location);
                let _ = HAS_PANIC_LOCATION.try_with(|has| has.set(true));
            } else {
                previous(info);
            }
        }));
    });
}
