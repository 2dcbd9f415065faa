//! detsim's benchmark: figures measured side by side in one process, with their ratios.
//!
//! ```text
//! cargo run --release -p detsim-bench [scale|spawn|timers|sweep|zoo|exhaustive|net|cluster|madsim|disk|facade|seal|history|all] [--quick] [--cap N] [--starts N]
//! ```
//!
//! Sections (all of them by default):
//!
//! - `scale`: n tasks that each yield once, then are joined, for n = 1,000 … 1,000,000:
//!   ns per task under detsim's fifo, random and pct:3 against tokio's current-thread
//!   runtime; bytes of memory per task at 1,000,000 tasks against tokio.
//! - `spawn`: spawn, run and join 10,000 trivial tasks: detsim's `Runtime` (random
//!   choice) against tokio's current-thread runtime and `futures`' `LocalPool`.
//! - `timers`: 1,000 tasks sleeping random simulated durations up to 10 s: detsim's
//!   virtual time against tokio's paused clock.
//! - `sweep`: a tiny passing test over 10,000 seeds: detsim against shuttle's
//!   `check_random`; detsim's `jobs(2)` against `jobs(1)`.
//! - `zoo`: seeds until the first failure for each bug of `detsim-zoo`, detsim's
//!   schedulers against shuttle's random and PCT schedulers on the same bugs
//!   (`shuttle_zoo`).
//! - `exhaustive`: per zoo bug, the smallest bound `k` at which exhaustive exploration
//!   finds it and the schedules it runs until then, next to the seeds detsim's and
//!   shuttle's random and PCT schedulers need and shuttle's DFS; and the runs the cache
//!   of completed prefixes saves against a plain search.
//! - `net`: a TCP echo of 10,000 messages: detsim's simulated loopback against real
//!   tokio over the real 127.0.0.1.
//! - `cluster`: a 3-node ping-pong of 10,000 round trips over TCP and over UDP, and a
//!   small 3-node test swept over 1,000 seeds: detsim's cluster against turmoil.
//! - `madsim`: the tiny test per seed, 8-byte TCP and UDP round trips between two
//!   nodes, the 3-node test per seed and 1,000 timers: detsim's `Builder::check`
//!   against madsim 0.2, whose side is a binary of its own built with `--cfg madsim`
//!   (`CARGO_TARGET_DIR=target/madsim RUSTFLAGS="--cfg madsim" cargo build --release
//!   --manifest-path bench/madsim/Cargo.toml`), started once per alternating round.
//! - `seal`: sealed runs against unsealed ones (the tiny sweep, the tiny sweep with a
//!   `HashMap` per run, which moves every run to a fresh thread, a 3-node cluster test)
//! - `disk`: 1,000 appends of 512 bytes, each synced: detsim's simulated disk against
//!   real `std::fs` with `fdatasync` in a temporary directory.
//! - `facade`: spawn-join and sleepers through the tokio facade (`detsim-tokio`)
//!   against detsim's own API; needs a `--cfg detsim` build
//!   (`CARGO_TARGET_DIR=target/detsim RUSTFLAGS="--cfg detsim" cargo run --release -p
//!   detsim-bench facade`), and says so without it.
//! - `history`: `detsim::history`'s linearizability check of a 10,000-operation
//!   key-value history of 10 clients, and of small register histories next to a
//!   brute-force checker.
//!
//! A summary at the end lists each figure that the design's performance targets name,
//! with its target.
//!
//! Every figure is the median of several repetitions timed with `std::time::Instant`.
//! `--quick` shrinks every size to a smoke run (the unit tests use it). Shuttle prints a
//! few lines to stderr for each failure it finds; run with `2>/dev/null` to hide them.

mod cluster;
mod disk;
mod exhaustive;
mod facade;
mod history;
mod madsim;
mod measure;
mod net;
mod scale;
mod seal;
mod shuttle_zoo;
mod spawn;
mod summary;
mod sweep;
mod timers;
mod zoo;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// While set, panics print nothing: the zoo section provokes thousands of them.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences the printing of panics while it lives; a panic that escapes still restores
/// it, so that its own message shows.
#[derive(Debug)]
pub(crate) struct QuietPanics(());

impl QuietPanics {
    pub(crate) fn new() -> Self {
        QUIET.store(true, Ordering::SeqCst);
        QuietPanics(())
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        QUIET.store(false, Ordering::SeqCst);
    }
}

/// Installs a panic hook that defers to the default one unless a [`QuietPanics`] lives.
/// It goes in before anything of shuttle's runs, since shuttle chains its own hook to
/// the one it finds.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.load(Ordering::SeqCst) {
            default(info);
        }
    }));
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
struct Options {
    sections: Vec<&'static str>,
    quick: bool,
    cap: u64,
    starts: u64,
}

const SECTIONS: [&str; 13] = [
    "scale",
    "spawn",
    "timers",
    "sweep",
    "zoo",
    "exhaustive",
    "net",
    "cluster",
    "madsim",
    "disk",
    "facade",
    "seal",
    "history",
];
const USAGE: &str = "usage: detsim-bench [scale|spawn|timers|sweep|zoo|exhaustive|net|cluster|madsim|disk|facade|seal|history|all]... \
                     [--quick] [--cap SEEDS] [--starts N]";

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        sections: Vec::new(),
        quick: false,
        cap: 10_000,
        starts: 9,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "all" => options.sections.extend(SECTIONS),
            "--quick" => options.quick = true,
            "--cap" | "--starts" => {
                let value = args.next().ok_or(format!("{arg} needs a number"))?;
                let number: u64 = value
                    .parse()
                    .map_err(|_| format!("{arg} takes a number of seeds, not {value:?}"))?;
                if number == 0 {
                    return Err(format!("{arg} must be at least 1"));
                }
                if arg == "--cap" {
                    options.cap = number;
                } else {
                    options.starts = number;
                }
            }
            name => match SECTIONS.iter().find(|section| **section == name) {
                Some(section) => options.sections.push(section),
                None => return Err(format!("unknown argument {name:?}\n{USAGE}")),
            },
        }
    }
    if options.sections.is_empty() {
        options.sections.extend(SECTIONS);
    }
    options.sections.dedup();
    Ok(options)
}

fn run(options: &Options) {
    let mut summary = summary::Summary::default();
    for section in &options.sections {
        match *section {
            "scale" => scale::run(options.quick, &mut summary),
            "spawn" => spawn::run(options.quick, &mut summary),
            "timers" => timers::run(options.quick),
            "sweep" => sweep::run(options.quick, &mut summary),
            "zoo" => zoo::run(options.quick, options.cap, options.starts),
            "exhaustive" => exhaustive::run(options.quick, options.cap, options.starts),
            "net" => net::run(options.quick),
            "cluster" => cluster::run(options.quick),
            "madsim" => madsim::run(options.quick, &mut summary),
            "disk" => disk::run(options.quick),
            "facade" => facade::run(options.quick, &mut summary),
            "seal" => seal::run(options.quick),
            "history" => history::run(options.quick, &mut summary),
            _ => unreachable!("parse only lets known sections through"),
        }
        println!();
    }
    summary.print();
}

/// The hidden first argument that runs one workload alone, for a profiler
/// (`valgrind --tool=callgrind target/release/detsim-bench __profile sweep 1000`).
const PROFILE: &str = "__profile";

/// Runs one workload:
/// - `sweep SEEDS [JOBS]`: the tiny test; `sweep-pct SEEDS [JOBS]`: the same under
///   pct:3; `schedulers SEEDS [REPS]`: its seeds per second under random, pct:3 and
///   the default portfolio (median of `REPS`);
/// - `parallel`: the sweep section's jobs(2) against jobs(1), without the sections
///   before it;
/// - `spawn TASKS [REPS]`: spawn-join; `spawn-fifo TASKS [REPS]`: the same with the
///   FIFO chooser, the executor alone; `spawn-tokio TASKS [REPS]`: tokio's, for
///   reference (with `REPS`, the median per task, printed, as for `scale`);
/// - `scale SCHEDULER TASKS [REPS]`: the scale program; with `REPS`, the median of that
///   many runs' thread CPU time per task, printed, which an A/B comparison of two
///   builds can alternate; without, one run for a profiler;
/// - `seal on|off SEEDS`: the tiny sweep sealed or unsealed, for callgrind's counts of
///   the two;
/// - `yields POLLS`: two tasks yielding to each other, the executor's cost per poll as
///   callgrind counts it against `yields 0`;
/// - `madsim WORKLOAD ITEMS`: detsim's side of one workload of the `madsim` section
///   (`tcp`, `udp`: round trips; `cluster`, `tiny`: seeds; `timers`: runs).
fn profile(args: Vec<String>) {
    let number = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("sweep") => sweep::profile(number(1, 1_000), number(2, 1) as usize, false),
        Some("sweep-pct") => sweep::profile(number(1, 1_000), number(2, 1) as usize, true),
        Some("schedulers") => sweep::profile_schedulers(number(1, 10_000), number(2, 5)),
        Some("parallel") => {
            let mut summary = summary::Summary::default();
            sweep::parallel(false, &mut summary);
            summary.print();
        }
        Some("spawn") => spawn::profile(number(1, 10_000), number(2, 0), false),
        Some("spawn-fifo") => spawn::profile(number(1, 10_000), number(2, 0), true),
        Some("spawn-tokio") => spawn::profile_tokio(number(1, 10_000), number(2, 0)),
        Some("scale") => scale::profile(
            args.get(1).map_or("random", String::as_str),
            number(2, 100_000),
            number(3, 0),
        ),
        Some("yields") => sweep::yields(number(1, 1_000_000)),
        Some("madsim") => {
            madsim::profile(args.get(1).map_or("tcp", String::as_str), number(2, 10_000))
        }
        Some("seal") => seal::profile(
            args.get(1).map(String::as_str) != Some("off"),
            number(2, 2_000),
        ),
        other => panic!("unknown profile workload {other:?}"),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    if let Some(first) = args.next()
        && first == scale::MEMORY_CHILD
    {
        let runtime = args.next().expect("a runtime name");
        let n = args
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a task count");
        scale::memory_child(&runtime, n);
        return ExitCode::SUCCESS;
    }
    if let Some(first) = std::env::args().nth(1)
        && first == PROFILE
    {
        profile(std::env::args().skip(2).collect());
        return ExitCode::SUCCESS;
    }
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    install_panic_hook();
    let overrides: Vec<String> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("DETSIM_"))
        .collect();
    if !overrides.is_empty() {
        println!(
            "warning: {} set: they override the schedulers and seeds these figures name",
            overrides.join(", ")
        );
    }
    if cfg!(debug_assertions) {
        println!("(a debug build: run with --release for figures worth quoting)");
    }
    println!(
        "detsim-bench: {} thread(s) available, load average {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        sweep::load_average()
    );
    run(&options);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> impl Iterator<Item = String> + '_ {
        line.split_whitespace().map(String::from)
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(args("")).unwrap().sections, SECTIONS);
        assert_eq!(parse(args("all")).unwrap().sections, SECTIONS);
        let options = parse(args("zoo --cap 50 --starts 3 --quick")).unwrap();
        assert_eq!(
            options,
            Options {
                sections: vec!["zoo"],
                quick: true,
                cap: 50,
                starts: 3
            }
        );
        assert!(parse(args("spwan")).is_err());
        assert!(parse(args("--cap")).is_err());
        assert!(parse(args("--cap x")).is_err());
    }

    /// Every section runs end to end at smoke-test sizes.
    #[test]
    fn quick_smoke_run() {
        install_panic_hook();
        run(&parse(args("all --quick")).unwrap());
    }
}
