//! Integration tests of `detsim`, the harness: the public API of README.md (and every
//! other public name) used as written ([`contract`]), seed sweeps ([`sweep`], [`parallel`]), the failure
//! report a user reads ([`report`]), the `DETSIM_*` environment variables ([`env`]),
//! replay tokens ([`replay`]), shrinking ([`shrinking`]), the determinism check
//! ([`determinism`]) and the pictures of a failure: trace file, deviations explained,
//! deadlock positions ([`pictures`]), and the sealed run: the OS's clocks and
//! randomness as functions of the seed ([`sealed`]).

mod assertions;
mod attribute;
mod campaign;
mod contract;
mod determinism;
mod env;
mod exhaustive;
mod fresh;
mod history;
mod parallel;
mod pictures;
mod programs;
mod replay;
mod report;
mod sealed;
mod shrinking;
mod sweep;

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string payload>".to_owned())
}
