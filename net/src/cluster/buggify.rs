//! `buggify!`: FoundationDB's fault injection in the code under test.
//!
//! FoundationDB's `BUGGIFY` (see its `flow/` sources and the "Testing Distributed
//! Systems w/ Deterministic Simulation" talk): each call site is enabled or not once
//! per run, with probability 0.25; an enabled site fires with probability 0.25 (or
//! the probability given) each time it is reached. Sites are told apart by their
//! file, line and column. Always false unless the run's fault plan turns buggify on.
//! Both levels are [`DecisionKind::Fault`](detsim_runtime::DecisionKind) decisions,
//! so a token replays them and shrinking can turn them off.

use detsim_runtime::choice::{DecisionKind, decide};

use crate::world::{chance, with_world};

/// Whether the `buggify!` site `site` fires now, with firing probability `p` (see [`buggify!`](crate::buggify)). The macro calls this; outside a simulation it is false.
pub fn buggify_at(site: &'static str, p: f64) -> bool {
    if !detsim_runtime::in_simulation() {
        return false;
    }
    with_world("detsim::buggify!", |world| {
        world.settle_plan(false);
        if !world.faults_on || !world.cluster.plan.is_some_and(|p| p.buggify) {
            return false;
        }
        let enabled = *world
            .cluster
            .buggify_sites
            .entry(site)
            .or_insert_with(|| decide(DecisionKind::Fault, 4) == 3);
        let fired = enabled && chance(p);
        if fired {
            world.note_fault(|| format!("buggify fired at {site}"));
        }
        fired
    })
}

/// Whether to inject a fault here: FoundationDB's `BUGGIFY`. A site is enabled once
/// per run with probability 0.25; an enabled site fires with probability 0.25 each
/// time it is reached (`buggify!(p)`: with probability `p`). Always `false` unless
/// fault injection is on for the run (`Faults::swarm()` draws it per seed, an explicit
/// plan sets it).
///
/// ```
/// fn send(request: &str) -> Result<(), String> {
///     if detsim_net::buggify!() {
///         return Err("timeout (injected)".into());
///     }
///     Ok(())
/// }
/// # let _ = send("x");
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::cluster::buggify_at(concat!(file!(), ":", line!(), ":", column!()), 0.25)
    };
    ($p:expr) => {
        $crate::cluster::buggify_at(concat!(file!(), ":", line!(), ":", column!()), $p)
    };
}
