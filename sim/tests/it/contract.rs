//! The public API of `detsim`, used exactly as README.md's "The API" lists it (the
//! contract), plus every other public name the crate exports (the documented extension
//! points and the harness's data types): if a name or signature changes, this file
//! stops compiling. ARCHITECTURE.md says what is public and why.

use std::any::Any;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use detsim::task::{self, Id};
use detsim::time::{self, Elapsed, Instant};
use detsim::{
    Builder, Failure, JoinError, JoinHandle, Report, Scheduler, Trace, check, random, spawn,
    yield_now,
};

fn copy_ord_debug<T: Copy + Ord + Debug>() {}
fn id_traits<T: Copy + Eq + Hash + Ord + Debug + Display>() {}
fn error_traits<T: std::error::Error + Debug + Display>() {}
fn join_handle<T, H: Future<Output = Result<T, JoinError>> + Unpin>() {}
fn scheduler_traits<T: Copy + Debug + Display>() {}
fn async_fn0<Fut: Future<Output = O>, O>(_: fn() -> Fut) {}
fn async_fn1<A, Fut: Future<Output = O>, O>(_: fn(A) -> Fut) {}
fn async_fn2<A, B, Fut: Future<Output = O>, O>(_: fn(A, B) -> Fut) {}

#[test]
fn the_contract_types_have_their_traits() {
    copy_ord_debug::<Instant>();
    id_traits::<Id>();
    error_traits::<Elapsed>();
    error_traits::<JoinError>();
    join_handle::<u8, JoinHandle<u8>>();
    join_handle::<Rc<u8>, JoinHandle<Rc<u8>>>(); // outputs need not be Send
    scheduler_traits::<Scheduler>();
}

#[test]
fn the_contract_signatures() {
    let _: fn(std::future::Ready<u8>) -> JoinHandle<u8> = spawn::<std::future::Ready<u8>>;
    async_fn0::<_, ()>(yield_now);
    let _: fn() -> Instant = time::now;
    async_fn1::<Duration, _, ()>(time::sleep);
    async_fn1::<Instant, _, ()>(time::sleep_until);
    async_fn2::<Duration, std::future::Ready<u8>, _, Result<u8, Elapsed>>(
        time::timeout::<std::future::Ready<u8>>,
    );
    let _: fn() -> Id = task::id;
    let _: fn() -> task::Builder = task::Builder::new;
    let _: fn() -> u64 = random::<u64>;
    let _: fn() -> bool = random::<bool>;
    let _: fn(&JoinHandle<u8>) = JoinHandle::<u8>::abort;
    let _: fn(&JoinHandle<u8>) -> bool = JoinHandle::<u8>::is_finished;
    let _: fn(&JoinHandle<u8>) -> Id = JoinHandle::<u8>::id;
    let _: fn(&JoinError) -> bool = JoinError::is_cancelled;
    let _: fn(&JoinError) -> bool = JoinError::is_panic;
    let _: fn(JoinError) -> Box<dyn Any + Send> = JoinError::into_panic;
    let _: fn() -> Scheduler = Scheduler::random;
    let _: fn() -> Scheduler = Scheduler::fifo;
    let _: fn(u32) -> Scheduler = Scheduler::pct;
    let _: fn() -> Builder = Builder::new;
    let _: fn(Builder, u64) -> Builder = Builder::seeds;
    let _: fn(Builder, u64) -> Builder = Builder::seed;
    let _: fn(Builder, Scheduler) -> Builder = Builder::scheduler;
    let _: fn(Builder, u64) -> Builder = Builder::max_steps;
    let _: fn(Builder, usize) -> Builder = Builder::jobs;
    let _: fn(&Failure) -> &Trace = Failure::trace;
}

#[test]
fn schedulers_display_as_the_environment_spells_them() {
    assert_eq!(Scheduler::random().to_string(), "random");
    assert_eq!(Scheduler::fifo().to_string(), "fifo");
    assert_eq!(Scheduler::pct(3).to_string(), "pct:3");
    let copy = Scheduler::pct(3);
    let again = copy; // Copy
    assert_eq!(format!("{copy:?}"), format!("{again:?}"));
    assert!(format!("{:?}", Scheduler::pct(3)).contains("pct:3"));
}

/// Everything a test body may call, inside a sweep whose body borrows from the test.
#[test]
fn a_body_uses_the_whole_task_api_and_borrows_from_the_test() {
    let runs = AtomicU64::new(0); // borrowed by the body: its future is not 'static
    let report: Report = Builder::new()
        .ignore_env()
        .seeds(20)
        .scheduler(Scheduler::random())
        .max_steps(10_000)
        .jobs(1)
        .explore(|| async {
            runs.fetch_add(1, Ordering::Relaxed);
            // spawn without Send: an Rc lives across an await inside the task.
            let local = Rc::new(5u32);
            let task: JoinHandle<u32> = spawn(async move {
                yield_now().await;
                *local
            });
            let id: Id = task.id();
            assert!(!task.is_finished());
            assert_eq!(task.await.unwrap(), 5);

            let named = task::Builder::new().name("x").spawn(async { task::id() });
            let named_id = named.id();
            assert_eq!(named.await.unwrap(), named_id);
            assert_ne!(id, named_id);
            assert_eq!(task::id().to_string(), "t0");

            let start: Instant = time::now();
            time::sleep(Duration::from_millis(5)).await;
            time::sleep_until(start + Duration::from_millis(10)).await;
            let elapsed: Duration = time::now() - start;
            assert_eq!(elapsed, Duration::from_millis(10));
            assert_eq!(time::now() - Duration::from_millis(10), start);
            let late: Result<(), Elapsed> = time::timeout(
                Duration::from_millis(1),
                time::sleep(Duration::from_secs(1)),
            )
            .await;
            assert!(late.is_err());
            assert_eq!(
                time::timeout(Duration::from_secs(1), async { 3 }).await,
                Ok(3)
            );

            let failing = spawn(async { panic!("expected") });
            let error: JoinError = failing.await.unwrap_err();
            assert!(error.is_panic() && !error.is_cancelled());
            let payload: Box<dyn Any + Send> = error.into_panic();
            assert_eq!(*payload.downcast::<&str>().unwrap(), "expected");

            let cancelled = spawn(std::future::pending::<()>());
            cancelled.abort();
            assert!(cancelled.await.unwrap_err().is_cancelled());

            let _: u64 = random();
            let _: f64 = random::<f64>();
        });
    assert!(report.failure.is_none(), "{}", report.failure.unwrap());
    let seeds_run: u64 = report.seeds_run;
    assert_eq!((runs.load(Ordering::Relaxed), seeds_run), (20, 20));
}

#[test]
fn report_and_failure_fields() {
    let report = Builder::new()
        .ignore_env()
        .seeds(5)
        .explore(|| async { panic!("always") });
    let seeds_run: u64 = report.seeds_run;
    let failure: Option<Failure> = report.failure;
    let failure = failure.expect("every seed fails");
    let seed: u64 = failure.seed;
    let message: &String = &failure.message;
    let steps: u64 = failure.steps;
    let trace: &Trace = failure.trace();
    assert!(seeds_run >= 1 && steps >= 1);
    assert_eq!(message, "always");
    assert!(trace.to_string().contains("panicked: always"));
    assert_eq!((seed, seeds_run, steps), (0, 1, 1));
}

#[test]
fn check_and_builder_check_pass_a_passing_body() {
    let seen = Mutex::new(Vec::new()); // borrowed by the body
    check(|| async {
        seen.lock().unwrap().push(random::<u8>());
        yield_now().await;
    });
    assert!(!seen.lock().unwrap().is_empty());
    Builder::new()
        .ignore_env()
        .seed(7)
        .scheduler(Scheduler::pct(2))
        .check(|| async {
            let a = spawn(async { 1 });
            assert_eq!(a.await.unwrap(), 1);
        });
    Builder::new()
        .ignore_env()
        .seeds(128)
        .jobs(2)
        .scheduler(Scheduler::fifo())
        .check(|| async { yield_now().await });
}

/// Every public name of `detsim` beyond the task API above, by its signature: the
/// harness's settings, its data, the token, fuzzing, traces and the chooser extension
/// point. A name exported by accident would be missing here; one removed by accident
/// breaks the build.
#[test]
#[allow(clippy::type_complexity, reason = "the signatures are what is tested")]
fn every_public_name_has_its_signature() {
    use std::time::Duration;

    use detsim::choice::Chooser;
    use detsim::{Coverage, Level};

    let _: fn(Builder, u64) -> Builder = Builder::seed_start;
    let _: fn(Builder, bool) -> Builder = Builder::check_determinism;
    let _: fn(Builder, u64) -> Builder = Builder::pct_polls;
    let _: fn(Builder, u64) -> Builder = Builder::max_polls;
    let _: fn(Builder, u64, Duration) -> Builder = Builder::shrink_budget;
    let _: fn(Builder) -> Builder = Builder::ignore_env;
    // A body that is not Sync (it captures an Rc): the local forms run it on this thread.
    let local = Rc::new(std::cell::Cell::new(0u64));
    let report: Report = Builder::new().ignore_env().seeds(3).explore_local(|| {
        local.set(local.get() + 1);
        async {}
    });
    assert!(report.seeds_run == 3 && local.get() >= 3); // and PCT's calibration run
    Builder::new().ignore_env().seed(1).check_local(|| {
        local.set(local.get() + 1);
        async {}
    });
    let _: Builder = Builder::new()
        .ignore_env()
        .chooser(|_seed| Box::new(Oldest) as Box<dyn Chooser>);
    let _: fn(&Report) -> bool = Report::passed;
    let _: fn(Builder, u32) -> Builder = Builder::exhaustive;
    let _: fn(Builder, u64, Duration) -> Builder = Builder::exhaustive_budget;
    let _: fn(&Report) -> Option<&Coverage> = Report::coverage;
    let _: fn(&Coverage) -> bool = Coverage::is_complete;
    let _: fn(&Coverage) -> Option<u32> = Coverage::complete_up_to;
    let _: fn(&Coverage) -> (u32, u64, u64, &Vec<Level>, &Option<String>, bool) = |c| {
        (
            c.max_deviations,
            c.seed,
            c.schedules_run,
            &c.levels,
            &c.stopped_early,
            c.failed,
        )
    };
    let _: fn(&Level) -> (u32, u64, u64) = |l| (l.deviations, l.schedules, l.run);
}

/// The failure's replay commands, the scheduler, the failure kinds and the shrink summary.
#[test]
#[allow(clippy::type_complexity, reason = "the signatures are what is tested")]
fn the_failure_and_the_scheduler_have_their_signatures() {
    use detsim::choice::Chooser;
    use detsim::{
        DEFAULT_SEED_START, DEFAULT_SEEDS, FailureKind, PORTFOLIO, ParseSchedulerError, Schedule,
        ShrinkSummary,
    };

    let _: fn(&Failure) -> String = Failure::replay_token;
    let _: fn(&Failure) -> &Schedule = Failure::schedule;
    let _: fn(&Failure) -> &str = Failure::replay_command;
    let _: fn(&Failure) -> Option<&str> = Failure::seed_command;
    let _: fn(Scheduler, u64) -> Scheduler = Scheduler::for_seed;
    let _: fn(Scheduler, u64, u64) -> Box<dyn Chooser> = Scheduler::chooser;
    let _: fn() -> Scheduler = Scheduler::portfolio;
    let _: [Scheduler; 4] = PORTFOLIO;
    let _: Result<Scheduler, ParseSchedulerError> = "pct:0".parse::<Scheduler>();
    let _: (u64, u64) = (DEFAULT_SEEDS, DEFAULT_SEED_START);
    let kinds = [
        FailureKind::Panic,
        FailureKind::Deadlock,
        FailureKind::Livelock,
        FailureKind::PollBudget,
        FailureKind::Nondeterminism,
        FailureKind::Liveness,
        FailureKind::Linearizability,
    ];
    assert_eq!(kinds.len(), 7);
    let _: fn(&ShrinkSummary) -> (u64, usize, usize, u64, Option<String>) = |s| {
        let ShrinkSummary {
            original_steps,
            original_deviations,
            deviations,
            replays,
            stopped_early,
        } = s.clone();
        (
            original_steps,
            original_deviations,
            deviations,
            replays,
            stopped_early,
        )
    };
}

/// Schedules as tokens, and `detsim::fuzz`.
#[test]
#[allow(clippy::type_complexity, reason = "the signatures are what is tested")]
fn tokens_and_fuzzing_have_their_signatures() {
    use std::time::Duration;

    use detsim::fuzz::{FALLBACK_SEED, FuzzFailure, Fuzzer, decision_for_byte};
    use detsim::{Schedule, TokenError};

    let schedule = Schedule {
        scheduler: Scheduler::random(),
        seed: 3,
        decisions: vec![0, 1],
        user_words: vec![],
    };
    let parsed: Result<Schedule, TokenError> = Schedule::parse(&schedule.to_token());
    assert_eq!(parsed.as_ref().map(Schedule::deviations), Ok(1));
    let mut trimmed = parsed.unwrap();
    trimmed.trim();

    let _: fn(&[u8], fn() -> std::future::Ready<()>) -> Result<(), FuzzFailure> = detsim::fuzz::run;
    let _: fn(&[u8], fn() -> std::future::Ready<()>) = detsim::fuzz::check;
    let _: fn() -> Fuzzer = Fuzzer::new;
    let _: fn(Fuzzer, u64) -> Fuzzer = Fuzzer::max_polls;
    let _: fn(Fuzzer, u64, Duration) -> Fuzzer = Fuzzer::shrink_budget;
    let _: fn(Fuzzer, bool) -> Fuzzer = Fuzzer::check_determinism;
    let _: fn(u8, usize) -> usize = decision_for_byte;
    let _: u64 = FALLBACK_SEED;
    let failure: FuzzFailure = detsim::fuzz::run(&[], || async { panic!("fuzz") }).unwrap_err();
    let _: (&String, &Schedule, u64) = (&failure.message, &failure.schedule, failure.steps);
    let _: (String, Option<&str>, Option<&str>, &Trace, bool) = (
        failure.token(),
        failure.location(),
        failure.task(),
        failure.trace(),
        failure.replays(),
    );
}

/// A failure's data: its decisions, its trace, the chooser's options.
#[test]
#[allow(clippy::type_complexity, reason = "the signatures are what is tested")]
fn a_failures_decisions_and_trace_have_their_signatures() {
    use std::time::Duration;

    use detsim::choice::{Decision, DecisionKind, Options, PollEnd, decide};
    use detsim::trace::{Event, EventKind, TraceTail};
    use detsim::{FailureKind, ShrinkSummary};

    let report = Builder::new()
        .ignore_env()
        .seed(1)
        .ignore_env()
        .explore(|| async {
            let _: usize = decide(DecisionKind::Select, 2);
            drop(spawn(async {}));
            yield_now().await;
            panic!("traced");
        });
    let failure = report.failure.expect("the body panics");
    let _: (Scheduler, FailureKind, &Option<String>, &Option<String>) = (
        failure.scheduler,
        failure.kind,
        &failure.location,
        &failure.task,
    );
    let _: &Option<ShrinkSummary> = &failure.shrink;
    let decisions: &Vec<Decision> = &failure.decisions;
    let Decision {
        kind,
        options,
        chosen,
    } = decisions[0];
    assert_eq!(
        (kind, options, chosen < options),
        (DecisionKind::Select, 2, true)
    );
    let trace: &Trace = failure.trace();
    let events: &[Event] = trace.events();
    let tail: TraceTail<'_> = trace.tail(3);
    assert!(!tail.to_string().is_empty());
    let Event { step, time, kind } = events[0].clone();
    let _: (u64, Duration) = (step, time);
    assert!(matches!(kind, EventKind::Poll { .. }));
    let _: Option<&str> = trace.name(task::Id::ROOT);
    let _: Option<usize> = trace.first_difference(trace);
    let mut line = String::new();
    trace.write_event(&mut line, &events[0]).unwrap();

    let view: Options<'_> = Options::new(&[task::Id::ROOT], 0);
    let _: (DecisionKind, usize, bool, u64) =
        (view.kind(), view.len(), view.is_empty(), view.poll());
    let _: &[task::Id] = view.tasks();
    let _ = Options::other(DecisionKind::Fault, 2, 0);
    // The former names, deprecated aliases.
    #[allow(deprecated)]
    {
        let old: detsim::choice::ReadyView<'_> = view;
        let _: u64 = old.step();
    }
    let _: [PollEnd; 3] = [PollEnd::Yielded, PollEnd::Parked, PollEnd::Finished];
}

/// The rest of the runtime's user API that detsim re-exports, and the error types.
#[test]
#[allow(clippy::type_complexity, reason = "the signatures are what is tested")]
fn the_runtimes_user_api_has_its_signatures() {
    use std::time::Duration;

    use detsim::{ParseSchedulerError, TokenError};

    let _: fn() -> Option<String> = task::name;
    let _: fn(std::future::Ready<u8>) -> JoinHandle<u8> = task::spawn;
    let _: (task::Id, fn(task::Id) -> u64) = (task::Id::ROOT, task::Id::as_u64);
    let _: fn(Duration) -> time::Sleep = time::sleep;
    let _: fn(&time::Sleep) -> Instant = time::Sleep::deadline;
    let _: fn(Duration, std::future::Ready<u8>) -> time::Timeout<std::future::Ready<u8>> =
        time::timeout;
    let _: [Instant; 2] = [Instant::START, Instant::FAR_FUTURE];
    let _: fn(Instant) -> Duration = Instant::since_start;
    let _: fn(Instant, Instant) -> Duration = Instant::saturating_duration_since;
    let _: fn(Instant, Instant) -> Duration = Instant::duration_since;
    let _: fn(Instant) -> Duration = Instant::elapsed;
    let _: fn(Instant, Duration) -> Option<Instant> = Instant::checked_add;
    let _: fn(Instant, Duration) -> Option<Instant> = Instant::checked_sub;
    let _: fn() -> detsim::YieldNow = yield_now;
    let _: fn(&JoinHandle<u8>) -> detsim::AbortHandle = JoinHandle::<u8>::abort_handle;
    let _: fn(&detsim::AbortHandle) = detsim::AbortHandle::abort;
    let _: fn(&detsim::AbortHandle) -> bool = detsim::AbortHandle::is_finished;
    let _: fn(&detsim::AbortHandle) -> task::Id = detsim::AbortHandle::id;
    let _: fn(&JoinError) -> Option<&str> = JoinError::location;
    let _: fn(&JoinError) -> task::Id = JoinError::id;
    let _: fn(JoinError) -> Result<Box<dyn Any + Send>, JoinError> = JoinError::try_into_panic;
    let _: fn(&JoinError) -> Option<&str> = JoinError::panic_message;
    let _: fn(&Failure) -> Vec<String> = Failure::explain;
    let _: fn(&Failure, &'static str) -> std::io::Result<()> = Failure::write_trace;
    let _: fn(&Failure) -> Option<&std::path::Path> = Failure::trace_file;
    let _: fn(Builder, &'static str) -> Builder = Builder::write_trace_to;
    let _: fn(detsim::wait::WaitKind) = detsim::wait::record;
    let _: fn(&detsim::wait::WaitKind) -> &'static str = detsim::wait::WaitKind::name;
    let _: fn(&detsim::wait::Position) -> Option<&detsim::wait::WaitSite> =
        detsim::wait::Position::site;
    let _: fn(&detsim::wait::Position) -> Option<task::Id> = detsim::wait::Position::joins;
    let _ = detsim::wait::record_at;
    error_traits::<TokenError>();
    error_traits::<ParseSchedulerError>();
}

/// A chooser of the user's: always the oldest option (FIFO).
struct Oldest;

impl detsim::choice::Chooser for Oldest {
    fn choose(&mut self, _ready: detsim::choice::Options<'_>) -> usize {
        0
    }
}

/// `#[detsim::test]`, the attribute form of [`check`].
#[detsim::test(seeds = 5)]
async fn the_test_attribute_sweeps_an_async_fn() {
    let task = spawn(async { 6 * 7 });
    assert_eq!(task.await.unwrap(), 42);
}
