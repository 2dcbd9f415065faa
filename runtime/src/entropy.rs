//! Whether this thread has drawn randomness from the operating system.
//!
//! Per-thread caches are keyed by the first draw of OS randomness on a thread: std
//! draws the keys of every `RandomState` (so `HashMap` and `HashSet` iteration order)
//! once per thread and then steps them with each new map, and `rand`'s thread RNG
//! seeds itself once per thread. Inside a run those draws come from the run's own
//! stream (see [`crate::seal`]), so the first run on a thread makes the same
//! caches in any process; but a later run on that thread would find the caches the
//! first one left, and behave differently than it does alone. The harness asks
//! [`thread_drew_os_randomness`] after a run, and gives the next run a fresh thread
//! when it says yes: a body that never draws OS randomness pays nothing.
//!
//! Invariant: once set on a thread, the flag stays set for the thread's life (its
//! caches do not go away).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether runs are sealed (see [`__set_sealing`]).
static SEALING: AtomicBool = AtomicBool::new(true);

thread_local! {
    static DREW: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread has drawn OS randomness (`getrandom`, `getentropy`), in a run
/// or outside one, since it started.
pub fn thread_drew_os_randomness() -> bool {
    sealing() && DREW.try_with(Cell::get).unwrap_or(true)
}

/// Notes that this thread drew OS randomness.
#[cfg_attr(
    not(all(target_os = "linux", target_env = "gnu")),
    allow(dead_code, reason = "called by the interposed getrandom/getentropy")
)]
pub(crate) fn note_os_randomness() {
    if sealing() {
        let _ = DREW.try_with(|drew| drew.set(true));
    }
}

/// Whether runs are sealed: on, unless the bench turned it off.
pub(crate) fn sealing() -> bool {
    SEALING.load(Ordering::Relaxed)
}

/// Turns sealing off (or on again) for the whole process: runs then read the real
/// clocks and OS randomness, and no run moves to a fresh thread. Only for measuring
/// what sealing costs, side by side in one process (`detsim-bench seal`): an unsealed
/// run is not a function of its seed.
#[doc(hidden)]
pub fn __set_sealing(on: bool) {
    SEALING.store(on, Ordering::Relaxed);
}

/// Marks this thread as one that drew OS randomness, as the interposed functions do:
/// for tests of the harness's fresh threads on platforms without the interposition.
#[doc(hidden)]
pub fn __note_os_randomness_for_tests() {
    note_os_randomness();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_per_thread_and_stays_set() {
        std::thread::spawn(|| {
            assert!(!thread_drew_os_randomness());
            note_os_randomness();
            assert!(thread_drew_os_randomness());
            note_os_randomness();
            assert!(thread_drew_os_randomness());
        })
        .join()
        .unwrap();
        std::thread::spawn(|| assert!(!thread_drew_os_randomness()))
            .join()
            .unwrap();
    }
}
