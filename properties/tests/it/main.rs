//! Property tests of detsim's task semantics over generated task programs.
//!
//! Each property runs every generated program under `fifo`, `random` and
//! `pct:3`, on a generated seed; a failure names the property, the seed and
//! the scheduler (with the `DETSIM_*` variables that replay it), the
//! shrunk program, and the event log. `PROPTEST_CASES` sets the number of
//! programs per property (`support::CASES` by default).

mod abort;
mod deadlock;
mod determinism;
mod differential;
mod disk;
mod doctored;
mod generator;
mod lazy_start;
mod network;
mod progress;
mod results;
mod support;
mod timers;
mod well_formed;
