//! The fuzz targets' corpora, replayed on stable through the targets' own logic: every
//! file of `fuzz/corpus/<target>/` runs here as it runs under libFuzzer, so CI
//! exercises the fuzz code without cargo-fuzz or nightly features.

use std::future::Future;
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

/// What a corpus input must do: pass, or fail with a message that contains this text.
/// Either way it must run the same way twice (the fuzz runs check determinism).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Passes,
    FailsWith(&'static str),
}

/// Looks up `path`'s expectation in `table`; a corpus file missing from the table is an
/// error, so a new input states what it does.
fn expected(table: &[(&str, Expect)], path: &std::path::Path) -> Expect {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    table
        .iter()
        .find(|(file, _)| *file == name)
        .map(|&(_, expect)| expect)
        .unwrap_or_else(|| panic!("{}: add it to the test's table", path.display()))
}

/// Runs `data` twice (the determinism check) and checks the expectation; a failure must
/// also replay identically from its token.
fn check_input(
    path: &std::path::Path,
    expect: Expect,
    body: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Sync,
    data: &[u8],
) {
    let outcome = detsim::fuzz::Fuzzer::new()
        .check_determinism(true)
        .run(data, &body);
    match (expect, outcome) {
        (Expect::Passes, Ok(())) => {}
        (Expect::FailsWith(says), Err(failure)) => {
            assert!(
                failure.message.contains(says),
                "{}: {failure}",
                path.display()
            );
            assert!(failure.replays(), "{}: {failure}", path.display());
            let replayed = Builder::new()
                .replay(&failure.token(), &body)
                .expect_err("the token replays the failure");
            assert_eq!(replayed.message, failure.message, "{}", path.display());
            assert_eq!(replayed.trace(), failure.trace(), "{}", path.display());
        }
        (expect, outcome) => panic!(
            "{}: expected {expect:?}, got {:?}",
            path.display(),
            outcome.map_err(|f| f.message)
        ),
    }
}

const BANK_BUG: &str = "money appeared or vanished";

#[test]
fn each_schedule_corpus_input_does_what_it_is_pinned_to() {
    let table = [
        // tests/crashes/schedule: the first crash `cargo fuzz run schedule` found.
        ("crash-lost-update", Expect::FailsWith(BANK_BUG)),
        ("fifo", Expect::Passes),
        ("fifo-empty", Expect::Passes),
        ("late-customer", Expect::Passes),
        ("mixed", Expect::Passes),
        ("newest-first", Expect::Passes),
    ];
    // Crash inputs live beside this test, not in the corpus: libFuzzer stops at a
    // corpus input that crashes.
    let crashes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/crashes/schedule");
    let crash_files = std::fs::read_dir(&crashes)
        .unwrap_or_else(|e| panic!("reading {}: {e}", crashes.display()))
        .map(|entry| {
            let path = entry.expect("a crash file").path();
            let data = std::fs::read(&path).expect("a crash file");
            (path, data)
        });
    for (path, data) in corpus("schedule").into_iter().chain(crash_files) {
        let body = || Box::pin(bank::one_day()) as std::pin::Pin<Box<dyn Future<Output = ()>>>;
        check_input(&path, expected(&table, &path), body, &data);
    }
}

#[test]
fn each_lease_corpus_input_does_what_it_is_pinned_to() {
    let table = [
        ("alternating", Expect::Passes),
        ("fifo", Expect::Passes),
        ("newest-first", Expect::Passes),
    ];
    for (path, data) in corpus("lease") {
        let body = || Box::pin(lease::failover()) as std::pin::Pin<Box<dyn Future<Output = ()>>>;
        check_input(&path, expected(&table, &path), body, &data);
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
const CRASH_TOKEN: &str = "ds3.AAABAQEDq56umpvvoIPKAdHg0Ob3qaOn0QG6wLbnnNjvtEKN81SQ";

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
const LEASE_TOKEN: &str = "ds3.AAAhAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAEAAQABAAVU3Qk";

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

/// Each `program` input holds the runtime's semantics (checked by the target's logic,
/// which runs it twice) and ends as pinned here: passes, or fails with the one panic
/// nobody read (the root's own, or a detached task's).
#[test]
fn each_program_corpus_input_holds_the_semantics_and_ends_as_pinned() {
    let table: [(&str, Option<&str>); 7] = [
        ("abort-detach-join", None),
        ("abort-sleepers", None),
        ("detached-panics", Some("task 0 panics")),
        ("joined-panics", Some("task 0 panics")),
        ("many-spawns", Some("task 0 panics")),
        ("root-panics", Some("task 0 panics")),
        ("sleep-random", Some("task 12 panics")),
    ];
    for (path, data) in corpus("program") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(&(_, expect)) = table.iter().find(|(file, _)| *file == name) else {
            panic!("{}: add it to the test's table", path.display());
        };
        match program::run(&data) {
            Err(violation) => panic!("{}:\n{violation}", path.display()),
            Ok(ended) => match (expect, &ended) {
                (None, None) => {}
                (Some(says), Some(failure)) if failure.contains(says) => {}
                _ => panic!("{}: expected {expect:?}, ended {ended:?}", path.display()),
            },
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
