//! Property 6: every ready task runs: before the clock advances, within n-1 polls under fifo and RANDOM_WAIT_BOUND polls under random.

use std::cell::Cell;
use std::rc::Rc;

use detsim_properties::{Sched, check, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn ready_tasks_run(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, check::progress)?;
    }
}

/// A task that spins (`yield_now` until a flag is set) must not starve the
/// ready task that sets the flag, which needs `SETTER_POLLS` polls, whichever
/// of the two is spawned first. Runs 64 seeds with a budget of `max_steps`
/// polls (beyond it, a livelock).
fn spin(sched: Sched, max_steps: u64) -> Option<String> {
    for setter_first in [false, true] {
        let report = detsim::Builder::new()
            .seeds(64)
            .scheduler(sched.to_detsim())
            .max_steps(max_steps)
            .jobs(1)
            .explore(|| async {
                let flag = Rc::new(Cell::new(false));
                let f = flag.clone();
                let spinner = async move {
                    while !f.get() {
                        detsim::yield_now().await;
                    }
                };
                let setter = async move {
                    for _ in 1..SETTER_POLLS {
                        detsim::yield_now().await;
                    }
                    flag.set(true);
                };
                let (a, b) = if setter_first {
                    let b = detsim::spawn(setter);
                    (detsim::spawn(spinner), b)
                } else {
                    let a = detsim::spawn(spinner);
                    (a, detsim::spawn(setter))
                };
                a.await.unwrap();
                b.await.unwrap();
            });
        if let Some(f) = report.failure {
            return Some(format!(
                "{sched}, setter spawned first: {setter_first}: {f}"
            ));
        }
    }
    None
}

const SETTER_POLLS: u32 = 4;

/// `fifo` alternates the two, so the run takes about `2 · SETTER_POLLS`
/// polls; `random` picks the setter with probability ≥ 1/3 per decision (at
/// most three tasks are ready), so that it needs more than 400 polls has
/// probability below 1e-30.
#[test]
fn a_spinning_task_cannot_starve_a_ready_one() {
    for sched in [Sched::Fifo, Sched::Random] {
        if let Some(failure) = spin(sched, 400) {
            panic!("{failure}");
        }
    }
}

/// `pct` demotes a task that yields `p ≤ 64` times in a row with others
/// ready below every other task (those lowered by change points too), so at
/// most 65 polls per setter poll (≈ 260) do. Seed 4 used to livelock here:
/// a demoted spinner still outranked a task lowered by a change point.
#[test]
fn a_spinning_task_cannot_starve_a_ready_one_under_pct() {
    if let Some(failure) = spin(Sched::Pct(3), 400) {
        panic!("{failure}");
    }
}
