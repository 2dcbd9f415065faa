//! Fuzzer bytes drive the schedule and random values of the bank demo; a crash is the
//! lost-update bug, reported with a `DETSIM_REPLAY` token.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| detsim_fuzz_logic::schedule::check(data));
