//! Property 3: aborted tasks are dropped, never polled again, and their drop runs before their join completes.

use detsim_properties::{check, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn aborted_tasks_are_dropped(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, |p, _, run| check::aborts(p, run))?;
    }
}
