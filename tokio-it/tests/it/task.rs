//! `tokio::task`: spawn, handles, errors, `JoinSet`, `LocalSet`, blocking, ids.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::{self, JoinSet, LocalSet};
use tokio::time::sleep;

/// `spawn` takes what tokio's does (Send + 'static) and gives tokio's handle.
fn spawn_send<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

#[tokio::test(start_paused = true)]
async fn spawn_keeps_tokio_bounds_and_joins() {
    let handle = spawn_send(async { 40 + 2 });
    // JoinHandle is Send when T is, as on tokio.
    fn is_send<T: Send>(_: &T) {}
    is_send(&handle);
    assert_eq!(handle.await.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn spawn_local_takes_non_send_futures() {
    let local = LocalSet::new();
    let value = local
        .run_until(async {
            let rc = Rc::new(5);
            task::spawn_local(async move { *rc * 2 }).await.unwrap()
        })
        .await;
    assert_eq!(value, 10);
}

#[tokio::test(start_paused = true)]
async fn local_set_awaited_waits_for_its_tasks() {
    let local = LocalSet::new();
    let done = Rc::new(std::cell::Cell::new(0));
    for i in 1..=3u64 {
        let done = done.clone();
        local.spawn_local(async move {
            sleep(Duration::from_millis(10 * i)).await;
            done.set(done.get() + 1);
        });
    }
    local.await;
    assert_eq!(done.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn abort_cancels_and_join_error_says_so() {
    let handle = tokio::spawn(async {
        sleep(Duration::from_secs(3600)).await;
        1
    });
    let id = handle.id();
    let abort = handle.abort_handle();
    assert!(!abort.is_finished());
    abort.abort();
    let error = handle.await.unwrap_err();
    assert!(error.is_cancelled());
    assert!(!error.is_panic());
    assert_eq!(error.id(), id);
    assert!(abort.is_finished());
    let error = error.try_into_panic().unwrap_err();
    assert!(error.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_gives_its_payload() {
    let handle = tokio::spawn(async { panic!("boom") });
    let error = handle.await.unwrap_err();
    assert!(error.is_panic());
    let payload = error.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
}

#[tokio::test(start_paused = true)]
async fn join_error_converts_to_io_error() {
    async fn run() -> std::io::Result<u8> {
        let handle = tokio::spawn(async { 7u8 });
        let value = handle.await?;
        Ok(value)
    }
    assert_eq!(run().await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn is_finished_and_ids() {
    let handle = tokio::spawn(async { task::id() });
    let id = handle.id();
    let inside = handle.await.unwrap();
    assert_eq!(inside, id);
    let other = tokio::spawn(async { task::try_id() }).await.unwrap();
    assert!(other.is_some());
    assert_ne!(other, Some(id));
}

#[tokio::test(start_paused = true)]
async fn spawn_blocking_runs_the_closure() {
    let handle = task::spawn_blocking(|| (1..=10).sum::<u32>());
    assert_eq!(handle.await.unwrap(), 55);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_in_place_runs_at_once() {
    let value = task::block_in_place(|| 3 * 3);
    assert_eq!(value, 9);
}

#[tokio::test(start_paused = true)]
async fn yield_now_lets_others_run() {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let handle = tokio::spawn(async move {
        c.fetch_add(1, Ordering::SeqCst);
    });
    while counter.load(Ordering::SeqCst) == 0 {
        task::yield_now().await;
    }
    handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn join_set_gives_results_in_completion_order() {
    let mut set = JoinSet::new();
    for ms in [30u64, 10, 20] {
        set.spawn(async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        });
    }
    assert_eq!(set.len(), 3);
    let mut order = Vec::new();
    while let Some(result) = set.join_next().await {
        order.push(result.unwrap());
    }
    assert_eq!(order, [10, 20, 30]);
    assert!(set.is_empty());
    assert!(set.join_next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn join_set_abort_all_and_shutdown() {
    let mut set = JoinSet::new();
    for _ in 0..3 {
        set.spawn(async { sleep(Duration::from_secs(3600)).await });
    }
    set.spawn(async {});
    // Let the short task finish first.
    sleep(Duration::from_millis(1)).await;
    let first = set.join_next().await.unwrap();
    assert!(first.is_ok());
    set.abort_all();
    let mut cancelled = 0;
    while let Some(result) = set.join_next().await {
        assert!(result.unwrap_err().is_cancelled());
        cancelled += 1;
    }
    assert_eq!(cancelled, 3);

    for _ in 0..2 {
        set.spawn(async { sleep(Duration::from_secs(3600)).await });
    }
    set.shutdown().await;
    assert!(set.is_empty());
}

/// Dropping a `JoinSet` aborts its tasks: their futures are dropped.
#[tokio::test(start_paused = true)]
async fn dropping_a_join_set_aborts_its_tasks() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..3 {
        let flag = Flag(dropped.clone());
        let finished = finished.clone();
        set.spawn(async move {
            let _flag = flag;
            sleep(Duration::from_secs(10)).await;
            finished.fetch_add(1, Ordering::SeqCst);
        });
    }
    sleep(Duration::from_millis(1)).await;
    drop(set);
    sleep(Duration::from_secs(20)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn join_set_try_join_next_ids_and_join_all() {
    let mut set = JoinSet::new();
    assert!(set.try_join_next().is_none());
    let abort = set.spawn(async { 1 });
    let id = abort.id();
    sleep(Duration::from_millis(1)).await;
    let (got_id, value) = set.try_join_next_with_id().unwrap().unwrap();
    assert_eq!((got_id, value), (id, 1));

    let set: JoinSet<u32> = (1..=4u32).map(|i| async move { i * i }).collect();
    let mut all = set.join_all().await;
    all.sort();
    assert_eq!(all, [1, 4, 9, 16]);
}

#[tokio::test(start_paused = true)]
async fn join_set_spawn_blocking_and_local() {
    let mut set = JoinSet::new();
    set.spawn_blocking(|| 2);
    let local = LocalSet::new();
    local
        .run_until(async {
            let rc = Rc::new(3);
            set.spawn_local(async move { *rc });
            let mut sum = 0;
            while let Some(v) = set.join_next().await {
                sum += v.unwrap();
            }
            assert_eq!(sum, 5);
        })
        .await;
}

tokio::task_local! {
    static REQUEST: u32;
}

#[tokio::test(start_paused = true)]
async fn task_local_scopes_per_task() {
    let a = tokio::spawn(REQUEST.scope(1, async {
        tokio::task::yield_now().await;
        REQUEST.get()
    }));
    let b = tokio::spawn(REQUEST.scope(2, async {
        tokio::task::yield_now().await;
        REQUEST.get()
    }));
    assert_eq!(a.await.unwrap(), 1);
    assert_eq!(b.await.unwrap(), 2);
    assert!(REQUEST.try_with(|v| *v).is_err());
}

#[tokio::test(start_paused = true)]
async fn join_and_try_join() {
    let (a, b) = tokio::join!(async { 1 }, async {
        sleep(Duration::from_millis(5)).await;
        2
    });
    assert_eq!(a + b, 3);
    let ok: Result<(u8, u8), &str> = tokio::try_join!(async { Ok(1) }, async { Ok(2) });
    assert_eq!(ok, Ok((1, 2)));
    let err: Result<(u8, u8), &str> = tokio::try_join!(async { Ok(1) }, async { Err("no") });
    assert_eq!(err, Err("no"));
    let future = async { 5 };
    tokio::pin!(future);
    assert_eq!((&mut future).await, 5);
}

/// tokio's coop budget: `consume_budget` yields once the task's budget for this poll is
/// spent, so an always-ready loop lets the other tasks run.
#[tokio::test]
async fn consume_budget_lets_an_always_ready_loop_yield() {
    use std::sync::atomic::AtomicBool;
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    tokio::spawn(async move { f.store(true, Ordering::SeqCst) });
    let mut rounds = 0;
    while !flag.load(Ordering::SeqCst) && rounds < 100_000 {
        tokio::task::consume_budget().await;
        rounds += 1;
    }
    assert!(flag.load(Ordering::SeqCst), "the loop never yielded");
    assert!(rounds >= 1);
}

/// `block_on`'s own future is not a task: no id there, as on tokio.
#[test]
fn no_task_id_in_block_on() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(task::try_id(), None);
        assert!(
            tokio::spawn(async { task::try_id() })
                .await
                .unwrap()
                .is_some()
        );
    });
}

#[tokio::test]
#[should_panic(expected = "can call blocking only when running on the multi-threaded runtime")]
async fn block_in_place_on_a_current_thread_runtime_panics() {
    task::block_in_place(|| {});
}

#[tokio::test(flavor = "multi_thread")]
async fn block_in_place_on_a_multi_thread_runtime_runs() {
    assert_eq!(task::block_in_place(|| 3), 3);
}
