//! Integration tests of the simulated network: TCP ([`tcp`]), UDP ([`udp`]),
//! addresses and ports ([`addr`]), determinism and replay of delivery order
//! ([`determinism`]), the cluster ([`cluster`]), and the exact effect of each fault and
//! the refusal of bad fault input ([`faults`]).

mod addr;
mod cluster;
mod determinism;
mod faults;
mod fs;
mod readiness;
mod tcp;
mod udp;

use std::future::Future;

/// Runs `body` once under `seed` with the random scheduler.
pub(crate) fn run<F: Future>(seed: u64, body: F) -> F::Output {
    detsim_runtime::Runtime::new(seed).block_on(body)
}
