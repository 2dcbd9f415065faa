//! A deep bug for the fuzzer: a standby that declares a live primary dead when the
//! primary is starved of polls for a while, as a failure detector does under a long
//! GC pause.
//!
//! The primary renews its lease at every step; the standby counts its own steps as
//! clock ticks and takes over when the lease is more than [`LEASE_TICKS`] ticks old.
//! Under a fair scheduler the two alternate and the lease never expires; the bug needs
//! the standby to be chosen over the ready primary `LEASE_TICKS + 1` times in a row.
//! A uniformly random scheduler does that with probability about `2^-(LEASE_TICKS+1)`
//! per window: a sweep of a million seeds does not find it. `cargo fuzz run lease`
//! finds it in about a second (2–7 thousand executions): an input is one decision per
//! byte, and libFuzzer's mutations that repeat and copy bytes ("insert repeated bytes",
//! "copy part") build long runs of "pick the newest task" quickly. PCT finds it in one
//! or two seeds (it is a starvation bug, PCT's best case); the point here is the fuzzer.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{task, yield_now};

/// How many standby steps without a renewal make the standby take over.
pub const LEASE_TICKS: u64 = 32;
/// Steps each node makes.
const ROUNDS: u64 = 3 * LEASE_TICKS;

#[derive(Default)]
struct Cluster {
    /// The standby's step count: its clock.
    clock: Cell<u64>,
    /// The clock when the primary last renewed its lease.
    renewed_at: Cell<u64>,
    /// The primary finished its work and stepped down: nothing left to take over.
    stepped_down: Cell<bool>,
    /// The standby took over.
    standby_took_over: Cell<bool>,
}

async fn primary(cluster: Rc<Cluster>) {
    for _ in 0..ROUNDS {
        cluster.renewed_at.set(cluster.clock.get());
        yield_now().await; // do some work
    }
    cluster.stepped_down.set(true);
}

async fn standby(cluster: Rc<Cluster>) {
    for _ in 0..ROUNDS {
        if cluster.stepped_down.get() {
            return;
        }
        let now = cluster.clock.get() + 1;
        cluster.clock.set(now);
        if now - cluster.renewed_at.get() > LEASE_TICKS {
            cluster.standby_took_over.set(true);
            return;
        }
        yield_now().await;
    }
}

/// Runs a primary and a standby side by side. Panics with "split brain" when the
/// standby takes over although the primary never stopped.
pub async fn failover() {
    let cluster = Rc::new(Cluster::default());
    let p = task::Builder::new()
        .name("primary")
        .spawn(primary(cluster.clone()));
    let s = task::Builder::new()
        .name("standby")
        .spawn(standby(cluster.clone()));
    p.await.unwrap();
    s.await.unwrap();
    assert!(
        !cluster.standby_took_over.get(),
        "split brain: the standby took over from a live primary (lease of {LEASE_TICKS} ticks \
         expired while the primary was starved)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_schedules_pass_and_a_starving_one_fails() {
        assert!(detsim::fuzz::run(&[], failover).is_ok(), "fifo alternates");
        assert!(
            detsim::fuzz::run(&[0xff; 20], failover).is_ok(),
            "too short a starvation"
        );
        // [primary, standby] are ready at every decision (the one that ran yields to the
        // back), so 0xff keeps picking the standby: 33 of them expire the lease.
        let data = vec![0xff; LEASE_TICKS as usize + 1];
        let mut short = data.clone();
        short.pop();
        assert!(
            detsim::fuzz::run(&short, failover).is_ok(),
            "one tick short"
        );
        let failure = detsim::fuzz::run(&data, failover).expect_err("the lease expires");
        assert!(failure.message.contains("split brain"), "{failure}");
        assert!(failure.replays());
    }
}
