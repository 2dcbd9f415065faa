//! The logic of detsim's fuzz targets, as ordinary library code.
//!
//! `fuzz/` (cargo-fuzz, outside the workspace; see `fuzz/README.md` for the commands)
//! holds one-line `fuzz_target!`s that call [`schedule::check`],
//! [`schedule::check_lease`] and [`program::check`]; everything they do lives here, so
//! that a stable `cargo test` builds it, and `tests/corpus.rs` replays every committed
//! corpus file of `fuzz/corpus/<target>/` through the same functions.
//!
//! - target `schedule` ([`schedule::check`]): fuzzes the schedules and random values
//!   of a program with a real bug ([`bank::one_day`]) through [`detsim::fuzz`]; a crash
//!   is a replay token.
//! - target `lease` ([`schedule::check_lease`]): fuzzes [`lease::failover`], a bug a
//!   random seed sweep essentially never finds (it needs 33 unfair decisions in a row)
//!   and the fuzzer finds in about a second.
//! - target `program` ([`program::check`]): [`arbitrary`]-generated task programs,
//!   checked against the runtime's semantics (lazy start, result propagation,
//!   cancellation, drops, timers, unread panics, determinism).

pub use detsim_zoo::bank;
pub mod lease;
pub mod program;
pub mod schedule;
