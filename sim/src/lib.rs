//! detsim: deterministic simulation testing for async Rust.
//!
//! TODO crate docs
mod config;
mod progress;
mod report;
mod runner;
mod schedule;
mod scheduler;
mod shrink;

pub use detsim_runtime::{
    JoinError, JoinHandle, RunError, Runtime, Trace, random, spawn, task, time, trace, yield_now,
};
pub use report::{Failure, FailureKind, Report, ShrinkSummary};
pub use runner::{Builder, DEFAULT_SEED_START, DEFAULT_SEEDS, check};
pub use schedule::{Schedule, TOKEN_PREFIX, TokenError, WordRng};
pub use scheduler::{PORTFOLIO, ParseSchedulerError, Scheduler};
pub use shrink::ShrinkBudget;
