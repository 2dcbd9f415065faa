//! tokio's paused clock on detsim's virtual one: [`pause`], [`resume`] and [`advance`]
//! keep tokio's rules, and timers need a runtime with time enabled.
//!
//! Time is always virtual: it stands still while a task runs and jumps to the next
//! timer when every task waits, whether or not the clock is "frozen". What freezing
//! changes is what tokio allows: `pause` panics when the clock is frozen already (and
//! on a multi-thread runtime), `resume` and `advance` panic when it is not. The clock
//! starts frozen when the runtime asks for it (`start_paused`).
//!
//! tokio's running clock is the real one, which moves between any two readings; its
//! paused clock stands still. So that a program sees time move across `pause` and
//! `resume` as it does on tokio (`advance(d)` from before a `pause` takes strictly
//! more than `d`; the clock is later after `resume` than before it), each of them
//! moves tokio's clock by [`SWITCH_TICK`]: the facade's [`Instant`](super::Instant)
//! reads the run's virtual clock plus the ticks taken so far (its *drift*), and timers
//! are armed on the virtual clock minus the drift. The amounts are fixed, so a seed
//! keeps its run. The state belongs to the run (a thread-local keyed by the run's id),
//! so nothing leaks from one seed to the next.

use std::cell::Cell;
use std::future::Future;

use super::Duration;
use crate::runtime::Handle;

/// How far tokio's clock moves when it is paused or resumed: the real time that passes
/// between two readings of tokio's running clock, modelled as one microsecond.
pub(crate) const SWITCH_TICK: Duration = Duration::from_micros(1);

/// The clock state of one run.
#[derive(Clone, Copy)]
struct State {
    run: u64,
    frozen: bool,
    /// The ticks `pause` and `resume` took (see the module docs).
    drift: Duration,
}

thread_local! {
    /// The clock state of the run on this thread (`None`: untouched, see [`state`]).
    static STATE: Cell<Option<State>> = const { Cell::new(None) };
}

const OUTSIDE: &str = "time cannot be frozen from outside the Tokio runtime";

/// The current run's clock state: frozen as `start_paused` says and no drift until
/// `pause` or `resume` changes it.
fn state(handle: &Handle) -> State {
    let run = detsim_runtime::run_id();
    match STATE.get() {
        Some(state) if state.run == run => state,
        _ => State {
            run,
            frozen: handle.start_paused,
            drift: Duration::ZERO,
        },
    }
}

/// Whether the current run's clock is frozen (`start_paused` until changed).
fn frozen(handle: &Handle) -> bool {
    state(handle).frozen
}

/// Whether tokio's clock is paused in the current run (see [`pause`]); false outside a
/// simulation.
pub(crate) fn is_paused() -> bool {
    match Handle::try_current() {
        Ok(handle) => frozen(&handle),
        Err(_) => false,
    }
}

/// Freezes or unfreezes the current run's clock, which moves by [`SWITCH_TICK`].
fn switch(handle: &Handle, frozen: bool) {
    let state = state(handle);
    STATE.set(Some(State {
        frozen,
        drift: state.drift.saturating_add(SWITCH_TICK),
        ..state
    }));
}

/// How far tokio's clock is ahead of the run's virtual clock (see the module docs):
/// zero outside a simulation and in a run that never paused or resumed its clock.
pub(super) fn drift() -> Duration {
    match STATE.get() {
        Some(state) if detsim_runtime::in_simulation() && state.run == detsim_runtime::run_id() => {
            state.drift
        }
        _ => Duration::ZERO,
    }
}

#[track_caller]
fn current() -> Handle {
    Handle::try_current().unwrap_or_else(|_| panic!("{OUTSIDE}"))
}

/// Freezes the clock, as tokio's `pause` does (time is always virtual in simulation:
/// this changes what [`resume`] and [`advance`] allow, and moves the clock by
/// [`SWITCH_TICK`], see the module docs).
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
    switch(&handle, true);
}

/// Unfreezes the clock (see [`pause`]); the clock moves by [`SWITCH_TICK`].
///
/// # Panics
/// Outside a simulation, or when the clock is not frozen, with tokio's messages.
#[track_caller]
pub fn resume() {
    let handle = current();
    if !frozen(&handle) {
        panic!("time is not frozen");
    }
    switch(&handle, false);
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
