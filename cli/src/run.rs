//! `cargo detsim run`: N shard processes of `cargo test` on this machine, then the
//! merge of their records.
//!
//! The tests are built once (`cargo test --no-run`) before the shards start, so the
//! shards only run them. At most as many shards run at once as the machine has cores,
//! and each sweep gets `cores / shards at once` threads (`DETSIM_JOBS`, unless set).
//! With `--for`, rounds follow each other until the time is up, each from a fresh
//! random start that all its shards share, so that a round covers one range exactly.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// What `run` was asked.
#[derive(Debug)]
pub(crate) struct Args {
    shards: u64,
    seeds: Option<u64>,
    duration: Option<Duration>,
    results: Option<PathBuf>,
    junit: Option<PathBuf>,
    /// `cargo test`'s arguments, and after a `--` of their own, the test binaries'.
    cargo_args: Vec<OsString>,
}

impl Args {
    pub(crate) fn parse(parser: &mut lexopt::Parser) -> Result<Args, String> {
        let mut shards = None;
        let mut args = Args {
            shards: 0,
            seeds: None,
            duration: None,
            results: None,
            junit: None,
            cargo_args: Vec::new(),
        };
        let text = |parser: &mut lexopt::Parser, what: &str| -> Result<String, String> {
            parser
                .value()
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|v| format!("{what}: not text: {}", v.to_string_lossy()))
        };
        let count = |value: String, what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{what} `{value}`: expected a positive whole number"))
        };
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                lexopt::Arg::Long("shards") => {
                    shards = Some(count(text(parser, "--shards")?, "--shards")?)
                }
                lexopt::Arg::Long("seeds") => {
                    args.seeds = Some(count(text(parser, "--seeds")?, "--seeds")?)
                }
                lexopt::Arg::Long("for") => {
                    let value = text(parser, "--for")?;
                    let duration = humantime::parse_duration(&value).map_err(|e| {
                        format!("--for `{value}`: {e} (expected a duration such as 90s, 30m or 8h)")
                    })?;
                    args.duration = Some(duration);
                }
                lexopt::Arg::Long("results") => {
                    args.results = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
                }
                lexopt::Arg::Long("junit") => {
                    args.junit = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
                }
                lexopt::Arg::Value(value) => {
                    return Err(format!(
                        "run: unexpected argument `{}` (cargo test's arguments go after `--`)",
                        value.to_string_lossy()
                    ));
                }
                lexopt::Arg::Short(c) => return Err(format!("run: unknown option -{c}")),
                lexopt::Arg::Long(name) => return Err(format!("run: unknown option --{name}")),
            }
            if parser_at_rest(parser) {
                break;
            }
        }
        args.cargo_args = parser.raw_args().map_err(|e| e.to_string())?.collect();
        args.shards = shards.ok_or("run: --shards N is required")?;
        Ok(args)
    }
}

/// Whether the parser stopped at `--` (what follows is cargo's).
fn parser_at_rest(parser: &mut lexopt::Parser) -> bool {
    parser
        .try_raw_args()
        .is_some_and(|raw| raw.peek().is_some_and(|a| a == "--"))
}

pub(crate) fn command(args: Args) -> Result<ExitCode, String> {
    let mut cargo_args = args.cargo_args.clone();
    if cargo_args.first().is_some_and(|a| a == "--") {
        cargo_args.remove(0);
    }
    let (build_args, test_args) = match cargo_args.iter().position(|a| a == "--") {
        Some(i) => (cargo_args[..i].to_vec(), cargo_args[i + 1..].to_vec()),
        None => (cargo_args, Vec::new()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    eprintln!("cargo-detsim: building the tests");
    let built = Command::new(&cargo)
        .args(["test", "--no-run"])
        .args(&build_args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if !built.success() {
        return Err(format!("`cargo test --no-run` failed ({built})"));
    }

    let results = match &args.results {
        Some(dir) => dir.clone(),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from);
            let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
                .to_string()
                .chars()
                .filter(|c| *c != '-' && *c != ':')
                .collect();
            target.join("detsim-results").join(stamp)
        }
    };
    std::fs::create_dir_all(results.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let results = std::path::absolute(&results).map_err(|e| e.to_string())?;
    eprintln!("cargo-detsim: results go to {}", results.display());

    let cores = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let at_once = args.shards.min(cores);
    let jobs = std::env::var_os("DETSIM_JOBS")
        .is_none()
        .then(|| (cores / at_once).max(1));
    let shard_run = ShardRun {
        cargo: &cargo,
        build_args: &build_args,
        test_args: &test_args,
        shards: args.shards,
        seeds: args.seeds,
        jobs,
        results: &results,
    };

    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut failed_shards = Vec::new();
    for round in 1.. {
        let start = deadline.map(|_| random_start());
        if let Some(start) = start {
            eprintln!(
                "cargo-detsim: round {round}: {} shards from seed {start:#x}",
                args.shards
            );
        }
        let statuses = shard_run.round(round, start, at_once)?;
        for (shard, status, log) in statuses {
            if !status.success() {
                failed_shards.push((round, shard, status, log));
            }
        }
        let Some(deadline) = deadline else { break };
        let merged = crate::merge::merge(
            crate::record::read_dirs(std::slice::from_ref(&results)).map_err(|e| e.to_string())?,
        );
        let left = deadline.saturating_duration_since(Instant::now());
        eprintln!(
            "cargo-detsim: after round {round}: {}; {} left",
            merged.summary(),
            humantime::format_duration(Duration::from_secs(left.as_secs()))
        );
        if left.is_zero() {
            break;
        }
    }

    for (round, shard, status, log) in &failed_shards {
        eprintln!(
            "cargo-detsim: round {round}, shard {shard}/{} exited with {status}; its output: {}",
            args.shards,
            log.display()
        );
    }
    let code = crate::merge_and_report(std::slice::from_ref(&results), args.junit.as_deref())?;
    if !failed_shards.is_empty() && code != ExitCode::from(1) {
        eprintln!("cargo-detsim: shards failed but recorded no failure: see their output");
        return Ok(ExitCode::from(2));
    }
    Ok(code)
}

/// 64 bits of the operating system's randomness, below 2^56 so that a round of any
/// plausible size fits below `u64::MAX`.
fn random_start() -> u64 {
    getrandom::u64().map_or(0, |r| r >> 8)
}

/// How to run one shard process.
struct ShardRun<'a> {
    cargo: &'a OsString,
    build_args: &'a [OsString],
    test_args: &'a [OsString],
    shards: u64,
    seeds: Option<u64>,
    jobs: Option<u64>,
    results: &'a Path,
}

impl ShardRun<'_> {
    /// Runs every shard of a round, `at_once` at a time; each shard's status and log.
    fn round(
        &self,
        round: u64,
        start: Option<u64>,
        at_once: u64,
    ) -> Result<Vec<(u64, ExitStatus, PathBuf)>, String> {
        let next = AtomicU64::new(0);
        let done = Mutex::new(Vec::new());
        let errors = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..at_once {
                scope.spawn(|| {
                    loop {
                        let shard = next.fetch_add(1, Ordering::Relaxed);
                        if shard >= self.shards {
                            return;
                        }
                        match self.shard(round, shard, start) {
                            Ok(outcome) => done.lock().unwrap().push(outcome),
                            Err(error) => errors.lock().unwrap().push(error),
                        }
                    }
                });
            }
        });
        if let Some(error) = errors.into_inner().unwrap().pop() {
            return Err(error);
        }
        let mut done = done.into_inner().unwrap();
        done.sort_by_key(|(shard, _, _)| *shard);
        Ok(done)
    }

    fn shard(
        &self,
        round: u64,
        shard: u64,
        start: Option<u64>,
    ) -> Result<(u64, ExitStatus, PathBuf), String> {
        let log = self.results.join("logs").join(format!(
            "round-{round}-shard-{shard}-of-{}.log",
            self.shards
        ));
        let file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let errors = file.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(self.cargo);
        command
            .args(["test", "--no-fail-fast"])
            .args(self.build_args)
            .arg("--")
            .args(self.test_args)
            .env("DETSIM_SHARD", format!("{shard}/{}", self.shards))
            .env("DETSIM_RESULTS", self.results)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(errors);
        if let Some(seeds) = self.seeds {
            command.env("DETSIM_SEEDS", seeds.to_string());
        }
        if let Some(start) = start {
            command.env("DETSIM_SEED_START", format!("{start:#x}"));
        }
        if let Some(jobs) = self.jobs {
            command.env("DETSIM_JOBS", jobs.to_string());
        }
        let status = command
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.cargo.to_string_lossy()))?;
        Ok((shard, status, log))
    }
}
