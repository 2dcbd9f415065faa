//! Property 4: no sleeper wakes before (or after) its deadline; timers fire in deadline order, ties in arming order under fifo.

use detsim_properties::{check, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn sleepers_wake_at_their_deadline(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, check::timers)?;
    }
}
