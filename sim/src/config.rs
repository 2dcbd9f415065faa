//! The one place that reads `DETSIM_*` environment variables.
//!
//! An environment variable overrides what the code set; a malformed value is a panic
//! that names the variable, the value and the expected form, because a sweep that
//! silently ignored `DETSIM_SEED=0xzz` would test something else than the user asked.

use detsim_grammar::{SCHEDULER_FORM, SEED_FORM, parse_seed};

use crate::scheduler::Scheduler;
use crate::seed_range::{SHARD_FORM, Shard};

/// Settings read from the environment; `None` where the variable is unset or empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Env {
    pub(crate) seed: Option<u64>,
    pub(crate) seeds: Option<u64>,
    pub(crate) seed_start: Option<u64>,
    /// Whether `seed_start` was drawn at random (`DETSIM_SEED_START=random`).
    pub(crate) seed_start_random: bool,
    pub(crate) scheduler: Option<Scheduler>,
    pub(crate) jobs: Option<usize>,
    pub(crate) replay: Option<String>,
    pub(crate) max_steps: Option<u64>,
    pub(crate) check_determinism: Option<bool>,
    /// `DETSIM_TRACE`: where to write the trace file of the run asked for.
    pub(crate) trace: Option<std::path::PathBuf>,
    pub(crate) exhaustive: Option<ExhaustiveSetting>,
    pub(crate) faults: Option<detsim_net::cluster::Faults>,
    /// `DETSIM_SHARD=I/N`: sweep only shard `I` of `N` of the seeds.
    pub(crate) shard: Option<Shard>,
    /// `DETSIM_RESULTS`: the directory every sweep appends its result record to.
    pub(crate) results: Option<std::path::PathBuf>,
    /// `DETSIM_STOP_AT_FIRST=1`: stop at the first failure even when recording results.
    pub(crate) stop_at_first: Option<bool>,
    /// The commit under test, for result records: `DETSIM_COMMIT`, else CI's own
    /// variable (`GITHUB_SHA`, `CI_COMMIT_SHA`).
    pub(crate) commit: Option<String>,
    /// `DETSIM_VERIFY`: whether (and within what time) a reported failure is replayed in
    /// a fresh process.
    pub(crate) verify: Option<VerifySetting>,
    /// Set in the child process of that check (see [`crate::verify`]).
    pub(crate) verify_child: Option<VerifyChild>,
    /// `DETSIM_SOMETIMES`: whether a `sometimes!` that never held fails the sweep.
    pub(crate) sometimes: Option<Unreached>,
    /// `DETSIM_ALLOW_THREADS=1`: runs may start OS threads.
    pub(crate) allow_threads: Option<bool>,
    /// `DETSIM_WATCHDOG=<seconds>|off`: the wall-clock limit of one poll (`Some(None)`:
    /// off).
    pub(crate) watchdog: Option<Option<std::time::Duration>>,
}

/// What a sweep does when a `sometimes!` or `reachable!` never held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Unreached {
    /// `fail`: the sweep fails with `never reached in N seeds: <name>`.
    #[default]
    Fail,
    /// `warn`: the sweep passes and prints the message on stderr.
    Warn,
}

/// `DETSIM_VERIFY`: `off`, `on`, or the time limit of the child process in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifySetting {
    /// `off` (or `0`): no check in a fresh process.
    Off,
    /// `on` (or `1`): the default time limit; a number of seconds: that limit.
    Within(std::time::Duration),
}

/// What the child process of a fresh-process check is asked to do: replay `token` at
/// the `call`-th `Builder::explore` of its test thread, and write what happened to `out`.
/// Read from `DETSIM_VERIFY_CHILD=<call>:<path>` and `DETSIM_VERIFY_TOKEN`, which only
/// detsim sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifyChild {
    pub(crate) call: u64,
    pub(crate) out: std::path::PathBuf,
    pub(crate) token: String,
}

/// The start of every sweep of this process under `DETSIM_SEED_START=random`: 64 bits
/// of the operating system's randomness, drawn once (outside any run: the harness
/// chooses which seeds to run, each seed's run stays deterministic) and printed to
/// stderr so that a campaign's log names it; result records carry it too.
pub(crate) fn random_start() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let start = getrandom::u64().unwrap_or_else(|error| {
            panic!(
                "detsim: environment variable DETSIM_SEED_START=`random`: the operating \
                 system gave no randomness ({error}); set a seed instead, such as 0x2a"
            )
        });
        eprintln!(
            "detsim: DETSIM_SEED_START=random: this process's sweeps start at seed {start:#x}"
        );
        start
    })
}

/// `DETSIM_EXHAUSTIVE`: a bound on deviations, or `off` for a seed sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExhaustiveSetting {
    /// `off`: sweep seeds even where the code asks for exhaustive exploration.
    Off,
    /// `k`: explore every schedule with at most `k` deviations.
    Bound(u32),
}

/// `CARGO_TARGET_DIR`, where the build's files go (see `artifacts::target_dir`).
pub(crate) fn cargo_target_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from)
}

/// `CARGO_PKG_NAME`, the package of the running test (cargo sets it for `cargo test`),
/// for rerun commands.
pub(crate) fn cargo_package() -> Option<String> {
    std::env::var("CARGO_PKG_NAME").ok()
}

/// `DETSIM_SEED` alone, as the facade's `#[tokio::main]` (one simulation) reads it:
/// `None` when unset or empty; a malformed value panics as every `DETSIM_*` does.
pub(crate) fn seed() -> Option<u64> {
    let value = std::env::var("DETSIM_SEED").ok()?;
    (!value.trim().is_empty()).then(|| parse("DETSIM_SEED", &value, parse_seed, SEED_FORM))
}

impl Env {
    /// Reads the process environment.
    pub(crate) fn read() -> Env {
        Env::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Env {
        let vars = Vars(lookup);
        Env {
            seed: vars.parsed("DETSIM_SEED", parse_seed, SEED_FORM),
            seeds: vars.parsed(
                "DETSIM_SEEDS",
                parse_count,
                "a positive whole number of seeds, such as 1000",
            ),
            seed_start: vars.parsed("DETSIM_SEED_START", parse_seed_start, SEED_START_FORM),
            seed_start_random: vars
                .get("DETSIM_SEED_START")
                .is_some_and(|v| v.trim() == "random"),
            scheduler: vars.parsed("DETSIM_SCHEDULER", |s| s.parse().ok(), SCHEDULER_FORM),
            jobs: vars.parsed(
                "DETSIM_JOBS",
                |s| parse_count(s).and_then(|n| usize::try_from(n).ok()),
                "a positive number of threads, such as 2",
            ),
            replay: vars.get("DETSIM_REPLAY").map(|v| read_replay(v.trim())),
            max_steps: vars.parsed(
                "DETSIM_MAX_STEPS",
                parse_count,
                "a positive whole number of polls, such as 50000000",
            ),
            check_determinism: vars.parsed(
                "DETSIM_CHECK_DETERMINISM",
                parse_switch,
                "`1` (on) or `0` (off)",
            ),
            trace: vars
                .get("DETSIM_TRACE")
                .map(|v| std::path::PathBuf::from(v.trim())),
            exhaustive: vars.parsed("DETSIM_EXHAUSTIVE", parse_exhaustive, EXHAUSTIVE_FORM),
            faults: vars.parsed(
                "DETSIM_FAULTS",
                detsim_net::cluster::Faults::parse,
                "`none` or `swarm`",
            ),
            shard: vars.parsed("DETSIM_SHARD", Shard::parse, SHARD_FORM),
            results: vars
                .get("DETSIM_RESULTS")
                .map(|v| std::path::PathBuf::from(v.trim())),
            stop_at_first: vars.parsed(
                "DETSIM_STOP_AT_FIRST",
                parse_switch,
                "`1` (on) or `0` (off)",
            ),
            commit: vars.commit(),
            verify: vars.parsed("DETSIM_VERIFY", parse_verify, VERIFY_FORM),
            verify_child: vars.verify_child(),
            sometimes: vars.parsed("DETSIM_SOMETIMES", parse_sometimes, "`fail` or `warn`"),
            allow_threads: vars.parsed(
                "DETSIM_ALLOW_THREADS",
                parse_switch,
                "`1` (on) or `0` (off)",
            ),
            watchdog: vars.parsed("DETSIM_WATCHDOG", parse_watchdog, WATCHDOG_FORM),
        }
    }

    /// How a range's numbers were set, for the message of a range past `u64::MAX`:
    /// the variables (they override the code), else the builder's calls.
    pub(crate) fn range_origin(
        &self,
        code_start: Option<u64>,
        code_seeds: Option<u64>,
    ) -> crate::seed_range::RangeOrigin {
        let start = match (self.seed_start, self.seed_start_random) {
            (Some(s), true) => Some(format!("DETSIM_SEED_START=random (drew {s:#x})")),
            (Some(s), false) => Some(format!("DETSIM_SEED_START={s:#x}")),
            (None, _) => code_start.map(|s| format!("Builder::seed_start({s:#x})")),
        };
        let count = match self.seeds {
            Some(n) => Some(format!("DETSIM_SEEDS={n}")),
            None => code_seeds.map(|n| format!("Builder::seeds({n})")),
        };
        crate::seed_range::RangeOrigin {
            start,
            count,
            shard: self.shard.map(|s| format!("DETSIM_SHARD={s}")),
        }
    }
}

/// The variables `lookup` finds.
struct Vars<L>(L);

impl<L: Fn(&str) -> Option<String>> Vars<L> {
    /// Variable `name`; `None` where it is unset or empty.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// The commit under test: `DETSIM_COMMIT`, else CI's own variable.
    fn commit(&self) -> Option<String> {
        ["DETSIM_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA"]
            .into_iter()
            .find_map(|name| self.get(name))
            .map(|v| v.trim().to_owned())
    }

    /// `DETSIM_VERIFY_CHILD` and `DETSIM_VERIFY_TOKEN`, in the child of a fresh-process
    /// check.
    fn verify_child(&self) -> Option<VerifyChild> {
        let value = self.get(crate::verify::CHILD_VAR)?;
        let token = self.get(crate::verify::TOKEN_VAR).unwrap_or_default();
        let read = |v: &str| {
            let (call, out) = v.split_once(':')?;
            Some(VerifyChild {
                call: call.parse().ok()?,
                out: out.into(),
                token: read_replay(token.trim()),
            })
        };
        Some(parse(
            crate::verify::CHILD_VAR,
            &value,
            read,
            "<call>:<path> (set by detsim for the child process of a fresh-process check)",
        ))
    }

    /// Variable `name` read by `read`; a value `read` rejects is a panic that names
    /// the variable, the value and the expected `form`.
    fn parsed<T>(&self, name: &str, read: impl Fn(&str) -> Option<T>, form: &str) -> Option<T> {
        self.get(name).map(|v| parse(name, &v, read, form))
    }
}

/// How many trace files `detsim-traces/` keeps, and how big each may be: the oldest
/// files beyond `keep` are removed when a new one is written; a trace longer than
/// `max_bytes` leaves out its first events, and says so in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceLimits {
    /// `DETSIM_TRACE_KEEP` (default [`TraceLimits::DEFAULT_KEEP`]).
    pub(crate) keep: usize,
    /// `DETSIM_TRACE_MAX_MB` in bytes (default [`TraceLimits::DEFAULT_MAX_MB`] MB).
    pub(crate) max_bytes: usize,
}

impl TraceLimits {
    /// Trace files kept in `detsim-traces/` by default.
    pub(crate) const DEFAULT_KEEP: usize = 100;
    /// The largest trace file by default, in MB (10^6 bytes).
    pub(crate) const DEFAULT_MAX_MB: usize = 20;

    /// Reads `DETSIM_TRACE_KEEP` and `DETSIM_TRACE_MAX_MB` from the process environment.
    pub(crate) fn read() -> TraceLimits {
        TraceLimits::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the two variables through `lookup` (tests pass a map).
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> TraceLimits {
        let vars = Vars(lookup);
        let count = |s: &str| parse_count(s).and_then(|n| usize::try_from(n).ok());
        TraceLimits {
            keep: vars
                .parsed(
                    "DETSIM_TRACE_KEEP",
                    count,
                    "a positive number of trace files, such as 100",
                )
                .unwrap_or(TraceLimits::DEFAULT_KEEP),
            max_bytes: vars
                .parsed(
                    "DETSIM_TRACE_MAX_MB",
                    |s| count(s).and_then(|mb| mb.checked_mul(1_000_000)),
                    "a positive number of megabytes, such as 20",
                )
                .unwrap_or(TraceLimits::DEFAULT_MAX_MB * 1_000_000),
        }
    }
}

/// `DETSIM_REPLAY`: a replay token, or `@` and the path of a file that holds one (a
/// report writes a token longer than 1,000 characters to a file and prints that form).
fn read_replay(value: &str) -> String {
    let Some(path) = value.strip_prefix('@') else {
        return value.to_owned();
    };
    let token = std::fs::read_to_string(path.trim()).unwrap_or_else(|error| {
        panic!(
            "detsim: environment variable DETSIM_REPLAY=`{value}`: cannot read the token \
             file `{}`: {error} (expected a replay token, or @ and the path of a file \
             that holds one)",
            path.trim()
        )
    });
    let token = token.trim();
    assert!(
        !token.is_empty(),
        "detsim: environment variable DETSIM_REPLAY=`{value}`: the token file `{}` is \
         empty (expected a replay token in it)",
        path.trim()
    );
    token.to_owned()
}

const SEED_START_FORM: &str =
    "a decimal or 0x-prefixed hexadecimal u64 such as 42 or 0x2a, or `random`";

/// `DETSIM_SEED_START`: a seed, or `random`.
fn parse_seed_start(s: &str) -> Option<u64> {
    match s {
        "random" => Some(random_start()),
        _ => parse_seed(s),
    }
}

const EXHAUSTIVE_FORM: &str = "a number of deviations such as 2, or `off`";

/// `DETSIM_EXHAUSTIVE`: a bound on deviations, or `off`.
fn parse_exhaustive(s: &str) -> Option<ExhaustiveSetting> {
    match s {
        "off" => Some(ExhaustiveSetting::Off),
        _ => s.parse().ok().map(ExhaustiveSetting::Bound),
    }
}

/// `DETSIM_SOMETIMES`: `fail` or `warn`.
fn parse_sometimes(s: &str) -> Option<Unreached> {
    match s {
        "fail" => Some(Unreached::Fail),
        "warn" => Some(Unreached::Warn),
        _ => None,
    }
}

const WATCHDOG_FORM: &str = "a positive number of seconds such as 10, or `off`";

/// `DETSIM_WATCHDOG`: a number of seconds, or `off` (`Some(None)`).
fn parse_watchdog(s: &str) -> Option<Option<std::time::Duration>> {
    match s {
        "off" => Some(None),
        _ => s
            .parse::<f64>()
            .ok()
            .filter(|secs| secs.is_finite() && *secs > 0.0)
            .map(|secs| Some(std::time::Duration::from_secs_f64(secs))),
    }
}

const VERIFY_FORM: &str = "`off`, `on`, or the time limit of the check in seconds, such as 120";

/// `DETSIM_VERIFY`: `off`/`0`, `on`/`1`, or a positive number of seconds.
fn parse_verify(s: &str) -> Option<VerifySetting> {
    match s {
        "off" | "0" | "false" | "no" => Some(VerifySetting::Off),
        "on" | "1" | "true" | "yes" => Some(VerifySetting::Within(crate::verify::DEFAULT_LIMIT)),
        _ => {
            let seconds: f64 = s.parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0)?;
            Some(VerifySetting::Within(std::time::Duration::from_secs_f64(
                seconds,
            )))
        }
    }
}

fn parse<T>(name: &str, value: &str, parse: impl Fn(&str) -> Option<T>, form: &str) -> T {
    parse(value.trim()).unwrap_or_else(|| {
        panic!("detsim: environment variable {name}=`{value}` is malformed: expected {form}")
    })
}

fn parse_count(s: &str) -> Option<u64> {
    parse_seed(s).filter(|&n| n > 0)
}

/// An on/off switch: `1`, `true`, `yes` or `0`, `false`, `no`.
fn parse_switch(s: &str) -> Option<bool> {
    match s {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(vars: &[(&str, &str)]) -> Env {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn trace_limits_default_to_100_files_of_20_mb_and_are_configurable() {
        let read = |vars: &[(&str, &str)]| {
            let map: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            TraceLimits::from_lookup(|name| map.get(name).cloned())
        };
        assert_eq!(
            read(&[]),
            TraceLimits {
                keep: 100,
                max_bytes: 20_000_000
            }
        );
        assert_eq!(
            read(&[("DETSIM_TRACE_KEEP", "5"), ("DETSIM_TRACE_MAX_MB", "1")]),
            TraceLimits {
                keep: 5,
                max_bytes: 1_000_000
            }
        );
        for (name, value, form) in [
            ("DETSIM_TRACE_KEEP", "0", "a positive number of trace files"),
            (
                "DETSIM_TRACE_MAX_MB",
                "2.5",
                "a positive number of megabytes",
            ),
        ] {
            let message = std::panic::catch_unwind(|| read(&[(name, value)]))
                .unwrap_err()
                .downcast::<String>()
                .unwrap();
            assert!(
                message.contains(&format!("{name}=`{value}`")) && message.contains(form),
                "{message}"
            );
        }
    }

    #[test]
    fn reads_every_variable() {
        let e = env(&[
            ("DETSIM_SEED", "0x2A"),
            ("DETSIM_SEEDS", "500"),
            ("DETSIM_SEED_START", "1_000"),
            ("DETSIM_SCHEDULER", "pct:3"),
            ("DETSIM_JOBS", "2"),
            ("DETSIM_REPLAY", " tok "),
            ("DETSIM_CHECK_DETERMINISM", "1"),
            ("DETSIM_TRACE", "run.trace.json"),
            ("DETSIM_EXHAUSTIVE", "2"),
            ("DETSIM_SHARD", "3/8"),
            ("DETSIM_RESULTS", "out/results"),
            ("DETSIM_STOP_AT_FIRST", "1"),
            ("GITHUB_SHA", "abc123"),
        ]);
        assert_eq!(e.shard, Some(Shard { index: 3, count: 8 }));
        assert_eq!(
            e.results.as_deref(),
            Some(std::path::Path::new("out/results"))
        );
        assert_eq!(e.stop_at_first, Some(true));
        assert_eq!(e.commit.as_deref(), Some("abc123"));
        let random = env(&[("DETSIM_SEED_START", "random")]);
        assert!(random.seed_start_random);
        // drawn once per process: every sweep of a process starts at the same seed
        assert_eq!(random.seed_start, Some(random_start()));
        assert_eq!(e.seed, Some(42));
        assert_eq!(e.seeds, Some(500));
        assert_eq!(e.seed_start, Some(1000));
        assert!(!e.seed_start_random);
        assert_eq!(e.scheduler, Some(Scheduler::pct(3)));
        assert_eq!(e.jobs, Some(2));
        assert_eq!(e.replay.as_deref(), Some("tok"));
        assert_eq!(e.check_determinism, Some(true));
        assert_eq!(
            e.trace.as_deref(),
            Some(std::path::Path::new("run.trace.json"))
        );
        assert_eq!(e.exhaustive, Some(ExhaustiveSetting::Bound(2)));
        assert_eq!(
            env(&[("DETSIM_MAX_STEPS", "5_000_000")]).max_steps,
            Some(5_000_000)
        );
        assert_eq!(
            env(&[("DETSIM_VERIFY", "off")]).verify,
            Some(VerifySetting::Off)
        );
        assert_eq!(
            env(&[("DETSIM_VERIFY", "30")]).verify,
            Some(VerifySetting::Within(std::time::Duration::from_secs(30)))
        );
        let off = env(&[("DETSIM_EXHAUSTIVE", "off")]).exhaustive;
        assert_eq!(off, Some(ExhaustiveSetting::Off));
        assert_eq!(env(&[("DETSIM_SEED", "")]), Env::default());
    }

    fn panic_message(vars: &[(&str, &str)]) -> String {
        let payload = std::panic::catch_unwind(|| env(vars)).unwrap_err();
        payload
            .downcast_ref::<String>()
            .expect("a formatted panic message")
            .clone()
    }

    #[test]
    fn malformed_values_name_variable_value_and_form() {
        let m = panic_message(&[("DETSIM_SEED", "0xzz")]);
        assert!(
            m.contains("DETSIM_SEED=`0xzz`") && m.contains("0x-prefixed hexadecimal"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_SEEDS", "0")]);
        assert!(
            m.contains("DETSIM_SEEDS=`0`") && m.contains("positive"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_SCHEDULER", "pct:0")]);
        assert!(
            m.contains("DETSIM_SCHEDULER=`pct:0`") && m.contains("pct:<depth>"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_JOBS", "-1")]);
        assert!(m.contains("DETSIM_JOBS=`-1`"), "{m}");
        let m = panic_message(&[("DETSIM_CHECK_DETERMINISM", "maybe")]);
        assert!(m.contains("DETSIM_CHECK_DETERMINISM=`maybe`"), "{m}");
        let m = panic_message(&[("DETSIM_MAX_STEPS", "0")]);
        assert!(
            m.contains("DETSIM_MAX_STEPS=`0`") && m.contains("number of polls"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_REPLAY", "@/nonexistent/detsim.token")]);
        assert!(
            m.contains("DETSIM_REPLAY=`@/nonexistent/detsim.token`")
                && m.contains("cannot read the token file `/nonexistent/detsim.token`"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_SHARD", "4/4")]);
        assert!(
            m.contains("DETSIM_SHARD=`4/4`") && m.contains("0 ≤ I < N"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_STOP_AT_FIRST", "stop")]);
        assert!(m.contains("DETSIM_STOP_AT_FIRST=`stop`"), "{m}");
        let m = panic_message(&[("DETSIM_SEED_START", "rand")]);
        assert!(
            m.contains("DETSIM_SEED_START=`rand`") && m.contains("`random`"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_VERIFY", "sometimes")]);
        assert!(
            m.contains("DETSIM_VERIFY=`sometimes`") && m.contains("`off`, `on`"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_EXHAUSTIVE", "-1")]);
        assert!(
            m.contains("DETSIM_EXHAUSTIVE=`-1`") && m.contains("`off`"),
            "{m}"
        );
    }

    #[test]
    fn sometimes_is_fail_or_warn_and_anything_else_names_the_variable() {
        assert_eq!(env(&[]).sometimes, None);
        let warn = env(&[("DETSIM_SOMETIMES", "warn")]);
        assert_eq!(warn.sometimes, Some(Unreached::Warn));
        let fail = env(&[("DETSIM_SOMETIMES", "fail")]);
        assert_eq!(fail.sometimes, Some(Unreached::Fail));
        for bad in ["warning", "off", "1", "WARN"] {
            let m = panic_message(&[("DETSIM_SOMETIMES", bad)]);
            assert!(
                m.contains(&format!("DETSIM_SOMETIMES=`{bad}`")) && m.contains("`fail` or `warn`"),
                "{m}"
            );
        }
    }

    #[test]
    fn threads_and_the_watchdog() {
        use std::time::Duration;
        let e = env(&[("DETSIM_ALLOW_THREADS", "1"), ("DETSIM_WATCHDOG", "2.5")]);
        assert_eq!(e.allow_threads, Some(true));
        assert_eq!(e.watchdog, Some(Some(Duration::from_millis(2500))));
        assert_eq!(env(&[("DETSIM_WATCHDOG", "off")]).watchdog, Some(None));
        assert_eq!(env(&[]).watchdog, None);
        let m = panic_message(&[("DETSIM_WATCHDOG", "0")]);
        assert!(
            m.contains("DETSIM_WATCHDOG=`0`") && m.contains("or `off`"),
            "{m}"
        );
        let m = panic_message(&[("DETSIM_ALLOW_THREADS", "maybe")]);
        assert!(m.contains("DETSIM_ALLOW_THREADS=`maybe`"), "{m}");
    }

    /// `DETSIM_REPLAY=@path` reads the token from the file (what a report prints for a
    /// long token); an empty file is an error that says so.
    #[test]
    fn replay_reads_a_token_file() {
        let dir = std::env::temp_dir().join(format!("detsim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.token");
        std::fs::write(&file, "ds3.abc\n").unwrap();
        let value = format!("@{}", file.display());
        assert_eq!(
            env(&[("DETSIM_REPLAY", &value)]).replay.as_deref(),
            Some("ds3.abc")
        );
        std::fs::write(&file, " \n").unwrap();
        let m = panic_message(&[("DETSIM_REPLAY", &value)]);
        assert!(m.contains("is empty"), "{m}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
