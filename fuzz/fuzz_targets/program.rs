//! Generated task programs under fuzzed schedules, checked against detsim's semantics;
//! a crash is a runtime bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| detsim_fuzz_logic::program::check(data));
