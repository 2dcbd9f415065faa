//! Campaigns: `DETSIM_SHARD`, `DETSIM_RESULTS`, `DETSIM_STOP_AT_FIRST` and
//! `DETSIM_SEED_START=random`, seen from outside as the env tests see variables: this
//! test binary runs again as a child process with the variables set, filtered to one
//! `#[ignore]`d probe, and the parent reads what it printed and the records it wrote.

use detsim::{Builder, Scheduler, random};

/// [`crate::run_probe`] for probe `name` of this module.
fn run_probe(name: &str, vars: &[(&str, &str)]) -> (bool, String) {
    crate::run_probe(&format!("campaign::{name}"), vars)
}

/// The planted bug: a seed whose first random value is divisible by 3 fails one way,
/// one with remainder 1 another way.
async fn planted() {
    match random::<u64>() % 3 {
        0 => panic!("remainder zero"),
        1 => panic!("remainder one"),
        _ => {}
    }
}

/// Whether `seed` fails, asked of a sweep of that seed alone.
fn fails(seed: u64) -> bool {
    let report = Builder::new()
        .ignore_env()
        .seed(seed)
        .scheduler(Scheduler::fifo())
        .explore(planted);
    !report.passed()
}

/// 20 seeds of the planted bug under fifo; prints what the sweep reports.
#[test]
#[ignore = "a probe run by the campaign tests in a child process"]
fn planted_probe() {
    let report = Builder::new()
        .seeds(20)
        .scheduler(Scheduler::fifo())
        .shrink_budget(0, std::time::Duration::ZERO)
        .explore(planted);
    println!("seeds_run={}", report.seeds_run);
    let failure = report.failure.map(|f| f.seed.to_string());
    println!("failure={}", failure.as_deref().unwrap_or("none"));
}

fn records(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        records.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    records
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("detsim-campaign-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn printed<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    text.lines()
        .find_map(|line| line.split_once(&prefix).map(|(_, value)| value))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
}

/// With `DETSIM_RESULTS`, a shard runs `start + I + k·N` for every `k` (not stopping at
/// its first failure), records every failing seed with its signature, and still fails;
/// the report names the lowest failing seed.
#[test]
fn a_recording_shard_runs_its_stride_and_records_every_failure() {
    let dir = temp_dir("shard");
    let dir_text = dir.display().to_string();
    let (passed, text) = run_probe(
        "planted_probe",
        &[
            ("DETSIM_SHARD", "1/3"),
            ("DETSIM_SEED_START", "100"),
            ("DETSIM_RESULTS", &dir_text),
        ],
    );
    let seeds: Vec<u64> = (0..20).map(|k| 100 + 1 + 3 * k).collect();
    let failing: Vec<u64> = seeds.iter().copied().filter(|&s| fails(s)).collect();
    assert!(failing.len() >= 2, "{failing:?}");
    assert_eq!(printed(&text, "seeds_run"), "20");
    assert_eq!(printed(&text, "failure"), failing[0].to_string());
    // (the probe prints the report instead of panicking, so it passes)
    assert!(passed, "{text}");
    let records = records(&dir);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["test"], "campaign::planted_probe");
    assert_eq!(r["seeds"]["start"], 100);
    assert_eq!(r["seeds"]["stride"], 3);
    assert_eq!(r["seeds"]["offset"], 1);
    assert_eq!(r["seeds"]["count"], 20);
    assert_eq!(r["stopped_at_first"], false);
    assert_eq!(r["runs_per_scheduler"]["fifo"], 20);
    let recorded: Vec<u64> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(recorded, failing);
    for f in r["failures"].as_array().unwrap() {
        let message = f["signature"]["message"].as_str().unwrap();
        assert!(
            message == "remainder zero" || message == "remainder one",
            "{f}"
        );
        assert!(
            f["signature"]["location"]
                .as_str()
                .unwrap()
                .contains("campaign.rs")
        );
        assert_eq!(f["kind"], "panic");
        assert!(f["replay"].as_str().unwrap().contains("DETSIM_"), "{f}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `DETSIM_STOP_AT_FIRST=1` keeps the old behaviour under `DETSIM_RESULTS`: the sweep
/// stops at its first failure, and the record says how far it got.
#[test]
fn stop_at_first_stops_and_says_so() {
    let dir = temp_dir("stop");
    let dir_text = dir.display().to_string();
    let (_, text) = run_probe(
        "planted_probe",
        &[
            ("DETSIM_RESULTS", &dir_text),
            ("DETSIM_STOP_AT_FIRST", "1"),
            ("DETSIM_JOBS", "1"),
        ],
    );
    let first = (0..20).find(|&s| fails(s)).unwrap();
    assert_eq!(printed(&text, "seeds_run"), (first + 1).to_string());
    let records = records(&dir);
    assert_eq!(records[0]["seeds"]["count"], first + 1);
    assert_eq!(records[0]["stopped_at_first"], true);
    assert_eq!(records[0]["failures"].as_array().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `DETSIM_SEED_START=random` draws a start, prints it, and records it as drawn.
#[test]
fn a_random_start_is_printed_and_recorded() {
    let dir = temp_dir("random");
    let dir_text = dir.display().to_string();
    let (_, text) = run_probe(
        "planted_probe",
        &[
            ("DETSIM_RESULTS", &dir_text),
            ("DETSIM_SEED_START", "random"),
        ],
    );
    let line = text
        .lines()
        .find(|l| l.contains("DETSIM_SEED_START=random: this process's sweeps start at seed"))
        .unwrap_or_else(|| panic!("no start printed:\n{text}"));
    let hex = line.rsplit("0x").next().unwrap().trim();
    let start = u64::from_str_radix(hex, 16).unwrap();
    let records = records(&dir);
    assert_eq!(records[0]["seeds"]["start"], start);
    assert_eq!(records[0]["seeds"]["start_random"], true);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A range past `u64::MAX` is an error naming the variables, not a wrapped range.
#[test]
fn a_shard_past_u64_max_is_an_error_naming_the_variables() {
    let (passed, text) = run_probe(
        "planted_probe",
        &[
            ("DETSIM_SEED_START", "0xfffffffffffffff0"),
            ("DETSIM_SEEDS", "5"),
            ("DETSIM_SHARD", "2/4"),
        ],
    );
    assert!(!passed);
    assert!(
        text.contains("DETSIM_SEED_START=0xfffffffffffffff0 DETSIM_SEEDS=5 DETSIM_SHARD=2/4")
            && text.contains("would pass u64::MAX"),
        "{text}"
    );
}
