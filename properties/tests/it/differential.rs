//! Property 7: differential: under `fifo`, the order in which detsim polls (and drops)
//! tasks, with the virtual time of each poll, is exactly what the reference
//! model of asyncio's loop predicts.

use detsim_properties::{Sched, check, interp, strategy};
use proptest::prelude::*;

use crate::support::explain;

proptest! {
    #[test]
    fn fifo_is_asyncio_order(program in strategy::program(), seed in any::<u64>()) {
        // `fifo` draws no randomness for the schedule; the seed only feeds
        // `detsim::random`, which must not change the order either.
        let run = interp::run(&program, Sched::Fifo, seed);
        check::matches_model(&program, &run)
            .map_err(|v| TestCaseError::fail(explain(Sched::Fifo, &run, &v)))?;
    }
}
