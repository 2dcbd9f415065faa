//! tokio's API on detsim: the modules `--cfg detsim` puts at the crate root.
//!
//! Each module has tokio's path and signatures. What needs no runtime is real tokio,
//! re-exported; what involves tasks, time, randomness or I/O runs on the current detsim
//! simulation (and panics with a clear message outside one, as detsim's own API does).

pub mod fs;
pub mod io;
pub mod net;
pub mod process;
pub mod runtime;
pub mod signal;
pub mod simulation;
pub mod sync;

/// The former name of [`simulation`](crate::simulation).
#[deprecated(since = "0.1.0", note = "renamed `tokio::simulation`")]
pub mod sim {
    pub use super::simulation::{DEFAULT_TEST_SEEDS, send_ctrl_c};
}
pub mod task;
pub mod time;

#[doc(hidden)]
pub mod __private;

pub use task::spawn;

/// tokio's runtime-independent macros, as tokio defines them.
pub use tokio::{join, pin, task_local, try_join};

/// `#[tokio::main]` and `#[tokio::test]` on detsim; see the crate docs.
pub use detsim_macros::{tokio_main as main, tokio_test as test};

/// Waits on several futures and runs the handler of the first to complete, as tokio's
/// `select!` (same syntax: `biased;`, `pattern = future, if precondition => handler`,
/// `else => handler`).
///
/// Seeded: unless the `select!` starts with `biased;`, every poll of it asks the run
/// which enabled branch to try first (a `DecisionKind::Select` decision, recorded in the
/// trace and the replay token, shrunk, steered by PCT and the fuzzer), then polls the
/// enabled branches in source order from there. Index 0 is source order, so the FIFO
/// scheduler behaves as `biased;`. Outside a simulation the branches are polled in
/// source order.
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__private::select_impl!(($crate) $($tokens)*)
    };
}
