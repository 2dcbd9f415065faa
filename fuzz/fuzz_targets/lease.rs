//! Fuzzer bytes drive the schedule of the lease failover; a crash is the split brain
//! that a random seed sweep essentially never reaches.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| detsim_fuzz_logic::schedule::check_lease(data));
