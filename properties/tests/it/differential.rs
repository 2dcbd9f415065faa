//! Property 7: differential: under `fifo`, the order in which detsim polls (and drops)
//! tasks, with the virtual time of each poll, is exactly what the reference
//! model of asyncio's loop predicts.

use detsim_properties::model::{self, WakeOrder};
use detsim_properties::{Link, Program, RawStep, Sched, TaskSpec, check, interp, strategy};
use proptest::prelude::*;

use crate::support::explain;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn fifo_is_asyncio_order(program in strategy::program(), seed in any::<u64>()) {
        // `fifo` draws no randomness for the schedule; the seed only feeds
        // `detsim::random`, which must not change the order either.
        let run = interp::run(&program, Sched::Fifo, seed);
        check::matches_model(&program, &run)
            .map_err(|v| TestCaseError::fail(explain(Sched::Fifo, &run, &v)))?;
    }
}

/// The smallest program that tells asyncio's order from one that queues a
/// poll's spawns before its wakes: n1 sends to its parked child n2, then
/// spawns n3. asyncio runs n2 (woken first) before n3. detsim ran n3 first
/// until spawns were queued with wakes; this pins the fix.
#[test]
fn wake_then_spawn() {
    let n2 = TaskSpec {
        value: 0,
        steps: vec![RawStep::RecvParent],
    };
    let n1 = TaskSpec {
        value: 0,
        steps: vec![
            RawStep::Spawn(n2, Link::ToChild),
            RawStep::Yield,
            RawStep::SendChild(0),
            RawStep::Spawn(TaskSpec::default(), Link::None),
        ],
    };
    let root = TaskSpec {
        value: 0,
        steps: vec![RawStep::Spawn(n1, Link::None)],
    };
    let program = Program::new(&root, false);
    assert_ne!(
        model::predict_with(&program, WakeOrder::InOrder).steps,
        model::predict_with(&program, WakeOrder::SpawnsFirst).steps
    );
    let run = interp::run(&program, Sched::Fifo, 0);
    check::matches_model_with(&program, &run, WakeOrder::InOrder).unwrap();
    assert!(check::matches_model_with(&program, &run, WakeOrder::SpawnsFirst).is_err());
}
