//! Result records: with `DETSIM_RESULTS=<dir>`, every sweep of the process appends one
//! JSON record (one line) to a file in that directory, for `cargo detsim merge` to
//! put together with the records of other shards, processes and machines.
//!
//! Invariants:
//! - concurrent writers never clash: each process writes its own file, named by host,
//!   process id and the time of its first record
//!   (`detsim-<host>-<pid>-<YYYYMMDDTHHMMSSZ>.jsonl`), and the threads of one process
//!   append whole lines under one lock;
//! - the format is versioned ([`FORMAT`], [`VERSION`]); a reader refuses a version it
//!   does not know rather than misread it. The README documents every field.
//!
//! Nothing here runs inside a simulation: a record is written after its sweep, with
//! the real clock and the real host name.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use serde::Serialize;

use crate::artifacts::{INLINE_TOKEN_MAX, test_name, token_file};
use crate::report::{Failure, FailureKind};
use crate::seed_range::SeedRange;
use crate::settings::Settings;
use crate::shrink::Signature;

/// The `format` field of every record.
pub(crate) const FORMAT: &str = "detsim-results";
/// The `version` field: bumped when a field changes meaning or goes away (a new field
/// does not bump it; readers ignore fields they do not know).
pub(crate) const VERSION: u32 = 1;

/// One sweep of one test.
#[derive(Debug, Serialize)]
pub(crate) struct Record {
    pub(crate) format: &'static str,
    pub(crate) version: u32,
    /// The test's name (libtest's), else the binary's.
    pub(crate) test: String,
    /// The executable's file name.
    pub(crate) binary: String,
    /// The commit under test, when known.
    pub(crate) commit: Option<String>,
    pub(crate) host: String,
    pub(crate) pid: u32,
    /// When the sweep started, RFC 3339 in UTC.
    pub(crate) started: String,
    pub(crate) elapsed_secs: f64,
    pub(crate) seeds: Seeds,
    /// Seeds run under each strategy (`random`, `pct:3`, …; a portfolio sweep spreads
    /// its seeds over several).
    pub(crate) runs_per_scheduler: BTreeMap<String, u64>,
    /// `none`, `swarm`, `explicit`, or `default` (swarm for a body that creates a
    /// cluster node, none otherwise).
    pub(crate) faults: &'static str,
    /// Whether the sweep stopped at its first failure (so `seeds.count` ends there).
    pub(crate) stopped_at_first: bool,
    /// Every failing seed of the covered seeds, lowest first.
    pub(crate) failures: Vec<FailureRecord>,
}

/// The seeds a record covers: `start + offset + k·stride` for `k` in `0..count`.
#[derive(Debug, Serialize)]
pub(crate) struct Seeds {
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) stride: u64,
    pub(crate) offset: u64,
    /// Whether `start` was drawn at random (`DETSIM_SEED_START=random`).
    pub(crate) start_random: bool,
}

impl Seeds {
    /// The first `count` seeds of `range`.
    pub(crate) fn of(range: &SeedRange, count: u64, start_random: bool) -> Seeds {
        Seeds {
            start: range.start,
            count,
            stride: range.stride,
            offset: range.offset,
            start_random,
        }
    }
}

/// One failing seed.
#[derive(Debug, Serialize)]
pub(crate) struct FailureRecord {
    pub(crate) seed: u64,
    /// The strategy that ran the seed.
    pub(crate) scheduler: String,
    pub(crate) kind: &'static str,
    /// The first line of the failure's message.
    pub(crate) message: String,
    /// What makes two failures the same failure: the whole message and the panic's
    /// location (the shrinker's notion of "fails the same way").
    pub(crate) signature: SignatureRecord,
    /// A command that reruns this failure.
    pub(crate) replay: String,
    /// The replay token (for the sweep's reported failure: the shrunk one), when short
    /// enough to print; else `token_file` names the file that holds it.
    pub(crate) token: Option<String>,
    pub(crate) token_file: Option<String>,
}

/// A [`Signature`] in a record.
#[derive(Debug, Serialize)]
pub(crate) struct SignatureRecord {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

impl From<&Signature> for SignatureRecord {
    fn from(signature: &Signature) -> Self {
        SignatureRecord {
            message: signature.message.clone(),
            location: signature.location.clone(),
        }
    }
}

/// Appends the record of a sweep of `plan` that covered the first `covered` seeds of
/// its range and found `failures` (the first one the sweep's reported failure, shrunk;
/// the others as one more run of their seed showed them); returns the file's path.
pub(crate) fn write(
    dir: &Path,
    plan: &Settings,
    covered: u64,
    failures: &[&Failure],
    (started, started_at): (std::time::Instant, SystemTime),
) -> std::io::Result<PathBuf> {
    let origin = Origin::this_process();
    let mut runs: Vec<(crate::scheduler::Scheduler, u64)> = Vec::new();
    for k in 0..covered {
        let scheduler = plan.scheduler.for_seed(plan.range.seed(k));
        match runs.iter_mut().find(|(s, _)| *s == scheduler) {
            Some((_, n)) => *n += 1,
            None => runs.push((scheduler, 1)),
        }
    }
    let test = test_name();
    let record = Record {
        format: FORMAT,
        version: VERSION,
        test: test.clone().unwrap_or_else(|| origin.binary.clone()),
        binary: origin.binary,
        commit: commit(plan.commit.as_deref()),
        host: origin.host,
        pid: origin.pid,
        started: timestamp(started_at),
        elapsed_secs: started.elapsed().as_secs_f64(),
        seeds: Seeds::of(&plan.range, covered, plan.start_random),
        runs_per_scheduler: runs.into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
        faults: faults_name(plan.faults),
        stopped_at_first: !plan.keep_going && covered < plan.range.count,
        failures: failures
            .iter()
            .map(|f| FailureRecord::of(f, test.as_deref()))
            .collect(),
    };
    append(dir, &record)
}

/// Distinct failures among `failures`, by signature.
pub(crate) fn distinct(failures: &[&Failure]) -> usize {
    let mut signatures: Vec<Signature> = failures.iter().map(|f| signature(f)).collect();
    signatures.sort_by(|a, b| (&a.message, &a.location).cmp(&(&b.message, &b.location)));
    signatures.dedup();
    signatures.len()
}

/// A failure's signature: its whole message and its location, as the shrinker
/// compares runs.
fn signature(failure: &Failure) -> Signature {
    Signature {
        message: failure.message.clone(),
        location: failure.location.clone(),
    }
}

impl FailureRecord {
    fn of(failure: &Failure, test: Option<&str>) -> FailureRecord {
        let token = failure.replay_token();
        let has_token = failure.kind != FailureKind::Nondeterminism;
        let file = token_file(test, failure.seed);
        let (token, token_file) = match (has_token, token.len() <= INLINE_TOKEN_MAX) {
            (false, _) => (None, None),
            (true, true) => (Some(token), None),
            // A long token is in a file when the report's replay command names it.
            (true, false) => match failure.replay_command.contains("DETSIM_REPLAY=@") {
                true => (None, Some(file.display().to_string())),
                false => (None, None),
            },
        };
        FailureRecord {
            seed: failure.seed,
            scheduler: failure.scheduler.to_string(),
            kind: kind_name(failure.kind),
            message: failure.message.lines().next().unwrap_or("").to_owned(),
            signature: SignatureRecord::from(&signature(failure)),
            replay: failure.replay_command.clone(),
            token,
            token_file,
        }
    }
}

/// A failure kind as records name it.
pub(crate) fn kind_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Panic => "panic",
        FailureKind::Deadlock => "deadlock",
        FailureKind::Livelock => "livelock",
        FailureKind::PollBudget => "poll-budget",
        FailureKind::Nondeterminism => "nondeterminism",
        FailureKind::Liveness => "liveness",
        FailureKind::Linearizability => "linearizability",
    }
}

/// The fault setting as records name it.
pub(crate) fn faults_name(faults: Option<detsim_net::cluster::Faults>) -> &'static str {
    match faults.map(|f| f.to_string()) {
        None => "default",
        Some(name) if name == "none" => "none",
        Some(name) if name == "swarm" => "swarm",
        Some(_) => "explicit",
    }
}

/// What a record says about where and when it was made.
#[derive(Debug)]
pub(crate) struct Origin {
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) binary: String,
}

impl Origin {
    /// This process's host, id and executable.
    pub(crate) fn this_process() -> Origin {
        Origin {
            host: host(),
            pid: std::process::id(),
            binary: std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.file_name()?.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

/// A time as records write it: RFC 3339, UTC, whole seconds.
pub(crate) fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The commit under test: `configured` (from the environment), else `git rev-parse
/// HEAD` in the working directory, asked once per process.
pub(crate) fn commit(configured: Option<&str>) -> Option<String> {
    if let Some(commit) = configured {
        return Some(commit.to_owned());
    }
    static FROM_GIT: OnceLock<Option<String>> = OnceLock::new();
    FROM_GIT
        .get_or_init(|| {
            let output = std::process::Command::new("git")
                .args(["rev-parse", "HEAD"])
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            let hash = String::from_utf8(output.stdout).ok()?.trim().to_owned();
            (output.status.success() && !hash.is_empty()).then_some(hash)
        })
        .clone()
}

/// The file name of a process's records.
fn file_name(host: &str, pid: u32, first_write: SystemTime) -> String {
    let host: String = host
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                true => c,
                false => '_',
            },
        )
        .collect();
    let time: String = timestamp(first_write)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("detsim-{host}-{pid}-{time}.jsonl")
}

/// Appends `record` as one line to this process's file in `dir` (created if needed)
/// and returns the file's path.
pub(crate) fn append(dir: &Path, record: &Record) -> std::io::Result<PathBuf> {
    // One file per process and directory, named at its first record.
    static FILES: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut line = crate::json::to_string(record, 1024);
    line.push('\n');
    let mut files = FILES.lock().unwrap_or_else(|poison| poison.into_inner());
    let path = match files.get(dir) {
        Some(path) => path.clone(),
        None => {
            std::fs::create_dir_all(dir)?;
            let name = file_name(&record.host, record.pid, SystemTime::now());
            let path = std::path::absolute(dir.join(name))?;
            files.insert(dir.to_owned(), path.clone());
            path
        }
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?
        .write_all(line.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(test: &str) -> Record {
        let origin = Origin::this_process();
        Record {
            format: FORMAT,
            version: VERSION,
            test: test.to_owned(),
            binary: origin.binary,
            commit: None,
            host: "ci runner/1".to_owned(),
            pid: origin.pid,
            started: timestamp(SystemTime::UNIX_EPOCH),
            elapsed_secs: 0.5,
            seeds: Seeds {
                start: 8,
                count: 100,
                stride: 4,
                offset: 1,
                start_random: false,
            },
            runs_per_scheduler: BTreeMap::from([("random".to_owned(), 100)]),
            faults: faults_name(None),
            stopped_at_first: false,
            failures: vec![FailureRecord {
                seed: 13,
                scheduler: "random".to_owned(),
                kind: kind_name(FailureKind::Panic),
                message: "boom".to_owned(),
                signature: SignatureRecord {
                    message: "boom\nmore".to_owned(),
                    location: Some("src/lib.rs:3:5".to_owned()),
                },
                replay: "DETSIM_SEED=0xd cargo test".to_owned(),
                token: Some("ds3.x".to_owned()),
                token_file: None,
            }],
        }
    }

    /// Records go to one file per process, one JSON line each, with every documented
    /// field; the file name carries the host (made safe), the process id and the time.
    #[test]
    fn appends_one_line_per_record_to_the_process_file() {
        let dir = std::env::temp_dir().join(format!("detsim-results-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = append(&dir, &record("a::one")).unwrap();
        let second = append(&dir, &record("a::two")).unwrap();
        assert_eq!(first, second);
        let name = first.file_name().unwrap().to_str().unwrap().to_owned();
        let prefix = format!("detsim-ci_runner_1-{}-", std::process::id());
        assert!(
            name.starts_with(&prefix) && name.ends_with("Z.jsonl"),
            "{name}"
        );
        let text = std::fs::read_to_string(&first).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let r = &lines[1];
        assert_eq!(r["format"], "detsim-results");
        assert_eq!(r["version"], 1);
        assert_eq!(r["test"], "a::two");
        assert_eq!(r["started"], "1970-01-01T00:00:00Z");
        assert_eq!(r["seeds"]["stride"], 4);
        assert_eq!(r["seeds"]["offset"], 1);
        assert_eq!(r["runs_per_scheduler"]["random"], 100);
        assert_eq!(r["faults"], "default");
        assert_eq!(r["failures"][0]["seed"], 13);
        assert_eq!(r["failures"][0]["signature"]["location"], "src/lib.rs:3:5");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_faults_and_kinds() {
        use detsim_net::cluster::Faults;
        assert_eq!(faults_name(Some(Faults::none())), "none");
        assert_eq!(faults_name(Some(Faults::swarm())), "swarm");
        assert_eq!(kind_name(FailureKind::PollBudget), "poll-budget");
    }
}
