//! Controls of the simulation that tokio code cannot express: sending ctrl-c, and the
//! default length of a `#[tokio::test]` sweep. Only under `--cfg detsim`; wrap calls
//! in `#[cfg(detsim)]` in code that also builds on real tokio.

/// Seeds a `#[tokio::test]` sweeps unless `DETSIM_SEEDS` (or `DETSIM_SEED`, or
/// `DETSIM_REPLAY`) says otherwise: 256, a quarter of detsim's own default, because a
/// tokio test is usually a whole application (a server, clients, timers) and its runs
/// are long; 256 seeds give each strategy of the default portfolio 64 seeds. Raise it
/// for a soak run with `DETSIM_SEEDS`.
pub const DEFAULT_TEST_SEEDS: u64 = 256;

/// Sends ctrl-c to the simulation: every `tokio::signal::ctrl_c()` future polled
/// before this call completes. Panics outside a simulation.
pub fn send_ctrl_c() {
    control::send_ctrl_c();
}

/// Per-run state of the simulated signals, kept in a thread-local keyed by the run.
pub(crate) mod control {
    use std::cell::RefCell;
    use std::task::Waker;

    #[derive(Default)]
    struct CtrlC {
        run: u64,
        sent: u64,
        waiters: Vec<Waker>,
    }

    thread_local! {
        static CTRL_C: RefCell<CtrlC> = RefCell::default();
    }

    fn with<R>(f: impl FnOnce(&mut CtrlC) -> R) -> R {
        let run = detsim_runtime::run_id();
        CTRL_C.with(|state| {
            let mut state = state.borrow_mut();
            if state.run != run {
                *state = CtrlC {
                    run,
                    ..CtrlC::default()
                };
            }
            f(&mut state)
        })
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
}
