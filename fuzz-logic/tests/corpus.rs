//! The fuzz targets' corpora, replayed on stable through the targets' own logic: every
//! file of `fuzz/corpus/<target>/` runs here as it runs under libFuzzer, so CI
//! exercises the fuzz code without cargo-fuzz or nightly features.

use std::path::PathBuf;

use detsim::fuzz::FuzzFailure;
use detsim::{Builder, Schedule};
use detsim_fuzz_logic::{bank, lease, program, schedule};

/// The files of `fuzz/corpus/<target>`, sorted by name.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let data = std::fs::read(&path).expect("a corpus file");
            (path, data)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "fuzz/corpus/{target} should hold a small seed corpus"
    );
    files
}

fn assert_is_the_bank_bug(failure: &FuzzFailure) {
    assert!(
        failure.message.contains("money appeared or vanished"),
        "{failure}"
    );
    assert!(failure.replays(), "{failure}");
    let replayed = Builder::new()
        .replay(&failure.token(), bank::one_day)
        .expect_err("the token replays the failure");
    assert_eq!(replayed.message, failure.message);
    assert_eq!(replayed.trace(), failure.trace());
}

#[test]
fn schedule_corpus_runs_and_only_finds_the_bank_bug() {
    for (path, data) in corpus("schedule") {
        match schedule::run(&data) {
            Ok(()) => {}
            Err(failure) => {
                println!("{}: the bank bug", path.display());
                assert_is_the_bank_bug(&failure);
            }
        }
    }
}

#[test]
fn lease_corpus_runs_and_only_finds_the_split_brain() {
    for (path, data) in corpus("lease") {
        if let Err(failure) = schedule::run_lease(&data) {
            println!("{}: the split brain", path.display());
            assert!(failure.message.contains("split brain"), "{failure}");
            assert!(failure.replays(), "{failure}");
        }
    }
}

/// The first crash `cargo fuzz run schedule` found (see fuzz/README.md), kept as a
/// regression: its bytes fail, and its token replays the failure without them.
#[test]
fn a_fuzzer_crash_is_a_replay_token() {
    let crash = [0x66, 0x8a, 0xe6, 0x66];
    let failure = schedule::run(&crash).expect_err("the crash input fails");
    assert_is_the_bank_bug(&failure);
    assert_eq!(failure.schedule.deviations(), 1);
    assert_eq!(failure.token(), CRASH_TOKEN);
    let panicked = std::panic::catch_unwind(|| schedule::check(&crash))
        .expect_err("check panics on the crash input");
    let report = panicked
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    // The report names the commands that really replay the crash: this file's
    // `bank_crash` test under DETSIM_REPLAY, and the crashing input under cargo-fuzz.
    assert!(
        report.contains(&format!(
            "DETSIM_REPLAY={CRASH_TOKEN} cargo test -p detsim-fuzz-logic --test corpus \
             bank_crash"
        )),
        "{report}"
    );
    assert!(
        report.contains("cargo fuzz run --sanitizer none schedule fuzz/artifacts/schedule/"),
        "{report}"
    );
}

/// The crash's token, as the fuzzer printed it.
const CRASH_TOKEN: &str = "ds2.AAABAQEDq56umpvvoIPKAdHg0Ob3qaOn0QG6wLbnnNjvtEKN81SQ";

/// What a user does with a token from a fuzzer crash: replay it under `cargo test`.
/// `DETSIM_REPLAY=<token> cargo test -p detsim-fuzz-logic --test corpus bank_crash`
/// replays any other `cargo fuzz run schedule` crash the same way.
#[test]
fn bank_crash_replays_under_cargo_test() {
    let failure = Builder::new()
        .replay(CRASH_TOKEN, bank::one_day)
        .expect_err("the crash's token fails");
    assert!(
        failure.message.contains("money appeared or vanished"),
        "{failure}"
    );
    let schedule = Schedule::parse(CRASH_TOKEN).unwrap();
    assert_eq!(schedule.deviations(), 1);
}

/// The token `cargo fuzz run lease` prints (the same on every run seed we tried: 33
/// consecutive picks of the standby).
const LEASE_TOKEN: &str = "ds2.AAAhAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAVU3Qk";

/// `DETSIM_REPLAY=<token> cargo test -p detsim-fuzz-logic --test corpus lease_crash`.
#[test]
fn lease_crash_replays_under_cargo_test() {
    let failure = Builder::new()
        .replay(LEASE_TOKEN, lease::failover)
        .expect_err("the crash's token fails");
    assert!(failure.message.contains("split brain"), "{failure}");
    assert_eq!(
        Schedule::parse(LEASE_TOKEN).unwrap().decisions,
        vec![1; lease::LEASE_TICKS as usize + 1]
    );
}

#[test]
fn program_corpus_holds_the_runtime_semantics() {
    for (path, data) in corpus("program") {
        if let Err(violation) = program::run(&data) {
            panic!("{}:\n{violation}", path.display());
        }
    }
}

/// A blind exploration on stable: pseudo-random inputs (xorshift, fixed start) through
/// the `program` target's logic. `DETSIM_FUZZ_INPUTS` makes it a soak run.
#[test]
fn pseudo_random_programs_hold_the_runtime_semantics() {
    let inputs: u64 = std::env::var("DETSIM_FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..inputs {
        let data: Vec<u8> = (0..i % 320)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if let Err(violation) = program::run(&data) {
            panic!("pseudo-random input {i} ({data:?}):\n{violation}");
        }
    }
}
