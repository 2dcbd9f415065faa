//! `spawn_local`, `LocalSet`, `LocalRuntime`, and a `JoinSet` used around a runtime:
//! where tokio allows them, what they do there, and tokio's panics elsewhere.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

use tokio::runtime::{Builder, LocalOptions, LocalRuntime, Runtime};
use tokio::task::{self, JoinSet, LocalSet};

const OUTSIDE_LOCAL: &str =
    "`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`";

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn local_runtime() -> LocalRuntime {
    Builder::new_current_thread()
        .enable_all()
        .build_local(LocalOptions::default())
        .unwrap()
}

#[test]
#[should_panic = "`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`"]
fn spawn_local_on_a_current_thread_runtime_without_a_local_set_panics() {
    current_thread().block_on(async {
        drop(task::spawn_local(async {}));
    });
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic = "`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`"]
async fn join_set_spawn_local_in_a_multi_thread_test_panics() {
    JoinSet::new().spawn_local(async {});
}

#[test]
fn spawn_local_outside_any_runtime_panics_with_tokios_message() {
    let panic = std::panic::catch_unwind(|| JoinSet::new().spawn_local(async {})).unwrap_err();
    let message = match panic.downcast_ref::<String>() {
        Some(message) => message.as_str(),
        None => panic.downcast_ref::<&str>().copied().unwrap_or_default(),
    };
    assert_eq!(message, OUTSIDE_LOCAL);
}

#[test]
fn spawn_local_works_inside_a_local_set_and_a_local_runtime() {
    let rt = current_thread();
    let local = LocalSet::new();
    let rc = Rc::new(3);
    let in_set = local.block_on(&rt, async move {
        task::spawn_local(async move { *rc }).await.unwrap()
    });
    assert_eq!(in_set, 3);
    let rc = Rc::new(4);
    let in_local_runtime = local_runtime()
        .block_on(async move { task::spawn_local(async move { *rc }).await.unwrap() });
    assert_eq!(in_local_runtime, 4);
}

#[test]
fn local_runtime_spawn_local_outside_block_on_runs_in_the_next() {
    let rt = local_runtime();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rc = Rc::new(5);
    rt.spawn_local(async move {
        task::yield_now().await;
        tx.send(*rc).unwrap();
    });
    assert_eq!(rt.block_on(async { rx.await.unwrap() }), 5);
}

#[test]
#[should_panic = "Local tasks can only be spawned on a LocalRuntime from the thread the runtime was created on"]
fn spawn_local_under_a_local_runtimes_guard_on_another_thread_panics() {
    let handle = std::thread::spawn(|| local_runtime().handle().clone())
        .join()
        .unwrap();
    let _guard = handle.enter();
    drop(task::spawn_local(async {}));
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn dropping_a_local_set_drops_its_pending_tasks() {
    let dropped = Arc::new(AtomicBool::new(false));
    let local = LocalSet::new();
    let flag = SetOnDrop(dropped.clone());
    let handle = local.spawn_local(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    local.run_until(task::yield_now()).await;
    assert!(!dropped.load(Ordering::SeqCst));
    drop(local);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the set's task was not dropped"
    );
    assert!(handle.await.unwrap_err().is_cancelled());
}

/// Calls `block_in_place` when dropped.
struct BlockInPlaceOnDrop;

impl std::future::Future for BlockInPlaceOnDrop {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl Drop for BlockInPlaceOnDrop {
    fn drop(&mut self) {
        task::block_in_place(|| {});
    }
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic = "can call blocking only when running on the multi-threaded runtime"]
async fn a_local_tasks_destructor_runs_inside_its_set() {
    let local = LocalSet::new();
    let handle = local.spawn_local(BlockInPlaceOnDrop);
    local.run_until(task::yield_now()).await;
    // The destructor's panic: raised by the drop in simulation, given to the task's
    // handle by tokio.
    drop(local);
    if let Err(error) = handle.await {
        std::panic::resume_unwind(error.into_panic());
    }
}

#[test]
fn a_join_set_task_of_a_dropped_runtime_is_cancelled() {
    let mut set = JoinSet::new();
    let rt = current_thread();
    set.spawn_on(async { 1 }, rt.handle());
    drop(rt);
    let joined = current_thread().block_on(set.join_next()).unwrap();
    assert!(joined.unwrap_err().is_cancelled());
}

/// A waker that owns a runtime and drives it when dropped.
struct DriveOnDrop(Option<Runtime>);

impl Wake for DriveOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DriveOnDrop {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.block_on(task::yield_now());
        }
    }
}

#[test]
fn a_join_set_keeps_an_output_after_its_runtime_is_dropped() {
    let rt = current_thread();
    let mut set = JoinSet::new();
    set.spawn_on(async { 42 }, rt.handle());
    let waker = Waker::from(Arc::new(DriveOnDrop(Some(rt))));
    assert!(
        set.poll_join_next(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);
    // Replacing the stored waker drops it outside the set's lock: it runs the task to
    // completion and drops the runtime.
    assert!(
        set.poll_join_next(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert_eq!(set.try_join_next().unwrap().unwrap(), 42);
}

#[test]
fn a_local_sets_tasks_spawned_outside_a_runtime_run_when_the_set_is_driven() {
    let rt = current_thread();
    let local = LocalSet::new();
    let rc = Rc::new(7);
    let value = local.spawn_local(async move { *rc });
    let joined = {
        let _guard = local.enter();
        task::spawn_local(async { 1 })
    };
    let sum = local.block_on(
        &rt,
        async move { value.await.unwrap() + joined.await.unwrap() },
    );
    assert_eq!(sum, 8);
    // Awaited from the runtime, a set spawned into from outside runs its tasks too.
    let rc = Rc::new(2);
    let handle = local.spawn_local(async move { *rc });
    assert_eq!(rt.block_on(local.run_until(handle)).unwrap(), 2);
}

#[test]
fn dropping_a_local_set_outside_a_runtime_drops_its_tasks() {
    let rt = current_thread();
    let dropped = Arc::new(AtomicBool::new(false));
    let local = LocalSet::new();
    let flag = SetOnDrop(dropped.clone());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    drop(local.spawn_local(async move {
        let _flag = flag;
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    }));
    local.block_on(&rt, async { started_rx.await.unwrap() });
    assert!(!dropped.load(Ordering::SeqCst));
    drop(local);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the set's task was not dropped"
    );
    drop(rt);
}
