//! Property 1: lazy start: every task's first poll comes after the end of the poll of its creator that spawned it.

use detsim_properties::{check, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn tasks_start_lazily(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, |p, _, run| check::lazy_start(p, run))?;
    }
}
