//! tokio, switchable to deterministic simulation: without `--cfg detsim` this crate is
//! real tokio; with `RUSTFLAGS="--cfg detsim"` the same paths run on detsim, so
//! existing tokio code is tested over seeds with exact replay.
//!
//! # Design
//! A facade is a switch, not a fork (madsim-tokio's shape):
//! - `#[cfg(not(detsim))]`: `pub use tokio::*`, with tokio's feature names forwarded
//!   (`full`, `rt`, `rt-multi-thread`, `macros`, `time`, `sync`, `net`, `io-util`,
//!   `io-std`, `signal`, `fs`, `process`, `test-util`, `parking_lot`).
//! - `#[cfg(detsim)]`: the modules under `src/simulated/`, with tokio's paths and signatures.
//!   Real tokio types are re-exported wherever they do not need tokio's runtime
//!   (`sync`, `io`, `join!`, `try_join!`, `pin!`, `task_local!`); simulated ones stand
//!   in where tasks, time, randomness or I/O are involved (`spawn` and `task`, `time`,
//!   `select!`, `runtime`, `signal`, `fs`, `#[tokio::test]`, `#[tokio::main]`).
//!   Bounds are tokio's (`spawn` keeps `Send + 'static`), so code that compiles
//!   simulated compiles on real tokio too.
//!
//! # Adopting it
//! ```toml
//! [dependencies]
//! tokio = { package = "detsim-tokio", version = "0.1", features = ["full"] }
//!
//! [lints.rust]
//! unexpected_cfgs = { level = "warn", check-cfg = ['cfg(detsim)'] }
//! ```
//! ```sh
//! cargo test                                   # real tokio, exactly as before
//! RUSTFLAGS="--cfg detsim" cargo test          # the same code, simulated and swept
//! ```
//! (Use a separate target directory for the simulated build, e.g.
//! `CARGO_TARGET_DIR=target/detsim`, so the two builds do not rebuild each other.)
//!
//! # Under `--cfg detsim`
//! - `#[tokio::test]` runs the test body as a detsim sweep of
//!   `simulation::DEFAULT_TEST_SEEDS` seeds; every `DETSIM_*` variable applies
//!   (`DETSIM_SEEDS`, `DETSIM_SEED`, `DETSIM_REPLAY`, `DETSIM_SCHEDULER`,
//!   `DETSIM_CHECK_DETERMINISM`, …), and a failing seed fails the test with detsim's
//!   report and replay command. tokio's arguments are accepted: `flavor` (both
//!   flavors run on detsim's one thread; `multi_thread` parallelism is modelled by the
//!   scheduler interleaving tasks at every `.await`), `worker_threads` (ignored),
//!   `start_paused` (time is always virtual, so it changes nothing).
//! - `#[tokio::main]` runs `main`'s body as one simulation (seed 0, or `DETSIM_SEED`).
//! - `select!` is seeded: unless `biased;`, which branch is polled first is a
//!   recorded decision of the run (`DecisionKind::Select`), replayed by a token.
//! - `time` is detsim's virtual clock; `pause`/`resume` change nothing (time is always
//!   virtual and auto-advances when every task waits) and `advance(d)` sleeps `d`.
//! - `signal::ctrl_c()` completes only when the simulation calls
//!   `simulation::send_ctrl_c`.
//! - `fs` runs `std::fs` inline (deterministic for a test that uses its own
//!   directory); `process` is real tokio's and panics "no reactor running".
//! - A crate that depends on `tokio` directly (not through this facade) still calls
//!   real tokio and panics with tokio's "there is no reactor running".
//!
//! `spawn` keeps tokio's bounds in both builds, so a `!Send` future does not compile
//! in either:
//!
//! ```compile_fail
//! # async fn f() {
//! let shared = std::rc::Rc::new(1);
//! detsim_tokio::spawn(async move { drop(shared) }); // Rc is not Send
//! # }
//! ```
//!
//! # Determinism
//! Under `--cfg detsim` nothing here reads the clock or a thread RNG: tasks, timers
//! and `select!` branches are all choices of the run's seeded chooser.

#[cfg(not(detsim))]
pub use tokio::*;

#[cfg(detsim)]
mod simulated;
#[cfg(detsim)]
pub use simulated::*;
