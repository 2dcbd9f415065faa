//! Coverage-guided schedule fuzzing: a fuzzer's bytes, not a seed, drive every
//! scheduling decision and every [`random`](crate::random) draw of one run.
//!
//! A fuzz target hands its input to [`check`] (or [`run`], to get the failure as data):
//!
//! ```
//! # let data: &[u8] = &[0x80, 0x00];
//! // fuzz/fuzz_targets/my_target.rs: fuzz_target!(|data: &[u8]| { ... });
//! detsim::fuzz::check(data, || async {
//!     let a = detsim::spawn(async { detsim::yield_now().await; 1 });
//!     let b = detsim::spawn(async { 2 });
//!     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
//! });
//! ```
//!
//! A failing input becomes an ordinary [`Schedule`] — the decisions the runtime
//! actually made and the random words the program actually received — and its replay
//! token, which `DETSIM_REPLAY` and [`Builder::replay`](crate::Builder::replay)
//! reproduce under a plain `cargo test`, with no fuzzer and no input file.
//!
//! # How an input maps to a run
//!
//! The input is a tape read from both ends; every byte is used at most once:
//!
//! - **Decisions from the front**, one byte per decision point (a point where two or
//!   more tasks are ready; see [`Chooser`](detsim_runtime::Chooser)). Byte `b` with
//!   `n` tasks ready picks the task at FIFO index `(b · n) >> 8`
//!   ([`decision_for_byte`]): the byte is the position in the ready queue as a
//!   fraction of its length, `0x00` the oldest task (asyncio's choice) and `0xff` the
//!   newest. A byte keeps its meaning ("run an old task", "run the newest") when a
//!   mutation elsewhere changes how many tasks are ready, and a mutation of the byte's
//!   high bits moves the choice across the queue, so libFuzzer's byte mutations make
//!   meaningful schedule changes. The empty input is the FIFO schedule.
//! - **Random words from the back**, 8 bytes each, little-endian: the last 8 bytes of
//!   the input are the first word `random` draws from, the 8 bytes before them the
//!   second, and so on. Mutations of the schedule bytes at the front leave the program's
//!   random values alone, and the other way round, until the two ends meet.
//!   Every call on the generator takes one whole word: `next_u64` the word, `next_u32`
//!   its low 32 bits, `fill_bytes` one word per 8 bytes (little-endian), exactly as
//!   `WordRng` feeds a schedule's words back on replay.
//! - **When the tape runs out** (fewer bytes left than a decision or a word needs),
//!   decisions fall back to FIFO order (index 0), and random draws fall back to the
//!   user stream of **seed 0** (ChaCha8 stream 1 of seed 0, from its start, one 64-bit
//!   value per word: what `detsim::random::<u64>()` gives under `DETSIM_SEED=0`), so a
//!   program that loops until a random condition still terminates on a short input.
//!
//! # Invariants
//! - a run is a pure function of the input bytes (and the body): the same input gives
//!   the same decisions, the same random words and the same outcome;
//! - the failure's [`Schedule`] records every decision the runtime made and every word
//!   the program received (tape words and fallback words alike), so its replay never
//!   depends on how the bytes were read: replaying it with the replay chooser and
//!   a `WordRng` over the words (what `Builder::replay` and `DETSIM_REPLAY` do)
//!   makes the same run, poll for poll. [`run`] checks this itself when it builds the
//!   failure ([`FuzzFailure::replays`]);
//! - the reported schedule is shrunk as a sweep's failures are (fewest deviations from
//!   FIFO that still fail with the same message at the same place), the random words
//!   kept as drawn; the trace in the report is the shrunk schedule's.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

mod failure;
mod tape;

pub use failure::FuzzFailure;
pub use tape::decision_for_byte;
use tape::{Tape, TapeChooser, TapeRng};

use crate::replayer::{Replayed, Replayer, Source, divergence};
use crate::schedule::Schedule;
use crate::scheduler::Scheduler;
use crate::shrink::{self, ShrinkBudget, Signature};

/// The seed whose user stream serves [`random`](crate::random) once the input's words
/// are used up; it is also the seed of every fuzz [`Schedule`].
pub const FALLBACK_SEED: u64 = 0;

/// Runs `body` once with decisions and random words read from `data` (see the module
/// docs) and [`detsim_runtime::DEFAULT_MAX_POLLS`] as the poll budget.
///
/// Returns the failure as data: the message, the schedule and its replay token.
pub fn run<F, Fut>(data: &[u8], body: F) -> Result<(), FuzzFailure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    Fuzzer::new().run(data, body)
}

/// Like [`run`], then panics with the failure report (message and replay token) if the
/// run failed: what a `fuzz_target!` calls, so that libFuzzer records a crash.
#[track_caller]
pub fn check<F, Fut>(data: &[u8], body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    Fuzzer::new().check(data, body)
}

/// Settings of a fuzzed run, for when [`run`]'s defaults do not fit.
#[derive(Debug, Clone)]
pub struct Fuzzer {
    max_steps: u64,
    check_determinism: bool,
    shrink: ShrinkBudget,
    target: Option<String>,
    replay_test: Option<String>,
}

impl Default for Fuzzer {
    fn default() -> Self {
        Fuzzer {
            max_steps: detsim_runtime::DEFAULT_MAX_POLLS,
            check_determinism: false,
            shrink: ShrinkBudget::default(),
            target: None,
            replay_test: None,
        }
    }
}

impl Fuzzer {
    /// The defaults: a poll budget of [`detsim_runtime::DEFAULT_MAX_POLLS`].
    pub fn new() -> Self {
        Fuzzer::default()
    }

    /// Fails a run that makes more than `polls` polls (a livelock). A smaller budget
    /// than the default keeps a fuzzer fast on inputs that make a program spin.
    ///
    /// # Panics
    /// If `polls` is 0.
    pub fn max_polls(mut self, polls: u64) -> Self {
        assert!(
            polls > 0,
            "Fuzzer::max_polls: the budget must be at least one poll"
        );
        self.max_steps = polls;
        self
    }

    /// The former name of [`max_polls`](Fuzzer::max_polls).
    #[deprecated(since = "0.2.0", note = "renamed `max_polls`: detsim counts polls")]
    pub fn max_steps(self, polls: u64) -> Self {
        self.max_polls(polls)
    }

    /// Limits shrinking of a failing schedule's decisions to `replays` replays and
    /// `time` of wall clock (default 2000 replays, 10 s, as a sweep's); `replays = 0` turns
    /// shrinking off. The random words are kept as the failing run drew them.
    pub fn shrink_budget(mut self, replays: u64, time: std::time::Duration) -> Self {
        self.shrink = ShrinkBudget { replays, time };
        self
    }

    /// The cargo-fuzz target this fuzzer runs in, for the report's command that reruns
    /// the crashing input (`cargo fuzz run <target> <crash file>`). Default: the name
    /// of the running executable, when it is not a test binary.
    pub fn target(mut self, name: impl Into<String>) -> Self {
        self.target = Some(name.into());
        self
    }

    /// The `cargo test` command of a test that runs the same body through
    /// [`Builder`](crate::Builder) (`replay`, `check` or `explore`, which all honour
    /// `DETSIM_REPLAY`), such as `cargo test -p my-fuzz-logic --test corpus bank_crash`:
    /// the report prints it after `DETSIM_REPLAY=<token>`, as the command that replays
    /// the crash without the fuzzer. Without it, the report says what such a test is.
    pub fn replay_test(mut self, command: impl Into<String>) -> Self {
        self.replay_test = Some(command.into());
        self
    }

    /// Runs each input twice with the trace on, and fails when the two runs differ
    /// (the fuzzing counterpart of `DETSIM_CHECK_DETERMINISM=1`). Off by default: it
    /// halves the executions per second.
    pub fn check_determinism(mut self, on: bool) -> Self {
        self.check_determinism = on;
        self
    }

    /// Runs `body` driven by `data` (twice under
    /// [`check_determinism`](Fuzzer::check_determinism)); see [`run`].
    pub fn run<F, Fut>(&self, data: &[u8], body: F) -> Result<(), FuzzFailure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut replayer = Replayer::new(&body, Some(self.max_steps), None);
        let first = replayer.run(tape_source(data), self.check_determinism);
        if self.check_determinism {
            let second = replayer.run(tape_source(data), true);
            if let Some(message) = divergence(&first, &second, "input") {
                let note = "note: two runs of the same input differed, so the schedule may \
                            not replay this failure; look for real time, real threads, a \
                            thread RNG or HashMap iteration order in the body";
                let schedule = first.schedule(Scheduler::fifo(), FALLBACK_SEED, true);
                let mut failure = FuzzFailure::new(message, schedule, first, false);
                failure.details.note = Some(note.to_owned());
                failure.details.commands = self.commands(&failure.token());
                return Err(failure);
            }
        }
        match first.signature() {
            None => Ok(()),
            Some(signature) => Err(self.describe(&mut replayer, first, signature)),
        }
    }

    /// Like [`run`](Fuzzer::run), then panics with the failure report if the run failed:
    /// what a `fuzz_target!` calls.
    #[track_caller]
    pub fn check<F, Fut>(&self, data: &[u8], body: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        if let Err(failure) = self.run(data, body) {
            panic!("{failure}");
        }
    }

    /// Replays a failing run's schedule with the trace on, as `DETSIM_REPLAY` would, to
    /// check that it reproduces the failure; then shrinks its decisions (as a seed
    /// sweep's failures are shrunk) and replays the shrunk schedule for the report.
    fn describe<F, Fut>(
        &self,
        replayer: &mut Replayer<'_, F>,
        first: Replayed,
        signature: Signature,
    ) -> FuzzFailure
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let recorded = first.schedule(Scheduler::fifo(), FALLBACK_SEED, true);
        let again = replayer.run(Source::Schedule(&recorded), true);
        let reproduced = again.fails_as(&signature);
        let mut schedule = again.schedule(Scheduler::fifo(), FALLBACK_SEED, true);
        let (mut shown, mut stopped_early) = (again, None);
        if reproduced && self.shrink.replays > 0 {
            let shrunk = shrink::shrink(
                shown.candidate(),
                self.shrink,
                |decisions| replayer.try_decisions(&schedule, decisions),
                &signature,
            );
            stopped_early = shrunk.stopped_early;
            let smaller = Schedule {
                decisions: shrunk.best.decisions,
                ..schedule.clone()
            };
            let run = replayer.run(Source::Schedule(&smaller), true);
            if smaller.decisions != schedule.decisions && run.fails_as(&signature) {
                schedule = run.schedule(Scheduler::fifo(), FALLBACK_SEED, true);
                shown = run;
            }
        }
        let note = replay_note(&shown, &signature, stopped_early);
        let reproduces = reproduced && shown.outcome.is_err();
        let shown = match shown.outcome.is_err() {
            true => shown,
            false => first,
        };
        let mut failure = FuzzFailure::new(signature.message, schedule, shown, reproduces);
        failure.details.note = note;
        failure.details.commands = self.commands(&failure.token());
        failure
    }

    /// The report's commands: the token under `cargo test`, and the input under the
    /// fuzzer. Each says honestly what it needs that detsim cannot know.
    fn commands(&self, token: &str) -> Vec<(String, String)> {
        let mut commands = vec![match &self.replay_test {
            Some(test) => (
                "replay this failure under cargo test, without the fuzzer:".to_owned(),
                format!("DETSIM_REPLAY={token} {test}"),
            ),
            None => (
                "replay this failure without the fuzzer, in a test that runs the same body \
                 through detsim::Builder (replay, check or explore honour DETSIM_REPLAY):"
                    .to_owned(),
                format!("DETSIM_REPLAY={token} cargo test -- <that test> --exact"),
            ),
        }];
        let target = self.target.clone().or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let running_a_test = crate::artifacts::test_name().is_some();
            (!running_a_test).then(|| exe.file_stem()?.to_str().map(str::to_owned))?
        });
        if let Some(target) = target {
            commands.push((
                "or rerun the crashing input under the fuzzer (libFuzzer names the crash \
                 file below):"
                    .to_owned(),
                format!(
                    "cargo fuzz run --sanitizer none {target} fuzz/artifacts/{target}/<crash file>"
                ),
            ));
        }
        commands
    }
}

/// What drives a fuzzed run: the input as a tape (decisions from the front, words from
/// the back), seed [`FALLBACK_SEED`] once it runs out.
fn tape_source(data: &[u8]) -> Source<'static> {
    let tape = Rc::new(RefCell::new(Tape::new(data)));
    Source::Custom {
        seed: FALLBACK_SEED,
        chooser: Box::new(TapeChooser(tape.clone())),
        rng: Some(Box::new(TapeRng {
            tape,
            fallback: None,
        })),
    }
}

/// The report's note on a fuzzed failure's replay: why shrinking stopped early, or why
/// the schedule does not reproduce the failure.
fn replay_note(
    shown: &Replayed,
    signature: &Signature,
    stopped_early: Option<String>,
) -> Option<String> {
    match &shown.outcome {
        Err(_) if shown.fails_as(signature) => {
            stopped_early.map(|why| format!("note: shrinking stopped early: {why}"))
        }
        Err(replayed) => Some(format!(
            "note: replaying the schedule failed differently ({}): the body is not \
             deterministic",
            replayed.message()
        )),
        Ok(()) => Some(
            "note: replaying the schedule passed: the body is not deterministic (look for \
             real time, real threads, a thread RNG or HashMap iteration order)"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use detsim_runtime::Runtime;
    use detsim_runtime::choice::{USER_STREAM, seeded_rng};
    use rand::Rng;

    use super::*;
    use crate::{random, spawn, yield_now};

    /// Two tasks append to a log; the body fails when the second task's entry comes first.
    async fn ordered() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = spawn({
            let log = log.clone();
            async move { log.borrow_mut().push('a') }
        });
        let b = spawn({
            let log = log.clone();
            async move { log.borrow_mut().push('b') }
        });
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(*log.borrow(), ['a', 'b'], "b ran before a");
    }

    #[test]
    fn the_empty_input_is_the_fifo_schedule() {
        assert!(run(&[], ordered).is_ok());
        assert!(run(&[0x00, 0x7f, 0x00], ordered).is_ok());
    }

    #[test]
    fn a_decision_byte_reorders_tasks_and_the_failure_replays() {
        // After t0's first poll, t0 is parked on `a` and [t1, t2] are ready: a byte of
        // 0x80 or more picks t2.
        let failure = run(&[0x80], ordered).expect_err("b runs first");
        assert!(failure.message.contains("b ran before a"), "{failure}");
        assert_eq!(failure.schedule.decisions, vec![1]);
        assert!(failure.schedule.user_words.is_empty());
        assert!(failure.replays());
        assert_eq!(
            failure.location().map(|l| l.contains("fuzz.rs")),
            Some(true)
        );
        let shown = failure.to_string();
        assert!(
            shown.contains(&format!("DETSIM_REPLAY={}", failure.token())),
            "{shown}"
        );
        let replayed = crate::Builder::new()
            .replay(&failure.token(), ordered)
            .expect_err("the token replays the failure");
        assert_eq!(replayed.message, failure.message);
        assert_eq!(replayed.trace(), failure.trace());
    }

    #[test]
    fn failing_schedules_are_shrunk() {
        // Two loggers and a task that does nothing: newest-first runs the idle task,
        // then b, then a (decisions [2, 1]); running b first is all the bug needs ([1]).
        let noisy = || async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let logger = |c| {
                let log = log.clone();
                spawn(async move { log.borrow_mut().push(c) })
            };
            let (a, b) = (logger('a'), logger('b'));
            let idle = spawn(async {});
            a.await.unwrap();
            b.await.unwrap();
            idle.await.unwrap();
            assert_eq!(*log.borrow(), ['a', 'b'], "b ran before a");
        };
        let data = [0xff; 16];
        let raw = Fuzzer::new()
            .shrink_budget(0, std::time::Duration::ZERO)
            .run(&data, noisy)
            .expect_err("newest-first runs b before a");
        let shrunk = run(&data, noisy).expect_err("newest-first runs b before a");
        assert_eq!(shrunk.message, raw.message);
        assert_eq!(raw.schedule.decisions, [2, 1]);
        assert_eq!(shrunk.schedule.decisions, [1]);
        assert!(shrunk.replays());
        let replayed = crate::Builder::new()
            .replay(&shrunk.token(), noisy)
            .expect_err("the shrunk token replays");
        assert_eq!(replayed.trace(), shrunk.trace());
    }

    /// Fails only when the program's random draws hit the values in the assertion.
    async fn magic_words() {
        let first: u64 = random();
        let second: u32 = random();
        let flip: bool = random();
        assert!(
            !(first == 0xdead_beef && second == 7),
            "magic words {first:#x} {second} {flip}"
        );
    }

    #[test]
    fn random_words_come_from_the_back_of_the_input() {
        let mut data = vec![0xaa; 3]; // decision bytes the body never asks for
        data.extend_from_slice(&7u64.to_le_bytes());
        data.extend_from_slice(&0xdead_beef_u64.to_le_bytes());
        let failure = run(&data, magic_words).expect_err("the words are the magic ones");
        // The third draw ran past the tape (3 bytes left): seed 0's first user word.
        let fallback = u64::from(seeded_rng(FALLBACK_SEED, USER_STREAM).next_u64() as u32);
        assert_eq!(failure.schedule.user_words, vec![0xdead_beef, 7, fallback]);
        assert!(failure.replays(), "{failure}");
        assert!(run(&data[3..19], magic_words).is_err());
        assert!(
            run(&data[..18], magic_words).is_ok(),
            "one byte short of two words"
        );
    }

    #[test]
    fn the_fallback_stream_is_seed_zeros() {
        let seen = Rc::new(Cell::new(0u64));
        let body = || {
            let seen = seen.clone();
            async move { seen.set(random()) }
        };
        run(&[1, 2, 3], body).unwrap();
        let from_fuzz = seen.get();
        let mut rt = Runtime::new(FALLBACK_SEED);
        rt.block_on(body());
        assert_eq!(seen.get(), from_fuzz);
    }

    #[test]
    fn livelocks_and_deadlocks_are_failures_with_schedules() {
        let spin = || async {
            let spinner = spawn(async {
                loop {
                    yield_now().await;
                }
            });
            yield_now().await;
            spinner.abort();
        };
        // FIFO interleaves the two tasks, so the spinner is aborted. With [t1 spinner,
        // t0 main] ready, 0x00 picks the spinner; from then on the spinner is the newest
        // ready task after each of its yields, and 0xff keeps picking it.
        assert!(run(&[], spin).is_ok());
        let mut data = vec![0xff; 64];
        data[0] = 0x00;
        let failure = Fuzzer::new()
            .max_polls(50)
            .run(&data, spin)
            .expect_err("the spinner starves main");
        assert!(failure.message.starts_with("livelock"), "{failure}");
        assert!(failure.replays());
        let stuck = || std::future::pending::<()>();
        let failure = run(&[], stuck).expect_err("nothing wakes main");
        assert!(failure.message.starts_with("deadlock"), "{failure}");
    }

    #[test]
    fn check_determinism_catches_a_body_that_reads_outside_state() {
        let runs = Cell::new(0u32);
        let body = || {
            runs.set(runs.get() + 1);
            let extra = runs.get() == 2;
            async move {
                let a = spawn(async { yield_now().await });
                if extra {
                    yield_now().await;
                }
                a.await.unwrap();
            }
        };
        assert!(Fuzzer::new().run(&[], body).is_ok());
        runs.set(0);
        let failure = Fuzzer::new()
            .check_determinism(true)
            .run(&[], body)
            .expect_err("the second run yields once more");
        assert!(failure.message.starts_with("nondeterminism"), "{failure}");
        assert!(!failure.replays());
        assert!(
            Fuzzer::new()
                .check_determinism(true)
                .run(&[0x80], ordered)
                .is_err()
        );
        assert!(
            Fuzzer::new()
                .check_determinism(true)
                .run(&[], ordered)
                .is_ok()
        );
    }

    #[test]
    #[should_panic(expected = "DETSIM_REPLAY=ds3.")]
    fn check_panics_with_the_token() {
        check(&[0xc0], ordered);
    }
}
