//! Polls never nest, ids are consistent, every future is dropped exactly once.

use detsim_properties::{check, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn runs_are_well_formed(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, |p, _, run| check::well_formed(p, run))?;
    }
}
