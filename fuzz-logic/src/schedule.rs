//! The `schedule` target: fuzzer bytes drive the decisions and random values of
//! [`bank::one_day`], whose transfers lose money on some
//! interleavings. A crash is the bug: its report carries a replay token.

use detsim::fuzz::{self, FuzzFailure, Fuzzer};

use crate::bank;

/// Runs the bank's day under the schedule and random words in `data`.
pub fn run(data: &[u8]) -> Result<(), FuzzFailure> {
    fuzz::run(data, bank::one_day)
}

/// Like [`run`], then panics with the failure report and its replay token: what the
/// fuzz target calls. The report's replay command is the corpus test
/// `bank_crash_replays_under_cargo_test`, which replays any token of this body.
pub fn check(data: &[u8]) {
    Fuzzer::new()
        .target("schedule")
        .replay_test("cargo test -p detsim-fuzz-logic --test corpus bank_crash")
        .check(data, bank::one_day)
}

/// Runs the lease failover under the schedule in `data`.
pub fn run_lease(data: &[u8]) -> Result<(), FuzzFailure> {
    fuzz::run(data, crate::lease::failover)
}

/// Like [`run_lease`], then panics with the failure report: the `lease` fuzz target.
pub fn check_lease(data: &[u8]) {
    Fuzzer::new()
        .target("lease")
        .replay_test("cargo test -p detsim-fuzz-logic --test corpus lease_crash")
        .check(data, crate::lease::failover)
}
