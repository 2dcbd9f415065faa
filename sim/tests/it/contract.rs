//! The public contract of `design.md`, used exactly as it is written there: every name
//! and signature. If one changes, this file stops compiling. (`Builder::replay` and
//! `Failure::replay_token` are added with the replay work.)

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
    if crate::env_is_clean() {
        assert_eq!((runs.load(Ordering::Relaxed), seeds_run), (20, 20));
    }
}

#[test]
fn report_and_failure_fields() {
    let report = Builder::new()
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
    if crate::env_is_clean() {
        assert_eq!((seed, seeds_run, steps), (0, 1, 1));
    }
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
        .seed(7)
        .scheduler(Scheduler::pct(2))
        .check(|| async {
            let a = spawn(async { 1 });
            assert_eq!(a.await.unwrap(), 1);
        });
    Builder::new()
        .seeds(128)
        .jobs(2)
        .scheduler(Scheduler::fifo())
        .check(|| async { yield_now().await });
}
