//! detsim: deterministic simulation testing for async Rust.
//!
//! TODO crate docs
mod config;
pub mod fuzz;
mod report;
mod runner;
mod schedule;
mod scheduler;

pub use detsim_runtime::{
    JoinError, JoinHandle, RunError, Runtime, Trace, random, spawn, task, time, trace, yield_now,
};
pub use report::{Failure, Report};
pub use runner::{Builder, DEFAULT_SEED_START, DEFAULT_SEEDS, check};
pub use schedule::{Schedule, TOKEN_PREFIX, TokenError};
pub use scheduler::{ParseSchedulerError, Scheduler};
