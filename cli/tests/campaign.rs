//! `cargo-detsim merge` on the records of real shard processes: this test binary also
//! holds the planted-bug crate's tests (`planted`, included from `cli/fixture`), and
//! runs itself again as the shard processes (filtered to those tests), so no nested
//! cargo build is needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../fixture/tests/planted.rs"]
mod planted;

const PLANTED: [&str; 2] = ["planted::passes", "planted::fails_two_ways"];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-detsim-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the planted tests as one shard process with `vars` as its only `DETSIM_*`
/// variables (besides `DETSIM_RESULTS=dir`); whether it passed.
fn shard(dir: &Path, tests: &[&str], vars: &[(&str, &str)]) -> bool {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--include-ignored", "--exact", "--test-threads=1"])
        .args(tests);
    for (var, _) in std::env::vars().filter(|(var, _)| var.starts_with("DETSIM_")) {
        command.env_remove(var);
    }
    command
        .env("DETSIM_RESULTS", dir)
        .env("DETSIM_JOBS", "1")
        .envs(vars.iter().copied())
        .env("RUST_BACKTRACE", "0");
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("running {} test", tests.len())),
        "{text}"
    );
    output.status.success()
}

fn cargo_detsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-detsim"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The "done when": 4 shards of 100 seeds of a passing sweep and one that
/// fails two distinct ways, merged: 800 seeds, no gaps or overlaps, both failures
/// with their lowest seed and its replay command, exit status 1, a JUnit file naming
/// both tests. `cargo detsim merge` (with cargo's extra `detsim` argument) says the same.
#[test]
fn four_shards_merge_into_one_report() {
    let dir = temp_dir("four");
    for i in 0..4 {
        let shard_var = format!("{i}/4");
        let passed = shard(
            &dir,
            &PLANTED,
            &[("DETSIM_SHARD", &shard_var), ("DETSIM_SEEDS", "100")],
        );
        assert!(!passed, "the planted bug fails every shard");
    }
    let junit = dir.join("junit.xml");
    let output = cargo_detsim(&[
        "merge",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(
        text.lines().last().unwrap(),
        "800 seeds of 2 tests in 8 records; 2 distinct failures",
        "{text}"
    );
    assert_eq!(
        text.matches("0x0..0x190: 400 seed runs in 4 records: no gaps, no overlaps")
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("b ran before a started") && text.contains("b ran between a's two steps"),
        "{text}"
    );
    assert_eq!(text.matches("DETSIM_REPLAY=ds").count(), 2, "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testcase name=\"planted::passes\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"planted::fails_two_ways\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"2 distinct failures in 400 seed runs\""),
        "{xml}"
    );
    assert!(xml.contains("b ran between a&apos;s two steps"), "{xml}");

    let as_cargo_subcommand = cargo_detsim(&["detsim", "merge", dir.to_str().unwrap()]);
    assert_eq!(stdout(&as_cargo_subcommand), text);
    assert_eq!(as_cargo_subcommand.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A shard run twice is an overlap, a shard never run and a shard stopped at its first
/// failure leave gaps: the merge names them.
#[test]
fn names_gaps_and_overlaps() {
    let dir = temp_dir("gaps");
    let test = ["planted::fails_two_ways"];
    shard(
        &dir,
        &test,
        &[("DETSIM_SHARD", "0/4"), ("DETSIM_SEEDS", "10")],
    );
    shard(
        &dir,
        &test,
        &[("DETSIM_SHARD", "0/4"), ("DETSIM_SEEDS", "10")],
    );
    shard(
        &dir,
        &test,
        &[("DETSIM_SHARD", "1/4"), ("DETSIM_SEEDS", "10")],
    );
    shard(
        &dir,
        &test,
        &[
            ("DETSIM_SHARD", "3/4"),
            ("DETSIM_SEEDS", "10"),
            ("DETSIM_STOP_AT_FIRST", "1"),
        ],
    );
    let output = cargo_detsim(&["merge", dir.to_str().unwrap()]);
    let text = stdout(&output);
    assert!(text.contains("gaps: "), "{text}");
    assert!(text.contains("every 4th of 0x2..=0x26"), "{text}");
    assert!(
        text.contains("overlaps: 10 seeds: every 4th of 0x0..=0x24"),
        "{text}"
    );
    assert!(text.contains("stopped at their first failure"), "{text}");
    assert_eq!(output.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A merge that finds no failure exits 0; bad arguments exit 2 with the usage.
#[test]
fn exit_status_and_usage() {
    let dir = temp_dir("pass");
    shard(&dir, &["planted::passes"], &[("DETSIM_SEEDS", "20")]);
    let output = cargo_detsim(&["merge", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("20 seeds of 1 tests in 1 records; 0 distinct failures\n"));
    let bad = cargo_detsim(&["merge"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("usage:"));
    let bad = cargo_detsim(&["run", "--shards", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
