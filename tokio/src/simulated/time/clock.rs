//! tokio's paused clock on detsim's virtual one: [`pause`], [`resume`] and [`advance`]
//! keep tokio's rules, and timers need a runtime with time enabled.
//!
//! Time is always virtual: it stands still while a task runs and jumps to the next
//! timer when every task waits, whether or not the clock is "frozen". What freezing
//! changes is what tokio allows: `pause` panics when the clock is frozen already (and
//! on a multi-thread runtime), `resume` and `advance` panic when it is not. The clock
//! starts frozen when the runtime asks for it (`start_paused`). The state belongs to
//! the run (a thread-local keyed by the run's id), so nothing leaks from one seed to
//! the next.

use std::cell::RefCell;
use std::future::Future;

use super::Duration;
use crate::runtime::Handle;

thread_local! {
    /// The run whose clock state this is, and whether its clock is frozen.
    static FROZEN: RefCell<Option<(u64, bool)>> = const { RefCell::new(None) };
}

const OUTSIDE: &str = "time cannot be frozen from outside the Tokio runtime";

/// Whether the current run's clock is frozen (`start_paused` until changed).
fn frozen(handle: &Handle) -> bool {
    let run = detsim_runtime::run_id();
    FROZEN.with(|frozen| match *frozen.borrow() {
        Some((of, value)) if of == run => value,
        _ => handle.start_paused,
    })
}

fn set_frozen(value: bool) {
    let run = detsim_runtime::run_id();
    FROZEN.with(|frozen| *frozen.borrow_mut() = Some((run, value)));
}

#[track_caller]
fn current() -> Handle {
    Handle::try_current().unwrap_or_else(|_| panic!("{OUTSIDE}"))
}

/// Freezes the clock, as tokio's `pause` does (time is always virtual in simulation:
/// this changes what [`resume`] and [`advance`] allow, nothing else).
///
/// # Panics
/// Outside a simulation, on a multi-thread runtime, or when the clock is frozen
/// already, with tokio's messages.
#[track_caller]
pub fn pause() {
    let handle = current();
    if handle.is_multi_thread() {
        panic!(
            "`time::pause()` requires the `current_thread` Tokio runtime. This is a bug in the runtime."
        );
    }
    if frozen(&handle) {
        panic!("time is already frozen");
    }
    set_frozen(true);
}

/// Unfreezes the clock (see [`pause`]).
///
/// # Panics
/// Outside a simulation, or when the clock is not frozen, with tokio's messages.
#[track_caller]
pub fn resume() {
    let handle = current();
    if !frozen(&handle) {
        panic!("time is not frozen");
    }
    set_frozen(false);
}

/// Lets virtual time move forward by `duration`: the caller sleeps `duration`, and
/// every timer due meanwhile fires (in deadline order, other tasks running as they
/// wake) before it returns.
///
/// # Panics
/// Outside a simulation, or when the clock is not frozen ([`pause`]), with tokio's
/// messages.
#[track_caller]
pub fn advance(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
    let handle = current();
    if !frozen(&handle) {
        panic!("time is not frozen");
    }
    super::sleep(duration)
}

/// Panics, as tokio does, when the current runtime was built without time (no
/// `enable_time` or `enable_all`). Outside any runtime, tokio's panic for that.
#[track_caller]
pub(super) fn check_timers() {
    match Handle::try_current() {
        Ok(handle) if handle.time_enabled => {}
        Ok(_) => panic!(
            "A Tokio 1.x context was found, but timers are disabled. Call `enable_time` on the \
             runtime builder to enable timers."
        ),
        Err(_) => panic!(
            "there is no reactor running, must be called from the context of a Tokio 1.x \
             runtime (a detsim simulation: a #[tokio::test], #[tokio::main] or \
             Runtime::block_on)"
        ),
    }
}
