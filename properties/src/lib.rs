//! Property tests of detsim's task semantics over generated task programs.
//!
//! # Design
//!
//! - [`Program`] ([`program`]): a small tree of tasks whose ops spawn named
//!   children, yield, sleep in virtual time, await a child (plainly, with a
//!   time-out, or re-raising its panic), abort a child, panic, send or
//!   receive on a oneshot channel with the parent, and draw `detsim::random`
//!   values; each task returns a value. Generated trees ([`TaskSpec`]) are lowered into
//!   well-formed programs that never deadlock and never lose a panic.
//! - [`strategy`] (feature `proptest`, on by default) generates programs for
//!   the property tests. (The `program` fuzz target has its own generator, in
//!   `fuzz-logic/src/program.rs`.)
//! - [`interp::run`] runs a program on detsim for one seed and scheduler,
//!   recording an [`Event`] log: poll start and end per task (with
//!   `detsim::task::id()` and `detsim::time::now()`), spawns, joins and what
//!   they gave, aborts, drops of futures, sleeps and wakes, channel traffic,
//!   random draws. It returns a [`Run`]: the log and the harness's verdict.
//! - [`model::predict`] is an independent reference model of asyncio's loop
//!   that predicts, under `fifo`, which task is polled (or dropped) when.
//! - [`check`] holds one function per invariant; each reads a [`Run`] only,
//!   so a doctored log shows that it can fail.
//!
//! # Determinism
//!
//! Nothing here draws randomness or reads the clock except through detsim:
//! a run is a function of (program, scheduler, seed), which is what
//! [`check::same_run`] relies on.
//!
//! # Example
//!
//! ```
//! use detsim_properties::{Link, Program, RawStep, Sched, TaskSpec, check, interp};
//!
//! // The root spawns a child that sleeps 5 ms, then awaits it.
//! let child = TaskSpec { value: 7, steps: vec![RawStep::Sleep(5)] };
//! let root = TaskSpec {
//!     value: 1,
//!     steps: vec![RawStep::Spawn(child, Link::None), RawStep::Await(0)],
//! };
//! let program = Program::new(&root, false);
//! for sched in Sched::ALL {
//!     let run = interp::run(&program, sched, 42);
//!     check::all(&program, sched, &run).unwrap();
//! }
//! ```

pub mod check;
pub mod event;
pub mod interp;
pub mod model;
pub mod program;
#[cfg(feature = "proptest")]
pub mod strategy;

pub use event::{Event, Run};
pub use interp::Sched;
pub use program::{Link, Op, Program, RawStep, TaskSpec};

use std::sync::Once;

/// Keeps the panics that programs raise on purpose (payloads starting with
/// [`program::PANIC_PREFIX`]) off stderr; every other panic still reaches
/// the previous hook. Installed once per process; [`interp::run`] calls it.
pub fn quiet_program_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let ours = payload
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with(program::PANIC_PREFIX));
            if !ours {
                previous(info);
            }
        }));
    });
}
