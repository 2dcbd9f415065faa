//! Controls of the simulation that tokio code cannot express: sending ctrl-c, the
//! default length of a `#[tokio::test]` sweep, and how long tasks spin before time
//! passes. Only under `--cfg detsim`; wrap calls
//! in `#[cfg(detsim)]` in code that also builds on real tokio.

/// Seeds a `#[tokio::test]` sweeps unless `DETSIM_SEEDS` (or `DETSIM_SEED`, or
/// `DETSIM_REPLAY`) says otherwise: 256, a quarter of detsim's own default, because a
/// tokio test is usually a whole application (a server, clients, timers) and its runs
/// are long; 256 seeds give each strategy of the default portfolio 64 seeds. Raise it
/// for a soak run with `DETSIM_SEEDS`.
pub const DEFAULT_TEST_SEEDS: u64 = 256;

/// Polls in a row in which the ready tasks only yield (no task parks, finishes or
/// wakes another) after which a facade run's clock jumps to its next timer although
/// tasks are ready (`detsim_runtime::time::advance_when_busy`): on tokio, real time
/// passes while tasks spin, so a task that is always ready does not starve timers and
/// network deliveries. 1,000 polls of a yield loop take some 100 µs on a real runtime,
/// the order of a loopback delivery; a spin with no timer armed is still a livelock.
pub const BUSY_CLOCK_POLLS: u64 = 1_000;

/// Turns on the busy clock ([`BUSY_CLOCK_POLLS`]) for the current run: called at the
/// start of every `#[tokio::test]` run and of every `Runtime::block_on`.
pub(crate) fn enter_run() {
    detsim_runtime::time::advance_when_busy(Some(BUSY_CLOCK_POLLS));
}

/// Sends ctrl-c to the simulation: every `tokio::signal::ctrl_c()` future polled
/// before this call completes. Panics outside a simulation.
pub fn send_ctrl_c() {
    control::send_ctrl_c();
}

/// Per-run state of the simulated signals: run-scoped state of the runtime
/// (`detsim_runtime::extension::run_state`), created at the run's first use and dropped
/// with the run, so nothing of one run's ctrl-c reaches the next.
pub(crate) mod control {
    use std::cell::RefCell;
    use std::task::Waker;

    use detsim_runtime::extension;

    #[derive(Default)]
    struct CtrlC {
        sent: u64,
        waiters: Vec<Waker>,
    }

    fn with<R>(f: impl FnOnce(&mut CtrlC) -> R) -> R {
        let state = extension::run_state(RefCell::<CtrlC>::default);
        let mut state = state.borrow_mut();
        f(&mut state)
    }

    /// How many ctrl-c this run has sent; registers `waker` for the next one.
    pub(crate) fn ctrl_c_count(waker: &Waker) -> u64 {
        with(|state| {
            if !state.waiters.iter().any(|w| w.will_wake(waker)) {
                state.waiters.push(waker.clone());
            }
            state.sent
        })
    }

    pub(crate) fn send_ctrl_c() {
        let waiters = with(|state| {
            state.sent += 1;
            std::mem::take(&mut state.waiters)
        });
        waiters.into_iter().for_each(Waker::wake);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Two runs on one thread: the second starts with no ctrl-c sent and no
        /// waiter, whatever the first left (a thread-local not reset per run would
        /// carry both over).
        #[test]
        fn a_run_starts_with_no_ctrl_c_of_the_last() {
            let mut rt = detsim_runtime::Runtime::new(0);
            let waker = std::task::Waker::noop();
            rt.block_on(async {
                send_ctrl_c();
                send_ctrl_c();
                assert_eq!(ctrl_c_count(waker), 2);
            });
            rt.block_on(async {
                assert_eq!(with(|state| state.waiters.len()), 0, "no waiter left over");
                assert_eq!(ctrl_c_count(waker), 0, "no ctrl-c left over");
            });
        }
    }
}
