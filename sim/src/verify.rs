//! Every reported failure is checked in a fresh process: the harness runs the same test
//! binary again as a child, with only the failing test selected, and that child replays
//! the failure's token at the same `Builder` call of its test and writes down what
//! happened. The report then says `reproduced in a fresh process`, or `did not
//! reproduce in a fresh process` and why that may be.
//!
//! A failure that does not reproduce in a fresh process depends on something a seed
//! does not decide: a `static` shared between runs (a cache, a counter, a `OnceLock`),
//! state an earlier seed left behind, or a source of variation detsim does not control.
//! Its token would mislead whoever replays it, so the report says so.
//!
//! The protocol (internal; only detsim sets these variables):
//! - the parent counts the `Builder::explore` calls of each thread
//!   ([`next_call`]); a failing `check` names its call in `DETSIM_VERIFY_CHILD=<call>:<path>`
//!   and its token in `DETSIM_VERIFY_TOKEN`;
//! - the child runs the test (`<test> --exact --include-ignored`, or the example with
//!   its arguments) with the rest of the environment unchanged, so that the calls before
//!   the failing one run as they did; at call `<call>` it replays the token with the
//!   trace on and writes the verdict and the trace's text to `<path>`
//!   ([`child_replay`]); it checks nothing in a fresh process of its own;
//! - the parent waits for the child within the time limit (`DETSIM_VERIFY=<seconds>`,
//!   default [`DEFAULT_LIMIT`]) and compares: the same message and the same trace is a
//!   reproduction.
//!
//! `DETSIM_VERIFY=off` turns the check off, where a child process cannot be spawned.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::artifacts::{target_dir, test_name};
use crate::config::VerifyChild;
use crate::replayer::{Maker, Source};
use crate::report::{Failure, Report};
use crate::schedule::Schedule;
use crate::settings::Settings;

/// `DETSIM_VERIFY_CHILD`: `<call>:<path>` in the child process of a check.
pub(crate) const CHILD_VAR: &str = "DETSIM_VERIFY_CHILD";
/// `DETSIM_VERIFY_TOKEN`: the token the child replays (or `@` and a file holding it).
pub(crate) const TOKEN_VAR: &str = "DETSIM_VERIFY_TOKEN";
/// Whether `name` is one of the variables only detsim sets, for the child process.
pub(crate) fn is_internal(name: &str) -> bool {
    name == CHILD_VAR || name == TOKEN_VAR
}

/// How long the child process may take, unless `DETSIM_VERIFY=<seconds>` says.
pub(crate) const DEFAULT_LIMIT: Duration = Duration::from_secs(120);
/// Tokens longer than this go to the child through a file rather than the environment
/// (Linux caps one environment string at 128 KiB).
const INLINE_TOKEN_LIMIT: usize = 64 * 1024;

/// What replaying a failure in a fresh process showed (see [`Failure::fresh_process`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FreshProcess {
    /// The replay in a fresh process failed with the same message and the same trace.
    Reproduced,
    /// The replay in a fresh process passed, or failed differently: how.
    DidNotReproduce(String),
    /// The check could not be made: why (`DETSIM_VERIFY=off`, not a test or an example,
    /// no child process, the time limit).
    NotChecked(String),
}

impl fmt::Display for FreshProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreshProcess::Reproduced => f.write_str("reproduced in a fresh process"),
            FreshProcess::DidNotReproduce(how) => {
                write!(f, "did not reproduce in a fresh process: {how}")
            }
            FreshProcess::NotChecked(why) => write!(f, "not checked in a fresh process: {why}"),
        }
    }
}

thread_local! {
    /// `Builder::explore` calls made on this thread so far.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Counts a `Builder::explore` call of this thread and returns its number (1 for the
/// first): the child of a check finds the failing call by it.
pub(crate) fn next_call() -> u64 {
    CALLS.with(|calls| {
        calls.set(calls.get() + 1);
        calls.get()
    })
}

/// In the child process of a check, at the failing call: replays the token with the
/// trace on and writes the verdict for the parent. The report is the replay's, as
/// `DETSIM_REPLAY` would give.
pub(crate) fn child_replay<F, Fut>(
    settings: &Settings,
    child: &VerifyChild,
    body: &F,
    make: Maker<F>,
) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let verdict = match Schedule::parse(&child.token) {
        Err(error) => format!("error\n{error}"),
        Ok(schedule) => {
            let mut replayer = make(body, settings.max_steps, settings.faults);
            let run = replayer.run(Source::Schedule(&schedule), true);
            let head = match &run.outcome {
                Ok(()) => "passed".to_owned(),
                Err(error) => format!("failed\n{}", error.message()),
            };
            format!("{head}\n{TRACE_MARK}\n{}", run.trace)
        }
    };
    if let Err(error) = std::fs::write(&child.out, verdict) {
        eprintln!(
            "detsim: could not write the fresh-process verdict to {}: {error}",
            child.out.display()
        );
    }
    Report {
        seeds_run: 1,
        failure: None,
        coverage: None,
        ..Report::default()
    }
}

/// Separates the verdict from the trace in the child's file.
const TRACE_MARK: &str = "--- trace ---";

/// Replays `failure` in a fresh process of this test binary (its `call`-th
/// `Builder::explore` on this thread) within `limit`.
pub(crate) fn check_in_fresh_process(
    failure: &Failure,
    call: u64,
    limit: Duration,
) -> FreshProcess {
    match replay_in_child(call, failure.seed, &failure.replay_token(), limit) {
        Ok(verdict) => compare(failure, &verdict),
        Err(why) => FreshProcess::NotChecked(why),
    }
}

/// Under `DETSIM_CHECK_DETERMINISM=1`, after a sweep that passed: whether the first
/// seed's run differs between this process and a fresh one (a `static` shared between
/// runs, or a source of variation detsim does not control, that is stable within one
/// process). Returns the report of the difference, if any; `None` when the runs agree
/// or the check cannot be made.
pub(crate) fn differs_across_processes<F, Fut>(
    settings: &Settings,
    body: &F,
    make: Maker<F>,
) -> Option<String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let limit = settings.verify.ok()?;
    if settings.exhaustive.is_some() || settings.chooser.is_some() {
        return None;
    }
    let call = CALLS.with(Cell::get);
    let seed = settings.range.seed(0);
    let scheduler = settings.scheduler.for_seed(seed);
    let mut replayer = make(body, settings.max_steps, settings.faults);
    let expected_steps = crate::sweep::calibrate(settings, body, make);
    let source = Source::Seed {
        scheduler,
        seed,
        expected_steps,
    };
    let schedule = replayer.run(source, false).schedule(scheduler, seed, false);
    let here = replayer
        .run(Source::Schedule(&schedule), true)
        .trace
        .to_string();
    let verdict = replay_in_child(call, seed, &schedule.to_token(), limit).ok()?;
    let (_, there) = verdict
        .split_once(&format!("\n{TRACE_MARK}\n"))
        .unwrap_or((&verdict, ""));
    let line = first_difference(&here, there)?;
    let shown = |text: &str| {
        let shown = text.lines().nth(line - 1);
        shown.unwrap_or("(the run ended here)").trim().to_owned()
    };
    Some(format!(
        "nondeterminism: seed {seed:#x} runs differently in two processes \
         (DETSIM_CHECK_DETERMINISM=1 compares them); its trace differs at line {line}:\n    \
         this process:    {}\n    a fresh process: {}\n{}",
        shown(&here),
        shown(there),
        likely_causes(None)
    ))
}

/// Runs this test (or example) again in a child process that replays `token` at its
/// `call`-th `Builder::explore`, within `limit`; returns the child's verdict file.
fn replay_in_child(call: u64, seed: u64, token: &str, limit: Duration) -> Result<String, String> {
    if std::env::var_os(CHILD_VAR).is_some() {
        return Err("this is the child process of such a check".to_owned());
    }
    let Some(mut command) = child_command() else {
        return Err("only a test run by `cargo test`, or an example, can be run again".to_owned());
    };
    let out = verdict_file(seed);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let token = match token.len() <= INLINE_TOKEN_LIMIT {
        true => token.to_owned(),
        false => {
            let file = out.with_extension("token");
            std::fs::write(&file, token)
                .map_err(|error| format!("cannot write {}: {error}", file.display()))?;
            format!("@{}", file.display())
        }
    };
    command
        .env(CHILD_VAR, format!("{call}:{}", out.display()))
        .env(TOKEN_VAR, token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let verdict = run_child(&mut command, limit).and_then(|()| {
        std::fs::read_to_string(&out).map_err(|_| {
            "the child process ended without a verdict (it did not reach the failing \
             check: does the test depend on something that changed since?)"
                .to_owned()
        })
    });
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("token"));
    verdict
}

/// The command that runs this test (or example) again, alone.
fn child_command() -> Option<Command> {
    let exe = std::env::current_exe().ok()?;
    let mut command = Command::new(&exe);
    match test_name() {
        Some(name) => {
            command.args([
                name.as_str(),
                "--exact",
                "--include-ignored",
                "--test-threads=1",
            ]);
        }
        None => {
            let parent = exe.parent()?.file_name()?;
            if parent != "examples" {
                return None;
            }
            command.args(std::env::args_os().skip(1));
        }
    }
    Some(command)
}

/// Where the child writes its verdict: unique to this process and seed.
fn verdict_file(seed: u64) -> std::path::PathBuf {
    let name = test_name().unwrap_or_else(|| "simulation".to_owned());
    target_dir().join("detsim-verify").join(format!(
        "{}-{seed:#x}-{}.verdict",
        crate::artifacts::file_stem(&name),
        std::process::id()
    ))
}

/// Runs the child to its end within `limit` (it is killed past it).
fn run_child(command: &mut Command, limit: Duration) -> Result<(), String> {
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start a child process: {error}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if start.elapsed() < limit => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the child process did not finish within {} s (DETSIM_VERIFY=<seconds> \
                     sets the limit)",
                    limit.as_secs_f64()
                ));
            }
            Err(error) => return Err(format!("cannot wait for the child process: {error}")),
        }
    }
}

/// The verdict of the child against the failure this process found.
fn compare(failure: &Failure, verdict: &str) -> FreshProcess {
    let (head, trace) = verdict
        .split_once(&format!("\n{TRACE_MARK}\n"))
        .unwrap_or((verdict, ""));
    let (status, message) = head.split_once('\n').unwrap_or((head, ""));
    match status {
        "passed" => FreshProcess::DidNotReproduce("the replay passed there".to_owned()),
        "failed" if message != failure.message => FreshProcess::DidNotReproduce(format!(
            "the replay failed differently there:\n    {}",
            message.lines().collect::<Vec<_>>().join("\n    ")
        )),
        "failed" => match first_difference(&failure.trace().to_string(), trace) {
            None => FreshProcess::Reproduced,
            Some(line) => FreshProcess::DidNotReproduce(format!(
                "the replay failed with the same message there, but its trace differs \
                 from this process's at line {line}"
            )),
        },
        _ => FreshProcess::NotChecked(format!("the child process could not replay: {message}")),
    }
}

/// The first line (1-based) at which two texts differ, if they do.
fn first_difference(a: &str, b: &str) -> Option<usize> {
    let (mut a, mut b) = (a.lines(), b.lines());
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (None, None) => return None,
            (x, y) if x != y => return Some(line),
            _ => line += 1,
        }
    }
}

/// What a report adds to a failure that did not reproduce in a fresh process.
pub(crate) fn likely_causes(seed_command: Option<&str>) -> String {
    let mut text = "likely causes: a `static` shared between runs (a cache, a counter, a \
                    `OnceLock`), state an earlier seed left behind, or a source of variation \
                    detsim does not control (see \"What detsim controls\" in detsim's README)"
        .to_owned();
    if let Some(command) = seed_command {
        text.push_str(&format!(
            "; run the seed alone, in a process of its own, with:\n    {command}"
        ));
    }
    text
}

/// Whether `path` is this process's verdict file (for tests).
#[cfg(test)]
fn is_verdict_file(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "verdict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_differ_at_their_first_different_line() {
        assert_eq!(first_difference("a\nb\nc", "a\nb\nc"), None);
        assert_eq!(first_difference("a\nb\nc", "a\nx\nc"), Some(2));
        assert_eq!(first_difference("a\nb", "a\nb\nc"), Some(3));
    }

    #[test]
    fn verdict_files_are_unique_to_the_process_and_seed() {
        let file = verdict_file(0x2a);
        assert!(is_verdict_file(&file));
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.contains("-0x2a-"), "{name}");
        assert!(name.contains(&std::process::id().to_string()), "{name}");
    }

    #[test]
    fn calls_count_up_per_thread() {
        let first = next_call();
        assert_eq!(next_call(), first + 1);
        let other = std::thread::spawn(next_call).join().unwrap();
        assert_eq!(other, 1);
    }
}
