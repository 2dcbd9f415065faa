//! Integration tests of `detsim`, the harness: the public contract of `design.md`
//! used as written ([`contract`]), seed sweeps ([`sweep`], [`parallel`]), the failure
//! report a user reads ([`report`]), the `DETSIM_*` environment variables ([`env`]),
//! replay tokens ([`replay`]), shrinking ([`shrinking`]), the determinism check
//! ([`determinism`]) and the pictures of a failure: trace file, deviations explained,
//! deadlock positions ([`pictures`]).

mod attribute;
mod contract;
mod determinism;
mod env;
mod exhaustive;
mod parallel;
mod pictures;
mod programs;
mod replay;
mod report;
mod shrinking;
mod sweep;

/// Whether no `DETSIM_*` variable is set. Checks that pin what the code sets (seeds
/// run, lowest failing seed, scheduler name) need the code's settings to be the ones in
/// force; a soak run with `DETSIM_SEEDS` or `DETSIM_SCHEDULER` set skips them rather
/// than failing them (the variables themselves are tested in `env`, in child processes).
pub(crate) fn env_is_clean() -> bool {
    let set: Vec<String> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("DETSIM_"))
        .collect();
    if !set.is_empty() {
        eprintln!(
            "skipping checks of the code's own settings: {} set",
            set.join(", ")
        );
    }
    set.is_empty()
}

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string payload>".to_owned())
}
