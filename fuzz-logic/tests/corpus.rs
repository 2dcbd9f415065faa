//! The fuzz targets' corpora, replayed on stable through the targets' own logic: every
//! file of `fuzz/corpus/<target>/` runs here as it runs under libFuzzer, so CI
//! exercises the fuzz code without cargo-fuzz or nightly features.

use std::path::PathBuf;

use detsim::Schedule;
use detsim::fuzz::{FuzzFailure, ScriptedRng};
use detsim_fuzz_logic::{bank, program, schedule};
use detsim_runtime::{Replay, Runtime};

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

/// Replays a fuzz failure's token through the runtime: the decisions with the `Replay`
/// chooser, the random words with a `ScriptedRng`.
fn replay(token: &str) -> Result<(), detsim::RunError> {
    let schedule = Schedule::parse(token).expect("a fuzz failure's token parses");
    let mut rt = Runtime::with_chooser(schedule.seed, Box::new(Replay::new(schedule.decisions)));
    rt.set_user_rng(Box::new(ScriptedRng::new(
        schedule.user_words.into_iter(),
        schedule.seed,
    )));
    rt.run(bank::one_day())
}

fn assert_is_the_bank_bug(failure: &FuzzFailure) {
    assert!(
        failure.message.contains("money appeared or vanished"),
        "{failure}"
    );
    assert!(failure.replays(), "{failure}");
    let replayed = replay(&failure.token()).expect_err("the token replays the failure");
    assert_eq!(replayed.message(), failure.message);
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
    let report = detsim_runtime::payload_str(panicked.as_ref()).unwrap_or_default();
    assert!(
        report.contains(&format!("DETSIM_REPLAY={CRASH_TOKEN}")),
        "{report}"
    );
}

/// The crash's token, as the fuzzer printed it.
const CRASH_TOKEN: &str = "ds1.AAABAQEDq56umpvvoIPKAdHg0Ob3qaOn0QG6wLbnnNjvtEIlBA";

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
