//! Property 6: every ready task runs: before the clock advances, within n-1 polls under fifo and RANDOM_WAIT_BOUND polls under random.

use detsim_properties::{check, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn ready_tasks_run(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, check::progress)?;
    }
}
